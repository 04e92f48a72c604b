import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def dnnconf(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "dnnconf", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=300)


def one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: cli\ndata: {dataset: digits, valid_size: 0.15}\nmodel: {hidden: [16]}\n"
                    "schedule: {name: constant}\ntraining: {epochs: 2}\n")
    return path


def test_help_lists_the_commands():
    result = dnnconf("--help")
    assert result.returncode == 0
    for command in ("train", "evaluate", "list"):
        assert command in result.stdout


def test_help_does_not_import_torch():
    # `dnnconf --help` answers at once: building the parser must not import torch (a second and more)
    code = ("import runpy, sys\nsys.argv = ['dnnconf', '--help']\ntry:\n    runpy.run_module('dnnconf', "
            "run_name='__main__')\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules, file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "train" in result.stdout
    assert result.stderr.strip().splitlines()[-1] == "False"


def test_list_shows_every_family():
    result = dnnconf("list")
    assert result.returncode == 0
    for name in ("he_normal", "glorot_uniform", "lecun_normal", "random_normal", "relu", "tanh", "sigmoid",
                 "softmax", "sgd", "adam", "constant", "performance", "dense", "batch_norm"):
        assert name in result.stdout
    assert dnnconf("list", "optimizers").stdout.splitlines()[0] == "optimizers:"


def test_list_names_the_notes_optimizers_regularizers_and_constraints():
    result = dnnconf("list")
    for family, name in (("optimizers", "momentum"), ("optimizers", "nesterov"), ("regularizers", "l1"),
                         ("regularizers", "l2"), ("regularizers", "l1_l2"), ("constraints", "max_norm")):
        lines = dnnconf("list", family).stdout.splitlines()
        assert lines[0] == f"{family}:" and any(line.split()[0] == name for line in lines[1:]), (family, name)
        assert f"{family}:" in result.stdout


def test_version():
    from dnnconf import __version__

    result = dnnconf("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"dnnconf {__version__}"


def test_train_then_evaluate(tmp_path, config):
    result = dnnconf("train", config, "--out", tmp_path / "run", "--set", "model.hidden=[20]")
    assert result.returncode == 0, result.stderr
    assert f"run folder: {tmp_path / 'run'}" in result.stdout and "test: loss" in result.stdout
    assert "dense_1" in result.stdout  # the model summary
    assert "hidden: [20]" in (tmp_path / "run" / "config.yaml").read_text()
    result = dnnconf("evaluate", tmp_path / "run")
    assert result.returncode == 0 and result.stdout.startswith("test: loss")


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["train", "missing.yaml"], ["missing.yaml", "no such config file"]),
        (["train", "{config}", "--set", "model.hiden=[3]"], ["model.hiden", "did you mean 'hidden'"]),
        (["train", "{config}", "--set", "optimizer.learning_rate=-0.1"], ["optimizer.learning_rate", "-0.1"]),
        (["train", "{config}", "--set", "model.activation=rleu"], ["'rleu'", "did you mean 'relu'"]),
        (["train", "{config}", "--set", "oops"], ["expected KEY=VALUE"]),
        (["train", "{config}", "--set", "data.dataset=npz", "--set", "data.path=/nope.npz"], ["/nope.npz"]),
        (["train", "{config}", "--bogus"], ["unrecognized arguments: --bogus"]),
        (["evaluate", "/no/such/run"], ["/no/such/run", "no such run folder"]),
        (["evaluate", "{tmp}"], ["not a run folder"]),
        (["list", "widgets"], ["invalid choice: 'widgets'"]),
        ([], ["required"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, config, args, fragments):
    args = [a.format(config=config, tmp=tmp_path) for a in args]
    one_line_error(dnnconf(*args), *fragments)


def test_out_folder_that_holds_files_is_kept(tmp_path, config):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    one_line_error(dnnconf("train", config, "--out", out), "already holds files", "--force")
    assert (out / "precious.txt").read_text() == "keep me"


def test_diverged_run_exits_1_with_remedies(tmp_path, config):
    result = dnnconf("train", config, "--out", tmp_path / "run", "--quiet", "--set", "optimizer.learning_rate=1e30")
    assert result.returncode == 1
    assert "diverged" in result.stderr and "lower the learning rate" in result.stderr
    assert "Traceback" not in result.stderr
