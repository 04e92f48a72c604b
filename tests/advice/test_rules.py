"""The rule set: each rule fires on a config that breaks the note's advice, and not on a near-identical
config that follows it."""

import copy
import re
from types import SimpleNamespace

import pytest

from dnnconf.advice.messages import SECTIONS
from dnnconf.advice.rule_texts import RULE_TEXTS, WHY
from dnnconf.advice.rules import (
    RULES,
    check_config,
    counts,
    default_lang,
    findings_json,
    format_text,
    has_errors,
    rules_markdown,
)
from dnnconf.config import config_from_dict
from dnnconf.nn.layers import LAYERS
from dnnconf.optim.optimizers import OPTIMIZERS

BASE = {
    "name": "rules",
    "data": {"dataset": "digits", "valid_size": 0.15},
    "model": {"hidden": [32, 16]},
    "schedule": {"name": "performance", "factor": 0.5, "patience": 5},
    "training": {"epochs": 10},
}
SELU = {"activation": "selu", "kernel_initializer": "lecun_normal"}


def merged(base, changes):
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and "name" not in value:
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def make(changes):
    raw = merged(BASE, changes)
    if "layers" in raw["model"]:
        del raw["model"]["hidden"]
    return config_from_dict(raw)


def ids(config):
    return {finding.id for finding in check_config(config)}


def explicit(*layers):
    return {"model": {"layers": [{"flatten": {}}, *layers]}}


def dense(units=16, activation="relu", init="he_normal", **extra):
    return {"dense": {"units": units, "activation": activation, "kernel_initializer": init, **extra}}


DEEP = [16] * 11
CASES = [
    # id, breaks the advice, follows it, path of the finding
    ("DNC101", {"model": {"kernel_initializer": "glorot_uniform"}}, {"model": {"kernel_initializer": "he_uniform"}},
     "model.kernel_initializer"),
    ("DNC101", {"model": {"activation": "elu", "kernel_initializer": "lecun_normal"}},
     {"model": {"activation": "elu", "kernel_initializer": "he_normal"}}, "model.kernel_initializer"),
    ("DNC101", {"model": {"activation": "swish",
                          "kernel_initializer": {"name": "variance_scaling", "scale": 1.0, "mode": "fan_avg"}}},
     {"model": {"activation": "swish",
                "kernel_initializer": {"name": "variance_scaling", "scale": 2.0, "mode": "fan_avg"}}},
     "model.kernel_initializer"),
    ("DNC101", explicit(dense(activation="relu", init="glorot_uniform")), explicit(dense(activation="relu")),
     "model.layers.1.dense.kernel_initializer"),
    ("DNC101", explicit(dense(activation=None, init="glorot_uniform"), {"activation": "leaky_relu"}),
     explicit(dense(activation=None), {"activation": "leaky_relu"}), "model.layers.1.dense.kernel_initializer"),
    ("DNC102", {"model": {"activation": "tanh", "kernel_initializer": "he_normal"}},
     {"model": {"activation": "tanh", "kernel_initializer": "glorot_uniform"}}, "model.kernel_initializer"),
    ("DNC102", {"model": {"activation": "sigmoid", "kernel_initializer": {  # the note's he_avg_init example
        "name": "variance_scaling", "scale": 2.0, "mode": "fan_avg", "distribution": "uniform"}}},
     {"model": {"activation": "sigmoid", "kernel_initializer": "glorot_normal"}}, "model.kernel_initializer"),
    ("DNC102", {"model": {"output": {"kernel_initializer": "he_normal"}}},
     {"model": {"output": {"kernel_initializer": "glorot_normal"}}}, "model.output.kernel_initializer"),
    ("DNC103", {"model": {"activation": "selu", "kernel_initializer": "he_normal"}}, {"model": SELU},
     "model.kernel_initializer"),
    ("DNC104", {"model": {"kernel_initializer": "random_normal"}}, {"model": {"kernel_initializer": "he_normal"}},
     "model.kernel_initializer"),
    ("DNC104", {"model": {"kernel_initializer": "zeros"}}, {"model": {"kernel_initializer": "he_normal"}},
     "model.kernel_initializer"),
    ("DNC110", {"model": {**SELU, "batch_norm": "before_activation"}}, {"model": SELU}, "model.batch_norm"),
    ("DNC110", explicit(dense(activation=None, init="lecun_normal", use_bias=False), {"batch_norm": {}},
                        {"activation": "selu"}),
     explicit(dense(activation=None, init="lecun_normal"), {"activation": "selu"}), "model.layers.2"),
    ("DNC111", {"model": {**SELU, "dropout": {"rate": 0.1, "kind": "dropout"}}},
     {"model": {**SELU, "dropout": {"rate": 0.1, "kind": "alpha_dropout"}}}, "model.dropout"),
    ("DNC112", {"model": {**SELU, "kernel_regularizer": {"l2": 0.01}}}, {"model": SELU}, "model.kernel_regularizer"),
    ("DNC112", {"model": {**SELU, "kernel_regularizer": {"l1": 0.001}}}, {"model": SELU}, "model.kernel_regularizer"),
    ("DNC113", {"model": {**SELU, "kernel_constraint": {"max_norm": 1.0}}}, {"model": SELU},
     "model.kernel_constraint"),
    ("DNC114", {"model": SELU, "data": {"normalize": "minmax"}},
     {"model": SELU, "data": {"normalize": "standardize", "normalize_axis": "feature"}}, "data.normalize"),
    ("DNC114", {"model": SELU, "data": {"normalize": "standardize"}},  # images: auto is one mean/std per channel
     {"model": SELU, "data": {"normalize": "standardize", "normalize_axis": "feature"}}, "data.normalize"),
    ("DNC115", explicit(dense(activation="selu", init="lecun_normal"), dense(activation="relu")),
     explicit(dense(activation="selu", init="lecun_normal"), dense(activation="selu", init="lecun_normal")),
     "model.layers.2.dense.activation"),
    ("DNC120", explicit(dense(activation=None), {"batch_norm": {}}, {"activation": "relu"}),
     explicit(dense(activation=None, use_bias=False), {"batch_norm": {}}, {"activation": "relu"}),
     "model.layers.1.dense.use_bias"),
    ("DNC121", {"model": {"hidden": DEEP}}, {"model": {"hidden": DEEP[:-1]}}, "model.hidden"),
    ("DNC121", {"model": {"hidden": DEEP, "activation": "swish"}},
     {"model": {"hidden": DEEP, "activation": "swish", "batch_norm": "before_activation"}}, "model.hidden"),
    ("DNC122", {"model": {"batch_norm": "after_activation"}}, {"model": {"batch_norm": "before_activation"}},
     "model.batch_norm"),
    ("DNC122", explicit(dense(), {"batch_norm": {}}), explicit(dense(activation=None), {"batch_norm": {}},
                                                                {"activation": "relu"}), "model.layers.2"),
    ("DNC123", {"model": {"hidden": DEEP, "batch_norm": "before_activation"}},
     {"model": {"hidden": DEEP, "batch_norm": "before_activation", "activation": "swish"}}, "model.activation"),
    ("DNC130", {"optimizer": {"clipvalue": 1.0}}, {"optimizer": {"clipnorm": 1.0}}, "optimizer.clipvalue"),
    ("DNC301", {"optimizer": {"name": "adagrad"}}, {"optimizer": {"name": "sgd", "momentum": 0.9}}, "optimizer.name"),
    ("DNC302", {"optimizer": {"name": "adam"}, "model": {"kernel_regularizer": {"l2": 0.01}}},
     {"optimizer": {"name": "adam"}}, "model.kernel_regularizer"),
    ("DNC302", {"optimizer": {"name": "adamw"}, "model": {"kernel_regularizer": {"l1": 0.01}}},
     {"optimizer": {"name": "adamw", "weight_decay": 0.004}}, "model.kernel_regularizer"),
    ("DNC302", {"optimizer": {"name": "nadam"}, "model": {"kernel_regularizer": {"l2": 0.01}}},
     {"optimizer": {"name": "sgd", "momentum": 0.9, "nesterov": True}, "model": {"kernel_regularizer": {"l2": 0.01}}},
     "model.kernel_regularizer"),
    ("DNC303", {"optimizer": {"name": "sgd"}, "schedule": {"name": "one_cycle", "max_momentum": 0.9,
                                                            "min_momentum": 0.8}},
     {"optimizer": {"name": "sgd", "momentum": 0.9}, "schedule": {"name": "one_cycle", "max_momentum": 0.9,
                                                                  "min_momentum": 0.8}}, "schedule.max_momentum"),
    ("DNC303", {"optimizer": {"name": "adagrad"}, "schedule": {"name": "one_cycle", "max_momentum": 0.99,
                                                                "min_momentum": 0.9}},
     {"optimizer": {"name": "adam"}, "schedule": {"name": "one_cycle", "max_momentum": 0.99, "min_momentum": 0.9}},
     "schedule.max_momentum"),
    ("DNC304", {"optimizer": {"name": "sgd"}}, {"optimizer": {"name": "sgd", "momentum": 0.9}}, "optimizer.momentum"),
    ("DNC401", {"data": {"valid_size": 0}}, {"data": {"valid_size": 0}, "schedule": {"monitor": "loss"}},
     "schedule.monitor"),
    ("DNC402", {"schedule": {"name": "constant"}, "training": {"epochs": 30}},
     {"schedule": {"name": "constant"}, "training": {"epochs": 20}}, "schedule"),
    ("DNC403", {"optimizer": {"name": "sgd"}, "schedule": {"name": "one_cycle"}},
     {"optimizer": {"name": "sgd", "momentum": 0.9}, "schedule": {"name": "one_cycle"}}, "optimizer.name"),
    ("DNC403", {"optimizer": {"name": "rmsprop"}, "schedule": {"name": "one_cycle"}},
     {"optimizer": {"name": "rmsprop", "momentum": 0.9}, "schedule": {"name": "one_cycle"}}, "optimizer.name"),
    ("DNC501", {"data": {"valid_size": 0}, "schedule": {"name": "constant"}},
     {"data": {"valid_size": 0}, "schedule": {"name": "constant"}, "training": {"early_stopping": {"monitor": "loss"}}},
     "training.early_stopping.monitor"),
    ("DNC502", {"model": {"dropout": {"rate": 0.6}}}, {"model": {"dropout": {"rate": 0.5}}}, "model.dropout.rate"),
    ("DNC502", {"model": {"dropout": {"rate": 0.05}}}, {"model": {"dropout": {"rate": 0.1}}}, "model.dropout.rate"),
    ("DNC502", explicit(dense(), {"dropout": {"rate": 0.7}}), explicit(dense(), {"dropout": {"rate": 0.3}}),
     "model.layers.2.dropout.rate"),
    ("DNC503", {"model": {"hidden": [16] * 4, "dropout": {"top_layers": 4}}},
     {"model": {"hidden": [16] * 4, "dropout": {"top_layers": 3}}}, "model.dropout.top_layers"),
    ("DNC503", explicit({"dropout": {"rate": 0.2}}, dense(), dense(), dense(), dense()),
     explicit(dense(), dense(), {"dropout": {"rate": 0.2}}, dense(), dense()), "model.layers.1"),
    ("DNC504", explicit(dense(), dense(10, "softmax", "glorot_uniform"), {"dropout": {"rate": 0.2}}),
     explicit(dense(), {"dropout": {"rate": 0.2}}), "model.layers.3"),
    ("DNC505", {"training": {"early_stopping": None}}, {"training": {"early_stopping": {"patience": 10}}},
     "training.early_stopping"),
    ("DNC601", {"data": {"normalize": "none"}}, {"data": {"normalize": "minmax"}}, "data.normalize"),
]


def _needs(changes):
    """Skip cases whose vocabulary a colleague has not registered yet."""
    optimizer = changes.get("optimizer", {}).get("name")
    if optimizer and optimizer not in OPTIMIZERS:
        pytest.skip(f"optimizer {optimizer!r} is not registered yet")


@pytest.mark.parametrize("rule_id, bad, good, path", CASES,
                         ids=[f"{case[0]}-{index}" for index, case in enumerate(CASES)])
def test_rule_fires_on_the_bad_config_only(rule_id, bad, good, path):
    _needs(bad)
    _needs(good)
    found = [f for f in check_config(make(bad)) if f.id == rule_id]
    assert found, f"{rule_id} did not fire"
    assert path in [found[0].path, *found[0].also]
    assert rule_id not in ids(make(good))


def test_every_rule_has_a_case_and_the_base_config_is_clean():
    assert {case[0] for case in CASES} | {"DNC201"} == set(RULES)
    assert check_config(make({})) == []


def test_batch_norm_after_the_activation_is_only_an_info():
    for config in (make({"model": {"batch_norm": "after_activation"}}),
                   make(explicit({"batch_norm": {}}, dense(), {"batch_norm": {}}, dense(), {"batch_norm": {}}))):
        assert ids(config) == {"DNC122"}


def test_the_note_own_examples_are_not_flagged():
    # dropout model: Flatten, Dropout, [Dense(100, relu, he), Dropout] x 2 (three dropout layers, inputs included)
    note_dropout = make({"model": {"hidden": [100, 100], "dropout": {"rate": 0.2, "top_layers": 3}},
                         "optimizer": {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9}})
    assert ids(note_dropout) == set()
    # batch norm before the activation: dense without bias, batch norm, activation
    note_bn = make(explicit(dense(300, None, use_bias=False), {"batch_norm": {}}, {"activation": "relu"},
                            dense(100, None, use_bias=False), {"batch_norm": {}}, {"activation": "relu"}))
    assert ids(note_bn) == set()
    # max-norm model
    assert ids(make({"model": {"hidden": [100, 100], "kernel_constraint": {"max_norm": 1.0}}})) == set()


def test_severities_follow_what_the_config_asks():
    assert RULES["DNC110"].severity == "error"  # SELU cannot self-normalize with batch norm
    assert RULES["DNC303"].severity == "error"
    assert RULES["DNC401"].severity == RULES["DNC501"].severity == "error"
    assert RULES["DNC101"].severity == RULES["DNC302"].severity == RULES["DNC130"].severity == "warning"
    assert RULES["DNC120"].severity == "info"
    selu_bn = check_config(make({"model": {**SELU, "batch_norm": "before_activation"}}))
    assert has_errors(selu_bn) and counts(selu_bn)["error"] == 1


def test_rules_are_registered_with_texts_in_both_languages():
    for rule_id, item in RULES.items():
        assert re.fullmatch(r"DNC[1-6]\d\d", rule_id)
        assert item.severity in ("error", "warning", "info")
        assert item.section in SECTIONS
        assert item.check.__doc__ is None or item.check.__doc__.strip()
        for lang in ("en", "zh"):
            for part in ("title", "message", "fix"):
                assert RULE_TEXTS[rule_id][part][lang]
            assert WHY[rule_id][lang]
        assert re.search(r"[\u4e00-\u9fff]", RULE_TEXTS[rule_id]["message"]["zh"])


def test_explicit_layers_merge_into_one_finding_per_rule():
    layers = [dense(activation="relu", init="glorot_uniform") for _ in range(5)]
    found = [f for f in check_config(make(explicit(*layers))) if f.id == "DNC101"]
    assert len(found) == 1
    assert found[0].path == "model.layers.1.dense.kernel_initializer" and len(found[0].also) == 4
    assert "(also at model.layers.2" in found[0].message and "1 more" in found[0].message


def test_conv_layers_break_selu_self_normalization():
    if "conv2d" not in LAYERS:
        pytest.skip("conv2d is not registered yet")
    config = config_from_dict({
        **BASE, "model": {"layers": [
            {"conv2d": {"filters": 4, "kernel_size": 3, "activation": "selu", "kernel_initializer": "lecun_normal"}},
            {"flatten": {}}, dense(activation="selu", init="lecun_normal")]}})
    found = [f for f in check_config(config) if f.id == "DNC115"]
    assert found and found[0].path == "model.layers.0" and "conv2d" in found[0].message


def _transfer_config(**transfer):
    base = make({})
    fields = {name: getattr(base, name) for name in type(base).model_fields if name != "transfer"}
    return SimpleNamespace(**fields, transfer=transfer)


def test_unfreezing_without_a_lower_rate_reads_the_transfer_section():
    """DNC201 reads `config.transfer` with getattr (also on objects that are not a Config)."""
    check = RULES["DNC201"].check
    assert check(make({})) == []  # no transfer section: skipped
    assert [f.id for f in check(_transfer_config(freeze_epochs=4, unfreeze="all", unfreeze_lr_factor=1.0))] == [
        "DNC201"]
    assert check(_transfer_config(freeze_epochs=4, unfreeze="all", unfreeze_lr_factor=0.1)) == []
    assert check(_transfer_config(freeze_epochs=0, unfreeze="all", unfreeze_lr_factor=1.0)) == []
    assert check(_transfer_config(freeze_epochs=4, unfreeze="none")) == []
    assert [f.id for f in check(_transfer_config(freeze_epochs=4, unfreeze="all"))] == ["DNC201"]
    assert check(_transfer_config(freeze_epochs=4, unfreeze="all", unfreeze_learning_rate=0.001)) == []


def test_transfer_section_through_the_schema_when_it_exists():
    from dnnconf.config.schema import Config
    from dnnconf.errors import ConfigError

    if "transfer" not in Config.model_fields:
        pytest.skip("no transfer section in the schema yet")
    transfer = {"from": "runs/task-a", "freeze_epochs": 4, "unfreeze": "all"}
    try:
        same = make({"transfer": {**transfer, "unfreeze_lr_factor": 1.0}})
        lower = make({"transfer": {**transfer, "unfreeze_lr_factor": 0.1}})
    except ConfigError as error:
        pytest.skip(f"the transfer section has another shape: {error}")
    assert "DNC201" in ids(same) and "DNC201" not in ids(lower)


def test_messages_in_chinese_and_text_report():
    config = make({"model": {**SELU, "batch_norm": "before_activation"}, "optimizer": {"clipvalue": 1.0},
                   "data": {"normalize_axis": "feature"}})
    english = format_text(check_config(config, "en"), "c.yaml", "en")
    chinese = format_text(check_config(config, "zh"), "c.yaml", "zh")
    assert english.splitlines()[0] == "c.yaml: 1 error(s), 1 warning(s), 0 info"
    assert "DNC110" in english and "note §1.2" in english and "fix:" in english
    assert "错误" in chinese and "批量归一化" in chinese and "笔记 §1.4" in chinese
    assert format_text([], "c.yaml") == "c.yaml: no findings, the configuration follows the note"
    with pytest.raises(ValueError, match="lang"):
        check_config(config, "fr")


def test_json_report_has_the_documented_schema():
    config = make({"data": {"valid_size": 0}})
    report = findings_json(check_config(config), "c.yaml")
    assert set(report) == {"config", "findings", "counts"}
    assert report["counts"] == {"error": 2, "warning": 0, "info": 0}
    for item in report["findings"]:
        assert set(item) == {"id", "severity", "message", "fix", "section", "path"}
        assert item["section"].startswith("§")


@pytest.mark.parametrize("environ, lang", [
    ({"LANG": "zh_CN.UTF-8"}, "zh"), ({"LANG": "en_US.UTF-8"}, "en"), ({}, "en"),
    ({"LC_ALL": "zh_TW.UTF-8", "LANG": "en_US.UTF-8"}, "zh"), ({"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}, "en"),
    ({"LC_ALL": "", "LANG": "zh_CN.UTF-8"}, "zh"),
])
def test_language_follows_the_locale(environ, lang):
    assert default_lang(environ) == lang


def test_rules_markdown_lists_every_rule():
    table = rules_markdown()
    assert table.splitlines()[0] == "| id | severity | flags | why | note section |"
    for rule_id in RULES:
        assert f"| {rule_id} |" in table
    assert "§1.2 (better activation functions)" in table
    chinese = rules_markdown("zh")
    assert "| 编号 | 级别 |" in chinese and "§1.2（更好的激活函数）" in chinese
