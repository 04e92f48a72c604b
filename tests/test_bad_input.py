"""Bad input anywhere: one line on stderr naming the file, key or value, exit code 2, no traceback, and
nothing already written is lost. The README's failure table lists these cases."""

import os
import subprocess
import sys

import numpy as np
import pytest

from dnnconf.data.idx import write_idx

BASE = "name: bad\nmodel: {hidden: [8]}\nschedule: {name: constant}\ntraining: {epochs: 1}\n"


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "dnnconf", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def fashion_files(folder, images=None, labels=None):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("t10k", 10)):
        write_idx(folder / f"{split}-images-idx3-ubyte", rng.integers(0, 255, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    return folder


def case_malformed_yaml(tmp):
    (tmp / "c.yaml").write_text("model: {hidden: [8\n")
    return ["c.yaml"], ["malformed YAML", "line"]


def case_negative_rate(tmp):
    (tmp / "c.yaml").write_text(BASE + "optimizer: {name: sgd, learning_rate: -0.1}\n")
    return ["c.yaml"], ["optimizer.learning_rate", "-0.1"]


def case_dropout_one(tmp):
    (tmp / "c.yaml").write_text(BASE.replace("hidden: [8]", "hidden: [8], dropout: {rate: 1.0}"))
    return ["c.yaml"], ["model.dropout.rate", "1.0"]


def case_empty_hidden(tmp):
    (tmp / "c.yaml").write_text(BASE.replace("[8]", "[]"))
    return ["c.yaml"], ["model.hidden", "[]"]


def case_batch_size_zero(tmp):
    # one training section (a second one is now refused as a duplicate key, not silently the last)
    (tmp / "c.yaml").write_text(BASE.replace("training: {epochs: 1}", "training: {epochs: 1, batch_size: 0}"))
    return ["c.yaml"], ["training.batch_size", "0"]


def case_missing_data_folder(tmp):
    (tmp / "c.yaml").write_text(BASE + f"data: {{dataset: fashion_mnist, path: {tmp / 'nowhere'}}}\n")
    return ["c.yaml"], ["data.path", "nowhere"]


def case_truncated_idx(tmp):
    folder = fashion_files(tmp / "fm")
    data = (folder / "train-images-idx3-ubyte").read_bytes()
    (folder / "train-images-idx3-ubyte").write_bytes(data[:1000])
    (tmp / "c.yaml").write_text(BASE + f"data: {{dataset: fashion_mnist, path: {folder}, valid_size: 5}}\n")
    return ["c.yaml"], ["train-images-idx3-ubyte"]


def case_wrong_magic(tmp):
    folder = fashion_files(tmp / "fm")
    (folder / "t10k-labels-idx1-ubyte").write_bytes(b"\x12\x34\x56\x78" + bytes(14))
    (tmp / "c.yaml").write_text(BASE + f"data: {{dataset: fashion_mnist, path: {folder}, valid_size: 5}}\n")
    return ["c.yaml"], ["t10k-labels-idx1-ubyte", "magic"]


def case_mismatched_counts(tmp):
    folder = fashion_files(tmp / "fm")
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(39, dtype=np.uint8))
    (tmp / "c.yaml").write_text(BASE + f"data: {{dataset: fashion_mnist, path: {folder}, valid_size: 5}}\n")
    return ["c.yaml"], ["39 labels for 40 images"]


def case_class_out_of_range(tmp):
    (tmp / "c.yaml").write_text(BASE + "data: {dataset: digits, valid_size: 0.15, classes: [3, 12]}\n")
    return ["c.yaml"], ["data.classes", "12"]


def case_nan_in_inputs(tmp):
    x = np.random.default_rng(0).normal(size=(50, 4))
    x[3, 2] = np.nan
    np.savez(tmp / "d.npz", x=x, y=np.arange(50) % 2)
    (tmp / "c.yaml").write_text(BASE + f"data: {{dataset: npz, path: {tmp / 'd.npz'}, valid_size: 0.2}}\n")
    return ["c.yaml"], ["d.npz", "NaN"]


def case_npz_missing_key(tmp):
    np.savez(tmp / "d.npz", features=np.zeros((10, 2)))
    (tmp / "c.yaml").write_text(BASE + f"data: {{dataset: npz, path: {tmp / 'd.npz'}}}\n")
    return ["c.yaml"], ["d.npz", "x"]


def case_not_a_run_folder(tmp):
    (tmp / "c.yaml").write_text(BASE + "data: {dataset: digits, valid_size: 0.15}\n")
    (tmp / "empty").mkdir()
    return ["c.yaml", "--resume", "empty"], ["empty", "not a run folder"]


def case_yaml_alias_bomb(tmp):
    levels = "".join(f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True))
    (tmp / "c.yaml").write_text('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + levels)
    return ["c.yaml"], ["c.yaml", "line 1", "anchors and aliases"]


def case_empty_config(tmp):
    (tmp / "c.yaml").write_text("# nothing yet\n")
    return ["c.yaml"], ["c.yaml", "is empty", "{}"]


def case_duplicate_key(tmp):
    (tmp / "c.yaml").write_text(BASE + "training: {epochs: 2}\n")
    return ["c.yaml"], ["c.yaml", "line 5", "duplicate key 'training'", "first at line 4"]


def case_nested_beyond_recursion(tmp):
    (tmp / "c.yaml").write_text(BASE + "data: " + "[" * 100_000 + "]" * 100_000 + "\n")
    return ["c.yaml"], ["c.yaml", "nested more than"]


def case_config_is_a_folder(tmp):
    (tmp / "c.yaml").mkdir()
    return ["c.yaml"], ["c.yaml", "is a folder"]


def case_config_is_dev_zero(tmp):
    return ["/dev/zero"], ["/dev/zero", "not a regular file"]


def case_config_is_a_fifo(tmp):
    os.mkfifo(tmp / "c.yaml")  # no writer: opening it for reading would block forever
    return ["c.yaml"], ["c.yaml", "not a regular file"]


def case_set_through_a_number(tmp):
    (tmp / "c.yaml").write_text(BASE)
    return ["c.yaml", "--set", "training.epochs.x=1"], ["training.epochs is a single value (1)"]


def case_seed_beyond_int64(tmp):
    (tmp / "c.yaml").write_text(BASE + f"seed: {2**64}\n")
    return ["c.yaml"], ["seed", "18446744073709551616"]


def case_negative_split_seed(tmp):
    (tmp / "c.yaml").write_text(BASE + "data: {dataset: digits, split_seed: -1}\n")
    return ["c.yaml"], ["data.split_seed", "-1"]


def case_threads_unbounded(tmp):
    (tmp / "c.yaml").write_text(BASE)
    return ["c.yaml", "--set", "training.threads=100000"], ["training.threads", "256"]


def case_parallel_seeds_unbounded(tmp):
    (tmp / "c.yaml").write_text(BASE)
    return ["c.yaml", "--set", "training.parallel_seeds=100000"], ["training.parallel_seeds", "1024"]


def case_layer_too_wide_for_memory(tmp):
    (tmp / "c.yaml").write_text(BASE.replace("[8]", "[500000000]") + "data: {dataset: digits, valid_size: 0.15}\n")
    return ["c.yaml"], ["model.hidden: [500000000]", "needs about", "of memory available"]


CASES = [case for name, case in sorted(globals().items()) if name.startswith("case_")]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__.removeprefix("case_"))
def test_bad_input_gives_one_line_and_exit_2(tmp_path, case):
    args, fragments = case(tmp_path)
    result = run("train", *args, "--out", "out", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
