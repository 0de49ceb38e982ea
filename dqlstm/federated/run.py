"""A federated run: task + clients + server + output folder (metrics, config, checkpoint, plot).

The folder layout and its protection follow ``dqlstm.training.run``:
``metrics.json`` and ``checkpoint.pt`` are rewritten after every round,
``config.toml`` holds the resolved config, ``rounds.png`` the curves. All
randomness of a round is a function of ``(seed, round, client)`` and the
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

import torch
from torch import nn
from tqdm.auto import tqdm

from dqlstm.config import dump_config
from dqlstm.federated.partition import partition_indices
from dqlstm.federated.plots import plot_rounds
from dqlstm.federated.server import Client, FederatedServer, LocalTraining
from dqlstm.federated.tasks import FederatedTask, load_task
from dqlstm.models.regressor import count_parameters
from dqlstm.training.run import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    METRICS_FILE,
    ROUNDS_PLOT,
    check_out_dir,
    clear_run_files,
    config_differences,
    cut_info,
    intra_op_threads,
    is_tty,
    write_atomic,
    write_json,
)
from dqlstm.training.seeding import rng_state, seed_everything, set_rng_state

CHECKPOINT_FORMAT = "federated-1"
RESUMABLE_CHANGES = ("federated.rounds", "run.out")


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


def build_federation(cfg: Mapping[str, Any], task: FederatedTask) -> FederatedServer:
    """Clients (shards of the training set) and the server described by a resolved config."""
    fed, train = cfg["federated"], cfg["train"]
    seed = int(fed["seed"])
    probe = task.build_model(cfg["model"], seed, cfg.get("qpus"))
    dtype = next(probe.parameters()).dtype
    tensors = tuple(torch.as_tensor(a, dtype=dtype) for a in (task.x_train, task.y_train, task.x_test, task.y_test))
    shards = partition_indices(task.num_train, int(fed["clients"]), fed["partition"])
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
        return built.pop() if built else task.build_model(cfg["model"], seed, cfg.get("qpus"))

    return FederatedServer(build, clients, local, float(fed["fraction"]), seed, _scores(task, tensors))


def _check_resume(out: Path, cfg: dict[str, Any]) -> dict[str, Any]:
    # Our own file; it holds NumPy RNG state, which weights_only refuses.
    ckpt = torch.load(out / CHECKPOINT_FILE, map_location="cpu", weights_only=False)
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{out / CHECKPOINT_FILE}: not a federated checkpoint (format {ckpt.get('format')!r})")
    diffs = [d for d in config_differences(ckpt["config"], cfg) if not d.startswith(RESUMABLE_CHANGES)]
    if diffs:
        raise ValueError(
            f"cannot resume {out}: the config differs from the checkpoint's in "
            + "; ".join(diffs)
            + " (only federated.rounds may change on resume)"
        )
    return ckpt


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
    clear = check_out_dir(out, resume, force)
    checkpoint = _check_resume(out, cfg) if resume else None
    with intra_op_threads(int(cfg["train"].get("threads", 1))):
        return _run(cfg, out, checkpoint, clear, quiet)


def _run(
    cfg: dict[str, Any], out: Path, checkpoint: dict[str, Any] | None, clear: bool, quiet: bool
) -> FederatedResult:
    fed = cfg["federated"]
    seed_everything(int(fed["seed"]))
    task = load_task(cfg["data"])
    server = build_federation(cfg, task)
    model = server.model
    metrics: dict[str, Any] = {
        "rounds": [],
        "num_parameters": count_parameters(model),
        "config": cfg,
        "cut": cut_info(getattr(model, "regressor", model)),
        "model": {"kind": cfg["model"]["kind"], "class": type(model).__name__},
        "task": {"kind": task.kind, **task.info},
        "clients": [{"client": c.client_id, "num_samples": c.num_samples} for c in server.clients],
        "finished": False,
    }
    start = 0
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        for c, state in zip(server.clients, checkpoint["client_optimizer_states"]):
            c.optimizer_state = state
        set_rng_state(checkpoint["rng"])
        start = int(checkpoint["round"])
        metrics["initial"] = checkpoint["metrics"]["initial"]
        metrics["rounds"] = list(checkpoint["metrics"]["rounds"])[:start]
    total = int(fed["rounds"])
    if start > total:
        raise ValueError(f"{out} already ran {start} rounds; cannot resume to fewer (federated.rounds = {total})")
    # Data, clients and models are built: only now touch the folder (a bad config leaves no trace).
    if clear:
        clear_run_files(out)
    out.mkdir(parents=True, exist_ok=True)
    dump_config(cfg, out / CONFIG_FILE)
    if checkpoint is None:
        t0 = time.perf_counter()
        metrics["initial"] = {"round": 0, **server.evaluate(model), "seconds": time.perf_counter() - t0}

    def save_checkpoint(round_no: int) -> None:
        state = {
            "format": CHECKPOINT_FORMAT,
            "round": round_no,
            "model": model.state_dict(),
            "client_optimizer_states": [c.optimizer_state for c in server.clients],
            "rng": rng_state(),
            "metrics": metrics,
            "config": cfg,
        }
        write_atomic(out / CHECKPOINT_FILE, lambda p: torch.save(state, p))

    bar = tqdm(
        total=total,
        initial=start,
        desc=f"federated {cfg['model']['kind']} {task.name}",
        unit="round",
        disable=quiet or not is_tty(),
        leave=True,
    )
    try:
        for round_no in range(start + 1, total + 1):
            row = server.run_round(round_no).to_dict()
            metrics["rounds"].append(row)
            save_checkpoint(round_no)
            write_json(out / METRICS_FILE, metrics)
            bar.update(1)
            post = {"test_loss": f"{row['test_loss']:.3g}"}
            if row.get("test_auc") is not None:
                post["auc"] = f"{row['test_auc']:.3f}"
            bar.set_postfix(post)
    finally:
        bar.close()

    last = metrics["rounds"][-1] if metrics["rounds"] else metrics["initial"]
    metrics["final"] = {k: v for k, v in last.items() if k.startswith(("train_", "test_"))} | {"round": total}
    metrics["finished"] = True
    if not metrics["rounds"]:
        save_checkpoint(0)
    write_json(out / METRICS_FILE, metrics)
    loss_name = "binary cross-entropy" if task.kind == "classification" else "MSE"
    title = (
        f"FedAvg {metrics['model']['kind']} on {task.name}: {fed['clients']} clients "
        f"({metrics['num_parameters']} parameters)"
    )
    plot_rounds(out / ROUNDS_PLOT, [metrics["initial"]] + metrics["rounds"], title, loss_name)
    return FederatedResult(out, metrics, model, task, total - start)
