"""A parallel-seeds run's checkpoint goes through the one `dnnconf.train.checkpoint`; one written by the
dnnconf of before (state.json with a `members` list, tests/fixtures/parallel-seeds-cut-after-epoch-1,
made by its make_fixture.py) still resumes, bit for bit."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from dnnconf.cli import main
from dnnconf.run import train
from dnnconf.train.run_folder.loading import load_run_config

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "parallel-seeds-cut-after-epoch-1"


@pytest.fixture(autouse=True)
def denormal_mode_restored():
    from dnnconf.train.loop import denormals_flushed

    flushing = denormals_flushed()
    yield
    torch.set_flush_denormal(flushing)


def quiet_train(config, folder=None, **options):
    return train(config, folder, quiet=True, log=lambda *_: None, **options)


def test_a_checkpoint_of_the_former_parallel_format_resumes_exactly(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE / "run", run)
    config = load_run_config(run)
    resumed = quiet_train(config, resume=run)
    whole = quiet_train(config, tmp_path / "whole")
    assert_members_equal(whole, resumed, epochs=2)
    before = load_file(str(FIXTURE / "uninterrupted-final-weights.safetensors"))
    for member in resumed.members:
        for name, value in member.network.state_dict().items():
            assert torch.equal(value, before[f"{member.config.seed}.{name}"]), name


def assert_members_equal(whole, resumed, epochs):
    """Each member of the resumed run ended where the uninterrupted one did: epochs, history, weights."""
    for a, b in zip(whole.members, resumed.members, strict=True):
        assert a.state.epoch == b.state.epoch == epochs
        drop_time = [{k: v for k, v in row.items() if k != "time"} for row in a.state.history]
        assert drop_time == [{k: v for k, v in row.items() if k != "time"} for row in b.state.history]
        for name, value in b.network.state_dict().items():
            assert torch.equal(value, a.network.state_dict()[name]), name


class InterruptAtStep:
    """Raises KeyboardInterrupt after optimizer step `step` (after that step's checkpoint, if any)."""

    def __init__(self, step):
        self.step = step

    def __getattr__(self, event):
        return lambda loop, *args: None

    def on_batch_end(self, loop):
        if loop.state.step == self.step:
            raise KeyboardInterrupt


def test_a_batched_run_cut_in_the_middle_of_an_epoch_resumes_exactly(tmp_path):
    config = load_run_config(FIXTURE / "run")
    training = config.training.model_copy(update={"epochs": 3, "checkpoint_every": 10})
    config = config.model_copy(update={"training": training})
    whole = quiet_train(config, tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):  # epoch 2 is steps 40-78: the last checkpoint is step 50's
        quiet_train(config, tmp_path / "cut", listeners=(InterruptAtStep(55),))
    latest = (tmp_path / "cut" / "checkpoint" / "LATEST").read_text().strip()
    assert latest.startswith("step-000000050-")
    assert_members_equal(whole, quiet_train(config, resume=tmp_path / "cut"), epochs=3)


def rewrite_state(checkpoint, change):
    """Change a checkpoint's state.json and re-hash it, as a damaged but self-consistent file would be."""
    state = json.loads((checkpoint / "state.json").read_text())
    change(state)
    (checkpoint / "state.json").write_text(json.dumps(state))
    manifest = json.loads((checkpoint / "manifest.json").read_text())
    manifest["state.json"] = hashlib.sha256((checkpoint / "state.json").read_bytes()).hexdigest()
    (checkpoint / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(("change", "named"), [
    (lambda state: state.pop("members"), "'rng' is missing"),  # then it is no former parallel checkpoint either
    (lambda state: state["members"].pop(), "1 members, this config has 2"),
    (lambda state: state["members"][0].update(history="?"), "'members[0].history' must be"),
])
def test_a_damaged_former_parallel_checkpoint_is_one_line_naming_the_key(tmp_path, capsys, change, named):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE / "run", run)
    rewrite_state(next((run / "checkpoint").glob("step-*")), change)
    assert main(["train", str(run / "config.yaml"), "--resume", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and named in err, err


def test_a_stacked_checkpoint_without_its_members_is_refused_in_one_line(tmp_path, capsys):
    config = load_run_config(FIXTURE / "run")
    config = config.model_copy(update={"training": config.training.model_copy(update={"epochs": 1})})
    quiet_train(config, tmp_path / "run")
    (tmp_path / "run" / "members.csv").unlink()  # as if killed before its outputs: resuming reads the checkpoint
    rewrite_state(next((tmp_path / "run" / "checkpoint").glob("step-*")), lambda state: state.pop("step_state"))
    assert main(["train", str(tmp_path / "run" / "config.yaml"), "--resume", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'step_state'" in err and "parallel_seeds" in err, err
