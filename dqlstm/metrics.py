"""Forecast errors: MSE and the NRMSE of the NARMA / reservoir-computing literature."""

from __future__ import annotations

import numpy as np


def _pair(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"predictions of shape {p.shape} do not match targets of shape {t.shape}")
    if t.size == 0:
        raise ValueError("no targets: the error of an empty set is undefined")
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(t))):
        raise ValueError("predictions and targets must be finite (no NaN/inf)")
    return p.ravel(), t.ravel()


def mse(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean squared error ``mean((pred - target)^2)`` over all entries (same shapes)."""
    p, t = _pair(pred, target)
    return float(np.mean((p - t) ** 2))


def nrmse(pred: np.ndarray, target: np.ndarray) -> float:
    """Normalised root-mean-square error ``sqrt(mean((pred - target)^2) / var(target))``.

    ``var`` is the population variance (``ddof=0``) of the evaluated targets, so
    predicting their mean scores exactly 1 and a perfect forecast 0; the value
    is unchanged by any affine rescaling of the series (scaled or raw units).
    This is the NRMSE used for NARMA-10 in reservoir computing, e.g.
    Appeltant et al., Nat. Commun. 2, 468 (2011), and Rodan & Tino,
    IEEE Trans. Neural Netw. 22, 131 (2011) (their NMSE is its square).
    """
    p, t = _pair(pred, target)
    var = float(np.var(t))
    if var == 0.0:
        raise ValueError("NRMSE is undefined for constant targets (zero variance)")
    return float(np.sqrt(np.mean((p - t) ** 2) / var))
