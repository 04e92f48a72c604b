import json
import re
from pathlib import Path

import pytest

from dnnconf.report import page
from dnnconf.report.run_report import REPORT_FILE, StepCurve, extend_step_curves
from dnnconf.train.callbacks import Listener


def page_data(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    island = re.search(r'<script id="dnnconf-data" type="application/json">(.*?)</script>', text, re.S)
    return json.loads(island.group(1))  # (conftest's read_page fixture is the same, for the other modules)


def chart(data: dict, chart_id: str) -> dict:
    return next(c for c in data["charts"] if c["id"] == chart_id)


def expand(points: list[list[float]], steps: int) -> list[float]:
    """A change-point curve back to one value a step (the value holds until the next point)."""
    values, index = [], 0
    for step in range(steps):
        while index + 1 < len(points) and points[index + 1][0] <= step:
            index += 1
        values.append(points[index][1])
    return values


class PageAtEachEpoch(Listener):
    """Reads report.html as a browser would after each epoch (listeners passed to train run after RunReport)."""

    def __init__(self, folder: Path):
        self.folder, self.seen = folder, []

    def on_epoch_end(self, loop, logs):
        self.seen.append(page_data(self.folder / REPORT_FILE))


def test_report_is_rewritten_after_every_epoch_then_finished(tmp_path, digits_run):
    digits_raw, train_run = digits_run
    folder = tmp_path / "run"
    probe = PageAtEachEpoch(folder)
    result = train_run(folder, digits_raw("watched", training={"epochs": 3}), listeners=(probe,))
    assert [d["status"] for d in probe.seen] == ["running"] * 3
    assert [chart(d, "loss")["x"] for d in probe.seen] == [[1], [1, 2], [1, 2, 3]]
    assert all(d["refresh_seconds"] > 0 for d in probe.seen)  # the page reloads itself while training
    final = page_data(folder / REPORT_FILE)
    assert final["status"] == "finished"
    summary = dict(final["summary"])
    assert summary["test_metrics"] == ", ".join(f"{k} {v:.4f}" for k, v in result.test.items())
    losses = chart(final, "loss")
    history = result.state.history
    assert [s["label"] for s in losses["series"]] == ["loss", "val_loss"]
    assert losses["series"][1]["values"] == pytest.approx([row["val_loss"] for row in history])
    assert "name: watched" in final["config"]
    assert not list(folder.glob(".report.html.*"))  # no temporary file left behind


def test_parallel_seeds_write_a_page_for_every_member_and_their_mean_each_epoch(tmp_path, digits_run):
    digits_raw, train_run = digits_run
    folder = tmp_path / "run"
    members = [PageAtEachEpoch(folder / "seed-42"), PageAtEachEpoch(folder / "seed-43"), PageAtEachEpoch(folder)]

    class Watch(Listener):
        def on_epoch_end(self, loop, logs):
            for probe in members:
                probe.on_epoch_end(loop, logs)

    result = train_run(folder, digits_raw("seeds", training={"epochs": 2, "parallel_seeds": 2}), listeners=(Watch(),))
    for probe in members:
        assert [d["status"] for d in probe.seen] == ["running"] * 2
        assert [chart(d, "loss")["x"] for d in probe.seen] == [[1], [1, 2]]
    for member in result.members:
        final = page_data(member.folder / REPORT_FILE)
        assert final["status"] == "finished"
        assert chart(final, "loss")["series"][1]["values"] == pytest.approx(
            [row["val_loss"] for row in member.state.history])
    assert page_data(folder / REPORT_FILE)["status"] == "finished"


def test_report_is_self_contained(two_runs):
    text = (two_runs[0] / REPORT_FILE).read_text(encoding="utf-8")
    assert "uPlot" in text and "<script src" not in text and "<link" not in text
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", text)  # nothing fetched from a network
    assert len(text.encode()) < 200_000


def test_report_draws_lr_momentum_and_layer_norms(two_runs):
    data = page_data(two_runs[0] / REPORT_FILE)
    ids = [c["id"] for c in data["charts"]]
    assert ids == ["loss", "metric", "lr", "momentum", "grad-norm", "layer-grad-norms"]
    assert [s["label"] for s in chart(data, "layer-grad-norms")["series"]] == ["dense_1", "dense_2", "dense_3"]
    assert "momentum" not in ids[:3]  # (sgd with momentum: its own chart after the rate)
    adam = [c["id"] for c in page_data(two_runs[1] / REPORT_FILE)["charts"]]
    assert "layer-grad-norms" not in adam  # logged only with training.layer_stats


def test_lr_and_momentum_curves_are_the_schedule_step_by_step(two_runs):
    from dnnconf.train import setup
    from dnnconf.train.history import read_history
    from dnnconf.train.run_folder.loading import load_run_config

    config = load_run_config(two_runs[0])
    history = read_history(two_runs[0] / "history.csv")
    steps_per_epoch = 20  # ceil(1221 training examples / 64)
    schedule = setup.make_schedule(config, steps_per_epoch)
    steps = steps_per_epoch * len(history)
    data = page_data(two_runs[0] / REPORT_FILE)
    for chart_id, rate in (("lr", schedule), ("momentum", schedule.momentum)):
        curve = chart(data, chart_id)
        points = [[x, v] for x, v in zip(curve["x"], curve["series"][0]["values"], strict=True)]
        assert curve["x"][-1] == steps - 1
        assert expand(points, steps) == pytest.approx([rate(s) for s in range(steps)], rel=1e-5)  # 6 digits


def test_step_curve_keeps_only_change_points():
    curve = StepCurve()
    values = [0.1] * 50 + [0.05] * 30 + [0.025] * 20
    for step, value in enumerate(values):
        curve.add(step, value)
    assert curve.points == [[0, 0.1], [49, 0.1], [50, 0.05], [79, 0.05], [80, 0.025], [99, 0.025]]
    assert expand(curve.points, 100) == values


def test_performance_schedule_rates_come_from_the_history():
    from dnnconf.optim.schedules import Performance

    class Plateau(Performance):
        def __init__(self):  # the rate is only known per epoch: what the history logged
            pass

        def __call__(self, step):
            raise AssertionError("a performance schedule's rate is read from the history")

        def momentum(self, step):
            return None

    lr, momentum = StepCurve(), StepCurve()
    history = [{"epoch": 1, "lr": 0.01}, {"epoch": 2, "lr": 0.005}]
    extend_step_curves(lr, momentum, Plateau(), history, 0, 8, 4)
    assert expand(lr.points, 8) == [0.01] * 4 + [0.005] * 4
    assert momentum.points == []


def test_a_failed_write_leaves_the_old_page_and_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    page.write_page(target, "old")

    def refuse(*_):
        raise OSError(28, "No space left on device")

    from dnnconf import safe_write

    monkeypatch.setattr(safe_write, "_os_write", refuse)
    with pytest.raises(safe_write.WriteFailed, match="report.html: cannot write .the disk is full"):
        page.write_page(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_data_island_cannot_close_its_script_element():
    island = page.data_island({"config": "name: </script><script>alert(1)</script>"})
    assert "</script>" not in island
    assert json.loads(island)["config"].endswith("</script>")


def test_strings_have_both_languages_and_lang_is_checked():
    from dnnconf.errors import BadInput
    from dnnconf.report.strings import STRINGS, check_lang

    assert all(set(entry) == {"en", "zh"} and all(entry.values()) for entry in STRINGS.values())
    assert STRINGS["learning_rate"]["zh"] == "每步学习率" and "学习曲线" in STRINGS["loss_curve"]["zh"]
    with pytest.raises(BadInput, match="--lang 'fr'"):
        check_lang("fr")


def test_a_diverged_run_says_so(tmp_path, digits_run):
    from dnnconf.errors import Diverged

    digits_raw, train_run = digits_run
    with pytest.raises(Diverged):
        train_run(tmp_path / "run", digits_raw("exploding", optimizer={"name": "sgd", "learning_rate": 1e30}))
    data = page_data(tmp_path / "run" / REPORT_FILE)
    assert data["status"] == "diverged"
    assert dict(data["summary"])["stop_reason"] == "the loss became NaN or infinite"
