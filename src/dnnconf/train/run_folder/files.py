"""Every file read back from a run folder is checked here, at one place, before anything uses it.

A run folder is input like any other: a file may be empty, binary, huge, a FIFO, JSON of the wrong shape
(a list where an object belongs, a key missing, a string where a number belongs), or a pointer
(`checkpoint/LATEST`) that names something outside the folder. Each reader below turns all of these into
one `RunFolderError` line naming the file and what was expected (exit 2), before anything is allocated
from the file's contents.

Sizes accepted (far above what dnnconf writes; a bigger file is refused before it is read):
config.yaml, normalization.json 64 MiB (normalization holds a mean and a std per input feature),
state.json 256 MiB (the history: ~200 bytes an epoch), manifest.json 64 KiB, LATEST 256 bytes.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from dnnconf.errors import RunFolderError

MiB = 1 << 20
CONFIG_BYTES = 64 * MiB
NORMALIZATION_BYTES = 64 * MiB
STATE_BYTES = 256 * MiB
MANIFEST_BYTES = 64 * 1024
LATEST_BYTES = 256
CHECKPOINT_NAME = re.compile(r"step-\d{9}-\d{6}")  # checkpoint.save_checkpoint's names; nothing else is one
SHA256 = re.compile(r"[0-9a-f]{64}")


def read_text(path: Path, limit: int) -> str:
    """The file's text: a regular file, not empty, at most `limit` bytes, UTF-8 without NUL bytes."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise RunFolderError(f"{path}: not a regular file")
        if info.st_size > limit:
            raise RunFolderError(f"{path}: {info.st_size:,} bytes; at most {limit:,} accepted")
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise RunFolderError(f"{path}: missing") from None
    except OSError as error:
        raise RunFolderError(f"{path}: unreadable ({error.strerror or error})") from None
    if len(data) > limit:
        raise RunFolderError(f"{path}: more than {limit:,} bytes; at most {limit:,} accepted")
    if not data.strip():
        raise RunFolderError(f"{path}: empty")
    try:
        if b"\0" in data:
            raise UnicodeDecodeError("utf-8", data, data.index(b"\0"), data.index(b"\0") + 1, "NUL byte")
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise RunFolderError(f"{path}: binary, expected UTF-8 text") from None


def read_json_object(path: Path, limit: int) -> dict[str, Any]:
    """A JSON object (not a list, not a number) read with `read_text`'s checks."""
    text = read_text(path, limit)
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:
        reason = str(error).splitlines()[0][:80] if isinstance(error, ValueError) else "nested too deeply"
        raise RunFolderError(f"{path}: malformed JSON ({reason})") from None
    if not isinstance(value, dict):
        raise RunFolderError(f"{path}: expected a JSON object, found {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


WHOLE = "whole"  # a field type: an int that is not a bool and not negative
NUMBER = "number"  # int or float, not a bool


def require(path: Path, value: Any, fields: dict[str, Any], where: str = "", optional: tuple[str, ...] = ()) -> None:
    """Each key of `fields` is in the object `value` with the type given (WHOLE, NUMBER, a type or a tuple
    of types); keys in `optional` may be absent. Raises one line naming the file and the key."""
    if not isinstance(value, dict):
        raise RunFolderError(f"{path}: {where or 'the top level'} must be an object, found {_kind(value)}")
    for key, kind in fields.items():
        name = f"{where}.{key}" if where else key
        if key not in value:
            if key in optional:
                continue
            raise RunFolderError(f"{path}: the key {name!r} is missing; the file is not one dnnconf wrote")
        item = value[key]
        if kind == WHOLE:
            ok = isinstance(item, int) and not isinstance(item, bool) and item >= 0
            expected = "a whole number >= 0"
        elif kind == NUMBER:
            ok = isinstance(item, int | float) and not isinstance(item, bool)
            expected = "a number"
        else:
            ok = isinstance(item, kind)
            expected = " or ".join(_kind(k()) if k is not type(None) else "null"
                                   for k in (kind if isinstance(kind, tuple) else (kind,)))
        if not ok:
            shown = repr(item)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise RunFolderError(f"{path}: {name!r} must be {expected}, found {shown}")


def require_list_of_objects(path: Path, value: Any, where: str) -> None:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise RunFolderError(f"{path}: {where!r} must be a list of objects")


def read_manifest(path: Path, files: tuple[str, ...]) -> dict[str, str]:
    manifest = read_json_object(path, MANIFEST_BYTES)
    for file in files:
        if not isinstance(manifest.get(file), str) or not SHA256.fullmatch(manifest[file]):
            raise RunFolderError(f"{path}: no SHA-256 for {file}; the checkpoint is corrupt")
    return manifest


def read_latest(folder: Path) -> Path:
    """The checkpoint `folder/LATEST` names: a `step-…` folder directly inside `folder` (links resolved)."""
    pointer = folder / "LATEST"
    if not pointer.exists():
        raise RunFolderError(f"{folder}: no complete checkpoint (checkpoint/LATEST is missing)")
    name = read_text(pointer, LATEST_BYTES).strip()
    if not CHECKPOINT_NAME.fullmatch(name):
        shown = name if len(name) <= 40 else name[:37] + "..."
        raise RunFolderError(f"{pointer}: names {shown!r}, not a checkpoint of this folder (step-NNNNNNNNN-NNNNNN)")
    path = folder / name
    if not path.is_dir():
        raise RunFolderError(f"{pointer}: names {name}, which is missing")
    if path.resolve().parent != folder.resolve():
        raise RunFolderError(f"{pointer}: {name} leads outside the run folder ({path.resolve()}); refused")
    return path


def checkpoint_folders(folder: Path) -> list[Path]:
    """The complete checkpoints in `folder`, oldest first; stray files and folders are not checkpoints."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if CHECKPOINT_NAME.fullmatch(p.name) and p.is_dir() and not p.is_symlink())


def check_solo_state(path: Path, state: Any) -> dict[str, Any]:
    """state.json of a run's checkpoint (`checkpoint.save`; a step's own part, `step_state`, is the step's to
    check)."""
    require(path, state, {"epoch": WHOLE, "step": WHOLE, "history": list, "rng": dict, "listeners": list,
                          "progress": dict, "stop": bool, "stop_reason": str, "listener_kinds": list,
                          "step_state": dict},
            optional=("progress", "stop", "stop_reason", "listener_kinds", "step_state"))
    require_list_of_objects(path, state["history"], "history")
    require_list_of_objects(path, state["listeners"], "listeners")
    require(path, state["rng"], {"python": list, "numpy": list}, "rng")
    if len(state["rng"]["python"]) != 3 or len(state["rng"]["numpy"]) != 5:
        raise RunFolderError(f"{path}: 'rng' is not the random generators' state dnnconf saves")
    if "progress" in state:
        sums = ("loss_sum", "metric_sum", "grad_norm_sum")
        require(path, state["progress"], {"samples": WHOLE, "grad_norm_count": WHOLE, **dict.fromkeys(sums,
                (int, float, list))}, "progress")
        for key in sums:  # a number, or (a stacked run's) one number a member
            value = state["progress"][key]
            if isinstance(value, bool) or isinstance(value, list) and not all(
                    isinstance(item, int | float) and not isinstance(item, bool) for item in value):
                raise RunFolderError(f"{path}: 'progress.{key}' must be a number or a list of numbers")
    return state


def check_member_states(path: Path, plain: Any, where: str = "step_state") -> list[dict[str, Any]]:
    """The members' part of a parallel-seeds run's checkpoint (state.json's `step_state`: `members`, each
    member's counters, history and listener states)."""
    if plain is None:
        raise RunFolderError(f"{path}: has no member states ({where!r}): a checkpoint of a run without "
                             f"training.parallel_seeds cannot be resumed with it")
    require(path, plain, {"members": list}, where)
    members = f"{where}.members" if where else "members"
    require_list_of_objects(path, plain["members"], members)
    for k, member in enumerate(plain["members"]):
        require(path, member, {"epoch": WHOLE, "step": WHOLE, "stop": bool, "stop_reason": str, "diverged": bool,
                               "history": list, "listeners": list}, f"{members}[{k}]")
        require_list_of_objects(path, member["listeners"], f"{members}[{k}].listeners")
    return plain["members"]


def check_former_parallel_state(path: Path, state: Any) -> dict[str, Any]:
    """state.json of a parallel-seeds checkpoint as dnnconf wrote it before one checkpointer served every
    step: the loop's counters and the `members` list at the top level, no RNG or listener states."""
    require(path, state, {"epoch": WHOLE, "step": WHOLE, "stop": bool, "stop_reason": str, "history": list,
                          "members": list})
    require_list_of_objects(path, state["history"], "history")
    check_member_states(path, {"members": state["members"]}, "")
    return state


def read_run_config_data(path: Path) -> dict[str, Any]:
    """config.yaml's plain data: YAML text that holds a mapping."""
    text = read_text(path, CONFIG_BYTES)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        raise RunFolderError(f"{path}: malformed YAML") from None
    except RecursionError:
        raise RunFolderError(f"{path}: nested too deeply") from None
    if not isinstance(raw, dict):
        raise RunFolderError(f"{path}: expected a mapping of config keys, found {_kind(raw)}")
    return raw


def read_normalization(path: Path) -> dict[str, Any]:
    """normalization.json: an object whose `method` names how the inputs were normalized."""
    normalization = read_json_object(path, NORMALIZATION_BYTES)
    require(path, normalization, {"method": str})
    keys = NORMALIZATION_KEYS.get(normalization["method"])
    if keys is None:
        raise RunFolderError(f"{path}: method {normalization['method'][:40]!r} is not one of "
                             f"{', '.join(NORMALIZATION_KEYS)}")
    lengths = set()
    for key in keys:
        values = normalization.get(key)
        if not isinstance(values, list) or not all(isinstance(v, int | float) and not isinstance(v, bool)
                                                   and math.isfinite(v) for v in values):
            raise RunFolderError(f"{path}: {key!r} must be a list of finite numbers, one per input feature")
        lengths.add(len(values))
    if len(lengths) > 1:
        raise RunFolderError(f"{path}: {' and '.join(keys)} differ in length")
    return normalization


NORMALIZATION_KEYS = {"standardize": ("mean", "std"), "minmax": ("min", "max"), "none": ()}
