"""`dnnconf study regularization --quick`: every run's row, the summary and the plots."""



def test_quick_regularization_study(run_quick, check_outputs):
    code, out, rows = run_quick("regularization")
    assert code == 0
    check_outputs(out, rows, "regularization", ['regularization', 'early_stopping'], variants=3)
    assert {(r["regularization"], r["early_stopping"]) for r in rows} == {("none", "no"), ("dropout", "yes"),
                                                                         ("max_norm", "yes")}
