"""The configuration: typed plain data whose defaults are the note's default configuration.

Defaults and where they come from (the note's summary table, "default configuration"):
He initialization, ReLU (shallow network), no batch norm, early stopping, Nesterov accelerated
gradient, performance scheduling. Numeric semantics are Keras's (the note's framework): batch-norm
`momentum: 0.99` keeps 99% of the moving average, `epsilon: 1e-3`; `l2: 0.01` adds 0.01·Σw².

Names of registry entries (initializers, activations, optimizers, schedules) are validated against
the registries by `dnnconf.config.load`, which also fills in their parameters' defaults.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from dnnconf.limits import MAX_LAYERS, MAX_PARALLEL_SEEDS, MAX_THREADS, SEED_MAX
from dnnconf.nn.constraints import ConstraintConfig
from dnnconf.nn.regularizers import RegularizerConfig
from dnnconf.registry import Spec, Strict

# keys of the compact model form; the explicit `layers` form sets these per layer instead
COMPACT_KEYS = ("hidden", "activation", "kernel_initializer", "batch_norm", "dropout", "kernel_regularizer",
                "kernel_constraint")


class DataConfig(Strict):
    """Where the data comes from and how it is split and normalized."""

    dataset: Literal["fashion_mnist", "digits", "npz", "csv"] = Field(
        "fashion_mnist", description="fashion_mnist (IDX files), digits (scikit-learn), npz or csv (your own)"
    )
    path: str | None = Field(
        None, description="folder of the IDX files, or the .npz/.csv file; fashion_mnist searches the usual places"
    )
    valid_size: int | float = Field(
        5000, description="examples held out of the training split for validation: a count, or a fraction in (0, 1)"
    )
    test_size: float = Field(
        0.2, gt=0, lt=1, description="share held out for test when the source has no test split (digits, csv, npz)"
    )
    normalize: Literal["standardize", "minmax", "none"] = Field(
        "standardize", description="standardize or minmax with statistics of the training split only; none. "
        "The network's first layer applies it, so models take raw inputs (docs/data.md)"
    )
    normalize_axis: Literal["auto", "channel", "feature"] = Field(
        "auto", description="which values share a statistic: channel = one per image channel (a grey image: "
        "one mean and std), feature = one per input feature (each pixel); auto = channel for image-shaped "
        "inputs (rank >= 2), feature for tabular ones"
    )
    normalize_on: Literal["train", "all_train"] = Field(
        "train", description="whose statistics normalize: train = the training examples kept (after classes "
        "and train_limit); all_train = the whole training split before them (statistics need no labels)"
    )
    classes: list[int] | None = Field(
        None, description="keep only these original classes, relabelled 0..k-1 in the order given"
    )
    positive_class: int | None = Field(
        None, ge=0, description="binary task: this original class is 1, every other kept class 0"
    )
    train_limit: int | None = Field(
        None, ge=1, description="keep only the first N training examples (after the class filter)"
    )
    label_column: str | int = Field(-1, description="csv: the label column, by header name or index")
    task: Literal["auto", "classification", "regression"] = Field(
        "auto", description="auto: classification for integer labels, regression otherwise"
    )
    split_seed: int = Field(
        0, ge=0, le=SEED_MAX, description="seed of the shuffle that makes the validation/test splits"
    )

    @field_validator("valid_size")
    @classmethod
    def _valid_size(cls, value: int | float) -> int | float:
        if isinstance(value, float) and not 0 <= value < 1:
            raise ValueError("a fraction must be in [0, 1)")
        if isinstance(value, int) and value < 0:
            raise ValueError("a count must be >= 0")
        return value

    @field_validator("classes")
    @classmethod
    def _classes(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and any(label < 0 for label in value):
            raise ValueError("original classes are labels >= 0")
        return value


class BatchNormConfig(Strict):
    """Batch normalization with Keras's parameters (momentum keeps that share of the moving average)."""

    position: Literal["none", "before_activation", "after_activation"] = Field(
        "none", description="where batch norm goes in each hidden layer (a plain string sets only this)"
    )
    momentum: float = Field(0.99, gt=0, lt=1, description="share of the moving averages kept at each step")
    epsilon: float = Field(1e-3, gt=0, description="added to the variance before the square root")
    center: bool = Field(True, description="learn the offset β")
    scale: bool = Field(True, description="learn the scale γ")


class DropoutConfig(Strict):
    """Dropout on the top `top_layers` hidden layers (the note: one to three, 10–50%)."""

    rate: float = Field(0.2, ge=0, lt=1, description="probability of dropping each input while training")
    top_layers: int = Field(2, ge=0, description="hidden layers, from the top, followed by dropout; more than "
                            "there are also drops the inputs")
    kind: Literal["dropout", "alpha_dropout"] = Field(
        "dropout", description="dropout, or alpha_dropout (keeps mean and variance: for SELU networks)"
    )


class OutputConfig(Strict):
    """The output layer; `null` values are inferred from the data (classes → units, task → activation)."""

    units: int | None = Field(None, ge=1, description="null: classes (softmax), 1 (sigmoid, linear)")
    activation: Literal["softmax", "sigmoid", "linear"] | None = Field(
        None, description="null: softmax for classes, sigmoid for a binary task, linear for regression"
    )
    kernel_initializer: Spec = Field("glorot_uniform", description="Keras's default for the output layer")


class ModelConfig(Strict):
    """The network: the compact form (hidden, activation, …) or the explicit `layers` list."""

    input_shape: list[int] | None = Field(
        None, min_length=1, max_length=3, description="inferred from the data when null"
    )
    hidden: list[int] = Field(
        [300, 100], min_length=1, max_length=MAX_LAYERS, description="units of each hidden dense layer"
    )
    activation: Spec = Field("relu", description="hidden activation: a name or {name, params}")
    kernel_initializer: Spec = Field("he_normal", description="hidden kernels' initializer")
    batch_norm: BatchNormConfig = Field(default_factory=BatchNormConfig, description="none | "
                                        "before_activation | after_activation, or a mapping")
    dropout: DropoutConfig | None = Field(None, description="dropout on the top hidden layers")
    kernel_regularizer: RegularizerConfig | None = Field(None, description="l1/l2 penalty on every dense kernel")
    kernel_constraint: ConstraintConfig | None = Field(None, description="max-norm on the hidden kernels")
    output: OutputConfig = Field(default_factory=OutputConfig, description="the output layer")
    layers: list[dict[str, Any]] | None = Field(
        None, max_length=MAX_LAYERS,
        description="explicit form: [{flatten: {}}, {dense: {units: 300}}, {activation: relu}, …]"
    )

    @field_validator("hidden")
    @classmethod
    def _hidden(cls, value: list[int]) -> list[int]:
        if any(units < 1 for units in value):
            raise ValueError("every hidden layer needs at least 1 unit")
        return value

    @field_validator("input_shape")
    @classmethod
    def _input_shape(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and any(size < 1 for size in value):
            raise ValueError("every dimension of the input needs a size >= 1")
        return value

    @field_validator("batch_norm", mode="before")
    @classmethod
    def _batch_norm_shorthand(cls, value: Any) -> Any:
        return {"position": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_form(self) -> ModelConfig:
        compact = set(COMPACT_KEYS) & self.model_fields_set
        if self.layers is not None and compact:
            raise ValueError(
                f"give either the explicit 'layers' or the compact keys, not both (found {sorted(compact)})"
            )
        return self


class OptimizerConfig(Strict):
    """The optimizer as a registry spec plus Keras's clipping options (null: no clipping)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)
    name: str = Field("sgd", description="a name from `dnnconf list optimizers`; its parameters sit beside it")
    clipnorm: float | None = Field(None, gt=0, description="clip each gradient tensor to this L2 norm")
    global_clipnorm: float | None = Field(None, gt=0, description="clip all gradients together to this norm")
    clipvalue: float | None = Field(None, gt=0, description="clip every gradient component to [-v, v]")


class EarlyStoppingConfig(Strict):
    """Keras's EarlyStopping: stop after `patience` epochs without an improvement of `min_delta`."""

    monitor: str = Field("val_loss", description="a logged metric: val_loss, val_accuracy, loss, …")
    mode: Literal["auto", "min", "max"] = Field("auto", description="auto: max for accuracies, min otherwise")
    min_delta: float = Field(0.0, ge=0, description="smallest change that counts as an improvement")
    patience: int = Field(10, ge=0, description="epochs without improvement before stopping")
    restore_best_weights: bool = Field(True, description="end with the best epoch's weights")


class TrainingConfig(Strict):
    epochs: int = Field(100, ge=1, description="most epochs to train")
    batch_size: int = Field(32, ge=1, description="examples per optimizer step (Keras's default 32)")
    early_stopping: EarlyStoppingConfig | None = Field(
        default_factory=EarlyStoppingConfig, description="null turns it off"
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = Field("auto", description="auto: a GPU when there is one")
    threads: int | None = Field(None, ge=1, le=MAX_THREADS, description="CPU threads; null: all cores")
    eval_batch_size: int = Field(4096, ge=1, description="examples per forward pass when evaluating")
    layer_stats: bool = Field(
        False, description="record each layer's gradient norm per epoch (history columns grad_norm/<layer>)"
    )
    checkpoint_every: int | None = Field(
        None, ge=1, description="also checkpoint every N optimizer steps (null: at each epoch end only)"
    )
    sync_batch_norm: bool = Field(
        False, description="under torchrun: batch norm uses the mean and variance of the global batch (all "
        "processes' shares), as one process would; false: each process its own share's"
    )
    compile: bool = Field(
        False, description="torch.compile the training forward/backward (TorchInductor): fused kernels for GPUs; "
        "on 2 CPU cores measured 0-20% slower, and the first epoch waits for the compiler (~20 s, less once cached)"
    )
    parallel_seeds: int = Field(
        1, ge=1, le=MAX_PARALLEL_SEEDS,
        description="train K copies differing only in seed (seed, seed+1, …) as one batched computation; "
        "each member gets its own run folder seed-<s>/ (dense, batch_norm, dropout and activation layers)"
    )
    precision: Literal["float32", "bf16"] = Field(
        "float32", description="bf16: the training forward pass and loss under bfloat16 autocast, weights and "
        "optimizer state in float32 (for GPUs and CPUs with AVX-512 BF16 / AMX; see docs/performance.md)"
    )
    tensorboard: bool | str = Field(
        False, description="write TensorBoard event files (scalars, weight and gradient histograms, the config): "
        "true: into <run>/tensorboard/; a path: into <path>/<run folder name>/ (needs the tensorboard extra)"
    )

    @field_validator("tensorboard")
    @classmethod
    def _tensorboard_target(cls, value: bool | str, info: Any) -> bool | str:
        if isinstance(value, str) and not value.strip():
            raise ValueError("true, false or a folder path")
        if value and info.data.get("parallel_seeds", 1) > 1:
            raise ValueError("not available with training.parallel_seeds > 1 (one event log a run); use "
                             "parallel_seeds: 1 or tensorboard: false")
        return value


def _top_layers(value: Any) -> Any:
    if isinstance(value, int) and value < 1:
        raise ValueError("unfreeze the top k >= 1 layers, or all, or none")
    return value


# which copied layers (transfer's reused, pretrain's pretrained) unfreeze after freeze_epochs
Unfreeze = Annotated[Literal["all", "none"] | int, AfterValidator(_top_layers)]


class TransferConfig(Strict):
    """Reuse a trained run's lower layers (the note's section 2): copy, freeze, then unfreeze.

    The new network is this config's `model` (its output from the data); its first layers take copies
    of the source run's weights. A "layer" is a dense or conv2d layer with the activation, batch norm,
    pooling and dropout that follow it (what comes before the first one, e.g. flatten, goes with it).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)
    from_: str = Field(alias="from", description="the source run folder (train it first, e.g. with --out)")
    reuse: Literal["all_but_output"] | int | list[str] = Field(
        "all_but_output", description="all_but_output, the first N layers of the source, or a list of module "
        "names (dense_1, batch_norm_2, …)"
    )
    drop_top: int = Field(0, ge=0, description="reuse that many fewer layers from the top (the note: drop the top "
                          "hidden layer when little data fits)")
    freeze_epochs: int = Field(4, ge=0, description="epochs with the reused layers frozen (their batch norm in "
                               "inference mode); 0: never frozen")
    unfreeze: Unfreeze = Field(
        "all", description="after freeze_epochs: all reused layers, none, or the top k of them"
    )
    unfreeze_lr_factor: float = Field(
        1.0, gt=0, description="the unfrozen reused layers learn at this factor times the rate (the note: "
        "lower it, e.g. 0.1)"
    )
    normalization: Literal["source", "own"] = Field(
        "source", description="source: normalize inputs with the source run's training statistics (what its "
        "layers learned on); own: this data's"
    )

    @field_validator("reuse")
    @classmethod
    def _reuse(cls, value: Any) -> Any:
        if isinstance(value, int) and value < 1:
            raise ValueError("reuse at least 1 layer (or all_but_output, or a list of names)")
        if isinstance(value, list) and not value:
            raise ValueError("name at least one layer to reuse")
        return value


class NoiseConfig(Strict):
    """Corruption of the autoencoder's inputs (a denoising autoencoder); the targets stay clean."""

    kind: Literal["gaussian", "dropout"] = Field(
        description="gaussian: add N(0, std²) to each normalized input; dropout: zero each input with "
        "probability rate (scaled by 1/(1-rate))"
    )
    std: float = Field(0.1, gt=0, description="gaussian: the noise's standard deviation, in normalized units")
    rate: float = Field(0.2, gt=0, lt=1, description="dropout: the probability of dropping each input")


class PretrainConfig(Strict):
    """Unsupervised pretraining (the note's section 2): an autoencoder learns the model's hidden stack on
    unlabeled inputs, whose weights then start the supervised run (copied, frozen, unfrozen as in transfer).

    The encoder is the model's hidden layers (every layer but the output); the decoder mirrors its dense
    layers back to the input size, ending linear (mse) or sigmoid (binary_crossentropy).
    """

    method: Literal["autoencoder", "greedy_layerwise"] = Field(
        "autoencoder", description="autoencoder: one deep autoencoder, trained whole; greedy_layerwise: one "
        "shallow autoencoder per hidden layer, each on the codes of the layers below"
    )
    unlabeled: Literal["all_train"] = Field(
        "all_train", description="the unlabeled inputs: the whole training split without labels (before "
        "data.classes and data.train_limit; the validation split stays out)"
    )
    epochs: int = Field(10, ge=1, description="epochs of pretraining (greedy_layerwise: of each layer)")
    batch_size: int = Field(32, ge=1, description="examples per optimizer step while pretraining")
    loss: Literal["mse", "binary_crossentropy"] = Field(
        "mse", description="reconstruction loss: mse (linear output), or binary_crossentropy (sigmoid output; "
        "needs inputs in [0, 1]: data.normalize: minmax)"
    )
    noise: NoiseConfig | None = Field(None, description="corrupt the inputs (a denoising autoencoder); null: none")
    optimizer: OptimizerConfig = Field(
        default_factory=lambda: OptimizerConfig(name="adam", learning_rate=0.001),
        description="the pretraining optimizer, at a constant rate (Adam by default; a section without `name` "
        "tunes it)",
    )
    freeze_epochs: int = Field(4, ge=0, description="epochs of supervised training with the pretrained layers "
                               "frozen (their batch norm in inference mode); 0: never frozen")
    unfreeze: Unfreeze = Field(
        "all", description="after freeze_epochs: all pretrained layers, none, or the top k of them"
    )
    unfreeze_lr_factor: float = Field(
        1.0, gt=0, description="the unfrozen pretrained layers learn at this factor times the rate"
    )
    reuse_from: str | None = Field(
        None, description="a finished pretraining folder (a run's pretrain/) to reuse instead of pretraining; "
        "its settings, seed, data and hidden layers must be this config's"
    )


class Config(Strict):
    """A whole run: data, model, loss, optimizer, schedule, training."""

    name: str = Field("run", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="names the run folder")
    seed: int = Field(42, ge=0, le=SEED_MAX, description="initial weights, batch order and dropout masks all follow it")
    data: DataConfig = Field(default_factory=DataConfig, description="the data")
    model: ModelConfig = Field(default_factory=ModelConfig, description="the network")
    loss: Literal["sparse_categorical_crossentropy", "binary_crossentropy", "mse"] | None = Field(
        None, description="null: follows the output (softmax → sparse CE, sigmoid → binary CE, linear → MSE)"
    )
    optimizer: OptimizerConfig = Field(
        default_factory=lambda: OptimizerConfig(name="sgd", learning_rate=0.01, momentum=0.9, nesterov=True),
        description="Nesterov SGD by default; a section without `name` tunes that default",
    )
    schedule: Spec = Field(
        default_factory=lambda: {"name": "performance", "factor": 0.5, "patience": 5},
        description="learning-rate schedule: constant, performance, …",
    )
    training: TrainingConfig = Field(default_factory=TrainingConfig, description="the loop")
    transfer: TransferConfig | None = Field(None, description="reuse a trained run's layers (null: train from "
                                            "scratch)")
    pretrain: PretrainConfig | None = Field(None, description="pretrain the hidden layers as an autoencoder on "
                                            "unlabeled inputs first (null: no pretraining)")
