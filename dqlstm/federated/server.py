"""FedAvg: a server with the global model and clients that train local copies.

One round (McMahan et al. 2017): sample a fraction of the clients (seeded by
``(seed, round)``), let each train the current global model on its own shard
for ``local_epochs``, and replace the global model by the average of the
returned state dicts weighted by the clients' sample counts. A client that
raises, or returns non-finite parameters, is dropped from the round with a
warning; if every sampled client fails the global model stays as it was.

All local training runs in one *worker* model (built like the global one), so
an expensive engine (e.g. a cut-exact plan) is built twice, not once per client.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from dqlstm.choices import OPTIMIZER_STATES
from dqlstm.federated.averaging import fedavg, nonfinite_entries
from dqlstm.federated.partition import client_seed, sample_clients
from dqlstm.training.loop import make_optimizer, train_epoch


class ClientFailureWarning(RuntimeWarning):
    """A client was dropped from a round."""


@dataclass(frozen=True)
class LocalTraining:
    """How every client trains locally."""

    optimizer: str
    lr: float
    batch_size: int
    local_epochs: int = 1
    optimizer_state: str = "reset"
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = nn.functional.mse_loss

    def __post_init__(self) -> None:
        if self.optimizer_state not in OPTIMIZER_STATES:
            raise ValueError(f"optimizer_state must be one of {OPTIMIZER_STATES}, got {self.optimizer_state!r}")
        if self.local_epochs < 1 or self.batch_size < 1:
            raise ValueError(f"local_epochs and batch_size must be >= 1, got {self.local_epochs}, {self.batch_size}")


@dataclass
class ClientUpdate:
    """What a client sends back after local training."""

    client: int
    state: dict[str, torch.Tensor]
    num_samples: int
    train_loss: float  # mean loss of its last local epoch
    optimizer_state: dict[str, Any] | None = None


class Client:
    """A data shard ``(x, y)`` and, with ``optimizer_state="keep"``, its optimiser's state.

    ``stream`` picks the client's random stream for local shuffling (default:
    its id); clients given the same stream and data train identically.
    """

    def __init__(self, client_id: int, x: torch.Tensor, y: torch.Tensor, stream: int | None = None) -> None:
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"client {client_id}: {x.shape[0]} inputs but {y.shape[0]} targets")
        if x.shape[0] == 0:
            raise ValueError(f"client {client_id} has no samples")
        self.client_id = int(client_id)
        self.x, self.y = x, y
        self.stream = self.client_id if stream is None else int(stream)
        self.optimizer_state: dict[str, Any] | None = None

    @property
    def num_samples(self) -> int:
        return int(self.x.shape[0])

    def local_update(
        self,
        worker: nn.Module,
        global_state: dict[str, torch.Tensor],
        local: LocalTraining,
        seed: int,
        round_no: int,
    ) -> ClientUpdate:
        """Train ``worker`` from ``global_state`` on this shard; return the new state."""
        worker.load_state_dict(global_state)
        optimizer = make_optimizer(local.optimizer, worker.parameters(), local.lr)
        keep = local.optimizer_state == "keep"
        if keep and self.optimizer_state is not None:
            optimizer.load_state_dict(self.optimizer_state)
        shuffle = torch.Generator().manual_seed(client_seed(seed, round_no, self.stream))
        loss = float("nan")
        for _ in range(local.local_epochs):
            loss = train_epoch(worker, optimizer, self.x, self.y, local.batch_size, shuffle, local.loss_fn)
        return ClientUpdate(
            client=self.client_id,
            state={k: v.detach().clone() for k, v in worker.state_dict().items()},
            num_samples=self.num_samples,
            train_loss=loss,
            optimizer_state=copy.deepcopy(optimizer.state_dict()) if keep else None,
        )


@dataclass
class RoundResult:
    """One round: who was asked, who contributed, who was dropped and why, the global model's scores."""

    round: int
    clients: list[int]
    clients_used: list[int]
    dropped: list[dict[str, Any]]
    local_train_loss: float | None  # sample-weighted mean over the clients used
    metrics: dict[str, Any] = field(default_factory=dict)  # e.g. train_loss, test_auc
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "clients": self.clients,
            "clients_used": self.clients_used,
            "dropped": self.dropped,
            "local_train_loss": self.local_train_loss,
            **self.metrics,
            "seconds": self.seconds,
        }


class FederatedServer:
    """Holds the global model and the clients; :meth:`run_round` does one FedAvg round.

    ``build`` makes a fresh model (called twice: the global model and the
    worker). ``evaluate(model) -> dict`` scores the global model after each round.
    """

    def __init__(
        self,
        build: Callable[[], nn.Module],
        clients: Sequence[Client],
        local: LocalTraining,
        fraction: float = 1.0,
        seed: int = 0,
        evaluate: Callable[[nn.Module], dict[str, Any]] | None = None,
    ) -> None:
        if not clients:
            raise ValueError("a federation needs at least one client")
        ids = [c.client_id for c in clients]
        if ids != list(range(len(clients))):
            raise ValueError(f"client ids must be 0..{len(clients) - 1} in order, got {ids}")
        sample_clients(len(clients), fraction, seed, 1)  # fails early on a bad fraction
        self.model = build()
        self.worker = build()
        self.clients = list(clients)
        self.local = local
        self.fraction = float(fraction)
        self.seed = int(seed)
        self.evaluate = evaluate

    def run_round(self, round_no: int) -> RoundResult:
        t0 = time.perf_counter()
        sampled = sample_clients(len(self.clients), self.fraction, self.seed, round_no)
        global_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        updates: list[ClientUpdate] = []
        dropped: list[dict[str, Any]] = []
        for k in sampled:
            try:
                update = self.clients[k].local_update(self.worker, global_state, self.local, self.seed, round_no)
                bad = nonfinite_entries(update.state)
                if bad:
                    raise FloatingPointError(f"non-finite parameters in {', '.join(bad)}")
            except Exception as exc:  # any client fault: drop it, keep the round going
                reason = f"{type(exc).__name__}: {exc}"
                warnings.warn(f"round {round_no}: client {k} dropped ({reason})", ClientFailureWarning, stacklevel=2)
                dropped.append({"client": k, "reason": reason})
                continue
            updates.append(update)
        local_loss = None
        if updates:
            self.model.load_state_dict(fedavg([u.state for u in updates], [u.num_samples for u in updates]))
            n = sum(u.num_samples for u in updates)
            local_loss = sum(u.train_loss * u.num_samples for u in updates) / n
            for u in updates:  # only successful clients advance their optimiser state
                if u.optimizer_state is not None:
                    self.clients[u.client].optimizer_state = u.optimizer_state
        else:
            warnings.warn(
                f"round {round_no}: all {len(sampled)} sampled client(s) failed; global model unchanged",
                ClientFailureWarning,
                stacklevel=2,
            )
        metrics = self.evaluate(self.model) if self.evaluate is not None else {}
        return RoundResult(
            round=round_no,
            clients=sampled,
            clients_used=[u.client for u in updates],
            dropped=dropped,
            local_train_loss=local_loss,
            metrics=metrics,
            seconds=time.perf_counter() - t0,
        )
