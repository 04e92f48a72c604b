"""What a run returns: its folder, resolved config, final state, test metrics and network."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dnnconf.config import Config
from dnnconf.nn.build import Network
from dnnconf.train.loop import TrainState


@dataclass
class RunResult:
    folder: Path
    config: Config
    state: TrainState
    test: dict[str, float]
    network: Network
    members: list[RunResult] | None = None  # training.parallel_seeds > 1: each member's own result
    finished: str | None = None  # --resume of a run that had finished and written its outputs: why it finished
