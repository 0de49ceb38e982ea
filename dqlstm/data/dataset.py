"""From a task description to scaled, windowed, split arrays."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dqlstm.choices import DEFAULT_LENGTH, FEATURES, SCALE_FITS, task_order
from dqlstm.data.narma import narma_input, narma_series
from dqlstm.data.oscillator import oscillator_series
from dqlstm.data.windows import (
    MinMaxScaler,
    check_finite,
    num_train_windows,
    sliding_windows,
)


@dataclass(frozen=True)
class ValidationSplit:
    """The training windows cut chronologically: the first part to fit, the last to validate."""

    x_fit: np.ndarray
    y_fit: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


@dataclass(frozen=True)
class WindowedSeries:
    """A series (and optionally its exogenous input), scaled, cut into windows and split in time order.

    ``x_*`` have shape ``(N, window, F)``, ``y_*`` shape ``(N, 1)``; all float64
    and in scaled units. Feature 0 is the scaled series ``y``; with an input
    (``features="y+u"``) feature 1 is the scaled input ``u`` at the same times.
    Window ``i`` (over both parts, train first) holds times ``i .. i+window-1``
    and predicts ``scaled[window + i]``. Times count from the first point kept
    after ``warmup`` points were dropped.
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
    u_raw: np.ndarray | None = None
    u_scaled: np.ndarray | None = None
    u_scaler: MinMaxScaler | None = None
    warmup: int = 0
    validation_fraction: float = 0.2

    @property
    def num_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def num_test(self) -> int:
        return int(self.x_test.shape[0])

    @property
    def num_features(self) -> int:
        """Features per time step (1 for ``y``, 2 for ``y+u``): the models' ``input_size``."""
        return int(self.x_train.shape[-1])

    def target_indices(self) -> tuple[np.ndarray, np.ndarray]:
        """Series indices (into ``raw``/``scaled``) of the train and test targets."""
        start = self.window
        return (
            np.arange(start, start + self.num_train),
            np.arange(start + self.num_train, start + self.num_train + self.num_test),
        )

    def num_validation(self) -> int:
        """``floor(validation_fraction * num_train)``: the last training windows, kept for validation."""
        return math.floor(self.validation_fraction * self.num_train + 1e-9)

    def validation_split(self) -> ValidationSplit:
        """Training windows split in time order: the last ``num_validation()`` validate.

        For choices made from data (an AR order, early stopping); the test windows
        are never involved. Raises if either part would be empty.
        """
        n_val = self.num_validation()
        n_fit = self.num_train - n_val
        if n_val == 0 or n_fit == 0:
            raise ValueError(
                f"{self.name}: validation_fraction={self.validation_fraction} of {self.num_train} training "
                f"windows leaves an empty {'validation' if n_val == 0 else 'fit'} part"
            )
        return ValidationSplit(
            x_fit=self.x_train[:n_fit],
            y_fit=self.y_train[:n_fit],
            x_val=self.x_train[n_fit:],
            y_val=self.y_train[n_fit:],
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
    scale: str = "train",
    name: str = "series",
    *,
    u: np.ndarray | None = None,
    warmup: int = 0,
    validation_fraction: float = 0.2,
) -> WindowedSeries:
    """Drop ``warmup`` points, scale to ``[-1, 1]``, window and split chronologically.

    ``scale="train"`` (default) fits the MinMax scaler on the points the
    training windows touch (inputs and targets), so no test value enters the
    scaling; ``scale="all"`` fits it on the whole kept series (as the literature
    does). With an input ``u`` (same length as ``series``) each window step
    carries ``(y(t), u(t))``; ``u`` gets its own scaler, fitted on the same part.
    Window ``i`` then ends with ``u(i + window - 1)``: the input at the last time
    before the target ``y(i + window)``, which NARMA's ``y(t+1)`` depends on.
    """
    raw = check_finite(series, name)
    if scale not in SCALE_FITS:
        raise ValueError(f"unknown scale fit {scale!r}; expected one of {SCALE_FITS}")
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    if u is not None:
        u = check_finite(u, f"{name} input u")
        if u.shape != raw.shape:
            raise ValueError(f"{name}: input u has {u.size} points but the series has {raw.size}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if warmup and raw.size - warmup < window + 2:
        raise ValueError(
            f"{name}: warmup={warmup} leaves {max(raw.size - warmup, 0)} of {raw.size} points; a window of "
            f"{window} needs at least window + 2 = {window + 2} (one train and one test window)"
        )
    raw = raw[warmup:]
    u = None if u is None else u[warmup:]
    # Window and split first on the raw series: errors name the real problem.
    x_raw, _ = sliding_windows(raw, window)
    n = x_raw.shape[0]
    n_train = num_train_windows(n, train_fraction)
    if n_train == 0 or n_train == n:
        raise ValueError(
            f"{name}: {n} windows with train_fraction={train_fraction} leaves an empty "
            f"{'train' if n_train == 0 else 'test'} set"
        )
    # Training windows touch y[: n_train + window] (the last target included) and u[: n_train + window - 1].
    fit_y = raw if scale == "all" else raw[: n_train + window]
    scaler = MinMaxScaler.fit(fit_y)
    scaled = scaler.transform(raw)
    x, y = sliding_windows(scaled, window)
    u_scaler = u_scaled = None
    if u is not None:
        u_scaler = MinMaxScaler.fit(u if scale == "all" else u[: n_train + window - 1])
        u_scaled = u_scaler.transform(u)
        # Same windows over u; the target-time value u(i + window) is not part of window i.
        xu = np.lib.stride_tricks.sliding_window_view(u_scaled, window)[:n]
        x = np.concatenate([x, xu[:, :, None]], axis=2)
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
        u_raw=u,
        u_scaled=u_scaled,
        u_scaler=u_scaler,
        warmup=warmup,
        validation_fraction=validation_fraction,
    )


def generate_task(cfg: Mapping[str, Any]) -> tuple[str, np.ndarray, np.ndarray | None]:
    """``(name, y, u)`` for a ``[data]`` table; ``u`` is the NARMA input (``None`` for the oscillator)."""
    task = cfg.get("task", "narma5")
    order = task_order(task, cfg.get("order"))
    if order is None:
        length = int(cfg.get("length") or DEFAULT_LENGTH["oscillator"])
        return "oscillator", oscillator_series(num_points=length), None
    length = int(cfg.get("length") or DEFAULT_LENGTH["narma"])
    kind, seed = cfg.get("input", "sine"), cfg.get("seed")
    u = narma_input(length, kind, seed)
    return f"narma{order}", narma_series(order, length, input=kind, seed=seed, u=u), u


def generate_series(cfg: Mapping[str, Any]) -> tuple[str, np.ndarray]:
    """The raw series for a ``[data]`` table; returns ``(name, series)``."""
    name, series, _ = generate_task(cfg)
    return name, series


def load_dataset(cfg: Mapping[str, Any]) -> WindowedSeries:
    """Build the dataset described by a ``[data]`` config table.

    ``features="y+u"`` (NARMA tasks only) adds the input ``u(t)`` as a second
    feature and needs ``window >= order``: ``y(t+1)`` depends on ``u(t - order + 1)``.
    """
    features = cfg.get("features", "y")
    if features not in FEATURES:
        raise ValueError(f"unknown data.features {features!r}; expected one of {FEATURES}")
    name, series, u = generate_task(cfg)
    window = int(cfg.get("window", 4))
    if features == "y+u":
        if u is None:
            raise ValueError(f"data.features='y+u' needs a NARMA task (an input u); task {name!r} has none")
        order = task_order(cfg.get("task", "narma5"), cfg.get("order"))
        if window < order:
            raise ValueError(
                f"data.features='y+u' needs data.window >= the NARMA order {order} (y(t+1) depends on "
                f"u(t-{order - 1})), got window = {window}"
            )
    return prepare_series(
        series,
        window=window,
        train_fraction=float(cfg.get("train_fraction", 0.67)),
        scale=cfg.get("scale", "train"),
        name=name,
        u=u if features == "y+u" else None,
        warmup=int(cfg.get("warmup", 0)),
        validation_fraction=float(cfg.get("validation_fraction", 0.2)),
    )
