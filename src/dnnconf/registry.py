"""One registry per family of named things (initializers, activations, optimizers, schedules, …).

An entry is a name, a factory, a pydantic model of its parameters and a one-line description. A
config names an entry as a string (`"he_normal"`) or as a mapping with `name` and parameters
(`{name: leaky_relu, alpha: 0.2}`); `Registry.resolve` validates either form against the entry's
parameter model and returns the plain, complete mapping that the resolved config stores.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from dnnconf.errors import ConfigError
from dnnconf.limits import INT64_MAX, INT64_MIN, shorten


class Params(BaseModel):
    """Base for parameter models: unknown keys are errors, types are not coerced loosely, and whole
    numbers stay in the 64-bit range torch takes."""

    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)

    @field_validator("*")
    @classmethod
    def _int64(cls, value: Any) -> Any:
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if isinstance(item, int) and not isinstance(item, bool) and not INT64_MIN <= item <= INT64_MAX:
                raise ValueError(f"{'holds ' + shorten(item) + ', ' if item is not value else ''}beyond the whole "
                                 f"numbers accepted, the 64-bit range [-2**63, 2**63 - 1]")
        return value


class NoParams(Params):
    pass


def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (optimal string alignment): a swap of two letters counts once."""
    rows = [list(range(len(b) + 1))]
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            row.append(min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (ca != cb)))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def nearest(name: str, known: list[str]) -> str:
    """`' (did you mean 'x'?)'` for the closest known name (fewest edits, a swap counting as one), or ''."""
    name = str(name)
    if not known or len(name) > 100:  # the distance costs len(name) × len(known name) steps each
        return ""
    best = min(known, key=lambda k: (edit_distance(name, k), -difflib.SequenceMatcher(None, name, k).ratio()))
    close = edit_distance(name, best) <= max(1, len(best) // 3) or difflib.get_close_matches(name, [best], 1, 0.6)
    if not close and len(name) >= 3:  # an abbreviation: `expo` for `exponential`
        completions = sorted((k for k in known if k.startswith(name)), key=len)
        best, close = (completions[0], True) if completions else (best, False)
    return f" (did you mean '{best}'?)" if close else ""


def describe_validation_error(path: str, error: ValidationError, known_keys: list[str] | None = None) -> str:
    """One line for the first error of a pydantic ValidationError, prefixed with the key path."""
    first = error.errors()[0]
    loc = ".".join(str(part) for part in first["loc"] if part != "__root__")
    key = f"{path}.{loc}" if path and loc else (path or loc)
    if first["type"] == "extra_forbidden":
        hint = nearest(str(first["loc"][-1]), known_keys or []) if known_keys else ""
        accepted = f"; accepted: {', '.join(known_keys)}" if known_keys else ""
        return f"{key}: unknown key{hint}{accepted}"
    message = first["msg"].removeprefix("Value error, ")
    received = first.get("input")
    return f"{key}: {message} (received {shorten(received)})"


@dataclass(frozen=True)
class Entry:
    name: str
    factory: Callable[..., Any]
    params: type[Params]
    description: str
    aliases: tuple[str, ...] = ()
    # a preset: a documented name for another entry of the family with some parameters fixed
    # (`momentum` is sgd with momentum 0.9); it resolves to that entry, so resolved configs show the meaning
    expands_to: str | None = None
    fixed: tuple[tuple[str, Any], ...] = ()
    # what code other than the factory needs to know about the entry (an optimizer's `OptimizerFacts`:
    # its family, momentum key, whether its step is linear in the rate), so it never matches names
    facts: Any = None


class Registry:
    """Named factories of one family, with validated parameters."""

    def __init__(self, family: str):
        self.family = family
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}

    def register(
        self,
        name: str,
        description: str,
        params: type[Params] = NoParams,
        aliases: tuple[str, ...] = (),
        facts: Any = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: `@REGISTRY.register("name", "what it is", ParamsModel)` over the factory; `facts`: the
        entry's metadata (`Entry.facts`)."""

        def decorate(factory: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._entries or name in self._aliases:
                raise ValueError(f"{self.family}: '{name}' is registered twice")
            self._entries[name] = Entry(name, factory, params, description, aliases, facts=facts)
            for alias in aliases:
                self._aliases[alias] = name
            return factory

        return decorate

    def preset(self, name: str, description: str, params: type[Params], expands_to: str,
               fixed: dict[str, Any] | None = None) -> None:
        """Register `name` as `expands_to` with `params` (their own defaults) and `fixed` values set.

        `resolve` returns the target's complete mapping: `{name: momentum}` resolves to
        `{name: sgd, momentum: 0.9, nesterov: false, …}`. A key in `fixed` is not one of `params`, so a
        config cannot contradict the preset (`{name: nesterov, nesterov: false}` is an unknown key).
        """
        target = self.get(expands_to)  # registered first: a preset of an unknown entry is a bug here
        if name in self._entries or name in self._aliases:
            raise ValueError(f"{self.family}: '{name}' is registered twice")
        self._entries[name] = Entry(name, target.factory, params, description, (), expands_to,
                                    tuple((fixed or {}).items()), target.facts)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries[name] for name in self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._aliases

    def get(self, name: str, path: str = "") -> Entry:
        canonical = self._aliases.get(name, name)
        if canonical not in self._entries:
            where = f"{path}: " if path else ""
            known = self.names()
            raise ConfigError(
                f"{where}{shorten(name)} is not one of the known {self.family}"
                f"{nearest(name, known + list(self._aliases))}; "
                f"known: {', '.join(known)}"
            )
        return self._entries[canonical]

    def resolve(self, spec: Any, path: str = "") -> dict[str, Any]:
        """Validate a config spec (a name or `{name: ..., **params}`) into a complete plain mapping."""
        where = path or self.family
        if isinstance(spec, str):
            name, raw = spec, {}
        elif isinstance(spec, dict):
            if "name" not in spec:
                raise ConfigError(f"{where}: a mapping needs a 'name' key; known {self.family}: "
                                  f"{', '.join(self.names())}")
            raw = {k: v for k, v in spec.items() if k != "name"}
            name = spec["name"]
            if not isinstance(name, str):
                raise ConfigError(f"{where}.name: expected a string (received {shorten(name)})")
        else:
            raise ConfigError(
                f"{where}: expected a name or a mapping with 'name' (received {shorten(spec)}); "
                f"known {self.family}: {', '.join(self.names())}"
            )
        entry = self.get(name, where)
        try:
            params = entry.params.model_validate(raw)
        except ValidationError as error:
            raise ConfigError(
                describe_validation_error(where, error, list(entry.params.model_fields))
            ) from None
        values = params.model_dump(mode="json")
        if entry.expands_to is not None:
            return self.resolve({"name": entry.expands_to, **values, **dict(entry.fixed)}, path)
        return {"name": entry.name, **values}

    def build(self, spec: Any, path: str = "", **extra: Any) -> Any:
        """Resolve a spec and call its factory with the validated parameters (plus `extra`)."""
        resolved = self.resolve(spec, path)
        entry = self.get(resolved.pop("name"))
        return entry.factory(**resolved, **extra)


# --- the typed plain data a config is made of (dnnconf.config.schema builds on these) ---

Spec = str | dict[str, Any]  # a registry name, or {name: ..., **params}


def _beyond_int64(value: Any) -> int | None:
    """The first whole number in `value` (or its lists) outside the 64-bit range torch and numpy take."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if not INT64_MIN <= value <= INT64_MAX else None
    for item in value if isinstance(value, list) else ():
        found = _beyond_int64(item)
        if found is not None:
            return found
    return None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @field_validator("*")
    @classmethod
    def _int64(cls, value: Any) -> Any:
        found = _beyond_int64(value)
        if found is not None:
            raise ValueError(f"{'holds ' + shorten(found) + ', ' if found is not value else ''}beyond the whole "
                             f"numbers accepted, the 64-bit range [-2**63, 2**63 - 1]")
        return value
