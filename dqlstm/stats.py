"""Seed statistics for model comparisons: bootstrap intervals, paired ratios, equivalence (TOST).

Every trained model gives one test metric per seed. This module turns those
into the numbers a comparison table states:

* :func:`bootstrap_ci` - a percentile bootstrap interval of a statistic (the
  mean by default) over the seeds, from a seeded generator, so a table is
  reproducible bit for bit.
* :func:`paired_ratio` - model A against model B on the same seeds: the
  per-seed ratios ``r_i = a_i / b_i`` summarised by their geometric mean
  ``exp(mean(log r_i))`` with a bootstrap interval of it. Geometric, not the
  ratio of means: MSEs are positive and right-skewed (one seed whose training
  went badly can hold most of the sum), a ratio of means is dominated by that
  seed and ignores the pairing; the mean of log ratios weighs every seed
  equally, treats "2x better" and "2x worse" symmetrically, and is the
  quantity the equivalence test below is about.
* :func:`tost_log_ratio` - two one-sided paired t-tests (Schuirmann 1987) on the
  per-seed log ratios ``d_i = log a_i - log b_i`` against the margins
  ``(log lower, log upper)``, by default ``(log 0.9, log 1.1)``: "A is within
  +-10% of B". The null hypotheses are ``mean(d) <= log lower`` and
  ``mean(d) >= log upper``; equivalence is shown when both are rejected at
  ``alpha``, i.e. when the ``1 - 2 alpha`` (90%) t-interval of ``mean(d)``
  lies inside the margins. The margins are +-10% of the ratio, so they are not
  symmetric in log: ``log 1.1 = 0.0953`` is tighter than ``-log 0.9 =
  0.1054``; the side where A is worse is the stricter one.

A failed equivalence test is not evidence of a difference: its verdict is
"not shown equivalent", never "different".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy_stats

EQUIVALENT = "equivalent"
NOT_SHOWN_EQUIVALENT = "not shown equivalent"
DEFAULT_RESAMPLES = 10_000
DEFAULT_MARGIN = (0.9, 1.1)  # +-10% of the ratio


@dataclass(frozen=True)
class Interval:
    """A point estimate and its two-sided interval at ``level`` over ``n`` values."""

    estimate: float
    low: float
    high: float
    level: float
    n: int

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class PairedRatio:
    """Per-seed ratios ``a_i / b_i`` and their geometric mean with a bootstrap interval."""

    ratios: tuple[float, ...]
    geometric_mean: Interval  # exp of the mean log ratio, and exp of its bootstrap interval
    ratio_of_means: float  # mean(a) / mean(b), for comparison with older tables only


@dataclass(frozen=True)
class TostResult:
    """Two one-sided t-tests on per-seed log ratios.

    ``p_lower`` tests H0 ``mean(d) <= log margin_low``, ``p_upper`` tests H0
    ``mean(d) >= log margin_high``; ``p_value = max(p_lower, p_upper)``.
    ``ci_low``/``ci_high`` are the ``1 - 2 alpha`` t-interval of the mean ratio
    (exponentiated), the interval the margins are compared with.
    """

    n: int
    mean_log_ratio: float
    std_log_ratio: float
    margin_low: float
    margin_high: float
    alpha: float
    p_lower: float
    p_upper: float
    p_value: float
    ci_low: float
    ci_high: float
    verdict: str

    @property
    def equivalent(self) -> bool:
        return self.verdict == EQUIVALENT


def _as_values(values: Sequence[float], name: str, *, positive: bool = False) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} holds non-finite values: {arr.tolist()}")
    if positive and np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0 for a log ratio, got {arr.tolist()}")
    return arr


def _check_level(level: float, name: str = "level") -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {level}")


def bootstrap_ci(
    values: Sequence[float],
    statistic: Callable[[np.ndarray], np.ndarray] | None = None,
    *,
    level: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval of ``statistic`` (default: the mean) of ``values``.

    ``resamples`` samples of size ``n`` are drawn with replacement from
    ``numpy.random.default_rng(seed)``; the interval is the ``(1 - level)/2``
    and ``(1 + level)/2`` quantiles of the statistic over them. ``statistic``
    takes an array ``(resamples, n)`` and reduces the last axis. A single
    value gives the degenerate interval ``[v, v]``.
    """
    arr = _as_values(values, "values")
    _check_level(level)
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    stat = statistic or (lambda a: a.mean(axis=-1))
    estimate = float(stat(arr[None, :])[0])
    if arr.size == 1:
        return Interval(estimate, estimate, estimate, level, 1)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, arr.size, size=(resamples, arr.size))
    boot = np.asarray(stat(arr[idx]), dtype=np.float64)
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return Interval(estimate, float(low), float(high), level, int(arr.size))


def paired_log_ratios(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    """``log a_i - log b_i`` for paired positive values (same seeds, same order)."""
    x = _as_values(a, "a", positive=True)
    y = _as_values(b, "b", positive=True)
    if x.shape != y.shape:
        raise ValueError(f"paired samples need the same length, got {x.size} and {y.size}")
    return np.log(x) - np.log(y)


def paired_ratio(
    a: Sequence[float],
    b: Sequence[float],
    *,
    level: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> PairedRatio:
    """Per-seed ratios ``a_i / b_i``, their geometric mean and its bootstrap interval.

    The interval is the percentile bootstrap of ``mean(log r)`` mapped through
    ``exp`` (monotone, so it is the bootstrap interval of the geometric mean).
    """
    d = paired_log_ratios(a, b)
    ci = bootstrap_ci(d, level=level, resamples=resamples, seed=seed)
    geo = Interval(math.exp(ci.estimate), math.exp(ci.low), math.exp(ci.high), level, ci.n)
    ratio_of_means = float(
        np.mean(np.asarray(a, dtype=np.float64)) / np.mean(np.asarray(b, dtype=np.float64))
    )
    return PairedRatio(tuple(float(r) for r in np.exp(d)), geo, ratio_of_means)


def tost_log_ratio(
    a: Sequence[float],
    b: Sequence[float],
    *,
    margin: tuple[float, float] = DEFAULT_MARGIN,
    alpha: float = 0.05,
) -> TostResult:
    """Paired TOST: is ``a / b`` within ``margin`` (ratios, default 0.9..1.1)?

    With ``d_i = log a_i - log b_i``, ``n`` seeds, mean ``m``, sample standard
    deviation ``s`` and ``se = s / sqrt(n)``, ``df = n - 1``:

        t_low  = (m - log margin_low) / se,   p_lower = P(T_df >= t_low)
        t_high = (m - log margin_high) / se,  p_upper = P(T_df <= t_high)

    Verdict "equivalent" iff ``max(p_lower, p_upper) < alpha``. If every
    ``d_i`` is the same (``s = 0``) the test is decided by ``m`` alone: p = 0
    on a side ``m`` lies strictly inside, else 1. Needs ``n >= 2``.
    """
    lo, hi = (float(m) for m in margin)
    if not 0 < lo < 1 < hi:
        raise ValueError(f"margin must satisfy 0 < low < 1 < high (ratios), got {margin}")
    _check_level(alpha, "alpha")
    if alpha >= 0.5:
        raise ValueError(f"alpha must be < 0.5 for a two one-sided test, got {alpha}")
    d = paired_log_ratios(a, b)
    n = int(d.size)
    if n < 2:
        raise ValueError(f"TOST needs at least 2 paired values, got {n}")
    m = float(d.mean())
    s = float(d.std(ddof=1))
    log_lo, log_hi = math.log(lo), math.log(hi)
    df = n - 1
    if s == 0.0:
        p_lower = 0.0 if m > log_lo else 1.0
        p_upper = 0.0 if m < log_hi else 1.0
        ci_low = ci_high = math.exp(m)
    else:
        se = s / math.sqrt(n)
        p_lower = float(_scipy_stats.t.sf((m - log_lo) / se, df))
        p_upper = float(_scipy_stats.t.cdf((m - log_hi) / se, df))
        half = float(_scipy_stats.t.ppf(1 - alpha, df)) * se
        ci_low, ci_high = math.exp(m - half), math.exp(m + half)
    p = max(p_lower, p_upper)
    return TostResult(
        n=n,
        mean_log_ratio=m,
        std_log_ratio=s,
        margin_low=lo,
        margin_high=hi,
        alpha=alpha,
        p_lower=p_lower,
        p_upper=p_upper,
        p_value=p,
        ci_low=ci_low,
        ci_high=ci_high,
        verdict=EQUIVALENT if p < alpha else NOT_SHOWN_EQUIVALENT,
    )


def compare_to_reference(ratio: Interval) -> str:
    """Words for a model/reference MSE ratio interval: below 1 entirely, above 1 entirely, or neither.

    ``"better"`` if the whole interval is < 1, ``"worse"`` if it is > 1, else
    ``"not distinguishable"``.
    """
    if ratio.high < 1.0:
        return "better"
    if ratio.low > 1.0:
        return "worse"
    return "not distinguishable"
