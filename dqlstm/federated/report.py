"""Side-by-side summary of federated runs: markdown table, per-round CSV, comparison PNG.

The ``dqlstm report OUT_DIR LABEL=RUN_DIR [LABEL=RUN_DIR ...]`` command.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from dqlstm.runs import METRICS_FILE, ROUNDS_PLOT
from dqlstm.figures import save_figure

CSV_COLUMNS = (
    "model", "round", "clients_used", "dropped", "local_train_loss", "train_loss", "test_loss",
    "train_accuracy", "test_accuracy", "train_auc", "test_auc", "seconds",
)  # fmt: skip


@dataclass
class Comparison:
    """The files written and the summary rows (one per run)."""

    out_dir: Path
    rows: list[dict[str, Any]]
    files: list[Path]


def _fmt(v: Any, digits: int = 4) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def _summary(label: str, m: Mapping[str, Any]) -> dict[str, Any]:
    rounds = m["rounds"]
    cfg = m["config"]
    best = max(rounds, key=lambda r: r.get("test_auc") or -1.0) if rounds else None
    return {
        "model": label,
        "kind": m["model"]["kind"],
        "parameters": m["num_parameters"],
        "train_events": m["task"]["num_train"],
        "test_events": m["task"]["num_test"],
        "clients": len(m["clients"]),
        "fraction": cfg["federated"]["fraction"],
        "rounds": len(rounds),
        "local_epochs": cfg["federated"]["local_epochs"],
        "test_accuracy": m["final"].get("test_accuracy"),
        "test_auc": m["final"].get("test_auc"),
        "test_loss": m["final"].get("test_loss"),
        "best_round": best["round"] if best else None,
        "best_test_auc": best.get("test_auc") if best else None,
        "dropped": sum(len(r["dropped"]) for r in rounds),
        "seconds": sum(r["seconds"] for r in rounds),
    }


def compare_runs(runs: Mapping[str, str | Path], out_dir: str | Path) -> Comparison:
    """Summarise finished runs (``{label: run folder}``) into ``out_dir``."""
    out = Path(out_dir)
    metrics = {}
    for label, run in runs.items():
        path = Path(run) / METRICS_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{label}: no {METRICS_FILE} in {run}")
        m = json.loads(path.read_text())
        if not m.get("finished"):
            raise ValueError(f"{label}: the run in {run} is not finished")
        metrics[label] = m
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for label, run in runs.items():
        files.append(Path(shutil.copyfile(Path(run) / METRICS_FILE, out / f"{label}_metrics.json")))
        if (Path(run) / ROUNDS_PLOT).is_file():
            files.append(Path(shutil.copyfile(Path(run) / ROUNDS_PLOT, out / f"{label}_{ROUNDS_PLOT}")))

    with (out / "rounds.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, CSV_COLUMNS)
        writer.writeheader()
        for label, m in metrics.items():
            for r in [m["initial"]] + m["rounds"]:
                row = {k: r.get(k) for k in CSV_COLUMNS} | {"model": label}
                row["clients_used"] = " ".join(map(str, r.get("clients_used", [])))
                row["dropped"] = " ".join(str(d["client"]) for d in r.get("dropped", []))
                writer.writerow(row)
    files.append(out / "rounds.csv")

    rows = [_summary(label, m) for label, m in metrics.items()]
    lines = [
        "| model | parameters | train / test events | clients (fraction) | rounds x local epochs "
        "| test accuracy | test ROC AUC | test BCE | best round (test AUC) | dropped | time (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in rows:
        lines.append(
            f"| {s['model']} | {s['parameters']} | {s['train_events']} / {s['test_events']} "
            f"| {s['clients']} ({s['fraction']:g}) | {s['rounds']} x {s['local_epochs']} "
            f"| {_fmt(s['test_accuracy'])} | {_fmt(s['test_auc'])} | {_fmt(s['test_loss'])} "
            f"| {s['best_round']} ({_fmt(s['best_test_auc'])}) | {s['dropped']} | {s['seconds']:.0f} |"
        )
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    (out / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")
    files += [out / "summary.md", out / "summary.json"]

    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    for label, m in metrics.items():
        rs = [m["initial"]] + m["rounds"]
        x = [r["round"] for r in rs]
        line = ax_loss.plot(x, [r["test_loss"] for r in rs], marker=".", label=f"{label} ({m['num_parameters']} par.)")
        color = line[0].get_color()
        if any(r.get("test_accuracy") is not None for r in rs):
            ax_acc.plot(x, [r["test_accuracy"] for r in rs], marker=".", color=color, label=f"{label} accuracy")
            ax_acc.plot(x, [r["test_auc"] for r in rs], marker=".", ls="--", color=color, label=f"{label} ROC AUC")
    for ax, ylabel in ((ax_loss, "test loss of the global model"), (ax_acc, "test accuracy / ROC AUC")):
        ax.set_xlabel("round")
        ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(loc="best", fontsize="small")
    files.append(save_figure(fig, out / "comparison.png"))
    return Comparison(out, rows, files)
