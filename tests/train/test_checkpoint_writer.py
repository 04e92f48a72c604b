"""The background checkpoint writer: the copy is taken at submit, errors surface at the next save or flush."""

import threading

import pytest
import torch

from dnnconf.errors import RunFolderError
from dnnconf.train import checkpoint
from dnnconf.train.checkpoint import CheckpointWriter, latest_checkpoint, load_checkpoint


def test_the_checkpoint_holds_the_state_at_submit_not_later_mutations(tmp_path):
    weight = torch.zeros(3, 4)
    momentum = torch.ones(3, 4)
    writer = CheckpointWriter()
    history = [{"loss": 1.0}]
    writer.submit(tmp_path, 7, {"w": weight}, {"state": {0: {"m": momentum}}, "param_groups": []},
                  {"rng": torch.arange(3)}, {"epoch": 1, "history": history})
    weight.add_(5.0)  # training goes on in place while the write may still be running
    momentum.mul_(3.0)
    history.append({"loss": 0.5})
    writer.close()
    model, optimizer, tensors, state = load_checkpoint(latest_checkpoint(tmp_path))
    assert torch.equal(model["w"], torch.zeros(3, 4))
    assert torch.equal(optimizer["state"][0]["m"], torch.ones(3, 4))
    assert torch.equal(tensors["rng"], torch.arange(3))
    assert state["history"] == [{"loss": 1.0}]
    assert latest_checkpoint(tmp_path).name.startswith("step-000000007-")


def test_writes_run_off_the_calling_thread(tmp_path, monkeypatch):
    threads = []
    real = checkpoint.save_checkpoint

    def recording(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(checkpoint, "save_checkpoint", recording)
    writer = CheckpointWriter()
    writer.submit(tmp_path, 1, {"w": torch.ones(2)}, {}, {}, {"epoch": 0})
    writer.close()
    assert threads and threads[0] != threading.current_thread().name


def test_a_failed_write_is_raised_by_the_next_save_and_keeps_the_good_checkpoint(tmp_path, monkeypatch):
    writer = CheckpointWriter()
    writer.submit(tmp_path, 1, {"w": torch.ones(2)}, {}, {}, {"epoch": 1})
    writer.flush()

    def full_disk(path, tensors, durable=True):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "write_tensors", full_disk)
    writer.submit(tmp_path, 2, {"w": torch.ones(2)}, {}, {}, {"epoch": 2})  # fails in the background
    with pytest.raises(RunFolderError, match="disk is full.*is intact"):
        writer.submit(tmp_path, 3, {"w": torch.ones(2)}, {}, {}, {"epoch": 3})
    writer.close()
    _, _, _, state = load_checkpoint(latest_checkpoint(tmp_path))
    assert state["epoch"] == 1
    assert not list(tmp_path.glob("*.tmp"))
