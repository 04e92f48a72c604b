"""`dnnconf study init --quick`: its outputs, the speed-up table, epochs to target."""

import pytest

from dnnconf.studies.framework import epochs_to_target


def test_quick_init_study(run_quick, check_outputs):
    code, out, rows = run_quick("init")
    assert code == 0
    check_outputs(out, rows, "init", ["initializer", "activation", "depth", "matching"], variants=6)
    summary = (out / "summary.md").read_text()
    assert "## Speed-up over random initialization" in summary and "| relu | deep |" in summary
    assert {r["matching"] for r in rows if r["initializer"] == "he_normal"} == {"yes"}
    reached = [float(r["epochs_to_target"]) for r in rows if r["epochs_to_target"]]
    assert all(0 < value <= 2 for value in reached)


def test_epochs_to_target_interpolates_between_epochs():
    assert epochs_to_target([0.5, 0.7, 0.9], target=0.8, chance=0.1) == pytest.approx(2.5)
    assert epochs_to_target([0.9], target=0.5, chance=0.1) == pytest.approx(0.5)  # from chance at epoch 0
    assert epochs_to_target([0.5, float("nan"), 0.9], target=0.7, chance=0.1) == pytest.approx(2.5)
    assert epochs_to_target([0.5, 0.6], target=0.7, chance=0.1) is None
