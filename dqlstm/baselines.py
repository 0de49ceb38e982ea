"""Naive one-step forecasts on the windows a model sees: what a trained model must beat.

All baselines use the same windows, split and scaling as the models
(:class:`~dqlstm.data.WindowedSeries`, scaled units) and predict the target
``y(t+1)`` of the window ending at ``t``:

* ``mean``: the mean of the training targets (NRMSE ~ 1 by construction);
* ``persistence``: ``y(t)``;
* ``linear-extrapolation``: ``2 y(t) - y(t-1)`` (window >= 2);
* ``ar``: least squares ``c + sum_{k=1..p} a_k y(t-k+1)``, ``p = 1..window``;
* ``arx`` (windows with the input ``u``, ``features="y+u"``):
  ``c + sum_{k=1..p} a_k y(t-k+1) + sum_{k=1..q} b_k u(t-k+1)``, ``p, q = 1..window``.

AR/ARX orders are chosen by the MSE on the validation part of the training
windows (:meth:`WindowedSeries.validation_split`, fitted on the rest; ties go to
the smaller order), then refitted on all training windows. The test windows
are used only to score.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dqlstm.data.dataset import WindowedSeries
from dqlstm.metrics import mse, nrmse


@dataclass(frozen=True)
class BaselineResult:
    """One baseline's forecasts and errors (scaled units).

    ``params`` of ``ar``/``arx``: ``[c, a_1..a_p, b_1..b_q]`` (newest lag first);
    empty for the parameter-free forecasts (``mean`` stores the training mean).
    """

    name: str
    orders: dict[str, int]
    params: np.ndarray
    train_pred: np.ndarray
    test_pred: np.ndarray
    train_mse: float
    test_mse: float
    test_nrmse: float
    validation_mse: float | None = None
    selection: dict[str, float] = field(default_factory=dict)  # "p=3" / "p=2,q=5" -> validation MSE

    def summary(self) -> dict[str, Any]:
        """JSON-ready: name, orders, params and the errors (no prediction arrays)."""
        return {
            "name": self.name,
            "orders": dict(self.orders),
            "params": [float(v) for v in self.params],
            "train_mse": self.train_mse,
            "test_mse": self.test_mse,
            "test_nrmse": self.test_nrmse,
            "validation_mse": self.validation_mse,
        }


def lag_design(x: np.ndarray, p: int, q: int = 0) -> np.ndarray:
    """Design matrix ``[1, y(t), .., y(t-p+1), u(t), .., u(t-q+1)]`` from windows ``x (N, window, F)``.

    ``y`` is feature 0 and ``u`` feature 1 of each step; ``t`` is a window's last step.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"windows must have shape (N, window, features), got {x.shape}")
    n, window, features = x.shape
    if not 1 <= p <= window:
        raise ValueError(f"AR order p must be in 1..window={window}, got {p}")
    if not 0 <= q <= window:
        raise ValueError(f"input order q must be in 0..window={window}, got {q}")
    if q and features < 2:
        raise ValueError("input lags (q > 0) need windows with the input u as feature 1 (features='y+u')")
    newest_first = x[:, ::-1, :]
    cols = [np.ones((n, 1)), newest_first[:, :p, 0]]
    if q:
        cols.append(newest_first[:, :q, 1])
    return np.concatenate(cols, axis=1)


def fit_least_squares(design: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares coefficients of ``design @ params ~ target`` (minimum norm if rank-deficient)."""
    params, *_ = np.linalg.lstsq(design, np.asarray(target, dtype=np.float64).ravel(), rcond=None)
    return params


def _result(
    data: WindowedSeries,
    name: str,
    train_pred: np.ndarray,
    test_pred: np.ndarray,
    orders: dict[str, int] | None = None,
    params: np.ndarray | None = None,
    validation_mse: float | None = None,
    selection: dict[str, float] | None = None,
) -> BaselineResult:
    y_train, y_test = data.y_train[:, 0], data.y_test[:, 0]
    return BaselineResult(
        name=name,
        orders=orders or {},
        params=np.zeros(0) if params is None else params,
        train_pred=train_pred,
        test_pred=test_pred,
        train_mse=mse(train_pred, y_train),
        test_mse=mse(test_pred, y_test),
        test_nrmse=nrmse(test_pred, y_test),
        validation_mse=validation_mse,
        selection=selection or {},
    )


def mean_forecast(data: WindowedSeries) -> BaselineResult:
    """Predict the mean of the training targets everywhere."""
    mean = float(data.y_train.mean())
    return _result(
        data, "mean", np.full(data.num_train, mean), np.full(data.num_test, mean), params=np.array([mean])
    )


def persistence_forecast(x: np.ndarray) -> np.ndarray:
    """``y(t)`` of windows ``x (N, window, F)``: their last ``y`` value."""
    return np.asarray(x, dtype=np.float64)[:, -1, 0].copy()


def extrapolation_forecast(x: np.ndarray) -> np.ndarray:
    """``2 y(t) - y(t-1)`` of windows ``x (N, window, F)``: the line through their last two ``y`` values."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape[1] < 2:
        raise ValueError(f"linear extrapolation needs window >= 2, got {x.shape[1]}")
    return 2 * x[:, -1, 0] - x[:, -2, 0]


def persistence(data: WindowedSeries) -> BaselineResult:
    """``y_hat(t+1) = y(t)``."""
    return _result(data, "persistence", persistence_forecast(data.x_train), persistence_forecast(data.x_test))


def linear_extrapolation(data: WindowedSeries) -> BaselineResult:
    """``y_hat(t+1) = 2 y(t) - y(t-1)``."""
    return _result(
        data,
        "linear-extrapolation",
        extrapolation_forecast(data.x_train),
        extrapolation_forecast(data.x_test),
    )


def _select_and_fit(data: WindowedSeries, name: str, candidates: list[tuple[int, int]]) -> BaselineResult:
    """Pick ``(p, q)`` by validation MSE (first candidate wins ties), refit on all training windows."""
    split = data.validation_split()
    selection: dict[str, float] = {}
    best: tuple[float, int, int] | None = None
    for p, q in candidates:
        params = fit_least_squares(lag_design(split.x_fit, p, q), split.y_fit)
        err = mse(lag_design(split.x_val, p, q) @ params, split.y_val[:, 0])
        selection[f"p={p}" + (f",q={q}" if q else "")] = err
        if best is None or err < best[0]:
            best = (err, p, q)
    assert best is not None
    err, p, q = best
    params = fit_least_squares(lag_design(data.x_train, p, q), data.y_train)
    orders = {"p": p, "q": q} if q else {"p": p}
    return _result(
        data,
        name,
        lag_design(data.x_train, p, q) @ params,
        lag_design(data.x_test, p, q) @ params,
        orders=orders,
        params=params,
        validation_mse=err,
        selection=selection,
    )


def _max_order(data: WindowedSeries, max_order: int | None) -> int:
    if max_order is None:
        return data.window
    if not 1 <= max_order <= data.window:
        raise ValueError(f"max_order must be in 1..window={data.window}, got {max_order}")
    return max_order


def autoregressive(data: WindowedSeries, max_order: int | None = None) -> BaselineResult:
    """Least-squares AR(p) with intercept on ``y`` lags, ``p = 1..max_order`` (default: the window)."""
    top = _max_order(data, max_order)
    return _select_and_fit(data, "ar", [(p, 0) for p in range(1, top + 1)])


def arx(data: WindowedSeries, max_order: int | None = None) -> BaselineResult:
    """Least-squares ARX(p, q) with intercept on ``y`` and ``u`` lags, ``p, q = 1..max_order``."""
    if data.num_features < 2:
        raise ValueError(f"{data.name}: ARX needs the input u in the windows (data.features = 'y+u')")
    top = _max_order(data, max_order)
    return _select_and_fit(data, "arx", [(p, q) for p in range(1, top + 1) for q in range(1, top + 1)])


def naive_baselines(data: WindowedSeries) -> dict[str, BaselineResult]:
    """Every baseline that applies to ``data``, by name: mean, persistence,
    linear-extrapolation (window >= 2), ar, arx (windows with ``u``)."""
    results = [mean_forecast(data), persistence(data)]
    if data.window >= 2:
        results.append(linear_extrapolation(data))
    results.append(autoregressive(data))
    if data.num_features >= 2:
        results.append(arx(data))
    return {r.name: r for r in results}
