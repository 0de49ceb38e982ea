"""The lean inner loop: optimiser factory, one epoch of mini-batch MSE, evaluation.

Everything is whole-batch tensor work; the only Python loop runs over
mini-batches, so the loop's own cost is negligible next to the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


@dataclass
class EpochPosition:
    """Where an epoch stands: its shuffled order, the mini-batches done and the sum of their
    losses weighted by batch size (float64). A checkpoint taken between two steps keeps it,
    so a resumed epoch continues with the same order and the same sum."""

    order: torch.Tensor
    batches_done: int = 0
    loss_sum: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.loss_sum is None:
            self.loss_sum = torch.zeros((), dtype=torch.float64)

    @classmethod
    def start(cls, n: int, generator: torch.Generator) -> EpochPosition:
        """A new epoch over ``n`` samples: its order drawn from ``generator``."""
        return cls(torch.randperm(n, generator=generator))

    def state(self) -> dict[str, Any]:
        return {
            "order": self.order.clone(),
            "batches_done": self.batches_done,
            "loss_sum": self.loss_sum.clone(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> EpochPosition:
        return cls(state["order"].clone(), int(state["batches_done"]), state["loss_sum"].clone())


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = nn.functional.mse_loss,
    on_batch: Callable[[], None] | None = None,
    *,
    position: EpochPosition | None = None,
    before_batch: Callable[[EpochPosition], None] | None = None,
) -> float:
    """One pass over ``(x, y)`` in a seeded random order; returns the epoch's
    training loss (mean of the mini-batch losses weighted by batch size).
    ``loss_fn(prediction, target)`` is MSE unless given (e.g. BCE for classifiers);
    ``on_batch()`` runs after every optimiser step (progress inside long epochs).

    ``position`` (default: a new one drawn from ``generator``) is updated in place
    after every step; ``before_batch(position)`` runs before every step and may
    raise to stop the epoch there (the position then says where it stopped)."""
    n = x.shape[0]
    if n == 0:
        raise ValueError("cannot train on an empty training set")
    model.train()
    pos = position if position is not None else EpochPosition.start(n, generator)
    if pos.order.numel() != n:
        raise ValueError(f"the epoch's order has {pos.order.numel()} samples, the training set {n}")
    for start in range(pos.batches_done * batch_size, n, batch_size):
        idx = pos.order[start : start + batch_size]
        if before_batch is not None:
            before_batch(pos)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        optimizer.step()
        pos.loss_sum += loss.detach().to(torch.float64) * idx.numel()
        pos.batches_done += 1
        if on_batch is not None:
            on_batch()
    value = float(pos.loss_sum) / n
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
