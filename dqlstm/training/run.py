"""A training run: data + model + optimiser in a run folder (:mod:`dqlstm.runs`).

``metrics.json`` and ``checkpoint.pt`` (model, optimiser, epoch, RNG states,
metrics and cut cost so far) are rewritten after every epoch; once finished
the folder also holds ``predictions.png`` and ``loss.png``. Resuming restores
every RNG, so a run interrupted after any epoch and resumed ends bit-identical
to an uninterrupted one, and its cut cost counts the work of every process.

A ``[budget]`` (:mod:`dqlstm.budget`) is checked before anything runs (the
run is refused if its estimate does not fit, unless ``until_budget``) and
between units of work; a run stopped by it writes a checkpoint that also
holds the position inside the epoch (its order, the mini-batches done, their
loss sum), so a resume with a raised budget continues exactly there.
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

from dqlstm.assemble import build_model, model_settings, open_pool
from dqlstm.budget import (
    Budget,
    BudgetStop,
    Guard,
    Spent,
    meter_default_sampler,
    refuse_if_over,
    work_ahead,
)
from dqlstm.cost import add_costs, cut_info
from dqlstm.data.dataset import WindowedSeries, load_dataset
from dqlstm.models.regressor import count_parameters
from dqlstm.progress import Heartbeat, Progress, duration, work_text
from dqlstm.provenance import provenance
from dqlstm.runs import LOSS_PLOT, PREDICTIONS_PLOT, RunFolder
from dqlstm.training.loop import (
    EpochPosition,
    evaluate,
    make_optimizer,
    predict,
    train_epoch,
)
from dqlstm.training.plots import plot_losses, plot_predictions
from dqlstm.training.seeding import rng_state, seed_everything, set_rng_state
from dqlstm.training.threads import intra_op_threads

CHECKPOINT_FORMAT = 1
# keys that may differ between a run and its resumption: its length, its folder, its budget
RESUMABLE = ("train.epochs", "run.out", "budget.max_shots", "budget.max_qpu_seconds")


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
    stopped: str | None = None  # "budget": stopped by [budget] before the run finished (resumable)
    message: str | None = None  # why it stopped and where (one line)


def is_sampled(cfg: Mapping[str, Any]) -> bool:
    m = model_settings(cfg.get("model", {}))
    return m["kind"] == "qlstm" and m["mode"] == "sampled"


def run_training(
    cfg: Mapping[str, Any],
    out_dir: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    quiet: bool = False,
    until_budget: bool = False,
) -> RunResult:
    """Train the model described by the resolved config ``cfg`` into ``out_dir``.

    With a ``[budget]``, a sampled run whose estimated remaining work does not
    fit is refused (:class:`dqlstm.budget.BudgetError`) before anything runs,
    unless ``until_budget``; either way it stops where the budget ends
    (``RunResult.stopped == "budget"``).
    """
    out = Path(out_dir)
    cfg = json.loads(json.dumps(cfg, default=str))  # a private, JSON-clean copy
    cfg.setdefault("run", {})["out"] = str(out)
    folder = RunFolder(out, CHECKPOINT_FORMAT, RESUMABLE)
    checkpoint = folder.open(cfg, resume=resume, force=force)
    with intra_op_threads(int(cfg["train"].get("threads", 1))):
        price = check_budget(
            cfg, checkpoint, until_budget
        )  # before seeding: the estimate builds its own model
        seed = int(cfg["train"]["seed"])
        seed_everything(seed)
        data = load_dataset(cfg["data"])
        with open_pool(cfg, seed) as pool:  # closed on every exit, Ctrl-C included
            model = build_model(
                cfg["model"], input_size=data.num_features, output_size=1, seed=seed, pool=pool
            )
            return _train(cfg, folder, checkpoint, data, model, quiet, price)


def check_budget(cfg: Mapping[str, Any], checkpoint: Mapping[str, Any] | None, until_budget: bool) -> Any:
    """The estimate's pricer of a budgeted sampled run (``None`` otherwise), after refusing a run whose
    remaining work plus what earlier processes spent does not fit (unless ``until_budget``)."""
    budget = Budget.from_config(cfg)
    if not budget.active or not is_sampled(cfg):
        return None  # nothing runs on QPUs: nothing to spend
    from dqlstm.estimate import estimate

    est = estimate(cfg, str(cfg["run"].get("out", "config")), timing=budget.max_qpu_seconds is not None)
    w = est.workload
    done, batches = 0, None
    spent = Spent()
    if checkpoint is not None:
        done = int(checkpoint["epoch"])
        position = checkpoint.get("position")
        batches = None if position is None else int(position["batches_done"])
        spent = Spent.from_cut(checkpoint.get("cut_cost"))
    ahead = work_ahead(est.pricer, w["num_train"], w["num_test"], w["batch_size"], w["epochs"], done, batches)
    if not until_budget:
        timing = "; ".join(sorted({q["model"] for q in est.qpus}))
        refuse_if_over(budget, spent, ahead.total.shots, ahead.total.qpu_seconds, timing)
    return est.pricer


def saved_position(out: str | Path) -> str | None:
    """What the checkpoint in ``out`` holds when a budget stop saved it inside an epoch (``"epoch 1 and
    1/2 mini-batches of epoch 2"``, where a resume continues), else ``None`` (finished epochs only, or
    no readable checkpoint). For the Ctrl-C hint of a resumed run interrupted before that epoch ended."""
    try:  # our own file (NumPy RNG state inside)
        ckpt = torch.load(Path(out) / "checkpoint.pt", map_location="cpu", weights_only=False)
    except Exception:  # noqa: BLE001 - a hint must never fail: no or unreadable checkpoint
        return None
    at = ckpt.get("position") if isinstance(ckpt, dict) else None
    if not at:
        return None
    of = ((ckpt.get("metrics") or {}).get("budget") or {}).get("position", {}).get("num_batches")
    done = f"{int(at['batches_done'])}{f'/{of}' if of else ''}"
    return f"epoch {int(ckpt['epoch'])} and {done} mini-batches of epoch {int(at['epoch'])}"


def _untimed_pricer(cfg: Mapping[str, Any], model: nn.Module, seq: int) -> Any:
    """Counts (no seconds) of the run model's own calls on its own QPUs: the planned work the progress shows."""
    from dqlstm.estimate import Device, Pricer, model_engines, untimed_devices

    core = getattr(model, "core", model)
    executor = core.engine.executor
    qpus = getattr(executor.pool, "qpus", None)  # a QPUPool: its QPUs, nothing built again
    if qpus:
        devices = [Device(q.name, q.num_qubits, "not timed", lambda _c, _k, _s: 0.0) for q in qpus]
    else:
        devices = untimed_devices({}, executor)
    return Pricer(model_engines(core), devices, seq)


def _train(
    cfg: dict[str, Any],
    folder: RunFolder,
    checkpoint: dict[str, Any] | None,
    data: WindowedSeries,
    model: nn.Module,
    quiet: bool,
    price: Any = None,
) -> RunResult:
    out = folder.path
    train_cfg = cfg["train"]
    seed = int(train_cfg["seed"])
    dtype = next(model.parameters()).dtype
    x_train, y_train, x_test, y_test = data.tensors(dtype)
    optimizer = make_optimizer(train_cfg["optimizer"], model.parameters(), float(train_cfg["lr"]))
    shuffle = torch.Generator().manual_seed(seed)
    sampled = is_sampled(cfg)
    if sampled:
        meter_default_sampler(model)  # the local sampler reports busy seconds like a pool
    budget = Budget.from_config(cfg)

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
    resume_at: dict[str, Any] | None = None  # position inside an epoch a budget stop saved
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        set_rng_state(checkpoint["rng"], shuffle)
        start_epoch = int(checkpoint["epoch"])
        metrics["epochs"] = list(checkpoint["metrics"]["epochs"])[:start_epoch]
        earlier_cost = checkpoint.get("cut_cost")
        metrics["cut"] = add_costs(earlier_cost, metrics["cut"])
        metrics["provenance"] = checkpoint["metrics"].get("provenance", []) + metrics["provenance"]
        resume_at = checkpoint.get("position")

    total_epochs = int(train_cfg["epochs"])
    if start_epoch + (resume_at is not None) > total_epochs:
        raise ValueError(
            f"{out} already trained {start_epoch} epochs{' and part of the next' if resume_at else ''}; "
            f"cannot resume to fewer (train.epochs = {total_epochs})"
        )
    # Data and model are built: only now touch the folder (a bad config leaves no trace).
    folder.prepare(cfg)

    def save_checkpoint(epoch: int, position: dict[str, Any] | None = None) -> None:
        state = {
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": rng_state(shuffle),
            "metrics": metrics,
            "config": cfg,
            "cut_cost": metrics["cut"],
        }
        if position is not None:
            state["position"] = position  # inside epoch + 1: a budget stop
        folder.save(state, metrics)

    def spent() -> Spent:
        return Spent.from_cut(add_costs(earlier_cost, cut_info(model)))

    batch_size = int(train_cfg["batch_size"])
    num_batches = -(-data.num_train // batch_size)
    if sampled and price is None:
        price = _untimed_pricer(cfg, model, data.window)
    guard = Guard(budget if price is not None else Budget(), spent)
    if budget.active:
        metrics["budget"] = {**budget.to_dict(), "spent": spent().to_dict()}
    progress = Progress(
        total_epochs,
        label="epoch",
        desc=f"{cfg['model']['kind']} {data.name}",
        unit="epoch",
        initial=start_epoch,
        quiet=quiet,
    )

    def planned_epoch() -> dict[str, int]:  # the work of one whole epoch (the bar shows done/planned)
        work = price.forward(data.num_test).total
        for size in (min(batch_size, data.num_train - s) for s in range(0, data.num_train, batch_size)):
            work = work + price.step(size).total
        return {"num_circuits": work.circuits, "total_shots": work.shots}

    heartbeat = Heartbeat(progress, lambda: cut_info(model), planned_epoch if price is not None else None)
    in_epoch = {"on_batch": heartbeat} if heartbeat.enabled else {}  # else the call is as it always was
    epoch, position = start_epoch, None
    clock = {
        "t0": time.perf_counter(),
        "prior": 0.0,
    }  # the epoch's start; its training seconds in earlier processes

    def epoch_seconds() -> float:
        return clock["prior"] + time.perf_counter() - clock["t0"]

    def before_step(pos: EpochPosition) -> None:
        if price is not None:
            size = min(batch_size, data.num_train - pos.batches_done * batch_size)
            work = price.step(size).total
            guard.check(
                work.shots,
                work.qpu_seconds,
                f"mini-batch {pos.batches_done + 1}/{num_batches} of epoch {epoch}",
            )

    def before_predictions(evaluate_epoch: bool, last: bool) -> None:
        """The test-set evaluation of an epoch (and, after the last one, the final predictions) as one unit:
        a stop never falls between them (their test-set PUBs are alike: a resume would draw them anew)."""
        if price is None:
            return
        work = price.forward(data.num_test).total if evaluate_epoch else None
        if last:
            final = (price.forward(data.num_train) + price.forward(data.num_test)).total
            work = final if work is None else work + final
        what = "the test-set evaluation" if evaluate_epoch else ""
        what = " and ".join(w for w in (what, "the final predictions" if last else "") if w)
        guard.check(work.shots, work.qpu_seconds, f"{what} after epoch {epoch}" if evaluate_epoch else what)

    try:
        for epoch in range(start_epoch + 1, total_epochs + 1):
            heartbeat.begin()
            clock.update(t0=time.perf_counter(), prior=0.0)
            if resume_at is not None:
                position = EpochPosition.from_state(resume_at)
                clock["prior"] = float(resume_at.get("train_seconds", 0.0))
                resume_at = None
            else:
                position = EpochPosition.start(data.num_train, shuffle)
            train_loss = train_epoch(
                model,
                optimizer,
                x_train,
                y_train,
                batch_size,
                shuffle,
                position=position,
                before_batch=before_step,
                **in_epoch,
            )
            before_predictions(True, epoch == total_epochs)
            train_seconds = epoch_seconds()
            test_loss = evaluate(model, x_test, y_test)
            seconds = epoch_seconds()
            metrics["epochs"].append(
                {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "test_loss": test_loss,
                    "seconds": seconds,
                    "train_seconds": train_seconds,
                }
            )
            position = None
            metrics["cut"] = add_costs(earlier_cost, cut_info(model))  # sampled: shots executed so far
            if budget.active:
                metrics["budget"]["spent"] = spent().to_dict()
            save_checkpoint(epoch)
            line = f"train {train_loss:.2e}, test {test_loss:.2e}, {duration(seconds)}"
            if heartbeat.enabled:
                done = heartbeat.since_begin()
                if "qpu_seconds" in done:
                    line += f" ({duration(done['qpu_seconds'])} on QPUs)"
                line += f", {work_text(done)}"
            progress.advance(line=line, postfix={"train": f"{train_loss:.2e}", "test": f"{test_loss:.2e}"})
        if total_epochs == start_epoch:  # resumed after the last epoch: only the final predictions are left
            before_predictions(False, True)
    except BudgetStop as stop:
        metrics["cut"] = add_costs(earlier_cost, cut_info(model))
        at = None
        if position is not None:  # inside epoch `epoch`: where it stands, to continue exactly there
            at = {**position.state(), "epoch": epoch, "train_seconds": epoch_seconds()}
        done = epoch - 1 if position is not None else epoch
        where = (
            f"epoch {done} and {position.batches_done}/{num_batches} mini-batches of epoch {epoch}"
            if position is not None
            else f"epoch {done}"
        )
        metrics["stopped"] = "budget"
        metrics["budget"] = {
            **budget.to_dict(),
            "spent": stop.spent.to_dict(),
            "stop": stop.text,
            "position": {
                "epoch": epoch,
                "batches_done": position.batches_done if position else None,
                "num_batches": num_batches,
            },
        }
        save_checkpoint(done, at)
        message = f"stopped by {stop.text}; checkpoint {folder.checkpoint_path} holds {where}"
        return RunResult(out, metrics, model, data, done - start_epoch, stopped="budget", message=message)
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
    if budget.active:
        metrics["budget"]["spent"] = spent().to_dict()
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
