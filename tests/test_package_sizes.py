"""Sizes and imports inside functions (issue #19, docs/architecture.md): no module over 400 lines, no
function over 60 lines unless its docstring says why ("Long: …"), and imports inside functions only
where they keep `dnnconf --help` light, for an optional dependency, or with a `# lazy: <reason>`.

The allow-lists below name today's offenders in files that other branches are rewriting; an entry that
no longer offends fails `test_the_allow_lists_hold_only_offenders`, so the lists can only shrink."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "dnnconf"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
LONG_MARK = "Long: "
LAZY_MARK = "# lazy:"

# Modules over 400 lines, each with its reason.
LONG_MODULES: dict[str, str] = {}

# Functions over 60 lines without "Long: " in their docstring (file:function): all in files that other
# branches are rewriting for issue #19 (one loop with a pluggable step).
LONG_FUNCTIONS: set[str] = set()

# Imports inside functions of modules that `dnnconf --help` does not import (file:function): all in
# files that other branches are rewriting for issue #19, many of them only hiding a cycle that the
# rewrite removes.
INNER_IMPORTS: set[str] = set()

# Modules kept light by design besides those `dnnconf --help` imports, with the reason.
LIGHT_MODULES = {
    "dnnconf.api": "`import dnnconf` and `dnnconf.api` must not import torch (tests/test_api.py)",
}

# Optional dependencies (pyproject.toml's extras, or not installed by dnnconf at all): imported where used,
# so that a missing one is one line naming what to install.
OPTIONAL = ("optuna", "onnx", "onnxruntime", "torch.utils.tensorboard", "tensorboard", "keras", "psycopg",
            "sqlalchemy", "pandas")

HELP_MODULES = """
import json, runpy, sys
sys.argv = ['dnnconf', *sys.argv[1:]]
try:
    runpy.run_module('dnnconf', run_name='__main__')
except SystemExit:
    pass
print(json.dumps(sorted(name for name in sys.modules if name.split('.')[0] == 'dnnconf')), file=sys.stderr)
"""


@dataclass(frozen=True)
class Offence:
    where: str  # file, or file:function
    what: str


def relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def module_name(path: Path) -> str:
    parts = ["dnnconf", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]


def size_offences(where: str, source: str) -> list[Offence]:
    """The module over `MAX_MODULE_LINES`, its functions over `MAX_FUNCTION_LINES` without "Long: "."""
    found = []
    lines = source.count("\n") + (not source.endswith("\n"))
    if lines > MAX_MODULE_LINES:
        found.append(Offence(where, f"{lines} lines (at most {MAX_MODULE_LINES})"))
    for function in _functions(ast.parse(source)):
        length = function.end_lineno - function.lineno + 1
        if length > MAX_FUNCTION_LINES and LONG_MARK not in (ast.get_docstring(function) or ""):
            found.append(Offence(f"{where}:{function.name}", f"{length} lines (at most {MAX_FUNCTION_LINES} "
                                                             f"without '{LONG_MARK}<why>' in its docstring)"))
    return found


def _optional(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in OPTIONAL)


def inner_import_offences(where: str, source: str) -> list[Offence]:
    """Imports inside functions that are neither of an optional dependency nor marked `# lazy: <reason>`."""
    lines = source.splitlines()
    found = []
    for function in _functions(ast.parse(source)):
        for node in ast.walk(function):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = ["." * node.level + (node.module or "")]
            else:
                continue
            text = "\n".join(lines[node.lineno - 1:node.end_lineno])
            marked = LAZY_MARK in text and text.split(LAZY_MARK, 1)[1].strip()
            if not marked and not all(_optional(module) for module in modules):
                found.append(Offence(f"{where}:{function.name}",
                                     f"line {node.lineno} imports {', '.join(modules)} inside a function"))
    return found


def sources() -> dict[Path, str]:
    return {path: path.read_text(encoding="utf-8") for path in sorted(PACKAGE.rglob("*.py"))}


@pytest.fixture(scope="module")
def light_modules() -> set[str]:
    """What `dnnconf --help` and a bad argument import, and the modules kept light by design."""
    reached: set[str] = set()
    for argv in (["--help"], ["train", "--no-such-flag"]):
        result = subprocess.run([sys.executable, "-c", HELP_MODULES, *argv], capture_output=True, text=True,
                                cwd=ROOT, timeout=300)
        reached |= set(json.loads(result.stderr.strip().splitlines()[-1]))
    return reached


def _is_light(name: str, light: set[str]) -> bool:
    return name in light or any(name == module or name.startswith(module + ".") for module in LIGHT_MODULES)


def current_offences(light: set[str]) -> tuple[list[Offence], list[Offence]]:
    sizes, imports = [], []
    for path, source in sources().items():
        sizes += size_offences(relative(path), source)
        if not _is_light(module_name(path), light):
            imports += inner_import_offences(relative(path), source)
    return sizes, imports


def test_no_module_or_function_too_long():
    sizes, _ = current_offences(set())
    new = [o for o in sizes if o.where not in LONG_MODULES and o.where not in LONG_FUNCTIONS]
    assert new == [], "split these (or say why in the docstring: 'Long: …'):\n" + "\n".join(
        f"{o.where}: {o.what}" for o in new)


def test_imports_inside_functions_only_where_they_keep_the_command_line_light(light_modules):
    assert "dnnconf.cli.app" in light_modules
    _, imports = current_offences(light_modules)
    new = [o for o in imports if o.where not in INNER_IMPORTS]
    assert new == [], ("move these imports to the top of the module, or say why not with '# lazy: <reason>' "
                       "(docs/architecture.md):\n" + "\n".join(f"{o.where}: {o.what}" for o in new))


def test_the_allow_lists_hold_only_offenders(light_modules):
    sizes, imports = current_offences(light_modules)
    stale = (set(LONG_MODULES) | LONG_FUNCTIONS) - {o.where for o in sizes}
    stale |= INNER_IMPORTS - {o.where for o in imports}
    assert stale == set(), "no longer offending: remove from the allow-lists in this file"


def test_the_command_line_reaches_no_heavy_module(light_modules):
    """The modules whose inner imports are allowed really are the light ones (torch: tests/cli/test_cli.py)."""
    heavy = {"dnnconf.run", "dnnconf.train.loop", "dnnconf.nn.build", "dnnconf.config.schema", "dnnconf.plots"}
    assert light_modules & heavy == set()


# ------------------------------------------------------------------ the checks themselves can fail


def _function(name: str, body_lines: int, docstring: str = "") -> str:
    doc = f'    """{docstring}"""\n' if docstring else ""
    return f"def {name}():\n{doc}" + "    x = 1\n" * body_lines


def test_a_long_module_is_caught():
    assert size_offences("m.py", "x = 1\n" * 400) == []
    assert [o.where for o in size_offences("m.py", "x = 1\n" * 401)] == ["m.py"]


def test_a_long_function_is_caught_unless_its_docstring_says_why():
    assert size_offences("m.py", _function("short", 59)) == []
    assert [o.where for o in size_offences("m.py", _function("long", 60))] == ["m.py:long"]
    assert size_offences("m.py", _function("table", 60, "Long: one case a line, read top to bottom.")) == []


def test_an_import_inside_a_function_is_caught_unless_optional_or_lazy():
    inner = "def f():\n    import torch\n    from dnnconf.config import load_config\n"
    assert [o.what for o in inner_import_offences("m.py", inner)] == [
        "line 2 imports torch inside a function", "line 3 imports dnnconf.config inside a function"]
    assert inner_import_offences("m.py", "def f():\n    import optuna\n    from onnx import helper\n") == []
    assert inner_import_offences("m.py", "def f():\n    import torch  # lazy: before OMP is set\n") == []
    assert len(inner_import_offences("m.py", "def f():\n    import torch  # lazy:\n")) == 1  # a reason is needed
    assert inner_import_offences("m.py", "import torch\n\n\ndef f():\n    return torch\n") == []
