"""PNG plots of a run: prediction vs truth and the loss curves.

Uses matplotlib's object-oriented API with the Agg canvas, so nothing touches
pyplot's global backend (safe in notebooks and on headless machines).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from dqlstm.figures import save_figure


def plot_predictions(
    path: str | Path,
    series: np.ndarray,
    train_index: np.ndarray,
    train_pred: np.ndarray,
    test_index: np.ndarray,
    test_pred: np.ndarray,
    title: str = "",
) -> Path:
    """Scaled series (truth) with the one-step-ahead predictions on both parts."""
    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(np.arange(series.size), series, color="black", lw=1.2, label="truth")
    ax.plot(train_index, np.ravel(train_pred), color="tab:blue", lw=1.2, ls="--", label="prediction (train)")
    ax.plot(test_index, np.ravel(test_pred), color="tab:red", lw=1.2, ls="--", label="prediction (test)")
    if test_index.size:
        ax.axvline(test_index[0] - 0.5, color="grey", lw=0.8, ls=":", label="train / test split")
    ax.set_xlabel("time step")
    ax.set_ylabel("value (scaled to [-1, 1])")
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    return save_figure(fig, path)


def plot_losses(
    path: str | Path,
    epochs: Sequence[int],
    train_loss: Sequence[float],
    test_loss: Sequence[float],
    title: str = "",
) -> Path:
    """Train and test MSE per epoch (log scale)."""
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(epochs, train_loss, marker=".", label="train")
    ax.plot(epochs, test_loss, marker=".", label="test")
    if min(list(train_loss) + list(test_loss), default=0) > 0:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE loss")
    ax.set_title(title)
    ax.legend(loc="best")
    return save_figure(fig, path)
