"""An optimizer's state_dict as safetensors + JSON, so a checkpoint never needs `torch.load` (no pickle,
whatever torch version is installed).

`optimizer.safetensors` holds every tensor: the per-parameter slots as `state.<param>.<slot>` (momentum
buffers, Adam's moments and step) and any tensor-valued group option as `group.<index>.<option>`.
`optimizer.json` holds the rest: `state` (per parameter, its non-tensor slots), `param_groups` (numbers,
booleans, strings, null, lists; tuples such as Adam's `betas` are marked to come back as tuples) and
which entries are tensors. Floats survive JSON exactly (shortest round-trip repr), so a resumed run stays
bit-exact.
"""

from __future__ import annotations

import json
from typing import Any

import torch

from dnnconf.errors import RunFolderError


def to_files(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], str]:
    """(tensors, JSON text) for `optimizer.state_dict()`."""
    tensors: dict[str, torch.Tensor] = {}
    state: dict[str, dict[str, Any]] = {}
    for param, slots in state_dict.get("state", {}).items():
        plain: dict[str, Any] = {}
        for slot, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{param}.{slot}"] = value
            else:
                plain[slot] = value
        state[str(param)] = plain
    groups = []
    for index, group in enumerate(state_dict.get("param_groups", [])):
        plain = {}
        for option, value in group.items():
            if isinstance(value, torch.Tensor):
                tensors[f"group.{index}.{option}"] = value
                plain[option] = {"tensor": True}
            elif isinstance(value, tuple):
                plain[option] = {"tuple": list(value)}
            else:
                plain[option] = value
        groups.append(plain)
    text = json.dumps({"state": state, "param_groups": groups,
                       "state_tensors": {str(p): [k for k, v in s.items() if isinstance(v, torch.Tensor)]
                                         for p, s in state_dict.get("state", {}).items()}}, indent=1)
    return tensors, text


def from_files(tensors: dict[str, torch.Tensor], plain: Any, path: Any) -> dict[str, Any]:
    """The state_dict `to_files` split; a damaged file is one RunFolderError line naming `path`."""
    try:
        state: dict[int, dict[str, Any]] = {}
        for param, slots in plain["state"].items():
            entry = dict(slots)
            for slot in plain["state_tensors"].get(param, []):
                entry[slot] = tensors[f"state.{param}.{slot}"]
            state[int(param)] = entry
        groups = []
        for index, group in enumerate(plain["param_groups"]):
            restored = {}
            for option, value in group.items():
                if isinstance(value, dict) and value.get("tensor") is True:
                    restored[option] = tensors[f"group.{index}.{option}"]
                elif isinstance(value, dict) and "tuple" in value:
                    restored[option] = tuple(value["tuple"])
                else:
                    restored[option] = value
            if not isinstance(restored.get("params"), list):
                raise ValueError("a parameter group without its parameter list")
            groups.append(restored)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise RunFolderError(f"{path}: not an optimizer state dnnconf wrote ({error.__class__.__name__}: "
                             f"{str(error)[:80]})") from None
    return {"state": state, "param_groups": groups}

