"""The comparison study's numbers: per-model intervals, paired ratios, equivalence tests, tables.

Input: one :class:`RunRecord` per trained (task, model, seed) and one
:class:`BaselineRecord` per (task, naive baseline, seed), all on the same
windows, split and scaling. Output: a :class:`ModelSummary` per (task, row)
and a :class:`PairedComparison` per compared pair, and the markdown that
states them. Every verdict in the text comes from :mod:`dqlstm.stats`:

* model vs baseline / vs another model: geometric mean of the per-seed MSE
  ratios with its 95% bootstrap interval; "better" / "worse" only when the
  whole interval lies below / above 1, else "not distinguishable";
* distributed vs centralised: the same ratio plus a paired TOST at the
  study's margin (default +-10%); its verdict, not the point estimate,
  decides "equivalent" / "not shown equivalent".

The spec is used duck-typed (``tasks``, ``seeds``, ``variants``, ``margin``,
``alpha``) so this module does not import :mod:`dqlstm.studies.compare`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dqlstm.stats import (
    bootstrap_ci,
    compare_to_reference,
    paired_ratio,
    tost_log_ratio,
)
from dqlstm.studies.common import markdown_table

TAIL_EPOCHS = 5  # the test MSE jumps between epochs: also report the mean of the last epochs
BASELINE_GROUP = "naive baseline"
BASELINE_LABELS = {
    "mean": "mean",
    "persistence": "persistence",
    "linear-extrapolation": "linear extrapolation",
    "ar": "AR(p)",
    "arx": "ARX(p,q)",
}
CI_LEVEL = 0.95


@dataclass
class RunRecord:
    """One finished training run, as the summary needs it."""

    task: str
    label: str
    seed: int
    folder: str
    num_parameters: int
    train_mse: float
    test_mse: float
    test_nrmse: float
    wall_seconds: float
    train_curve: list[float]
    test_curve: list[float]
    cut: dict[str, Any] | None
    reused: bool = False


@dataclass
class BaselineRecord:
    """One naive forecast on one (task, seed)'s data."""

    task: str
    name: str
    seed: int
    train_mse: float
    test_mse: float
    test_nrmse: float
    orders: dict[str, int] = field(default_factory=dict)


@dataclass
class ModelSummary:
    """One row of a task's table: a trained model or a naive baseline over the seeds.

    ``*_low``/``*_high``: 95% percentile bootstrap interval of the mean over
    seeds (seeded, 10,000 resamples). ``train_loss_change``: per seed the mean
    training loss of the last 5 epochs over that of the 5 before, median over
    seeds (1.00 = flat, i.e. converged in training loss).
    """

    task: str
    label: str
    group: str
    kind: str  # "baseline" | "lstm" | "qlstm"
    seeds: int
    test_mse_mean: float
    test_mse_low: float
    test_mse_high: float
    test_mse_std: float
    test_nrmse_mean: float
    test_nrmse_low: float
    test_nrmse_high: float
    train_mse_mean: float
    n_qubits: int | None = None
    qpu_qubits: int | None = None
    mode: str = "-"
    num_parameters: int | None = None
    test_mse_tail_mean: float | None = None
    train_loss_change: float | None = None
    wall_seconds_mean: float | None = None
    orders: str = ""  # baselines: the orders chosen on validation, e.g. "p=4" or "p=3 (7), p=4 (3)"
    num_fragments: int | None = None
    num_cuts: int | None = None
    sampling_overhead: float | None = None
    subexperiments_per_eval: int | None = None
    plan_matches_run: bool | None = None
    curve_max_abs_diff_vs_reference: float | None = None
    reference: str | None = None


@dataclass
class PairedComparison:
    """``label`` against ``against`` on the same seeds (MSE ratio label / against)."""

    task: str
    label: str
    against: str
    kind: str  # "baseline" | "model" | "centralised"
    n: int
    ratios: list[float]
    ratio: float  # geometric mean of the per-seed ratios
    ratio_low: float
    ratio_high: float
    ratio_of_means: float
    words: str  # better | worse | not distinguishable (from the bootstrap interval)
    tost_p_lower: float | None = None
    tost_p_upper: float | None = None
    tost_p: float | None = None
    tost_ci_low: float | None = None  # the 90% t-interval of the ratio the margins are tested against
    tost_ci_high: float | None = None
    verdict: str | None = None  # equivalent | not shown equivalent


def _ci(values: Sequence[float]) -> tuple[float, float, float]:
    iv = bootstrap_ci(values, level=CI_LEVEL)
    return iv.estimate, iv.low, iv.high


def _std(values: Sequence[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _error_fields(rs: Sequence[Any]) -> dict[str, Any]:
    """The test-error columns shared by model and baseline rows (``rs``: one record per seed)."""
    mse = [r.test_mse for r in rs]
    m, lo, hi = _ci(mse)
    nm, nlo, nhi = _ci([r.test_nrmse for r in rs])
    return {
        "seeds": len(rs),
        "test_mse_mean": m,
        "test_mse_low": lo,
        "test_mse_high": hi,
        "test_mse_std": _std(mse),
        "test_nrmse_mean": nm,
        "test_nrmse_low": nlo,
        "test_nrmse_high": nhi,
        "train_mse_mean": float(np.mean([r.train_mse for r in rs])),
    }


def _orders_text(records: Sequence[BaselineRecord]) -> str:
    texts = [",".join(f"{k}={v}" for k, v in r.orders.items()) for r in records]
    if not any(texts):
        return ""
    counts: dict[str, int] = {}
    for t in texts:
        counts[t] = counts.get(t, 0) + 1
    if len(counts) == 1:
        return texts[0]
    return ", ".join(f"{t} ({c})" for t, c in sorted(counts.items()))


def baseline_summaries(task: str, records: Sequence[BaselineRecord]) -> list[ModelSummary]:
    """One row per baseline name (in first-seen order) of ``task``."""
    names = list(dict.fromkeys(r.name for r in records if r.task == task))
    out = []
    for name in names:
        rs = sorted((r for r in records if r.task == task and r.name == name), key=lambda r: r.seed)
        out.append(
            ModelSummary(
                task=task,
                label=BASELINE_LABELS.get(name, name),
                group=BASELINE_GROUP,
                kind="baseline",
                **_error_fields(rs),
                orders=_orders_text(rs),
            )
        )
    return out


def _train_loss_change(curve: Sequence[float]) -> float | None:
    if len(curve) < 2 * TAIL_EPOCHS:
        return None
    return float(np.mean(curve[-TAIL_EPOCHS:]) / np.mean(curve[-2 * TAIL_EPOCHS : -TAIL_EPOCHS]))


def model_summary(
    task: str, label: str, group: str, model: Mapping[str, Any], rs: Sequence[RunRecord], plan: Any = None
) -> ModelSummary:
    """The row of one trained model (``rs``: its runs on ``task``, one per seed)."""
    rs = sorted(rs, key=lambda r: r.seed)
    changes = [c for c in (_train_loss_change(r.train_curve) for r in rs) if c is not None]
    quantum = model["kind"] == "qlstm"
    return ModelSummary(
        task=task,
        label=label,
        group=group,
        kind=model["kind"],
        **_error_fields(rs),
        n_qubits=int(model["n_qubits"]) if quantum else None,
        qpu_qubits=(max(plan.fragment_widths) if plan else int(model["n_qubits"])) if quantum else None,
        mode=model.get("mode", "exact") if quantum else "classical",
        num_parameters=rs[0].num_parameters,
        test_mse_tail_mean=float(np.mean([np.mean(r.test_curve[-TAIL_EPOCHS:]) for r in rs])),
        train_loss_change=float(np.median(changes)) if changes else None,
        wall_seconds_mean=float(np.mean([r.wall_seconds for r in rs])),
        num_fragments=plan.num_fragments if plan else None,
        num_cuts=plan.num_cuts if plan else None,
        sampling_overhead=plan.sampling_overhead if plan else None,
        subexperiments_per_eval=plan.num_subexperiments if plan else None,
    )


def paired(
    task: str,
    label: str,
    against: str,
    kind: str,
    a: Mapping[int, float],
    b: Mapping[int, float],
    *,
    margin: float = 0.10,
    alpha: float = 0.05,
) -> PairedComparison | None:
    """Compare the per-seed MSEs ``a`` (of ``label``) and ``b`` (of ``against``) on their common seeds.

    ``kind="centralised"`` adds the TOST at ``1 -+ margin``. ``None`` without
    common seeds (a TOST needs two).
    """
    seeds = sorted(set(a) & set(b))
    if not seeds or (kind == "centralised" and len(seeds) < 2):
        return None
    x, y = [a[s] for s in seeds], [b[s] for s in seeds]
    pr = paired_ratio(x, y, level=CI_LEVEL)
    out = PairedComparison(
        task=task,
        label=label,
        against=against,
        kind=kind,
        n=len(seeds),
        ratios=list(pr.ratios),
        ratio=pr.geometric_mean.estimate,
        ratio_low=pr.geometric_mean.low,
        ratio_high=pr.geometric_mean.high,
        ratio_of_means=pr.ratio_of_means,
        words=compare_to_reference(pr.geometric_mean),
    )
    if kind == "centralised":
        t = tost_log_ratio(x, y, margin=(1 - margin, 1 + margin), alpha=alpha)
        out.tost_p_lower, out.tost_p_upper, out.tost_p = t.p_lower, t.p_upper, t.p_value
        out.tost_ci_low, out.tost_ci_high, out.verdict = t.ci_low, t.ci_high, t.verdict
    return out


# --- markdown ------------------------------------------------------------------------


def _g(v: float | None, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.{digits}g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.{digits - 1}e}"


def _interval(mean: float, low: float, high: float, digits: int = 3) -> str:
    if low == high:
        return _g(mean, digits)
    return f"{_g(mean, digits)} [{_g(low, digits)}, {_g(high, digits)}]"


def _r(v: float) -> str:
    """A ratio: 2 decimals from 0.1 to 100, else 2 significant digits (0.0031, 1.2e+03)."""
    return f"{v:.2f}" if 0.1 <= v < 100 else f"{v:.2g}"


def _pair_cells(c: PairedComparison) -> dict[str, Any]:
    """The cells every paired-comparison table starts with."""
    return {"label": c.label, "against": c.against, "n": c.n, "ratio": _ratio(c), "rom": _r(c.ratio_of_means)}


def _ratio(c: PairedComparison) -> str:
    return f"{_r(c.ratio)} [{_r(c.ratio_low)}, {_r(c.ratio_high)}]"


ROW_COLUMNS = (
    ("label", "model"),
    ("group", "group"),
    ("qubits", "qubits (per QPU)"),
    ("params", "parameters"),
    ("seeds", "seeds"),
    ("mse", "test MSE, mean [95% CI]"),
    ("nrmse", "test NRMSE, mean [95% CI]"),
    ("tail", f"test MSE, last {TAIL_EPOCHS} epochs"),
    ("train", "train MSE"),
    ("change", f"train loss, last {TAIL_EPOCHS} / previous {TAIL_EPOCHS} epochs"),
    ("wall", "s per run"),
)


def _row(s: ModelSummary) -> dict[str, Any]:
    qubits = (
        "-"
        if s.n_qubits is None
        else (f"{s.n_qubits}" if s.qpu_qubits == s.n_qubits else f"{s.n_qubits} ({s.qpu_qubits})")
    )
    label = s.label + (f", {s.orders}" if s.orders else "")
    return {
        "label": label,
        "group": s.group,
        "qubits": qubits,
        "params": "-" if s.num_parameters is None else s.num_parameters,
        "seeds": s.seeds,
        "mse": _interval(s.test_mse_mean, s.test_mse_low, s.test_mse_high),
        "nrmse": _interval(s.test_nrmse_mean, s.test_nrmse_low, s.test_nrmse_high),
        "tail": _g(s.test_mse_tail_mean),
        "train": _g(s.train_mse_mean),
        "change": "-" if s.train_loss_change is None else f"{s.train_loss_change:.2f}",
        "wall": "-" if s.wall_seconds_mean is None else f"{s.wall_seconds_mean:.0f}",
    }


def baseline_statement(
    task: str, rows: Sequence[ModelSummary], comps: Sequence[PairedComparison]
) -> list[str]:
    """Plain sentences: which trained model beats which baseline on ``task`` (from the intervals).

    Ratios quoted are model / baseline (geometric mean over seeds [95% bootstrap interval]).
    """
    baselines = [s.label for s in rows if s.kind == "baseline"]
    models = [s.label for s in rows if s.kind != "baseline"]
    by = {(c.label, c.against): c for c in comps if c.task == task and c.kind == "baseline"}

    def names(ms: Sequence[str], baseline: str) -> str:
        return ", ".join(f"{m} ({_ratio(by[(m, baseline)])})" for m in ms)

    lines = []
    for b in baselines:
        words = {m: by[(m, b)].words for m in models if (m, b) in by}
        beat = [m for m, w in words.items() if w == "better"]
        lose = [m for m, w in words.items() if w == "worse"]
        tie = [m for m, w in words.items() if w == "not distinguishable"]
        parts = [f"beaten by {names(beat, b)}" if beat else "beaten by no trained model"]
        if lose:
            parts.append(f"better than {names(lose, b)}")
        if tie:
            parts.append(f"not distinguishable from {names(tie, b)}")
        lines.append(f"- {b}: " + "; ".join(parts) + ".")
    best = min((s for s in rows if s.kind == "baseline"), key=lambda s: s.test_mse_mean, default=None)
    if best is not None:
        beat_all = [
            m for m in models if all((m, b) in by and by[(m, b)].words == "better" for b in baselines)
        ]
        lines.append(
            f"- In short: the best naive baseline is {best.label}{f' ({best.orders})' if best.orders else ''} "
            f"(test MSE {_g(best.test_mse_mean)}, NRMSE {_g(best.test_nrmse_mean)}); "
            + (
                f"models that beat every baseline: {', '.join(beat_all)}."
                if beat_all
                else "no trained model beats every baseline."
            )
        )
    return lines


def render_task(
    task: str, rows: Sequence[ModelSummary], comps: Sequence[PairedComparison], margin: float, alpha: float
) -> list[str]:
    """The markdown section of one task."""
    lines = [f"## {task}", "", markdown_table([_row(s) for s in rows], ROW_COLUMNS), ""]
    base = [c for c in comps if c.task == task and c.kind == "baseline"]
    if base:
        against = list(dict.fromkeys(c.against for c in base))
        models = list(dict.fromkeys(c.label for c in base))
        by = {(c.label, c.against): c for c in base}
        cols = (("label", "model"),) + tuple((a, f"vs {a}") for a in against)
        table = [
            {"label": m}
            | {a: f"{_ratio(by[(m, a)])} {by[(m, a)].words}" if (m, a) in by else "-" for a in against}
            for m in models
        ]
        lines += [
            f"### {task}: trained models against the naive baselines",
            "",
            (
                "Geometric mean over seeds of the per-seed test-MSE ratio model / baseline, [95% bootstrap "
                "interval]; the model is *better* / *worse* only when the whole interval lies below / above "
                "1. In the sentences below the baseline is the subject; the ratios are still model / baseline."
            ),
            "",
            markdown_table(table, cols),
            "",
            *baseline_statement(task, rows, comps),
            "",
        ]
    other = [c for c in comps if c.task == task and c.kind == "model"]
    if other:
        lines += [
            f"### {task}: trained models against each other",
            "",
            markdown_table(
                [{**_pair_cells(c), "words": c.words} for c in other],
                (
                    ("label", "model"),
                    ("against", "against"),
                    ("n", "seeds"),
                    ("ratio", "MSE ratio, geometric mean [95% CI]"),
                    ("rom", "ratio of mean MSEs"),
                    ("words", "model is"),
                ),
            ),
            "",
        ]
    cent = [c for c in comps if c.task == task and c.kind == "centralised"]
    if cent:
        lines += [
            f"### {task}: distributed against centralised (equivalence at ±{margin:.0%})",
            "",
            (
                f"TOST (two one-sided paired t-tests on the per-seed log MSE ratios, margins log({1 - margin:g}) "
                f"and log({1 + margin:g}), alpha {alpha:g}): *equivalent* when both one-sided p-values are "
                f"below {alpha:g}, i.e. the {1 - 2 * alpha:.0%} t-interval of the ratio lies inside "
                f"[{1 - margin:g}, {1 + margin:g}]; otherwise *not shown equivalent* (which is not a "
                "finding of a difference)."
            ),
            "",
            markdown_table(
                [
                    {
                        **_pair_cells(c),
                        "ci90": f"[{_r(c.tost_ci_low)}, {_r(c.tost_ci_high)}]",
                        "p": f"{c.tost_p_lower:.2g} / {c.tost_p_upper:.2g}",
                        "verdict": f"**{c.verdict}**",
                    }
                    for c in cent
                ],
                (
                    ("label", "distributed"),
                    ("against", "centralised"),
                    ("n", "seeds"),
                    ("ratio", "MSE ratio, geometric mean [95% bootstrap CI]"),
                    ("rom", "ratio of mean MSEs"),
                    ("ci90", f"{1 - 2 * alpha:.0%} t-interval of the ratio"),
                    ("p", "TOST p (lower / upper)"),
                    ("verdict", "verdict"),
                ),
            ),
            "",
        ]
    return lines


def render_cut_sections(summaries: Sequence[ModelSummary], window: int) -> list[str]:
    """Cut cost of the planned variants and the cut-exact = exact check, when present."""
    lines: list[str] = []
    planned = [s for s in summaries if s.num_cuts is not None]
    if planned:
        lines += [
            "## Cut cost of the distributed models",
            "",
            (
                f"From the partitioner's plan of one gate circuit. Sub-experiments per training step (forward) "
                f"= window ({window}) x sub-experiments per evaluation."
            ),
            "",
            markdown_table(
                [
                    {
                        "task": s.task,
                        "label": s.label,
                        "frag": s.num_fragments,
                        "cuts": s.num_cuts,
                        "kappa": f"{s.sampling_overhead:g}",
                        "sub": s.subexperiments_per_eval,
                        "step": window * int(s.subexperiments_per_eval or 0),
                        "plan": {True: "yes", False: "NO", None: "-"}[s.plan_matches_run],
                    }
                    for s in planned
                ],
                (
                    ("task", "task"),
                    ("label", "model"),
                    ("frag", "fragments"),
                    ("cuts", "cuts"),
                    ("kappa", "sampling overhead"),
                    ("sub", "sub-experiments per evaluation"),
                    ("step", "per training step (forward)"),
                    ("plan", "run's cut summary = plan"),
                ),
            ),
            "",
        ]
    twins = [s for s in summaries if s.curve_max_abs_diff_vs_reference is not None]
    if twins:
        lines += [
            "## Cut-exact runs against the same circuit in exact mode",
            "",
            markdown_table(
                [
                    {
                        "task": s.task,
                        "label": s.label,
                        "reference": s.reference,
                        "diff": f"{s.curve_max_abs_diff_vs_reference:.1e}",
                    }
                    for s in twins
                ],
                (
                    ("task", "task"),
                    ("label", "cut model"),
                    ("reference", "exact model"),
                    ("diff", "max abs difference of loss curves (all epochs, seeds)"),
                ),
            ),
            "",
        ]
    return lines
