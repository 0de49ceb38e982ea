"""Classification metrics without sklearn: ROC AUC (rank formula), accuracy, BCE."""

from __future__ import annotations

import numpy as np
import torch


def _binary(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=np.float64).ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores and labels differ in length: {s.size} vs {y.size}")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or inf")
    return s, y


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve by the Mann-Whitney rank formula.

    ``AUC = (sum of positive ranks - n_pos (n_pos + 1) / 2) / (n_pos n_neg)``
    with tied scores given their average rank, i.e. the probability that a
    random positive scores above a random negative, ties counting one half.
    """
    s, y = _binary(scores, labels)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"ROC AUC needs both classes; got {n_pos} positive and {n_neg} negative labels")
    # 1-based ranks; tied scores share the average of the ranks they span.
    _, group, counts = np.unique(s, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts + 1
    ranks = (first + (counts - 1) / 2.0)[group]
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of events with ``(logit > 0) == label`` (threshold 0.5 on the probability)."""
    s, y = _binary(logits, labels)
    return float(np.mean((s > 0) == (y == 1)))


def bce_with_logits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of logits (numerically stable)."""
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
