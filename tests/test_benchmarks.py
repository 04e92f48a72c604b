"""The benchmarks' quick modes run (speed itself is measured by the benchmarks, never asserted here)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
pytestmark = pytest.mark.skipif(not FASHION.is_file(),
                                reason="no Fashion-MNIST (apt-get install dataset-fashion-mnist)")


def quick_mode(script: str, *options: str, timeout: int = 600) -> list[str]:
    """The lines a benchmark's --quick mode prints, after checking that it ran."""
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick", *options],
                            capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.splitlines()


def test_epoch_speed_quick_mode_measures_every_implementation():
    table = quick_mode("epoch_speed.py")
    for name in ("dnnconf", "keras", "dataloader", "handwritten", "handwritten-tuned", "floor"):
        assert_measured(table, name)


def assert_measured(table: list[str], name: str) -> None:
    """`name`'s row (SGD, batch 32) has seconds per epoch and no error."""
    row = next(line for line in table if re.match(rf"{re.escape(name)}( \(\w+\))?\s+sgd\s+32\s", line))
    cells = row.split("sgd", 1)[1].split()
    assert "error" not in row and cells[1] != "nan", row
    if name != "floor":  # every implementation learns from the same scaled inputs (10 classes: chance is 0.1)
        assert float(cells[3]) > 0.3, row


def burners_running() -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"epoch_speed --busy" in cmdline.read_bytes():
                found.append(cmdline.parent.name)
        except OSError:
            pass  # the process ended while we looked
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="looks for the burners in /proc")
def test_epoch_speed_busy_quick_mode_runs_burners_and_stops_them():
    table = quick_mode("epoch_speed.py", "--busy", "1", "--only", "dnnconf", "handwritten-tuned", "dnnconf-bf16",
                       "handwritten-bf16")
    assert any("1 CPU-burning process(es) beside each measurement" in line for line in table)
    for name in ("dnnconf", "handwritten-tuned", "dnnconf-bf16", "handwritten-bf16"):
        assert_measured(table, name)
    assert burners_running() == []


def test_parallel_seeds_quick_mode_measures_one_batched_and_sequential():
    table = quick_mode("parallel_seeds.py", timeout=900)
    for label in ("| one run |", "| 8 seeds batched |", "| 8 seeds one by one |", "| matmul floor, 1 network |",
                  "| matmul floor, 8 networks |"):
        row = next(line for line in table if line.startswith(label))
        assert "error" not in row and "nan" not in row, row
    assert any(line.startswith("one step of 8 stacked MLPs") and "error" not in line for line in table)


def test_startup_quick_mode_times_help_and_the_first_step():
    rows = {line.split("|")[1].strip(): line for line in quick_mode("startup.py") if line.startswith("| ")}
    for name in ("help", "first step, cold cache", "first step, warm cache"):
        seconds = float(rows[name].split("|")[2])
        assert seconds > 0, rows[name]
