"""Checkpoints that survive a crash and never run code when loaded.

Layout: `checkpoint/step-NNNNNNNNN-SSSSSS/` (optimizer steps taken, then a serial number) holds
`model.safetensors` (weights), `optimizer.safetensors` + `optimizer.json` (the optimizer's state_dict, its
tensors and the rest: `dnnconf.train.optimizer_files`; no pickle, no `torch.load`), `state.safetensors`
(RNG states, the early-stopping best weights and the step's own tensors),
`state.json` (counters, listener states, history, how far a mid-epoch checkpoint's epoch got, and the
step's own part, `step_state`) and `manifest.json` (SHA-256 of each file). A checkpoint is written to a
temporary folder under a name never used before, flushed, renamed, and only then named in
`checkpoint/LATEST` (itself replaced atomically); older checkpoints are removed afterwards, so the previous
good one stays until the new one is complete.

One checkpointer serves every step: what the loop owns is saved here, and the step adds what is its own
(`Step.checkpoint_state` / `restore_checkpoint_state`: nothing for one network, the members for a stacked
step, `dnnconf.train.stacked_step`).

Writing happens on a background thread (`CheckpointWriter`): the training thread copies the state (a few
MB for the note's MLP, microseconds to milliseconds) and goes on while the copy is serialized, hashed and
fsynced (30-60 ms a checkpoint on these machines' disks, 4-8% of a batch-128 epoch, measured with
`save_checkpoint` on the MLP's tensors). One write is in flight at a time; the next save waits for it, and
a write that failed is reported by the next save or by `flush`, which the run calls before it reads
checkpoints or finishes: training may go on one epoch past a failed write, never further. Under torchrun
writes stay on the training thread, so rank 0's result or error reaches every rank at once.

Under torchrun every rank calls `save` at the same moments (it reduces the epoch's partial sums and
gathers each rank's dropout RNG state) and rank 0 alone writes; `restore` has rank 0 read the checkpoint
and hand its contents to the others, so the run folder need only be on rank 0's machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from dnnconf.errors import RunFolderError
from dnnconf.safe_write import WriteFailed, reason, write_atomic, write_tensors
from dnnconf.train import distributed as dist
from dnnconf.train import optimizer_files
from dnnconf.train.callbacks import Listener
from dnnconf.train.loop import EpochProgress
from dnnconf.train.run_folder import files as run_files

__all__ = ["FILES", "Checkpointer", "latest_checkpoint", "load_checkpoint", "restore", "save", "save_checkpoint",
           "write_atomic"]  # write_atomic: its home is safe_write; many modules import it from here

FILES = ("model.safetensors", "optimizer.safetensors", "optimizer.json", "state.safetensors", "state.json")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def rng_state(generator: torch.Generator) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors = {"rng.torch": torch.get_rng_state(), "rng.generator": generator.get_state()}
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    plain = {"python": json.loads(json.dumps(random.getstate())),
             "numpy": [kind, keys.tolist(), pos, has_gauss, cached]}
    return tensors, plain


def set_rng_state(generator: torch.Generator, tensors: dict[str, torch.Tensor], plain: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    generator.set_state(tensors["rng.generator"])
    version, internal, gauss = plain["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = plain["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


def save_checkpoint(folder: Path, step: int, model: dict[str, torch.Tensor], optimizer: dict[str, Any],
                    tensors: dict[str, torch.Tensor], state: dict[str, Any], keep: int = 1) -> Path:
    """Write a complete checkpoint under a new name, then point LATEST at it, then drop older ones.

    A failure to write (a full disk, a vanished folder) leaves the previous checkpoint and LATEST as
    they were, and raises RunFolderError.
    """
    for stale in folder.glob("step-*.tmp"):  # left by a process killed while writing
        if run_files.CHECKPOINT_NAME.fullmatch(stale.name.removesuffix(".tmp")) and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
    existing = run_files.checkpoint_folders(folder)
    serial = max((int(p.name.rsplit("-", 1)[-1]) for p in existing), default=-1) + 1
    name = f"step-{step:09d}-{serial:06d}"  # a fresh name each time: LATEST never names a folder being replaced
    final, tmp = folder / name, folder / f"{name}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()  # never an existing name, never through a link
        write_tensors(tmp / "model.safetensors", model)
        optimizer_tensors, optimizer_plain = optimizer_files.to_files(optimizer)
        write_tensors(tmp / "optimizer.safetensors", optimizer_tensors)
        write_atomic(tmp / "optimizer.json", optimizer_plain)
        write_tensors(tmp / "state.safetensors", tensors)
        write_atomic(tmp / "state.json", json.dumps(state, indent=1))
        manifest = {file: _sha256(tmp / file) for file in FILES}
        write_atomic(tmp / "manifest.json", json.dumps(manifest, indent=1))
        os.replace(tmp, final)
        write_atomic(folder / "LATEST", name + "\n")
    except (OSError, WriteFailed) as error:
        shutil.rmtree(tmp, ignore_errors=True)
        why = error.why if isinstance(error, WriteFailed) else reason(error)
        kept = f"; the last good checkpoint ({existing[-1].name}) is intact" if existing else ""
        raise RunFolderError(f"{folder}: cannot write a checkpoint ({why}){kept}") from None
    for old in existing[: len(existing) + 1 - keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(folder: Path) -> Path:
    """The checkpoint `folder/LATEST` names, checked (`run_files.read_latest`: inside the folder)."""
    return run_files.read_latest(folder)


def read_state(path: Path) -> dict[str, Any]:
    """The checkpoint's state.json alone, verified against its manifest (no tensors loaded)."""
    manifest = run_files.read_manifest(path / "manifest.json", FILES)
    if not (path / "state.json").is_file() or _sha256(path / "state.json") != manifest["state.json"]:
        raise RunFolderError(f"{path / 'state.json'}: missing or fails its checksum; the checkpoint is corrupt")
    return run_files.read_json_object(path / "state.json", run_files.STATE_BYTES)


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, torch.Tensor],
                                         dict[str, Any]]:
    """Verify the manifest's checksums, then load without unpickling any object."""
    if (path / "optimizer.pt").exists() and not (path / "optimizer.json").exists():
        raise RunFolderError(f"{path}: a checkpoint of an older dnnconf (optimizer.pt, a pickle: never loaded); "
                             f"continue the run with the version that wrote it, or start it over")
    manifest = run_files.read_manifest(path / "manifest.json", FILES)
    for file in FILES:
        if not (path / file).is_file() or _sha256(path / file) != manifest.get(file):
            raise RunFolderError(f"{path / file}: missing or fails its checksum; the checkpoint is corrupt")
    try:
        model = load_file(str(path / "model.safetensors"))
        optimizer_tensors = load_file(str(path / "optimizer.safetensors"))
        tensors = load_file(str(path / "state.safetensors"))
    except Exception as error:  # noqa: BLE001 - any failure to parse means a bad file, reported as one line
        raise RunFolderError(f"{path}: cannot load the checkpoint ({error.__class__.__name__}: {error})") from None
    optimizer = optimizer_files.from_files(
        optimizer_tensors, run_files.read_json_object(path / "optimizer.json", run_files.STATE_BYTES),
        path / "optimizer.json")
    state = run_files.read_json_object(path / "state.json", run_files.STATE_BYTES)
    return model, optimizer, tensors, state


def detached_copy(value: Any) -> Any:
    """A copy of nested dicts/lists/tuples whose tensors are cloned to the CPU (training mutates the originals
    in place while a background write still reads the copy)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: detached_copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(detached_copy(item) for item in value)
    return value


class CheckpointWriter:
    """`save_checkpoint` on one background thread; at most one write in flight (see the module docstring)."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._pending: Future | None = None

    def submit(self, folder: Path, step: int, model: dict[str, torch.Tensor], optimizer: dict[str, Any],
               tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        """Copy the state now, write it in the background. Raises the previous write's RunFolderError, if any."""
        snapshot = (detached_copy(model), detached_copy(optimizer), detached_copy(tensors),
                    json.loads(json.dumps(state)))  # the history list grows after this returns
        self.flush()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dnnconf-checkpoint")
        self._pending = self._executor.submit(save_checkpoint, folder, step, *snapshot)

    def flush(self) -> None:
        """Wait for the write in flight; raise its error (RunFolderError) if it failed."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Flush, then stop the thread."""
        try:
            self.flush()
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None


class Checkpointer(Listener):
    """Listener: a complete checkpoint after every epoch (see the module docstring).

    Writes go through a `CheckpointWriter`; `flush()` waits for them (the run calls it before reading the
    last checkpoint back, and `on_train_end` does)."""

    def __init__(self, folder: Path, listeners: list[Any], every: int | None = None):
        self.folder = folder
        self.listeners = listeners  # whose state goes into the checkpoint, in order
        self.every = every  # also every this many optimizer steps, mid-epoch
        self.writer = CheckpointWriter()

    def on_batch_end(self, loop: Any) -> None:
        if self.every and loop.state.step % self.every == 0:
            save(self.folder, loop, self.listeners, self.writer)

    def on_train_begin(self, loop: Any) -> None:
        if loop.state.epoch == 0:  # the initial state is the good checkpoint a first-epoch failure rolls back to
            save(self.folder, loop, self.listeners, self.writer)

    def on_epoch_end(self, loop: Any, logs: dict[str, float]) -> None:
        save(self.folder, loop, self.listeners, self.writer)

    def on_train_end(self, loop: Any) -> None:
        self.flush()

    def flush(self) -> None:
        """Wait for the checkpoint being written; raise RunFolderError if writing it failed."""
        self.writer.close()

    def abandon(self) -> None:
        """Training failed or was interrupted: let the write in flight end (a complete checkpoint, or none)
        and stop the thread, so no thread outlives the run; the error already under way is the one reported."""
        try:
            self.writer.close()
        except Exception:  # noqa: BLE001 - the run's own error is reported, not this second one
            pass


def save(folder: Path, loop: Any, listeners: list[Any], writer: CheckpointWriter | None = None) -> Path | None:
    """Checkpoint `loop` and the state of `listeners` into `folder`: at once (returns the checkpoint's path), or
    through `writer` in the background (returns None; single process only)."""
    shared = getattr(loop, "distributed", None)
    tensors, plain = rng_state(loop.generator)
    if shared is not None:  # each rank's own dropout stream (rank 0's is rng.torch)
        states = [None] * shared.world
        torch.distributed.all_gather_object(states, torch.get_rng_state())
        tensors.update({f"rng.torch.rank{rank}": state for rank, state in enumerate(states) if rank})
    tensors.update(listener_tensors(listeners, "best."))
    step_tensors, step_plain = loop.step.checkpoint_state(loop)  # a stacked step's members, say
    tensors.update(step_tensors)
    state = {
        "epoch": loop.state.epoch,
        "step": loop.state.step,
        "history": loop.state.history,
        "rng": plain,
        "listeners": [listener.state_dict() for listener in listeners],
        "listener_kinds": [type(listener).__name__ for listener in listeners],
        # a finished run is final: early stopping fired (or the loop was told to stop) or the epochs are done
        "stop": bool(loop.state.stop),
        "stop_reason": loop.state.stop_reason,
        "finished": bool(loop.state.stop or loop.state.epoch >= loop.epochs) and loop.progress is None,
    }
    if step_plain:
        state["step_state"] = step_plain
    if loop.progress is not None:  # mid-epoch: how far the epoch got, and its batch order
        state["progress"] = loop.progress.to_plain(shared)
        tensors["rng.epoch_generator"] = loop.progress.generator_state
    if writer is not None and shared is None:
        writer.submit(folder, loop.state.step, loop.network.state_dict(), loop.optimizer.state_dict(), tensors, state)
        return None
    return dist.on_main(shared, lambda: save_checkpoint(folder, loop.state.step, loop.network.state_dict(),
                                                        loop.optimizer.state_dict(), tensors, state))


def restore(path: Path, loop: Any, listeners: list[Any]) -> None:
    """Put a loop, its step and its listeners back exactly where the checkpoint at `path` left them (under
    torchrun: as rank 0 reads it). A parallel-seeds checkpoint of the former layout (`former_parallel_state`)
    is read too."""
    shared = getattr(loop, "distributed", None)
    def read() -> tuple[Any, Any, Any, Any]:
        model, optimizer, tensors, state = load_checkpoint(path)
        if "members" in state and "rng" not in state:
            state = former_parallel_state(path, state)
        else:
            run_files.check_solo_state(path / "state.json", state)
        check_listeners(path, state, listeners)
        return model, optimizer, tensors, state

    model, optimizer, tensors, state = dist.on_main(shared, read)
    if shared is not None and not shared.main:
        tensors = {**tensors, "rng.torch": tensors.get(f"rng.torch.rank{shared.rank}", tensors["rng.torch"])}
    try:
        loop.network.load_state_dict(model)
    except (RuntimeError, ValueError, KeyError) as error:
        raise RunFolderError(f"{path}: does not fit this model ({str(error).splitlines()[0]})") from None
    loop.state.epoch, loop.state.step = state["epoch"], state["step"]
    loop.state.history = state["history"]
    loop.state.stop, loop.state.stop_reason = state.get("stop", False), state.get("stop_reason", "")
    if "rng" in state:
        try:
            set_rng_state(loop.generator, tensors, state["rng"])
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise RunFolderError(f"{path}: its random generators' state is damaged ({error.__class__.__name__})"
                                 ) from None
    loop.step.restore_checkpoint_state(loop, tensors, state.get("step_state"), path)
    if "progress" in state:
        _restore_progress(path, loop, state["progress"], tensors, shared)
    load_listeners(path, listeners, state["listeners"], tensors, "best.")
    # after the listeners: one may rebuild the optimizer (freezing: the unfrozen layers' parameters)
    try:
        loop.optimizer.load_state_dict(optimizer)
    except (RuntimeError, ValueError, KeyError) as error:
        raise RunFolderError(f"{path}: does not fit this model ({str(error).splitlines()[0]})") from None


def _restore_progress(path: Path, loop: Any, plain: dict[str, Any], tensors: dict[str, torch.Tensor],
                      shared: Any) -> None:
    """The epoch a mid-epoch checkpoint was written in: how far it got, its sums, its batch order."""
    device = next(iter(loop.network.parameters())).device
    if "rng.epoch_generator" not in tensors:
        raise RunFolderError(f"{path}: a mid-epoch checkpoint without its batch order (rng.epoch_generator)")
    loop.progress = EpochProgress.from_plain(plain, tensors["rng.epoch_generator"], device)
    if tuple(loop.progress.loss_sum.shape) != tuple(loop.step.shape):
        raise RunFolderError(f"{path / 'state.json'}: 'progress' holds sums of shape "
                             f"{list(loop.progress.loss_sum.shape)}, this run's are {list(loop.step.shape)}")
    if shared is not None and not shared.main:  # the saved sums are all ranks' together: rank 0 carries them
        loop.progress.loss_sum.zero_()
        loop.progress.metric_sum.zero_()


def former_parallel_state(path: Path, state: dict[str, Any]) -> dict[str, Any]:
    """state.json of a parallel-seeds checkpoint as dnnconf wrote it before one checkpointer served every step
    (at epoch ends only; `members` at the top level; the batched run kept no RNG of the process and no
    listeners of its own), in today's layout. Its tensors already have today's names (`rng.order.<k>`,
    `rng.dropout.<k>`, `best.<k>.`, `snapshot.<k>.`; `last_good.<k>.` absent: the weights, at an epoch end)."""
    run_files.check_former_parallel_state(path / "state.json", state)
    return {"epoch": state["epoch"], "step": state["step"], "history": state["history"], "stop": state["stop"],
            "stop_reason": state["stop_reason"], "listeners": [], "listener_kinds": [],
            "step_state": {"members": state["members"]}}


def listener_tensors(listeners: list[Any], prefix: str) -> dict[str, torch.Tensor]:
    """The best weights an early-stopping listener keeps, under `prefix` (a member's own in a stacked run)."""
    tensors: dict[str, torch.Tensor] = {}
    for listener in listeners:
        best = getattr(listener, "best_weights", None)
        if best:
            tensors.update({f"{prefix}{name}": value for name, value in best.items()})
    return tensors


def load_listeners(path: Path, listeners: list[Any], states: list[Any], tensors: dict[str, torch.Tensor],
                   prefix: str) -> None:
    """Give each stateful listener its saved state, and early stopping its best weights (under `prefix`)."""
    for listener, listener_state in zip(listeners, states, strict=True):
        try:
            listener.load_state_dict(listener_state)
        except (KeyError, TypeError, ValueError) as error:
            raise RunFolderError(f"{path / 'state.json'}: the saved state of {type(listener).__name__} is damaged "
                                 f"({error.__class__.__name__}: {error})") from None
        if hasattr(listener, "best_weights"):
            best = {name.removeprefix(prefix): value for name, value in tensors.items() if name.startswith(prefix)}
            listener.best_weights = best or None


def check_listeners(path: Path, state: dict[str, Any], listeners: list[Any]) -> None:
    """The checkpoint was saved with the same stateful listeners (early stopping, a performance schedule,
    freezing) as this run has: `--resume --force` cannot add or remove one mid-run."""
    saved = state.get("listener_kinds")
    mine = [type(listener).__name__ for listener in listeners]
    if len(state["listeners"]) != len(listeners) or (saved is not None and saved != mine):
        shown = ", ".join(saved) if saved else f"{len(state['listeners'])} stateful callbacks"
        raise RunFolderError(
            f"{path / 'state.json'}: saved with {shown or 'no early stopping or performance schedule'}, this config "
            f"has {', '.join(mine) or 'none'}; early stopping, a performance schedule and freezing cannot be added "
            f"or removed when resuming (not even with --force): start a new run")
