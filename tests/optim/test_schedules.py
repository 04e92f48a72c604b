import math

import pytest

from dnnconf.errors import ConfigError
from dnnconf.optim.schedules import SCHEDULES


def build(spec, base_lr=0.01, steps_per_epoch=100, total_steps=1000):
    return SCHEDULES.build(spec, base_lr=base_lr, steps_per_epoch=steps_per_epoch, total_steps=total_steps)


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_every_schedule_has_a_description(name):
    assert SCHEDULES.get(name).description


def test_power_is_the_notes_formula():
    s = build({"name": "power", "decay_steps": 10_000, "power": 2.0})
    assert s(5000) == pytest.approx(0.01 / 1.5**2)
    s = build({"name": "power", "decay_steps": 10, "staircase": True})
    assert s(19) == pytest.approx(0.01 / 2)


def test_exponential_and_epoch_units():
    s = build({"name": "exponential", "decay_steps": 20_000})
    assert s(20_000) == pytest.approx(0.001) and s(10_000) == pytest.approx(0.01 * 0.1**0.5)
    s = build({"name": "exponential", "decay_epochs": 2}, steps_per_epoch=100)
    assert s(200) == pytest.approx(0.001)


def test_piecewise_constant_follows_keras_boundaries():
    s = build({"name": "piecewise_constant", "boundaries": [50_000, 80_000], "values": [0.01, 0.005, 0.001]})
    assert [s(0), s(50_000), s(50_001), s(80_001)] == [0.01, 0.01, 0.005, 0.001]
    with pytest.raises(ConfigError, match="one more entry"):
        build({"name": "piecewise_constant", "boundaries": [5], "values": [0.1]})


def test_one_cycle_is_the_notes_scheduler():
    iterations = 1000
    s = build({"name": "one_cycle", "max_lr": 0.1}, total_steps=iterations)
    last_iterations = iterations // 10 + 1
    half = (iterations - last_iterations) // 2
    assert s(0) == pytest.approx(0.01)
    assert s(half) == pytest.approx(0.1)
    assert s(2 * half) == pytest.approx(0.01)
    assert s(iterations) == pytest.approx(0.01 / 1000)
    assert s.momentum(0) == pytest.approx(0.95) and s.momentum(half) == pytest.approx(0.85)
    assert s.momentum(iterations - 1) == pytest.approx(0.95)


def test_keras_reference_values():
    keras = pytest.importorskip("keras")
    sch = keras.optimizers.schedules
    pairs = [
        ({"name": "power", "decay_steps": 300, "decay_rate": 0.5}, sch.InverseTimeDecay(0.01, 300, 0.5)),
        ({"name": "power", "decay_steps": 300, "staircase": True}, sch.InverseTimeDecay(0.01, 300, 1.0, True)),
        ({"name": "exponential", "decay_steps": 300, "decay_rate": 0.3}, sch.ExponentialDecay(0.01, 300, 0.3)),
        ({"name": "piecewise_constant", "boundaries": [400, 900], "values": [0.1, 0.05, 0.01]},
         sch.PiecewiseConstantDecay([400, 900], [0.1, 0.05, 0.01])),
        ({"name": "cosine", "decay_steps": 700, "alpha": 0.1}, sch.CosineDecay(0.01, 700, alpha=0.1)),
        ({"name": "cosine", "decay_steps": 700, "warmup_target": 0.1, "warmup_steps": 200},
         sch.CosineDecay(0.01, 700, warmup_target=0.1, warmup_steps=200)),
    ]
    for spec, reference in pairs:
        ours = build(spec)
        for step in (0, 1, 150, 400, 1000):
            assert math.isclose(ours(step), float(reference(step)), rel_tol=1e-6), (spec, step)


def test_cosine_warmup_from_zero_is_kerass_own_example():
    """Keras's docstring example: CosineDecay(initial_learning_rate=0, decay_steps, warmup_target, warmup_steps)."""
    keras = pytest.importorskip("keras")
    spec = {"name": "cosine", "initial_learning_rate": 0, "decay_steps": 700, "warmup_target": 0.1,
            "warmup_steps": 200}
    reference = keras.optimizers.schedules.CosineDecay(0.0, 700, warmup_target=0.1, warmup_steps=200)
    ours = build(spec, base_lr=0.05)  # the optimizer's rate does not count: the schedule names its own start
    assert ours(0) == 0.0
    for step in (0, 1, 100, 199, 200, 201, 550, 900, 1200):
        assert math.isclose(ours(step), float(reference(step)), rel_tol=1e-6, abs_tol=1e-12), step


def test_initial_learning_rate_replaces_the_optimizers_rate():
    s = build({"name": "cosine", "initial_learning_rate": 0.2, "decay_steps": 100}, base_lr=0.01)
    assert s(0) == pytest.approx(0.2) and s(50) == pytest.approx(0.1)
    assert build({"name": "cosine", "decay_steps": 100}, base_lr=0.01)(0) == pytest.approx(0.01)


@pytest.mark.parametrize("spec", [
    {"name": "cosine", "initial_learning_rate": 0, "decay_steps": 100},
    {"name": "cosine", "initial_learning_rate": 0, "decay_steps": 100, "warmup_target": 0.1},
])
def test_a_zero_start_without_warmup_is_refused(spec):
    with pytest.raises(ConfigError, match="initial_learning_rate: 0 needs a warmup"):
        build(spec)


def test_a_negative_start_is_refused():
    with pytest.raises(ConfigError, match="initial_learning_rate"):
        build({"name": "cosine", "initial_learning_rate": -0.1, "decay_steps": 100, "warmup_target": 0.1,
               "warmup_steps": 10})


def test_performance_is_a_function_of_the_step_and_the_recorded_plateaus():
    from dnnconf.optim.schedules import Performance, Reductions

    s = build({"name": "performance", "factor": 0.5, "patience": 2})
    assert isinstance(s, Performance) and s.settings["patience"] == 2
    assert [s(0), s(10_000)] == [0.01, 0.01] and s.scale == 1.0 and s.momentum(0) is None
    s.reductions.add(30, 0.5)
    s.reductions.add(70, 0.25)
    assert [s(0), s(29), s(30), s(69), s(70), s(10_000)] == [0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025]
    assert s.scale == 0.25
    assert Reductions.from_plain(s.reductions.to_plain()) == s.reductions
    with pytest.raises(ValueError, match="comes after"):
        s.reductions.add(50, 0.125)


@pytest.mark.parametrize("plain", ["x", [[1]], [[-1, 0.5]], [[1.5, 0.5]], [[1, 0]], [[1, "0.5"]], [[5, 0.5], [2, 0.1]],
                                   [[True, 0.5]], [[1, float("inf")]]])
def test_a_damaged_record_of_plateaus_is_refused(plain):
    from dnnconf.optim.schedules import Reductions

    with pytest.raises((TypeError, ValueError)):
        Reductions.from_plain(plain)
