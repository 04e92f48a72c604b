import argparse
import copy
import math

import numpy as np
import pytest
import torch

from dnnconf.config import config_from_dict, load_config
from dnnconf.errors import BadInput, DnnconfError
from dnnconf.lr_finder import curve as lr_curve
from dnnconf.lr_finder import finder as lr_finder
from dnnconf.lr_finder.curve import combine, longest_descent, suggest
from dnnconf.lr_finder.finder import (
    ExponentialSweep,
    LRFindResult,
    SweepRecorder,
    lr_find,
    sweep,
)
from dnnconf.lr_finder.outputs import plot_lr_find, write_outputs
from dnnconf.train import setup
from dnnconf.train.loop import Loop, LoopSpec
from dnnconf.train.steps import SoloStep

# ------------------------------------------------------------------------------------------ helpers


def built(parts):
    """The config and a loop exactly as `dnnconf.run.train` builds them (`parts`: the `run_parts` fixture's)."""
    generator = torch.Generator().manual_seed(parts.config.seed + setup.SHUFFLE_STREAM)
    loop = Loop(LoopSpec(SoloStep(parts.network), parts.optimizer, parts.schedule, parts.config.loss,
                         parts.splits.train, parts.splits.valid, parts.config.training.epochs,
                         parts.config.training.batch_size, parts.clipping, [], generator))
    return parts.config, loop


def lr_sweep(config, loop, **options):
    return sweep(loop.network, loop.optimizer, loop.train, config.loss, batch_size=config.training.batch_size,
                 generator=loop.generator, clipping=loop.clipping, **options)


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def smooth_curve(n=300, center=1e-2, low=0.2, climb_at=1.0):
    """A smooth range-test curve: a plateau at 2.3, a sigmoid descent around `center` down to `low`, then a
    steep climb past `climb_at`."""
    lrs = np.logspace(-6, 1, n)
    x = np.log10(lrs)
    loss = low + (2.3 - low) / (1 + np.exp((x - np.log10(center)) / 0.25)) + np.exp(4 * (x - np.log10(climb_at)))
    return lrs, loss


# ------------------------------------------------------------------------------------------ the pieces


def test_exponential_sweep_goes_from_min_to_max_geometrically():
    schedule = ExponentialSweep(1e-6, 10.0, 8)
    values = [schedule(t) for t in range(8)]
    assert values[0] == pytest.approx(1e-6) and values[-1] == pytest.approx(10.0)
    ratios = np.array(values[1:]) / np.array(values[:-1])
    assert np.allclose(ratios, (1e7) ** (1 / 7))
    assert schedule(100) == pytest.approx(10.0)


def test_recorder_keeps_batch_losses_smooths_with_bias_correction_and_stops_on_divergence():
    class FakeLoop:
        def __init__(self):
            self.state = argparse.Namespace(stop=False, stop_reason="")
            self.last_loss = None

    losses = [2.0, 1.0, 1.5, 0.5, 0.4, 30.0, 1.0]
    recorder, loop = SweepRecorder(ExponentialSweep(1e-3, 1.0, 100)), FakeLoop()
    for loss in losses:
        loop.last_loss = torch.tensor(loss)
        recorder.on_batch_end(loop)
        if loop.state.stop:
            break
    beta, average, expected = lr_finder.SMOOTHING, 0.0, []
    for t, loss in enumerate(losses[:6]):
        average = beta * average + (1 - beta) * loss
        expected.append(average / (1 - beta ** (t + 1)))
    assert recorder.losses == pytest.approx(losses[:6])  # each batch's own loss, not a running mean
    assert recorder.smoothed[0] == pytest.approx(2.0)  # bias-corrected: no pull towards 0
    assert recorder.smoothed == pytest.approx(expected)
    assert expected[5] > lr_finder.DIVERGENCE_FACTOR * min(expected)  # 30.0 makes the smoothed loss > 4 x best
    assert loop.state.stop and recorder.diverged_lr == pytest.approx(recorder.lrs[5])

    nan_recorder, loop = SweepRecorder(ExponentialSweep(1e-3, 1.0, 100)), FakeLoop()
    for loss in (1.0, float("nan")):
        loop.last_loss = torch.tensor(loss)
        nan_recorder.on_batch_end(loop)
    assert loop.state.stop and nan_recorder.diverged_lr == pytest.approx(nan_recorder.lrs[1])


def test_longest_descent_is_the_longest_decreasing_subsequence():
    curve = np.array([5.0, 6.0, 4.0, 4.5, 3.0, 2.0, 2.5, 1.0, 3.0, 9.0])
    start, end = longest_descent(curve)
    assert (start, end) == (0, 7)  # 5 > 4 > 3 > 2 > 1 (6 > 4 > … is as long; the first one found wins)


def test_rules_on_a_smooth_curve_are_ordered_sensibly():
    lrs, loss = smooth_curve()
    values, clear = suggest(lrs, loss)
    lr_min = lrs[np.argmin(loss)]
    assert clear
    assert values["min/10"] == pytest.approx(lr_min / 10)
    # the valley and the steepest slope both sit in the middle of the descent (around 1e-2)
    assert 3e-3 < values["valley"] < 3e-2 and 3e-3 < values["steepest"] < 3e-2
    assert values["valley"] / values["steepest"] == pytest.approx(1, rel=0.5)
    # the note's rule: a little below where the loss has climbed back 10% of its descent
    after_min = np.arange(len(lrs)) > np.argmin(loss)
    climb = lrs[np.flatnonzero((loss > loss.min() + lr_curve.NOTE_MARGIN * (2.3 - loss.min())) & after_min)[0]]
    assert values["note"] == pytest.approx(climb / lr_curve.NOTE_FACTOR, rel=0.05)
    diverged = lrs[np.flatnonzero((loss > lr_finder.DIVERGENCE_FACTOR * loss.min()) & after_min)[0]]
    assert values["valley"] < values["min/10"] < values["note"] < climb < diverged
    assert values["steepest"] < values["min/10"] and max(values.values()) < diverged


def test_no_clear_descent_falls_back_to_min_over_10():
    rng = np.random.default_rng(0)
    lrs = np.logspace(-6, 1, 200)
    flat = 2.3 + 0.01 * rng.standard_normal(200)
    values, clear = suggest(lrs, flat)
    assert not clear
    suggestions, band, recommended = combine([values], [clear])
    assert recommended == "min/10" and suggestions == pytest.approx(values)
    _, _, recommended = combine([suggest(*smooth_curve())[0]] * 2, [True, True])
    assert recommended == "valley"


def test_for_one_cycle_the_notes_rule_is_recommended_as_max_lr():
    values, clear = suggest(*smooth_curve())
    suggestions, _, recommended = combine([values], [clear], schedule="one_cycle")
    assert recommended == "note" and suggestions["note"] > suggestions["valley"]
    assert combine([values], [clear], schedule="exponential")[2] == "valley"


def test_band_is_the_spread_of_the_repeats_and_the_suggestion_their_geometric_mean():
    per_repeat = [suggest(*smooth_curve(center=c))[0] for c in (5e-3, 1e-2, 2e-2)]
    suggestions, band, _ = combine(per_repeat, [True] * 3)
    for name in lr_curve.RULES:
        low, high = band[name]
        assert low <= suggestions[name] <= high
        assert low == min(r[name] for r in per_repeat) and high == max(r[name] for r in per_repeat)
    assert band["valley"][0] < band["valley"][1]


def test_bad_options_name_the_option_in_one_line():
    for options, fragment in [({"min_lr": 1.0, "max_lr": 0.1}, "--min-lr"), ({"min_lr": -1e-6}, "--min-lr"),
                              ({"max_lr": 0.0}, "--max-lr"), ({"steps": 5}, "--steps"),
                              ({"repeats": 0}, "--repeats"), ({"max_lr": math.inf}, "--max-lr")]:
        kwargs = {"min_lr": 1e-6, "max_lr": 10.0, "steps": None, "repeats": 1, **options}
        with pytest.raises(BadInput) as caught:
            lr_finder.check_options(**kwargs)
        assert fragment in str(caught.value) and "\n" not in str(caught.value)
        assert caught.value.exit_code == 2


# ------------------------------------------------------------------------------ a known answer: 2/λ


def test_sgd_on_least_squares_diverges_near_2_over_lambda(tmp_path):
    """For mean((Xw + b − y)²) the Hessian is 2X̃ᵀX̃/n (X̃ = [X, 1]); plain SGD diverges above 2/λ_max."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(640, 6)) * np.array([3, 1, 1, 0.5, 0.3, 0.1]) + 0.5
    y = x @ rng.normal(size=6) + 0.7 + 0.1 * rng.normal(size=640)
    np.savez(tmp_path / "ls.npz", x=x.astype(np.float32), y=y.astype(np.float32))
    config = config_from_dict({
        "name": "least-squares", "seed": 0,
        "data": {"dataset": "npz", "path": str(tmp_path / "ls.npz"), "task": "regression", "normalize": "none",
                 "valid_size": 0, "test_size": 0.2},
        "model": {"layers": [{"flatten": {}}]},  # just the linear output layer
        "optimizer": {"name": "sgd", "learning_rate": 0.01, "momentum": 0.0}, "schedule": {"name": "constant"},
        "training": {"batch_size": 32},
    })
    from dnnconf.data import load_data

    train_x = load_data(config.data).x_train.double()
    design = torch.cat([train_x, torch.ones(len(train_x), 1, dtype=torch.float64)], dim=1)
    limit = 2 / torch.linalg.eigvalsh(2 * design.T @ design / len(design)).max().item()
    result = lr_find(config, min_lr=1e-4, max_lr=10.0, steps=500)
    diverged = result.diverged_lr[0]
    assert diverged is not None and limit / 2 < diverged < 2 * limit, (diverged, limit)
    assert result.recommended_lr < diverged and result.recommended_lr < limit
    assert all(value < diverged for value in result.suggestions.values())


# ------------------------------------------------------------------------------ nothing changes


@pytest.mark.parametrize("optimizer", [None, {"name": "adam"}])
def test_fit_after_a_sweep_on_the_built_pieces_equals_fit_alone(digits_config, run_parts, optimizer):
    sections = {"model": {"hidden": [32, 16], "batch_norm": "before_activation", "dropout": {"rate": 0.2}},
                "training": {"epochs": 2, "batch_size": 32}}
    if optimizer:
        sections["optimizer"] = optimizer
    config = digits_config(**sections)

    config, reference = built(run_parts(config))
    reference.epochs = 1
    reference.run()
    reference.epochs = 2
    reference.run()

    config, loop = built(run_parts(config))
    lr_sweep(config, loop, steps=60, repeats=2)  # before any training: an empty optimizer state
    loop.epochs = 1
    loop.run()
    network_rng = torch.get_rng_state()
    groups = copy.deepcopy(loop.optimizer.state_dict()["param_groups"])
    result = lr_sweep(config, loop, steps=60)  # mid-training: momentum/Adam state, BN statistics, generator
    assert torch.equal(torch.get_rng_state(), network_rng)
    assert loop.optimizer.state_dict()["param_groups"] == groups  # lr (and momentum) written back
    assert len(result.lrs[0]) > 10 and result.lrs[0][-1] > 1e-3
    assert loop.network.training
    loop.epochs = 2
    loop.run()
    assert same_weights(loop.network, reference.network)
    bn = [k for k in reference.network.state_dict() if "running_mean" in k]
    assert bn  # the batch-norm statistics were compared too
    assert torch.equal(loop.generator.get_state(), reference.generator.get_state())
    a, b = loop.optimizer.state_dict(), reference.optimizer.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for key in a["state"]:
        assert all(torch.equal(x, y) if isinstance(x, torch.Tensor) else x == y
               for x, y in ((a["state"][key][k], b["state"][key][k]) for k in a["state"][key]))


def test_lr_find_then_train_equals_train_alone(tmp_path, digits_config):
    import random

    from dnnconf.run import train

    config = digits_config(model={"hidden": [32, 16], "batch_norm": "before_activation", "dropout": {"rate": 0.2}},
                           training={"epochs": 2})
    alone = train(config, tmp_path / "alone", quiet=True)
    before = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    lr_find(config, steps=40)
    assert torch.equal(torch.get_rng_state(), before[0])
    assert np.array_equal(np.random.get_state()[1], before[1]) and random.getstate() == before[2]
    after = train(config, tmp_path / "after", quiet=True)
    assert same_weights(after.network, alone.network)


def test_the_weights_come_back_when_the_sweep_fails(digits_config, run_parts, monkeypatch):
    config, loop = built(run_parts(digits_config()))
    before = {k: v.clone() for k, v in loop.network.state_dict().items()}
    record = SweepRecorder.on_batch_end

    def interrupted(self, loop):
        record(self, loop)
        if len(self.lrs) == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(SweepRecorder, "on_batch_end", interrupted)
    with pytest.raises(KeyboardInterrupt):
        lr_sweep(config, loop, steps=20)
    assert all(torch.equal(before[k], v) for k, v in loop.network.state_dict().items())
    assert not loop.optimizer.state_dict()["state"]


# ------------------------------------------------------------------------------ outputs and the command


def test_plot_csv_and_json_with_a_band(tmp_path):
    curves = [smooth_curve(center=c) for c in (5e-3, 1e-2)]
    per_repeat = [suggest(*c)[0] for c in curves]
    suggestions, band, recommended = combine(per_repeat, [True, True])
    result = LRFindResult(
        lrs=[list(c[0]) for c in curves], losses=[list(c[1] + 0.05) for c in curves],
        smoothed=[list(c[1]) for c in curves], suggestions=suggestions, recommended=recommended, band=band,
        per_repeat=per_repeat, diverged_lr=[None, 3.0], min_lr=1e-6, max_lr=10.0, steps=300, batch_size=32,
        seconds=0.1)
    path = plot_lr_find(result, tmp_path / "plot" / "lr_find.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    paths = write_outputs(result, tmp_path / "out")
    assert [p.name for p in paths] == ["lr_find.png", "lr_find.csv", "lr_find.json"]
    rows = (tmp_path / "out" / "lr_find.csv").read_text().splitlines()
    assert rows[0] == "repeat,step,lr,loss,smoothed" and len(rows) == 1 + 600
    import json

    saved = json.loads((tmp_path / "out" / "lr_find.json").read_text())
    assert saved["recommended"] == "valley" and saved["band"]["valley"][0] <= saved["band"]["valley"][1]


def run_command(argv):
    """`dnnconf lr-find …` on a parser of its own, with its printed lines captured (`log`) and the error
    handling of `dnnconf.cli.app.main`."""
    from dnnconf.arguments import Parser
    from dnnconf.cli.lr_find import add_command

    parser = Parser(prog="dnnconf")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    add_command(commands)
    args = parser.parse_args(argv)
    printed = []
    try:
        return args.handler(args, log=printed.append), printed
    except DnnconfError as error:
        return error.exit_code, [f"dnnconf {args.command}: {error}"]


@pytest.fixture
def config_file(tmp_path):
    def write(schedule="{name: constant}"):
        path = tmp_path / "c.yaml"
        path.write_text("name: cli\ndata: {dataset: digits, valid_size: 0.15}\nmodel: {hidden: [16]}\n"
                        f"schedule: {schedule}\ntraining: {{epochs: 2}}\n")
        return path
    return write


def test_command_writes_outputs_and_applies_the_learning_rate(tmp_path, config_file):
    code, printed = run_command(["lr-find", str(config_file()), "--steps", "60", "--repeats", "2",
                                 "--out", str(tmp_path / "out"), "--apply", str(tmp_path / "tuned.yaml")])
    assert code == 0, printed
    text = "\n".join(printed)
    assert "<- recommended" in text and "recommended: valley" in text or "recommended: min/10" in text
    for name in ("lr_find.png", "lr_find.csv", "lr_find.json"):
        assert (tmp_path / "out" / name).is_file()
    import json

    saved = json.loads((tmp_path / "out" / "lr_find.json").read_text())
    tuned = load_config(tmp_path / "tuned.yaml")
    assert tuned.optimizer.model_dump()["learning_rate"] == pytest.approx(saved["recommended_lr"], rel=5e-3)
    assert tuned.model.input_shape == [8, 8]  # the resolved config


def test_apply_sets_max_lr_and_start_lr_for_one_cycle(tmp_path, config_file):
    code, printed = run_command(["lr-find", str(config_file("{name: one_cycle}")), "--steps", "40",
                                 "--out", str(tmp_path / "out"), "--apply", str(tmp_path / "tuned.yaml")])
    assert code == 0, printed
    assert "recommended: note" in "\n".join(printed)
    import json

    saved = json.loads((tmp_path / "out" / "lr_find.json").read_text())
    tuned = load_config(tmp_path / "tuned.yaml")
    assert tuned.schedule["name"] == "one_cycle"
    assert tuned.schedule["max_lr"] == pytest.approx(saved["suggestions"]["note"], rel=5e-3)
    assert tuned.schedule["start_lr"] == pytest.approx(tuned.schedule["max_lr"] / 10, rel=5e-3)
    assert tuned.optimizer.model_dump()["learning_rate"] == 0.01  # untouched: one_cycle uses max_lr


@pytest.mark.parametrize("args, fragment", [
    (["--min-lr", "1", "--max-lr", "0.5"], "--min-lr"),
    (["--min-lr", "-1"], "--min-lr"),
    (["--max-lr", "0"], "--max-lr"),
    (["--steps", "3"], "--steps"),
    (["--repeats", "0"], "--repeats"),
])
def test_bad_options_exit_2_with_one_line(config_file, args, fragment):
    code, printed = run_command(["lr-find", str(config_file()), *args])
    assert code == 2 and len(printed) == 1 and fragment in printed[0]


def test_unparsable_option_exits_2(config_file, capsys):
    with pytest.raises(SystemExit) as caught:
        run_command(["lr-find", str(config_file()), "--steps", "many"])
    assert caught.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_centered_smoothing_does_not_lag():
    lrs = np.logspace(-5, 0, 300)
    losses = list(2.0 - np.tanh((np.log10(lrs) + 2) * 3))  # falls fastest at lr = 1e-2
    curve = lr_curve.centered(losses)
    causal = lr_curve.moving_average(losses, lr_finder.SMOOTHING)
    steepest = lambda c: int(np.argmin(np.diff(c)))  # noqa: E731
    assert abs(steepest(curve) - steepest(losses)) <= 2
    assert steepest(causal) - steepest(losses) > 10
    assert lr_curve.centered([1.0, 2.0, float("nan"), 3.0])[2:] == [pytest.approx(float("nan"), nan_ok=True)] * 2
