"""Read, override, validate and write configurations.

Every failure is a `ConfigError` with one line: the file, the key path (`model.hidden.1`), the value
received and what is accepted, with the nearest valid key or name.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from dnnconf.config.resolve import resolve_names
from dnnconf.config.schema import COMPACT_KEYS, Config
from dnnconf.config.yaml_text import Refused, parse_yaml, read_text
from dnnconf.errors import ConfigError
from dnnconf.limits import MAX_NESTING, MAX_NODES, shorten
from dnnconf.registry import nearest


def _model_at(path: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that holds the key at `path` (for listing the accepted keys)."""
    model: Any = Config
    for part in path[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return None
    return model


def _describe(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    loc = tuple(part for part in first["loc"] if not (isinstance(part, str) and "[" in part))
    key = ".".join(str(part) for part in loc) or "(top level)"
    prefix = f"{source}: " if source else ""
    if first["type"] == "extra_forbidden":
        model = _model_at(loc)
        known = [field.alias or name for name, field in model.model_fields.items()] if model else []
        return f"{prefix}{key}: unknown key{nearest(str(loc[-1]), known)}; accepted: {', '.join(known)}"
    received = first.get("input")
    message = first["msg"].removeprefix("Value error, ")
    accepted = _accepted_range(loc) if first["type"] in BOUND_ERRORS else ""
    return f"{prefix}{key}: {message} (received {shorten(received)}{accepted})"


BOUND_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def _accepted_range(loc: tuple[Any, ...]) -> str:
    """`; accepted: 1..256` for a number field with bounds (both ends stated, not only the one missed)."""
    model = _model_at(loc)
    field = model.model_fields.get(loc[-1]) if model is not None and loc else None
    if field is None:
        return ""
    low = high = None
    for bound in field.metadata:
        low = getattr(bound, "ge", None) if getattr(bound, "ge", None) is not None else low
        high = getattr(bound, "le", None) if getattr(bound, "le", None) is not None else high
        if getattr(bound, "gt", None) is not None:
            low = f"more than {bound.gt}"
        if getattr(bound, "lt", None) is not None:
            high = f"less than {bound.lt}"
    if low is None and high is None:
        return ""
    if isinstance(low, int | float) and isinstance(high, int | float):
        return f"; accepted: {low}..{high}"
    parts = [f">= {low}" if isinstance(low, int | float) else low, f"<= {high}" if isinstance(high, int | float)
             else high]
    return f"; accepted: {' and '.join(str(part) for part in parts if part is not None)}"


def _check_shape(raw: Any, source: str) -> None:
    """The YAML reader's limits for plain data given directly (the API): nesting and count of values,
    walked without recursion, so validating or echoing it cannot overflow the stack."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(raw, ())]
    count = 0
    while stack:
        node, path = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ConfigError(f"{source or 'config'}: more than {MAX_NODES:,} values")
        if len(path) > MAX_NESTING:
            where = ".".join(str(part) for part in path[:3])
            raise ConfigError(f"{source or 'config'}: {where}…: lists and mappings nested more than {MAX_NESTING} "
                              f"levels deep")
        if isinstance(node, dict):
            stack.extend((value, (*path, key)) for key, value in node.items())
        elif isinstance(node, list | tuple):
            stack.extend((value, (*path, index)) for index, value in enumerate(node))


def config_from_dict(raw: Any, source: str = "") -> Config:
    """Validate plain data into a `Config`, then resolve registry names (initializers, optimizers, …)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source or 'config'}: expected a mapping at the top level (received {shorten(raw)})")
    _check_shape(raw, source)
    try:
        config = Config.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe(error, source)) from None
    try:
        return resolve_names(config)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}" if source else str(error)) from None


def read_yaml(path: Path, what: str = "config file") -> Any:
    """A YAML file read under the limits of `yaml_text` (size, aliases, duplicate keys, depth); each
    failure, an empty file included, is one ConfigError line naming the file."""
    text = read_text(path, what)
    try:
        raw = parse_yaml(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        if isinstance(error, Refused):
            where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
            raise ConfigError(f"{path}:{where} {problem}") from None
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: malformed YAML{where}: {problem}") from None
    if raw is None and not any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines()):
        hint = "; write {} for all the defaults, or start from `dnnconf recommend`" if what == "config file" else ""
        raise ConfigError(f"{path}: the {what} is empty{hint}")
    return raw


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply one `a.b.c=value` override in place; the value is parsed as YAML (`0.1`, `[300, 100]`, `null`)."""
    shown = shorten(assignment)
    if "=" not in assignment:
        raise ConfigError(f"--set {shown}: expected KEY=VALUE, e.g. optimizer.learning_rate=0.1")
    key, _, text = assignment.partition("=")
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"--set {shown}: the key {shorten(key)} has an empty part")
    if len(parts) > MAX_NESTING:
        raise ConfigError(f"--set {shown}: the key has {len(parts)} parts, more than the {MAX_NESTING} accepted")
    try:
        value = parse_yaml(text)
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise ConfigError(f"--set {shown}: the value {shorten(text)}: {problem}") from None
    node: Any = raw
    for index, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            node = _list_item(node, part, parts[: index + 1], assignment)
        else:
            child = node.get(part)
            if isinstance(child, str):  # a shorthand (`activation: relu`) grows into a mapping to hold the key
                child = {"position": child} if part == "batch_norm" else {"name": child}
                node[part] = child
            elif child is None:
                child = {}
                node[part] = child
            node = child
        if not isinstance(node, dict | list):  # `training.epochs.x=1`: a number has no keys
            here = ".".join(parts[: index + 1])
            raise ConfigError(f"--set {shown}: {here} is a single value ({shorten(node)}), not a section "
                              f"with keys; set {here} itself")
    last = parts[-1]
    if isinstance(node, list):
        index = _index(node, last, parts, assignment)
        node[index] = value
    else:
        node[last] = value


def _index(node: list[Any], part: str, parts: list[str], assignment: str) -> int:
    if not part.lstrip("-").isdigit() or not -len(node) <= int(part) < len(node):
        raise ConfigError(
            f"--set {shorten(assignment)}: {'.'.join(parts)} is not an index of a list of {len(node)} items"
        )
    return int(part)


def _list_item(node: list[Any], part: str, parts: list[str], assignment: str) -> Any:
    return node[_index(node, part, parts, assignment)]


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config (None: all defaults), apply `--set` overrides in order, validate."""
    raw: Any = {} if path is None else read_yaml(Path(path))
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level (received "
                          f"{'null' if raw is None else type(raw).__name__})")
    raw = copy.deepcopy(raw)
    for assignment in overrides:
        apply_override(raw, assignment)
    return config_from_dict(raw, str(path) if path is not None else "")


def dump_config(config: Config) -> str:
    """The resolved config as YAML, in the schema's key order; loading it gives the same config."""
    data = config.model_dump(mode="json", by_alias=True)  # transfer.from (a keyword in Python: from_)
    if data["model"]["layers"] is not None:
        for key in COMPACT_KEYS:
            del data["model"][key]
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


class _Dumper(yaml.SafeDumper):
    """Block style for mappings, flow style for lists of plain values (`hidden: [300, 100]`); never an
    anchor or alias (a value shared twice is written twice: configs with aliases are refused on reading)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    flat = all(not isinstance(item, dict | list) for item in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flat)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # YAML folds the line breaks NEL, LS and PS inside plain or single-quoted scalars; escape them
    style = '"' if any(char in value for char in "\x85\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(str, _represent_str)
