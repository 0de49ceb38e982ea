"""PNG of the global model's loss (and accuracy) per round (style of ``dqlstm.training.plots``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from dqlstm.figures import save_figure


def plot_rounds(path: str | Path, rows: Sequence[Mapping[str, Any]], title: str = "", loss_name: str = "loss") -> Path:
    """Global train/test loss vs round; a second panel with accuracy when the rows have it.

    ``rows`` are metrics.json round entries (round 0 = the initial model may be included).
    """
    rounds = [r["round"] for r in rows]
    has_acc = any(r.get("test_accuracy") is not None for r in rows)
    fig = Figure(figsize=(10 if has_acc else 6, 4), layout="constrained")
    axes = fig.subplots(1, 2 if has_acc else 1, squeeze=False)[0]
    for a in axes:
        a.xaxis.set_major_locator(MaxNLocator(integer=True))  # rounds are whole numbers
    ax = axes[0]
    for split in ("train", "test"):
        ax.plot(rounds, [r.get(f"{split}_loss") for r in rows], marker=".", label=f"global model, {split}")
    ax.set_xlabel("round")
    ax.set_ylabel(loss_name)
    ax.legend(loc="best")
    if has_acc:
        ax = axes[1]
        for split in ("train", "test"):
            vals = [r.get(f"{split}_accuracy") for r in rows]
            ax.plot(rounds, [float("nan") if v is None else v for v in vals], marker=".", label=f"accuracy, {split}")
        auc = [r.get("test_auc") for r in rows]
        ax.plot(rounds, [float("nan") if v is None else v for v in auc], marker=".", ls="--", label="ROC AUC, test")
        ax.set_xlabel("round")
        ax.set_ylabel("accuracy / AUC")
        ax.legend(loc="best")
    fig.suptitle(title)
    return save_figure(fig, path)
