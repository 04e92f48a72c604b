"""`dnnconf study batch-norm --quick`: every run's row, the summary and the plots."""



def test_quick_batch_norm_study(run_quick, check_outputs):
    code, out, rows = run_quick("batch-norm")
    assert code == 0
    check_outputs(out, rows, "batch-norm", ['batch_norm', 'depth'], variants=4)
