"""The published studies pages are generated, not copied: regenerating them from the kept study folders
(docs/studies-data/, `make studies-page`) gives the committed docs/studies.md and docs/studies.zh.md byte
for byte, and every table of each folder's summary.md is on the English page."""

from __future__ import annotations

from pathlib import Path

import pytest

from dnnconf.studies.suite import run_report

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "docs" / "studies-data"


def regenerate(tmp_path: Path, lang: str) -> Path:
    import argparse

    from dnnconf.arguments import Parser
    from dnnconf.studies.suite import add_report_arguments

    suffix = "" if lang == "en" else ".zh"
    out = tmp_path / f"studies{suffix}.md"
    parser = Parser(prog="dnnconf study report")
    add_report_arguments(parser)
    args = parser.parse_args([*map(str, sorted(DATA.iterdir())), "--lang", lang, "--template",
                              str(ROOT / "docs" / "snippets" / f"studies-template{suffix}.md"), "--out", str(out)])
    assert isinstance(args, argparse.Namespace) and run_report(args) == 0
    return out


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_committed_page_is_what_the_kept_folders_generate(tmp_path, lang):
    made = regenerate(tmp_path, lang)
    committed = ROOT / "docs" / made.name
    assert made.read_text(encoding="utf-8") == committed.read_text(encoding="utf-8"), (
        f"docs/{made.name} is stale: run `make studies-page`")
    for image in (tmp_path / "images" / "studies").iterdir():
        assert image.read_bytes() == (ROOT / "docs" / "images" / "studies" / image.name).read_bytes(), image.name


def test_every_summary_table_of_the_kept_folders_is_on_the_page():
    page = (ROOT / "docs" / "studies.md").read_text(encoding="utf-8")
    for folder in sorted(DATA.iterdir()):
        rows = [line for line in (folder / "summary.md").read_text(encoding="utf-8").splitlines()
                if line.startswith("|") and not line.startswith("|---")]
        assert rows, folder.name
        missing = [row for row in rows if row not in page]
        assert missing == [], f"{folder.name}: rows of its summary.md not on the page: {missing[:3]}"


def test_the_kept_folders_hold_only_small_text_and_plots():
    for path in DATA.rglob("*"):
        if path.is_file():
            assert path.suffix in (".csv", ".json", ".md", ".png") and path.stat().st_size < 512 * 1024, path


def test_a_kept_keras_reference_is_its_results_and_summary_only():
    """`make studies-keep` keeps reference-keras/results.csv (what the page reads) and summary.md (the claims
    judged on the Keras runs, for a reader), not Keras's per-seed files."""
    for reference in DATA.glob("*/reference-keras"):
        assert sorted(p.name for p in reference.iterdir()) == ["results.csv", "summary.md"], reference
