"""Optimizer facts are registry metadata: every optimizer (and preset) carries them, and the rule for a
member's own learning rate in a stacked step follows from them, not from name lists."""

import pytest

from dnnconf.optim.facts import OptimizerFacts
from dnnconf.optim.optimizers import OPTIMIZERS, rate_scaling


def test_every_optimizer_and_preset_carries_its_facts():
    for entry in OPTIMIZERS:
        assert isinstance(entry.facts, OptimizerFacts), entry.name
    assert OPTIMIZERS.get("momentum").facts is OPTIMIZERS.get("sgd").facts  # a preset has its target's facts


@pytest.mark.parametrize(("spec", "scaling"), [
    ({"name": "sgd"}, "gradient"),
    ({"name": "sgd", "momentum": 0.9}, "gradient"),  # m ← βm − η·(s·g)
    ({"name": "nesterov"}, "gradient"),
    ({"name": "sgd", "weight_decay": 0.01}, "step"),  # no momentum: the step is −η(g + λθ)
    ({"name": "sgd", "momentum": 0.9, "weight_decay": 0.01}, "none"),
    ({"name": "rmsprop"}, "step"),
    ({"name": "rmsprop", "momentum": 0.5}, "none"),  # the momentum buffer holds η·g
    ({"name": "adam"}, "step"),
    ({"name": "adamw"}, "step"),
    ({"name": "adamax"}, "step"),
    ({"name": "nadam"}, "step"),
    ({"name": "adagrad", "weight_decay": 0.01}, "step"),
])
def test_rate_scaling_follows_from_the_facts(spec, scaling):
    assert rate_scaling(OPTIMIZERS.resolve(spec)) == scaling


def test_an_optimizer_without_a_batched_form_is_not_batchable(monkeypatch):
    from dnnconf.config import config_from_dict
    from dnnconf.errors import NotBatchable
    from dnnconf.train.parallel_seeds import check_supported

    entry = OPTIMIZERS.get("adagrad")
    monkeypatch.setitem(OPTIMIZERS._entries, "adagrad",
                        entry.__class__(**{**entry.__dict__, "facts": OptimizerFacts("adagrad", None, True,
                                                                                     batchable=False)}))
    config = config_from_dict({"name": "t", "data": {"dataset": "digits"}, "model": {"hidden": [4]},
                               "optimizer": {"name": "adagrad"}, "training": {"parallel_seeds": 2}})
    with pytest.raises(NotBatchable, match="optimizer: adagrad"):
        check_supported(config)
