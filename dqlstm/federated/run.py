"""A federated run: task + clients + server in a run folder (:mod:`dqlstm.runs`).

``metrics.json`` and ``checkpoint.pt`` are rewritten after every round,
``config.toml`` holds the resolved config, ``rounds.png`` the curves. All
clients' models share the one QPU pool the run opens (closed on every exit).
All randomness of a round is a function of ``(seed, round, client)`` and the
checkpoint also restores the global RNGs, so a run resumed after any round
ends identical to an uninterrupted one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dqlstm.assemble import open_pool
from dqlstm.cost import add_costs, models_cut_info
from dqlstm.federated.partition import label_fractions, partition_indices
from dqlstm.federated.plots import plot_rounds
from dqlstm.federated.server import Client, FederatedServer, LocalTraining
from dqlstm.federated.tasks import FederatedTask, load_task
from dqlstm.models.regressor import count_parameters
from dqlstm.progress import Progress, duration
from dqlstm.provenance import provenance
from dqlstm.runs import ROUNDS_PLOT, RunFolder
from dqlstm.training.seeding import rng_state, seed_everything, set_rng_state
from dqlstm.training.threads import intra_op_threads

CHECKPOINT_FORMAT = "federated-1"
RESUMABLE = ("federated.rounds", "run.out")  # keys that may differ between a run and its resumption


@dataclass
class FederatedResult:
    """What a federated run produced (``metrics`` is exactly what ``metrics.json`` holds)."""

    out_dir: Path
    metrics: dict[str, Any]
    model: nn.Module
    task: FederatedTask
    rounds_run: int  # rounds run by this call (0 if it resumed a finished run)


def _scores(task: FederatedTask, tensors: tuple[torch.Tensor, ...]) -> Any:
    x_train, y_train, x_test, y_test = tensors

    def evaluate(model: nn.Module) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
            for name, value in task.evaluate(model, x, y).items():
                out[f"{split}_{name}"] = value
        return out

    return evaluate


def client_shards(cfg: Mapping[str, Any], task: FederatedTask) -> list[Any]:
    """Training-sample indices of every client (label-skew draws from ``federated.seed``)."""
    fed = cfg["federated"]
    if fed["partition"] != "label-skew":
        return partition_indices(task.num_train, int(fed["clients"]), fed["partition"])
    if task.kind != "classification":
        raise ValueError(f"partition 'label-skew' needs class labels; task {task.name!r} is a regression")
    return partition_indices(
        task.num_train,
        int(fed["clients"]),
        "label-skew",
        labels=task.y_train[:, 0],
        alpha=float(fed["alpha"]),
        seed=int(fed["seed"]),
    )


def build_federation(cfg: Mapping[str, Any], task: FederatedTask, pool: Any = None) -> FederatedServer:
    """Clients (shards of the training set) and the server described by a resolved config;
    every model runs on ``pool`` (see :func:`dqlstm.assemble.open_pool`)."""
    fed, train = cfg["federated"], cfg["train"]
    seed = int(fed["seed"])
    probe = task.build_model(cfg["model"], seed, pool)
    dtype = next(probe.parameters()).dtype
    tensors = tuple(
        torch.as_tensor(a, dtype=dtype) for a in (task.x_train, task.y_train, task.x_test, task.y_test)
    )
    shards = client_shards(cfg, task)
    clients = [Client(k, tensors[0][idx], tensors[1][idx]) for k, idx in enumerate(shards)]
    local = LocalTraining(
        optimizer=train["optimizer"],
        lr=float(train["lr"]),
        batch_size=int(train["batch_size"]),
        local_epochs=int(fed["local_epochs"]),
        optimizer_state=fed["optimizer_state"],
        loss_fn=task.loss_fn,
    )
    built = [probe]

    def build() -> nn.Module:  # the probe becomes the global model; the worker is built fresh
        return built.pop() if built else task.build_model(cfg["model"], seed, pool)

    return FederatedServer(build, clients, local, float(fed["fraction"]), seed, _scores(task, tensors))


def _client_info(server: FederatedServer, task: FederatedTask) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"client": c.client_id, "num_samples": c.num_samples} for c in server.clients
    ]
    if task.kind == "classification":
        for row, c in zip(rows, server.clients):
            row["signal_fraction"] = label_fractions([np.arange(c.num_samples)], c.y.numpy())[0]
    return rows


def run_federated(
    cfg: Mapping[str, Any],
    out_dir: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    quiet: bool = False,
) -> FederatedResult:
    """Run the federation described by the resolved config ``cfg`` into ``out_dir``."""
    out = Path(out_dir)
    cfg = json.loads(json.dumps(cfg, default=str))  # a private, JSON-clean copy
    cfg.setdefault("run", {})["out"] = str(out)
    folder = RunFolder(out, CHECKPOINT_FORMAT, RESUMABLE)
    checkpoint = folder.open(cfg, resume=resume, force=force)
    with intra_op_threads(int(cfg["train"].get("threads", 1))):
        seed_everything(int(cfg["federated"]["seed"]))
        task = load_task(cfg["data"])
        with open_pool(cfg, int(cfg["federated"]["seed"])) as pool:  # closed on every exit, Ctrl-C included
            return _run(cfg, folder, checkpoint, task, build_federation(cfg, task, pool), quiet)


def _run(
    cfg: dict[str, Any],
    folder: RunFolder,
    checkpoint: dict[str, Any] | None,
    task: FederatedTask,
    server: FederatedServer,
    quiet: bool,
) -> FederatedResult:
    out = folder.path
    fed = cfg["federated"]
    model = server.model
    metrics: dict[str, Any] = {
        "rounds": [],
        "num_parameters": count_parameters(model),
        "config": cfg,
        "cut": models_cut_info([model, server.worker]),  # clients train on the worker
        "model": {"kind": cfg["model"]["kind"], "class": type(model).__name__},
        "task": {"kind": task.kind, **task.info},
        "clients": _client_info(server, task),
        "finished": False,
        "provenance": [provenance()],  # one entry per process that ran this federation
    }
    start = 0
    earlier_cost = None  # the cut cost counted by the processes before a resume
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        for c, state in zip(server.clients, checkpoint["client_optimizer_states"]):
            c.optimizer_state = state
        set_rng_state(checkpoint["rng"])
        start = int(checkpoint["round"])
        metrics["initial"] = checkpoint["metrics"]["initial"]
        metrics["rounds"] = list(checkpoint["metrics"]["rounds"])[:start]
        earlier_cost = checkpoint.get("cut_cost")
        metrics["cut"] = add_costs(earlier_cost, metrics["cut"])
        metrics["provenance"] = checkpoint["metrics"].get("provenance", []) + metrics["provenance"]
    total = int(fed["rounds"])
    if start > total:
        raise ValueError(
            f"{out} already ran {start} rounds; cannot resume to fewer (federated.rounds = {total})"
        )
    # Data, clients and models are built: only now touch the folder (a bad config leaves no trace).
    folder.prepare(cfg)
    if checkpoint is None:
        t0 = time.perf_counter()
        metrics["initial"] = {"round": 0, **server.evaluate(model), "seconds": time.perf_counter() - t0}

    def save_checkpoint(round_no: int) -> None:
        metrics["cut"] = add_costs(earlier_cost, models_cut_info([model, server.worker]))
        state = {
            "round": round_no,
            "model": model.state_dict(),
            "client_optimizer_states": [c.optimizer_state for c in server.clients],
            "rng": rng_state(),
            "metrics": metrics,
            "config": cfg,
            "cut_cost": metrics["cut"],
        }
        folder.save(state, metrics)

    progress = Progress(
        total,
        label="round",
        desc=f"federated {cfg['model']['kind']} {task.name}",
        unit="round",
        initial=start,
        quiet=quiet,
    )
    try:
        for round_no in range(start + 1, total + 1):
            t0 = time.perf_counter()
            row = server.run_round(round_no).to_dict()
            metrics["rounds"].append(row)
            save_checkpoint(round_no)
            post = {"test_loss": f"{row['test_loss']:.3g}"}
            line = f"test loss {row['test_loss']:.3g}"
            if row.get("test_auc") is not None:
                post["auc"] = f"{row['test_auc']:.3f}"
                line += f", auc {row['test_auc']:.3f}"
            progress.advance(line=f"{line}, {duration(time.perf_counter() - t0)}", postfix=post)
    finally:
        progress.close()

    last = metrics["rounds"][-1] if metrics["rounds"] else metrics["initial"]
    metrics["final"] = {k: v for k, v in last.items() if k.startswith(("train_", "test_"))} | {"round": total}
    if not metrics["rounds"]:
        save_checkpoint(0)
    loss_name = "binary cross-entropy" if task.kind == "classification" else "MSE"
    title = (
        f"FedAvg {metrics['model']['kind']} on {task.name}: {fed['clients']} clients "
        f"({metrics['num_parameters']} parameters)"
    )
    plot_rounds(out / ROUNDS_PLOT, [metrics["initial"]] + metrics["rounds"], title, loss_name)
    metrics["finished"] = True  # last: a run whose plot failed is not finished
    folder.write_metrics(metrics)
    return FederatedResult(out, metrics, model, task, total - start)
