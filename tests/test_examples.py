"""Every shipped example config loads, and trains for one epoch (on digits, so it runs offline and fast)."""

import math
from pathlib import Path

import pytest

from dnnconf.config import load_config
from dnnconf.run import train

# configs only: a sweep's search space is not a config, and transfer examples need their source run
# (tested in tests/reuse/test_transfer.py)
EXAMPLES = sorted(p for p in (Path(__file__).resolve().parents[1] / "examples").rglob("*.yaml")
                  if not {"sweep", "transfer"} & set(p.parts))
ON_DIGITS = ["data.dataset=digits", "data.valid_size=0.15", "data.path=null", "data.classes=null",
             "data.positive_class=null", "data.train_limit=null", "training.epochs=1"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_example_loads_and_trains(path, tmp_path):
    load_config(path)
    config = load_config(path, ON_DIGITS)
    result = train(config, tmp_path / "run", quiet=True)
    assert result.state.epoch == 1 and not result.state.diverged
    assert math.isfinite(result.state.history[0]["loss"]) and 0 <= result.test["accuracy"] <= 1
