"""Read YAML text as plain data within fixed limits; each refusal is one line naming the file and line.

A config is small, hand-written data, so anything else is refused before it can cost memory or time
(the limits are `dnnconf.limits`' constants, listed in docs/reliability.md):

- the path must be a regular file (not a folder, device such as /dev/zero, FIFO or socket: reading
  those never ends or blocks) of at most `MAX_TEXT_BYTES`; it must hold a document (an empty file
  is refused rather than read as "all defaults");
- no anchors or aliases (`&name`, `*name`, and so no `<<` merges): a 530-byte "billion laughs" file
  of nested aliases expands to gigabytes once walked, dumped or echoed;
- no duplicate keys in a mapping (YAML 1.2 forbids them; PyYAML silently keeps the last);
- at most `MAX_NESTING` levels of lists and mappings (the composer is recursive) and `MAX_NODES`
  values in all (PyYAML's nodes cost ~300 bytes each).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from dnnconf.errors import ConfigError
from dnnconf.limits import MAX_NESTING, MAX_NODES, MAX_TEXT_BYTES, human_bytes, shorten


class Refused(yaml.YAMLError):
    """YAML that parses but is outside the limits; `mark` is where (PyYAML's Mark, 0-based)."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem, self.problem_mark = problem, mark


class LimitedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the limits above (no aliases, no duplicate keys, bounded depth and size)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise Refused("YAML anchors and aliases (&name, *name) are not accepted; write each value out",
                          event.start_mark)
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise Refused(f"more than {MAX_NODES:,} values", event.start_mark)
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise Refused(f"lists and mappings nested more than {MAX_NESTING} levels deep", event.start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:  # an unhashable key (a list); the base class reports it
                    continue
                if first is not key_node:
                    raise Refused(f"duplicate key {shorten(key)} (first at line {first.start_mark.line + 1})",
                                  key_node.start_mark)
        return super().construct_mapping(node, deep)



def parse_yaml(text: str) -> Any:
    """`text` as plain data under the limits; raises yaml.YAMLError (`Refused` for a limit)."""
    loader = LimitedLoader(text)
    try:
        return loader.get_single_data()
    except RecursionError:  # a limit above should stop it first; never let it escape as a traceback
        raise Refused(f"nested too deeply (more than {MAX_NESTING} levels are refused)", None) from None
    finally:
        loader.dispose()


def read_text(path: Path, what: str = "config file", limit: int = MAX_TEXT_BYTES) -> str:
    """The UTF-8 text of a regular file of at most `limit` bytes; one ConfigError line otherwise.

    Opened without blocking (a FIFO swapped in after the check still cannot hang the read)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what}") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the {what} ({error.strerror or error})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{path}: is a folder; give a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{path}: is not a regular file (a device, FIFO or socket); give a {what}")
    if info.st_size > limit:
        raise ConfigError(f"{path}: the {what} has {human_bytes(info.st_size)}, more than the "
                          f"{human_bytes(limit)} accepted")
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(descriptor, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise ConfigError(f"{path}: is not a regular file (a device, FIFO or socket); give a {what}")
            data = file.read(limit + 1)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the {what} ({error.strerror or error})") from None
    if len(data) > limit:  # it grew since the check
        raise ConfigError(f"{path}: the {what} has more than the {human_bytes(limit)} accepted")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: the {what} is not UTF-8 text (byte {error.start}: "
                          f"{data[error.start:error.start + 1]!r})") from None
