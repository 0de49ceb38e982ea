"""Classical vs centralised vs distributed QLSTM, against naive baselines, over many seeds.

The comparison of Liu, Chen et al. 2025 (arXiv 2503.14088), with what a referee
asks for: naive forecasts as rows of every table, many seeds, intervals and an
equivalence test. A study spec (TOML) names tasks, seeds, a partial run config
shared by every run (``[base]``) and the model variants (``[[variant]]``)::

    [study]
    name = "chen"
    tasks = ["narma5", "narma10", "oscillator"]
    seeds = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    epochs = 100
    prediction_variants = ["LSTM", "QLSTM 6q"]   # drawn in the prediction plots
    baselines = ["persistence", "linear-extrapolation", "ar"]  # default: every one that applies but "mean"
    compare_to = ["LSTM"]      # every trained model is also compared with these variants
    margin = 0.10              # equivalence margin of distributed vs centralised (ratio 0.9 .. 1.1)
    alpha = 0.05               # TOST level

    [base.train]               # any [data]/[model]/[train] keys of a run config
    lr = 0.01

    [[variant]]
    label = "dQLSTM 2x3"
    group = "distributed"      # legend/table grouping
    model = { kind = "qlstm", ansatz = "modular", n_qubits = 6, links = 0, mode = "cut-exact", max_qubits = 3 }
    centralised = "QLSTM 6q"   # equivalence-tested against this centralised model
    reference = "..."          # optional: the same circuit in exact mode (curves must agree)

    [quick]                    # what --quick changes
    tasks = [...]; seeds = [...]; epochs = 3; variants = [labels]; length = 120

Every (task, variant, seed) is one :func:`dqlstm.training.run_training` call
in its own folder ``<out>/runs/<task>/<variant>/seed<k>``; a finished run
with the same config is reused, so an interrupted study continues where it
stopped. ``workers > 1`` trains that many runs at once in separate processes.
The naive baselines (:mod:`dqlstm.baselines`) are computed on each (task,
seed)'s data, the same windows, split and scaling the models see. The
summary (markdown + CSV table, JSON with per-epoch curves, PNG plots) goes to
the results folder; its numbers and words come from
:mod:`dqlstm.studies.compare_tables`.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import re
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dqlstm.config import LSTM_KEYS, QLSTM_KEYS, SCHEMA, ConfigError, resolve_config
from dqlstm.progress import Progress, duration
from dqlstm.provenance import provenance, provenance_note
from dqlstm.runs import write_json
from dqlstm.studies.common import read_spec, study_torch_settings, write_csv
from dqlstm.studies.compare_tables import (
    BASELINE_LABELS,
    TAIL_EPOCHS,
    BaselineRecord,
    ModelSummary,
    PairedComparison,
    RunRecord,
    baseline_summaries,
    model_summary,
    paired,
    render_cut_sections,
    render_task,
)

_STUDY_KEYS = {
    "name",
    "tasks",
    "seeds",
    "epochs",
    "prediction_variants",
    "description",
    "baselines",
    "compare_to",
    "margin",
    "alpha",
}
_VARIANT_KEYS = {"label", "group", "model", "reference", "centralised"}
_QUICK_KEYS = {"tasks", "seeds", "epochs", "variants", "length"}
DEFAULT_BASELINES = ("persistence", "linear-extrapolation", "ar", "arx")  # those that apply to the data
PREDICTIONS_FILE = "predictions.json"
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
    centralised: str | None = None  # label of the centralised QLSTM it is equivalence-tested against


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
    baselines: tuple[str, ...] | None = None  # None: every default baseline that applies
    compare_to: tuple[str, ...] = ()
    margin: float = 0.10
    alpha: float = 0.05

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
        foreign = (
            QLSTM_KEYS if kind == "lstm" else LSTM_KEYS
        )  # shared [base.model] keys the kind does not take
        raw["model"] = {k: v for k, v in base_model.items() if k not in foreign} | variant.model
        raw.setdefault("train", {}).update({"seed": seed, "epochs": self.epochs})
        return resolve_config(raw, source=f"study {self.name!r}, variant {variant.label!r}, task {task!r}")

    def data_config(self, task: str, seed: int) -> dict[str, Any]:
        """The ``[data]`` table of ``task`` and ``seed``: the same for every variant (variants set the model)."""
        return self.run_config(task, self.variants[0], seed)["data"]

    def baseline_names(self, task: str) -> tuple[str, ...]:
        """The naive baselines of ``task``: the spec's list, else every default one that applies."""
        data = self.data_config(task, self.seeds[0])
        applies = {
            "mean": True,
            "persistence": True,
            "ar": True,
            "linear-extrapolation": int(data["window"]) >= 2,
            "arx": data.get("features") == "y+u",
        }
        if self.baselines is None:
            return tuple(b for b in DEFAULT_BASELINES if applies[b])
        bad = [b for b in self.baselines if not applies[b]]
        if bad:
            raise ConfigError(
                f"study {self.name!r}: baselines {bad} do not apply to task {task!r} "
                "(arx needs data.features = 'y+u', linear-extrapolation a window >= 2)"
            )
        return self.baselines


def _check_study_numbers(path: str | Path, study: Mapping[str, Any]) -> None:
    margin, alpha = study.get("margin", 0.10), study.get("alpha", 0.05)
    if not (isinstance(margin, (int, float)) and 0 < margin < 1):
        raise ConfigError(f"{path}: [study] margin must be a number in (0, 1) (0.10 = +-10%), got {margin!r}")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 0.5):
        raise ConfigError(f"{path}: [study] alpha must be in (0, 0.5), got {alpha!r}")
    unknown = [b for b in study.get("baselines", []) if b not in BASELINE_LABELS]
    if unknown:
        raise ConfigError(f"{path}: [study] unknown baselines {unknown}; known: {sorted(BASELINE_LABELS)}")


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
    _check_study_numbers(path, study)
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
            Variant(
                str(t["label"]),
                str(t.get("group", "")),
                dict(t["model"]),
                t.get("reference"),
                t.get("centralised"),
            )
        )
    labels = [v.label for v in all_variants]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"{path}: variant labels must be unique, got {labels}")
    if set(labels) & set(BASELINE_LABELS.values()):
        raise ConfigError(
            f"{path}: variant labels {sorted(set(labels) & set(BASELINE_LABELS.values()))} "
            "are names of naive baselines"
        )
    for v in all_variants:
        for who in (v.reference, v.centralised):
            if who is not None and who not in labels:
                raise ConfigError(f"{path}: variant {v.label!r} refers to unknown variant {who!r}")
    for who in study.get("compare_to", []):
        if who not in labels:
            raise ConfigError(f"{path}: [study] compare_to names unknown variant {who!r}")
    chosen = list(variants) if variants is not None else quick_t.get("variants")
    if chosen is not None:
        missing = [c for c in chosen if c not in labels]
        if missing:
            raise ConfigError(f"{path}: unknown variants {missing}; known: {labels}")
        all_variants = [v for v in all_variants if v.label in chosen]
    kept = {v.label for v in all_variants}
    # a reference/centralised partner that is not run is simply not compared
    all_variants = [
        Variant(
            v.label,
            v.group,
            v.model,
            v.reference if v.reference in kept else None,
            v.centralised if v.centralised in kept else None,
        )
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
        baselines=tuple(study["baselines"]) if "baselines" in study else None,
        compare_to=tuple(c for c in study.get("compare_to", ()) if c in kept),
        margin=float(study.get("margin", 0.10)),
        alpha=float(study.get("alpha", 0.05)),
    )
    # every run config must resolve, and every baseline apply, before anything runs
    for task in spec.tasks:
        for v in spec.variants:
            spec.run_config(task, v, spec.seeds[0])
        spec.baseline_names(task)
    return spec


def slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-").lower()


@dataclass
class CompareResult:
    spec: CompareSpec
    runs: list[RunRecord]
    baselines: list[BaselineRecord]
    summaries: list[ModelSummary]
    comparisons: list[PairedComparison]
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
        model_cfg["ansatz"],
        int(model_cfg["n_qubits"]),
        int(model_cfg["layers"]),
        module_size=int(model_cfg.get("module_size", 3)),
        links=int(model_cfg.get("links", 0)),
    )
    return plan_cuts(vqc.circuit, int(model_cfg["max_qubits"]))


def _finished_run(folder: Path, cfg: Mapping[str, Any]) -> dict[str, Any] | None:
    """metrics.json of a finished run in ``folder`` made with ``cfg``, else ``None``."""
    mpath = folder / "metrics.json"
    if not (
        mpath.is_file() and (folder / PREDICTIONS_FILE).is_file() and (folder / STUDY_RUN_FILE).is_file()
    ):
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
        "train_index": train_idx.tolist(),
        "train_pred": result.train_pred.reshape(-1).tolist(),
        "test_index": test_idx.tolist(),
        "test_pred": result.test_pred.reshape(-1).tolist(),
    }


def run_folder(out: Path, task: str, label: str, seed: int) -> Path:
    return out / "runs" / task / slug(label) / f"seed{seed}"


def run_one(
    spec: CompareSpec, task: str, variant: Variant, seed: int, out: Path, test_var: float
) -> RunRecord:
    """Train (or reuse) one run and return its record.

    ``test_var``: population variance of the test targets (scaled units), so
    ``NRMSE = sqrt(test MSE / test_var)`` (:func:`dqlstm.metrics.nrmse`).
    """
    from dqlstm.training.run import run_training

    cfg = spec.run_config(task, variant, seed)
    folder = run_folder(out, task, variant.label, seed)
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
    test_mse = float(metrics["final"]["test_loss"])
    return RunRecord(
        task=task,
        label=variant.label,
        seed=seed,
        folder=str(folder),
        num_parameters=int(metrics["num_parameters"]),
        train_mse=float(metrics["final"]["train_loss"]),
        test_mse=test_mse,
        test_nrmse=math.sqrt(test_mse / test_var),
        wall_seconds=float(wall),
        train_curve=[float(e["train_loss"]) for e in metrics["epochs"]],
        test_curve=[float(e["test_loss"]) for e in metrics["epochs"]],
        cut=metrics.get("cut"),
        reused=reused,
    )


def _run_in_worker(
    spec: CompareSpec, task: str, variant: Variant, seed: int, out: Path, test_var: float, threads: int
) -> RunRecord:
    """:func:`run_one` in a worker process, with the study's torch settings."""
    with study_torch_settings(threads):
        return run_one(spec, task, variant, seed, out, test_var)


def compute_baselines(spec: CompareSpec) -> tuple[list[BaselineRecord], dict[tuple[str, int], float], dict]:
    """Every naive baseline on every (task, seed)'s data.

    Returns the records, the test-target variance per (task, seed) and the
    baselines' predictions of the first seed per task (for the plots).
    """
    from dqlstm.baselines import naive_baselines
    from dqlstm.data.dataset import load_dataset

    records, test_var, first_preds = [], {}, {}
    for task in spec.tasks:
        names = spec.baseline_names(task)
        for seed in spec.seeds:
            data = load_dataset(spec.data_config(task, seed))
            test_var[(task, seed)] = float(np.var(data.y_test))
            results = naive_baselines(data)
            for name in names:
                r = results[name]
                records.append(
                    BaselineRecord(task, name, seed, r.train_mse, r.test_mse, r.test_nrmse, dict(r.orders))
                )
            if seed == spec.seeds[0]:
                train_idx, test_idx = data.target_indices()
                first_preds[task] = {
                    BASELINE_LABELS[name]: {
                        "train_index": train_idx.tolist(),
                        "train_pred": results[name].train_pred.tolist(),
                        "test_index": test_idx.tolist(),
                        "test_pred": results[name].test_pred.tolist(),
                    }
                    for name in names
                }
    return records, test_var, first_preds


def summarise(
    spec: CompareSpec, runs: Sequence[RunRecord], baselines: Sequence[BaselineRecord]
) -> tuple[list[ModelSummary], list[PairedComparison]]:
    """Rows (baselines first, then the variants) and paired comparisons of every task."""
    plans = {
        v.label: variant_plan(spec.run_config(spec.tasks[0], v, spec.seeds[0])["model"])
        for v in spec.variants
    }
    rows: list[ModelSummary] = []
    comps: list[PairedComparison] = []
    for task in spec.tasks:
        base_rows = baseline_summaries(task, baselines)
        rows += base_rows
        mse = {
            v.label: {r.seed: r.test_mse for r in runs if r.task == task and r.label == v.label}
            for v in spec.variants
        }
        base_mse = {BASELINE_LABELS[b.name]: {} for b in baselines if b.task == task}
        for b in baselines:
            if b.task == task:
                base_mse[BASELINE_LABELS[b.name]][b.seed] = b.test_mse
        task_rows = {}
        for v in spec.variants:
            rs = [r for r in runs if r.task == task and r.label == v.label]
            if not rs:
                continue
            s = model_summary(
                task, v.label, v.group, spec.run_config(task, v, spec.seeds[0])["model"], rs, plans[v.label]
            )
            s.plan_matches_run = _plan_matches(plans[v.label], rs[0].cut)
            s.reference = v.reference
            task_rows[v.label] = s
            rows.append(s)
        for v in spec.variants:
            if v.label not in task_rows:
                continue
            for name, per_seed in base_mse.items():
                c = paired(task, v.label, name, "baseline", mse[v.label], per_seed)
                comps += [c] if c else []
            for other in spec.compare_to:
                if other != v.label and other in task_rows:
                    c = paired(task, v.label, other, "model", mse[v.label], mse[other])
                    comps += [c] if c else []
            if v.centralised and v.centralised in task_rows:
                c = paired(
                    task,
                    v.label,
                    v.centralised,
                    "centralised",
                    mse[v.label],
                    mse[v.centralised],
                    margin=spec.margin,
                    alpha=spec.alpha,
                )
                comps += [c] if c else []
            if v.reference and v.reference in task_rows:
                task_rows[v.label].curve_max_abs_diff_vs_reference = _curve_diff(
                    runs, task, v.label, v.reference
                )
    return rows, comps


def _curve_diff(runs: Sequence[RunRecord], task: str, label: str, reference: str) -> float | None:
    mine = {r.seed: r for r in runs if r.task == task and r.label == label}
    ref = {r.seed: r for r in runs if r.task == task and r.label == reference}
    diffs = [
        max(
            abs(a - b)
            for a, b in zip(mine[k].train_curve + mine[k].test_curve, ref[k].train_curve + ref[k].test_curve)
        )
        for k in mine
        if k in ref
    ]
    return max(diffs) if diffs else None


def _plan_matches(plan, cut: Mapping[str, Any] | None) -> bool | None:
    if cut is None or plan is None:
        return None
    keys = ("num_fragments", "num_cuts", "sampling_overhead", "num_subexperiments")
    d = plan.to_dict()
    return all(k not in cut or math.isclose(float(cut[k]), float(d[k]), rel_tol=1e-12) for k in keys)


CSV_COLUMNS = tuple(f for f in ModelSummary.__dataclass_fields__)
COMPARISON_CSV_COLUMNS = tuple(f for f in PairedComparison.__dataclass_fields__ if f != "ratios")


def render_markdown(
    spec: CompareSpec,
    summaries: Sequence[ModelSummary],
    comps: Sequence[PairedComparison],
    total_seconds: float,
) -> str:
    data = spec.data_config(spec.tasks[0], spec.seeds[0])
    window = int(data["window"])
    fit = "the training part" if data.get("scale") == "train" else "the whole series"
    lines = [
        f"# Comparison `{spec.name}`",
        "",
        *([spec.description, ""] if spec.description else []),
        (
            f"Tasks {', '.join(spec.tasks)}; seeds {list(spec.seeds)}; {spec.epochs} epochs per run; data "
            f"features `{data.get('features', 'y')}`, NARMA input `{data.get('input', 'sine')}`, window {window}, "
            f"warm-up {data.get('warmup', 0)} points dropped; MinMax scaler fitted on {fit}. Training time "
            f"{total_seconds / 60:.0f} min summed over the runs (each run's own wall clock, one thread; the "
            "machine's 2 cores were shared, so times are upper bounds)."
        ),
        "",
        (
            "Errors are those of the final model (after the last epoch) on the test windows, in scaled units "
            "(series mapped to [-1, 1]). NRMSE = sqrt(MSE / variance of the test targets): 1 is the error of "
            "predicting the test mean, 0 a perfect forecast. Naive baselines are computed on the same windows of "
            "each seed's data (AR/ARX orders chosen on the last "
            f"{data.get('validation_fraction', 0.2):.0%} of the training windows, refitted on all of them). "
            f"Intervals: 95% percentile bootstrap over the seeds (10,000 resamples, seeded). "
            f"'{TAIL_EPOCHS}/{TAIL_EPOCHS}': the mean training loss of the last {TAIL_EPOCHS} epochs over that of "
            f"the {TAIL_EPOCHS} before (median over seeds; near 1.00 = training loss flat)."
        ),
        "",
    ]
    for task in spec.tasks:
        lines += render_task(task, [s for s in summaries if s.task == task], comps, spec.margin, spec.alpha)
    lines += render_cut_sections(summaries, window)
    return "\n".join(lines).rstrip() + "\n"


def _jobs(spec: CompareSpec) -> list[tuple[str, Variant, int]]:
    # seed-major: an interrupted study has every model on every task for its first seeds
    return [(t, v, s) for s in spec.seeds for t in spec.tasks for v in spec.variants]


def run_compare(
    spec: CompareSpec,
    out: str | Path,
    results_dir: str | Path,
    *,
    quiet: bool = False,
    threads: int = 1,
    workers: int = 1,
) -> CompareResult:
    """Run every (task, variant, seed) of ``spec`` and write the summary to ``results_dir``.

    ``workers > 1`` trains runs in that many processes (spawned: a clean torch
    in each); the results do not depend on it (each run is seeded by itself).
    """
    from dqlstm.studies.plots import (
        plot_compare_intervals,
        plot_compare_losses,
        plot_compare_predictions,
        plot_cut_vs_exact,
    )

    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    out, results = Path(out), Path(results_dir)
    baselines, test_var, baseline_preds = compute_baselines(spec)
    jobs = _jobs(spec)
    runs: list[RunRecord] = []
    t0 = time.perf_counter()
    with Progress(
        len(jobs), label="compare: run", desc=f"compare {spec.name}", unit="run", quiet=quiet
    ) as bar:

        def done(run: RunRecord) -> None:
            runs.append(run)
            how = "reused" if run.reused else f"done ({duration(run.wall_seconds)})"
            bar.advance(line=f"{run.task} / {run.label} / seed {run.seed} {how}, test MSE {run.test_mse:.2e}")

        if workers == 1:
            with study_torch_settings(threads):
                for task, variant, seed in jobs:
                    bar.show(f"{task} {variant.label} seed {seed}")
                    done(run_one(spec, task, variant, seed, out, test_var[(task, seed)]))
        else:
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                futures = [
                    pool.submit(_run_in_worker, spec, t, v, s, out, test_var[(t, s)], threads)
                    for t, v, s in jobs
                ]
                for fut in as_completed(futures):
                    done(fut.result())
    order = {(t, v.label, s): i for i, (t, v, s) in enumerate(jobs)}
    runs.sort(key=lambda r: order[(r.task, r.label, r.seed)])
    call_seconds = time.perf_counter() - t0
    total = sum(r.wall_seconds for r in runs)  # each run's own wall clock, whichever call trained it
    summaries, comps = summarise(spec, runs, baselines)
    results.mkdir(parents=True, exist_ok=True)
    files = [
        write_csv(results / "table.csv", [asdict(s) for s in summaries], CSV_COLUMNS),
        write_csv(results / "comparisons.csv", [asdict(c) for c in comps], COMPARISON_CSV_COLUMNS),
        results / "table.md",
        write_json(
            results / "summary.json",
            {
                "provenance": provenance(),
                "spec": asdict(spec),
                "summaries": [asdict(s) for s in summaries],
                "comparisons": [asdict(c) for c in comps],
                "baselines": [asdict(b) for b in baselines],
                "runs": [asdict(r) for r in runs],
                "run_seconds_total": total,
                "call_seconds": call_seconds,
                "workers": workers,
            },
        ),
    ]
    (results / "table.md").write_text(render_markdown(spec, summaries, comps, total) + provenance_note())
    for task in spec.tasks:
        task_rows = [s for s in summaries if s.task == task]
        files.append(plot_compare_losses(results / f"loss_{task}.png", spec, task, runs, task_rows))
        files.append(plot_compare_intervals(results / f"intervals_{task}.png", task, task_rows))
        if spec.prediction_variants:
            preds = {
                r.label: json.loads((Path(r.folder) / PREDICTIONS_FILE).read_text())
                for r in runs
                if r.task == task and r.seed == spec.seeds[0] and r.label in spec.prediction_variants
            }
            best = min(
                (s for s in task_rows if s.kind == "baseline"), key=lambda s: s.test_mse_mean, default=None
            )
            extra = {f"{best.label} (best baseline)": baseline_preds[task][best.label]} if best else {}
            files.append(
                plot_compare_predictions(
                    results / f"predictions_{task}.png", task, preds, spec.seeds[0], extra
                )
            )
    pairs = [s for s in summaries if s.curve_max_abs_diff_vs_reference is not None]
    if pairs:
        files.append(plot_cut_vs_exact(results / "cut_vs_exact.png", pairs, runs))
    return CompareResult(spec, runs, baselines, summaries, comps, results, files)
