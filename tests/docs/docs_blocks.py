"""The code blocks of the documentation (README*.md, docs/**/*.md), as the docs tests read them.

A page's fenced blocks are collected with their language and an optional marker, an HTML comment on
the line right before the fence:

- `<!-- docs-test: skip REASON -->`: shown only (a long run, Fashion-MNIST, several machines); its
  `dnnconf` commands are still parsed by the real argument parser, so each subcommand and option exists.
- `<!-- docs-test: exit=N -->`: every command of the block must end with exit code N (default 0).
- `<!-- docs-test: file=NAME -->` (yaml/python blocks): written to NAME in the page's working folder,
  for the commands after it.

In a `console` block a line starting with `$ ` is a command (a trailing backslash continues it); the
other lines are the output shown.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^(\s*)(`{3,})\s*([\w+-]*)")
MARKER = re.compile(r"<!--\s*docs-test:\s*(.*?)\s*-->")
SNIPPET = re.compile(r'^\s*--8<--\s+"([^":]+)(?::([\w-]*)(?::(\d*))?)?"\s*$')


def expanded(page: Path) -> list[str]:
    """The page's lines with each `--8<-- "file[:section]"` (or `"file:start:end"`, lines) replaced by what
    pymdownx.snippets includes."""
    out = []
    for line in page.read_text(encoding="utf-8").splitlines():
        found = SNIPPET.match(line)
        if not found:
            out.append(line)
            continue
        included = (DOCS / found.group(1)).read_text(encoding="utf-8").splitlines()
        if found.group(3) is not None or (found.group(2) or "").isdigit():  # lines start:end, 1-based
            start = int(found.group(2) or 1)
            end = int(found.group(3)) if found.group(3) else len(included)
            included = included[start - 1:end]
        elif found.group(2):
            start = included.index(f"<!-- --8<-- [start:{found.group(2)}] -->")
            end = included.index(f"<!-- --8<-- [end:{found.group(2)}] -->")
            included = included[start + 1:end]
        out += included
    return out


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    text: str
    marker: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    def commands(self) -> list[list[str]]:
        """The `$ ` lines of a console block, each split as the shell would (comments dropped)."""
        out, pending = [], ""
        for line in self.text.splitlines():
            if pending:
                pending += " " + line.strip()
            elif line.startswith("$ "):
                pending = line[2:].strip()
            else:
                continue
            if pending.endswith("\\"):
                pending = pending[:-1]
                continue
            out.append(shlex.split(pending, comments=True))
            pending = ""
        return out


def _marker(text: str) -> dict[str, str]:
    found = MARKER.search(text)
    if not found:
        return {}
    body = found.group(1)
    if body.startswith("skip"):
        return {"skip": body[4:].strip() or "shown only"}
    return dict(part.split("=", 1) for part in body.split())


def blocks(page: Path) -> list[Block]:
    lines = expanded(page)
    out: list[Block] = []
    i = 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if not opened:
            i += 1
            continue
        indent, ticks, lang = opened.groups()
        previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        body, j = [], i + 1
        while j < len(lines) and not lines[j].strip().startswith(ticks):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        out.append(Block(page, i + 1, lang or "", "\n".join(body), _marker(previous)))
        i = j + 1
    return out


NOT_PAGES = ("snippets/", "studies-data/")  # included pieces; study folders' summaries kept as data
GENERATED = {"reference/config", "reference/registries", "reference/cli", "reference/rules"}


def pending() -> set[Path]:
    """Pages listed in docs/translations-pending.txt: merged from another branch, not yet in the docs' format."""
    listed = DOCS / "translations-pending.txt"
    lines = listed.read_text(encoding="utf-8").splitlines() if listed.exists() else []
    return {DOCS / line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()}


def pages(lang: str) -> list[Path]:
    """The hand-written pages of one language ("en" or "zh"), README included."""
    readme = ROOT / ("README.md" if lang == "en" else "README.zh-CN.md")
    found = []
    for path in sorted(DOCS.rglob("*.md")):
        rel = path.relative_to(DOCS).as_posix()
        if rel.startswith(NOT_PAGES) or rel.removesuffix(".zh.md").removesuffix(".md") in GENERATED:
            continue
        if rel.endswith(".zh.md") == (lang == "zh"):
            found.append(path)
    return [readme, *found]


def counterpart(page: Path) -> Path:
    """The other language's page."""
    name = page.name
    if name == "README.md":
        return page.with_name("README.zh-CN.md")
    if name == "README.zh-CN.md":
        return page.with_name("README.md")
    if name.endswith(".zh.md"):
        return page.with_name(name.removesuffix(".zh.md") + ".md")
    return page.with_name(name.removesuffix(".md") + ".zh.md")
