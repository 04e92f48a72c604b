"""The choices of `dnnconf recommend`, one function a part of the config: each returns its part as plain
data and writes the reason for every choice, with the note's section, into `comments` (keyed by the
dotted key path). `recommend.recommendation` calls them in the config's order."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

from dnnconf.errors import BadInput

Task = Literal["classification", "binary", "regression"]
Comments = dict[str, str]


@dataclass(frozen=True)
class Options:
    """What `dnnconf recommend` is asked for (its flags)."""

    deep: bool = False
    self_normalizing: bool = False
    regularize: bool = False
    sparse: bool = False
    low_latency: bool = False
    risk_sensitive: bool = False
    schedule: Literal["performance", "one_cycle"] = "performance"
    optimizer: Literal["nesterov", "adamw"] = "nesterov"
    task: Task = "classification"
    dataset: str = "fashion_mnist"
    input_shape: tuple[int, ...] | None = None
    classes: int | None = None
    hidden: tuple[int, ...] | None = None
    name: str | None = None

    def flags(self) -> str:
        """The command line that asks for these options."""
        parts = ["dnnconf recommend"]
        for item in fields(self):
            value = getattr(self, item.name)
            flag = "--" + item.name.replace("_", "-")
            if value is True:
                parts.append(flag)
            elif value not in (False, None, item.default):
                text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
                parts.append(f"{flag} {text}")
        return " ".join(parts)



def header(options: Options, exceptions: bool) -> list[str]:
    """The comment lines above the config: which table, the command that made it, the exceptions asked for."""
    sn, deep = options.self_normalizing, options.deep
    table = "self-normalizing" if sn else "default"
    header = [
        f"The note's {table} configuration (note §6 summary table, \"{table} configuration\"), "
        f"{'deep' if deep else 'shallow'} network{', with exceptions' if exceptions else ''}.",
        f"Made by: {options.flags()}",
        "Each choice below says why and where in the note (§1 gradients: 1.1 initialization, 1.2 activations, "
        "1.3 batch norm, 1.4 clipping; §2 transfer; §3 optimizers; §4 learning rates; §5 regularization; "
        "§6 summary). Numbers the note does not give are marked \"dnnconf default\".",
        "Check it with `dnnconf check FILE`; train it with `dnnconf train FILE`.",
    ]
    if options.low_latency:
        header.append("Low latency (note §6 exceptions): fewer layers, ReLU, batch norm folded into the previous "
                      "layers at export (`dnnconf export --fold-bn`), lower precision at export (`dnnconf export "
                      "--dtype float16`, or 8 bits); a sparse model (--sparse) helps too.")
    if options.sparse:
        header.append("Sparse model (note §6 exceptions): l1 regularization while training; zeroing the tiny "
                      "weights after training is done at export (`dnnconf export`).")
    if options.risk_sensitive:
        header.append("Risk-sensitive (note §6 exceptions; §5.4): MC dropout at evaluation, e.g. `dnnconf evaluate "
                      "RUN --mc-samples 100` averages 100 predictions with dropout on (the note's example): better "
                      "accuracy, more reliable probabilities and an uncertainty estimate.")
    header.append("Also from the note (§2, §6): if a pretrained network solves a similar task, reuse its lower "
                  "layers (transfer) instead of starting from scratch.")
    return header


def data_part(options: Options, source: dict[str, Any], c: Comments) -> dict[str, Any]:
    """`data:` the dataset, its validation split, normalization and the task's labels."""
    sn = options.self_normalizing
    data: dict[str, Any] = {"dataset": options.dataset, "valid_size": source["valid_size"], "normalize": "standardize"}
    c["data.dataset"] = source["why"] + "."
    c["data.valid_size"] = (source["valid_why"] + ": early stopping (note §5.1) and performance scheduling (§4) "
                            "measure the validation error.")
    if sn:  # the note: SELU needs every input feature at mean 0 and std 1, not one statistic per channel
        data["normalize_axis"] = "feature"
        c["data.normalize_axis"] = ("Feature: each input feature (pixel) standardized on its own, as SELU's "
                                    "self-normalization assumes (note §1.2).")
    c["data.normalize"] = ("Standardize (mean 0, std 1, training statistics): SELU self-normalizes only with "
                           "standardized inputs (note §1.2); always normalize the inputs (§6 exceptions)." if sn else
                           "Standardize with training statistics: always normalize the input features (note §6 "
                           "exceptions).")
    if options.dataset in ("npz", "csv"):
        c["data.path"] = f"Set this to your .{options.dataset} file."
    if options.task == "binary":
        if options.dataset in ("fashion_mnist", "digits"):
            data.update(classes=[0, 2], positive_class=2)
            c["data.classes"] = ("A binary task like the note's task B (§2): class 2 (pullover) against class 0 "
                                 "(T-shirt/top); on digits the same labels. Pick your own pair.")
            c["data.positive_class"] = "The class that counts as 1 (the note's task B: pullover)."
        else:
            data["positive_class"] = 1
            c["data.positive_class"] = "The label that counts as 1, every other label 0: set it for your data."
    elif options.task == "regression":
        data["task"] = "regression"
        c["data.task"] = "Regression: real-valued targets, a linear output unit and mean squared error."
    return data


def layers_part(options: Options, source: dict[str, Any], c: Comments) -> dict[str, Any]:
    """`model:` the input shape and the hidden layers' sizes."""
    deep = options.deep
    model: dict[str, Any] = {}
    shape = list(options.input_shape) if options.input_shape else source["input_shape"]
    model["input_shape"] = shape
    c["model.input_shape"] = "Set by --input-shape." if options.input_shape else source["shape_why"] + "."
    if options.hidden:
        model["hidden"] = list(options.hidden)
        c["model.hidden"] = "Set by --hidden."
    elif options.low_latency:
        model["hidden"] = [100]
        c["model.hidden"] = ("One hidden layer of 100: fewer layers for low latency (note §6 exceptions); the "
                             "first layer's size sets most of the cost (dnnconf default).")
    elif deep:
        model["hidden"] = [100] * 20
        c["model.hidden"] = ("20 hidden layers of 100: a deep network (more than 10 hidden layers, where "
                             "`dnnconf check` calls a network deep: DNC121); dnnconf default.")
    else:
        model["hidden"] = [300, 100]
        c["model.hidden"] = "300 then 100 units: the note's MLP (its batch-norm models, §1.3)."
    return model


def activation_part(options: Options, model: dict[str, Any], c: Comments) -> None:
    """`model:` activation, initializer and batch norm, from the table the options pick."""
    sn, deep = options.self_normalizing, options.deep
    if sn:
        model["activation"] = "selu"
        c["model.activation"] = ("SELU: the self-normalizing table (note §6); each layer's output tends to mean 0, "
                                 "variance 1, which solves vanishing gradients (§1.2).")
        model["kernel_initializer"] = "lecun_normal"
        c["model.kernel_initializer"] = ("LeCun normal: SELU self-normalizes only with it (note §1.2; §1.1 table: "
                                         "LeCun for SELU; §6 self-normalizing table).")
        model["batch_norm"] = "none"
        c["model.batch_norm"] = ("None: SELU normalizes on its own and cannot be used with batch norm (note §1.2; "
                                 "§6 self-normalizing table: no normalization).")
    else:
        if options.low_latency:
            model["activation"] = "relu"
            c["model.activation"] = ("ReLU: a fast activation for low latency (note §6 exceptions: ReLU or leaky "
                                     "ReLU); libraries and accelerators optimize it (§1.2).")
        elif deep:
            model["activation"] = "swish"
            c["model.activation"] = ("Swish: the better default for deep, more complex tasks (note §1.2; §6 default "
                                     "table: Swish if deep).")
        else:
            model["activation"] = "relu"
            c["model.activation"] = ("ReLU: a good default for simple tasks, as good as fancier activations and "
                                     "fast (note §1.2; §6 default table: ReLU if shallow).")
        model["kernel_initializer"] = "he_normal"
        c["model.kernel_initializer"] = ("He: the note's §1.1 table pairs He with ReLU and its variants (Swish "
                                         "included); §6 default table: He.")
        if deep or options.low_latency:
            model["batch_norm"] = "before_activation"
            c["model.batch_norm"] = (
                "Before the activation: dense → batch norm → activation, the order the note recommends (§1.3); "
                "the dense layers lose their bias (β does its job). "
                + ("§6 default table: batch norm if deep." if deep else
                   "For low latency it is folded into the previous dense layer at export "
                   "(`dnnconf export --fold-bn`, note §6 exceptions), so it costs nothing at inference."))
        else:
            model["batch_norm"] = "none"
            c["model.batch_norm"] = "None: the note's §6 default table, no normalization if shallow."


def dropout_part(options: Options, model: dict[str, Any], c: Comments) -> None:
    """`model.dropout`: alpha dropout with SELU, dropout for MC dropout, none otherwise."""
    sn = options.self_normalizing
    dropout: dict[str, Any] | None = None
    if sn and (options.regularize or options.risk_sensitive):
        dropout = {"rate": 0.1, "top_layers": 2, "kind": "alpha_dropout"}
        c["model.dropout"] = (
            "Alpha dropout: the self-normalizing table's regularization (note §6); it keeps SELU's mean and "
            "variance, regular dropout would not (§1.2). 10%, the low end of the usual 10–50%, on the top two "
            "hidden layers (§5.4: the top one to three); dnnconf default."
            + (" Kept on at evaluation for MC dropout (note §5.4, §6 exceptions)." if options.risk_sensitive else ""))
    elif options.risk_sensitive:
        dropout = {"rate": 0.2, "top_layers": 2, "kind": "dropout"}
        c["model.dropout"] = (
            "Dropout 20% (the note's example rate; usual 10–50%) on the top two hidden layers (§5.4: the top one to "
            "three, never the output). Kept on at evaluation for MC dropout: average many predictions (note §5.4, "
            "§6 exceptions: risk-sensitive applications).")
    else:
        c["model.dropout"] = ("None: the default table regularizes with early stopping (note §6); "
                              "--regularize or --risk-sensitive add dropout where the note puts it.")
    if dropout is not None:
        from dnnconf.config.schema import DropoutConfig  # lazy: pydantic's schema; `dnnconf --help` imports this module

        if "kind" not in DropoutConfig.model_fields:
            if dropout["kind"] != "dropout":
                raise BadInput("alpha dropout (model.dropout.kind) is not available in this dnnconf")
            del dropout["kind"]
        model["dropout"] = dropout


def regularizer_part(options: Options, model: dict[str, Any], c: Comments) -> None:
    """`model.kernel_regularizer` and `kernel_constraint`: l1 for sparsity, l2 when asked, none with SELU."""
    sn = options.self_normalizing
    penalty: dict[str, float] = {}
    reasons: list[str] = []
    if options.sparse:
        penalty["l1"] = 1e-4
        reasons.append("l1 1e-4 makes a sparse model: many weights end at zero (note §6 exceptions; l1 §5.3). The "
                       "factor is a dnnconf default: raise it for more zeros. Pruning the tiny weights after "
                       "training is done at export (`dnnconf export`), not here.")
    if options.regularize and not sn and options.optimizer == "nesterov":
        penalty["l2"] = 1e-4
        reasons.append("l2 1e-4: weight decay when needed (note §6 default table), which l2 does with SGD and "
                       "Nesterov (§5.3). The note's example l2(0.01) is strong for this size; 1e-4 is a dnnconf "
                       "default: raise it if the model still overfits.")
    if penalty:
        model["kernel_regularizer"] = penalty
        c["model.kernel_regularizer"] = " ".join(reasons)
    elif sn:
        c["model.kernel_regularizer"] = "None: SELU cannot be used with l1 or l2 regularization (note §1.2)."
    elif options.optimizer == "adamw":
        c["model.kernel_regularizer"] = ("None: with Adam-family optimizers use AdamW's weight decay instead of "
                                         "l1/l2 (note §5.3).")
    else:
        c["model.kernel_regularizer"] = ("None: weight decay only if needed (note §6 default table); "
                                         "--regularize adds l2.")
    c["model.kernel_constraint"] = ("None: SELU cannot be used with max-norm (note §1.2)." if sn else
                                    "None: max-norm (§5.5) is an optional extra regularizer.")


def output_part(options: Options, model: dict[str, Any], c: Comments) -> str:
    """`model.output` and the loss that goes with the task; returns the loss."""
    head = {"classification": "softmax", "binary": "sigmoid", "regression": "linear"}[options.task]
    model["output"] = {"units": options.classes if options.classes else None, "activation": head,
                       "kernel_initializer": "glorot_uniform"}
    c["model.output"] = {
        "classification": "Softmax over the classes (units null: one per class in the data"
                          + (f"; --classes {options.classes}" if options.classes else "") + ").",
        "binary": "One sigmoid unit for a binary task, as the note's task B model (§2).",
        "regression": "One linear unit for regression.",
    }[options.task] + " Glorot initialization: the §1.1 table pairs it with softmax, sigmoid and no activation."

    loss = {"classification": "sparse_categorical_crossentropy", "binary": "binary_crossentropy",
            "regression": "mse"}[options.task]
    c["loss"] = {
        "classification": "Sparse categorical cross-entropy for integer class labels, the loss the note's models "
                          "compile with (§1.3, §2, §5.4).",
        "binary": "Binary cross-entropy, the note's task B loss (§2).",
        "regression": "Mean squared error for regression (dnnconf default; the note has classifiers only).",
    }[options.task]
    return loss


def optimizer_part(options: Options, c: Comments) -> dict[str, Any]:
    """`optimizer:` Nesterov or AdamW, with the note's example values."""
    if options.optimizer == "adamw":
        decay = 0.004 if options.regularize else 1e-5
        optimizer: dict[str, Any] = {"name": "adamw", "learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999,
                                     "weight_decay": decay}
        c["optimizer"] = ("AdamW: the default table's alternative to Nesterov (note §6; §3.5), with decoupled "
                          "weight decay instead of l2 (§5.3). Learning rate 0.001, beta_1 0.9, beta_2 0.999: the "
                          "note's AdamW example (§3.5).")
        c["optimizer.weight_decay"] = (
            "0.004, Keras's default: weight decay when needed (note §6 default table)." if options.regularize else
            "1e-5: the note's AdamW example (§3.5), almost none; --regularize raises it to Keras's 0.004.")
    else:
        optimizer = {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9, "nesterov": True}
        c["optimizer"] = ("Nesterov accelerated gradient, the optimizer of both summary tables (note §6; §3.2). "
                          "Momentum 0.9, the typical value (§3.1). Learning rate 0.01: the rate of the note's "
                          "dropout and max-norm examples with momentum 0.9 (§5.4, §5.5); `dnnconf lr-find` finds "
                          "your own (§4).")
    c["optimizer.clipnorm"] = ("No clipping: the initialization, activation and normalization above keep the "
                               "gradients stable; if they explode, clip by norm (clipnorm), not by value (note §1.4).")
    return optimizer


def schedule_and_training_part(options: Options, c: Comments) -> tuple[dict[str, Any], dict[str, Any]]:
    """`schedule:` and `training:` performance scheduling or 1cycle, with the epochs and batch size they go with."""
    if options.schedule == "one_cycle":
        top = 0.01 if options.optimizer == "adamw" else 0.1
        schedule: dict[str, Any] = {"name": "one_cycle", "max_lr": top, "max_momentum": 0.95, "min_momentum": 0.85}
        c["schedule"] = ("1cycle (note §4; both §6 tables): the rate climbs linearly from start_lr (null: max_lr/10, "
                         "the note's η0 = η1/10) to max_lr, comes back down, then falls far below for the last "
                         "iterations (last_lr null: start_lr/1000); momentum cycles 0.95 → 0.85 → 0.95 (§4).")
        c["schedule.max_lr"] = (
            "0.01: ten times AdamW's 0.001, so that start_lr is the note's AdamW rate (dnnconf default); the note "
            "picks max_lr like the best learning rate: `dnnconf lr-find` (§4)." if options.optimizer == "adamw" else
            "0.1: the note's 1cycle example (§4), whose start_lr 0.01 is also the optimizer's rate.")
        epochs, batch = 25, 128
        c["training.epochs"] = "25 epochs of batch 128: the note's 1cycle example (§4); the cycle spans them all."
    else:
        schedule = {"name": "performance", "factor": 0.5, "patience": 5}
        c["schedule"] = ("Performance scheduling (note §4; both §6 tables): multiply the rate by 0.5 when the "
                         "validation loss has not improved for 5 epochs, the note's "
                         "ReduceLROnPlateau(factor=0.5, patience=5).")
        epochs, batch = 100, 32
        c["training.epochs"] = "100 at most: early stopping ends the run when it stops improving (note §5.1)."
    c["training.batch_size"] = ("128: the note's 1cycle example (§4)." if batch == 128 else
                                "32: Keras's default, the note's examples.")
    training = {"epochs": epochs, "batch_size": batch,
                "early_stopping": {"monitor": "val_loss", "patience": 10, "restore_best_weights": True}}
    c["training.early_stopping"] = (
        "Early stopping on the validation loss, keeping the best epoch's weights: the regularization of both "
        "summary tables (note §6; §5.1). Patience 10 (dnnconf default): "
        + ("twice the schedule's 5, so the rate can drop before training stops." if options.schedule == "performance"
           else "long enough not to cut the cycle short while the rate is high."))
    return schedule, training
