"""Plots of the cut-cost sweep: wall time (exact contraction vs shot sampling) and shot error vs prediction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from dqlstm.figures import save_figure


def plot_walltime(path: Path, rows: Sequence[Mapping[str, Any]], timing) -> Path:
    """Two panels, as they time different things.

    Left: ``cut-exact``, exact simulation of every fragment and contraction over the cuts, forward
    plus autograd backward (no shots). Right: ``sampled``, shots drawn for every distinct
    sub-experiment on the local Aer sampler, forward plus parameter-shift backward; each point is
    labelled with its cuts / distinct sub-experiments.
    """
    fig = Figure(figsize=(15, 5.8), layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True)
    combos = sorted({(r["family"], r["capacity"], r["layers"]) for r in rows
                     if r.get("cut_exact_seconds") is not None or r.get("sampled_seconds") is not None})
    for i, (fam, cap, layers) in enumerate(combos):
        sel = sorted((r for r in rows if (r["family"], r["capacity"], r["layers"]) == (fam, cap, layers)),
                     key=lambda r: r["n_qubits"])
        c = f"C{i % 10}"
        label = f"{fam}, QPU {cap}, {layers} layers"
        ce = [(r["n_qubits"], r["cut_exact_seconds"]) for r in sel if r.get("cut_exact_seconds") is not None]
        sa = [r for r in sel if r.get("sampled_seconds") is not None]
        if ce:
            left.plot(*zip(*ce), marker="o", ms=4, color=c, label=label)
        if sa:
            right.plot([r["n_qubits"] for r in sa], [r["sampled_seconds"] for r in sa], marker="s", ms=5,
                       color=c, ls="--", label=label)
            for r in sa:
                right.annotate(f"{r['num_cuts']}c/{r['num_subexperiments']}", (r["n_qubits"], r["sampled_seconds"]),
                               fontsize=6, xytext=(3, 2), textcoords="offset points", color=c)
    left.set_title("cut-exact: exact fragment simulation + contraction over the cuts\n"
                   f"forward + autograd backward, no shots ({timing.gates} gates x batch {timing.batch})",
                   fontsize="medium")
    right.set_title(f"sampled: {timing.sampled_shots} shots per distinct sub-experiment, local Aer sampler\n"
                    f"forward + parameter-shift backward ({timing.gates} gates x batch {timing.sampled_batch})\n"
                    "point label: cuts c / distinct sub-experiments", fontsize="medium")
    for ax in (left, right):
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("circuit width (qubits)")
        ax.grid(alpha=0.3, which="both")
    left.set_ylabel("wall time of one forward + backward (s, log)")
    handles = {}
    for ax in (left, right):
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles), fontsize="small", loc="outside right upper")
    return save_figure(fig, path, dpi=110)


def plot_shot_errors(path: Path, shot_rows: Sequence, target_stderr: float) -> Path:
    """Per case: measured RMS error of the sampled estimator and the standard errors set against it."""
    fig = Figure(figsize=(12, 5.5), layout="constrained")
    ax = fig.add_subplot()
    series = [("measured_rms_error", "measured RMS error vs Statevector", "o", "black"),
              ("predicted_rms_stderr", "predicted (exact Var of the estimator)", "x", "C0"),
              ("reported_rms_stderr", "reported by the estimator", "+", "C1"),
              ("bound_stderr", "bound √(∏(1+B_f/N)−1)", "v", "C2"),
              ("kappa_rms_stderr", "κ-form √((κ−⟨O⟩²)/MN), |c|-sampling", "^", "C3"),
              ("old_formula_rms_stderr", "old √(κσ²/MN)", "s", "C7")]
    x = np.arange(len(shot_rows))
    width = 0.12
    for j, (key, label, marker, color) in enumerate(series):
        ax.plot(x + (j - 2.5) * width, [getattr(r, key) for r in shot_rows], ls="none", marker=marker, ms=8,
                color=color, label=label, mfc="none" if marker in "osv^" else None)
    ax.set_xticks(x, [f"{r.family} L{r.layers}\n{r.n_qubits}q / QPU {r.capacity}\n{r.num_cuts} cuts "
                      f"({r.cut_operations})\nM={r.num_subexperiments}, κ={r.sampling_overhead:.3g}"
                      for r in shot_rows], fontsize="small")
    ax.set_yscale("log")
    ax.set_ylabel("standard error of one estimate of ⟨Z_q⟩ (RMS over bindings and qubits)")
    r0 = shot_rows[0]
    ax.set_title(f"sampled cut estimator, uniform allocation: {r0.shots} shots per distinct sub-experiment, "
                 f"{r0.repetitions} repetitions x {r0.bindings} bindings", fontsize="medium")
    ax.grid(alpha=0.3, which="both", axis="y")
    ax.legend(fontsize="small", loc="upper left")
    return save_figure(fig, path, dpi=110)
