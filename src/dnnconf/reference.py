"""The configuration reference in the README, generated from the schema and the registries.

`python -m dnnconf.reference` prints it, `… --update README.md` rewrites that section; a test
checks that the README holds exactly this text
between its `<!-- reference:begin -->` and `<!-- reference:end -->` markers.
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from dnnconf.advice import rules_markdown
from dnnconf.config.schema import Config
from dnnconf.nn.activations import ACTIVATIONS
from dnnconf.nn.initializers import INITIALIZERS
from dnnconf.nn.layers import LAYERS
from dnnconf.optim.optimizers import OPTIMIZERS
from dnnconf.optim.schedules import SCHEDULES
from dnnconf.safe_write import write_atomic

BEGIN, END = "<!-- reference:begin -->", "<!-- reference:end -->"
RULES_BEGIN, RULES_END = "<!-- rules:begin -->", "<!-- rules:end -->"


def _type_name(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " or ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    if origin is not None:
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in args)}]"
    return getattr(annotation, "__name__", str(annotation))


def _nested(field: Any) -> bool:
    candidates = [field.annotation, *typing.get_args(field.annotation)]
    return any(isinstance(c, type) and issubclass(c, BaseModel) for c in candidates)


def _default(field: Any, path: str) -> str:
    if _nested(field) and field.default is not None:
        return f"see `{path}`"
    if field.default_factory is not None:
        value = field.default_factory()
        value = value.model_dump(mode="json", exclude_none=True) if isinstance(value, BaseModel) else value
    else:
        value = field.default
    return "required" if value is ... or repr(value) == "PydanticUndefined" else f"`{json.dumps(value)}`"


def _sections(model: type[BaseModel], prefix: str) -> list[tuple[str, type[BaseModel]]]:
    out = [(prefix, model)]
    for name, field in model.model_fields.items():
        candidates = [field.annotation, *getattr(field.annotation, "__args__", ())]
        for candidate in candidates:
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                out += _sections(candidate, f"{prefix}.{name}" if prefix else name)
    return out


def _registry_tables() -> list[str]:
    lines: list[str] = []
    for title, registry in (("Initializers", INITIALIZERS), ("Activations", ACTIVATIONS),
                            ("Optimizers", OPTIMIZERS), ("Schedules", SCHEDULES), ("Layers (explicit form)", LAYERS)):
        lines += [f"#### {title}", "", "| name | what it is | parameters (defaults) |", "|---|---|---|"]
        for entry in registry:
            params = ", ".join(
                f"`{name}`" + (f" {json.dumps(field.default)}" if repr(field.default) != "PydanticUndefined" else "")
                for name, field in entry.params.model_fields.items()
            ).replace("|", "\\|")
            aliases = f" (alias: {', '.join(entry.aliases)})" if entry.aliases else ""
            lines.append(f"| `{entry.name}`{aliases} | {entry.description} | {params} |")
        lines.append("")
    return lines


def reference() -> str:
    lines = [BEGIN, ""]
    for path, model in _sections(Config, ""):
        lines += [f"#### `{path or 'top level'}`", "", "| key | type | default | meaning |", "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            description = (field.description or "").replace("|", "\\|")
            name = field.alias or name  # the YAML key (`transfer.from`, a Python keyword)
            key = f"{path}.{name}" if path else name
            kind = _type_name(field.annotation).replace("|", "\\|")
            lines.append(f"| `{name}` | {kind} | {_default(field, key)} | {description} |")
        lines.append("")
    lines += _registry_tables()
    lines.append(END)
    return "\n".join(lines)


def rules() -> str:
    return "\n".join([RULES_BEGIN, "", rules_markdown("en"), RULES_END])


def generated_sections() -> dict[tuple[str, str], str]:
    """The README's generated sections, by their (begin, end) markers."""
    return {(BEGIN, END): reference(), (RULES_BEGIN, RULES_END): rules()}


def update_readme(path: str) -> None:
    """Replace each generated section of the README (between its markers) with its current text."""
    text = Path(path).read_text()
    for (begin, end), section in generated_sections().items():
        start, stop = text.index(begin), text.index(end) + len(end)
        text = text[:start] + section + text[stop:]
    write_atomic(Path(path), text)


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--update"]:
        update_readme(sys.argv[2])
    else:
        print(reference())
