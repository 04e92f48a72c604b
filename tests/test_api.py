import subprocess
import sys


def test_the_python_api_names_resolve():
    import dnnconf.train.loop  # noqa: F401 - the subpackage `dnnconf.train` must not hide the API

    for name in ("load_config", "config_from_dict", "dump_config", "Config", "fit", "load_run", "evaluate_run",
                 "lr_find", "diagnose", "check_config", "pretrained_network"):
        assert callable(getattr(dnnconf, name)), name
    from dnnconf.run import train

    assert dnnconf.fit is train


def test_importing_dnnconf_does_not_import_torch():
    code = "import sys, dnnconf; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
