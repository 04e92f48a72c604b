import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")


@pytest.fixture
def digits_config():
    """A small, fast configuration on scikit-learn's digits (offline)."""
    from dnnconf.config import config_from_dict

    def make(**sections):
        raw = {
            "name": "digits-test",
            "data": {"dataset": "digits", "valid_size": 0.15},
            "model": {"hidden": [32, 16]},
            "schedule": {"name": "constant"},
            "training": {"epochs": 3, "batch_size": 32},
        }
        for key, value in sections.items():
            if isinstance(value, dict) and isinstance(raw.get(key), dict):
                raw[key] = {**raw[key], **value}
            else:
                raw[key] = value
        return config_from_dict(raw)

    return make
