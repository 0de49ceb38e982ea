"""The distributed-QLSTM comparison (Liu, Chen et al. 2025, arXiv 2503.14088).

A study spec (TOML) names tasks, seeds, a partial run config shared by every
run (``[base]``) and the model variants (``[[variant]]``)::

    [study]
    name = "paper"
    tasks = ["narma5", "narma10", "oscillator"]
    seeds = [0, 1, 2]
    epochs = 100
    prediction_variants = ["LSTM", "QLSTM 6q"]   # drawn in the prediction plots

    [base.train]                 # any [data]/[model]/[train] keys of a run config
    lr = 0.01

    [[variant]]
    label = "dQLSTM 2x3, 1 link (cut)"
    group = "distributed (cut)"  # legend/table grouping
    model = { kind = "qlstm", ansatz = "modular", n_qubits = 6, links = 1,
              mode = "cut-exact", max_qubits = 3 }
    reference = "dQLSTM 2x3, 1 link (exact)"   # same circuit, exact mode: curves must agree
    centralised = "QLSTM 6q"                   # the centralised model of the same width

    [quick]                      # what --quick changes
    tasks = [...]; seeds = [...]; epochs = 3; variants = [labels]; length = 120

Every (task, variant, seed) is one :func:`dqlstm.training.run_training` call
in its own folder ``<out>/runs/<task>/<variant>/seed<k>``; a finished run
with the same config is reused, so an interrupted study continues where it
stopped. The summary (markdown + CSV table, JSON with per-epoch curves, PNG
plots) goes to the results folder.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dqlstm.config import LSTM_KEYS, QLSTM_KEYS, SCHEMA, ConfigError, resolve_config
from dqlstm.progress import Progress, duration
from dqlstm.provenance import provenance, provenance_note
from dqlstm.runs import write_json
from dqlstm.studies.common import (
    fmt_mean_std,
    markdown_table,
    mean_std,
    read_spec,
    study_torch_settings,
    write_csv,
)

_STUDY_KEYS = {"name", "tasks", "seeds", "epochs", "prediction_variants", "description"}
_VARIANT_KEYS = {"label", "group", "model", "reference", "centralised"}
_QUICK_KEYS = {"tasks", "seeds", "epochs", "variants", "length"}
PREDICTIONS_FILE = "predictions.json"
TAIL_EPOCHS = 5  # the test MSE jumps between epochs (RMSprop, lr 0.01): also report a tail average
STUDY_RUN_FILE = "study_run.json"
# run files that the summary never needs and that are large (the checkpoint)
_DROP_AFTER_RUN = ("checkpoint.pt",)


@dataclass(frozen=True)
class Variant:
    """One model of the comparison."""

    label: str
    group: str
    model: dict[str, Any]
    reference: str | None = None  # label of the same circuit run in exact mode
    centralised: str | None = None  # label of the centralised QLSTM of the same width


@dataclass(frozen=True)
class CompareSpec:
    name: str
    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    epochs: int
    base: dict[str, Any]
    variants: tuple[Variant, ...]
    prediction_variants: tuple[str, ...] = ()
    length: int | None = None  # series length override (quick runs)
    description: str = ""

    def variant(self, label: str) -> Variant:
        for v in self.variants:
            if v.label == label:
                return v
        raise KeyError(f"no variant labelled {label!r}")

    def run_config(self, task: str, variant: Variant, seed: int) -> dict[str, Any]:
        """The resolved run config of one (task, variant, seed)."""
        raw = json.loads(json.dumps(self.base))
        raw.setdefault("data", {})["task"] = task
        if self.length is not None:
            raw["data"]["length"] = self.length
        base_model = raw.get("model", {})
        kind = variant.model.get("kind", base_model.get("kind", SCHEMA["model"]["kind"].default))
        foreign = QLSTM_KEYS if kind == "lstm" else LSTM_KEYS  # shared [base.model] keys the kind does not take
        raw["model"] = {k: v for k, v in base_model.items() if k not in foreign} | variant.model
        raw.setdefault("train", {}).update({"seed": seed, "epochs": self.epochs})
        return resolve_config(raw, source=f"study {self.name!r}, variant {variant.label!r}, task {task!r}")


def load_compare_spec(
    path: str | Path,
    *,
    quick: bool = False,
    tasks: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    epochs: int | None = None,
    variants: Sequence[str] | None = None,
) -> CompareSpec:
    """Read a study spec; ``quick`` applies its ``[quick]`` table, explicit arguments win over both."""
    raw = read_spec(path, {"study": _STUDY_KEYS, "base": set(), "variant": set(), "quick": _QUICK_KEYS})
    study = raw.get("study", {})
    quick_t = raw.get("quick", {}) if quick else {}
    if quick and not quick_t:
        raise ConfigError(f"{path}: --quick needs a [quick] table")
    var_tables = raw.get("variant", [])
    if not isinstance(var_tables, list) or not var_tables:
        raise ConfigError(f"{path}: needs at least one [[variant]] table")
    all_variants = []
    for i, t in enumerate(var_tables):
        unknown = set(t) - _VARIANT_KEYS
        if unknown:
            raise ConfigError(f"{path}: [[variant]] #{i + 1}: unknown keys {sorted(unknown)}")
        if "label" not in t or "model" not in t:
            raise ConfigError(f"{path}: [[variant]] #{i + 1} needs 'label' and 'model'")
        all_variants.append(
            Variant(str(t["label"]), str(t.get("group", "")), dict(t["model"]), t.get("reference"), t.get("centralised"))
        )
    labels = [v.label for v in all_variants]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"{path}: variant labels must be unique, got {labels}")
    for v in all_variants:
        for who in (v.reference, v.centralised):
            if who is not None and who not in labels:
                raise ConfigError(f"{path}: variant {v.label!r} refers to unknown variant {who!r}")
    chosen = list(variants) if variants is not None else quick_t.get("variants")
    if chosen is not None:
        missing = [c for c in chosen if c not in labels]
        if missing:
            raise ConfigError(f"{path}: unknown variants {missing}; known: {labels}")
        all_variants = [v for v in all_variants if v.label in chosen]
    kept = {v.label for v in all_variants}
    # a reference/centralised partner that is not run is simply not compared
    all_variants = [
        Variant(v.label, v.group, v.model,
                v.reference if v.reference in kept else None,
                v.centralised if v.centralised in kept else None)
        for v in all_variants
    ]
    spec = CompareSpec(
        name=str(study.get("name", Path(path).stem)) + ("-quick" if quick else ""),
        tasks=tuple(tasks or quick_t.get("tasks") or study.get("tasks", ("narma5",))),
        seeds=tuple(int(s) for s in (seeds or quick_t.get("seeds") or study.get("seeds", (0,)))),
        epochs=int(epochs or quick_t.get("epochs") or study.get("epochs", 100)),
        base=dict(raw.get("base", {})),
        variants=tuple(all_variants),
        prediction_variants=tuple(p for p in study.get("prediction_variants", ()) if p in kept),
        length=quick_t.get("length"),
        description=str(study.get("description", "")),
    )
    # every run config must resolve before anything runs
    for task in spec.tasks:
        for v in spec.variants:
            spec.run_config(task, v, spec.seeds[0])
    return spec


def slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-").lower()


@dataclass
class RunRecord:
    """One finished run, as the summary needs it."""

    task: str
    label: str
    seed: int
    folder: str
    num_parameters: int
    train_mse: float
    test_mse: float
    wall_seconds: float
    train_curve: list[float]
    test_curve: list[float]
    cut: dict[str, Any] | None
    reused: bool = False


@dataclass
class VariantSummary:
    """Mean ± std over seeds of one (task, variant), plus its cut cost."""

    task: str
    label: str
    group: str
    n_qubits: int | None
    qpu_qubits: int | None
    mode: str
    num_parameters: int
    seeds: int
    train_mse_mean: float
    train_mse_std: float
    test_mse_mean: float
    test_mse_std: float
    test_mse_tail_mean: float  # per seed, mean test MSE of the last TAIL_EPOCHS epochs; then mean over seeds
    test_mse_tail_std: float
    wall_seconds_mean: float
    num_fragments: int | None
    num_cuts: int | None
    sampling_overhead: float | None
    subexperiments_per_eval: int | None
    subexperiments_per_step: int | None
    plan_matches_run: bool | None
    curve_max_abs_diff_vs_reference: float | None = None
    reference: str | None = None
    centralised: str | None = None
    test_mse_ratio_vs_centralised: float | None = None
    test_mse_tail_ratio_vs_centralised: float | None = None


@dataclass
class CompareResult:
    spec: CompareSpec
    runs: list[RunRecord]
    summaries: list[VariantSummary]
    results_dir: Path
    files: list[Path] = field(default_factory=list)


def variant_plan(model_cfg: Mapping[str, Any]):
    """The partitioner's plan of a QLSTM variant's gate circuit, or ``None``.

    Only variants that name a QPU size (``max_qubits``) are planned; the plan
    is what a cutting engine of that variant uses (same circuit, same call).
    """
    if model_cfg.get("kind") != "qlstm" or model_cfg.get("max_qubits") is None:
        return None
    from dqlstm.circuits import build_vqc
    from partitioner import plan_cuts

    vqc = build_vqc(
        model_cfg["ansatz"], int(model_cfg["n_qubits"]), int(model_cfg["layers"]),
        module_size=int(model_cfg.get("module_size", 3)), links=int(model_cfg.get("links", 0)),
    )
    return plan_cuts(vqc.circuit, int(model_cfg["max_qubits"]))


def _finished_run(folder: Path, cfg: Mapping[str, Any]) -> dict[str, Any] | None:
    """metrics.json of a finished run in ``folder`` made with ``cfg``, else ``None``."""
    mpath = folder / "metrics.json"
    if not (mpath.is_file() and (folder / PREDICTIONS_FILE).is_file() and (folder / STUDY_RUN_FILE).is_file()):
        return None
    try:
        metrics = json.loads(mpath.read_text())
    except json.JSONDecodeError:
        return None
    want = json.loads(json.dumps(cfg, default=str))
    want.setdefault("run", {})["out"] = str(folder)
    return metrics if metrics.get("finished") and metrics.get("config") == want else None


def run_predictions(result: Any) -> dict[str, list[float]]:
    """The series and a finished run's final predictions, as the prediction plots take them."""
    train_idx, test_idx = result.data.target_indices()
    return {
        "series": result.data.scaled.tolist(),
        "train_index": train_idx.tolist(), "train_pred": result.train_pred.reshape(-1).tolist(),
        "test_index": test_idx.tolist(), "test_pred": result.test_pred.reshape(-1).tolist(),
    }


def run_one(spec: CompareSpec, task: str, variant: Variant, seed: int, out: Path) -> RunRecord:
    """Train (or reuse) one run and return its record."""
    from dqlstm.training.run import run_training

    cfg = spec.run_config(task, variant, seed)
    folder = out / "runs" / task / slug(variant.label) / f"seed{seed}"
    metrics = _finished_run(folder, cfg)
    reused = metrics is not None
    if metrics is None:
        t0 = time.perf_counter()
        result = run_training(cfg, folder, force=True, quiet=True)
        wall = time.perf_counter() - t0
        metrics = result.metrics
        write_json(folder / PREDICTIONS_FILE, run_predictions(result))
        write_json(folder / STUDY_RUN_FILE, {"wall_seconds": wall})
        for name in _DROP_AFTER_RUN:
            (folder / name).unlink(missing_ok=True)
    wall = json.loads((folder / STUDY_RUN_FILE).read_text())["wall_seconds"]
    return RunRecord(
        task=task, label=variant.label, seed=seed, folder=str(folder),
        num_parameters=int(metrics["num_parameters"]),
        train_mse=float(metrics["final"]["train_loss"]), test_mse=float(metrics["final"]["test_loss"]),
        wall_seconds=float(wall),
        train_curve=[float(e["train_loss"]) for e in metrics["epochs"]],
        test_curve=[float(e["test_loss"]) for e in metrics["epochs"]],
        cut=metrics.get("cut"), reused=reused,
    )


def _plan_matches(plan, cut: Mapping[str, Any] | None) -> bool | None:
    if cut is None or plan is None:
        return None
    keys = ("num_fragments", "num_cuts", "sampling_overhead", "num_subexperiments")
    d = plan.to_dict()
    return all(k not in cut or math.isclose(float(cut[k]), float(d[k]), rel_tol=1e-12) for k in keys)


def summarise(spec: CompareSpec, runs: Sequence[RunRecord]) -> list[VariantSummary]:
    """Aggregate runs per (task, variant) and check cut variants against their references."""
    by_key: dict[tuple[str, str], list[RunRecord]] = {}
    for r in runs:
        by_key.setdefault((r.task, r.label), []).append(r)
    plans = {v.label: variant_plan(spec.run_config(spec.tasks[0], v, spec.seeds[0])["model"]) for v in spec.variants}
    window = int(spec.run_config(spec.tasks[0], spec.variants[0], spec.seeds[0])["data"]["window"])
    out: list[VariantSummary] = []
    for task in spec.tasks:
        for v in spec.variants:
            rs = sorted(by_key.get((task, v.label), []), key=lambda r: r.seed)
            if not rs:
                continue
            model = spec.run_config(task, v, spec.seeds[0])["model"]
            plan = plans[v.label]
            tr = mean_std([r.train_mse for r in rs])
            te = mean_std([r.test_mse for r in rs])
            tail = mean_std([sum(r.test_curve[-TAIL_EPOCHS:]) / len(r.test_curve[-TAIL_EPOCHS:]) for r in rs])
            out.append(VariantSummary(
                task=task, label=v.label, group=v.group,
                n_qubits=model.get("n_qubits") if model["kind"] == "qlstm" else None,
                qpu_qubits=(max(plan.fragment_widths) if plan else model.get("n_qubits"))
                if model["kind"] == "qlstm" else None,
                mode=model.get("mode", "exact") if model["kind"] == "qlstm" else "classical",
                num_parameters=rs[0].num_parameters, seeds=len(rs),
                train_mse_mean=tr[0], train_mse_std=tr[1], test_mse_mean=te[0], test_mse_std=te[1],
                test_mse_tail_mean=tail[0], test_mse_tail_std=tail[1],
                wall_seconds_mean=mean_std([r.wall_seconds for r in rs])[0],
                num_fragments=plan.num_fragments if plan else None,
                num_cuts=plan.num_cuts if plan else None,
                sampling_overhead=plan.sampling_overhead if plan else None,
                subexperiments_per_eval=plan.num_subexperiments if plan else None,
                subexperiments_per_step=window * plan.num_subexperiments if plan else None,
                plan_matches_run=_plan_matches(plan, rs[0].cut),
                reference=v.reference, centralised=v.centralised,
            ))
    index = {(s.task, s.label): s for s in out}
    for s in out:
        if s.reference and (s.task, s.reference) in index:
            mine = {r.seed: r for r in runs if r.task == s.task and r.label == s.label}
            ref = {r.seed: r for r in runs if r.task == s.task and r.label == s.reference}
            diffs = [
                max(abs(a - b) for a, b in zip(mine[k].train_curve + mine[k].test_curve,
                                               ref[k].train_curve + ref[k].test_curve))
                for k in mine if k in ref
            ]
            s.curve_max_abs_diff_vs_reference = max(diffs) if diffs else None
        if s.centralised and (s.task, s.centralised) in index:
            c = index[(s.task, s.centralised)]
            s.test_mse_ratio_vs_centralised = s.test_mse_mean / c.test_mse_mean
            s.test_mse_tail_ratio_vs_centralised = s.test_mse_tail_mean / c.test_mse_tail_mean
    return out


TABLE_COLUMNS = (
    ("task", "task"), ("label", "model"), ("group", "group"), ("n_qubits", "qubits"),
    ("qpu_qubits", "qubits per QPU"), ("mode", "mode"), ("num_parameters", "parameters"), ("seeds", "seeds"),
    ("train_mse", "train MSE (mean ± std)"), ("test_mse", "test MSE (mean ± std)"),
    ("test_tail", f"test MSE, last {TAIL_EPOCHS} epochs averaged (mean ± std)"),
    ("wall", "wall time per run (s)"), ("num_cuts", "cuts"), ("sampling_overhead", "sampling overhead"),
    ("subexperiments_per_eval", "sub-experiments per circuit evaluation"),
    ("subexperiments_per_step", "sub-experiments per training step (forward)"),
)
CSV_COLUMNS = tuple(f.name for f in VariantSummary.__dataclass_fields__.values())


def _table_row(s: VariantSummary) -> dict[str, Any]:
    dash = "-"
    return {
        "task": s.task, "label": s.label, "group": s.group,
        "n_qubits": s.n_qubits if s.n_qubits is not None else dash,
        "qpu_qubits": s.qpu_qubits if s.qpu_qubits is not None else dash,
        "mode": s.mode, "num_parameters": s.num_parameters, "seeds": s.seeds,
        "train_mse": fmt_mean_std(s.train_mse_mean, s.train_mse_std),
        "test_mse": fmt_mean_std(s.test_mse_mean, s.test_mse_std),
        "test_tail": fmt_mean_std(s.test_mse_tail_mean, s.test_mse_tail_std),
        "wall": f"{s.wall_seconds_mean:.1f}",
        "num_cuts": s.num_cuts if s.num_cuts is not None else dash,
        "sampling_overhead": f"{s.sampling_overhead:g}" if s.sampling_overhead is not None else dash,
        "subexperiments_per_eval": s.subexperiments_per_eval if s.subexperiments_per_eval is not None else dash,
        "subexperiments_per_step": s.subexperiments_per_step if s.subexperiments_per_step is not None else dash,
    }


def render_markdown(spec: CompareSpec, summaries: Sequence[VariantSummary], total_seconds: float) -> str:
    window = spec.run_config(spec.tasks[0], spec.variants[0], spec.seeds[0])["data"]["window"]
    lines = [
        f"# Comparison `{spec.name}`",
        "",
        f"Tasks {', '.join(spec.tasks)}; seeds {list(spec.seeds)}; {spec.epochs} epochs per run; "
        f"MSE on the series scaled to [-1, 1] after the last epoch. Study wall time {total_seconds / 60:.1f} min "
        "(runs reused from an earlier call count with their original time).",
        "",
        "Cut columns come from the partitioner's plan of one gate circuit (`-`: not planned, the "
        "circuit runs whole on one QPU). Sub-experiments per training step (forward) = window "
        f"({window}) x sub-experiments per evaluation; each carries the 4 LSTM gates x batch as "
        "parameter bindings; parameter-shift re-runs for gradients are not counted.",
        "",
        markdown_table([_table_row(s) for s in summaries], TABLE_COLUMNS),
    ]
    dist = [s for s in summaries if s.test_mse_ratio_vs_centralised is not None]
    if dist:
        lines += ["", "## Distributed versus centralised (same total qubits)", "",
                  markdown_table([{
                      "task": s.task, "label": s.label, "centralised": s.centralised,
                      "ratio": f"{s.test_mse_ratio_vs_centralised:.3f}",
                      "within": "yes" if s.test_mse_ratio_vs_centralised <= 1.10 else "no",
                      "tail": f"{s.test_mse_tail_ratio_vs_centralised:.3f}",
                      "tail_within": "yes" if s.test_mse_tail_ratio_vs_centralised <= 1.10 else "no",
                  } for s in dist], (("task", "task"), ("label", "distributed model"),
                                     ("centralised", "centralised model"),
                                     ("ratio", "final test MSE ratio (means over seeds)"),
                                     ("within", "not worse than +10%"),
                                     ("tail", f"last-{TAIL_EPOCHS}-epoch test MSE ratio"),
                                     ("tail_within", "not worse than +10%")))]
    cuts = [s for s in summaries if s.curve_max_abs_diff_vs_reference is not None]
    if cuts:
        lines += ["", "## Cut-exact runs versus the same circuit in exact mode", "",
                  markdown_table([{
                      "task": s.task, "label": s.label, "reference": s.reference,
                      "diff": f"{s.curve_max_abs_diff_vs_reference:.1e}",
                      "plan": {True: "yes", False: "NO", None: "-"}[s.plan_matches_run],
                  } for s in cuts], (("task", "task"), ("label", "cut model"), ("reference", "exact model"),
                                     ("diff", "max abs difference of loss curves (all epochs, seeds)"),
                                     ("plan", "run's cut summary = partitioner plan")))]
    return "\n".join(lines) + "\n"


def run_compare(
    spec: CompareSpec,
    out: str | Path,
    results_dir: str | Path,
    *,
    quiet: bool = False,
    threads: int = 1,
) -> CompareResult:
    """Run every (task, variant, seed) of ``spec`` and write the summary to ``results_dir``."""
    from dqlstm.studies.plots import plot_compare_losses, plot_compare_predictions, plot_cut_vs_exact

    out, results = Path(out), Path(results_dir)
    jobs = [(t, v, s) for t in spec.tasks for v in spec.variants for s in spec.seeds]
    runs: list[RunRecord] = []
    t0 = time.perf_counter()
    with study_torch_settings(threads):
        with Progress(len(jobs), label="compare: run", desc=f"compare {spec.name}", unit="run", quiet=quiet) as bar:
            for task, variant, seed in jobs:
                bar.show(f"{task} {variant.label} seed {seed}")
                run = run_one(spec, task, variant, seed, out)
                runs.append(run)
                how = "reused" if run.reused else f"done ({duration(run.wall_seconds)})"
                bar.advance(line=f"{task} / {variant.label} / seed {seed} {how}, test MSE {run.test_mse:.2e}")
    total = sum(r.wall_seconds for r in runs) if all(r.reused for r in runs) else time.perf_counter() - t0
    summaries = summarise(spec, runs)
    results.mkdir(parents=True, exist_ok=True)
    files = [
        write_csv(results / "table.csv", [asdict(s) for s in summaries], CSV_COLUMNS),
        results / "table.md",
        write_json(results / "summary.json", {
            "provenance": provenance(), "spec": asdict(spec), "summaries": [asdict(s) for s in summaries],
            "runs": [asdict(r) for r in runs], "study_seconds": total,
        }),
    ]
    (results / "table.md").write_text(render_markdown(spec, summaries, total) + provenance_note())
    for task in spec.tasks:
        files.append(plot_compare_losses(results / f"loss_{task}.png", spec, task, runs))
        if spec.prediction_variants:
            preds = {
                r.label: json.loads((Path(r.folder) / PREDICTIONS_FILE).read_text())
                for r in runs if r.task == task and r.seed == spec.seeds[0] and r.label in spec.prediction_variants
            }
            files.append(plot_compare_predictions(results / f"predictions_{task}.png", task, preds, spec.seeds[0]))
    pairs = [s for s in summaries if s.curve_max_abs_diff_vs_reference is not None]
    if pairs:
        files.append(plot_cut_vs_exact(results / "cut_vs_exact.png", pairs, runs))
    return CompareResult(spec, runs, summaries, results, files)
