"""Cost-accuracy frontier of shot-based training: test MSE after training vs total shots spent.

The distributed NARMA-5 QLSTM with one link per layer
(``experiments/configs/narma5_distributed_sampled.toml``: 2 modules x 2 qubits,
cut onto two 2-qubit Aer QPUs) is trained in ``sampled`` mode for every arm

    gradient  in parameter-shift | spsa
    allocation in uniform | weighted | adaptive
    shots per sub-experiment and binding in --shots

and every seed. Each run's cost is what it executed (``metrics.json`` ``cut.executed``:
circuits and shots, the final predictions included); its accuracy is the test
MSE of the trained weights evaluated *exactly* (the same model in ``cut-exact``
mode), so the y axis measures what training achieved and not the noise of a
shot-based evaluation. A cut-exact-trained run of the same model is the
infinite-shot reference line.

Writes ``frontier.json`` (every run, per-arm means with bootstrap 95% intervals),
``frontier.csv`` and ``frontier.png`` to ``--out`` (default ``runs/cost_frontier/results``;
the committed folder is ``experiments/results/cost_frontier``). Finished runs in
``--runs`` are reused, so an interrupted study continues.

    python experiments/cost_frontier.py [--epochs N] [--seeds S] [--shots 32 128 512]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from dqlstm.assemble import build_model
from dqlstm.config import read_toml, resolve_config
from dqlstm.data.dataset import load_dataset
from dqlstm.evaluation import exact_config
from dqlstm.figures import save_figure
from dqlstm.provenance import provenance
from dqlstm.runs import write_json
from dqlstm.stats import bootstrap_ci
from dqlstm.studies.common import write_csv
from dqlstm.training.loop import evaluate
from dqlstm.training.run import run_training

CONFIG = Path("experiments/configs/narma5_distributed_sampled.toml")
GRADIENTS = ("parameter-shift", "spsa")
ALLOCATIONS = ("uniform", "weighted", "adaptive")


def _finished(out: Path, epochs: int) -> dict[str, Any] | None:
    path = out / "metrics.json"
    if not path.is_file():
        return None
    metrics = json.loads(path.read_text())
    return metrics if metrics.get("finished") and len(metrics["epochs"]) == epochs else None


def _train(overrides: dict[str, Any], out: Path, epochs: int) -> tuple[dict[str, Any], float]:
    """The run's metrics and its wall time (0 when reused)."""
    done = _finished(out, epochs)
    if done is not None:
        return done, 0.0
    raw = read_toml(CONFIG)
    if overrides.get("model.mode", "sampled") != "sampled":
        raw["model"].pop("shots", None)  # sampled-only key of the base config
    cfg = resolve_config(raw, {"train.epochs": epochs, **overrides}, source=str(CONFIG))
    t0 = time.perf_counter()
    metrics = run_training(cfg, out, force=True, quiet=True).metrics
    return metrics, time.perf_counter() - t0


def exact_test_mse(out: Path) -> float:
    """Test MSE of the weights in ``out/checkpoint.pt`` evaluated by the cut-exact engine (no shots)."""
    state = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=False)
    cfg = state["config"]
    model_cfg = exact_config(cfg, None)  # the same cut, without the sampling settings
    data = load_dataset(cfg["data"])
    model = build_model(model_cfg, input_size=data.x_train.shape[-1], output_size=1, seed=0)
    weights = {k: v for k, v in state["model"].items() if k in model.state_dict()}  # drop sampler state
    missing = set(model.state_dict()) - set(weights)
    if missing:
        raise RuntimeError(f"{out}: checkpoint lacks {sorted(missing)}")
    model.load_state_dict(weights)
    _, _, x_test, y_test = data.tensors(next(model.parameters()).dtype)
    return evaluate(model, x_test, y_test)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--shots", type=int, nargs="+", default=[32, 128, 512])
    parser.add_argument("--gradients", nargs="+", default=list(GRADIENTS), choices=GRADIENTS)
    parser.add_argument("--allocations", nargs="+", default=list(ALLOCATIONS), choices=ALLOCATIONS)
    parser.add_argument("--runs", type=Path, default=Path("runs/cost_frontier"))
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("runs/cost_frontier/results"),
        help="result folder (the committed one: experiments/results/cost_frontier)",
    )
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.epochs < 1 or min(args.shots) < 1:
        parser.error("--seeds, --epochs and --shots must be >= 1")

    rows: list[dict[str, Any]] = []
    for seed in range(args.seeds):
        out = args.runs / f"cut-exact/seed{seed}"
        metrics, seconds = _train({"model.mode": "cut-exact", "train.seed": seed}, out, args.epochs)
        rows.append(
            {
                "arm": "cut-exact (no shots)",
                "gradient": "exact",
                "allocation": "-",
                "shots": 0,
                "seed": seed,
                "total_shots": 0,
                "total_circuits": 0,
                "seconds": seconds,
                "test_mse": metrics["final"]["test_loss"],
            }
        )
    arms = list(itertools.product(args.gradients, args.allocations, sorted(args.shots)))
    for (gradient, allocation, shots), seed in itertools.product(arms, range(args.seeds)):
        out = args.runs / f"{gradient}-{allocation}-{shots}/seed{seed}"
        overrides = {
            "model.gradient": gradient,
            "model.allocation": allocation,
            "model.shots": shots,
            "train.seed": seed,
        }
        metrics, seconds = _train(overrides, out, args.epochs)
        executed = metrics["cut"]["executed"]
        rows.append(
            {
                "arm": f"{gradient}, {allocation}",
                "gradient": gradient,
                "allocation": allocation,
                "shots": shots,
                "seed": seed,
                "total_shots": int(executed["total_shots"]),
                "total_circuits": int(executed["num_circuits"]),
                "seconds": seconds,
                "test_mse": exact_test_mse(out),
            }
        )
        print(
            f"{rows[-1]['arm']:<32} shots {shots:>4} seed {seed}: test MSE {rows[-1]['test_mse']:.3e}, "
            f"{rows[-1]['total_shots']:.3e} shots, {seconds:.0f} s",
            flush=True,
        )

    summary = []
    for (arm, shots), group in itertools.groupby(
        sorted(rows, key=lambda r: (r["arm"], r["shots"])), key=lambda r: (r["arm"], r["shots"])
    ):
        group = list(group)
        mses = [r["test_mse"] for r in group]
        ci = bootstrap_ci(mses)
        lo, hi = (ci.low, ci.high) if ci.n > 1 else (math.nan, math.nan)
        summary.append(
            {
                "arm": arm,
                "shots": shots,
                "seeds": len(group),
                "total_shots": float(np.mean([r["total_shots"] for r in group])),
                "total_circuits": float(np.mean([r["total_circuits"] for r in group])),
                "test_mse_mean": float(np.mean(mses)),
                "test_mse_ci95": [lo, hi],
            }
        )
    result = {
        "provenance": provenance(),
        "config": str(CONFIG),
        "epochs": args.epochs,
        "seeds": args.seeds,
        "evaluation": "test MSE of the trained weights, evaluated exactly (cut-exact)",
        "summary": summary,
        "runs": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "frontier.json", result)
    write_csv(
        args.out / "frontier.csv",
        summary,
        ["arm", "shots", "seeds", "total_shots", "total_circuits", "test_mse_mean", "test_mse_ci95"],
    )
    _plot(summary, args.out / "frontier.png", args.epochs, args.seeds)
    print(f"wrote {args.out}")
    return 0


def _plot(summary: list[dict[str, Any]], path: Path, epochs: int, seeds: int) -> None:
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for arm, group in itertools.groupby(summary, key=lambda r: r["arm"]):
        group = sorted(group, key=lambda r: r["total_shots"])
        y = np.array([r["test_mse_mean"] for r in group])
        if arm.startswith("cut-exact"):
            ax.axhline(y[0], color="k", ls=":", label=f"{arm}: {y[0]:.2e}")
            continue
        x = np.array([r["total_shots"] for r in group])
        err = np.array(
            [
                [r["test_mse_mean"] - r["test_mse_ci95"][0], r["test_mse_ci95"][1] - r["test_mse_mean"]]
                for r in group
            ]
        ).T
        ls = "-" if arm.startswith("parameter-shift") else "--"
        ax.errorbar(x, y, yerr=err, marker="o", ls=ls, capsize=3, label=arm)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("total shots spent in training (log)")
    ax.set_ylabel("test MSE of the trained weights (exact evaluation)")
    ax.set_title(f"Distributed NARMA-5 QLSTM, {epochs} epochs, mean and 95% CI over {seeds} seeds")
    ax.legend(fontsize=7, loc="best")
    save_figure(fig, path)


if __name__ == "__main__":
    raise SystemExit(main())
