"""One loop, a pluggable step: `Loop` runs whatever `Step` its `LoopSpec` names, with the same events,
schedule, sums and state for every step."""

import dataclasses
import math

import pytest
import torch

from dnnconf.train.callbacks import Listener
from dnnconf.train.loop import Loop, LoopSpec
from dnnconf.train.steps import SoloStep


class CountingStep(SoloStep):
    """A step of its own: the solo step, counting its updates."""

    def __init__(self, network):
        super().__init__(network)
        self.updates = 0

    def update(self, loop, batch, sample_norm):
        self.updates += 1
        return super().update(loop, batch, sample_norm)


class Events(Listener):
    def __init__(self):
        self.seen = []

    def on_epoch_end(self, loop, logs):
        self.seen.append(("epoch_end", loop.state.epoch, loop.state.step))


def make_spec(parts, step_class):
    """A spec of `run_parts`' pieces with `step_class` as its step."""
    config = parts.config
    return LoopSpec(step_class(parts.network), parts.optimizer, parts.schedule, config.loss, parts.splits.train,
                    parts.splits.valid, config.training.epochs, config.training.batch_size, parts.clipping,
                    [Events()], torch.Generator().manual_seed(7))


def test_the_spec_is_one_frozen_object(digits_config, run_parts):
    spec = make_spec(run_parts(digits_config()), SoloStep)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.batch_size = 64  # type: ignore[misc]


def test_a_step_of_its_own_runs_in_the_same_loop_with_the_same_results(digits_config, run_parts):
    config = digits_config(training={"epochs": 2, "batch_size": 64})
    solo, counted = make_spec(run_parts(config), SoloStep), make_spec(run_parts(config), CountingStep)
    solo_state, counted_state = Loop(solo).run(), Loop(counted).run()
    steps = 2 * math.ceil(len(solo.train) / 64)
    assert counted.step.updates == steps == counted_state.step
    assert counted.listeners[0].seen == solo.listeners[0].seen == [("epoch_end", 1, steps // 2),
                                                                   ("epoch_end", 2, steps)]
    for a, b in zip(solo_state.history, counted_state.history, strict=True):
        assert {k: v for k, v in a.items() if k != "time"} == {k: v for k, v in b.items() if k != "time"}
    for name, value in solo.step.network.state_dict().items():
        assert torch.equal(value, counted.step.network.state_dict()[name])
