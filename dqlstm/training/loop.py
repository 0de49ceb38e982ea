"""The lean inner loop: optimiser factory, one epoch of mini-batch MSE, evaluation.

Everything is whole-batch tensor work; the only Python loop runs over
mini-batches, so the loop's own cost is negligible next to the model.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from dqlstm.choices import OPTIMIZERS


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    """RMSprop (Chen et al. 2020 use lr 0.01) or Adam."""
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; expected one of {OPTIMIZERS}")


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = nn.functional.mse_loss,
    on_batch: Callable[[], None] | None = None,
) -> float:
    """One pass over ``(x, y)`` in a seeded random order; returns the epoch's
    training loss (mean of the mini-batch losses weighted by batch size).
    ``loss_fn(prediction, target)`` is MSE unless given (e.g. BCE for classifiers);
    ``on_batch()`` runs after every optimiser step (progress inside long epochs)."""
    n = x.shape[0]
    if n == 0:
        raise ValueError("cannot train on an empty training set")
    model.train()
    order = torch.randperm(n, generator=generator)
    total = torch.zeros((), dtype=torch.float64)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        optimizer.step()
        total += loss.detach().to(torch.float64) * idx.numel()
        if on_batch is not None:
            on_batch()
    value = float(total) / n
    if value != value or value in (float("inf"), float("-inf")):
        raise FloatingPointError("training loss became NaN/inf; try a smaller learning rate")
    return value


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Model outputs for ``x`` in eval mode, without gradients."""
    model.eval()
    return model(x)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """MSE of the model on ``(x, y)``."""
    return float(nn.functional.mse_loss(predict(model, x), y))
