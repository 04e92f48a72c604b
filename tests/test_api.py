import subprocess
import sys

import dnnconf


def test_the_python_api_names_resolve():
    for name in ("load_config", "config_from_dict", "dump_config", "Config", "train", "load_run", "evaluate_run",
                 "lr_find", "diagnose", "check_config"):
        assert callable(getattr(dnnconf, name)), name


def test_importing_dnnconf_does_not_import_torch():
    code = "import sys, dnnconf; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
