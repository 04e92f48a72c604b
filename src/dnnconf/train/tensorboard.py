"""TensorBoard event files for a run (`training.tensorboard: true`, or a folder path), the view Keras users
know: `tensorboard --logdir runs` lists every run that wrote them.

Layout, as Keras's TensorBoard callback lays it out so train and validation overlay in one chart:
`<run>/tensorboard/train/` and `<run>/tensorboard/validation/` (with a path: `<path>/<run folder name>/…`).
Tags, one a history.csv column, at step = epoch: `epoch_<column>` (`epoch_loss`, `epoch_accuracy`,
`epoch_lr`, `epoch_momentum`, `epoch_grad_norm`, `epoch_grad_norm/<layer>` with training.layer_stats,
`epoch_time`) in train/; a `val_<name>` column as `epoch_<name>` in validation/. Per optimizer step, in
train/: `step_lr` and `step_momentum` (the rate and momentum used at that step). Per epoch, in train/:
histograms `weights/<parameter>` and `gradients/<parameter>` (the gradient of the epoch's last step).
The resolved config is the text `config`. Event files are flushed after every epoch (the listener runs
after the checkpoint's), so a TensorBoard open on the folder follows the run; a resumed run appends a new
event file in the same folders and its epochs continue the curves.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnnconf.config import dump_config
from dnnconf.errors import ConfigError
from dnnconf.optim.schedules import Performance
from dnnconf.train.callbacks import Listener

if TYPE_CHECKING:
    from dnnconf.config import Config
    from dnnconf.train.loop import Loop

INSTALL_HINT = "pip install 'dnnconf[tensorboard]' (or pip install tensorboard)"


def tensorboard_folder(folder: Path, target: bool | str) -> Path:
    """Where a run's event files go: <run>/tensorboard, or <target>/<run folder name>."""
    return folder / "tensorboard" if target is True else Path(str(target)) / folder.name


def summary_writer_class() -> Any:
    """torch's SummaryWriter; one line with the install hint when the tensorboard package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(f"training.tensorboard: the tensorboard package is not installed; {INSTALL_HINT}") from None
    return SummaryWriter


def tag_of(column: str) -> tuple[str, str]:
    """(writer, tag) of a history column: val_loss → (validation, epoch_loss), lr → (train, epoch_lr)."""
    if column.startswith("val_"):
        return "validation", "epoch_" + column[len("val_"):]
    return "train", "epoch_" + column


class TensorBoardLog(Listener):
    """Writes the run's scalars, histograms and config as TensorBoard events (see the module docstring)."""

    def __init__(self, folder: Path, config: Config):
        writer_class = summary_writer_class()
        self.root = tensorboard_folder(folder, config.training.tensorboard)
        try:
            self.writers = {split: writer_class(log_dir=str(self.root / split)) for split in ("train", "validation")}
        except OSError as error:
            raise ConfigError(f"training.tensorboard: cannot write into {self.root} ({error.strerror})") from None
        self.config_text = dump_config(config)
        self.steps_written = 0

    def on_train_begin(self, loop: Loop) -> None:
        text = "    " + self.config_text.replace("\n", "\n    ")  # markdown: an indented block keeps the YAML
        self.writers["train"].add_text("config", text, global_step=loop.state.epoch)
        self.steps_written = loop.state.step

    def on_epoch_end(self, loop: Loop, logs: dict[str, float]) -> None:
        epoch = int(logs["epoch"])
        for column, value in logs.items():
            if column != "epoch":
                split, tag = tag_of(column)
                self.writers[split].add_scalar(tag, value, global_step=epoch)
        self._write_steps(loop, logs)
        train = self.writers["train"]
        for name, parameter in loop.network.named_parameters():
            train.add_histogram(f"weights/{name}", parameter.detach(), global_step=epoch)
            if parameter.grad is not None:
                train.add_histogram(f"gradients/{name}", parameter.grad.detach(), global_step=epoch)
        for writer in self.writers.values():
            writer.flush()

    def _write_steps(self, loop: Loop, logs: dict[str, float]) -> None:
        """The rate and momentum of each step of the epoch (the schedule is a function of the step; the
        performance schedule changes the rate between epochs only, so its steps take the epoch's)."""
        schedule, train = loop.schedule, self.writers["train"]
        per_epoch = isinstance(schedule, Performance)
        for step in range(self.steps_written, loop.state.step):
            train.add_scalar("step_lr", logs["lr"] if per_epoch else schedule(step), global_step=step)
            momentum = schedule.momentum(step)
            if momentum is None:
                momentum = logs.get("momentum")
            if momentum is not None:
                train.add_scalar("step_momentum", momentum, global_step=step)
        self.steps_written = loop.state.step

    def on_train_end(self, loop: Loop) -> None:
        for writer in self.writers.values():
            writer.close()
