"""The numbers behind the diagnosis's verdicts (`dnnconf.diagnosis.verdicts` says how each is used; the
report saves them beside its findings)."""

from __future__ import annotations

VANISHING_RATIO = 1e-3  # ‖∇W‖ first hidden / last hidden below this: vanishing
EXPLODING_RATIO = 1e3  # … above this: exploding
ACTIVATION_SHRINK = 0.01  # act_std last hidden / first hidden below this: variance shrinks with depth
ACTIVATION_GROWTH = 100.0  # … above this: variance grows with depth
SATURATION_SHARE = 0.10  # mean saturated share of the tanh/sigmoid hidden layers above this: saturation
DEAD_SHARE = 0.50  # mean dead share of the ReLU-family hidden layers above this: dead units
TANH_SATURATED = 0.99  # |tanh| above this is saturated
SIGMOID_SATURATED = (0.01, 0.99)  # sigmoid below the first or above the second is saturated
SELU_STD_RANGE = (0.5, 2.0)  # a SELU layer's output std outside this has drifted
SELU_MEAN_LIMIT = 0.5  # … or its |mean| above this
INPUT_MEAN_LIMIT = 0.25  # measured inputs count as standardized with |mean| ≤ this …
INPUT_STD_RANGE = (0.5, 2.0)  # … and std in this range
MIN_HIDDEN = 2  # hidden layers needed to compare the bottom with the top

THRESHOLDS = {name: globals()[name] for name in (
    "VANISHING_RATIO", "EXPLODING_RATIO", "ACTIVATION_SHRINK", "ACTIVATION_GROWTH", "SATURATION_SHARE",
    "DEAD_SHARE", "TANH_SATURATED", "SIGMOID_SATURATED", "SELU_STD_RANGE", "SELU_MEAN_LIMIT",
    "INPUT_MEAN_LIMIT", "INPUT_STD_RANGE", "MIN_HIDDEN")}
