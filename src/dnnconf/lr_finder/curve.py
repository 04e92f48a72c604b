"""The learning-rate finder's reading of its curve: the centered average and the four rules.

Centered curve. The sweep's causal average (`lr_finder.SweepRecorder`, β = 0.98, which decides when the
loss diverged) lags: at the default density its minimum sits about a decade of
learning rate past the batch losses' (fastai's suggestions inherit the lag). The suggestions and the plot
therefore read a centered curve: the same bias-corrected average with β = CENTERED_SMOOTHING = 0.8 (about
five batches each way: the divergence at the end pulls a wider one up early), run forward over the
batch losses and then backward over the result, whose lags cancel.

Suggestions (`suggest`), on the centered curve up to its last finite point, without its first
SKIP_START = 10% of points (where the average still rests on few batches; fastai skips as much):
- valley: fastai's "valley": the longest descent of the curve, taken as its longest decreasing
  subsequence (robust to the small bumps that would cut a strictly continuous run short), from point s
  to point e; the suggestion is its first point whose loss has come down VALLEY_DEPTH = ½ of the drop
  L_s − L_e: where the valley's lower half begins. (fastai takes the point half-way along the valley in
  steps; by loss, the slow drift of the plateau before the real descent, which the longest decreasing
  subsequence often includes, cannot pull the suggestion down to the plateau.)
- steepest: the most negative slope d smoothed / d log lr before the minimum, each slope taken between
  the points SLOPE_SPAN = 5% of the curve before and after (slopes between neighbours, whose learning
  rates differ by ~2%, measure the average's jitter, not the descent).
- min/10: the learning rate at the lowest smoothed loss, divided by 10 (fastai's "minimum").
- note: the note's rule made precise: after the minimum m, the first point c where the smoothed loss
  exceeds m + NOTE_MARGIN · (start − m), start being the curve's first (kept) value, i.e. where the loss
  has climbed back 10% of the way it came down; the suggestion is lr_c / NOTE_FACTOR (3: "a little
  below"). Without such a point (the loss never climbed), lr at the curve's end / NOTE_FACTOR.
Recommended: valley, whose point sits inside the descent, well before the minimum and the divergence;
when the curve has no clear descent (the valley spans fewer than VALLEY_MIN_FRACTION = 10% of the
points, or drops by less than VALLEY_MIN_DROP = 10% of its starting loss), min/10, which needs none.
For a one_cycle schedule the value is its peak, max_lr, which the cycle reaches only briefly between a
start at max_lr/10 and a long annealing: the note picks η1 "the same way as the best learning rate", a
little below where the loss starts climbing, and Smith (2018, the 1cycle paper) takes the range test's
upper bound; so there the note's rule is recommended. (Measured on Fashion-MNIST, the note's MLP, batch
32: valley 0.00382 as max_lr reached 0.8571 test accuracy in 10 epochs, the note rule's 0.029 0.8936 in 10
and 0.8971 in 15; README, "Find the learning rate".)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

CENTERED_SMOOTHING = 0.8  # β of the forward-and-backward average the suggestions and the plot read
SKIP_START = 0.1  # share of the first points the suggestions ignore
VALLEY_DEPTH = 0.5  # the valley rule suggests where the loss has come down this share of the valley's drop
VALLEY_MIN_FRACTION = 0.1  # a clear descent spans at least this share of the points …
VALLEY_MIN_DROP = 0.1  # … and lowers the smoothed loss by at least this share of its starting value
SLOPE_SPAN = 0.05  # steepest: slopes over ± this share of the points (one-step slopes are noise)
NOTE_MARGIN = 0.1  # the note's rule: "climbing" = back up by this share of the descent …
NOTE_FACTOR = 3.0  # … and the suggestion is that learning rate divided by this
MIN_DIVISOR = 10.0  # the min/10 rule
RULES = ("valley", "steepest", "min/10", "note")
RECOMMENDED, FALLBACK, FOR_ONE_CYCLE = "valley", "min/10", "note"
WHY = {
    "note": "the schedule is one_cycle, whose max_lr the note picks like the best learning rate: a little below "
            "where the loss starts climbing (the cycle starts at a tenth of it)",
    "valley": "half-way down the longest descent of the loss: where it falls fast, well before the minimum "
              "and the divergence",
    "min/10": "the curve has no clear descent, so the valley is unreliable; a tenth of the learning rate at "
              "the lowest loss is the safe choice",
}


def moving_average(values: list[float], beta: float) -> list[float]:
    """The bias-corrected exponential moving average of `values` (fastai's smoothing):
    a_t = β·a_(t−1) + (1 − β)·v_t, a_(−1) = 0, out_t = a_t / (1 − β^(t+1))."""
    average, out = 0.0, []
    for t, value in enumerate(values):
        average = beta * average + (1 - beta) * value
        out.append(average / (1 - beta ** (t + 1)))
    return out


def centered(losses: list[float], beta: float = CENTERED_SMOOTHING) -> list[float]:
    """The batch losses averaged forward, then backward (no lag); NaN from the first non-finite loss on."""
    finite = next((i for i, loss in enumerate(losses) if not math.isfinite(loss)), len(losses))
    forward = moving_average(list(losses[:finite]), beta)
    both = moving_average(forward[::-1], beta)[::-1]
    return both + [math.nan] * (len(losses) - finite)


def _kept(lrs: Any, smoothed: Any) -> tuple[np.ndarray, np.ndarray]:
    """The curve up to its last finite point, without the first SKIP_START share of points."""
    lrs, smoothed = np.asarray(lrs, dtype=np.float64), np.asarray(smoothed, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(smoothed))
    end = int(bad[0]) if len(bad) else len(smoothed)
    start = int(end * SKIP_START) if end - int(end * SKIP_START) >= 3 else 0
    return lrs[start:end], smoothed[start:end]


def longest_descent(smoothed: np.ndarray) -> tuple[int, int]:
    """(s, e) of the longest decreasing subsequence (fastai's valley): s its first point, e its last."""
    n = len(smoothed)
    if n < 2:
        return 0, max(n - 1, 0)
    length = np.ones(n, dtype=np.int64)
    previous = np.full(n, -1, dtype=np.int64)
    for i in range(1, n):
        higher = np.flatnonzero(smoothed[:i] > smoothed[i])
        if len(higher):
            j = higher[np.argmax(length[higher])]
            length[i], previous[i] = length[j] + 1, j
    end = int(np.argmax(length))  # the first point where the longest descent ends
    start = end
    while previous[start] >= 0:
        start = int(previous[start])
    return start, end


def suggest(lrs: Any, smoothed: Any) -> tuple[dict[str, float], bool]:
    """Every rule's suggestion on one smoothed curve, and whether the curve has a clear descent."""
    lr, loss = _kept(lrs, smoothed)
    if len(lr) == 0:
        first = float(np.asarray(lrs, dtype=np.float64)[0]) if len(lrs) else math.nan
        return {name: first / MIN_DIVISOR for name in RULES}, False
    n = len(lr)
    m = int(np.argmin(loss))
    s, e = longest_descent(loss)
    valley = lr[s + int(np.flatnonzero(loss[s:e + 1] <= loss[s] - VALLEY_DEPTH * (loss[s] - loss[e]))[0])]
    clear = (e - s) >= max(2, VALLEY_MIN_FRACTION * n) and loss[s] - loss[e] >= VALLEY_MIN_DROP * abs(loss[s])
    if m >= 2:
        h = max(1, round(SLOPE_SPAN * n))
        i = np.arange(m + 1)
        lo, hi = np.maximum(i - h, 0), np.minimum(i + h, m)
        log_lr = np.log(lr)
        slope = (loss[hi] - loss[lo]) / (log_lr[hi] - log_lr[lo])
        steepest = lr[int(np.argmin(slope))]
    else:
        steepest = lr[m]
    margin = NOTE_MARGIN * (loss[0] - loss[m]) if loss[0] > loss[m] else NOTE_MARGIN * abs(loss[m])
    climbed = np.flatnonzero(loss[m:] > loss[m] + margin)
    climb = lr[m + int(climbed[0])] if len(climbed) else lr[-1]
    values = {"valley": valley, "steepest": steepest, "min/10": lr[m] / MIN_DIVISOR, "note": climb / NOTE_FACTOR}
    return {name: float(values[name]) for name in RULES}, bool(clear)


def combine(per_repeat: list[dict[str, float]], clear: list[bool], schedule: str | None = None
            ) -> tuple[dict[str, float], dict[str, tuple[float, float]], str]:
    """Geometric means, (low, high) bands, and the recommended rule over the repeats (for `schedule`)."""
    suggestions, band = {}, {}
    for name in RULES:
        values = [r[name] for r in per_repeat]
        suggestions[name] = float(math.exp(sum(math.log(v) for v in values) / len(values)))
        band[name] = (float(min(values)), float(max(values)))
    if schedule == "one_cycle":
        recommended = FOR_ONE_CYCLE
    else:
        recommended = RECOMMENDED if 2 * sum(clear) >= len(clear) else FALLBACK
    return suggestions, band, recommended
