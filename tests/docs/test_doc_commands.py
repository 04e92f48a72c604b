"""Every command and snippet the README and the docs show is parsed, and run unless marked long.

English pages run; each Chinese page must show exactly the same commands and code (comments and
output may be translated), so running the English page runs the Chinese page's commands too.
"""

from __future__ import annotations

import ast
import os
import re
import shlex

import pytest
import yaml
from docs_blocks import ROOT, Block, blocks, counterpart, pages, pending

from dnnconf.cli import build_parser, main
from dnnconf.config.schema import Config

ALL_PAGES = pages("en") + pages("zh")
# Pages waiting for their translation (docs/translations-pending.txt) come from other branches: their
# `dnnconf` lines are parsed, but they are not yet held to the console-block format, run, or paired.
FORMATTED = [p for p in ALL_PAGES if p not in pending()]
SHELL_WORDS = {"cd", "ls", "cat", "git", "head", "tail"}


def _id(page) -> str:
    return page.relative_to(ROOT).as_posix()


def dnnconf_args(argv: list[str]) -> list[str] | None:
    """The arguments given to dnnconf by a command line, or None when it does not run dnnconf."""
    if argv and argv[0] == "dnnconf":
        return argv[1:]
    for i in range(len(argv) - 1):
        if argv[i] in ("-m", "--no-python") and argv[i + 1] == "dnnconf":
            return argv[i + 2:]
    return None


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return {line.split(":")[0] for line in text.splitlines() if line and not line[0].isspace() and ":" in line
            and "=" not in line.split(":")[0]}


def _extras() -> set[str]:
    """The optional-dependency groups of pyproject.toml (tomllib is Python 3.11+; dnnconf supports 3.10)."""
    text = (ROOT / "pyproject.toml").read_text()
    section = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    return set(re.findall(r"^([\w-]+)\s*=", section, re.M))


def check_exists(argv: list[str], where: str) -> None:
    """The command exists: a dnnconf subcommand with options the parser accepts, a make target, an extra, a file."""
    args = dnnconf_args(argv)
    if args is not None:
        try:
            build_parser().parse_args(args)
        except SystemExit as stop:
            pytest.fail(f"{where}: `dnnconf {shlex.join(args)}` is refused by the parser (exit {stop.code})")
        return
    head = argv[0]
    if head == "make":
        missing = [t for t in argv[1:] if "=" not in t and t not in _make_targets()]
        assert not missing, f"{where}: no make target {missing}"
    elif head in ("pip", "python", "python3") and "install" in argv:
        extras = _extras()
        for arg in argv:
            if arg.startswith(".[") or arg.startswith("-e.["):
                wanted = arg[arg.index("[") + 1: arg.index("]")].split(",")
                assert set(wanted) <= set(extras), f"{where}: no extra {wanted} in pyproject.toml"
    elif head in ("python", "python3"):
        script = next(a for a in argv[1:] if not a.startswith("-"))
        assert (ROOT / script).exists(), f"{where}: {script} does not exist"
    elif head == ".":
        assert argv[1:] == [".venv/bin/activate"], f"{where}: {argv}"
    else:
        assert head in SHELL_WORDS, f"{where}: unknown command {head!r}"


def test_blocks_that_show_dnnconf_commands_are_console_blocks():
    for page in FORMATTED:
        for block in blocks(page):
            if block.lang in ("", "bash", "sh", "shell"):
                lines = [line.strip() for line in block.text.splitlines()]
                assert not any(line.startswith(("dnnconf ", "$ ")) for line in lines), (
                    f"{block.where}: a command block must be ```console with `$ ` before each command")


@pytest.mark.parametrize("page", ALL_PAGES, ids=_id)
def test_every_command_shown_exists(page):
    for block in blocks(page):
        if block.lang == "console":
            commands = block.commands()
            assert commands, f"{block.where}: a console block without a `$ ` command"
            for argv in commands:
                check_exists(argv, block.where)
        elif page in pending() and block.lang in ("", "bash", "sh", "shell", "text"):
            for line in block.text.splitlines():
                if line.strip().startswith("dnnconf "):
                    check_exists(shlex.split(line.strip(), comments=True), block.where)
        elif block.lang == "yaml":
            data = yaml.safe_load(block.text)
            assert isinstance(data, dict), f"{block.where}: not a YAML mapping"
            if "file" not in block.marker and "skip" not in block.marker:
                keys = {f.alias or n for n, f in Config.model_fields.items()}
                assert set(data) <= keys, f"{block.where}: {sorted(set(data) - keys)} are not config keys"
        elif block.lang == "python":
            ast.parse(block.text)


def _normalized(block: Block):
    if block.lang == "console":
        return [shlex.join(argv) for argv in block.commands()]
    if block.lang == "yaml":
        return yaml.safe_load(block.text)
    if block.lang == "python":
        return ast.dump(ast.parse(block.text))
    return None  # text: trees, output, formulas may be translated


@pytest.mark.parametrize("page", [p for p in pages("en") if p not in pending()], ids=_id)
def test_the_chinese_page_shows_the_same_code(page):
    other = counterpart(page)
    assert other.exists(), f"{_id(page)} has no Chinese page {_id(other)}"
    mine = [(b.lang, _normalized(b), b.marker.get("exit")) for b in blocks(page) if b.lang != "text"]
    theirs = [(b.lang, _normalized(b), b.marker.get("exit")) for b in blocks(other) if b.lang != "text"]
    assert mine == theirs, f"{_id(other)} shows other code than {_id(page)}"


def _runnable(page) -> bool:
    return any(b.lang in ("console", "python") and "skip" not in b.marker for b in blocks(page))


@pytest.mark.parametrize("page", [p for p in pages("en") if _runnable(p) and p not in pending()], ids=_id)
def test_the_page_runs(page, tmp_path, monkeypatch):
    """Each English page's commands and snippets, in order, in a fresh folder beside the examples."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "120")
    namespace: dict = {}
    for block in blocks(page):
        if "skip" in block.marker:
            continue
        if "file" in block.marker:
            (tmp_path / block.marker["file"]).write_text(block.text + "\n")
        elif block.lang == "console":
            expected = int(block.marker.get("exit", 0))
            for argv in block.commands():
                args = dnnconf_args(argv)
                if args is None:
                    continue  # set-up commands (make, pip, activate) are checked, not run
                try:
                    code = main(args)
                except SystemExit as stop:
                    code = stop.code
                assert code == expected, f"{block.where}: `{shlex.join(argv)}` exited {code}, expected {expected}"
        elif block.lang == "python":
            exec(compile(block.text, block.where, "exec"), namespace)
    assert os.getcwd() == str(tmp_path)


def test_every_example_named_exists():
    for page in ALL_PAGES:
        for name in re.findall(r"examples/[\w./-]+\.yaml", page.read_text(encoding="utf-8")):
            assert (ROOT / name).exists(), f"{_id(page)} names {name}, which is not in examples/"
