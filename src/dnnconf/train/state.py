"""`TrainState`: where a training run stands (epochs and steps done, whether and why it stopped, its
history). The loop owns one; a stacked run's members one each. Its own module, below the loop and its
listeners, so that both can name it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken
    stop: bool = False
    stop_reason: str = ""
    diverged: bool = False
    restored_epoch: int | None = None
    history: list[dict[str, float]] = field(default_factory=list)
