"""Centralised baselines for the tabular (SUSY-style) task, on the federation's own train/test split.

* ``logistic``: ``logit = w . x + b`` (``F + 1`` parameters).
* ``mlp``: ``logit = w2 . relu(W1 x + b1) + b2`` (``(F + 2) h + 1`` parameters; ``h = 10`` gives 201
  for 18 features, the size of the federated LSTM/QLSTM).
* ``vqc``: a plain variational quantum classifier, no recurrence (:class:`VQCClassifier`).
* ``dressed-vqc``: Linear(F, n) -> the QLSTM's own gate circuit (``dqlstm.circuits.build_vqc``,
  chen2020) -> ``<Z>`` -> Linear(n, 1) (:class:`DressedVQCClassifier`): the QLSTM's quantum
  block without the recurrence.

Every baseline trains with the clients' optimiser settings (Adam/RMSprop, lr, batch) for a
number of epochs over the whole training set; the final model is scored (no model selection
on the test set).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from qiskit.circuit import ParameterVector, QuantumCircuit
from torch import nn

from dqlstm.circuits import build_vqc
from dqlstm.engine import ExactEngine
from dqlstm.federated.tasks import FederatedTask
from dqlstm.models.regressor import count_parameters
from dqlstm.training.loop import make_optimizer, train_epoch

BASELINES = ("logistic", "mlp", "vqc", "dressed-vqc")
ENCODING_GATES = ("ry", "rz")  # alternate per feature on a qubit, after H


def vqc_circuit(
    num_features: int, n_qubits: int, layers: int
) -> tuple[QuantumCircuit, ParameterVector, ParameterVector]:
    """The classifier's circuit: feature angles ``x``, trainable ``theta``.

    Qubit ``q`` holds features ``q f .. q f + f - 1`` (``f = F / n_qubits``): ``H`` then
    ``RY(x_{qf}) RZ(x_{qf+1}) RY(x_{qf+2}) ...``. Each of ``layers`` variational layers
    is the chen2020 entangler (CNOT(i, i+1) ring, CNOT(i, i+2) ring) and
    ``RZ RY RZ`` on every qubit (``3 n`` weights per layer).
    """
    if n_qubits < 2 or layers < 1:
        raise ValueError(f"a VQC classifier needs >= 2 qubits and >= 1 layer, got {n_qubits} and {layers}")
    if num_features % n_qubits:
        raise ValueError(f"{num_features} features cannot be spread evenly over {n_qubits} qubits")
    per = num_features // n_qubits
    x = ParameterVector("x", num_features)
    theta = ParameterVector("theta", 3 * n_qubits * layers)
    qc = QuantumCircuit(n_qubits, name=f"vqc_{n_qubits}q_{layers}l")
    for q in range(n_qubits):
        qc.h(q)
        for j in range(per):
            getattr(qc, ENCODING_GATES[j % 2])(x[q * per + j], q)
    for layer in range(layers):
        for i in range(n_qubits if n_qubits > 2 else 1):
            qc.cx(i, (i + 1) % n_qubits)
        if n_qubits > 2:
            for i in range(n_qubits):
                qc.cx(i, (i + 2) % n_qubits)
        for q in range(n_qubits):
            k = 3 * (layer * n_qubits + q)
            qc.rz(theta[k], q)
            qc.ry(theta[k + 1], q)
            qc.rz(theta[k + 2], q)
    return qc, x, theta


class VQCClassifier(nn.Module):
    """``logit = sum_q w_q <Z_q>(2 arctan x, theta) + b``: encode, variational layers, read ``<Z>``.

    The standardised features become angles ``2 arctan(x)`` in ``(-pi, pi)``; the
    expectation values come from the project's exact engine (statevector, adjoint
    gradients); a Linear(n_qubits, 1) readout scales ``<Z>`` in ``[-1, 1]`` to a logit.
    """

    def __init__(self, num_features: int, n_qubits: int = 6, layers: int = 10, seed: int = 0) -> None:
        super().__init__()
        circuit, x, theta = vqc_circuit(num_features, n_qubits, layers)
        self.num_features = int(num_features)
        self.n_qubits = int(n_qubits)
        self.layers = int(layers)
        self.engine = ExactEngine(circuit, list(x), list(theta))
        gen = torch.Generator().manual_seed(seed)
        self.weights = nn.Parameter(2 * math.pi * torch.rand(len(theta), generator=gen, dtype=torch.float64))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.readout = nn.Linear(n_qubits, 1, dtype=torch.float64)

    def expectations(self, x: torch.Tensor) -> torch.Tensor:
        """``<Z_q>`` for every event, ``(B, n_qubits)``."""
        if x.dim() != 2 or x.shape[1] != self.num_features:
            raise ValueError(f"VQCClassifier expects (batch, {self.num_features}), got {tuple(x.shape)}")
        return self.engine(2 * torch.atan(x.to(torch.float64)), self.weights[None])[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.expectations(x)).to(x.dtype)

    def extra_repr(self) -> str:
        return f"num_features={self.num_features}, n_qubits={self.n_qubits}, layers={self.layers}"


class DressedVQCClassifier(nn.Module):
    """``logit = L_out(<Z>(encode(L_in x), theta))``: one pass of a QLSTM gate circuit over the event.

    ``L_in: R^F -> R^n``; ``encode`` is the ansatz's own (chen2020: ``arctan v``, ``arctan v^2``
    per qubit); ``theta`` uniform in ``[0, 2 pi)`` like the QLSTM's; ``L_out: R^n -> R``.
    """

    def __init__(self, num_features: int, n_qubits: int = 4, layers: int = 2, seed: int = 0) -> None:
        super().__init__()
        self.vqc = build_vqc("chen2020", n_qubits, layers)
        self.engine = ExactEngine(self.vqc.circuit, list(self.vqc.inputs), list(self.vqc.weights))
        self.num_features = int(num_features)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.clayer_in = nn.Linear(num_features, n_qubits, dtype=torch.float64)
            self.clayer_out = nn.Linear(n_qubits, 1, dtype=torch.float64)
            self.weights = nn.Parameter(self.vqc.init_weights())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.num_features:
            raise ValueError(
                f"DressedVQCClassifier expects (batch, {self.num_features}), got {tuple(x.shape)}"
            )
        angles = self.vqc.encode(self.clayer_in(x.to(torch.float64)))
        return self.clayer_out(self.engine(angles, self.weights[None])[0]).to(x.dtype)


def build_baseline(
    name: str, num_features: int, seed: int, options: Mapping[str, Any] | None = None
) -> nn.Module:
    """A fresh baseline model, every initial parameter fixed by ``seed`` (float64)."""
    opts = dict(options or {})
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; expected one of {BASELINES}")
    if name == "vqc":
        return VQCClassifier(
            num_features, int(opts.get("vqc_qubits", 6)), int(opts.get("vqc_layers", 10)), seed
        )
    if name == "dressed-vqc":
        qubits, layers = int(opts.get("dressed_qubits", 4)), int(opts.get("dressed_layers", 2))
        return DressedVQCClassifier(num_features, qubits, layers, seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if name == "logistic":
            return nn.Linear(num_features, 1, dtype=torch.float64)
        hidden = int(opts.get("mlp_hidden", 10))
        if hidden < 1:
            raise ValueError(f"mlp_hidden must be >= 1, got {hidden}")
        return nn.Sequential(
            nn.Linear(num_features, hidden, dtype=torch.float64),
            nn.ReLU(),
            nn.Linear(hidden, 1, dtype=torch.float64),
        )


@dataclass
class BaselineResult:
    """A trained baseline's final scores and its per-epoch test curve."""

    name: str
    seed: int
    parameters: int
    epochs: int
    final: dict[str, float | None]  # train_/test_ loss, accuracy, auc after the last epoch
    history: list[dict[str, float | None]] = field(
        default_factory=list
    )  # test scores per epoch (0 = initial)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "seed": self.seed,
            "parameters": self.parameters,
            "epochs": self.epochs,
            "final": self.final,
            "history": self.history,
            "seconds": self.seconds,
        }


def train_baseline(
    name: str,
    task: FederatedTask,
    *,
    seed: int,
    epochs: int,
    optimizer: str = "adam",
    lr: float = 0.01,
    batch_size: int = 32,
    options: Mapping[str, Any] | None = None,
) -> BaselineResult:
    """Train baseline ``name`` centrally on ``task``'s training events; score it on both splits.

    Shuffling uses its own generator seeded by ``seed``; the global RNG is untouched.
    """
    if task.kind != "classification":
        raise ValueError(f"baselines are classifiers; task {task.name!r} is a {task.kind}")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    t0 = time.perf_counter()
    model = build_baseline(name, int(task.x_train.shape[1]), seed, options)
    x_tr, y_tr, x_te, y_te = (torch.as_tensor(a, dtype=torch.float64) for a in
                              (task.x_train, task.y_train, task.x_test, task.y_test))  # fmt: skip
    opt = make_optimizer(optimizer, model.parameters(), lr)
    shuffle = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, 3]).generate_state(1)[0]))
    history = [{"epoch": 0, **_prefixed("test", task.evaluate(model, x_te, y_te))}]
    for epoch in range(1, epochs + 1):
        model.train()
        train_epoch(model, opt, x_tr, y_tr, batch_size, shuffle, task.loss_fn)
        history.append({"epoch": epoch, **_prefixed("test", task.evaluate(model, x_te, y_te))})
    final = _prefixed("train", task.evaluate(model, x_tr, y_tr)) | {
        k: v for k, v in history[-1].items() if k != "epoch"
    }
    return BaselineResult(
        name, seed, count_parameters(model), epochs, final, history, time.perf_counter() - t0
    )


def _prefixed(split: str, scores: Mapping[str, float | None]) -> dict[str, float | None]:
    return {f"{split}_{k}": v for k, v in scores.items()}
