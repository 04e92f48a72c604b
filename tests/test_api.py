"""The Python API (`dnnconf.api`, `dnnconf.results`): every command as a function taking a path, a run
folder, a mapping or a Config; results with their figures as attributes and an HTML view.

The tests that need `dnnconf.model` (the Model behind load/predict/evaluate) skip when it is absent.
"""

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest

import dnnconf
from dnnconf.errors import BadInput, ConfigError, DnnconfError, RunFolderError

TINY = {"name": "api", "seed": 3, "data": {"dataset": "digits", "valid_size": 0.15, "test_size": 0.2},
        "model": {"hidden": [16]}, "schedule": {"name": "constant"}, "training": {"epochs": 2}}
API = ("fit", "load", "evaluate", "predict", "lr_find", "diagnose", "check", "recommend", "export", "sweep", "study",
       "load_config", "config_from_dict", "dump_config", "Config", "load_run", "evaluate_run", "check_config",
       "pretrained_network")


def test_the_python_api_names_resolve():
    import dnnconf.train.loop  # noqa: F401 - the subpackage `dnnconf.train` must not hide the API

    for name in API:
        assert callable(getattr(dnnconf, name)), name
        assert name in dir(dnnconf)
    for name in API[:11]:
        assert getattr(dnnconf, name).__doc__, name
    with pytest.raises(AttributeError):
        dnnconf.no_such_function  # noqa: B018


def test_importing_dnnconf_does_not_import_torch():
    code = "import sys, dnnconf, dnnconf.api; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api") / "run"
    return dnnconf.fit(TINY, folder, quiet=True)


# ------------------------------------------------------------------------------------------- configs


def test_a_config_is_a_path_a_run_folder_a_mapping_or_a_config(tmp_path, run):
    from dnnconf.api import as_config

    path = tmp_path / "c.yaml"
    path.write_text(dnnconf.dump_config(dnnconf.config_from_dict(TINY)))
    raw = {"name": "api", "model": {"hidden": [16]}}
    forms = [str(path), path, str(run.folder), TINY, dnnconf.config_from_dict(TINY)]
    for form in forms:
        config = as_config(form, ["training.epochs=7"])
        assert config.training.epochs == 7 and config.model.hidden == [16], form
    as_config(raw, ["model.hidden=[8]"])
    assert raw == {"name": "api", "model": {"hidden": [16]}}  # the caller's mapping is not changed
    assert as_config(TINY, "training.epochs=4").training.epochs == 4  # one assignment as a string


@pytest.mark.parametrize("value, error, message", [
    (3, ConfigError, "config: expected a YAML path, a run folder, a mapping or a Config (received int)"),
    ("no/such.yaml", ConfigError, "no/such.yaml: no such config file"),
    ({"modle": {}}, ConfigError, "modle"),
])
def test_bad_configs_raise_the_commands_one_line_errors(value, error, message):
    with pytest.raises(error, match=re.escape(message)) as caught:
        dnnconf.check(value)
    assert "\n" not in str(caught.value)


# ------------------------------------------------------------------------------------------------ fit


def test_fit_returns_the_history_as_columns_and_prints_nothing_when_quiet(tmp_path, capfd):
    result = dnnconf.fit(TINY, str(tmp_path / "quiet"), overrides=["training.epochs=3"], quiet=True)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert result.folder == tmp_path / "quiet" and result.epochs == 3 and result.stop_reason == ""
    with (tmp_path / "quiet" / "history.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert result.history.columns[0] == "epoch" and list(result.history) == list(rows[0])
    assert result.history.epochs == 3
    assert result.history["val_loss"] == pytest.approx([float(row["val_loss"]) for row in rows], rel=1e-5)
    assert result.history.best("val_accuracy")["val_accuracy"] == max(result.history["val_accuracy"])
    with pytest.raises(KeyError, match="'val_los': not a history column; columns: epoch, loss"):
        result.history["val_los"]  # noqa: B018
    assert set(result.test) == {"loss", "accuracy"}


def test_fit_prints_the_epochs_unless_quiet(tmp_path, capfd):
    dnnconf.fit(TINY, tmp_path / "loud", overrides=["training.epochs=1"], plots=False)
    assert "epoch 1/1" in capfd.readouterr().out


def test_a_fit_result_shows_itself_as_a_table_and_its_plot(run):
    page = run._repr_html_()
    assert "<table>" in page and "val_loss" in page and "data:image/png;base64," in page
    text = repr(run)
    assert "\n" not in text and len(text) < 200 and str(run.folder) in text


def test_fit_stops_on_the_checks_errors_before_writing_anything(tmp_path):
    selu_with_batch_norm = {**TINY, "model": {"hidden": [16], "activation": "selu", "kernel_initializer":
                                              "lecun_normal", "batch_norm": "before_activation"}}
    with pytest.raises(DnnconfError, match="the check found 1 error.*DNC110.*pass force=True"):
        dnnconf.fit(selu_with_batch_norm, tmp_path / "never", quiet=True)
    assert not (tmp_path / "never").exists()


# --------------------------------------------------------------------------------------- the tools


def test_lr_find_takes_a_mapping_and_writes_its_plot_on_request(tmp_path):
    found = dnnconf.lr_find(TINY, steps=40, out=tmp_path / "lr")
    assert found.suggestion == found.recommended_lr and found.suggestion in found.suggestions.values()
    assert len(found.lrs[0]) == len(found.losses[0]) > 10
    assert found.plot == tmp_path / "lr" / "lr_find.png" and found.plot.is_file()
    assert "data:image/png;base64," in found._repr_html_() and "\n" not in repr(found)


def test_diagnose_takes_a_config_a_run_folder_or_a_fit_result(run):
    from_config = dnnconf.diagnose(TINY)
    assert from_config.source == "config"
    for target in (str(run.folder), run.folder, run):
        report = dnnconf.diagnose(target)
        assert report.source == "run" and [row["name"] for row in report.rows] == [row.name for row in report.layers]
        assert report.verdict == "healthy" or "(" in report.verdict
    page = report._repr_html_()
    assert "<table>" in page and "update_ratio" in page
    with pytest.raises(ConfigError, match="is a run folder, probed as it was trained"):
        dnnconf.diagnose(run.folder, overrides=["model.hidden=[8]"])
    with pytest.raises(ConfigError, match="no such config file"):
        dnnconf.diagnose("no-such-run")


def test_check_returns_findings_with_severities(tmp_path):
    findings = dnnconf.check(TINY, overrides=["model.activation=selu", "model.batch_norm=before_activation"],
                             lang="en")
    assert findings.has_errors and [f.id for f in findings.errors] == ["DNC110"]
    assert "DNC110" in findings.text and "DNC110" in findings._repr_html_() and "DNC110" in repr(findings)
    assert not dnnconf.check(TINY).has_errors
    with pytest.raises(BadInput, match="lang .--lang.: 'fr'; accepted: en, zh"):
        dnnconf.check(TINY, lang="fr")


def test_recommend_gives_a_config_ready_to_fit_and_its_commented_yaml(tmp_path):
    recommended = dnnconf.recommend(deep=True, dataset="digits", hidden=[32, 32])
    assert recommended.config.model.hidden == [32, 32] and recommended.flags.endswith("--hidden 32,32")
    saved = recommended.save(tmp_path / "r.yaml")
    assert dnnconf.load_config(saved) == recommended.config and "#" in recommended.yaml
    assert recommended._repr_html_().startswith("<pre>")


@pytest.mark.parametrize("options, message", [
    ({"dep": True}, "recommend: unknown option 'dep' .did you mean 'deep'..; accepted: deep,"),
    ({"schedule": "cosine"}, "recommend: schedule='cosine'; accepted: performance, one_cycle"),
    ({"self_normalizing": True, "optimizer": "adamw"}, "--self-normalizing uses Nesterov"),
])
def test_recommend_refuses_what_the_command_refuses(options, message):
    with pytest.raises(BadInput, match=message):
        dnnconf.recommend(**options)


def test_export_writes_the_low_latency_model(run, tmp_path):
    exported = dnnconf.export(str(run.folder), tmp_path / "export", dtype="float16", latency=False)
    assert exported.folder == tmp_path / "export" and (tmp_path / "export" / "model.safetensors").is_file()
    assert [stage.name for stage in exported.stages][0] == "original" and exported.dtype == "float16"
    assert "<table>" in exported._repr_html_()
    with pytest.raises(BadInput, match="--dtype int4"):
        dnnconf.export(run, dtype="int4")


def test_mc_dropout_metrics_of_a_split(tmp_path):
    with_dropout = dnnconf.fit(TINY, tmp_path / "mc", overrides=["model.dropout={rate: 0.2}"], quiet=True,
                               plots=False)
    metrics = dnnconf.evaluate(str(with_dropout.folder), "test", mc_samples=3)
    assert metrics and (tmp_path / "mc" / "mc_metrics.json").is_file()
    with pytest.raises(BadInput, match=r"mc_samples \(--mc-samples\): must be a whole number >= 1"):
        dnnconf.evaluate(with_dropout, mc_samples=0)


def test_the_older_names_take_a_plain_string(run):
    config, network = dnnconf.load_run(str(run.folder))
    assert config.name == "api"
    assert dnnconf.evaluate_run(str(run.folder)) == pytest.approx(run.test)
    with pytest.raises(RunFolderError, match="no-such-run: no such run folder"):
        dnnconf.evaluate_run("no-such-run")
    with pytest.raises(RunFolderError, match="expected a run folder"):
        dnnconf.load_run(3)


def test_sweep_takes_a_mapping_for_the_config_and_the_space(tmp_path):
    space = {"optimizer.learning_rate": {"type": "float", "low": 0.01, "high": 0.1, "log": True}}
    result = dnnconf.sweep(TINY, space, 2, overrides=["training.epochs=1"], out=tmp_path / "sweep", seed=0,
                           quiet=True)
    assert len(result.trials) == 2 and result.best is not None and result.best_config.is_file()
    assert (tmp_path / "sweep" / "base.yaml").is_file() and (tmp_path / "sweep" / "space.yaml").is_file()
    assert "<table>" in result._repr_html_()


def test_study_takes_the_flags_as_keywords(tmp_path):
    summary = dnnconf.study("optimizers", quick=True, seeds=1, epochs=1, train_size=100, out=tmp_path / "s",
                            quiet=True)
    assert summary.rows and {row["variant"] for row in summary.rows} >= {"sgd"}
    assert "|" in summary.summary and summary.plots and "data:image/png;base64," in summary._repr_html_()
    with pytest.raises(BadInput, match="study 'optimisers': not one of the known studies .did you mean 'optimizers'"):
        dnnconf.study("optimisers")
    with pytest.raises(BadInput, match="study optimizers: unknown option 'sedes' .did you mean 'seeds'"):
        dnnconf.study("optimizers", sedes=2)


# --------------------------------------------------------------- the Model behind load/predict/evaluate


def test_load_predict_and_evaluate_go_through_the_model(run):
    pytest.importorskip("dnnconf.model")
    import numpy as np
    from sklearn.datasets import load_digits

    model = dnnconf.load(str(run.folder))
    x = load_digits().images[:7]  # raw pixels, 0..16
    expected = model.predict(x)
    assert np.array_equal(np.asarray(dnnconf.predict(run, x)), np.asarray(expected))
    assert dnnconf.evaluate(run.folder) == pytest.approx(model.evaluate("test"))
    assert dnnconf.evaluate(run)["accuracy"] == pytest.approx(run.test["accuracy"])
    with pytest.raises(BadInput, match=r"mc_samples \(--mc-samples\): must be a whole number >= 1"):
        dnnconf.predict(run, x, mc_samples=-1)


class FakeModel:
    """Records what the API asks of a Model (the real one is dnnconf.model's)."""

    def __init__(self, folder):
        self.folder, self.calls = folder, []

    def predict(self, x):
        self.calls.append(("predict", x))
        return "labels"

    def mc_predict(self, x, samples):
        self.calls.append(("mc_predict", x, samples))
        return "mc"

    def evaluate(self, data):
        self.calls.append(("evaluate", data))
        return {"accuracy": 1.0}


def test_the_model_functions_pass_a_plain_path_to_dnnconf_model(run, monkeypatch):
    import types

    loaded = []

    def load(folder, **options):
        loaded.append((folder, options))
        return FakeModel(folder)

    monkeypatch.setitem(sys.modules, "dnnconf.model", types.SimpleNamespace(load=load))
    assert dnnconf.load(str(run.folder), device="cpu").folder == run.folder and loaded[-1][1] == {"device": "cpu"}
    assert dnnconf.load(run).folder == run.folder
    assert dnnconf.predict(run, [[0.0]]) == "labels" and dnnconf.predict(run, [[0.0]], mc_samples=5) == "mc"
    assert dnnconf.evaluate(str(run.folder)) == {"accuracy": 1.0}
    assert dnnconf.evaluate(run, ([[0.0]], [0])) == {"accuracy": 1.0}
    with pytest.raises(BadInput, match="MC dropout metrics are measured on a split"):
        dnnconf.evaluate(run, ([[0.0]], [0]), mc_samples=3)
    with pytest.raises(RunFolderError, match="no-such-run: no such run folder"):
        dnnconf.load("no-such-run")
    assert all(isinstance(folder, Path) for folder, _ in loaded)
