"""MkDocs hook: every page in both languages, or the (strict) build fails.

Each English page `docs/X.md` needs its Chinese page `docs/X.zh.md` and the other way round. A page
whose translation is still to be written is listed in `docs/translations-pending.txt` (one path a
line, relative to docs/): the build then serves the English page under /zh/ (the i18n plugin's
fallback) and logs an INFO line instead of the warning that fails `mkdocs build --strict`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.translations")

PENDING_FILE = "translations-pending.txt"
EXCLUDED_DIRS = ("snippets/", "studies-data/")  # as mkdocs.yml's exclude_docs: included pieces, study data


def pending(docs_dir: Path) -> set[str]:
    path = docs_dir / PENDING_FILE
    if not path.exists():
        return set()
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return {line for line in lines if line}


def missing_translations(docs_dir: Path) -> tuple[list[str], list[str]]:
    """(English pages without a .zh.md, Chinese pages without their English page), paths under docs/."""
    pages = {p.relative_to(docs_dir).as_posix() for p in docs_dir.rglob("*.md")}
    pages = {p for p in pages if not p.startswith(EXCLUDED_DIRS)}
    english = {p for p in pages if not p.endswith(".zh.md")}
    chinese = {p for p in pages if p.endswith(".zh.md")}
    no_zh = sorted(p for p in english if p.removesuffix(".md") + ".zh.md" not in chinese)
    no_en = sorted(p for p in chinese if p.removesuffix(".zh.md") + ".md" not in english)
    return no_zh, no_en


def on_pre_build(config: Any) -> None:
    docs_dir = Path(config["docs_dir"])
    waiting = pending(docs_dir)
    no_zh, no_en = missing_translations(docs_dir)
    for page in no_zh:
        if page in waiting:
            log.info("%s: Chinese translation pending (%s); /zh/ serves the English page", page, PENDING_FILE)
        else:
            log.warning("%s has no Chinese page %s (write it, or list the page in docs/%s)",
                        page, page.removesuffix(".md") + ".zh.md", PENDING_FILE)
    for page in no_en:
        log.warning("%s has no English page %s", page, page.removesuffix(".zh.md") + ".md")
    for page in sorted(waiting - set(no_zh)):
        log.warning("docs/%s lists %s, which is translated (or gone): remove the line", PENDING_FILE, page)
