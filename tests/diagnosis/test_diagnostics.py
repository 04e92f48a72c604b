import json
import math

import pytest
import torch

from dnnconf.config import config_from_dict
from dnnconf.diagnosis import diagnostics as dg
from dnnconf.diagnosis.diagnostics import Facts, LayerRow, diagnose, judge, merge

DEPTH, WIDTH = 50, 32


def deep(activation, initializer, *, data=None, depth=DEPTH, width=WIDTH, **model):
    return config_from_dict({
        "name": f"deep-{activation}",
        "data": {"dataset": "digits", "valid_size": 0.15, **(data or {})},
        "model": {"hidden": [width] * depth, "activation": activation, "kernel_initializer": initializer, **model},
        "schedule": {"name": "constant"},
        "training": {"batch_size": 32, "device": "cpu"},
    })


RANDOM_NORMAL_1 = {"name": "random_normal", "stddev": 1.0}
RANDOM_NORMAL_001 = {"name": "random_normal", "stddev": 0.01}


def ids(report):
    return {v.id for v in report.verdicts}


def hidden(report):
    return [row for row in report.layers if row.role == "hidden"]


# --- verdicts on synthetic numbers: each threshold, on both sides ---


def rows(grads, stds=None, activation="relu", dead=None, saturated=None, means=None):
    n = len(grads)
    stds = stds or [1.0] * n
    means = means or [0.0] * n
    out = [LayerRow(i + 1, f"dense_{i + 1}", activation, "hidden", 32, means[i], stds[i],
                    dead[i] if dead else (0.0 if activation == "relu" else None),
                    saturated[i] if saturated else None, grads[i], grads[i], 1e-3) for i in range(n)]
    out.append(LayerRow(n + 1, f"dense_{n + 1}", "softmax", "output", 10, 0.0, 1.0, None, None, 1.0, 0.1, 1e-3))
    return out


def verdict_ids(layer_rows, facts=None, loss=1.0):
    return {v.id for v in judge(layer_rows, facts, loss)}


def test_vanishing_threshold_on_the_first_to_last_hidden_ratio():
    assert dg.VANISHING_RATIO == 1e-3
    assert "vanishing_gradients" in verdict_ids(rows([0.99e-3, 0.1, 1.0]))
    assert verdict_ids(rows([1.01e-3, 0.1, 1.0])) == {"healthy"}
    verdict = judge(rows([1e-6, 1e-3, 1.0]))[0]
    assert verdict.severity == "error"
    assert verdict.evidence["ratio"] == pytest.approx(1e-6)
    assert verdict.evidence["log10_slope_per_layer"] == pytest.approx(3.0)  # three decades a layer
    assert "vanishing_gradients" in verdict_ids(rows([0.0, 0.0, 0.0]))  # nothing reaches the hidden layers
    fitting = judge(rows([1e-6, 1e-3, 1.0], activation="sigmoid"), Facts(initializer="glorot_uniform",
                                                                         init_family="glorot"))[0]
    assert "already fits sigmoid" in fitting.remedies[0]  # the note's init is in place: depth is the problem


def test_exploding_threshold_and_non_finite_numbers():
    assert dg.EXPLODING_RATIO == 1e3
    assert "exploding_gradients" in verdict_ids(rows([1.01e3, 10.0, 1.0]))
    assert verdict_ids(rows([0.99e3, 10.0, 1.0])) == {"healthy"}
    assert "exploding_gradients" in verdict_ids(rows([1.0, math.nan, 1.0]))
    assert "exploding_gradients" in verdict_ids(rows([1.0, 1.0, 1.0], stds=[1.0, math.inf, 1.0]))
    assert "exploding_gradients" in verdict_ids(rows([1.0, 1.0, 1.0]), loss=math.nan)
    remedies = " ".join(judge(rows([1e4, 1.0, 1.0]))[0].remedies)
    assert "clipnorm" in remedies and "batch_norm" in remedies and "he_normal" in remedies


def test_activation_variance_thresholds_name_the_notes_initializer():
    assert (dg.ACTIVATION_SHRINK, dg.ACTIVATION_GROWTH) == (0.01, 100.0)
    grads = [1.0, 1.0, 1.0]
    assert "activations_shrink" in verdict_ids(rows(grads, stds=[1.0, 0.1, 0.0099]))
    assert verdict_ids(rows(grads, stds=[1.0, 0.1, 0.0101])) == {"healthy"}
    assert "activations_grow" in verdict_ids(rows(grads, stds=[1.0, 10.0, 101.0]))
    assert verdict_ids(rows(grads, stds=[1.0, 10.0, 99.0])) == {"healthy"}
    for activation, preset in (("relu", "he_normal"), ("elu", "he_normal"), ("tanh", "glorot_uniform"),
                               ("sigmoid", "glorot_uniform"), ("selu", "lecun_normal")):
        found = judge(rows(grads, stds=[1.0, 0.1, 1e-4], activation=activation),
                      Facts(initializer="random_normal", normalize="standardize"))
        verdict = next(v for v in found if v.id == "activations_shrink")
        assert verdict.evidence["recommended"] == preset
        assert preset in verdict.remedies[0] and "instead of random_normal" in verdict.remedies[0]


def test_saturation_threshold():
    assert dg.SATURATION_SHARE == 0.10
    grads = [1.0, 1.0, 1.0]
    assert "saturation" in verdict_ids(rows(grads, activation="sigmoid", saturated=[0.0, 0.15, 0.18]))
    assert verdict_ids(rows(grads, activation="sigmoid", saturated=[0.05, 0.1, 0.14])) == {"healthy"}
    verdict = judge(rows(grads, activation="tanh", saturated=[0.9, 0.0, 0.0]))[0]
    assert verdict.id == "saturation" and verdict.evidence["worst_layer"] == "dense_1"
    assert any("non-saturating" in remedy for remedy in verdict.remedies)


def test_dead_unit_threshold():
    assert dg.DEAD_SHARE == 0.50
    grads = [1.0, 1.0, 1.0]
    assert "dead_units" in verdict_ids(rows(grads, dead=[0.4, 0.6, 0.6]))
    assert verdict_ids(rows(grads, dead=[0.5, 0.5, 0.5])) == {"healthy"}
    assert any("leaky_relu" in remedy for remedy in judge(rows(grads, dead=[1.0, 1.0, 1.0]))[0].remedies)


def test_self_normalization_conditions_and_drift():
    grads = [1.0, 1.0, 1.0]
    ok = Facts(initializer="lecun_normal", init_family="lecun", normalize="standardize")
    assert verdict_ids(rows(grads, activation="selu", dead=[0, 0, 0]), ok) == {"healthy"}
    for broken in (dict(batch_norm=True), dict(dropout=True), dict(regularizer=True), dict(max_norm=True),
                   dict(normalize="minmax"), dict(normalize="none"),
                   dict(initializer="he_normal", init_family="he")):
        facts = Facts(**{**ok.__dict__, **broken})
        assert "self_normalization_broken" in verdict_ids(rows(grads, activation="selu", dead=[0, 0, 0]), facts)
    lo, hi = dg.SELU_STD_RANGE
    drift = rows(grads, activation="selu", dead=[0, 0, 0], stds=[1.0, hi * 1.01, 1.0])
    verdict = next(v for v in judge(drift, ok) if v.id == "self_normalization_broken")
    assert verdict.evidence["drift_layers"] == ["dense_2"] and verdict.evidence["config"] == []
    assert verdict_ids(rows(grads, activation="selu", dead=[0, 0, 0], stds=[lo, hi, 1.0]), ok) == {"healthy"}
    mean_drift = rows(grads, activation="selu", dead=[0, 0, 0], means=[0.0, dg.SELU_MEAN_LIMIT + 0.01, 0.0])
    assert "self_normalization_broken" in verdict_ids(mean_drift, ok)
    # without a config, the measured inputs decide whether they are standardized
    assert "self_normalization_broken" in verdict_ids(rows(grads, activation="selu", dead=[0, 0, 0]),
                                                      Facts(input_mean=0.4, input_std=0.3))


def test_merge_keeps_each_verdict_once_with_its_steps():
    healthy = judge(rows([1.0, 1.0, 1.0]))
    vanishing = judge(rows([1e-6, 1e-3, 1.0]))
    merged = merge([(0, healthy), (10, vanishing), (20, vanishing)])
    assert [v.id for v in merged] == ["vanishing_gradients"]
    assert merged[0].evidence["steps"] == [10, 20]
    assert merge([(0, healthy), (5, healthy)])[0].evidence["steps"] == [0, 5]


# --- the probe on deep stacks ---


def test_sigmoid_with_random_normal_1_is_flagged_and_glorot_is_not_saturated():
    failing = diagnose(deep("sigmoid", RANDOM_NORMAL_1))
    assert {"saturation", "vanishing_gradients"} <= ids(failing)
    assert failing.exit_code == 1
    shares = [row.saturated_share for row in hidden(failing)]
    assert all(share is not None for share in shares) and max(shares) > dg.SATURATION_SHARE
    assert all(row.dead_share is None for row in failing.layers)
    glorot = diagnose(deep("sigmoid", "glorot_uniform"))
    assert "saturation" not in ids(glorot)


def test_relu_with_tiny_random_normal_vanishes_and_he_normal_is_healthy():
    tiny = diagnose(deep("relu", RANDOM_NORMAL_001))
    assert ids(tiny) & {"vanishing_gradients", "activations_shrink"}
    shrink = tiny.verdict("activations_shrink")
    assert shrink is not None and "he_normal" in shrink.remedies[0]
    he = diagnose(deep("relu", "he_normal"))
    assert ids(he) == {"healthy"} and he.exit_code == 0
    assert all(row.saturated_share is None and row.dead_share is not None for row in hidden(he))


def test_selu_with_lecun_keeps_std_near_1_through_depth():
    report = diagnose(deep("selu", "lecun_normal"))
    stds = [row.act_std for row in hidden(report)]
    assert len(stds) == DEPTH and all(0.5 <= std <= 2.0 for std in stds)
    assert ids(report) == {"healthy"}


@pytest.mark.parametrize("change", [
    {"model": {"batch_norm": "before_activation"}},
    {"model": {"batch_norm": "after_activation"}},
    {"model": {"dropout": {"rate": 0.2}}},
    {"data": {"normalize": "none"}},
    {"data": {"normalize": "minmax"}},
    {"init": "he_normal"},
])
def test_selu_self_normalization_broken(change):
    config = deep("selu", change.get("init", "lecun_normal"), data=change.get("data"), **change.get("model", {}))
    verdict = diagnose(config).verdict("self_normalization_broken")
    assert verdict is not None and verdict.evidence["config"]
    assert "lecun_normal" in verdict.remedies[0]


def test_selu_without_standardized_inputs_also_drifts():
    verdict = diagnose(deep("selu", "lecun_normal", data={"normalize": "none"})).verdict("self_normalization_broken")
    assert verdict.evidence["drift_layers"][0] == "dense_1"


def test_alpha_dropout_keeps_selu_self_normalizing():
    report = diagnose(deep("selu", "lecun_normal", dropout={"rate": 0.1, "kind": "alpha_dropout"}))
    assert "self_normalization_broken" not in ids(report)


def test_a_network_on_synthetic_standard_normal_inputs():
    from dnnconf.nn.build import build_network

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(256, 20, generator=generator)
    y = torch.randint(0, 4, (256,), generator=generator)

    def stack(activation, init):
        dense = {"activation": {"name": activation}, "kernel_initializer": init, "use_bias": True,
                 "kernel_regularizer": None, "kernel_constraint": None}
        layers = [{"dense": {"units": 48, **dense}} for _ in range(DEPTH)]
        out = {**dense, "units": 4, "activation": {"name": "softmax"}, "kernel_initializer": {"name": "glorot_uniform"}}
        return build_network([*layers, {"dense": out}], (20,), torch.Generator().manual_seed(1))

    healthy = diagnose(stack("relu", {"name": "he_normal"}), (x, y))
    assert ids(healthy) == {"healthy"} and healthy.source == "network"
    selu = diagnose(stack("selu", {"name": "lecun_normal"}), (x, y))
    assert all(0.5 <= row.act_std <= 2.0 for row in hidden(selu))
    assert "self_normalization_broken" not in ids(selu)
    assert "self_normalization_broken" in ids(diagnose(stack("selu", {"name": "lecun_normal"}), (x * 5 + 3, y)))
    failing = diagnose(stack("tanh", {"name": "random_normal", "mean": 0.0, "stddev": 1.0}), (x, y))
    assert "saturation" in ids(failing)


# --- what the probe measures, and that it changes nothing ---


def small(**model):
    return config_from_dict({
        "name": "small", "data": {"dataset": "digits", "valid_size": 0.15},
        "model": {"hidden": [16, 16, 16], **model}, "schedule": {"name": "constant"},
        "optimizer": {"name": "sgd", "learning_rate": 0.01, "momentum": 0.0, "nesterov": False},
        "training": {"batch_size": 32, "device": "cpu"},
    })


@pytest.fixture(scope="module")
def digits():
    from dnnconf.config.schema import DataConfig
    from dnnconf.data import load_data

    return load_data(DataConfig(dataset="digits", valid_size=0.15))


def built(config, digits):
    from dnnconf.train import setup

    config = setup.resolve_with_data(config, digits)
    return config, setup.make_network(config, digits.normalization)  # raw inputs in


def test_probe_changes_nothing(digits):
    config, network = built(small(batch_norm="before_activation", dropout={"rate": 0.3}), digits)
    before = {k: v.clone() for k, v in network.state_dict().items()}
    rng = torch.get_rng_state()
    report = diagnose(network, digits, config=config)
    assert all(torch.equal(before[k], v) for k, v in network.state_dict().items())  # BN statistics included
    assert torch.equal(rng, torch.get_rng_state())
    assert all(p.grad is None for p in network.parameters())
    assert report.source == "network" and len(report.layers) == 4
    trained = diagnose(network, digits, config=config, train_steps=6, probe_every=3)
    assert trained.steps == [0, 3, 6]
    assert all(torch.equal(before[k], v) for k, v in network.state_dict().items())  # trained on a copy


def test_dead_and_saturated_units_are_counted_per_unit(digits):
    from dnnconf.nn.normalization import fit_statistics

    config, network = built(small(), digits)
    # per-pixel statistics: no unit of dense_1 is dead at this seed (per channel, one is: a fact, not a count)
    network.normalization.adapt(fit_statistics(digits.x_train.numpy(), "standardize", "feature"))
    with torch.no_grad():
        network.layers.dense_2.bias[:4] = -1e4  # 4 of 16 units never fire
    rows_ = diagnose(network, digits, config=config).layers
    assert rows_[1].dead_share == pytest.approx(4 / 16)
    assert rows_[0].dead_share == 0.0
    config, network = built(small(activation="sigmoid", kernel_initializer="glorot_uniform"), digits)
    with torch.no_grad():
        network.layers.dense_1.bias[:8] = 50.0  # half the units pinned at 1
    rows_ = diagnose(network, digits, config=config).layers
    assert rows_[0].saturated_share == pytest.approx(0.5, abs=0.03)
    assert rows_[0].dead_share is None


def test_update_ratio_is_one_sgd_step(digits):
    config, network = built(small(), digits)
    first = diagnose(network, digits, config=config).layers
    doubled = config.model_copy(update={"optimizer": config.optimizer.model_copy(update={"learning_rate": 0.02})})
    second = diagnose(network, digits, config=doubled).layers
    for a, b in zip(first, second, strict=True):
        assert b.update_ratio == pytest.approx(2 * a.update_ratio, rel=1e-4)
        assert a.weight_grad_norm == pytest.approx(b.weight_grad_norm)
    assert first[0].update_ratio > 0


def test_same_seed_same_report():
    a, b = diagnose(small()), diagnose(small())
    assert a.to_dict()["layers"] == b.to_dict()["layers"]


def test_explicit_layers_group_activation_after_batch_norm(digits):
    config = config_from_dict({
        "name": "explicit", "data": {"dataset": "digits", "valid_size": 0.15},
        "model": {"layers": [{"flatten": {}}, {"dense": {"units": 16, "kernel_initializer": "lecun_normal"}},
                             {"batch_norm": {}}, {"activation": "selu"}, {"dropout": {"rate": 0.1}},
                             {"dense": {"units": 16, "kernel_initializer": "lecun_normal"}},
                             {"activation": "selu"}]},
        "training": {"device": "cpu"},
    })
    report = diagnose(config, digits)
    assert [(row.name, row.activation, row.role) for row in report.layers] == [
        ("dense_1", "selu", "hidden"), ("dense_2", "selu", "hidden"), ("dense_3", "softmax", "output")]
    problems = report.verdict("self_normalization_broken").evidence["config"]
    assert any("batch norm" in p for p in problems) and any("dropout" in p for p in problems)


def test_bad_arguments_are_one_line_config_errors(digits):
    from dnnconf.errors import ConfigError

    with pytest.raises(ConfigError, match="batches"):
        diagnose(small(), digits, batches=0)
    with pytest.raises(ConfigError, match="train_steps"):
        diagnose(small(), digits, train_steps=-1)
    _, network = built(small(), digits)
    with pytest.raises(ConfigError, match="needs data"):
        diagnose(network)


# --- report, JSON schema, plots ---


def test_json_schema(digits):
    report = diagnose(small(activation="tanh"), digits, train_steps=4, probe_every=2)
    data = json.loads(report.to_json())
    assert data["schema"] == "dnnconf.diagnose/1"
    assert {"name", "source", "batches", "batch_size", "train_steps", "device", "input", "layers", "steps", "loss",
            "series", "verdicts", "thresholds", "stopped", "plots"} <= set(data)
    assert data["steps"] == [0, 2, 4] and len(data["loss"]) == 3
    assert data["batches"] == 4 and data["batch_size"] == 32 and data["source"] == "config"
    layer_keys = {"index", "name", "activation", "role", "units", "act_mean", "act_std", "dead_share",
                  "saturated_share", "weight_grad_norm", "output_grad_norm", "update_ratio"}
    assert all(set(layer) == layer_keys for layer in data["layers"])
    assert [layer["role"] for layer in data["layers"]] == ["hidden"] * 3 + ["output"]
    assert data["layers"][0]["dead_share"] is None and data["layers"][0]["saturated_share"] is not None
    assert set(data["series"]) == set(dg.METRICS)
    assert all(len(m) == 4 and all(len(r) == 3 for r in m) for m in data["series"].values())
    for verdict in data["verdicts"]:
        assert set(verdict) == {"id", "severity", "message", "evidence", "remedies"}
        assert verdict["severity"] in ("error", "warning", "info")
    assert data["thresholds"]["VANISHING_RATIO"] == dg.VANISHING_RATIO


def test_json_writes_non_finite_numbers_as_strings():
    assert dg.jsonable({"a": [math.nan, math.inf, -math.inf, 1.5]}) == {"a": ["nan", "inf", "-inf", 1.5]}
    assert float("inf") == float(dg.jsonable(math.inf))


def test_thresholds_are_documented():
    for name in dg.THRESHOLDS:
        assert f"`{name}`" in dg.__doc__, name


def test_plots_are_written(tmp_path, digits):
    from dnnconf.diagnosis.plots import compare, write_plots

    report = diagnose(small(), digits, train_steps=4, probe_every=2)
    paths = write_plots(report, tmp_path)
    assert [p.name for p in paths] == ["grad_norm_heatmap.png", "act_std_heatmap.png", "profile.png"]
    assert all(p.stat().st_size > 1000 for p in paths)
    assert compare([report, report], ["a", "b"], tmp_path / "both.png").stat().st_size > 1000


# --- the command ---


def run_cli(argv, capsys):
    import sys

    from dnnconf.arguments import Parser
    from dnnconf.cli.diagnose import add_command
    from dnnconf.errors import DnnconfError

    parser = Parser(prog="dnnconf")
    parser.add_argument("--debug", action="store_true")
    add_command(parser.add_subparsers(dest="command", required=True, parser_class=Parser))
    try:
        args = parser.parse_args(argv)
        code = args.handler(args)
    except SystemExit as exit_:
        code = exit_.code
    except DnnconfError as error:
        print(f"dnnconf diagnose: {error}", file=sys.stderr)
        code = error.exit_code
    out, err = capsys.readouterr()
    return code, out, err


def write_config(path, **model):
    import yaml

    raw = {"name": "cli", "data": {"dataset": "digits", "valid_size": 0.15},
           "model": {"hidden": [16, 16], **model}, "schedule": {"name": "constant"},
           "training": {"batch_size": 32, "epochs": 1, "device": "cpu"}}
    path.write_text(yaml.safe_dump(raw))
    return path


def test_cli_text_and_plots(tmp_path, capsys):
    config = write_config(tmp_path / "c.yaml")
    code, out, err = run_cli(["diagnose", str(config), "--out", str(tmp_path / "out")], capsys)
    assert code == 0, err
    assert "dense_1" in out and "healthy" in out and "‖∂J/∂W‖" in out
    for name in ("grad_norm_heatmap.png", "act_std_heatmap.png", "profile.png", "report.json"):
        assert (tmp_path / "out" / name).is_file(), name


def test_cli_json_and_set(tmp_path, capsys):
    config = write_config(tmp_path / "c.yaml")
    code, out, _ = run_cli(["diagnose", str(config), "--format", "json", "--set", "model.activation=tanh",
                            "--batches", "2", "--train-steps", "4", "--out", str(tmp_path / "o")], capsys)
    data = json.loads(out)
    assert code == 0 and data["batches"] == 2 and data["steps"][-1] == 4
    assert data["layers"][0]["activation"] == "tanh"
    assert len(data["plots"]) == 3


def test_cli_exit_1_on_an_error_verdict(tmp_path, capsys):
    config = write_config(tmp_path / "c.yaml", hidden=[WIDTH] * DEPTH, activation="sigmoid",
                          kernel_initializer=RANDOM_NORMAL_1)
    code, out, _ = run_cli(["diagnose", str(config), "--out", str(tmp_path / "o")], capsys)
    assert code == 1 and "vanishing" in out and "glorot_uniform" in out


def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys):
    for argv in (["diagnose", str(tmp_path / "missing.yaml")],
                 ["diagnose", str(write_config(tmp_path / "c.yaml")), "--batches", "0"],
                 ["diagnose", str(write_config(tmp_path / "c.yaml")), "--train-steps", "x"],
                 ["diagnose", str(write_config(tmp_path / "c.yaml")), "--format", "xml"],
                 ["diagnose", str(write_config(tmp_path / "c.yaml")), "--set", "model.nope=1"],
                 ["diagnose", str(tmp_path)]):  # a folder that is not a run folder
        code, out, err = run_cli(argv, capsys)
        assert code == 2, argv
        assert len(err.strip().splitlines()) == 1, err


def test_cli_on_a_trained_run_folder(tmp_path, capsys, digits_config):
    from dnnconf.run import train

    run = train(digits_config(training={"epochs": 1}), tmp_path / "run", quiet=True).folder
    capsys.readouterr()
    code, out, err = run_cli(["diagnose", str(run), "--format", "json", "--out", str(tmp_path / "o")], capsys)
    assert code in (0, 1), err
    data = json.loads(out)
    assert data["source"] == "run" and data["name"] == "digits-test"
    assert [layer["name"] for layer in data["layers"]] == ["dense_1", "dense_2", "dense_3"]
    code, _, err = run_cli(["diagnose", str(run), "--set", "seed=1"], capsys)
    assert code == 2 and "run folder" in err


def test_each_part_documents_what_it_holds():
    from dnnconf.diagnosis import probe as diagnose_probe
    from dnnconf.diagnosis import report as diagnose_report
    from dnnconf.diagnosis import verdicts as diagnose_verdicts

    for name in diagnose_verdicts.THRESHOLDS:  # what counts as saturated is part of what the probe measures
        assert f"`{name}`" in diagnose_verdicts.__doc__ + diagnose_probe.__doc__, name
    assert diagnose_report.SCHEMA in diagnose_report.__doc__
    assert all(f"`{metric}`" in diagnose_probe.__doc__ for metric in diagnose_report.METRICS)
    assert dg.judge is diagnose_verdicts.judge and dg.DiagnosisReport is diagnose_report.DiagnosisReport
