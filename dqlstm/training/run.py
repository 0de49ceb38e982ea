"""A training run: data + model + optimiser in a run folder (:mod:`dqlstm.runs`).

``metrics.json`` and ``checkpoint.pt`` (model, optimiser, epoch, RNG states,
metrics and cut cost so far) are rewritten after every epoch; once finished
the folder also holds ``predictions.png`` and ``loss.png``. Resuming restores
every RNG, so a run interrupted after any epoch and resumed ends bit-identical
to an uninterrupted one, and its cut cost counts the work of every process.
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

from dqlstm.assemble import build_model, open_pool
from dqlstm.cost import add_costs, cut_info
from dqlstm.data.dataset import WindowedSeries, load_dataset
from dqlstm.models.regressor import count_parameters
from dqlstm.progress import Heartbeat, Progress, duration, work_text
from dqlstm.provenance import provenance
from dqlstm.runs import LOSS_PLOT, PREDICTIONS_PLOT, RunFolder
from dqlstm.training.loop import evaluate, make_optimizer, predict, train_epoch
from dqlstm.training.plots import plot_losses, plot_predictions
from dqlstm.training.seeding import rng_state, seed_everything, set_rng_state
from dqlstm.training.threads import intra_op_threads

CHECKPOINT_FORMAT = 1
RESUMABLE = ("train.epochs", "run.out")  # keys that may differ between a run and its resumption


@dataclass
class RunResult:
    """What a run produced (``metrics`` is exactly what ``metrics.json`` holds)."""

    out_dir: Path
    metrics: dict[str, Any]
    model: nn.Module
    data: WindowedSeries
    epochs_run: int  # epochs trained by this call (0 if resumed a finished run)
    train_pred: torch.Tensor | None = None  # the final predictions, (num_train, 1) and (num_test, 1)
    test_pred: torch.Tensor | None = None


def run_training(
    cfg: Mapping[str, Any],
    out_dir: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    quiet: bool = False,
) -> RunResult:
    """Train the model described by the resolved config ``cfg`` into ``out_dir``."""
    out = Path(out_dir)
    cfg = json.loads(json.dumps(cfg, default=str))  # a private, JSON-clean copy
    cfg.setdefault("run", {})["out"] = str(out)
    folder = RunFolder(out, CHECKPOINT_FORMAT, RESUMABLE)
    checkpoint = folder.open(cfg, resume=resume, force=force)
    with intra_op_threads(int(cfg["train"].get("threads", 1))):
        seed = int(cfg["train"]["seed"])
        seed_everything(seed)
        data = load_dataset(cfg["data"])
        with open_pool(cfg, seed) as pool:  # closed on every exit, Ctrl-C included
            model = build_model(cfg["model"], input_size=1, output_size=1, seed=seed, pool=pool)
            return _train(cfg, folder, checkpoint, data, model, quiet)


def _train(
    cfg: dict[str, Any],
    folder: RunFolder,
    checkpoint: dict[str, Any] | None,
    data: WindowedSeries,
    model: nn.Module,
    quiet: bool,
) -> RunResult:
    out = folder.path
    train_cfg = cfg["train"]
    seed = int(train_cfg["seed"])
    dtype = next(model.parameters()).dtype
    x_train, y_train, x_test, y_test = data.tensors(dtype)
    optimizer = make_optimizer(train_cfg["optimizer"], model.parameters(), float(train_cfg["lr"]))
    shuffle = torch.Generator().manual_seed(seed)

    metrics: dict[str, Any] = {
        "epochs": [],
        "num_parameters": count_parameters(model),
        "config": cfg,
        "cut": cut_info(model),
        "model": {"kind": cfg["model"]["kind"], "class": type(getattr(model, "core", model)).__name__},
        "data": {
            "name": data.name,
            "num_train": data.num_train,
            "num_test": data.num_test,
            "window": data.window,
            "scaler": {"data_min": data.scaler.data_min, "data_max": data.scaler.data_max},
        },
        "finished": False,
        "provenance": [provenance()],  # one entry per process that trained this run
    }
    start_epoch = 0
    earlier_cost = None  # the cut cost counted by the processes before a resume
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        set_rng_state(checkpoint["rng"], shuffle)
        start_epoch = int(checkpoint["epoch"])
        metrics["epochs"] = list(checkpoint["metrics"]["epochs"])[:start_epoch]
        earlier_cost = checkpoint.get("cut_cost")
        metrics["cut"] = add_costs(earlier_cost, metrics["cut"])
        metrics["provenance"] = checkpoint["metrics"].get("provenance", []) + metrics["provenance"]

    total_epochs = int(train_cfg["epochs"])
    if start_epoch > total_epochs:
        raise ValueError(
            f"{out} already trained {start_epoch} epochs; cannot resume to fewer (train.epochs = {total_epochs})"
        )
    # Data and model are built: only now touch the folder (a bad config leaves no trace).
    folder.prepare(cfg)

    def save_checkpoint(epoch: int) -> None:
        state = {
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": rng_state(shuffle),
            "metrics": metrics,
            "config": cfg,
            "cut_cost": metrics["cut"],
        }
        folder.save(state, metrics)

    batch_size = int(train_cfg["batch_size"])
    progress = Progress(
        total_epochs,
        label="epoch",
        desc=f"{cfg['model']['kind']} {data.name}",
        unit="epoch",
        initial=start_epoch,
        quiet=quiet,
    )
    heartbeat = Heartbeat(progress, lambda: cut_info(model))  # silent unless shot-based
    in_epoch = {"on_batch": heartbeat} if heartbeat.enabled else {}  # else the call is as it always was
    try:
        for epoch in range(start_epoch + 1, total_epochs + 1):
            heartbeat.begin()
            t0 = time.perf_counter()
            train_loss = train_epoch(model, optimizer, x_train, y_train, batch_size, shuffle, **in_epoch)
            train_seconds = time.perf_counter() - t0
            test_loss = evaluate(model, x_test, y_test)
            seconds = time.perf_counter() - t0
            metrics["epochs"].append(
                {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "test_loss": test_loss,
                    "seconds": seconds,
                    "train_seconds": train_seconds,
                }
            )
            metrics["cut"] = add_costs(earlier_cost, cut_info(model))  # sampled: shots executed so far
            save_checkpoint(epoch)
            line = f"train {train_loss:.2e}, test {test_loss:.2e}, {duration(seconds)}"
            if heartbeat.enabled:
                line += f", {work_text(heartbeat.since_begin())}"
            progress.advance(line=line, postfix={"train": f"{train_loss:.2e}", "test": f"{test_loss:.2e}"})
    finally:
        progress.close()

    # Final evaluation on both parts, plots, and the finished flag.
    train_pred = predict(model, x_train)
    test_pred = predict(model, x_test)
    # The final model on the whole of each part. Its train_loss is not the last
    # epoch's: that one is the mean of the mini-batch losses while the weights
    # still changed (and, sampled, other shots); this one is the trained model's.
    metrics["final"] = {
        "epoch": total_epochs,
        "train_loss": float(torch.nn.functional.mse_loss(train_pred, y_train)),
        "test_loss": float(torch.nn.functional.mse_loss(test_pred, y_test)),
    }
    metrics["cut"] = add_costs(earlier_cost, cut_info(model))
    save_checkpoint(total_epochs)  # the final predictions ran on the QPUs too: a resume must count them
    train_idx, test_idx = data.target_indices()
    title = f"{data.name}: {metrics['model']['class']} ({metrics['num_parameters']} parameters)"
    plot_predictions(
        out / PREDICTIONS_PLOT, data.scaled, train_idx, train_pred.numpy(), test_idx, test_pred.numpy(), title
    )
    rows = metrics["epochs"]
    plot_losses(
        out / LOSS_PLOT,
        [r["epoch"] for r in rows],
        [r["train_loss"] for r in rows],
        [r["test_loss"] for r in rows],
        title,
    )
    metrics["finished"] = True  # last: a run whose plots failed is not finished
    folder.write_metrics(metrics)
    return RunResult(out, metrics, model, data, total_epochs - start_epoch, train_pred, test_pred)
