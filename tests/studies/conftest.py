"""What every study's --quick run must leave behind: the checks CI runs on each study's own outputs."""

import csv
import math
from pathlib import Path

import pytest

RUN_COLUMNS = ["seed", "epochs_run", "final_val_accuracy", "best_val_accuracy", "final_val_loss", "test_accuracy",
               "epochs_to_target", "diverged", "seconds_per_epoch", "stop_reason", "folder"]
NUMBERS = ["final_val_accuracy", "best_val_accuracy", "test_accuracy", "seconds_per_epoch"]


@pytest.fixture
def run_quick(tmp_path):
    """`dnnconf study NAME --quick …` in this process; returns (exit code, study folder, rows of results.csv)."""
    from dnnconf.cli import main

    def run(name: str, *extra: str) -> tuple[int, Path, list[dict[str, str]]]:
        out = tmp_path / name
        code = main(["study", name, "--quick", "--out", str(out), *extra])
        rows = []
        if (out / "results.csv").is_file():
            with (out / "results.csv").open() as handle:
                rows = list(csv.DictReader(handle))
        return code, out, rows

    return run


@pytest.fixture
def check_outputs():
    """The checks of a study folder, as a function: check_outputs(out, rows, study, labels, variants, seeds=2)."""
    return _check_outputs


def _check_outputs(out: Path, rows: list[dict[str, str]], study: str, labels: list[str], variants: int,
                  seeds: int = 2, measured: tuple[str, ...] = ()) -> None:
    """Columns (`measured`: a study's `RunMeasure` columns, last), one row a run, no NaN, numbers in range,
    distinct seeds per variant, summary and plots."""
    header = (out / "results.csv").read_text().splitlines()[0].split(",")
    assert header == ["study", "variant", *labels, *RUN_COLUMNS, *measured]
    assert len(rows) == variants * seeds
    assert all(cell.lower() not in ("nan", "inf", "-inf") for row in rows for cell in row.values())
    for row in rows:
        assert row["study"] == study
        for column in NUMBERS if row["diverged"] == "0" else ():  # a run diverged in epoch 1 has no accuracy
            assert math.isfinite(float(row[column])), (row["variant"], column)
        assert 0 <= float(row["final_val_accuracy"]) <= 1 and row["diverged"] in ("0", "1")
        assert int(row["epochs_run"]) >= 1
        assert (Path(row["folder"]) / "history.csv").is_file() and (Path(row["folder"]) / "study-row.json").is_file()
    by_variant: dict[str, list[str]] = {}
    for row in rows:
        by_variant.setdefault(row["variant"], []).append(row["seed"])
    assert len(by_variant) == variants
    assert all(sorted(seeds_) == [str(s) for s in range(seeds)] for seeds_ in by_variant.values())
    summary = (out / "summary.md").read_text()
    assert summary.startswith("# ") and "| n | diverged | final val acc |" in summary
    for row in rows:  # one table line a variant, starting with its labels
        assert "| " + " | ".join(row[label] for label in labels) + " | " in summary, row["variant"]
    for png in ("curves.png", "bars.png"):
        assert (out / png).stat().st_size > 2000
