"""The docs hooks: reference pages generated from the code, and the translation check."""

import importlib.util
import re

from docs_blocks import ROOT

from dnnconf.cli import build_parser
from dnnconf.config.schema import Config


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs_hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows_split_right(text: str) -> None:
    """Every table row has as many cells as its header (an unescaped `|` would add one)."""
    columns = None
    for line in text.splitlines():
        if not line.startswith("|"):
            columns = None
            continue
        cells = len(re.split(r"(?<!\\)\|", line.strip())) - 2
        columns = columns or cells
        assert cells == columns, line


def test_the_reference_pages_name_every_key_registry_entry_and_command(tmp_path):
    generate = _load("generate")
    written = generate.generate(tmp_path)
    assert len(written) == 2 * len(generate.BUILDERS)
    for path in written:
        _rows_split_right(path.read_text(encoding="utf-8"))
    config = (tmp_path / "config.md").read_text(encoding="utf-8")
    for name, field in Config.model_fields.items():
        assert f"| `{field.alias or name}` |" in config, name
    registries = (tmp_path / "registries.zh.md").read_text(encoding="utf-8")
    for _family, _key, registry in generate.registry_families():
        for entry in registry:
            assert f"| `{entry.name}`" in registries, entry.name
    cli = (tmp_path / "cli.md").read_text(encoding="utf-8")
    for command in build_parser()._subparsers._group_actions[0].choices:
        assert f"## `dnnconf {command}`" in cli, command
    assert generate.generate(tmp_path) == []  # unchanged pages are not rewritten (mkdocs serve watches them)


def test_a_page_without_its_translation_is_found(tmp_path):
    translations = _load("translations")
    (tmp_path / "guide").mkdir()
    for name in ("index.md", "index.zh.md", "guide/a.md", "guide/b.zh.md", "snippets/x.md"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("# x\n")
    assert translations.missing_translations(tmp_path) == (["guide/a.md"], ["guide/b.zh.md"])
    (tmp_path / "translations-pending.txt").write_text("# comment\nguide/a.md  # soon\n")
    assert translations.pending(tmp_path) == {"guide/a.md"}
