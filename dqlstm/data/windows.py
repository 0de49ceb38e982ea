"""MinMax scaling, sliding windows and the chronological train/test split.

Counting convention (documented because experiments quote it): a series of
``L`` points gives ``N = L - window`` windows ``x_i = s[i : i + window]`` with
target ``y_i = s[i + window]``; the first ``floor(train_fraction * N)`` windows
(in time order) are the training set, the rest the test set. NARMA-5 with
``L = 300``, ``window = 4`` and ``train_fraction = 0.67``: ``N = 296``,
198 training and 98 test windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def check_finite(series: np.ndarray, name: str = "series") -> np.ndarray:
    """Return ``series`` as a 1-D float64 array; raise if it holds NaN/inf."""
    arr = np.asarray(series, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = np.flatnonzero(bad)
        raise ValueError(
            f"{name} contains {idx.size} non-finite value(s) (NaN/inf), first at index {int(idx[0])}"
        )
    return arr


@dataclass(frozen=True)
class MinMaxScaler:
    """Affine map of ``[data_min, data_max]`` onto ``[low, high]``."""

    data_min: float
    data_max: float
    low: float = -1.0
    high: float = 1.0

    @classmethod
    def fit(cls, values: np.ndarray, low: float = -1.0, high: float = 1.0) -> "MinMaxScaler":
        arr = check_finite(values, "values to scale")
        if arr.size == 0:
            raise ValueError("cannot fit a MinMax scaler on an empty series")
        lo, hi = float(arr.min()), float(arr.max())
        if hi == lo:
            raise ValueError(f"cannot MinMax-scale a constant series (all values {lo})")
        return cls(lo, hi, low, high)

    def transform(self, values: np.ndarray) -> np.ndarray:
        scale = (self.high - self.low) / (self.data_max - self.data_min)
        return (np.asarray(values, dtype=np.float64) - self.data_min) * scale + self.low

    def inverse_transform(self, values: np.ndarray) -> np.ndarray:
        scale = (self.data_max - self.data_min) / (self.high - self.low)
        return (np.asarray(values, dtype=np.float64) - self.low) * scale + self.data_min


def num_train_windows(num_windows: int, train_fraction: float) -> int:
    """``floor(train_fraction * num_windows)``, robust to float round-off."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    return int(math.floor(train_fraction * num_windows + 1e-9))


def sliding_windows(series: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows ``x (N, window, 1)`` and next values ``y (N, 1)``, ``N = len - window``."""
    arr = check_finite(series)
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if window >= arr.size:
        raise ValueError(
            f"window of {window} points is too long for a series of {arr.size} points "
            f"(need at least window + 1 = {window + 1})"
        )
    n = arr.size - window
    # Strided view, then a copy so callers own contiguous memory.
    x = np.lib.stride_tricks.sliding_window_view(arr, window)[:n].copy()
    y = arr[window:].copy()
    return x[:, :, None], y[:, None]
