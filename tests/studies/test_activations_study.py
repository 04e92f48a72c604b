"""`dnnconf study activations --quick`: every run's row, the summary and the plots."""



def test_quick_activations_study(run_quick, check_outputs):
    code, out, rows = run_quick("activations")
    assert code == 0
    check_outputs(out, rows, "activations", ['activation', 'initializer'], variants=3)
