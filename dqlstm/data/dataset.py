"""From a task description to scaled, windowed, split arrays."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dqlstm.choices import DEFAULT_LENGTH, SCALE_FITS, task_order
from dqlstm.data.narma import narma_series
from dqlstm.data.oscillator import oscillator_series
from dqlstm.data.windows import (
    MinMaxScaler,
    check_finite,
    num_train_windows,
    sliding_windows,
)


@dataclass(frozen=True)
class WindowedSeries:
    """A univariate series, scaled, cut into windows and split in time order.

    ``x_*`` have shape ``(N, window, 1)``, ``y_*`` shape ``(N, 1)``; all float64
    and in scaled units. Window ``i`` (over both parts, train first) predicts
    ``scaled[window + i]``.
    """

    name: str
    raw: np.ndarray
    scaled: np.ndarray
    scaler: MinMaxScaler
    window: int
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def num_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def num_test(self) -> int:
        return int(self.x_test.shape[0])

    def target_indices(self) -> tuple[np.ndarray, np.ndarray]:
        """Series indices of the train and test targets."""
        start = self.window
        return (
            np.arange(start, start + self.num_train),
            np.arange(start + self.num_train, start + self.num_train + self.num_test),
        )

    def tensors(self, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, ...]:
        """``(x_train, y_train, x_test, y_test)`` as torch tensors of ``dtype``."""
        return tuple(
            torch.as_tensor(a, dtype=dtype) for a in (self.x_train, self.y_train, self.x_test, self.y_test)
        )


def prepare_series(
    series: np.ndarray,
    window: int = 4,
    train_fraction: float = 0.67,
    scale: str = "all",
    name: str = "series",
) -> WindowedSeries:
    """Scale ``series`` to ``[-1, 1]``, window it and split it chronologically.

    ``scale="all"`` fits the MinMax scaler on the whole series (as the
    literature does); ``scale="train"`` fits it on the points the training
    windows touch (inputs and targets), so no test value leaks into the scaling.
    """
    raw = check_finite(series, name)
    if scale not in SCALE_FITS:
        raise ValueError(f"unknown scale fit {scale!r}; expected one of {SCALE_FITS}")
    # Window and split first on the raw series: errors name the real problem.
    x_raw, _ = sliding_windows(raw, window)
    n = x_raw.shape[0]
    n_train = num_train_windows(n, train_fraction)
    if n_train == 0 or n_train == n:
        raise ValueError(
            f"{name}: {n} windows with train_fraction={train_fraction} leaves an empty "
            f"{'train' if n_train == 0 else 'test'} set"
        )
    fit_on = raw if scale == "all" else raw[: n_train + window]
    scaler = MinMaxScaler.fit(fit_on)
    scaled = scaler.transform(raw)
    x, y = sliding_windows(scaled, window)
    return WindowedSeries(
        name=name,
        raw=raw,
        scaled=scaled,
        scaler=scaler,
        window=window,
        x_train=x[:n_train],
        y_train=y[:n_train],
        x_test=x[n_train:],
        y_test=y[n_train:],
    )


def generate_series(cfg: Mapping[str, Any]) -> tuple[str, np.ndarray]:
    """The raw series for a ``[data]`` table; returns ``(name, series)``."""
    task = cfg.get("task", "narma5")
    order = task_order(task, cfg.get("order"))
    if order is None:
        length = int(cfg.get("length") or DEFAULT_LENGTH["oscillator"])
        return "oscillator", oscillator_series(num_points=length)
    length = int(cfg.get("length") or DEFAULT_LENGTH["narma"])
    series = narma_series(order, length, input=cfg.get("input", "sine"), seed=cfg.get("seed"))
    return f"narma{order}", series


def load_dataset(cfg: Mapping[str, Any]) -> WindowedSeries:
    """Build the dataset described by a ``[data]`` config table."""
    name, series = generate_series(cfg)
    return prepare_series(
        series,
        window=int(cfg.get("window", 4)),
        train_fraction=float(cfg.get("train_fraction", 0.67)),
        scale=cfg.get("scale", "all"),
        name=name,
    )
