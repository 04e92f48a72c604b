import csv
import json

import numpy as np
import pytest

from dnnconf import cli
from dnnconf.config import config_from_dict
from dnnconf.data import load_data, write_idx
from dnnconf.run import train
from dnnconf.train.run_folder.loading import load_run
from dnnconf.uncertainty.mc_dropout import mc_predict, plain_predict


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A small trained run on scikit-learn's digits (8x8 images, values 0..16), dropout on two layers."""
    folder = tmp_path_factory.mktemp("runs") / "digits"
    config = config_from_dict({
        "name": "digits-mc", "data": {"dataset": "digits", "valid_size": 0.15},
        "model": {"hidden": [32, 16], "dropout": {"rate": 0.2, "top_layers": 2}},
        "schedule": {"name": "constant"}, "training": {"epochs": 2, "batch_size": 64},
    })
    train(config, folder, quiet=True, log=lambda *_: None)
    return folder


@pytest.fixture(scope="module")
def raw_test(run):
    """Raw (unnormalized) digits images of the run's test split, and their labels."""
    from dnnconf.data.sources import load_digits

    config, _ = load_run(run)
    raw = load_digits()
    order = np.random.default_rng(config.data.split_seed).permutation(len(raw.x_train))
    test = order[: max(1, round(config.data.test_size * len(raw.x_train)))]
    return raw.x_train[test], raw.y_train[test]


@pytest.fixture
def dnnconf():
    """`dnnconf ARGS` through the command line's entry point."""
    return cli.main


def test_raw_test_split_matches_the_runs_data(run, raw_test):
    config, _ = load_run(run)
    dataset = load_data(config.data)  # raw: the network's first layer normalizes
    np.testing.assert_allclose(raw_test[0], dataset.x_test.numpy(), atol=1e-6)


@pytest.mark.parametrize("kind", ["npz", "npz_test", "csv", "csv_header", "idx", "idx_gz", "flat_npz"])
def test_predict_inputs_normalized_like_training(run, raw_test, tmp_path, dnnconf, kind, capsys):
    x, _ = raw_test
    x = x[:40]
    path = tmp_path / {"npz": "in.npz", "npz_test": "in.npz", "flat_npz": "in.npz", "csv": "in.csv",
                       "csv_header": "in.csv", "idx": "in-idx3-ubyte", "idx_gz": "in.idx.gz"}[kind]
    if kind == "npz":
        np.savez(path, x=x)
    elif kind == "npz_test":
        np.savez(path, x_test=x, y_test=np.zeros(len(x)))
    elif kind == "flat_npz":
        np.savez(path, x=x.reshape(len(x), -1))
    elif kind.startswith("csv"):
        with open(path, "w", newline="") as file:
            writer = csv.writer(file)
            if kind == "csv_header":
                writer.writerow([f"px{i}" for i in range(64)])
            writer.writerows(x.reshape(len(x), -1).tolist())
    else:
        write_idx(path, x.astype(np.uint8), gzip=kind == "idx_gz")
    out = tmp_path / "pred.csv"
    assert dnnconf(["predict", str(run), "--input", str(path), "--mc-samples", "8", "--seed", "3",
                    "--output", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    rows = list(csv.reader(out.open()))
    header = [f"p_{i}" for i in range(10)] + [f"std_{i}" for i in range(10)]
    assert rows[0] == ["pred", *header, "entropy", "mutual_information"]
    values = np.array(rows[1:], dtype=np.float64)
    assert values.shape == (40, 23)
    config, network = load_run(run)
    dataset = load_data(config.data)
    expected = mc_predict(network, dataset.x_test[:40], 8, seed=3)
    np.testing.assert_array_equal(values[:, 0], expected.pred)
    np.testing.assert_allclose(values[:, 1:11], expected.mean, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(values[:, 21], expected.entropy, rtol=1e-4, atol=1e-6)


def test_predict_npz_output_and_plain_mode(run, raw_test, tmp_path, dnnconf, capsys):
    path = tmp_path / "in.npz"
    np.savez(path, x=raw_test[0][:30])
    out = tmp_path / "pred.npz"
    assert dnnconf(["predict", str(run), "--input", str(path), "--output", str(out)]) == 0
    with np.load(out) as saved:
        assert set(saved.files) == {"pred", "mean", "entropy"}
        config, network = load_run(run)
        plain = plain_predict(network, load_data(config.data).x_test[:30])
        np.testing.assert_allclose(saved["mean"], plain.mean, rtol=1e-5, atol=1e-7)
    capsys.readouterr()
    assert dnnconf(["predict", str(run), "--input", str(path), "--mc-samples", "5"]) == 0
    printed = capsys.readouterr().out
    assert "30 examples, MC dropout, 5 samples" in printed and "mutual_information" in printed
    assert "20 more" in printed and "predicted classes" in printed


@pytest.mark.parametrize("shape", [(5, 7, 7), (5, 63), (64,), (3, 8, 8, 1)])
def test_wrong_shape_exits_2_with_one_line(run, tmp_path, dnnconf, capsys, shape):
    path = tmp_path / "bad.npz"
    np.savez(path, x=np.zeros(shape))
    assert dnnconf(["predict", str(run), "--input", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(path) in err and str(shape) in err and "(N, 8, 8)" in err and "(N, 64)" in err


def test_a_single_example_is_accepted(run, tmp_path, dnnconf, capsys):
    path = tmp_path / "one.npz"
    np.savez(path, x=np.zeros((8, 8)))
    assert dnnconf(["predict", str(run), "--input", str(path)]) == 0
    assert "1 examples" in capsys.readouterr().out


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"), ("format", "unknown format"), ("keys", "needs an array 'x'"),
    ("text", "is not a number"), ("output", "write .csv or .npz"), ("samples", "must be at least 1"),
])
def test_bad_input_exits_2_with_one_line(run, tmp_path, dnnconf, capsys, case, message):
    path = tmp_path / "in.npz"
    np.savez(path, x=np.zeros((2, 64)))
    extra = []
    if case == "missing":
        path = tmp_path / "nothing.npz"
    elif case == "format":
        path = tmp_path / "in.txt"
        path.write_text("1 2 3")
    elif case == "keys":
        np.savez(path, images=np.zeros((2, 64)))
    elif case == "text":
        path = tmp_path / "in.csv"
        path.write_text("1,2\n3,x\n")
    elif case == "output":
        extra = ["--output", str(tmp_path / "out.json")]
    else:
        extra = ["--mc-samples", "0"]
    assert dnnconf(["predict", str(run), "--input", str(path), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_evaluate_with_mc_samples(run, dnnconf, capsys):
    assert dnnconf(["evaluate", str(run), "--mc-samples", "10", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    for metric in ("accuracy", "nll", "brier", "ece"):
        assert metric in printed
    saved = json.loads((run / "mc_metrics.json").read_text())
    assert saved["samples"] == 10 and saved["seed"] == 1 and saved["split"] == "test"
    assert set(saved["plain"]) == set(saved["mc"]) == {"accuracy", "nll", "brier", "ece"}
    assert (run / "plots" / "reliability.png").is_file() and (run / "plots" / "uncertainty.png").is_file()
    # the plain column is the usual evaluation: its NLL is the test loss
    from dnnconf.model import evaluate_run

    assert saved["plain"]["nll"] == pytest.approx(evaluate_run(run)["loss"], rel=1e-4)
    assert saved["plain"]["accuracy"] == pytest.approx(evaluate_run(run)["accuracy"])
    assert dnnconf(["evaluate", str(run), "--mc-samples", "0"]) == 2
    capsys.readouterr()
    assert dnnconf(["evaluate", str(run)]) == 0  # without MC: as before
    assert capsys.readouterr().out.startswith("test: loss")


def test_evaluate_mc_is_reproducible(run):
    from dnnconf.model import Model
    from dnnconf.uncertainty.evaluation import evaluate_mc

    a = evaluate_mc(Model.load(run), run, 4, seed=2, plots=False)
    b = evaluate_mc(Model.load(run), run, 4, seed=2, plots=False)
    assert a["mc"] == b["mc"]


@pytest.mark.parametrize("dtype", ["float32", "float16", "int8"])
def test_predict_runs_exported_models_like_trained_ones(run, raw_test, tmp_path, dnnconf, capsys, dtype):
    from dnnconf.exporting.exporter import export_run

    export = tmp_path / f"export-{dtype}"
    export_run(run, dtype=dtype, out=export, measure_latency=False, log=lambda *_: None)
    path = tmp_path / "in.npz"
    np.savez(path, x=raw_test[0][:30])
    ours, theirs = tmp_path / "run.npz", tmp_path / "export.npz"
    assert dnnconf(["predict", str(run), "--input", str(path), "--output", str(ours)]) == 0
    assert dnnconf(["predict", str(export), "--input", str(path), "--output", str(theirs)]) == 0
    with np.load(ours) as a, np.load(theirs) as b:
        tolerance = {"float32": 1e-6, "float16": 1e-2, "int8": 5e-2}[dtype]
        np.testing.assert_allclose(a["mean"], b["mean"], atol=tolerance)
        assert (a["pred"] == b["pred"]).mean() > 0.9
