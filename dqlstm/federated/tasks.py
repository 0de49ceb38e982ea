"""What the federation learns: time-series regression or SUSY-style classification.

A :class:`FederatedTask` holds the (already scaled) train/test arrays, builds
the model for them and evaluates a model with the task's loss (MSE or BCE)
and, for classification, accuracy and ROC AUC.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from dqlstm.assemble import build_classifier, build_model
from dqlstm.choices import TABULAR_TASKS
from dqlstm.data.dataset import load_dataset
from dqlstm.data.susy import (
    NUM_FEATURES,
    generate_susy_like,
    load_susy_csv,
    split_standardize,
)
from dqlstm.federated.metrics import accuracy, bce_with_logits, roc_auc
from dqlstm.training.loop import predict

TASK_KINDS = ("regression", "classification")
EVAL_CHUNK = 4096  # events per forward pass when evaluating (bounds simulator memory)


@dataclass
class FederatedTask:
    """Train/test arrays (float64; ``y`` of shape ``(N, 1)``) and how to model and score them."""

    name: str
    kind: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    steps: int | None = None  # classification: time steps each event is read as
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise ValueError(f"unknown task kind {self.kind!r}; expected one of {TASK_KINDS}")

    @property
    def num_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def loss_fn(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        return bce_with_logits if self.kind == "classification" else nn.functional.mse_loss

    def build_model(self, model_cfg: Mapping[str, Any], seed: int, pool: Any = None) -> nn.Module:
        """The model for this task; every initial parameter fixed by ``seed``; cutting
        modes run on ``pool`` when given (see :func:`dqlstm.assemble.open_pool`).

        The global torch RNG is seeded inside a fork (the classical LSTM draws
        its initial weights from it), so building leaves it untouched.
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if self.kind == "classification":
                return build_classifier(model_cfg, int(self.x_train.shape[1]), int(self.steps), seed=seed, pool=pool)
            return build_model(model_cfg, int(self.x_train.shape[-1]), 1, seed=seed, pool=pool)

    def evaluate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float | None]:
        """``loss`` (MSE or BCE), and ``accuracy``/``auc`` (``None`` for regression)."""
        out = torch.cat([predict(model, x[i : i + EVAL_CHUNK]) for i in range(0, x.shape[0], EVAL_CHUNK)])
        loss = float(self.loss_fn(out, y))
        if self.kind == "regression":
            return {"loss": loss, "accuracy": None, "auc": None}
        scores, labels = out.detach().double().numpy().ravel(), y.double().numpy().ravel()
        if not np.isfinite(scores).all():
            return {"loss": loss, "accuracy": None, "auc": None}
        return {"loss": loss, "accuracy": accuracy(scores, labels), "auc": roc_auc(scores, labels)}


def load_task(data_cfg: Mapping[str, Any]) -> FederatedTask:
    """The task described by a resolved federated ``[data]`` table."""
    task = data_cfg["task"]
    if task in TABULAR_TASKS:
        if task == "susy":
            raw = generate_susy_like(int(data_cfg["events"]), seed=int(data_cfg["seed"]))
        else:
            raw = load_susy_csv(data_cfg["path"], max_rows=data_cfg.get("max_rows"))
        if raw.x.shape[1] != NUM_FEATURES:
            raise ValueError(f"{raw.name}: expected {NUM_FEATURES} features, got {raw.x.shape[1]}")
        split = split_standardize(raw, float(data_cfg["test_fraction"]))
        return FederatedTask(
            name=raw.name,
            kind="classification",
            x_train=split.x_train,
            y_train=split.y_train[:, None],
            x_test=split.x_test,
            y_test=split.y_test[:, None],
            steps=int(data_cfg["steps"]),
            info={
                "name": raw.name,
                "num_train": split.num_train,
                "num_test": split.num_test,
                "signal_fraction_train": float(split.y_train.mean()),
                "feature_names": list(split.feature_names),
                "steps": int(data_cfg["steps"]),
            },
        )
    series = load_dataset(data_cfg)
    return FederatedTask(
        name=series.name,
        kind="regression",
        x_train=series.x_train,
        y_train=series.y_train,
        x_test=series.x_test,
        y_test=series.y_test,
        info={
            "name": series.name,
            "num_train": series.num_train,
            "num_test": series.num_test,
            "window": series.window,
        },
    )
