"""Statistics the studies share: mean ± sample std, Student's t critical values, 95% intervals and verdicts.

No scipy (not a dependency): the two-sided 95% critical values of t are tabulated (the usual table, 3
decimals). Intervals are Student's t intervals of a mean, mean ± t(0.975, n − 1) · s / √n:
`paired_difference` on the differences b − a of pairs that share a seed, `one_sample` on values minus a
fixed number (a published single run). `verdict` turns an interval into "agrees", "disagrees" or "not
resolved at N seeds" for a claim that the difference is positive, negative, or within ± a tolerance.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
         20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048,
         29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


def t_critical(df: int) -> float:
    """The two-sided 95% critical value of Student's t with `df` degrees of freedom (a table; no scipy)."""
    if df in T_975:
        return T_975[df]
    larger = [d for d in T_975 if d > df]
    return T_975[min(larger)] if larger else 1.960  # the next tabulated df is slightly conservative


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
