"""The report of `dnnconf diagnose`: one `LayerRow` per layer and probe step, the `Verdict`s, the set-up's
`Facts`, and `DiagnosisReport` with its JSON form.

JSON (`DiagnosisReport.to_json()`, `dnnconf diagnose --format json`), schema `dnnconf.diagnose/1`
--------------------------------------------------------------------------------------------------
```
{"schema": "dnnconf.diagnose/1", "name": str, "source": "config" | "run" | "network",
 "batches": int, "batch_size": int, "train_steps": int, "device": str,
 "input": {"mean": float, "std": float},
 "layers": [{"index": int (1 = nearest the input), "name": "dense_1", "activation": "relu",
             "role": "hidden" | "output", "units": int, "act_mean": float, "act_std": float,
             "dead_share": float | null, "saturated_share": float | null, "weight_grad_norm": float,
             "output_grad_norm": float, "update_ratio": float}, ...],   # at the first probe step
 "steps": [int, ...],                                                # optimizer steps of the probes
 "loss": [float, ...],                                               # probe loss at each probe step
 "series": {"act_mean" | "act_std" | "dead_share" | "saturated_share" | "weight_grad_norm" |
            "output_grad_norm" | "update_ratio": [[float | null, ...] one list per layer, one value
            per probe step]},
 "verdicts": [{"id": str, "severity": "error" | "warning" | "info", "message": str,
               "evidence": {...}, "remedies": [str, ...]}, ...],
 "thresholds": {"VANISHING_RATIO": 0.001, ...},
 "stopped": str | null,                                              # why training ended early
 "plots": [str, ...]}                                                # files written (CLI)
```
`null` means "does not apply" (dead units of a tanh layer); non-finite numbers are the strings
"nan", "inf" and "-inf" (Python's `float()` reads them back).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from dnnconf.diagnosis.thresholds import THRESHOLDS

SCHEMA = "dnnconf.diagnose/1"

METRICS = ("act_mean", "act_std", "dead_share", "saturated_share", "weight_grad_norm", "output_grad_norm",
           "update_ratio")


@dataclass
class LayerRow:
    """One layer at one probe step."""

    index: int
    name: str
    activation: str
    role: str  # "hidden" or "output"
    units: int
    act_mean: float
    act_std: float
    dead_share: float | None
    saturated_share: float | None
    weight_grad_norm: float
    output_grad_norm: float
    update_ratio: float


@dataclass
class Verdict:
    id: str
    severity: str  # "error" | "warning" | "info"
    message: str
    evidence: dict[str, Any]
    remedies: list[str]


@dataclass
class Facts:
    """What the configuration (or, lacking one, the network and the data) says about the set-up."""

    initializer: str | None = None  # the hidden kernels' initializer name, when one is known
    init_family: str | None = None  # glorot | he | lecun | None (other or unknown)
    normalize: str | None = None  # data.normalize, None without a config
    batch_norm: bool = False
    dropout: bool = False
    regularizer: bool = False
    max_norm: bool = False
    input_mean: float = 0.0
    input_std: float = 1.0


@dataclass
class DiagnosisReport:
    name: str
    source: str
    batches: int
    batch_size: int
    train_steps: int
    device: str
    input: dict[str, float]
    layers: list[LayerRow]  # at the first probe step
    steps: list[int]
    loss: list[float]
    series: dict[str, list[list[float | None]]]  # metric -> one list per layer, one value per probe step
    verdicts: list[Verdict]
    stopped: str | None = None
    plots: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return [v.id for v in self.verdicts] == ["healthy"]

    @property
    def exit_code(self) -> int:
        """1 when an error verdict fired (vanishing/exploding), else 0."""
        return 1 if any(v.severity == "error" for v in self.verdicts) else 0

    def verdict(self, verdict_id: str) -> Verdict | None:
        return next((v for v in self.verdicts if v.id == verdict_id), None)

    def matrix(self, metric: str) -> np.ndarray:
        """layers × probe steps as floats (NaN where a value does not apply)."""
        return np.array([[np.nan if v is None else v for v in row] for row in self.series[metric]], dtype=float)

    def to_dict(self) -> dict[str, Any]:
        data = {"schema": SCHEMA, **asdict(self), "thresholds": THRESHOLDS}
        return jsonable(data)

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value
