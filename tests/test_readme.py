"""The README is short, says what to type, and its Chinese twin is in step with it.

Its commands and snippets are run by tests/docs/test_doc_commands.py (with every docs page).
"""

import re
from pathlib import Path

from dnnconf.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README, README_ZH = ROOT / "README.md", ROOT / "README.zh-CN.md"


def _outline(path: Path) -> list[str]:
    """Section levels and code-block languages, in order."""
    out = []
    for line in path.read_text().splitlines():
        if re.match(r"^#{1,6} ", line):
            out.append(line.split(" ")[0])
        elif line.startswith("```") and line.strip() != "```":
            out.append("code:" + line.strip("`").strip())
    return out


def test_readme_is_short_and_links_its_translation_from_the_first_line():
    assert len(README.read_text().splitlines()) < 200
    assert "(README.zh-CN.md)" in README.read_text().splitlines()[0]
    assert "(README.md)" in README_ZH.read_text().splitlines()[0]


def test_the_two_readmes_have_the_same_sections_and_code_blocks():
    assert _outline(README) == _outline(README_ZH)
    assert len(_outline(README)) > 10


def test_readme_says_how_to_test_and_activate():
    text = README.read_text()
    assert "$ make test" in text.split("## Tests", 1)[1]
    assert "$ . .venv/bin/activate" in text


def test_readme_names_no_published_package_and_only_existing_files():
    for path in (README, README_ZH):
        text = path.read_text()
        assert "install 'dnnconf[" not in text and "install dnnconf[" not in text
        for name in re.findall(r"examples/[\w./-]+\.yaml", text):
            assert (ROOT / name).exists(), f"{path.name} names {name}, which is not in examples/"
        for link in re.findall(r"\]\(((?:docs/)[^)#]+)", text):
            assert (ROOT / link).exists(), f"{path.name} links to {link}, which does not exist"


def test_every_command_is_explained_in_the_hand_written_docs():
    commands = build_parser()._subparsers._group_actions[0].choices
    docs = " ".join(p.read_text() for p in (ROOT / "docs").rglob("*.md") if "reference" not in p.parts)
    for command in commands:
        assert f"dnnconf {command}" in docs, command
