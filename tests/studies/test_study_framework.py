"""The study framework: resuming, --jobs, diverged runs as rows, bad options, the config merge."""

import argparse
import json

import pytest

from dnnconf.errors import ConfigError
from dnnconf.studies.framework import Options, Study, Variant, merge, options_from
from dnnconf.studies.optimizers import FULL, QUICK
from dnnconf.studies.runner import run_study


def test_a_second_invocation_reads_finished_runs_back(run_quick, check_outputs, capsys):
    code, out, rows = run_quick("optimizers", "--seeds", "1")
    assert code == 0 and len(rows) == 3
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/seed-*/study-row.json")}
    capsys.readouterr()
    code, out, again = run_quick("optimizers", "--seeds", "2")  # one more seed: only the new runs train
    printed = capsys.readouterr().out
    assert code == 0 and "3 of 6 runs already finished (read back)" in printed
    assert printed.count("seed 1:") == 3 and "seed 0:" not in printed
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert [r for r in again if r["seed"] == "0"] == rows
    check_outputs(out, again, "optimizers", ["optimizer"], variants=3)
    code, _, _ = run_quick("optimizers", "--epochs", "3")  # another profile in the same folder: refused
    assert code == 2 and "holds a study run with" in capsys.readouterr().err


def test_jobs_two_runs_in_worker_processes(run_quick, check_outputs):
    code, out, rows = run_quick("regularization", "--jobs", "2", "--seeds", "1")
    assert code == 0
    check_outputs(out, rows, "regularization", ["regularization", "early_stopping"], variants=3, seeds=1)


def test_a_diverged_run_is_a_row_not_a_crash(tmp_path):
    # per-pixel statistics: with them η = 1e6 gives NaN for both seeds (with per-channel ones, seed 1's loss
    # stays finite for these 2 epochs)
    base = {"data": {"normalize_axis": "feature"}, "model": {"hidden": [32]}, "schedule": {"name": "constant"},
            "training": {"early_stopping": None}}
    study = Study("toy", "toy", base, [Variant("fine", {"lr": "0.01"}, {"optimizer": {"learning_rate": 0.01}}),
                                       Variant("huge", {"lr": "1e6"}, {"optimizer": {"learning_rate": 1e6}})])
    options = Options(seeds=2, epochs=2, dataset="digits", train_size=200, out=tmp_path / "toy", jobs=1, quick=True)
    rows = run_study(study, options, log=lambda *_: None)
    assert [(r["variant"], r["diverged"]) for r in rows] == [("fine", 0), ("huge", 1), ("fine", 0), ("huge", 1)]
    text = (tmp_path / "toy" / "results.csv").read_text()
    assert ",nan," not in text.lower() and ",inf," not in text.lower()  # an unknown number is an empty cell
    assert "| huge |" not in (tmp_path / "toy" / "summary.md").read_text()  # labelled by its columns
    assert "| 1e6 | 2 | 2 |" in (tmp_path / "toy" / "summary.md").read_text()
    saved = json.loads((tmp_path / "toy" / "huge" / "seed-0" / "study-row.json").read_text())
    assert saved["diverged"] == 1 and "NaN" in saved["stop_reason"]


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "0"], "--seeds: 0 must be at least 1"),
    (["--epochs", "-1"], "--epochs: -1 must be at least 1"),
    (["--train-size", "0"], "--train-size: 0 must be at least 1"),
    (["--jobs", "64"], "--jobs 64 × --threads 1: more than the"),
])
def test_bad_options_name_the_option(run_quick, capsys, argv, message):
    code, _, _ = run_quick("init", *argv)
    assert code == 2 and message in capsys.readouterr().err


def test_an_unknown_dataset_exits_2(run_quick, capsys):
    with pytest.raises(SystemExit) as exit_:
        run_quick("init", "--dataset", "cifar")
    assert exit_.value.code == 2 and "invalid choice: 'cifar'" in capsys.readouterr().err


def test_a_train_size_that_is_neither_a_count_nor_all_exits_2(run_quick, capsys):
    with pytest.raises(SystemExit) as exit_:
        run_quick("init", "--train-size", "some")
    assert exit_.value.code == 2 and "received 'some' (accepted: all, or 1.." in capsys.readouterr().err


def test_options_come_from_the_profile():
    def args(**given):
        defaults = {"seeds": None, "epochs": None, "dataset": None, "train_size": None, "out": "x", "jobs": 1,
                    "threads": None, "quick": False}
        return argparse.Namespace(**{**defaults, **given})

    full = options_from(args(), FULL, QUICK)
    assert (full.epochs, full.seeds, full.train_size) == (10, 5, None)  # 5 seeds; the whole set, as published
    assert options_from(args(train_size=10000), FULL, QUICK).train_size == 10000
    assert options_from(args(quick=True, train_size="all"), FULL, QUICK).train_size is None
    quick = options_from(args(quick=True, seeds=4), FULL, QUICK)
    assert (quick.dataset, quick.train_size, quick.seeds, quick.epochs) == ("digits", 300, 4, 2)
    assert options_from(args(quick=True, dataset="fashion_mnist"), FULL, QUICK).train_size is None
    with pytest.raises(ConfigError, match="--seeds"):
        options_from(args(seeds=0), FULL, QUICK)


def test_merge_is_deep_and_copies():
    base = {"model": {"hidden": [1], "activation": "relu"}, "training": {"epochs": 3}}
    merged = merge(base, {"model": {"activation": "selu"}, "schedule": {"name": "constant"}})
    assert merged == {"model": {"hidden": [1], "activation": "selu"}, "training": {"epochs": 3},
                      "schedule": {"name": "constant"}}
    merged["model"]["hidden"].append(2)
    assert base["model"]["hidden"] == [1]


def _toy(variants):
    base = {"model": {"hidden": [32]}, "schedule": {"name": "constant"}, "training": {"early_stopping": None}}
    return Study("toy", "toy", base, variants)


def test_vectorize_batches_a_variants_seeds_and_matches_seed_by_seed(tmp_path):
    variants = [Variant("sgd", {"optimizer": "sgd"}, {"optimizer": {"name": "sgd", "learning_rate": 0.05}}),
                Variant("adam", {"optimizer": "adam"}, {"optimizer": {"name": "adam", "learning_rate": 0.003}})]
    common = {"seeds": 3, "epochs": 2, "dataset": "digits", "train_size": 300, "jobs": 1, "quick": True}
    one_by_one = run_study(_toy(variants), Options(out=tmp_path / "solo", **common), log=lambda *_: None)
    batched = run_study(_toy(variants), Options(out=tmp_path / "vec", vectorize=True, **common), log=lambda *_: None)
    assert [(r["variant"], r["seed"]) for r in batched] == [(r["variant"], r["seed"]) for r in one_by_one]
    for solo, member in zip(one_by_one, batched, strict=True):
        assert member["final_val_loss"] == pytest.approx(solo["final_val_loss"], rel=1e-4)
        assert member["test_accuracy"] == pytest.approx(solo["test_accuracy"], abs=0.01)
    for variant in ("sgd", "adam"):  # one batched run a variant, its members in the study's seed folders
        assert (tmp_path / "vec" / variant / "members.csv").is_file()
        assert (tmp_path / "solo" / variant / "seed-2" / "study-row.json").is_file()
        assert not (tmp_path / "solo" / variant / "members.csv").exists()


def test_vectorize_runs_what_it_cannot_batch_seed_by_seed(tmp_path):
    base = {"model": {"layers": [{"conv2d": {"filters": 2, "kernel_size": 3}}, {"flatten": {}}]},
            "schedule": {"name": "constant"}, "training": {"early_stopping": None}}
    study = Study("toy", "toy", base, [Variant("conv", {"model": "conv"})])
    options = Options(seeds=2, epochs=1, dataset="digits", train_size=200, out=tmp_path / "vec", jobs=1, quick=True,
                      vectorize=True)
    rows = run_study(study, options, log=lambda *_: None)
    assert [r["seed"] for r in rows] == [0, 1] and all(r["diverged"] == 0 for r in rows)
    assert not (tmp_path / "vec" / "conv" / "members.csv").exists()


def test_every_full_profile_has_five_seeds_and_the_published_ones_the_whole_set():
    from dnnconf.studies import STUDIES, get_study

    profiles = {name: get_study(name).FULL for name in STUDIES if hasattr(get_study(name), "FULL")}
    assert len(profiles) == 8 and all(profile.seeds == 5 for profile in profiles.values())
    assert all(profiles[name].train_size is None for name in ("optimizers", "schedules", "selu-deep", "mc-dropout"))


def test_train_size_all_on_the_command_line(run_quick):
    code, out, rows = run_quick("optimizers", "--seeds", "1", "--train-size", "all", "--epochs", "1")
    saved = json.loads((out / "study.json").read_text())
    assert code == 0 and saved["train_size"] is None and "--train-size all" in saved["invocations"][0]["command"]


def test_study_json_records_each_invocation_and_keeps_refusing_another_profile(run_quick, capsys):
    code, out, _ = run_quick("optimizers", "--seeds", "1")
    code, out, _ = run_quick("optimizers", "--seeds", "2")
    saved = json.loads((out / "study.json").read_text())
    assert code == 0 and (saved["study"], saved["epochs"], saved["dataset"], saved["train_size"]) == \
        ("optimizers", 2, "digits", 300)
    first, second = saved["invocations"]
    assert (first["trained"], second["trained"], second["runs"]) == (3, 3, 6)
    assert first["started"] <= first["finished"] <= second["started"] and first["machine"]["cpus"] >= 1
    assert second["command"].startswith("dnnconf study optimizers --seeds 2 --epochs 2 --dataset digits")
    old = {"epochs": 2, "dataset": "digits", "train_size": 300}  # a folder from before the invocation record
    (out / "study.json").write_text(json.dumps(old))
    assert run_quick("optimizers", "--seeds", "2")[0] == 0
    assert len(json.loads((out / "study.json").read_text())["invocations"]) == 1
    (out / "study.json").write_text(json.dumps({**old, "epochs": 3}))
    assert run_quick("optimizers", "--seeds", "2")[0] == 2 and "holds a study run with" in capsys.readouterr().err
