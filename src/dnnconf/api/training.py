"""The API's training and trained-model functions: `fit`, `load`, `predict`, `evaluate`, `load_run`,
`evaluate_run`, `export`."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnnconf.api.inputs import as_config, optional_path, run_folder, silenced, silent
from dnnconf.api.tools import config_findings
from dnnconf.errors import BadInput, DnnconfError

if TYPE_CHECKING:
    from dnnconf.config import Config
    from dnnconf.results import Export, FitResult

# Every import of dnnconf's heavy parts is inside a function: `import dnnconf.api` must not import torch.


def fit(config: Any, out: str | Path | None = None, *, overrides: Sequence[str] = (), resume: str | Path | None = None,
        force: bool = False, quiet: bool = False, check: bool = True, listeners: tuple = (),
        plots: bool = True) -> FitResult:
    """Train `config` into a run folder, as `dnnconf train` does; returns a `FitResult`.

    `out`: the run folder (default runs/<name>-<timestamp>); `resume`: continue the run in that folder
    from its last checkpoint; `force`: write into a non-empty `out`, resume a changed config, train
    despite the check's errors. `check`: first lint the config against the note's rules (errors raise
    `DnnconfError` unless `force`; warnings print unless `quiet`). `quiet`: print nothing.
    `listeners`: your own `dnnconf.train.callbacks.Listener`s, after dnnconf's. `plots=False` skips the PNGs.
    Raises `Diverged` when the loss or weights become NaN or infinite (weights rolled back).
    """
    from dnnconf.results import FitResult
    from dnnconf.run import train

    resolved = as_config(config, overrides)
    resume_path = optional_path(resume, "resume")
    if check and resume_path is None:
        findings = config_findings(resolved)
        shown = [f for f in findings if f.severity != "info"]
        if shown and not quiet:
            print(type(findings)(shown, findings.source, findings.lang).text, file=sys.stderr)
        if findings.has_errors and not force:
            first = findings.errors[0]
            raise DnnconfError(f"{resolved.name}: the check found {len(findings.errors)} error(s), first "
                               f"{first.id} at {first.path}: {first.message}; fix them or pass force=True")
    with silenced(quiet):
        result = train(resolved, optional_path(out, "out"), resume=resume_path, force=force, quiet=quiet,
                       log=silent if quiet else print, listeners=tuple(listeners), plots=plots)
    return FitResult.of(result)


# ------------------------------------------------------------------------------------ the trained model


def load(run: Any, **options: Any) -> Any:
    """The `dnnconf.model.Model` of a run folder or an export folder (or a `FitResult`): the network with
    its input preprocessing, config and metadata; `predict`, `predict_proba`, `evaluate`, `mc_predict`,
    `export`, `summary` take raw inputs. `options` go to `dnnconf.model.load`."""
    from dnnconf.model import load as load_model

    return load_model(run_folder(run), **options)


def predict(run: Any, x: Any, *, mc_samples: int | None = None) -> Any:
    """`load(run).predict(x)` on raw inputs (NumPy or torch, any batch size); with `mc_samples`, MC dropout:
    `load(run).mc_predict(x, mc_samples)` (the samples' mean probabilities with their spread). For more
    than one call, load the model once with `load`."""
    if mc_samples is None:
        return load(run).predict(x)
    _check_samples(mc_samples)
    return load(run).mc_predict(x, mc_samples)


def evaluate(run: Any, data: str | tuple = "test", *, mc_samples: int | None = None, seed: int = 0) -> dict:
    """The metrics of a trained run (a dict: loss, accuracy, …) on a split of its data ("train", "valid",
    "test") or on raw `(x, y)`. With `mc_samples`, on a split: MC dropout metrics with and without
    (accuracy, NLL, Brier, ECE), as `dnnconf evaluate --mc-samples`, which also writes mc_metrics.json
    and the reliability plots into the run folder."""
    if mc_samples is None:
        return load(run).evaluate(data)
    _check_samples(mc_samples)
    if not isinstance(data, str):
        raise BadInput("mc_samples: MC dropout metrics are measured on a split (data='test', 'valid' or 'train')")
    from dnnconf.uncertainty.evaluation import evaluate_mc

    folder = run_folder(run)
    return evaluate_mc(load(folder), folder, mc_samples, seed, data)


def _check_samples(samples: Any) -> None:
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise BadInput(f"mc_samples (--mc-samples): must be a whole number >= 1 (received {samples!r})")


def load_run(run: Any, device: str = "cpu") -> tuple[Config, Any]:
    """The resolved config and the trained network of a run folder (`str`, `Path` or `FitResult`).
    Prefer `load`, whose `Model` takes raw inputs and predicts in inference mode."""
    from dnnconf.train.run_folder.loading import load_run as load_network

    return load_network(run_folder(run), device)


def evaluate_run(run: Any, split: str = "test") -> dict[str, float]:
    """The metrics of a run folder (`str`, `Path` or `FitResult`) on one split of its data."""
    from dnnconf.model import evaluate_run as evaluate_folder

    return evaluate_folder(run_folder(run), split)


def export(run: Any, out: str | Path | None = None, *, fold_bn: bool = False, prune: float | None = None,
           sparsity: float | None = None, dtype: str = "float32", onnx: str | Path | None = None,
           latency: bool = True, repeats: int = 15, threads: int | None = None, quiet: bool = True) -> Export:
    """The note's low-latency model, as `dnnconf export`: fold batch norm (`fold_bn`), zero the kernel
    weights below `prune` or the `sparsity` share of each kernel's smallest, convert to `dtype` (float32,
    float16, bfloat16, int8), write `onnx` (a relative path goes into the export folder); measure each
    step on the test split (`latency=False` skips the timings). `out`: the export folder (default
    RUN/export). Returns an `Export` (its `stages` table, `folder`, `files`)."""
    from dnnconf.exporting.exporter import export_run
    from dnnconf.results import Export

    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise BadInput(f"threads (--threads): must be at least 1 (received {threads!r})")
    if not isinstance(repeats, int) or repeats < 1:
        raise BadInput(f"repeats (--repeats): must be at least 1 (received {repeats!r})")
    result = export_run(run_folder(run), fold_bn=fold_bn, threshold=prune, sparsity=sparsity, dtype=dtype,
                        onnx=onnx, out=optional_path(out, "out"), measure_latency=latency, repeats=repeats,
                        threads=threads, log=None if quiet else print)
    return Export.of(result)
