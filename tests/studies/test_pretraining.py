"""`dnnconf study pretraining --quick`: the digits analogue end to end, resumable; configs = the examples."""

import argparse
import csv
import json
import math
from pathlib import Path

import pytest

from dnnconf.cli.study import add_command
from dnnconf.config import config_from_dict, load_config
from dnnconf.errors import BadInput, ConfigError
from dnnconf.studies import get_study
from dnnconf.studies.pretraining import configs, parse_labels, run_study

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pretraining"


def test_the_study_configs_are_the_shipped_examples():
    scratch, pretrained = configs(42, 500, quick=False, epochs=10, method="autoencoder")
    assert load_config(EXAMPLES / "fashion_mnist_500_scratch.yaml") == config_from_dict(scratch)
    assert load_config(EXAMPLES / "fashion_mnist_500_autoencoder.yaml") == config_from_dict(pretrained)


def test_quick_study_writes_its_outputs_then_resumes(tmp_path, monkeypatch):
    out = tmp_path / "study"
    result = run_study(out, seeds=2, labels=[30], quick=True, log=lambda *_: None)
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["seed", "labels", "scratch", "pretrained", "difference"]
    assert [(row["seed"], row["labels"]) for row in rows] == [("0", "30"), ("1", "30")]
    values = [float(row[k]) for row in rows for k in ("scratch", "pretrained", "difference")]
    assert all(math.isfinite(v) for v in values) and all(0 <= float(r["scratch"]) <= 1 for r in rows)
    assert rows[0]["scratch"] != rows[1]["scratch"]  # different seeds, different runs
    summary = (out / "summary.md").read_text()
    assert "| 30 |" in summary and result["per_count"][30]["paired"].verdict in summary
    assert (out / "pretraining.png").stat().st_size > 1000
    encoders = [(out / f"seed-{s}" / "pretrain" / "encoder.safetensors").read_bytes() for s in (0, 1)]
    assert encoders[0] != encoders[1]  # one pretraining a seed
    assert not (out / "seed-0" / "pretrained-30" / "pretrain").exists()  # the run reuses the seed's pretraining

    # finished runs and pretrainings are read back; more labels add runs that reuse the seed's pretraining
    import dnnconf.reuse.pretrain
    import dnnconf.run

    trained, pretrained = [], []
    real_train, real_pretrain = dnnconf.run.train, dnnconf.reuse.pretrain.pretrain
    monkeypatch.setattr(dnnconf.run, "train", lambda *a, **k: trained.append(a[1]) or real_train(*a, **k))
    monkeypatch.setattr(dnnconf.reuse.pretrain, "pretrain", lambda *a, **k: pretrained.append(a[1]) or
                        real_pretrain(*a, **k))
    again = run_study(out, seeds=1, labels=[30, 60], quick=True, log=lambda *_: None)
    assert trained == [out / "seed-0" / "scratch-60", out / "seed-0" / "pretrained-60"] and pretrained == []
    assert again["rows"][0] == result["rows"][0]
    calls = json.loads((out / "study.json").read_text())["invocations"]
    assert [call["command"] for call in calls] == [
        f"dnnconf study pretraining --seeds 2 --labels 30 --pretrain-epochs 3 --method autoencoder --quick --out {out}",
        f"dnnconf study pretraining --seeds 1 --labels 30,60 --pretrain-epochs 3 --method autoencoder --quick --out "
        f"{out}"]
    assert [(call["runs"], call["trained"]) for call in calls] == [(6, 6), (5, 2)]  # 1 pretraining + 2 a label count
    with pytest.raises(ConfigError, match="holds a study run with"):
        run_study(out, seeds=1, pretrain_epochs=2, quick=True)


def test_label_counts_are_checked():
    assert parse_labels(None, quick=False) == [100, 500, 2000] and parse_labels("500,100", quick=False) == [100, 500]
    for bad in ("a,b", "0,10", "10,10", ""):
        with pytest.raises(BadInput, match="--labels"):
            parse_labels(bad, quick=False)


def test_the_study_is_a_subcommand():
    parser = argparse.ArgumentParser()
    add_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["study", "pretraining", "--seeds", "3", "--labels", "10,20", "--quick",
                              "--method", "greedy_layerwise", "--pretrain-epochs", "2", "--out", "x"])
    assert (args.seeds, args.labels, args.quick, args.method, args.pretrain_epochs, args.out) == (
        3, "10,20", True, "greedy_layerwise", 2, "x")
    assert args.handler is get_study("pretraining").run
