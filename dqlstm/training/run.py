"""A training run: data + model + optimiser + per-run output folder.

The folder holds ``metrics.json`` (rewritten after every epoch), the resolved
``config.toml``, ``checkpoint.pt`` (model, optimiser, epoch, RNG states and
metrics so far; rewritten after every epoch) and, once finished, the plots
``predictions.png`` and ``loss.png``. Resuming restores every RNG, so a run
interrupted after any epoch and resumed ends bit-identical to an
uninterrupted one.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from dqlstm.config import dump_config
from dqlstm.data.dataset import WindowedSeries, load_dataset
from dqlstm.models.regressor import build_model, count_parameters
from dqlstm.training.loop import evaluate, make_optimizer, predict, train_epoch
from dqlstm.training.plots import plot_losses, plot_predictions
from dqlstm.training.seeding import rng_state, seed_everything, set_rng_state

METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.toml"
CHECKPOINT_FILE = "checkpoint.pt"
PREDICTIONS_PLOT = "predictions.png"
LOSS_PLOT = "loss.png"
ROUNDS_PLOT = "rounds.png"  # written by federated runs
# every file a run of either kind writes: --force clears them all, whichever kind was there
RUN_FILES = (METRICS_FILE, CONFIG_FILE, CHECKPOINT_FILE, PREDICTIONS_PLOT, LOSS_PLOT, ROUNDS_PLOT)
CHECKPOINT_FORMAT = 1

# Keys that may differ between a run and its resumption.
_RESUMABLE_CHANGES = {("train", "epochs"), ("run", "out")}


@dataclass
class RunResult:
    """What a run produced (``metrics`` is exactly what ``metrics.json`` holds)."""

    out_dir: Path
    metrics: dict[str, Any]
    model: nn.Module
    data: WindowedSeries
    epochs_run: int  # epochs trained by this call (0 if resumed a finished run)


def write_atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def write_json(path: Path, obj: Any) -> None:
    write_atomic(path, lambda p: p.write_text(json.dumps(obj, indent=2, default=str) + "\n"))


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    diffs = []
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section, {}), new.get(section, {})
        for key in sorted(set(a) | set(b)):
            if (section, key) not in _RESUMABLE_CHANGES and a.get(key) != b.get(key):
                diffs.append(f"{section}.{key}: {a.get(key)!r} -> {b.get(key)!r}")
    return diffs


def _existing_run(out: Path) -> str | None:
    """Describe the run already in ``out`` (``None`` if there is none): a training run counts
    epochs, a federated one (``dqlstm federate``) rounds."""
    metrics_path = out / METRICS_FILE
    if metrics_path.is_file():
        try:
            m = json.loads(metrics_path.read_text())
            config = m.get("config", {})
            if "rounds" in m:
                kind, unit, done = "federated run", "rounds", len(m["rounds"])
                total = config.get("federated", {}).get("rounds", "?")
            else:
                kind, unit, done = "run", "epochs", len(m.get("epochs", []))
                total = config.get("train", {}).get("epochs", "?")
            state = "a finished" if m.get("finished") else "an unfinished"
            return f"{state} {kind} ({done}/{total} {unit})"
        except (ValueError, OSError, AttributeError, TypeError):  # ValueError: bad JSON or bytes
            return f"a run (unreadable {METRICS_FILE})"
    if (out / CHECKPOINT_FILE).is_file():
        return "a run checkpoint"
    return None


@contextlib.contextmanager
def intra_op_threads(threads: int) -> Iterator[None]:
    """torch's intra-op threads for a run (``0``: leave torch's default), restored afterwards.
    Tiny matmuls: extra threads only add sync cost (10x on a busy box), so runs default to 1."""
    before = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def check_out_dir(out: Path, resume: bool, force: bool) -> bool:
    """Fail early if ``out`` cannot take this run; return whether old run files must go."""
    if resume and force:
        raise ValueError("--resume and --force contradict each other: resume keeps the run, force replaces it")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"output path {out} exists and is not a folder")
    if resume:
        if not (out / CHECKPOINT_FILE).is_file():
            raise FileNotFoundError(f"nothing to resume: {out / CHECKPOINT_FILE} does not exist")
        return False
    existing = _existing_run(out) if out.is_dir() else None
    if existing is not None:
        if not force:
            raise FileExistsError(
                f"{out} already holds {existing}; use --resume to continue it, "
                f"--force to overwrite it, or --out to choose another folder"
            )
        return True
    return False


def clear_run_files(out: Path) -> None:
    # Only the files a run writes: anything else the user put there stays.
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)


def cut_info(model: nn.Module) -> dict[str, Any] | None:
    """How the core's engine cuts its circuits (``None`` when nothing is cut).

    Looks for ``cut_summary()`` (or a ``cut_summary`` dict) on the core or its
    ``engine``, else a ``plan`` with ``to_dict()`` (the partitioner's ``CutPlan``).
    """
    core = getattr(model, "core", model)
    for owner in (core, getattr(core, "engine", None)):
        if owner is None:
            continue
        summary = getattr(owner, "cut_summary", None)
        if callable(summary):
            summary = summary()
        if summary:
            return dict(summary)
        plan = getattr(owner, "plan", None)
        if plan is not None and callable(getattr(plan, "to_dict", None)):
            return dict(plan.to_dict())
    return None


def is_tty() -> bool:
    return hasattr(sys.stderr, "isatty") and sys.stderr.isatty()


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
    train_cfg = cfg["train"]
    clear = check_out_dir(out, resume, force)

    checkpoint = None
    if resume:
        # Our own file; it holds NumPy RNG state, which weights_only refuses.
        checkpoint = torch.load(out / CHECKPOINT_FILE, map_location="cpu", weights_only=False)
        if checkpoint.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{out / CHECKPOINT_FILE}: unsupported checkpoint format {checkpoint.get('format')!r}")
        diffs = config_differences(checkpoint["config"], cfg)
        if diffs:
            raise ValueError(
                f"cannot resume {out}: the config differs from the checkpoint's in "
                + "; ".join(diffs)
                + " (only train.epochs may change on resume)"
            )

    with intra_op_threads(int(train_cfg.get("threads", 1))):
        return _train(cfg, out, checkpoint, clear, quiet)


def _train(
    cfg: dict[str, Any], out: Path, checkpoint: dict[str, Any] | None, clear: bool, quiet: bool
) -> RunResult:
    train_cfg = cfg["train"]
    seed = int(train_cfg["seed"])
    seed_everything(seed)
    data = load_dataset(cfg["data"])
    model = build_model(cfg["model"], input_size=1, output_size=1, seed=seed, qpus=cfg.get("qpus"))
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
    }
    start_epoch = 0
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        set_rng_state(checkpoint["rng"], shuffle)
        start_epoch = int(checkpoint["epoch"])
        metrics["epochs"] = list(checkpoint["metrics"]["epochs"])[:start_epoch]

    total_epochs = int(train_cfg["epochs"])
    if start_epoch > total_epochs:
        raise ValueError(
            f"{out} already trained {start_epoch} epochs; cannot resume to fewer (train.epochs = {total_epochs})"
        )
    # Data and model are built: only now touch the folder (a bad config leaves no trace).
    if clear:
        clear_run_files(out)
    out.mkdir(parents=True, exist_ok=True)
    dump_config(cfg, out / CONFIG_FILE)

    def save_checkpoint(epoch: int) -> None:
        state = {
            "format": CHECKPOINT_FORMAT,
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": rng_state(shuffle),
            "metrics": metrics,
            "config": cfg,
        }
        write_atomic(out / CHECKPOINT_FILE, lambda p: torch.save(state, p))

    batch_size = int(train_cfg["batch_size"])
    bar = tqdm(
        total=total_epochs,
        initial=start_epoch,
        desc=f"{cfg['model']['kind']} {data.name}",
        unit="epoch",
        disable=quiet or not is_tty(),
        leave=True,
    )
    try:
        for epoch in range(start_epoch + 1, total_epochs + 1):
            t0 = time.perf_counter()
            train_loss = train_epoch(model, optimizer, x_train, y_train, batch_size, shuffle)
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
            metrics["cut"] = cut_info(model)  # sampled mode: shots executed so far
            save_checkpoint(epoch)
            write_json(out / METRICS_FILE, metrics)
            bar.update(1)
            bar.set_postfix(train=f"{train_loss:.2e}", test=f"{test_loss:.2e}")
    finally:
        bar.close()

    # Final evaluation on both parts, plots, and the finished flag.
    train_pred = predict(model, x_train)
    test_pred = predict(model, x_test)
    metrics["final"] = {
        "epoch": total_epochs,
        "train_loss": float(torch.nn.functional.mse_loss(train_pred, y_train)),
        "test_loss": float(torch.nn.functional.mse_loss(test_pred, y_test)),
    }
    metrics["finished"] = True
    metrics["cut"] = cut_info(model)
    write_json(out / METRICS_FILE, metrics)
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
    return RunResult(out, metrics, model, data, total_epochs - start_epoch)
