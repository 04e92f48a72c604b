"""`dnnconf study schedules --quick`: every run's row, the summary and the plots."""


def test_quick_schedules_study(run_quick, check_outputs):
    code, out, rows = run_quick("schedules")
    assert code == 0
    check_outputs(out, rows, "schedules", ['schedule', 'max_lr'], variants=5)
    import json

    found = json.loads((out / "lr-find.json").read_text())
    assert found["rule"] == "note" and found["max_lr"] == found["suggestions"]["note"]  # 1cycle: the note's rule
    lrfind = [r for r in rows if r["variant"] == "one_cycle_lrfind"]
    assert lrfind[0]["max_lr"].endswith("(lr-find)") and {r["epochs_run"] for r in lrfind} == {"5"}  # 2.5 × 2
    assert "left out for this dataset" in (out / "summary.md").read_text()  # published numbers are Fashion-MNIST's
