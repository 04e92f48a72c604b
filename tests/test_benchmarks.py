"""The benchmarks' quick modes run (speed itself is measured by the benchmarks, never asserted here)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
pytestmark = pytest.mark.skipif(not FASHION.is_file(),
                                reason="no Fashion-MNIST (apt-get install dataset-fashion-mnist)")


def quick_mode(script: str, timeout: int = 600) -> list[str]:
    """The lines a benchmark's --quick mode prints, after checking that it ran."""
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
                            capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.splitlines()


def test_epoch_speed_quick_mode_measures_every_implementation():
    table = quick_mode("epoch_speed.py")
    for name in ("dnnconf", "keras", "dataloader", "handwritten", "floor"):
        row = next(line for line in table if line.startswith(name))
        assert "error" not in row and "nan" not in row.split()[3], row


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
