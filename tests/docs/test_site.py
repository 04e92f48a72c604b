"""The built site: every page in both languages, with the language switch and the navigation, and
every `dnnconf` command shown in a code block names a real subcommand."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from docs_blocks import ROOT

from dnnconf.cli import build_parser

bs4 = pytest.importorskip("bs4")
pytest.importorskip("mkdocs")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_every_page_has_both_languages_the_switch_and_the_nav(site):
    commands = set(build_parser()._subparsers._group_actions[0].choices)
    english = [p for p in site.rglob("index.html") if "zh" not in p.relative_to(site).parts[:1]
               and p.relative_to(site).parts[0] not in ("assets", "search")]
    assert len(english) > 30
    for page in english:
        rel = page.relative_to(site)
        chinese = site / "zh" / rel
        assert chinese.exists(), f"{rel} has no Chinese page"
        for path, lang in ((page, "en"), (chinese, "zh")):
            soup = bs4.BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
            assert soup.html.get("lang") == lang, path
            switch = {a.get("hreflang") for a in soup.select("a[hreflang]")}
            assert {"en", "zh"} <= switch, f"{path}: no language switch"
            assert soup.select("nav.md-nav--primary a.md-nav__link"), f"{path}: no navigation"
            for code in soup.select("pre code"):
                for line in code.get_text().splitlines():
                    if line.startswith("$ dnnconf "):
                        assert line.split()[2] in commands, f"{path}: {line}"


def test_the_navigation_reaches_every_page(site):
    for root in (site, site / "zh"):
        soup = bs4.BeautifulSoup((root / "index.html").read_text(encoding="utf-8"), "html.parser")
        linked = {(root / a["href"]).resolve() for a in soup.select("nav.md-nav--primary a.md-nav__link[href]")}
        pages = [p for p in root.rglob("index.html") if p.relative_to(root).parts[0] not in ("zh", "assets", "search")]
        for page in pages:
            assert page.parent.resolve() in linked or page.resolve() in linked, f"{page} is not in the navigation"
