"""`dnnconf study transfer --quick`: the digits analogue end to end, resumable; the statistics."""

import argparse
import math
from pathlib import Path

import pytest

from dnnconf.cli.study import add_command
from dnnconf.config import config_from_dict, load_config
from dnnconf.errors import ConfigError
from dnnconf.studies import STUDIES, get_study
from dnnconf.studies.transfer import configs, on_a, paired_difference, run_study, t_critical

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


def test_the_study_configs_are_the_shipped_examples():
    task_a, task_b = configs(42, quick=False, epochs_a=30)
    shipped = {name: load_config(EXAMPLES / f"{name}.yaml") for name in ("task_a", "task_b_scratch", "task_b_on_a")}
    ours = {"task_a": config_from_dict(task_a), "task_b_scratch": config_from_dict(task_b),
            "task_b_on_a": config_from_dict(on_a(task_b, Path("runs/transfer-task-a"), quick=False))}
    for name, config in shipped.items():
        assert config.model_copy(update={"name": "x"}) == ours[name].model_copy(update={"name": "x"}), name


def test_quick_study_end_to_end_then_resumed(tmp_path, monkeypatch):
    out = tmp_path / "study"
    result = run_study(out, seeds=2, quick=True, log=lambda *_: None)
    assert [row["seed"] for row in result["rows"]] == [0, 1]
    assert all(0 <= row[k] <= 1 for row in result["rows"] for k in ("task_a", "scratch", "on_a"))
    lines = (out / "results.csv").read_text().splitlines()
    assert lines[0] == "seed,task_a,scratch,on_a,difference" and len(lines) == 3
    summary = (out / "summary.md").read_text()
    assert "Paired difference (on A − scratch)" in summary and "Verdict: reusing task A's layers **" in summary
    assert (out / "transfer.png").stat().st_size > 1000
    assert (out / "seed-1" / "b-on-a" / "trainable.json").is_file()

    # an interrupted run resumes from its checkpoint; finished runs are read back, not retrained
    (out / "seed-1" / "b-on-a" / "metrics.json").unlink()
    trained = []
    import dnnconf.run

    real_train = dnnconf.run.train
    monkeypatch.setattr(dnnconf.run, "train", lambda *a, **k: trained.append(k.get("resume")) or real_train(*a, **k))
    again = run_study(out, seeds=3, quick=True, log=lambda *_: None)
    assert trained == [out / "seed-1" / "b-on-a", None, None, None]  # the resumed run, then seed 2's three
    assert again["rows"][:2] == result["rows"] and len(again["rows"]) == 3
    with pytest.raises(ConfigError, match="holds a study run with"):
        run_study(out, seeds=1, epochs_a=2, quick=True)


def test_the_study_command_registers_each_study():
    assert "transfer" in STUDIES and get_study("transfer").HELP
    parser = argparse.ArgumentParser()
    add_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["study", "transfer", "--seeds", "3", "--epochs-a", "7", "--quick", "--out", "x"])
    assert (args.study, args.seeds, args.epochs_a, args.quick, args.out) == ("transfer", 3, 7, True, "x")
    assert args.handler is get_study("transfer").run
    with pytest.raises(KeyError, match="known: transfer"):
        get_study("nope")
