"""`dnnconf study NAME --quick --reference keras`: Keras's rows beside dnnconf's, and the side-by-side summary."""

import csv
import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("keras", reason="the Keras reference needs Keras 3 (pip install keras)")


def read(path):
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_optimizers_reference_rows_and_side_by_side_table(run_quick):
    code, out, rows = run_quick("optimizers", "--reference", "keras")
    assert code == 0 and rows
    both = read(out / "reference-keras" / "results.csv")
    cells = {(r["variant"], r["implementation"], r["seed"]) for r in both}
    assert cells == {(v, i, s) for v in ("sgd", "momentum", "adam") for i in ("dnnconf", "keras") for s in "01"}
    adam = [float(r["final_val_accuracy"]) for r in both if r["variant"] == "adam"]
    assert len(adam) == 4 and min(adam) > 0.3  # both implementations learn (chance is 0.1)
    summary = (out / "reference-keras" / "summary.md").read_text()
    assert "| variant | seeds | dnnconf final val acc | Keras final val acc | dnnconf − Keras |" in summary
    assert summary.count("| adam | 2 | ") == 1
    assert (out / "reference-keras" / "adam" / "seed-1.json").is_file()


def test_schedules_reference_lists_what_keras_cannot_express(run_quick):
    code, out, _ = run_quick("schedules", "--reference", "keras", "--seeds", "1")
    assert code == 0
    summary = (out / "reference-keras" / "summary.md").read_text()
    assert "| one_cycle | – | not expressible in Keras: schedule: 'one_cycle'" in summary
    implementations = {(r["variant"], r["implementation"]) for r in read(out / "reference-keras" / "results.csv")}
    assert ("performance", "keras") in implementations and ("power", "keras") in implementations
    assert ("one_cycle", "keras") not in implementations and ("one_cycle", "dnnconf") in implementations


def test_the_invocation_records_the_keras_part_and_jobs_give_the_same_runs(run_quick):
    import json

    code, one, _ = run_quick("optimizers", "--reference", "keras")
    assert code == 0
    call = json.loads((one / "study.json").read_text())["invocations"][-1]
    assert call["command"].endswith(" --quick --reference keras --out " + str(one))
    keras = call["reference"]
    assert (keras["implementation"], keras["runs"], keras["trained"], keras["read_back"], keras["jobs"]) == \
        ("keras", 6, 6, 0, 1)
    assert keras["seconds"] >= 0 and keras["finished"] and keras["refused"] == {}
    code, two, _ = run_quick("optimizers", "--reference", "keras", "--jobs", "2")
    assert code == 0
    assert json.loads((two / "study.json").read_text())["invocations"][-1]["reference"]["jobs"] == 2
    for variant in ("sgd", "momentum", "adam"):  # Keras seeds each run itself: the process does not matter
        for seed in (0, 1):
            path = f"reference-keras/{variant}/seed-{seed}.json"
            assert json.loads((two / path).read_text()) == json.loads((one / path).read_text()), path
    assert run_quick("optimizers", "--reference", "keras", "--jobs", "2")[0] == 0  # again: all read back
    again = json.loads((two / "study.json").read_text())["invocations"][-1]["reference"]
    assert (again["trained"], again["read_back"]) == (0, 6)


def test_the_variants_keras_cannot_express_are_recorded(run_quick):
    import json

    code, out, _ = run_quick("schedules", "--reference", "keras", "--seeds", "1", "--jobs", "2")
    assert code == 0
    refused = json.loads((out / "study.json").read_text())["invocations"][-1]["reference"]["refused"]
    assert "one_cycle" in refused and refused["one_cycle"].startswith("schedule: 'one_cycle'")
    assert "performance" not in refused and "power" not in refused


def test_a_studys_run_measure_is_measured_on_the_keras_runs_too(run_quick):
    from dnnconf.studies.mc_dropout import COLUMNS

    code, out, _ = run_quick("mc-dropout", "--reference", "keras")
    both = read(out / "reference-keras" / "results.csv")
    assert code == 0 and {(r["implementation"], r["seed"]) for r in both} == {(i, s) for i in ("dnnconf", "keras")
                                                                                for s in "01"}
    for row in both:
        assert 0 <= float(row["mc_test_accuracy"]) <= 1 and float(row["mc_test_nll"]) > 0, row
        assert 0 <= float(row["test_ece"]) <= 1 and 0 <= float(row["mc_test_ece"]) <= 1, row
    assert all(column in both[0] for column in COLUMNS)
    summary = (out / "reference-keras" / "summary.md").read_text()
    assert "| dnnconf MC test acc | Keras MC test acc | dnnconf − Keras |" in summary and "Not compared" not in summary
    claims = summary.split("## The note's claims, on the Keras runs")[1]  # judged on the Keras rows alone
    assert "| dropout | dropout (test ECE) | MC test ECE | < 0 | 2 |" in claims


def test_runs_that_agree_to_float_rounding_are_within_noise_not_different():
    from dnnconf.studies.keras_study import compare_implementations

    ours = [{"variant": "stuck", "seed": s, "final_val_accuracy": 0.0994, "test_accuracy": 0.1} for s in range(5)]
    theirs = [{**row, "final_val_accuracy": 0.09939999878406525, "test_accuracy": 0.10000000149011612}
              for row in ours]  # the same accuracies, as float32
    assert compare_implementations(ours, theirs, {})[0].verdict == "within noise"
    apart = [{**row, "test_accuracy": 0.1 + 0.0001 * (1 + row["seed"] % 2)} for row in ours]  # 1-2 examples
    assert compare_implementations(ours, apart, {})[0].verdict == "differs"
