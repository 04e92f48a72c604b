"""`dnnconf study transfer --quick`: the digits analogue end to end, resumable; the statistics."""

import argparse
import json
import math
import re
from pathlib import Path

import pytest

from dnnconf.cli import main
from dnnconf.cli.study import add_command
from dnnconf.config import config_from_dict, load_config
from dnnconf.errors import ConfigError
from dnnconf.studies import STUDIES, get_study
from dnnconf.studies.stats import paired_difference, t_critical
from dnnconf.studies.transfer import configs, on_a, run_study

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "transfer"


def test_paired_difference_and_the_t_table():
    paired = paired_difference([0.0, 0.0, 0.0], [2.0, 3.0, 4.0])
    assert (paired.mean, paired.std) == (3.0, 1.0)
    assert paired.low == pytest.approx(3 - 4.3027 / math.sqrt(3), abs=1e-4) and paired.verdict == "helps"
    assert paired_difference([2.0, 3.0, 4.0], [0.0, 0.0, 0.0]).verdict == "hurts"
    assert paired_difference([0.5, 0.6, 0.7], [0.6, 0.5, 0.7]).verdict == "no clear difference"
    assert paired_difference([0.5], [0.6]).verdict.startswith("no clear difference")
    table = (pytest.approx(2.262, abs=5e-4), pytest.approx(2.030, abs=5e-4), pytest.approx(1.962, abs=5e-4))
    assert (t_critical(9), t_critical(35), t_critical(1000)) == table  # a printed t table's values


def test_the_book_arm_is_the_shipped_examples():
    task_a, task_b = configs(42, quick=False, epochs_a=20)
    shipped = {name: load_config(EXAMPLES / f"{name}.yaml") for name in ("task_a", "task_b_scratch", "task_b_on_a")}
    ours = {"task_a": config_from_dict(task_a), "task_b_scratch": config_from_dict(task_b),
            "task_b_on_a": config_from_dict(on_a(task_b, Path("runs/transfer-task-a"), quick=False))}
    for name, config in shipped.items():
        mine = ours[name]
        mine = mine.model_copy(update={"name": "x", "training": mine.training.model_copy(update={"threads": None})})
        assert config.model_copy(update={"name": "x"}) == mine, name


def test_the_arms_differ_in_scaling_optimizer_and_schedule_only():
    book_a, book_b = (config_from_dict(raw) for raw in configs(0, quick=False, epochs_a=20, arm="book"))
    own_a, own_b = (config_from_dict(raw) for raw in configs(0, quick=False, epochs_a=20, arm="dnnconf"))
    assert (book_b.data.normalize, book_b.optimizer.name, book_b.optimizer.model_dump()["momentum"],
            book_b.optimizer.model_dump()["learning_rate"], book_b.schedule["name"]) == ("minmax", "sgd", 0.0, 1e-3,
                                                                                      "constant")
    assert (own_b.data.normalize, own_b.optimizer.model_dump()["nesterov"], own_b.schedule["name"]) == \
        ("standardize", True, "performance")
    for book, own in ((book_a, own_a), (book_b, own_b)):
        assert (book.model, book.training, book.data.classes, book.data.train_limit) == \
            (own.model, own.training, own.data.classes, own.data.train_limit)
    assert (book_a.training.epochs, book_b.training.epochs) == (20, 20)


def test_quick_study_end_to_end_then_resumed(tmp_path, monkeypatch):
    out = tmp_path / "study"
    result = run_study(out, seeds=2, quick=True, log=lambda *_: None)
    assert [(row["arm"], row["implementation"], row["seed"]) for row in result["rows"]] == \
        [("book", "dnnconf", 0), ("book", "dnnconf", 1)]
    assert all(0.5 < row[k] <= 1 for row in result["rows"] for k in ("task_a", "scratch", "on_a"))  # above chance
    lines = (out / "results.csv").read_text().splitlines()
    assert lines[0] == "arm,implementation,seed,task_a,scratch,on_a,difference" and len(lines) == 3
    summary = (out / "summary.md").read_text()
    assert "## Arm `book`" in summary and "on A − scratch, 95% CI" in summary and "Keras" not in summary
    assert (out / "transfer.png").stat().st_size > 1000
    assert (out / "book" / "seed-1" / "b-on-a" / "trainable.json").is_file()
    saved = json.loads((out / "study.json").read_text())
    assert (saved["study"], saved["quick"], saved["epochs_a"], saved["layout"]) == ("transfer", True, 5, "arms")
    call = saved["invocations"][-1]
    assert call["command"] == f"dnnconf study transfer --seeds 2 --epochs-a 5 --arm book --quick --out {out}"
    assert (call["runs"], call["trained"], call["jobs"]) == (6, 6, 1) and call["seconds"] >= 0 and call["finished"]

    # an interrupted run resumes from its checkpoint; finished runs are read back, not retrained
    (out / "book" / "seed-1" / "b-on-a" / "metrics.json").unlink()
    trained = []
    import dnnconf.run

    real_train = dnnconf.run.train
    monkeypatch.setattr(dnnconf.run, "train", lambda *a, **k: trained.append(k.get("resume")) or real_train(*a, **k))
    again = run_study(out, seeds=3, quick=True, log=lambda *_: None)
    assert trained == [out / "book" / "seed-1" / "b-on-a", None, None, None]  # the resumed run, then seed 2's three
    assert again["rows"][:2] == result["rows"] and len(again["rows"]) == 3
    calls = json.loads((out / "study.json").read_text())["invocations"]
    assert len(calls) == 2 and (calls[-1]["runs"], calls[-1]["trained"]) == (9, 4)  # the resumed run, seed 2's three
    page = tmp_path / "page" / "studies.md"  # the page's how-measured table shows the commands and the time
    assert main(["study", "report", str(out), "--out", str(page)]) == 0
    assert re.search(r"^\| transfer \| `dnnconf study transfer --seeds 2 --epochs-a 5 --arm book --quick`<br>`dnnconf "
                     r"study transfer --seeds 3 --epochs-a 5 --arm book --quick` \| 9 \| \d{4}-.* UTC \| \d+\.\d min "
                     r"\(2 invocations\) \| ", page.read_text(), re.M)
    with pytest.raises(ConfigError, match="holds a study run with"):
        run_study(out, seeds=1, epochs_a=2, quick=True)


def test_quick_dnnconf_arm_joins_the_book_arm_in_one_summary(tmp_path):
    out = tmp_path / "study"
    run_study(out, seeds=2, quick=True, log=lambda *_: None)
    result = run_study(out, seeds=2, quick=True, log=lambda *_: None, arms=("dnnconf",))
    assert sorted({(row["arm"], row["seed"]) for row in result["rows"]}) == \
        [("book", 0), ("book", 1), ("dnnconf", 0), ("dnnconf", 1)]
    assert all(0.5 < row["scratch"] and 0.5 < row["on_a"] for row in result["rows"])
    summary = (out / "summary.md").read_text()
    assert "## Arm `book`: the book's recipe" in summary and "## Arm `dnnconf`: dnnconf's defaults" in summary
    assert (out / "dnnconf" / "seed-0" / "b-on-a" / "metrics.json").is_file()


def test_quick_keras_reference_side_by_side(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    pytest.importorskip("keras", reason="the Keras reference needs Keras 3 (pip install keras)")
    out = tmp_path / "study"
    result = run_study(out, seeds=2, quick=True, log=lambda *_: None, reference="keras")
    keras_rows = [row for row in result["rows"] if row["implementation"] == "keras"]
    assert [row["seed"] for row in keras_rows] == [0, 1]
    assert all(0.5 < row[k] <= 1 for row in result["rows"] for k in ("scratch", "on_a"))  # both learn task B
    assert all(row["task_a"] > 0.5 for row in result["rows"])  # 8 classes: chance is 0.125
    assert (out / "reference-keras" / "book" / "seed-1.json").is_file()
    summary = (out / "summary.md").read_text()
    assert "dnnconf beside Keras on the 2 seeds both ran" in summary
    assert "| measure | dnnconf | Keras | dnnconf − Keras, 95% CI | |" in summary
    for measure in ("task A", "B from scratch", "B on A", "on A − scratch"):
        assert f"| {measure} | " in summary
    assert "| keras | 2 |" in summary and "| dnnconf | 2 |" in summary
    call = json.loads((out / "study.json").read_text())["invocations"][-1]
    assert call["command"].endswith(" --arm book --reference keras --quick --out " + str(out))
    assert (call["trained"], call["reference"]["trained"], call["reference"]["read_back"]) == (6, 6, 0)
    assert call["reference"]["seconds"] >= 0


def test_a_folder_of_the_former_study_json_is_continued_and_gains_the_record(tmp_path):
    out = tmp_path / "study"
    out.mkdir()
    (out / "study.json").write_text(json.dumps({"quick": True, "epochs_a": 5, "layout": "arms"}))  # before the record
    run_study(out, seeds=1, quick=True, log=lambda *_: None)
    saved = json.loads((out / "study.json").read_text())
    assert (saved["epochs_a"], len(saved["invocations"]), saved["invocations"][0]["trained"]) == (5, 1, 3)


def test_the_study_command_registers_each_study():
    assert "transfer" in STUDIES and get_study("transfer").HELP
    parser = argparse.ArgumentParser()
    add_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["study", "transfer", "--seeds", "3", "--epochs-a", "7", "--quick", "--out", "x"])
    assert (args.study, args.seeds, args.epochs_a, args.quick, args.out) == ("transfer", 3, 7, True, "x")
    assert args.handler is get_study("transfer").run
    with pytest.raises(KeyError, match="known: transfer"):
        get_study("nope")


def test_reference_keras_without_keras_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    import sys

    from dnnconf.cli import main

    monkeypatch.setitem(sys.modules, "keras", None)  # `import keras` raises ImportError
    out = tmp_path / "study"
    assert main(["study", "transfer", "--quick", "--reference", "keras", "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.endswith("--reference keras: Keras 3 is not installed; pip install keras") and "\n" not in error
    assert not out.exists()
