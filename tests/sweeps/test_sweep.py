import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

optuna = pytest.importorskip("optuna")

from dnnconf.cli import main as dnnconf_main  # noqa: E402
from dnnconf.config import load_config  # noqa: E402
from dnnconf.errors import ConfigError  # noqa: E402
from dnnconf.sweeps.search import (  # noqa: E402
    Objective,
    Param,
    ReportToTrial,
    SweepOptions,
    best_of,
    parse_param,
    read_space,
    split_trials,
    yaml_text,
)


def main(argv: list[str]) -> int:
    return dnnconf_main(["sweep", *argv])

BASE = {
    "name": "digits-sweep",
    "data": {"dataset": "digits", "valid_size": 0.15},
    "model": {"hidden": [32, 16]},
    "schedule": {"name": "constant"},
    "training": {"epochs": 2, "batch_size": 32},
}


def write(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


@pytest.fixture
def config_file(tmp_path):
    return write(tmp_path / "base.yaml", BASE)


# ------------------------------------------------------------------------------------------ space


def test_space_types_and_overrides_round_trip():
    lr = parse_param("s.yaml", "optimizer.learning_rate", {"type": "float", "low": "1e-4", "high": 0.1, "log": True})
    assert (lr.low, lr.high, lr.log) == (1e-4, 0.1, True)
    batch = parse_param("s.yaml", "training.batch_size", {"type": "int", "low": 16, "high": 100, "step": 16})
    assert batch.samples() == [16, 96]  # the grid's highest point, not `high`
    hidden = parse_param("s.yaml", "model.hidden", {"type": "categorical", "choices": [[300, 100], [64]]})
    assert hidden.encoded and hidden.distribution().choices == ("[300, 100]", "[64]")
    assert hidden.override("[300, 100]") == "model.hidden=[300, 100]"
    for value in (1e-5, 0.1, "relu", "yes", None, True, 3):
        assert yaml.safe_load(yaml_text(value)) == value
    config = load_config(None, [lr.override(3.5e-4), hidden.override("[64]"), "model.activation=elu"])
    assert config.optimizer.learning_rate == pytest.approx(3.5e-4) and config.model.hidden == [64]


@pytest.mark.parametrize("entry, needle", [
    ({"type": "uniform", "low": 0, "high": 1}, "unknown type 'uniform'"),
    ({"low": 0, "high": 1}, "`type` is missing"),
    ({"type": "float", "low": 0.1, "high": 0.1}, "low must be below high"),
    ({"type": "int", "low": 64, "high": 16}, "low must be below high"),
    ({"type": "categorical"}, "needs `choices`"),
    ({"type": "categorical", "choices": []}, "non-empty list"),
    ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, "log range needs low > 0"),
    ({"type": "float", "high": 1.0}, "`low` is missing"),
    ({"type": "float", "low": 1e-3, "high": 1.0, "lo": 2}, "unknown field 'lo'"),
    ({"type": "int", "low": 1.5, "high": 4}, "expected an integer"),
    ({"type": "float", "low": 1e-3, "high": 1.0, "log": True, "step": 0.1}, "cannot be combined"),
])
def test_space_errors_exit_2_with_one_line_naming_the_key(tmp_path, config_file, capsys, entry, needle):
    space = write(tmp_path / "space.yaml", {"optimizer.learning_rate": entry})
    code = main([str(config_file), "--space", str(space), "--trials", "1", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "optimizer.learning_rate" in err and needle in err, err
    assert not (tmp_path / "out" / "trial-0000").exists()


@pytest.mark.parametrize("key, entry, needle", [
    ("model.activaton", {"type": "categorical", "choices": ["relu", "elu"]}, "unknown key"),
    ("optimizer.learning_rate", {"type": "float", "low": -1.0, "high": 0.1}, "does not fit the config"),
    ("model.activation", {"type": "categorical", "choices": ["relu", "relux"]}, "relux"),
    ("training.nope.deep", {"type": "int", "low": 1, "high": 3}, "unknown key"),
])
def test_key_paths_are_checked_against_the_config_up_front(tmp_path, config_file, capsys, key, entry, needle):
    space = write(tmp_path / "space.yaml", {key: entry})
    code = main([str(config_file), "--space", str(space), "--trials", "1", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert key in err and needle in err, err


def test_bad_space_files_and_options(tmp_path, config_file, capsys):
    good = write(tmp_path / "good.yaml", {"model.activation": {"type": "categorical", "choices": ["relu", "elu"]}})
    cases = [
        ([str(tmp_path / "missing.yaml")], "no such file"),
        ([str(write(tmp_path / "list.yaml", "- a\n- b\n"))], "expected a mapping"),
        ([str(write(tmp_path / "broken.yaml", "a: [1,\n"))], "malformed YAML"),
        ([str(good), "--metric", "val_acuracy"], "val_accuracy"),
        ([str(good), "--pruner", "threshold"], "--threshold"),
        ([str(good), "--trials", "0"], "--trials 0"),
    ]
    for extra, needle in cases:
        argv = [str(config_file), "--space", *extra[:1], "--out", str(tmp_path / "out"), *extra[1:]]
        if "--trials" not in argv:
            argv += ["--trials", "1"]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and needle in err, (extra, err)
    with pytest.raises(ConfigError, match="x.y"):
        parse_param("s.yaml", "x.y", "not a mapping")
    assert read_space(good)[0] == Param("model.activation", "categorical", choices=["relu", "elu"])


def test_invalid_combinations_fail_with_a_note_and_no_complete_trial_exits_1(tmp_path, config_file, capsys):
    # each key fits the base config alone (checked up front); together they do not: Adam has no nesterov
    space = write(tmp_path / "space.yaml", {"optimizer.name": {"type": "categorical", "choices": ["adam"]},
                                            "optimizer.nesterov": {"type": "categorical", "choices": [True]}})
    assert main([str(config_file), "--space", str(space), "--trials", "2", "--out", str(tmp_path / "out")]) == 1
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("trial ")]
    assert len(lines) == 2 and all(" fail " in line and "invalid combination" in line for line in lines)
    assert "no trial of the study digits-sweep completed" in out
    assert (tmp_path / "out" / "trials.csv").is_file() and not (tmp_path / "out" / "best.yaml").exists()


def test_helpers():
    assert split_trials(5, 2) == [3, 2] and split_trials(2, 4) == [1, 1]
    history = [{"epoch": 1, "val_loss": 0.5, "val_accuracy": 0.8}, {"epoch": 2, "val_loss": 0.4, "val_accuracy": 0.7}]
    assert best_of(history, "val_loss", "minimize") == (0.4, 2)
    assert best_of(history, "val_accuracy", "maximize") == (0.8, 1)


# ------------------------------------------------------------------------------------------ trials


class FakeTrial:
    def __init__(self, prune_at):
        self.reports, self.prune_at = [], prune_at

    def report(self, value, step):
        self.reports.append((step, value))

    def should_prune(self):
        return len(self.reports) >= self.prune_at


class FakeState:
    epoch, stop, stop_reason = 0, False, ""


class FakeLoop:
    state, epochs = FakeState(), 3


def test_report_listener_reports_each_epoch_and_stops_when_pruned():
    trial, loop = FakeTrial(prune_at=2), FakeLoop()
    listener = ReportToTrial(trial, "val_loss", "median")
    for epoch in (1, 2):
        loop.state.epoch = epoch
        listener.on_epoch_end(loop, {"loss": 1.0, "val_loss": 1.0 / epoch, "epoch": epoch})
    assert trial.reports == [(0, 1.0), (1, 0.5)]  # Optuna's steps start at 0
    assert loop.state.stop and listener.pruned_at == 2 and "pruned" in loop.state.stop_reason
    loop.state.stop, loop.state.epoch = False, 3
    listener.on_epoch_end(loop, {"val_loss": 0.3, "epoch": 3})  # the last epoch: reported, never pruned
    assert trial.reports[-1] == (2, 0.3) and not loop.state.stop


def test_a_diverged_trial_is_recorded_as_pruned_with_a_note(tmp_path, config_file):
    space = write(tmp_path / "space.yaml", {"optimizer.learning_rate": {"type": "categorical", "choices": [1.0e30]}})
    options = SweepOptions(config=str(config_file), space=str(space), trials=1, out=tmp_path / "out")
    study = optuna.create_study()
    study.optimize(Objective(options, read_space(space)), n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert trial.user_attrs["note"].startswith("training diverged")
    assert (tmp_path / "out" / "trial-0000" / "report.md").is_file()


# ------------------------------------------------------------------------------------------ shared study


def test_two_sweep_commands_share_one_study_and_best_yaml_trains(tmp_path, config_file, capfd):
    """Two `dnnconf sweep` commands on one SQLite storage and study name, at the same time: one in a process of
    its own, one here with --jobs 2 (a second, spawned worker). The trials add up, a learning rate too small
    to learn is pruned by the threshold on val_loss (exactly those trials), and best.yaml trains."""
    space = write(tmp_path / "space.yaml", {"optimizer.learning_rate": {"type": "categorical",
                                                                        "choices": [1.0e-7, 0.05]}})
    out = tmp_path / "sweep"
    storage = f"sqlite:///{out / 'shared.db'}"
    out.mkdir()

    def arguments(trials, jobs, seed):  # TPE starts with seeded random draws: seeds 0, 1: 0.05; 2: 1e-7
        return [str(config_file), "--space", str(space), "--trials", str(trials), "--jobs", str(jobs), "--seed",
                str(seed), "--out", str(out), "--storage", storage, "--study-name", "shared",
                "--pruner", "threshold", "--threshold", "1.5"]

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    other = subprocess.Popen([sys.executable, "-m", "dnnconf", "sweep", *arguments(2, 1, 2)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert main(arguments(2, 2, 0)) == 0  # workers with seeds 0 and 1
    finally:
        stdout, stderr = other.communicate(timeout=120)
    assert other.returncode == 0, stdout + stderr
    here = capfd.readouterr().out  # the spawned worker prints to the same file descriptor

    study = optuna.load_study(study_name="shared", storage=storage)
    trials = study.get_trials()
    assert len(trials) == 2 + 2
    assert len({t.user_attrs["worker"] for t in trials}) == 3  # two workers here, one in the other command
    for t in trials:  # pruned exactly when the rate is too small to learn
        pruned = t.state == optuna.trial.TrialState.PRUNED
        assert pruned == (t.params["optimizer.learning_rate"] == 1.0e-7), (t.number, t.params, t.state)
        assert (out / f"trial-{t.number:04d}" / "history.csv").is_file()
    assert {t.state.name for t in trials} == {"PRUNED", "COMPLETE"}
    finished = [line for line in (here + stdout).splitlines() if line.startswith("trial ")]
    assert len(finished) == 4 and any("pruned" in line for line in finished)

    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert len(rows) >= 2 and {"number", "value", "state", "params_optimizer.learning_rate"} <= set(rows[0])
    assert (out / "plots" / "optimization_history.png").is_file()

    best = load_config(out / "best.yaml", ["training.epochs=1"])
    assert best.optimizer.learning_rate == 0.05
    from dnnconf.run import train

    result = train(best, tmp_path / "again", quiet=True)
    assert len(result.state.history) == 1


def test_summary_without_pandas_and_with_too_few_trials_for_importances(tmp_path):
    from dnnconf.sweeps.search import best_table, trials_rows, write_plots

    study = optuna.create_study()
    study.optimize(lambda t: t.suggest_float("optimizer.learning_rate", 1e-3, 1e-1, log=True), n_trials=1)
    header, rows = trials_rows(study)
    assert header[:2] == ["number", "value"] and "params_optimizer.learning_rate" in header
    assert rows[0][-1] == "COMPLETE"
    assert best_table(study, "val_loss")[0].split() == ["trial", "val_loss", "epoch", "learning_rate"]
    written, notes = write_plots(study, tmp_path / "plots", "val_loss")
    assert "optimization_history.png" in [p.name for p in written]
    assert any(note.startswith("param_importances.png skipped: needs 2 complete trials") for note in notes)


def test_the_example_space_fits_the_fashion_mnist_example():
    from dnnconf.sweeps.search import check_space

    root = Path(__file__).resolve().parents[2] / "examples"
    space = root / "sweep" / "space.yaml"
    params = read_space(space)
    assert {p.key for p in params} >= {"optimizer.learning_rate", "training.batch_size", "model.activation"}
    check_space(root / "fashion_mnist_default.yaml", [], params, space)  # every key path and extreme value loads
