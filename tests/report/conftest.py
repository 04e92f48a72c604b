from pathlib import Path

import pytest


def digits_raw(name: str, **sections) -> dict:
    """A small digits config (offline, seconds); `sections` replace or extend the defaults."""
    raw = {"name": name, "data": {"dataset": "digits", "valid_size": 0.15, "test_size": 0.2},
           "model": {"hidden": [32, 16]}, "schedule": {"name": "constant"},
           "training": {"epochs": 3, "batch_size": 64, "early_stopping": None}}
    for key, value in sections.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) and isinstance(raw.get(key), dict) else value
    return raw


def train_run(folder: Path, raw: dict, **options):
    from dnnconf.config import config_from_dict
    from dnnconf.run import train

    return train(config_from_dict(raw), folder, quiet=True, plots=False, **options)


@pytest.fixture(scope="session")
def digits_run():
    """(raw config builder, trainer): `digits_run[1](folder, digits_run[0](name, **sections))`."""
    return digits_raw, train_run


@pytest.fixture(scope="session")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    """Two finished runs that differ in optimizer, schedule and batch norm (the first logs layer stats)."""
    root = tmp_path_factory.mktemp("runs")
    first = train_run(root / "sgd-one-cycle", digits_raw(
        "sgd-one-cycle", optimizer={"name": "sgd", "learning_rate": 0.05, "momentum": 0.9},
        schedule={"name": "one_cycle", "max_lr": 0.1}, training={"layer_stats": True}))
    second = train_run(root / "adam-bn", digits_raw(
        "adam-bn", optimizer={"name": "adam", "learning_rate": 0.002}, model={"batch_norm": "before_activation"}))
    return first.folder, second.folder


def page_data(path: Path) -> dict:
    """The JSON island a report page draws from."""
    import json
    import re

    text = path.read_text(encoding="utf-8")
    island = re.search(r'<script id="dnnconf-data" type="application/json">(.*?)</script>', text, re.S)
    return json.loads(island.group(1))


@pytest.fixture(scope="session")
def read_page():
    return page_data
