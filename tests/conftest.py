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


@pytest.fixture(autouse=True)
def _denormal_mode_restored():
    """`dnnconf train` through cli.main flushes denormals process-wide before torch starts its threads (as a
    fresh process should); in-process calls must not leak that into the next test."""
    import sys

    flushing = False  # torch's default, where this test is the first to import it
    if "torch" in sys.modules:
        from dnnconf.train.loop import denormals_flushed

        flushing = denormals_flushed()
    yield
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_flush_denormal(bool(flushing))


@pytest.fixture
def run_parts():
    """A factory: the pieces `dnnconf.run.train` builds for a solo run of a config (data loaded, config
    resolved, global seed, network, splits, optimizer and clipping, schedule), as a namespace."""
    import types

    import torch

    from dnnconf.data import load_data
    from dnnconf.train import setup

    def make(config):
        dataset = load_data(config.data)
        config = setup.resolve_with_data(config, dataset)
        setup.seed_everything(config.seed)
        network = setup.make_network(config, dataset.normalization)
        splits = setup.to_splits(dataset, torch.device("cpu"))
        optimizer, clipping = setup.make_optimizer(config, network)
        schedule = setup.make_schedule(config, setup.steps_per_epoch(config, len(splits.train)))
        return types.SimpleNamespace(config=config, network=network, splits=splits, optimizer=optimizer,
                                     clipping=clipping, schedule=schedule)

    return make
