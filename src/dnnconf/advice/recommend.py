"""`dnnconf recommend`: a complete configuration from the note's summary tables, every choice commented.

The two tables of the note's summary (§6), restated in `../seed/README.md`:

    default (shallow / deep)    He · ReLU / Swish · no normalization / batch norm · early stopping,
                                weight decay if needed · Nesterov or AdamW · performance or 1cycle
    self-normalizing            LeCun · SELU · none · alpha dropout if needed · Nesterov ·
                                performance or 1cycle

and its exceptions: a sparse model (l1; prune tiny weights after training), a low-latency model
(fewer layers, ReLU or leaky ReLU, batch norm folded into the previous layers, lower precision), a
risk-sensitive application (MC dropout). Inputs are always normalized.

The output is the resolved config exactly as `dump_config` writes it (so it loads with `load_config`
and dumps back to the same data), with a comment above each choice giving the reason and the note's
section. Numbers the note does not give are marked "dnnconf default" with their reason.
"""

from __future__ import annotations

import textwrap
from typing import Any

import yaml

from dnnconf.advice import recommend_choices as choices
from dnnconf.advice.recommend_choices import Options, Task  # noqa: F401 - their home is the choices' module
from dnnconf.errors import BadInput

DATASETS: dict[str, dict[str, Any]] = {
    "fashion_mnist": {
        "input_shape": [28, 28], "valid_size": 5000,
        "why": "Fashion-MNIST, the note's dataset: 28×28 images of 10 kinds of clothing",
        "valid_why": "5,000 validation images, the note's (the book's) Fashion-MNIST split",
        "shape_why": "28×28 images, as the note's Flatten(input_shape=[28, 28])",
    },
    "digits": {
        "input_shape": [8, 8], "valid_size": 0.15,
        "why": "scikit-learn's 8×8 digits: small, offline, trains in seconds",
        "valid_why": "15% held out for validation (dnnconf default for this small set, as in "
                     "examples/digits_default.yaml)",
        "shape_why": "8×8 digit images",
    },
    "npz": {"input_shape": None, "valid_size": 0.1, "why": "your own data: set data.path to the .npz file",
            "valid_why": "10% held out for validation (dnnconf default)", "shape_why": "null: inferred from the data"},
    "csv": {"input_shape": None, "valid_size": 0.1, "why": "your own data: set data.path to the .csv file",
            "valid_why": "10% held out for validation (dnnconf default)", "shape_why": "null: inferred from the data"},
}


def validate(options: Options) -> None:
    """Refuse combinations the note's tables and exceptions contradict (BadInput: exit 2)."""
    conflicts = [
        (options.self_normalizing and options.optimizer == "adamw",
         "--self-normalizing uses Nesterov (the note's self-normalizing table); drop --optimizer adamw"),
        (options.self_normalizing and options.sparse,
         "--sparse needs l1 regularization, which SELU cannot use (note §1.2); drop one of them"),
        (options.self_normalizing and options.low_latency,
         "--low-latency uses ReLU or leaky ReLU (note §6 exceptions), not SELU; drop one of them"),
        (options.sparse and options.optimizer == "adamw",
         "--sparse adds l1 regularization, which does not suit Adam-family optimizers (note §5.3); "
         "use the default Nesterov optimizer"),
        (options.low_latency and options.deep, "--low-latency means fewer layers (note §6 exceptions); drop --deep"),
        (options.low_latency and options.risk_sensitive,
         "--risk-sensitive uses MC dropout, many predictions per input: for applications where latency does not "
         "matter (note §6 exceptions); drop one of them"),
        (options.classes is not None and options.task != "classification",
         f"--classes is for --task classification (a {options.task} task has one output unit)"),
        (options.classes is not None and (options.classes or 0) < 2, "--classes: a classifier needs at least 2"),
        (options.dataset not in DATASETS, f"--dataset {options.dataset!r}: use one of {', '.join(DATASETS)}"),
        (options.hidden is not None and (not options.hidden or min(options.hidden) < 1),
         "--hidden: every hidden layer needs at least 1 unit, e.g. --hidden 300,100"),
        (options.input_shape is not None and (not options.input_shape or min(options.input_shape) < 1),
         "--input-shape: give positive sizes, e.g. --input-shape 28,28"),
    ]
    for conflict, message in conflicts:
        if conflict:
            raise BadInput(message)


def _name(options: Options) -> str:
    if options.name:
        return options.name
    parts = [options.dataset, "self-normalizing" if options.self_normalizing else "default"]
    parts += [word for flag, word in ((options.deep, "deep"), (options.sparse, "sparse"),
                                      (options.low_latency, "low-latency"), (options.risk_sensitive, "risk-sensitive"),
                                      (options.regularize, "regularized"), (options.schedule == "one_cycle", "1cycle"),
                                      (options.optimizer == "adamw", "adamw")) if flag]
    if options.task != "classification":
        parts.append(options.task)
    return "-".join(parts)


def recommendation(options: Options) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """(the config as plain data, comments by key path, header comment lines)."""
    validate(options)
    source = DATASETS[options.dataset]
    c: dict[str, str] = {}  # comments, by dotted key path
    data = choices.data_part(options, source, c)
    model = choices.layers_part(options, source, c)
    choices.activation_part(options, model, c)
    choices.dropout_part(options, model, c)
    choices.regularizer_part(options, model, c)
    loss = choices.output_part(options, model, c)
    optimizer = choices.optimizer_part(options, c)
    schedule, training = choices.schedule_and_training_part(options, c)
    c["name"] = "Names the run folder: runs/<name>-<timestamp>."
    c["seed"] = "dnnconf default: the initial weights, batch order and dropout masks all follow it."
    raw = {"name": _name(options), "seed": 42, "data": data, "model": model, "loss": loss, "optimizer": optimizer,
           "schedule": schedule, "training": training}
    return raw, c, choices.header(options, _exceptions(options))


def _exceptions(options: Options) -> bool:
    return options.sparse or options.low_latency or options.risk_sensitive


def recommend_config(options: Options) -> Any:
    """The recommended configuration as a resolved `Config`."""
    from dnnconf.config import config_from_dict

    raw, _, _ = recommendation(options)
    return config_from_dict(raw, "dnnconf recommend")


def _scalar(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6, allow_unicode=True, sort_keys=False)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _render(data: dict[str, Any], comments: dict[str, str], prefix: str = "", indent: int = 0) -> list[str]:
    lines: list[str] = []
    pad = " " * indent
    for key, value in data.items():
        path = f"{prefix}{key}"
        if indent == 0 and lines:
            lines.append("")
        if path in comments:
            lines += [f"{pad}# {line}" for line in textwrap.wrap(comments[path], width=110 - indent)]
        if isinstance(value, dict) and value:
            lines.append(f"{pad}{key}:")
            lines += _render(value, comments, path + ".", indent + 2)
        else:
            lines.append(f"{pad}{key}: {_scalar(value)}")
    return lines


def render(data: dict[str, Any], comments: dict[str, str], header: list[str]) -> str:
    """YAML of `data` (mappings in block style, lists in flow style) with `comments` above their keys."""
    lines = [f"# {line}" for paragraph in header for line in textwrap.wrap(paragraph, width=110)]
    return "\n".join([*lines, "", *_render(data, comments)]) + "\n"


def recommend(options: Options) -> str:
    """The recommended configuration as commented YAML: the resolved config as `dump_config` writes it."""
    from dnnconf.config import config_from_dict, dump_config

    raw, comments, header = recommendation(options)
    data = yaml.safe_load(dump_config(config_from_dict(raw, "dnnconf recommend")))
    missing = [path for path in comments if not _has(data, path)]
    if missing:  # a comment on a key the schema does not have: a bug here, not in the input
        raise AssertionError(f"recommend: comments on unknown keys {missing}")
    return render(data, comments, header)


def _has(data: dict[str, Any], path: str) -> bool:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True
