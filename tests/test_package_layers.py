"""The package's layers (pyproject.toml's [tool.importlinter], explained in docs/architecture.md): a new
upward import or an import cycle between modules fails here, and so does a module no layer names."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import dnnconf

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]


def test_the_import_contracts_hold():
    pytest.importorskip("importlinter")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                             "sys.exit(lint_imports(no_cache=True, no_logo=True))"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_every_module_of_the_package_has_a_layer():
    layers = next(c for c in contracts() if c["type"] == "layers")["layers"]
    named = {name.strip().removeprefix("dnnconf.") for layer in layers for name in layer.split("|")}
    present = {module.name for module in pkgutil.iter_modules(dnnconf.__path__)} - {"__main__"}
    assert present - named == set(), "place these in a layer of pyproject.toml's [tool.importlinter]"
    assert named - present == set(), "these layers name modules that do not exist"


def test_the_layers_are_not_switched_off():
    """No import is exempted from the contracts: a layer violation is mended, not ignored."""
    for contract in contracts():
        assert not contract.get("ignore_imports"), contract["name"]
