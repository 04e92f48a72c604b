"""A run's split predicted without and with MC dropout (`dnnconf evaluate --mc-samples`): accuracy,
NLL, Brier score and ECE side by side, the uncertainty of right and wrong predictions, mc_metrics.json
and the reliability and uncertainty plots in the run folder."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dnnconf.data import load_data
from dnnconf.errors import BadInput, RunFolderError
from dnnconf.safe_write import write_atomic
from dnnconf.train import setup
from dnnconf.uncertainty.calibration import (
    calibration_metrics,
    plot_reliability,
    plot_uncertainty,
    regression_metrics,
    reliability_bins,
)
from dnnconf.uncertainty.mc_dropout import BATCH_SIZE, mc_predict, plain_predict


def evaluate_mc(model: Any, folder: Path | str, samples: int = 100, seed: int = 0, split: str = "test", *,
                batch_size: int = BATCH_SIZE, max_batch_elements: int | None = None,
                plots: bool = True) -> dict[str, Any]:
    """Metrics of a run's split without and with MC dropout; writes mc_metrics.json and (classification)
    plots/reliability.png and plots/uncertainty.png into the run folder. Returns what it wrote.
    `model` is the folder's `dnnconf.model.Model` (a run, or an export at its precision), loaded by the caller."""
    if samples < 1:
        raise BadInput(f"--mc-samples: {samples} must be at least 1")
    folder = Path(folder)
    config, network = model.config, model.layered_network()
    splits = setup.to_splits(load_data(config.data), torch.device("cpu"))  # raw inputs: the network normalizes
    chosen = getattr(splits, split, None)
    if chosen is None or not len(chosen):
        raise RunFolderError(f"--split {split}: this run's data has no {split} examples")
    started = time.perf_counter()
    plain = plain_predict(network, chosen.x, batch_size)
    mc = mc_predict(network, chosen.x, samples, seed, batch_size=batch_size, max_batch_elements=max_batch_elements)
    seconds = time.perf_counter() - started
    y = chosen.y.cpu().numpy()
    result: dict[str, Any] = {"split": split, "examples": len(y), "samples": samples, "seed": seed,
                              "head": network.head, "seconds": round(seconds, 3)}
    if network.head == "linear":
        result["plain"], result["mc"] = regression_metrics(plain.mean, y), regression_metrics(mc.mean, y)
        result["mean_std"] = float(mc.std.mean())
    else:
        labels = y.astype(np.int64)
        result["plain"], result["mc"] = calibration_metrics(plain.mean, labels), calibration_metrics(mc.mean, labels)
        correct = mc.pred == labels
        result["uncertainty"] = {
            "mean_entropy": float(mc.entropy.mean()),
            "mean_mutual_information": float(mc.mutual_information.mean()),
            "mean_entropy_correct": float(mc.entropy[correct].mean()) if correct.any() else None,
            "mean_entropy_wrong": float(mc.entropy[~correct].mean()) if (~correct).any() else None,
        }
        if plots:
            curves = {f"plain (ECE {result['plain']['ece']:.4f})": reliability_bins(plain.mean, labels),
                      f"MC dropout, {samples} samples (ECE {result['mc']['ece']:.4f})": reliability_bins(mc.mean,
                                                                                                        labels)}
            result["plots"] = [
                str(plot_reliability(curves, folder / "plots" / "reliability.png", f"{config.name}: {split} split")),
                str(plot_uncertainty(mc.entropy, correct, folder / "plots" / "uncertainty.png",
                                     f"{config.name}: MC dropout, {samples} samples")),
            ]
    write_atomic(folder / "mc_metrics.json", json.dumps(result, indent=1))
    return result


def format_mc_table(result: dict[str, Any]) -> list[str]:
    """The metrics without and with MC dropout as a small table."""
    lines = [f"{result['split']} ({result['examples']} examples): MC dropout with {result['samples']} samples, "
             f"seed {result['seed']} ({result['seconds']:.1f} s)",
             f"  {'metric':<10}{'plain':>10}{'MC':>10}{'change':>10}"]
    for key, plain in result["plain"].items():
        mc = result["mc"][key]
        lines.append(f"  {key:<10}{plain:>10.4f}{mc:>10.4f}{mc - plain:>+10.4f}")
    if "uncertainty" in result:
        u = result["uncertainty"]
        lines.append(f"  mean predictive entropy {u['mean_entropy']:.4f}, mean mutual information "
                     f"{u['mean_mutual_information']:.4f}")
    if "mean_std" in result:
        lines.append(f"  mean std of the output {result['mean_std']:.4f}")
    return lines
