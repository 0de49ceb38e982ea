"""Naive baselines and error metrics: closed forms on constructed series, least squares
recovering simulated AR/ARX coefficients within their standard errors, test data used only to score."""

from __future__ import annotations

import numpy as np
import pytest

from dqlstm.baselines import (
    arx,
    autoregressive,
    extrapolation_forecast,
    fit_least_squares,
    lag_design,
    linear_extrapolation,
    mean_forecast,
    naive_baselines,
    persistence,
    persistence_forecast,
)
from dqlstm.data import generate_task, load_dataset, prepare_series, sliding_windows
from dqlstm.metrics import mse, nrmse

# --- metrics -------------------------------------------------------------------


def test_nrmse_known_values():
    t = np.array([0.0, 1.0, 2.0, 3.0])  # population variance 1.25
    assert nrmse(t, t) == 0.0
    assert nrmse(np.full(4, 1.5), t) == pytest.approx(1.0)  # the mean scores 1
    assert nrmse(t + 1.0, t) == pytest.approx(np.sqrt(1 / 1.25))
    assert mse(t + 1.0, t) == 1.0
    assert mse(np.array([1.0, 3.0]), np.array([0.0, 0.0])) == 5.0
    # Affine invariance: the same NRMSE in scaled and raw units.
    p = np.array([0.1, 1.2, 1.7, 3.3])
    assert nrmse(3 * p - 2, 3 * t - 2) == pytest.approx(nrmse(p, t), rel=1e-12)


def test_metrics_reject_bad_input():
    with pytest.raises(ValueError, match=r"shape \(3,\) do not match targets of shape \(3, 1\)"):
        mse(np.zeros(3), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="constant targets"):
        nrmse(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="empty"):
        mse(np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match="finite"):
        nrmse(np.array([np.nan, 1.0]), np.array([0.0, 1.0]))


# --- closed forms ----------------------------------------------------------------


def test_persistence_and_extrapolation_on_constant_and_ramp_windows():
    const, _ = sliding_windows(np.full(12, 0.7), 3)
    np.testing.assert_array_equal(persistence_forecast(const), np.full(9, 0.7))
    np.testing.assert_array_equal(extrapolation_forecast(const), np.full(9, 0.7))
    ramp = 0.5 + 0.25 * np.arange(12.0)  # exact in binary floating point
    x, y = sliding_windows(ramp, 3)
    np.testing.assert_array_equal(extrapolation_forecast(x), y[:, 0])
    np.testing.assert_array_equal(persistence_forecast(x), y[:, 0] - 0.25)
    with pytest.raises(ValueError, match="window >= 2"):
        extrapolation_forecast(x[:, :1])


def test_baselines_on_a_scaled_ramp():
    ramp = np.arange(100.0)
    data = prepare_series(ramp, window=4, train_fraction=0.5)  # 48 train windows touch 0..51
    step = 2.0 / 51.0  # one ramp step in scaled units
    results = naive_baselines(data)
    assert list(results) == ["mean", "persistence", "linear-extrapolation", "ar"]
    assert results["persistence"].test_mse == pytest.approx(step**2, rel=1e-12)
    var = np.var(data.y_test)
    assert results["persistence"].test_nrmse == pytest.approx(step / np.sqrt(var), rel=1e-12)
    assert results["linear-extrapolation"].test_mse < 1e-28
    assert results["ar"].test_mse < 1e-24  # y(t+1) = y(t) + step is an AR(1)
    # Lags of a ramp are collinear; with one lag the fit is unique.
    np.testing.assert_allclose(autoregressive(data, max_order=1).params, [step, 1.0], atol=1e-12)
    mean = results["mean"]
    assert mean.params[0] == pytest.approx(data.y_train.mean())
    assert mean.test_mse == pytest.approx(np.mean((data.y_test - data.y_train.mean()) ** 2))


# --- least squares against simulated processes -----------------------------------


def simulate_ar(c: float, a: list[float], n: int, seed: int, burn: int = 500) -> np.ndarray:
    """y_t = c + sum_k a_k y_{t-k} + e_t, e ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    p = len(a)
    y = np.zeros(n + burn)
    e = rng.standard_normal(n + burn)
    for t in range(p, n + burn):
        y[t] = c + sum(a[k] * y[t - 1 - k] for k in range(p)) + e[t]
    return y[burn:]


def ols_standard_errors(design: np.ndarray, target: np.ndarray, params: np.ndarray) -> np.ndarray:
    resid = target - design @ params
    s2 = resid @ resid / (design.shape[0] - design.shape[1])
    return np.sqrt(s2 * np.diag(np.linalg.inv(design.T @ design)))


@pytest.mark.parametrize(
    ("c", "a"),
    [(0.5, [0.6, -0.3]), (-0.2, [0.5, -0.2, 0.25])],
    ids=["ar2", "ar3"],
)
def test_least_squares_recovers_ar_coefficients(c, a):
    roots = np.roots([1.0, *(-np.array(a))])
    assert np.all(np.abs(roots) < 1)  # stationary
    y = simulate_ar(c, a, 4000, seed=1)
    x, target = sliding_windows(y, 6)
    design = lag_design(x, len(a))
    params = fit_least_squares(design, target)
    se = ols_standard_errors(design, target[:, 0], params)
    assert np.all(se < 0.05)  # the sample is large enough for the check to mean something
    np.testing.assert_array_less(np.abs(params - [c, *a]), 4 * se)

    # Through the dataset (scaled units): order chosen on validation, lag coefficients unchanged by
    # scaling z = alpha y + beta, intercept alpha c + beta (1 - sum a).
    data = prepare_series(y, window=6, train_fraction=0.8)
    result = autoregressive(data)
    p = result.orders["p"]
    assert p >= len(a)
    assert result.selection[f"p={p}"] == min(result.selection.values()) == result.validation_mse
    lags = result.params[1:]
    se_scaled = ols_standard_errors(lag_design(data.x_train, p), data.y_train[:, 0], result.params)
    truth = np.array([*a, *[0.0] * (p - len(a))])
    np.testing.assert_array_less(np.abs(lags - truth), 4 * se_scaled[1:])
    alpha = 2.0 / (data.scaler.data_max - data.scaler.data_min)
    beta = -1.0 - alpha * data.scaler.data_min
    assert abs(result.params[0] - (alpha * c + beta * (1 - sum(a)))) < 4 * se_scaled[0]


def test_arx_recovers_input_coefficients():
    # y(t+1) = c + a y(t) + b1 u(t) + b2 u(t-1) + e: window i's last step is t.
    rng = np.random.default_rng(5)
    n = 4000
    u = rng.uniform(0, 0.5, n)
    e = 0.05 * rng.standard_normal(n)
    c, a, b1, b2 = 0.1, 0.4, 1.5, -0.8
    y = np.zeros(n)
    for t in range(1, n - 1):
        y[t + 1] = c + a * y[t] + b1 * u[t] + b2 * u[t - 1] + e[t + 1]
    data = prepare_series(y, u=u, window=4, train_fraction=0.8, warmup=10)
    result = naive_baselines(data)["arx"]
    p, q = result.orders["p"], result.orders["q"]
    assert q >= 2
    design = lag_design(data.x_train, p, q)
    se = ols_standard_errors(design, data.y_train[:, 0], result.params)
    alpha = 2.0 / (data.scaler.data_max - data.scaler.data_min)
    gamma = 2.0 / (data.u_scaler.data_max - data.u_scaler.data_min)
    truth_y = np.array([a, *[0.0] * (p - 1)])
    truth_u = np.array([b1, b2, *[0.0] * (q - 2)]) * alpha / gamma
    np.testing.assert_array_less(np.abs(result.params[1 : 1 + p] - truth_y), 4 * se[1 : 1 + p])
    np.testing.assert_array_less(np.abs(result.params[1 + p :] - truth_u), 4 * se[1 + p :])
    # The input explains most of the variance: ARX far ahead of AR.
    assert result.test_nrmse < 0.5 * naive_baselines(data)["ar"].test_nrmse


def test_arx_needs_the_input_and_orders_are_checked():
    data = load_dataset({"task": "narma5"})
    with pytest.raises(ValueError, match="features = 'y\\+u'"):
        arx(data)
    with pytest.raises(ValueError, match="max_order must be in 1..window=4"):
        autoregressive(data, max_order=5)
    with pytest.raises(ValueError, match="need windows with the input u"):
        lag_design(data.x_train, 2, 1)
    with pytest.raises(ValueError, match="AR order p must be in 1..window=4"):
        lag_design(data.x_train, 0)
    with pytest.raises(ValueError, match="empty validation part"):
        autoregressive(load_dataset({"task": "narma5", "validation_fraction": 0.0}))


# --- test data only scores -------------------------------------------------------


def test_test_windows_only_score():
    cfg = {"task": "narma5", "input": "random", "seed": 4, "features": "y+u", "window": 5, "warmup": 20}
    data = load_dataset(cfg)
    first = data.warmup + data.num_train + data.window  # first series value outside the training windows
    _, full_y, full_u = generate_task(cfg)
    full_y[first:] *= 1.3
    full_u[first:] = 0.5 - full_u[first:]
    other = prepare_series(full_y, u=full_u, window=5, warmup=data.warmup, name=data.name)
    np.testing.assert_array_equal(other.x_train, data.x_train)
    a, b = naive_baselines(data), naive_baselines(other)
    for name in a:
        assert a[name].orders == b[name].orders
        np.testing.assert_array_equal(a[name].params, b[name].params)
        np.testing.assert_array_equal(a[name].train_pred, b[name].train_pred)
        assert a[name].test_mse != b[name].test_mse
    assert set(a) == {"mean", "persistence", "linear-extrapolation", "ar", "arx"}


def test_results_match_their_metrics_and_summaries():
    data = load_dataset({"task": "oscillator"})
    for result in (mean_forecast(data), persistence(data), linear_extrapolation(data), autoregressive(data)):
        assert result.test_pred.shape == (data.num_test,) and result.train_pred.shape == (data.num_train,)
        assert result.test_mse == mse(result.test_pred, data.y_test[:, 0])
        assert result.test_nrmse == pytest.approx(np.sqrt(result.test_mse / np.var(data.y_test)), rel=1e-12)
        summary = result.summary()
        assert summary["name"] == result.name and summary["test_mse"] == result.test_mse
