"""Hostile configs, generated: nested, aliased, oversized, duplicated or empty files, and absurd sizes set
on the command line. `dnnconf train` runs in a subprocess under a 3 GiB address-space limit and a
timeout; every outcome must be exit 2 with one line naming the file or key — never a traceback, a
MemoryError or a hang."""

import resource
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnnconf.limits import MAX_NESTING, MAX_TEXT_BYTES

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS bounds memory on Linux only")

ADDRESS_SPACE = 3 * 2**30  # torch maps ~1 GiB of address space at import; the rest is what a run may take
BASE = ("name: hostile\ndata: {dataset: digits, valid_size: 0.15}\nmodel: {hidden: [8]}\n"
        "schedule: {name: constant}\ntraining: {epochs: 1}\n")
KEYS = ["data", "model", "training", "optimizer", "seed", "name"]
HOSTILE = settings(max_examples=10, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def train(folder, *args):
    return subprocess.run([sys.executable, "-m", "dnnconf", "train", *args, "--out", str(folder / "out"), "--quiet"],
                          capture_output=True, text=True, cwd=folder, timeout=600, preexec_fn=limit_memory)


def assert_one_line(result, *fragments):
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr and len(lines[0]) < 1000, result.stderr[-2000:]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@st.composite
def hostile_files(draw):
    """(config text, a fragment the refusal must hold)."""
    kind = draw(st.sampled_from(["nested_lists", "nested_mappings", "alias_bomb", "one_alias", "oversized",
                                 "duplicate_key", "empty"]))
    key = draw(st.sampled_from(KEYS))
    if kind == "nested_lists":
        depth = draw(st.integers(MAX_NESTING, 200_000))
        return BASE.replace(f"{key}:", "other:") + f"{key}: " + "[" * depth + "]" * depth + "\n", "nested more than"
    if kind == "nested_mappings":
        depth = draw(st.integers(MAX_NESTING, 100_000))
        return BASE + "extra: " + "{a: " * depth + "1" + "}" * depth + "\n", "nested more than"
    if kind == "alias_bomb":
        levels, width = draw(st.integers(2, 12)), draw(st.integers(2, 12))
        names = [f"l{i}" for i in range(levels)]
        text = f"{names[0]}: &{names[0]} [{', '.join(['lol'] * width)}]\n" + "".join(
            f"{b}: &{b} [{', '.join([f'*{a}'] * width)}]\n" for a, b in zip(names, names[1:], strict=False))
        return BASE + text, "anchors and aliases"
    if kind == "one_alias":
        return BASE.replace("epochs: 1", "epochs: &e 1, batch_size: *e"), "anchors and aliases"
    if kind == "oversized":
        size = draw(st.integers(MAX_TEXT_BYTES + 1, 3 * MAX_TEXT_BYTES))
        filler = draw(st.sampled_from(["# padding\n", "x"]))
        padding = filler * (size // len(filler) + 1)
        return (BASE + padding if filler != "x" else BASE.replace("hostile", padding)), "accepted"
    if kind == "duplicate_key":
        return BASE + draw(st.sampled_from(BASE.splitlines())) + "\n", "duplicate key"
    return draw(st.sampled_from(["", "\n", "# a comment\n", "   \n# two\n"])), "is empty"


@HOSTILE
@given(hostile_files())
def test_hostile_config_files_are_one_line(tmp_path_factory, case):
    text, fragment = case
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "c.yaml").write_text(text)
    assert_one_line(train(folder, "c.yaml"), "c.yaml", fragment)


BEYOND_64_BITS = st.one_of(st.integers(2**63, 2**200), st.integers(-(2**200), -(2**63) - 1))


@st.composite
def absurd_sets(draw):
    """(--set assignment, the key the refusal must name)."""
    key = draw(st.sampled_from(["model.hidden", "training.parallel_seeds", "training.threads", "training.batch_size",
                                "training.eval_batch_size", "seed", "data.split_seed", "training.epochs",
                                "model.output.units", "training.early_stopping.patience"]))
    if key in ("model.hidden", "training.parallel_seeds", "training.threads", "training.batch_size",
               "training.eval_batch_size", "model.output.units"):  # any size from 10**9 up is too big here
        value = draw(st.one_of(st.integers(10**9, 2**63 - 1), BEYOND_64_BITS, st.integers(-(2**63), 0)))
    elif key in ("seed", "data.split_seed"):
        value = draw(st.one_of(BEYOND_64_BITS, st.integers(-(2**63), -1)))
    else:
        value = draw(BEYOND_64_BITS)
    return f"{key}=[{value}]" if key == "model.hidden" else f"{key}={value}", key


@HOSTILE
@given(absurd_sets())
def test_absurd_sizes_set_on_the_command_line_are_one_line(tmp_path_factory, case):
    assignment, key = case
    folder = tmp_path_factory.mktemp("absurd")
    (folder / "c.yaml").write_text(BASE)
    assert_one_line(train(folder, "c.yaml", "--set", assignment), key)
