"""The Python sessions of the docs run as written: every ```python block of a file, in order, in one
namespace, in a temporary folder holding a copy of examples/.

The blocks that use the trained `Model` (dnnconf.load, dnnconf.predict) need `dnnconf.model`; without
it they are left out and the rest still runs."""

import importlib.util
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "python.md"
DOCS = [DOC]  # each file whose ```python blocks form one session that runs as written (digits, few epochs)
USES_MODEL = re.compile(r"dnnconf\.load\(|dnnconf\.predict\(|(?<![\w.\"])model\.\w+\(")  # calls on a Model


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)


def test_the_doc_has_a_quick_start_to_run():
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 5 and any("dnnconf.fit(" in block for block in blocks)
    assert any(USES_MODEL.search(block) for block in blocks)


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_the_python_session_runs_as_written(doc, tmp_path, monkeypatch, capsys):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    has_model = importlib.util.find_spec("dnnconf.model") is not None
    namespace: dict = {"__name__": "__docs__"}
    ran = 0
    for number, block in enumerate(python_blocks(doc.read_text(encoding="utf-8")), 1):
        if USES_MODEL.search(block) and not has_model:
            continue
        try:
            exec(compile(block, f"{doc.name} block {number}", "exec"), namespace)  # noqa: S102
        except Exception as error:  # noqa: BLE001 - name the block that failed
            raise AssertionError(f"{doc.name} block {number} failed: {error!r}\n{block}") from error
        ran += 1
    assert ran >= 1
    if doc == DOC:  # what the quick start says it shows (its run folders, the check's error)
        assert Path("runs/quickstart/model.safetensors").is_file() and Path("runs/lr_find/lr_find.png").is_file()
        assert "DNC110" in capsys.readouterr().out

