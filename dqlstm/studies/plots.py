"""PNG plots of the studies (matplotlib object API on the Agg canvas, like the run plots)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from dqlstm.figures import save_figure

_STYLES = ["-", "--", "-.", ":"]


def plot_compare_losses(path: Path, spec, task: str, runs: Sequence, rows: Sequence = ()) -> Path:
    """Train and test MSE per epoch, mean over seeds with a min-max band, one line per variant;
    the naive baselines' test MSE (mean over seeds) as horizontal lines on the test panel."""
    fig = Figure(figsize=(13, 4.8), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    colors = [f"C{i}" for i in range(10)]
    for i, v in enumerate(spec.variants):
        rs = [r for r in runs if r.task == task and r.label == v.label]
        if not rs:
            continue
        for ax, key in zip(axes, ("train_curve", "test_curve")):
            curves = np.array([getattr(r, key) for r in rs])
            epochs = np.arange(1, curves.shape[1] + 1)
            style = ":" if v.reference else "-"
            ax.plot(
                epochs,
                curves.mean(0),
                color=colors[i % 10],
                ls=style,
                lw=1.6 if style == "-" else 2.6,
                label=v.label,
                zorder=5 if style == ":" else 2,
            )
            if len(rs) > 1:
                ax.fill_between(epochs, curves.min(0), curves.max(0), color=colors[i % 10], alpha=0.12)
    for j, s in enumerate(r for r in rows if r.kind == "baseline"):
        axes[1].axhline(
            s.test_mse_mean,
            color="black",
            lw=1.0,
            ls=_STYLES[(j + 1) % 4],
            alpha=0.7,
            label=f"{s.label} (naive baseline)",
        )
    for ax, name in zip(axes, ("train", "test")):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_title(f"{task}: {name} MSE (mean over {len(spec.seeds)} seeds, band = min-max)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("MSE (series scaled to [-1, 1])")
    axes[1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return save_figure(fig, path, dpi=110)


def plot_compare_intervals(path: Path, task: str, rows: Sequence) -> Path:
    """Test MSE of every row (naive baselines and trained models): mean over seeds with its 95% bootstrap
    interval on a log axis; the best baseline as a vertical line."""
    fig = Figure(figsize=(10, 0.45 * len(rows) + 1.6), layout="constrained")
    ax = fig.add_subplot()
    ys = np.arange(len(rows))[::-1]
    for y, s in zip(ys, rows):
        c = "black" if s.kind == "baseline" else "C0"
        ax.errorbar(
            [s.test_mse_mean],
            [y],
            xerr=[[s.test_mse_mean - s.test_mse_low], [s.test_mse_high - s.test_mse_mean]],
            fmt="o",
            color=c,
            capsize=4,
            ms=6,
        )
    best = min((s for s in rows if s.kind == "baseline"), key=lambda s: s.test_mse_mean, default=None)
    if best is not None:
        ax.axvline(best.test_mse_mean, color="grey", ls="--", lw=1, label=f"best baseline: {best.label}")
        ax.legend(fontsize="small", loc="best")
    ax.set_yticks(ys, [s.label for s in rows])
    ax.set_xscale("log")
    ax.set_xlabel("test MSE (scaled units), mean over seeds with 95% bootstrap interval")
    ax.set_title(f"{task}: naive baselines (black) and trained models (blue)")
    ax.grid(alpha=0.3, which="both", axis="x")
    return save_figure(fig, path, dpi=110)


def plot_compare_predictions(
    path: Path,
    task: str,
    preds: Mapping[str, Mapping[str, Any]],
    seed: int,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Truth and one-step-ahead predictions of a few variants (one seed), train and test parts;
    ``extra``: more prediction sets drawn the same way (e.g. the best naive baseline), in black."""
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    ax = fig.add_subplot()
    first = next(iter(preds.values()))
    series = np.asarray(first["series"])
    ax.plot(np.arange(series.size), series, color="black", lw=1.8, label="truth")
    drawn = [(label, p, f"C{i}", _STYLES[i % 4]) for i, (label, p) in enumerate(preds.items())]
    drawn += [(label, p, "dimgrey", ":") for label, p in (extra or {}).items()]
    for label, p, color, style in drawn:
        idx = np.concatenate([p["train_index"], p["test_index"]])
        val = np.concatenate([p["train_pred"], p["test_pred"]])
        ax.plot(idx, val, color=color, lw=1.1, ls=style, label=f"{label}")
    split = first["test_index"][0] - 0.5 if first["test_index"] else None
    if split is not None:
        ax.axvline(split, color="grey", lw=1, ls=":", label="train | test")
    ax.set_xlabel("time step")
    ax.set_ylabel("value (scaled to [-1, 1])")
    ax.set_title(f"{task}: prediction vs truth (seed {seed})")
    ax.legend(fontsize="small", loc="best", ncol=2)
    ax.grid(alpha=0.3)
    return save_figure(fig, path, dpi=110)


def plot_cut_vs_exact(path: Path, pairs: Sequence, runs: Sequence) -> Path:
    """Top: test MSE of each cut-exact variant (markers) over its exact twin (line), first seed.
    Bottom: absolute difference of the two curves (all seeds)."""
    fig = Figure(figsize=(13, 7), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    for i, s in enumerate(pairs):
        mine = sorted((r for r in runs if r.task == s.task and r.label == s.label), key=lambda r: r.seed)
        ref = {r.seed: r for r in runs if r.task == s.task and r.label == s.reference}
        epochs = np.arange(1, len(mine[0].test_curve) + 1)
        c = f"C{i}"
        top.plot(epochs, ref[mine[0].seed].test_curve, color=c, lw=1.5, label=f"{s.task}: {s.reference}")
        top.plot(
            epochs,
            mine[0].test_curve,
            color=c,
            ls="none",
            marker="o",
            mfc="none",
            ms=6,
            label=f"{s.task}: {s.label}",
        )
        for r in mine:
            if r.seed in ref:
                d = np.abs(np.array(r.test_curve) - np.array(ref[r.seed].test_curve))
                bottom.plot(
                    epochs,
                    np.maximum(d, 1e-18),
                    color=c,
                    lw=1,
                    label=f"{s.task}: {s.label}" if r is mine[0] else None,
                )
    top.set_yscale("log")
    top.set_ylabel("test MSE")
    top.set_title("cut-exact (markers) equals exact (lines), same seed")
    top.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    top.grid(alpha=0.3)
    bottom.set_yscale("log")
    bottom.set_ylim(1e-18, 1e-3)
    bottom.set_xlabel("epoch")
    bottom.set_ylabel("|test MSE cut - exact|")
    bottom.set_title(
        "difference (floor 1e-18 = identical); the models' classical layers are float32", fontsize="small"
    )
    bottom.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    bottom.grid(alpha=0.3)
    return save_figure(fig, path, dpi=110)


def plot_overhead(
    path: Path, rows: Sequence[Mapping[str, Any]], families: Sequence[str], layers: int
) -> Path:
    """Sampling overhead vs qubits (log axis), one panel per ansatz family, one line per QPU capacity."""
    n = len(families)
    cols = min(3, n)
    nrows = (n + cols - 1) // cols
    fig = Figure(figsize=(5.2 * cols, 4.2 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, cols, squeeze=False)).ravel()
    caps = sorted({r["capacity"] for r in rows})
    cmap = [f"C{i}" for i in range(10)]
    for ax, fam in zip(axes, families):
        for j, cap in enumerate(caps):
            pts = sorted(
                (r["n_qubits"], r["sampling_overhead"])
                for r in rows
                if r["family"] == fam
                and r["capacity"] == cap
                and r["layers"] == layers
                and r.get("sampling_overhead") is not None
            )
            if pts:
                xs, ys = zip(*pts)
                ax.plot(
                    xs,
                    ys,
                    marker="o",
                    ms=3,
                    color=cmap[j % 10],
                    ls=_STYLES[(j // 10) % 4],
                    label=f"QPU {cap} qubits",
                )
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # qubit counts are whole
        ax.set_xlabel("circuit width (qubits)")
        ax.set_ylabel("total sampling overhead κ (log)")
        flat = all(r["sampling_overhead"] == 1 for r in rows if r["family"] == fam and r["layers"] == layers)
        ax.set_title(f"{fam}, {layers} layers" + (": no cut, κ = 1 at every capacity" if flat else ""))
        ax.grid(alpha=0.3, which="both")
    # one legend for every panel (a capacity missing from the first panel is still named),
    # in the first empty panel when there is one, else beside the figure
    handles = {}
    for ax in axes[:n]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    order = sorted(handles, key=lambda label: int(label.split()[1]))
    legend = ([handles[k] for k in order], order)
    for ax in axes[n:]:
        ax.set_axis_off()
    if len(axes) > n:
        axes[n].legend(*legend, title="QPU capacity", loc="center")
    else:
        fig.legend(*legend, fontsize="small", title="QPU capacity", loc="outside right upper")
    return save_figure(fig, path, dpi=110)


def plot_walltime(
    path: Path, rows: Sequence[Mapping[str, Any]], families: Sequence[str], subtitle: str = ""
) -> Path:
    """Measured forward+backward wall time vs qubits: cut-exact (solid) and sampled (dashed)."""
    fig = Figure(figsize=(13, 5.5), layout="constrained")
    ax = fig.add_subplot()
    combos = sorted(
        {
            (r["family"], r["capacity"], r["layers"])
            for r in rows
            if r.get("cut_exact_seconds") is not None or r.get("sampled_seconds") is not None
        }
    )
    for i, (fam, cap, layers) in enumerate(combos):
        sel = sorted(
            (r for r in rows if (r["family"], r["capacity"], r["layers"]) == (fam, cap, layers)),
            key=lambda r: r["n_qubits"],
        )
        c = f"C{i % 10}"
        ce = [(r["n_qubits"], r["cut_exact_seconds"]) for r in sel if r.get("cut_exact_seconds") is not None]
        sa = [(r["n_qubits"], r["sampled_seconds"]) for r in sel if r.get("sampled_seconds") is not None]
        if ce:
            ax.plot(
                *zip(*ce), marker="o", ms=4, color=c, label=f"cut-exact: {fam}, QPU {cap}, {layers} layers"
            )
        if sa:
            ax.plot(
                *zip(*sa),
                marker="s",
                ms=5,
                color=c,
                ls="--",
                label=f"sampled: {fam}, QPU {cap}, {layers} layers",
            )
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("circuit width (qubits)")
    ax.set_ylabel("forward + backward wall time (s, log)")
    ax.set_title(
        "one evaluation of the gate circuits with gradients" + (f" ({subtitle})" if subtitle else "")
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(fig, path, dpi=110)


def plot_noise_losses(path: Path, runs: Sequence, name: str) -> Path:
    """Train and test MSE per epoch of each noise condition (one line per condition and seed)."""
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    conds = sorted({r.condition for r in runs}, key=lambda c: [r.condition for r in runs].index(c))
    for ax, key, title in zip(axes, ("train_curve", "test_curve"), ("train", "test")):
        for r in runs:
            i = conds.index(r.condition)
            epochs = np.arange(1, len(getattr(r, key)) + 1)
            ax.plot(
                epochs,
                getattr(r, key),
                color=f"C{i}",
                marker="o",
                ls=_STYLES[i % 4],
                label=f"{r.condition} (seed {r.seed})",
            )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_title(f"{name}: {title} MSE")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("MSE (series scaled to [-1, 1])")
    axes[1].legend(fontsize="small")
    return save_figure(fig, path, dpi=110)
