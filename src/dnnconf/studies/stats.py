"""Statistics the studies share: mean ± sample std, Student's t critical values, 95% intervals and verdicts.

The two-sided 95% critical value of t comes from SciPy (installed with scikit-learn, a dependency).
Intervals are Student's t intervals of a mean, mean ± t(0.975, n − 1) · s / √n:
`paired_difference` on the differences b − a of pairs that share a seed, `one_sample` on values minus a
fixed number (a published single run). `verdict` turns an interval into "agrees", "disagrees" or "not
resolved at N seeds" for a claim that the difference is positive, negative, or within ± a tolerance.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass


def t_critical(df: int) -> float:
    """The two-sided 95% critical value of Student's t with `df` degrees of freedom, t(0.975, df)."""
    from scipy.stats import t as student_t  # lazy: SciPy's import costs ~0.3 s, and `--help` loads this module

    return float(student_t.ppf(0.975, df))


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n − 1); the std is NaN for one value, both NaN for none."""
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else math.nan)


def plus_minus(pair: tuple[float, float], digits: int = 4) -> str:
    """`mean ± std`, or the mean alone when there is no std, or `–` when there is nothing."""
    mean, std = pair
    if not math.isfinite(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if math.isfinite(std) else f"{mean:.{digits}f}"


@dataclass
class Paired:
    n: int
    mean: float
    std: float
    low: float
    high: float

    @property
    def verdict(self) -> str:
        if self.n < 2:
            return "no clear difference (one seed: no interval)"
        if self.low > 0:
            return "helps"
        if self.high < 0:
            return "hurts"
        return "no clear difference"


def t_interval(values: list[float]) -> Paired:
    """Mean, sample std and the 95% t-interval of the mean of `values` (no interval below two values;
    all NaN for none)."""
    n = len(values)
    if n == 0:
        return Paired(0, math.nan, math.nan, math.nan, math.nan)
    mean = statistics.fmean(values)
    if n < 2:
        return Paired(n, mean, math.nan, math.nan, math.nan)
    std = statistics.stdev(values)
    half = t_critical(n - 1) * std / math.sqrt(n)
    return Paired(n, mean, std, mean - half, mean + half)


def paired_difference(a: list[float], b: list[float]) -> Paired:
    """b − a per pair: mean, sample std and the 95% t-interval of the mean."""
    return t_interval([y - x for x, y in zip(a, b, strict=True)])


def one_sample(values: list[float], reference: float) -> Paired:
    """values − reference: the 95% t-interval of how far the mean of `values` lies from a fixed number."""
    return t_interval([value - reference for value in values])


EXPECTATIONS = ("higher", "lower", "within")
AGREES, DISAGREES = "agrees", "disagrees"


def verdict(interval: Paired, expect: str, tolerance: float = 0.0) -> str:
    """What the interval says of a claim about the difference it estimates.

    `expect` "higher": the claim is difference > 0 (agrees when the whole interval is above 0, disagrees
    when it is below); "lower": difference < 0, mirrored; "within": |difference| ≤ `tolerance` (an
    equivalence check: agrees when the whole interval lies inside ± tolerance, disagrees when it lies
    wholly outside). Otherwise, or without an interval (fewer than two values), "not resolved at N seeds".
    """
    if expect not in EXPECTATIONS:
        raise ValueError(f"expect: {expect!r} is not one of {', '.join(EXPECTATIONS)}")
    low, high = interval.low, interval.high
    if math.isfinite(low) and math.isfinite(high):
        if expect == "higher" and (low > 0 or high < 0):
            return AGREES if low > 0 else DISAGREES
        if expect == "lower" and (high < 0 or low > 0):
            return AGREES if high < 0 else DISAGREES
        if expect == "within":
            if -tolerance <= low and high <= tolerance:
                return AGREES
            if low > tolerance or high < -tolerance:
                return DISAGREES
    return f"not resolved at {interval.n} seed{'s' if interval.n != 1 else ''}"


def signed_interval(interval: Paired, digits: int = 4) -> str:
    """`+0.0123 [+0.0050, +0.0196]`, the mean alone without an interval, `–` without values."""
    if not math.isfinite(interval.mean):
        return "–"
    text = f"{interval.mean:+.{digits}f}"
    return text + (f" [{interval.low:+.{digits}f}, {interval.high:+.{digits}f}]" if math.isfinite(interval.low)
                   else "")
