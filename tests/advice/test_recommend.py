"""`recommend`: every configuration it writes is valid, round-trips, passes `check` cleanly and trains."""

import itertools

import pytest
import yaml

from dnnconf.advice.recommend import Options, recommend, recommendation
from dnnconf.advice.rules import check_config
from dnnconf.config import config_from_dict, dump_config, load_config
from dnnconf.errors import BadInput

FLAGS = ("deep", "self_normalizing", "regularize", "sparse", "low_latency", "risk_sensitive")


def all_options():
    """Every combination of the flags, schedules, optimizers and tasks that `recommend` accepts."""
    for values in itertools.product((False, True), repeat=len(FLAGS)):
        for schedule, optimizer, task in itertools.product(("performance", "one_cycle"), ("nesterov", "adamw"),
                                                           ("classification", "binary", "regression")):
            options = Options(**dict(zip(FLAGS, values, strict=True)), schedule=schedule, optimizer=optimizer,
                              task=task)
            try:
                recommendation(options)
            except BadInput:
                continue
            yield options


OPTIONS = list(all_options())


def test_the_flag_combinations_are_many_and_conflicts_are_refused():
    assert len(OPTIONS) > 200
    refused = [Options(self_normalizing=True, sparse=True), Options(self_normalizing=True, optimizer="adamw"),
               Options(low_latency=True, deep=True), Options(low_latency=True, risk_sensitive=True),
               Options(sparse=True, optimizer="adamw"), Options(self_normalizing=True, low_latency=True),
               Options(task="binary", classes=10), Options(classes=1), Options(dataset="imagenet")]
    for options in refused:
        with pytest.raises(BadInput):
            recommend(options)


@pytest.mark.parametrize("options", OPTIONS, ids=lambda options: options.flags().removeprefix("dnnconf recommend")
                         .strip().replace(" ", "") or "plain")
def test_every_recommendation_loads_round_trips_and_passes_check(options):
    text = recommend(options)
    data = yaml.safe_load(text)
    config = config_from_dict(data)
    assert yaml.safe_load(dump_config(config)) == data  # the resolved config itself, comments aside
    problems = [(f.id, f.path) for f in check_config(config) if f.severity != "info"]
    assert problems == []


def test_the_file_loads_with_load_config(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(recommend(Options(deep=True, schedule="one_cycle", risk_sensitive=True)), encoding="utf-8")
    config = load_config(path, ["training.epochs=3"])
    assert config.training.epochs == 3 and config.model.activation["name"] == "swish"


def _model(options):
    return yaml.safe_load(recommend(options))["model"]


def test_the_default_table():
    data = yaml.safe_load(recommend(Options()))
    model = data["model"]
    assert model["hidden"] == [300, 100] and model["activation"]["name"] == "relu"
    assert model["kernel_initializer"]["name"] == "he_normal" and model["batch_norm"]["position"] == "none"
    expected = {"name": "sgd", "clipvalue": None, "learning_rate": 0.01, "momentum": 0.9, "nesterov": True}
    assert {key: data["optimizer"][key] for key in expected} == expected
    assert data["schedule"]["name"] == "performance" and data["schedule"]["factor"] == 0.5
    assert data["schedule"]["patience"] == 5 and data["training"]["early_stopping"]["patience"] == 10
    assert data["data"]["normalize"] == "standardize" and data["model"]["input_shape"] == [28, 28]
    deep = _model(Options(deep=True))
    assert deep["activation"]["name"] == "swish" and deep["batch_norm"]["position"] == "before_activation"
    assert len(deep["hidden"]) > 10
    assert yaml.safe_load(recommend(Options(optimizer="adamw")))["optimizer"]["name"] == "adamw"


def test_the_self_normalizing_table():
    data = yaml.safe_load(recommend(Options(self_normalizing=True, regularize=True)))
    model = data["model"]
    assert model["activation"]["name"] == "selu" and model["kernel_initializer"]["name"] == "lecun_normal"
    assert model["batch_norm"]["position"] == "none" and model["kernel_regularizer"] is None
    assert model["dropout"]["kind"] == "alpha_dropout"
    assert data["optimizer"]["nesterov"] is True and data["data"]["normalize"] == "standardize"
    assert data["data"]["normalize_axis"] == "feature"  # SELU: every input feature at mean 0, std 1
    assert _model(Options(self_normalizing=True))["dropout"] is None


def test_the_exceptions_and_their_comments():
    sparse = recommend(Options(sparse=True))
    assert yaml.safe_load(sparse)["model"]["kernel_regularizer"]["l1"] > 0
    assert "Pruning the tiny weights after" in sparse and "export" in sparse
    fast = recommend(Options(low_latency=True))
    model = yaml.safe_load(fast)["model"]
    assert len(model["hidden"]) < 2 and model["activation"]["name"] in ("relu", "leaky_relu")
    assert "--fold-bn" in fast and "float16" in fast
    risky = recommend(Options(risk_sensitive=True))
    assert yaml.safe_load(risky)["model"]["dropout"]["kind"] == "dropout" and "MC dropout" in risky
    cycle = yaml.safe_load(recommend(Options(schedule="one_cycle")))
    assert cycle["schedule"]["max_lr"] == 0.1 and cycle["training"]["epochs"] == 25
    assert cycle["training"]["batch_size"] == 128


def test_every_choice_is_commented_with_the_note_section():
    raw, comments, header = recommendation(Options(deep=True, regularize=True, risk_sensitive=True))
    for path in ("data.normalize", "data.valid_size", "model.hidden", "model.activation", "model.kernel_initializer",
                 "model.batch_norm", "model.dropout", "model.kernel_regularizer", "model.output", "loss",
                 "optimizer", "schedule", "training.early_stopping", "training.epochs"):
        assert "§" in comments[path] or "dnnconf default" in comments[path], path
    text = recommend(Options(deep=True))
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().startswith("activation:"))
    assert "§6 default table: Swish if deep" in " ".join(lines[index - 2:index])
    assert "He" in text and "§1.1" in text


def test_task_and_shape_overrides():
    binary = yaml.safe_load(recommend(Options(task="binary")))
    assert binary["model"]["output"]["activation"] == "sigmoid" and binary["loss"] == "binary_crossentropy"
    assert binary["data"]["positive_class"] == 2
    regression = yaml.safe_load(recommend(Options(task="regression", dataset="csv")))
    assert regression["model"]["output"]["activation"] == "linear" and regression["data"]["task"] == "regression"
    assert regression["model"]["input_shape"] is None
    custom = yaml.safe_load(recommend(Options(classes=8, input_shape=(32, 32), hidden=(64, 32), name="mine")))
    assert custom["model"]["output"]["units"] == 8 and custom["model"]["input_shape"] == [32, 32]
    assert custom["model"]["hidden"] == [64, 32] and custom["name"] == "mine"


TRAINED = [
    Options(dataset="digits"),
    Options(dataset="digits", deep=True, schedule="one_cycle", regularize=True),
    Options(dataset="digits", self_normalizing=True, regularize=True, risk_sensitive=True),
    Options(dataset="digits", low_latency=True, sparse=True, task="binary", optimizer="nesterov"),
    Options(dataset="digits", optimizer="adamw", regularize=True, task="regression", schedule="one_cycle"),
]


@pytest.mark.parametrize("options", TRAINED, ids=lambda options: options.flags().removeprefix("dnnconf recommend ")
                         .replace(" ", ""))
def test_recommendations_train(tmp_path, options):
    from dnnconf.run import train

    path = tmp_path / "r.yaml"
    path.write_text(recommend(options), encoding="utf-8")
    deep = ["model.hidden=[16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16]"] if options.deep else ["model.hidden=[16]"]
    config = load_config(path, ["data.valid_size=0.15", "training.epochs=1", *deep])
    result = train(config, tmp_path / "run", quiet=True)
    assert result.state.epoch == 1 and not result.state.diverged
    assert all(value == value for value in result.test.values())  # no NaN
