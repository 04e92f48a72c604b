"""Configs the transfer and freezing tests share: a small batch-normalized MLP on scikit-learn's digits
(offline), SGD with momentum, a constant rate, no early stopping; sections override its keys."""

from dnnconf.config import config_from_dict

DATA = {"dataset": "digits", "valid_size": 0.15}


def bn_digits_config(**sections):
    """The base config with each given section merged into it (a dict) or replacing it (anything else)."""
    raw = {"name": "t", "data": dict(DATA), "model": {"hidden": [24, 16], "batch_norm": "before_activation"},
           "optimizer": {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9}, "schedule": {"name": "constant"},
           "training": {"epochs": 2, "early_stopping": None}}
    for key, value in sections.items():
        raw[key] = {**raw[key], **value} if isinstance(raw.get(key), dict) else value
    return config_from_dict(raw)
