"""Every file dnnconf writes goes through `dnnconf.safe_write` (whole or not at all, never through a planted
link, one line on a full disk): no module writes a file by any other call."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "dnnconf"
# The writer itself, and the dataset download, which writes through its own exclusive temporary and
# verifies a checksum before the rename (data/fashion_mnist.py).
ALLOWED = {"safe_write.py", "data/fashion_mnist.py"}
WRITING_METHODS = {"write_text", "write_bytes", "savefig", "save_file", "to_csv"}
SHUTIL_COPIES = {"copy", "copy2", "copyfile", "copytree", "move"}


def writes_in(source: str, name: str) -> list[str]:
    """Calls in `source` that put bytes in a file by themselves: Path.write_text/write_bytes, savefig,
    save_file, torch.save/np.save to anything but an in-memory `buffer`, shutil copies, open(…, "w"/"a"/"x")."""
    found = []
    for node in ast.walk(ast.parse(source, name)):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        call = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
        value = function.value if isinstance(function, ast.Attribute) else None
        owner = value.id if isinstance(value, ast.Name) else ""
        into_buffer = any(isinstance(arg, ast.Name) and arg.id == "buffer" for arg in node.args)
        where = f"{name}:{node.lineno}"
        if call in WRITING_METHODS and not (call == "to_csv" and not node.args) and not into_buffer:
            found.append(f"{where} {call}()")
        elif owner == "shutil" and call in SHUTIL_COPIES:
            found.append(f"{where} shutil.{call}()")
        elif owner in ("torch", "np", "numpy") and call in ("save", "savez", "savez_compressed") and not into_buffer:
            found.append(f"{where} {owner}.{call}()")
        elif call == "open" and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) \
                and any(mode in str(node.args[1].value) for mode in "wax"):
            found.append(f"{where} open(..., {node.args[1].value!r})")
    return found


def test_every_write_goes_through_safe_write() -> None:
    offenders = [hit for path in sorted(SOURCE.rglob("*.py")) if str(path.relative_to(SOURCE)) not in ALLOWED
                 for hit in writes_in(path.read_text(), str(path.relative_to(SOURCE)))]
    assert offenders == [], "write through dnnconf.safe_write instead:\n" + "\n".join(offenders)


@pytest.mark.parametrize("line", ['Path(p).write_text("x")', "figure.savefig(path)", "shutil.copyfile(a, b)",
                                  "torch.save(state, path)", 'open(path, "w")', "save_file(tensors, str(path))"])
def test_the_scan_sees_a_direct_write(line: str) -> None:
    assert writes_in(f"def f():\n    {line}\n", "probe.py"), line


@pytest.mark.parametrize("line", ["torch.save(state, buffer)", "state.copy()", "frame.to_csv()",
                                  'open(path, "rb")', "write_atomic(path, text)"])
def test_the_scan_leaves_reads_and_memory_alone(line: str) -> None:
    assert writes_in(f"def f():\n    {line}\n", "probe.py") == [], line
