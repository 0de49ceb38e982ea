"""dqlstm.stats: bootstrap intervals, paired ratios and the TOST equivalence test.

References are independent of the module: scipy's one-sample t-tests (the two
one-sided tests are exactly two of them, shifted by the margins), scipy's own
percentile bootstrap, closed forms (t-interval, geometric mean) and known cases.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from dqlstm.stats import (
    EQUIVALENT,
    NOT_SHOWN_EQUIVALENT,
    Interval,
    bootstrap_ci,
    compare_to_reference,
    paired_log_ratios,
    paired_ratio,
    tost_log_ratio,
)


def _paired(n: int, shift: float, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """b: MSE-like positive values; a = b * shift * exp(noise * N(0, 1))."""
    rng = np.random.default_rng(seed)
    b = np.exp(rng.normal(np.log(1e-3), 0.5, n))
    a = b * shift * np.exp(noise * rng.normal(size=n))
    return a, b


# --- TOST: known cases -------------------------------------------------------------


def test_identical_pairs_with_small_noise_are_equivalent():
    a, b = _paired(10, 1.0, 0.01, seed=1)
    res = tost_log_ratio(a, b)
    assert res.verdict == EQUIVALENT and res.equivalent
    assert res.p_value < 1e-6
    assert 0.9 < res.ci_low <= res.ci_high < 1.1


def test_fifty_percent_shift_is_not_shown_equivalent():
    a, b = _paired(10, 1.5, 0.05, seed=2)
    res = tost_log_ratio(a, b)
    assert res.verdict == NOT_SHOWN_EQUIVALENT
    assert res.p_upper > 0.99  # a is clearly above the upper margin
    assert res.ci_low > 1.1


def test_few_seeds_with_huge_variance_are_not_shown_equivalent():
    # mean log ratio close to 0, but 3 seeds with log-ratio spread ~1: no evidence either way
    b = np.array([1e-3, 2e-3, 5e-4])
    a = b * np.exp([-1.0, 0.1, 0.9])  # mean log ratio 0: on average no difference at all
    res = tost_log_ratio(a, b)
    assert res.mean_log_ratio == pytest.approx(0.0, abs=1e-12)
    assert res.verdict == NOT_SHOWN_EQUIVALENT
    assert res.ci_low < 0.9 and res.ci_high > 1.1


def test_tost_p_values_equal_two_scipy_one_sided_t_tests():
    for seed, (shift, noise, n) in enumerate(
        [(1.0, 0.05, 10), (1.08, 0.1, 12), (0.93, 0.2, 6), (1.3, 0.3, 20)]
    ):
        a, b = _paired(n, shift, noise, seed=10 + seed)
        d = np.log(a) - np.log(b)
        res = tost_log_ratio(a, b)
        ref_low = sps.ttest_1samp(d, math.log(0.9), alternative="greater").pvalue
        ref_high = sps.ttest_1samp(d, math.log(1.1), alternative="less").pvalue
        assert res.p_lower == pytest.approx(ref_low, rel=1e-10, abs=1e-15)
        assert res.p_upper == pytest.approx(ref_high, rel=1e-10, abs=1e-15)
        assert res.p_value == max(res.p_lower, res.p_upper)
        assert res.n == n and res.mean_log_ratio == pytest.approx(d.mean())
        assert res.std_log_ratio == pytest.approx(d.std(ddof=1))


def test_tost_verdict_is_the_ninety_percent_interval_inside_the_margins():
    rng = np.random.default_rng(7)
    seen = set()
    for _ in range(200):
        n = int(rng.integers(3, 15))
        a, b = _paired(
            n, float(np.exp(rng.normal(0, 0.08))), float(rng.uniform(0.01, 0.2)), int(rng.integers(1e9))
        )
        res = tost_log_ratio(a, b)
        d = np.log(a) - np.log(b)
        lo, hi = sps.t.interval(0.90, n - 1, loc=d.mean(), scale=d.std(ddof=1) / math.sqrt(n))
        assert res.ci_low == pytest.approx(math.exp(lo)) and res.ci_high == pytest.approx(math.exp(hi))
        inside = math.log(0.9) < lo and hi < math.log(1.1)
        assert res.equivalent == inside
        seen.add(res.verdict)
    assert seen == {EQUIVALENT, NOT_SHOWN_EQUIVALENT}  # both outcomes exercised


def test_tost_margins_are_ratio_margins_not_symmetric_in_log():
    # every seed's ratio exactly 0.905 (inside 0.9) or 1.095 (inside 1.1); 0.895 / 1.105 outside
    b = np.array([1e-3, 2e-3, 3e-3])
    for ratio, verdict in [
        (0.905, EQUIVALENT),
        (1.095, EQUIVALENT),
        (0.895, NOT_SHOWN_EQUIVALENT),
        (1.105, NOT_SHOWN_EQUIVALENT),
    ]:
        res = tost_log_ratio(b * ratio, b)
        assert res.std_log_ratio == pytest.approx(0.0, abs=1e-15)
        assert res.verdict == verdict, ratio


def test_tost_custom_margin_and_alpha():
    a, b = _paired(10, 1.15, 0.02, seed=4)
    assert tost_log_ratio(a, b).verdict == NOT_SHOWN_EQUIVALENT
    assert tost_log_ratio(a, b, margin=(0.8, 1.25)).verdict == EQUIVALENT
    a, b = _paired(8, 1.0, 0.06, seed=5)
    loose, strict = tost_log_ratio(a, b, alpha=0.2), tost_log_ratio(a, b, alpha=0.001)
    assert loose.p_value == strict.p_value  # alpha decides the verdict, not the p-value
    assert loose.ci_high < strict.ci_high


@pytest.mark.parametrize(
    "a, b, kw, match",
    [
        ([1.0], [1.0], {}, "at least 2"),
        ([1.0, 2.0], [1.0], {}, "same length"),
        ([1.0, -2.0], [1.0, 1.0], {}, "> 0"),
        ([1.0, float("nan")], [1.0, 1.0], {}, "non-finite"),
        ([1.0, 2.0], [1.0, 1.0], {"margin": (1.1, 0.9)}, "margin"),
        ([1.0, 2.0], [1.0, 1.0], {"alpha": 0.5}, "alpha"),
    ],
)
def test_tost_bad_input_fails_early(a, b, kw, match):
    with pytest.raises(ValueError, match=match):
        tost_log_ratio(a, b, **kw)


# --- bootstrap intervals and paired ratios -----------------------------------------


def test_bootstrap_ci_is_seeded_and_matches_scipy_percentile_bootstrap():
    values = np.random.default_rng(0).normal(2.0, 1.0, 40)
    ci = bootstrap_ci(values, resamples=20_000, seed=3)
    assert ci == bootstrap_ci(values, resamples=20_000, seed=3)  # reproducible
    assert ci.estimate == pytest.approx(values.mean())
    ref = sps.bootstrap(
        (values,),
        np.mean,
        n_resamples=20_000,
        method="percentile",
        confidence_level=0.95,
        rng=np.random.default_rng(99),
    ).confidence_interval
    width = ref.high - ref.low
    # two independent Monte Carlo estimates of the same quantiles
    assert abs(ci.low - ref.low) < 0.05 * width and abs(ci.high - ref.high) < 0.05 * width
    # and close to the normal-theory interval for 40 normal values
    half = 1.96 * values.std(ddof=1) / math.sqrt(values.size)
    assert ci.low == pytest.approx(values.mean() - half, abs=0.15 * half)
    assert ci.high == pytest.approx(values.mean() + half, abs=0.15 * half)


def test_bootstrap_ci_degenerate_cases_and_statistic():
    one = bootstrap_ci([3.0])
    assert (one.estimate, one.low, one.high, one.n) == (3.0, 3.0, 3.0, 1)
    const = bootstrap_ci([2.0] * 7)
    assert const.low == const.high == const.estimate == 2.0
    med = bootstrap_ci([1.0, 2.0, 100.0], statistic=lambda a: np.median(a, axis=-1))
    assert med.estimate == 2.0 and med.low >= 1.0 and med.high <= 100.0
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci([1.0, 2.0], level=1.0)
    with pytest.raises(ValueError, match="non-empty"):
        bootstrap_ci([])


def test_bootstrap_interval_covers_the_true_mean_about_95_percent():
    rng = np.random.default_rng(11)
    hits = sum(
        bootstrap_ci(rng.normal(0.0, 1.0, 30), resamples=2000, seed=k).contains(0.0) for k in range(300)
    )
    assert 0.88 <= hits / 300 <= 0.99  # percentile bootstrap undercovers slightly at n = 30


def test_paired_ratio_is_the_geometric_mean_of_per_seed_ratios():
    a = np.array([1.0, 4.0, 2.0, 8.0])
    b = np.array([2.0, 2.0, 1.0, 8.0])  # ratios 0.5, 2, 2, 1
    pr = paired_ratio(a, b, resamples=5000, seed=0)
    assert pr.ratios == (0.5, 2.0, 2.0, 1.0)
    assert pr.geometric_mean.estimate == pytest.approx((0.5 * 2 * 2 * 1) ** 0.25)
    assert pr.ratio_of_means == pytest.approx(15.0 / 13.0)
    assert pr.geometric_mean.low <= pr.geometric_mean.estimate <= pr.geometric_mean.high
    # its interval is exp of the bootstrap interval of the mean log ratio, same seed
    ci = bootstrap_ci(np.log(a / b), resamples=5000, seed=0)
    assert pr.geometric_mean.low == pytest.approx(math.exp(ci.low))
    assert pr.geometric_mean.high == pytest.approx(math.exp(ci.high))
    # ratio of means would be dominated by one bad seed; the geometric mean is not
    worse_seed = paired_ratio([1.0, 1.0, 1.0, 100.0], [1.0, 1.0, 1.0, 10.0])
    assert worse_seed.ratio_of_means == pytest.approx(103 / 13)
    assert worse_seed.geometric_mean.estimate == pytest.approx(10**0.25)


def test_paired_log_ratios_checks_its_input():
    assert paired_log_ratios([2.0, 1.0], [1.0, 2.0]) == pytest.approx([math.log(2), -math.log(2)])
    with pytest.raises(ValueError, match="> 0"):
        paired_log_ratios([0.0, 1.0], [1.0, 1.0])


def test_compare_to_reference_words():
    assert compare_to_reference(Interval(0.5, 0.4, 0.9, 0.95, 10)) == "better"
    assert compare_to_reference(Interval(1.5, 1.2, 1.9, 0.95, 10)) == "worse"
    assert compare_to_reference(Interval(0.9, 0.7, 1.1, 0.95, 10)) == "not distinguishable"
