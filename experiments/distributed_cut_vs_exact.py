"""NARMA-5 distributed QLSTM: cut-exact on 4-qubit QPUs vs the uncut exact engine.

Trains ``experiments/configs/narma5_distributed_cut.toml`` (2 modules x 4
qubits, one CNOT link per layer, cut onto two 4-qubit QPUs) twice - in
``cut-exact`` mode and in ``exact`` mode on the uncut 8-qubit circuit - and
writes the two loss curves, their largest difference and the cut cost to
``--out`` (default ``runs/distributed_cut_vs_exact/results``; the committed folder is
``experiments/results/distributed``). Finished runs in ``--runs`` are reused.

    python experiments/distributed_cut_vs_exact.py [--epochs N] [--runs DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dqlstm.config import load_config
from dqlstm.training.run import run_training

CONFIG = Path("experiments/configs/narma5_distributed_cut.toml")


def _run(mode: str, epochs: int, runs: Path) -> dict:
    out = runs / mode
    metrics = out / "metrics.json"
    if metrics.is_file():
        done = json.loads(metrics.read_text())
        if done.get("finished") and len(done["epochs"]) == epochs:
            return done
    cfg = load_config(CONFIG, {"model.mode": mode, "train.epochs": epochs})
    return run_training(cfg, out, force=True, quiet=False).metrics


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--runs", type=Path, default=Path("runs/distributed_cut_vs_exact"))
    parser.add_argument("--out", type=Path, default=Path("runs/distributed_cut_vs_exact/results"),
                        help="result folder (the committed one: experiments/results/distributed)")
    args = parser.parse_args(argv)
    cut, exact = _run("cut-exact", args.epochs, args.runs), _run("exact", args.epochs, args.runs)
    diff = {
        key: max(abs(a[key] - b[key]) for a, b in zip(cut["epochs"], exact["epochs"]))
        for key in ("train_loss", "test_loss")
    }
    seconds = {
        name: sum(e["seconds"] for e in m["epochs"]) / len(m["epochs"]) for name, m in (("cut-exact", cut), ("exact", exact))
    }
    summary = {
        "config": str(CONFIG),
        "epochs": args.epochs,
        "num_parameters": cut["num_parameters"],
        "final_test_mse": {"cut-exact": cut["final"]["test_loss"], "exact": exact["final"]["test_loss"]},
        "final_train_mse": {"cut-exact": cut["final"]["train_loss"], "exact": exact["final"]["train_loss"]},
        "max_abs_loss_difference": diff,
        "mean_epoch_seconds": seconds,
        "cut": cut["cut"],
        "curves": {
            "cut-exact": [(e["train_loss"], e["test_loss"]) for e in cut["epochs"]],
            "exact": [(e["train_loss"], e["test_loss"]) for e in exact["epochs"]],
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cut_vs_exact.json").write_text(json.dumps(summary, indent=1) + "\n")

    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.add_subplot()
    ep = [e["epoch"] for e in exact["epochs"]]
    for name, m, style in (("exact (uncut, 8 qubits)", exact, "-"), ("cut-exact (2 x 4-qubit QPUs)", cut, "--")):
        ax.plot(ep, [e["train_loss"] for e in m["epochs"]], style, label=f"train, {name}")
        ax.plot(ep, [e["test_loss"] for e in m["epochs"]], style, label=f"test, {name}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE loss (scaled NARMA-5)")
    ax.set_title(f"Distributed QLSTM, {cut['cut']['num_cuts']} cuts: curves coincide "
                 f"(max |diff| {max(diff.values()):.1e})")
    ax.legend(loc="best", fontsize=8)
    FigureCanvasAgg(fig)
    fig.savefig(args.out / "cut_vs_exact_loss.png", dpi=120)
    print(json.dumps({k: summary[k] for k in ("final_test_mse", "max_abs_loss_difference", "mean_epoch_seconds")}))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
