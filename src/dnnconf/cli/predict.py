"""`dnnconf predict RUN --input FILE [--mc-samples N] [--seed S] [--output FILE]`: a trained run's predictions.

Input: .npz (array `x`, else `x_test`), .csv (numeric rows, one example each, every column a feature;
an optional header row), or IDX (`.idx`, `*-ubyte`, `.gz`; gzip or raw), holding raw features in the
training data's units: the model's first layer normalizes them (`dnnconf.load`, `dnnconf.model.Model`,
which this command goes through, so Python and the command line give the same numbers). The
examples must have the model's input shape (`config.model.input_shape`), as (N, *shape) or flattened
(N, prod(shape)); a single example of exactly that shape is accepted too. Anything else exits 2 with
one line naming the file, the shape received and the shape expected.

Output, per example. Without --mc-samples: the plain prediction (every dropout off): `pred, p_0..p_k,
entropy`. With --mc-samples N (MC dropout, `dnnconf.uncertainty.mc_dropout`): `pred, p_0..p_k, std_0..std_k,
entropy, mutual_information`, with p the mean over the samples. A sigmoid head gives p_0, p_1 (P(class 0),
P(class 1)); a linear head (regression) gives `mean, std` (one output unit; `mean_i, std_i` for several)
and no entropy. --output FILE writes .csv (those columns) or .npz (arrays pred, mean, and std, entropy,
mutual_information where they apply); without it the first rows and a summary are printed.
"""

from __future__ import annotations

import argparse
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from dnnconf.arguments import at_most, seed_number
from dnnconf.errors import BadInput, DataError
from dnnconf.limits import MAX_MC_SAMPLES

SHOWN_ROWS = 10
IDX_SUFFIXES = (".idx", ".gz", ".ubyte")


def add_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add `predict` to the `dnnconf` subcommands; its handler is `cmd_predict`."""
    parser = subparsers.add_parser(
        "predict", help="predictions of a trained run, with mean/std/entropy under MC dropout",
        description="Predict new examples with a trained run: raw features in the training data's units "
                    "(the model's input layer normalizes them). --mc-samples N keeps dropout on and averages N "
                    "predictions (the note's MC dropout), adding the std per class, the predictive entropy "
                    "and the mutual information.")
    parser.add_argument("run", help="run folder (config.yaml, model.safetensors) or export folder")
    parser.add_argument("--input", required=True, metavar="FILE",
                        help=".npz (array x or x_test), .csv (numeric rows, optional header) or IDX (.gz or raw)")
    parser.add_argument("--mc-samples", type=at_most(MAX_MC_SAMPLES), default=None, metavar="N",
                        help="MC dropout: average N predictions with dropout on (e.g. 100)")
    parser.add_argument("--seed", type=seed_number(), default=0, help="seed of the dropout masks (default 0)")
    parser.add_argument("--output", metavar="FILE",
                        help="write the predictions: .csv or .npz (default: print the first rows and a summary)")
    parser.add_argument("--batch-size", type=at_most(), default=1024, help="examples per batch (default 1024)")
    parser.set_defaults(handler=cmd_predict)
    return parser


# --- input ---


def read_input(path: Path) -> np.ndarray:
    """The examples of an .npz, .csv or IDX file as an array (N, ...), read in bounded memory (each file's
    decompressed or parsed size is checked against the memory available first); complex values are
    refused, booleans become 0/1."""
    if not path.is_file():
        raise DataError(f"--input {path}: does not exist or is not a file")
    name = path.name.lower()
    if name.endswith(".npz"):
        x = _read_npz(path)
    elif name.endswith(".csv"):
        x = _read_csv(path)
    elif name.endswith(IDX_SUFFIXES) or "idx" in name:
        from dnnconf.data import read_idx

        x = read_idx(path, where=f"--input {path}")
    else:
        raise DataError(f"--input {path}: unknown format; accepted: .npz (array x or x_test), .csv, IDX (.idx, "
                        f".gz, *-ubyte)")
    if np.issubdtype(x.dtype, np.complexfloating):
        raise DataError(f"--input {path}: holds complex numbers ({x.dtype}); only real numbers work")
    if np.issubdtype(x.dtype, np.floating) and x.size and np.isfinite(x).all():
        from dnnconf.data.sources import FLOAT32_MAX

        largest = max(float(x.max()), -float(x.min()))
        if largest > FLOAT32_MAX:  # would be infinite in the float32 the network computes in
            raise DataError(f"--input {path}: holds {largest:.3g}, beyond float32's range (±{FLOAT32_MAX:.3g})")
    return x.astype(np.uint8) if x.dtype == np.bool_ else x


def _read_npz(path: Path) -> np.ndarray:
    from dnnconf.data.files import npz_members, read_npz  # (imports numpy only, but keeps --help fast)

    where = f"--input {path}"
    names = npz_members(where, path)
    key = next((key for key in ("x", "x_test") if key in names), None)
    if key is None:
        found = ", ".join(sorted(names)) or "none"
        raise DataError(f"{where}: needs an array 'x' (or 'x_test'); found {found}")
    return read_npz(where, path, [key], copies={key: 4})[key]  # + the float32 the network reads


def _read_csv(path: Path) -> np.ndarray:
    from dnnconf.data.files import read_csv_numbers

    return read_csv_numbers(f"--input {path}", path)[1]


def shaped(x: np.ndarray, input_shape: tuple[int, ...], path: Path) -> np.ndarray:
    """`x` as (N, *input_shape): accepts (N, *shape), (N, prod(shape)) or one example of exactly `shape`."""
    shape = tuple(int(d) for d in input_shape)
    size = math.prod(shape)
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise DataError(f"--input {path}: holds {x.dtype} values, not numbers")
    if x.shape == shape:
        x = x[None]
    elif x.ndim == 1 and size == 1:
        x = x[:, None]
    if x.ndim >= 1 and len(x) and (x.shape[1:] == shape or x.shape[1:] == (size,)):
        x = x.reshape(len(x), *shape)
    else:
        flat = f" or flattened (N, {size})" if len(shape) > 1 else ""
        raise DataError(f"--input {path}: examples of shape {tuple(x.shape)}, but the model expects "
                        f"(N, {', '.join(map(str, shape))}{',' if len(shape) == 1 else ''}){flat}")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        first = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
        raise DataError(f"--input {path}: NaN or Inf at index {first}; only finite numbers work")
    return x


def prepare(x: np.ndarray, config: Any, path: Path) -> np.ndarray:
    """Raw examples → the model's input shape (checked); they stay raw: the model normalizes them."""
    return shaped(x, tuple(config.model.input_shape), path)


# --- output ---


def columns(prediction: Any) -> tuple[list[str], np.ndarray]:
    """The output table: header and values (N, columns), as the module docstring describes."""
    mean = prediction.mean
    if prediction.head == "linear":
        units = mean.shape[1]
        names = ["mean", "std"] if units == 1 else [f"mean_{i}" for i in range(units)] + [f"std_{i}" for i in
                                                                                         range(units)]
        std = prediction.std if prediction.std is not None else np.zeros_like(mean)
        return names, np.concatenate([mean, std], axis=1)
    k = mean.shape[1]
    names = ["pred", *(f"p_{i}" for i in range(k))]
    parts = [prediction.pred[:, None].astype(np.float64), mean]
    if prediction.std is not None:
        names += [f"std_{i}" for i in range(k)]
        parts.append(prediction.std)
    names.append("entropy")
    parts.append(prediction.entropy[:, None])
    if prediction.mutual_information is not None:
        names.append("mutual_information")
        parts.append(prediction.mutual_information[:, None])
    return names, np.concatenate(parts, axis=1)


def _format(name: str, value: float) -> str:
    return str(int(value)) if name == "pred" else f"{value:.6g}"


def write_output(prediction: Any, path: Path) -> None:
    from dnnconf.safe_write import write_atomic

    if path.suffix.lower() == ".npz":
        arrays = {"pred": prediction.pred, "mean": prediction.mean}
        for key in ("std", "entropy", "mutual_information"):
            if getattr(prediction, key) is not None:
                arrays[key] = getattr(prediction, key)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        write_atomic(path, buffer.getvalue())
        return
    names, values = columns(prediction)
    lines = [",".join(names)] + [",".join(_format(n, v) for n, v in zip(names, row, strict=True)) for row in values]
    write_atomic(path, "\n".join(lines) + "\n")


def _check_output(path: Path) -> None:
    if path.suffix.lower() not in (".csv", ".npz"):
        raise BadInput(f"--output {path}: write .csv or .npz (chosen by the extension)")
    if path.is_dir():
        raise BadInput(f"--output {path}: is a folder; give a file name such as predictions.csv")
    if not path.parent.is_dir():
        raise BadInput(f"--output {path}: the folder {path.parent} does not exist")


def summary(prediction: Any, shown: int = SHOWN_ROWS) -> list[str]:
    """The first rows and a summary, for the terminal."""
    names, values = columns(prediction)
    what = f"MC dropout, {prediction.n_samples} samples" if prediction.n_samples else "plain (dropout off)"
    lines = [f"{len(values)} examples, {what}", "  ".join(f"{n:>9}" for n in names)]
    lines += ["  ".join(f"{_format(n, v):>9}" for n, v in zip(names, row, strict=True)) for row in values[:shown]]
    if len(values) > shown:
        lines.append(f"... ({len(values) - shown} more; --output FILE writes them all)")
    if prediction.head != "linear" and len(values):
        counts = np.bincount(prediction.pred.astype(np.int64), minlength=prediction.mean.shape[1])
        lines.append("predicted classes: " + ", ".join(f"{i}: {c}" for i, c in enumerate(counts)))
        lines.append(f"mean predictive entropy {prediction.entropy.mean():.4f} nats"
                     + (f", mean mutual information {prediction.mutual_information.mean():.4f}"
                        if prediction.mutual_information is not None else ""))
    elif prediction.std is not None and len(values):
        lines.append(f"mean std of the output {prediction.std.mean():.4g}")
    return lines


def cmd_predict(args: argparse.Namespace, log: Any = print) -> int:
    from dnnconf.model import Model

    if args.mc_samples is not None and args.mc_samples < 1:
        raise BadInput(f"--mc-samples: {args.mc_samples} must be at least 1")
    if args.batch_size < 1:
        raise BadInput(f"--batch-size: {args.batch_size} must be at least 1")
    output = Path(args.output) if args.output else None
    if output is not None:
        _check_output(output)
    model = Model.load(Path(args.run))
    path = Path(args.input)
    x = prepare(read_input(path), model.config, path)
    if args.mc_samples:
        prediction = model.mc_predict(x, args.mc_samples, args.seed, batch_size=args.batch_size)
    else:
        prediction = model.plain_predict(x, args.batch_size)
    if output is None:
        for line in summary(prediction):
            log(line)
    else:
        write_output(prediction, output)
        log(f"wrote {output}: {len(prediction)} predictions"
            + (f" (MC dropout, {prediction.n_samples} samples, seed {args.seed})" if prediction.n_samples else ""))
    return 0
