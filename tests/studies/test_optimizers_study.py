"""`dnnconf study optimizers --quick`: every run's row, the summary and the plots."""



def test_quick_optimizers_study(run_quick, check_outputs):
    code, out, rows = run_quick("optimizers")
    assert code == 0
    check_outputs(out, rows, "optimizers", ['optimizer'], variants=3)
    assert [r["optimizer"] for r in rows[::2]] == ["sgd", "momentum", "adam"]
