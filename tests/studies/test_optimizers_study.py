"""`dnnconf study optimizers --quick`: every run's row, the summary and the plots."""



def test_quick_optimizers_study(run_quick, check_outputs):
    code, out, rows = run_quick("optimizers")
    assert code == 0
    check_outputs(out, rows, "optimizers", ['optimizer'], variants=3)
    assert [(r["optimizer"], r["seed"]) for r in rows[:4]] == [("sgd", "0"), ("momentum", "0"), ("adam", "0"),
                                                                ("sgd", "1")]  # seed-major: load drift spreads
