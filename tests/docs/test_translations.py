"""Every Chinese page says its English page in Chinese: no English prose left, the same headings.

The prose rule, kept simple on purpose: outside front matter, fenced and indented code blocks and HTML
comments, a page is cut into units (a paragraph, a list item, a table row, a heading, an admonition
title). After inline code, quoted program output, link targets, URLs, HTML tags and identifiers (words
with `_`, digits, dots or slashes) are taken out, a unit with 4 or more English words must contain a
Chinese character, and no unit may hold 6 English words in a row with no Chinese character or Chinese
punctuation between them (a paragraph translated in part). Names such as Fashion-MNIST or `dnnconf check`
inside a Chinese sentence are fine; an English sentence is not.

A Chinese page may include the English page's named sections (`--8<-- "studies.md:init"`: measured
tables shared by both languages), but not the whole English page (`--8<-- "performance.md:2:"`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from docs_blocks import DOCS, FENCE, ROOT, SNIPPET, counterpart, expanded, pages, pending

ZH_PAGES = [p for p in pages("zh") if p.name.endswith(".zh.md") and p not in pending()]
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
ENGLISH_WORDS_ALLOWED = 3
ENGLISH_RUN = 6
NOT_CHINESE = re.compile(r"[^\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]+")
UNIT_START = re.compile(r"^\s*(?:[-*+]\s|\d+\.\s|\||#{1,6}\s|!!!|\?\?\?)")
TAKEN_OUT = [
    re.compile(r"``.*?``|`[^`]*`"),  # inline code
    re.compile(r'"[^"]*"'),  # quoted program output
    re.compile(r"\]\([^)]*\)"),  # link targets
    re.compile(r"\]\[[^\]]*\]"),  # reference link labels
    re.compile(r"https?://\S+"),
    re.compile(r"<[^>]+>"),  # HTML tags
    re.compile(r"\{[^}]*\}"),  # attribute lists, {#anchor}
]
CONTAINER = re.compile(r"^\s*(?:[-*+]\s|\d+\.\s|!!!|\?\?\?)")  # list items and admonitions
ONE_LINE = re.compile(r"^\s*(?:#{1,6}\s|!!!|\?\?\?)")  # headings and admonition titles
WORD = re.compile(r"(?<![\w./\\-])[A-Za-z]+(?:['’][a-z]+)?(?![\w./\\])")


def _id(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def prose_units(lines: list[str]) -> list[tuple[int, str]]:
    """(first line number, text) of each prose unit outside front matter, code fences and HTML comments."""
    units: list[tuple[int, str]] = []
    current: list[str] = []
    start, current_head = 0, ""
    fence = None
    in_comment = False
    indented_code = False
    last_head = ""  # the first line of the last unit: does an indented block after a blank line continue it?
    i = 0
    if lines and lines[0].strip() == "---":  # front matter
        i = next((j for j in range(1, len(lines)) if lines[j].strip() == "---"), 0) + 1

    def close():
        nonlocal current, last_head
        if current:
            units.append((start, " ".join(current)))
            last_head = current_head
        current = []

    for number, line in enumerate(lines[i:], start=i + 1):
        if fence:
            if line.strip().startswith(fence):
                fence = None
            continue
        opened = FENCE.match(line)
        if opened:
            close()
            fence = opened.group(2)
            continue
        if in_comment or "<!--" in line:
            text = line
            if in_comment:
                if "-->" not in text:
                    continue
                text = text.split("-->", 1)[1]
                in_comment = False
            while "<!--" in text:
                before, _, after = text.partition("<!--")
                if "-->" in after:
                    text = before + after.split("-->", 1)[1]
                else:
                    text, in_comment = before, True
            line = text
            if not line.strip():
                close()
                continue
        if not line.strip() or SNIPPET.match(line):
            close()
            continue
        if not current and line.startswith("    "):
            # An indented block after a blank line is code unless it continues a list item, an admonition
            # or an indented block of prose.
            indented_code = indented_code or not (CONTAINER.match(last_head) or last_head.startswith(" "))
        elif not line.startswith("    "):
            indented_code = False
        if indented_code:
            continue
        if UNIT_START.match(line) or not current:
            close()
            start, current_head = number, line
        current.append(line.strip())
        if ONE_LINE.match(line):
            close()
    close()
    return units


def english_words(text: str) -> list[str]:
    for pattern in TAKEN_OUT:
        text = pattern.sub(" ", text)
    return WORD.findall(text)


def english_runs(text: str) -> list[str]:
    """The stretches of a unit between Chinese characters and punctuation that hold ENGLISH_RUN words or more."""
    for pattern in TAKEN_OUT:
        text = pattern.sub(" ", text)
    return [run.strip() for run in NOT_CHINESE.findall(text) if len(WORD.findall(run)) >= ENGLISH_RUN]


def untranslated(lines: list[str]) -> list[str]:
    """`line: text` of each unit with more than ENGLISH_WORDS_ALLOWED English words and no Chinese, or with an
    English stretch of ENGLISH_RUN words (a paragraph translated only in part)."""
    out = []
    for number, text in prose_units(lines):
        if not CJK.search(text) and len(english_words(text)) > ENGLISH_WORDS_ALLOWED:
            out.append(f"{number}: {text[:100]}")
        else:
            out += [f"{number}: …{run[:100]}" for run in english_runs(text)]
    return out


HEADING = re.compile(r"^#{1,6}\s")


def headings(lines: list[str]) -> list[str]:
    """The Markdown headings outside code fences (with their level marks only)."""
    out, fence = [], None
    for line in lines:
        if fence:
            if line.strip().startswith(fence):
                fence = None
            continue
        opened = FENCE.match(line)
        if opened:
            fence = opened.group(2)
        elif HEADING.match(line):
            out.append(line.split()[0])
    return out


@pytest.mark.parametrize("page", ZH_PAGES, ids=_id)
def test_the_chinese_page_has_no_english_prose(page):
    left = untranslated(page.read_text(encoding="utf-8").splitlines())
    assert not left, f"{_id(page)} still has English prose:\n" + "\n".join(left)


@pytest.mark.parametrize("page", ZH_PAGES, ids=_id)
def test_the_chinese_page_includes_no_whole_english_page(page):
    for line in page.read_text(encoding="utf-8").splitlines():
        found = SNIPPET.match(line)
        if found and (DOCS / found.group(1)).name.endswith(".md") and not found.group(1).endswith(".zh.md"):
            section = found.group(2) or ""
            assert section and not section.isdigit(), (
                f"{_id(page)} includes {found.group(1)} whole ({line.strip()}): translate it, or include named"
                " sections only")


@pytest.mark.parametrize("page", ZH_PAGES, ids=_id)
def test_the_chinese_page_has_the_english_headings(page):
    english = counterpart(page)
    mine, theirs = headings(expanded(page)), headings(expanded(english))
    assert mine == theirs, (f"{_id(page)} has {len(mine)} headings {mine}, {_id(english)} has {len(theirs)}"
                            f" {theirs}")


@pytest.mark.parametrize("text, count", [
    ("This page is still English prose.", 1),
    ("这是 `dnnconf check` 的中文说明，带 Fashion-MNIST 和 SGD with momentum。", 0),
    ("`training.parallel_seeds`, `--jobs`, [sweep](sweep.md)", 0),
    ("| random_normal | relu | shallow | 0.8243 |", 0),
    ("```console\n$ dnnconf train and many English words here\n```", 0),
    ("<!-- docs-test: skip long: Fashion-MNIST or many runs -->", 0),
    ("公式如下：\n\n    parameters times four bytes and more\n\n说明。", 0),
    ("!!! note \"英文\"\n    This admonition body is still English prose.", 1),
    ("- 列表项\n\n    This continuation paragraph is English prose.", 1),
    ("!!! note \"说明\"\n    第一段。\n\n    The second paragraph is still in English.", 1),
    ("- first English list item with words\n- 第二项", 1),
    ("这一段开头是中文，\nbut the rest of this paragraph was left in English.", 1),
    ("输出 ``run `dnnconf lr-find` without torchrun now`` 和 \"no update for a while (stopped?)\"。", 0),
])
def test_the_rule(text, count):
    assert len(untranslated(text.splitlines())) == count
