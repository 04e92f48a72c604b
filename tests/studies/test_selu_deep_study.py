"""`dnnconf study selu-deep --quick`: every run's row, the summary and the plots."""

import yaml


def test_quick_selu_deep_study(run_quick, check_outputs):
    code, out, rows = run_quick("selu-deep")
    assert code == 0
    check_outputs(out, rows, "selu-deep", ['activation', 'initializer'], variants=2)
    config = yaml.safe_load((out / "selu-lecun_normal" / "seed-0" / "config.yaml").read_text())
    assert config["model"]["hidden"] == [100] * 100 and config["model"]["activation"]["name"] == "selu"
    assert config["model"]["kernel_initializer"]["name"] == "lecun_normal"


def test_selu_deep_refuses_a_depth_below_one(run_quick, capsys):
    code, _, _ = run_quick("selu-deep", "--depth", "0")
    assert code == 2 and "--depth: 0 must be at least 1" in capsys.readouterr().err
