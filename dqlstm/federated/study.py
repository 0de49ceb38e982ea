"""Seeds x shard partitions study of federated SUSY-style classifiers, with centralised baselines.

``python -m dqlstm.federated.study SPEC [--out DIR] [--results DIR] [--jobs N] [--quiet]``

The spec (``experiments/configs/federated_susy_study.toml``)::

    [study]     name, seeds (list), rounds, partitions (list of PARTITIONS), alpha (label-skew),
                federated = {label = "federated config (path relative to the spec)", ...},
                centralised = {label = "the same model with clients = 1", ...} (optional: the
                cost of federation, run once per seed)
    [baselines] names (subset of logistic|mlp|vqc|dressed-vqc), epochs, mlp_hidden, vqc_qubits,
                vqc_layers, dressed_qubits, dressed_layers

Every federated config must describe the same data (``[data]``, with a fixed ``seed`` so
that every training seed sees the same train/test split) and the same local training
(``[train]``); the baselines train centrally with that ``[train]`` table. A training seed
fixes the initial parameters, the shuffling and the label-skew draw (so two models with the
same seed and partition see identical client shards).

Runs go to ``DIR/runs/<label>_<partition>_s<seed>`` (resumed or skipped when already there)
and ``DIR/baselines/<name>_s<seed>.json``; the summary (per-seed records, means with
bootstrap 95% intervals, differences between models) goes to ``--results`` (default
``DIR/results``; the committed one is ``experiments/results/federated``).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from dqlstm.choices import PARTITIONS
from dqlstm.config import ConfigError, read_toml
from dqlstm.provenance import provenance
from dqlstm.runs import METRICS_FILE
from dqlstm.stats import bootstrap_ci, tost_log_ratio

BASELINE_NAMES = ("logistic", "mlp", "vqc", "dressed-vqc")
BASELINE_KEYS = {
    "names": list,
    "epochs": int,
    "mlp_hidden": int,
    "vqc_qubits": int,
    "vqc_layers": int,
    "dressed_qubits": int,
    "dressed_layers": int,
}
STUDY_KEYS = {
    "name": str,
    "seeds": list,
    "rounds": int,
    "partitions": list,
    "alpha": float,
    "federated": dict,
    "centralised": dict,
}
CENTRAL = "centralised"
RESAMPLES = 10_000
EQUIVALENCE_MARGIN = (0.99, 1.01)  # "within about 1%" (Sawaika et al. 2026), on the test ROC AUC


@dataclass(frozen=True)
class StudySpec:
    """A resolved study spec; ``federated`` maps a model label to its config file."""

    name: str
    seeds: tuple[int, ...]
    rounds: int
    partitions: tuple[str, ...]
    alpha: float
    federated: dict[str, Path]
    baselines: tuple[str, ...]
    epochs: int
    baseline_options: dict[str, int] = field(default_factory=dict)
    source: Path = Path(".")
    centralised: dict[str, Path] = field(default_factory=dict)  # label -> one-client config


def _typed(section: Mapping[str, Any], keys: Mapping[str, type], where: str) -> dict[str, Any]:
    unknown = sorted(set(section) - set(keys))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {list(keys)}")
    out = {}
    for name, value in section.items():
        want = keys[name]
        ok = (
            isinstance(value, (int, float)) and not isinstance(value, bool)
            if want is float
            else (isinstance(value, want) and not (want is int and isinstance(value, bool)))
        )
        if not ok:
            raise ConfigError(f"{where} {name}: expected {want.__name__}, got {value!r}")
        out[name] = float(value) if want is float else value
    return out


def load_study(path: str | Path) -> StudySpec:
    """Read and check a study spec; federated config paths are relative to the spec's folder."""
    path = Path(path)
    raw = read_toml(path)
    extra = sorted(set(raw) - {"study", "baselines"})
    if extra or "study" not in raw:
        raise ConfigError(f"{path}: needs a [study] table (and optionally [baselines]); unknown: {extra}")
    st = _typed(raw["study"], STUDY_KEYS, f"{path}: [study]")
    bl = _typed(raw.get("baselines", {}), BASELINE_KEYS, f"{path}: [baselines]")
    for key in ("name", "seeds", "rounds", "partitions", "federated"):
        if key not in st:
            raise ConfigError(f"{path}: [study] {key} is required")
    seeds = st["seeds"]
    if (
        not seeds
        or any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in seeds)
        or len(set(seeds)) != len(seeds)
    ):
        raise ConfigError(f"{path}: [study] seeds must be distinct non-negative integers, got {seeds}")
    bad = [p for p in st["partitions"] if p not in PARTITIONS]
    if not st["partitions"] or bad:
        raise ConfigError(
            f"{path}: [study] partitions must be a non-empty subset of {PARTITIONS}, got {st['partitions']}"
        )
    if st["rounds"] < 1:
        raise ConfigError(f"{path}: [study] rounds must be >= 1")
    alpha = st.get("alpha", 0.5)
    if not alpha > 0:
        raise ConfigError(f"{path}: [study] alpha must be > 0, got {alpha}")
    fed = {str(k): (path.parent / v).resolve() for k, v in st["federated"].items()}
    if not fed or any(not p.is_file() for p in fed.values()):
        raise ConfigError(
            f"{path}: [study] federated must map labels to existing config files, got {st['federated']}"
        )
    central = {str(k): (path.parent / v).resolve() for k, v in st.get("centralised", {}).items()}
    if any(k not in fed or not p.is_file() for k, p in central.items()):
        raise ConfigError(
            f"{path}: [study] centralised must map federated labels to existing config files, "
            f"got {st['centralised']}"
        )
    names = tuple(bl.get("names", BASELINE_NAMES))
    if any(n not in BASELINE_NAMES for n in names) or len(set(names)) != len(names):
        raise ConfigError(
            f"{path}: [baselines] names must be distinct names from {BASELINE_NAMES}, got {list(names)}"
        )
    overlap = set(names) & set(fed)
    if overlap:
        raise ConfigError(f"{path}: labels {sorted(overlap)} name both a baseline and a federated model")
    options = {k: int(v) for k, v in bl.items() if k not in ("names", "epochs")}
    if any(v < 1 for v in options.values()):
        raise ConfigError(f"{path}: [baselines] sizes must be >= 1, got {options}")
    epochs = int(bl.get("epochs", st["rounds"]))
    if epochs < 1:
        raise ConfigError(f"{path}: [baselines] epochs must be >= 1")
    return StudySpec(st["name"], tuple(seeds), st["rounds"], tuple(st["partitions"]), float(alpha), fed, names,
                     epochs, options, path, central)  # fmt: skip


def federated_config(spec: StudySpec, label: str, partition: str, seed: int) -> dict[str, Any]:
    """The resolved config of one run of the study (``partition`` CENTRAL: the one-client config)."""
    from dqlstm.federated.config import load_federated_config

    central = partition == CENTRAL
    path = spec.centralised[label] if central else spec.federated[label]
    overrides: dict[str, Any] = {
        "federated.seed": seed,
        "federated.rounds": spec.rounds,
        "federated.partition": None if central else partition,
        "federated.alpha": spec.alpha if partition == "label-skew" else None,
    }
    cfg = load_federated_config(path, overrides)
    if cfg["data"].get("task") not in ("susy", "susy-csv"):
        raise ConfigError(f"{path}: the study compares classifiers; [data] task must be tabular")
    if cfg["data"]["task"] == "susy" and "seed" not in read_toml(path).get("data", {}):
        raise ConfigError(f"{path}: [data] seed must be fixed so every training seed sees one split")
    if central and cfg["federated"]["clients"] != 1:
        raise ConfigError(f"{path}: a centralised reference needs [federated] clients = 1")
    return cfg


def check_shared(spec: StudySpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``[data]`` and ``[train]`` tables every federated config shares (error if they differ)."""
    first = None
    runs = [(m, spec.partitions[0]) for m in spec.federated] + [(m, CENTRAL) for m in spec.centralised]
    for label, partition in runs:
        cfg = federated_config(spec, label, partition, spec.seeds[0])
        if first is None:
            first = (label, cfg["data"], cfg["train"])
        elif (cfg["data"], cfg["train"]) != first[1:]:
            raise ConfigError(
                f"{spec.source}: {label} and {first[0]} differ in [data] or [train]; they must agree"
            )
    assert first is not None
    return first[1], first[2]


# --- jobs ---------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    kind: str  # "federated" | "baseline"
    label: str
    seed: int
    partition: str = CENTRAL

    def folder(self, out: Path) -> Path:
        if self.kind == "federated":
            return out / "runs" / f"{self.label}_{self.partition}_s{self.seed}"
        return out / "baselines" / f"{self.label}_s{self.seed}.json"


def study_jobs(spec: StudySpec) -> list[Job]:
    """Every run of the study, the slowest (quantum) first so parallel workers finish together."""
    jobs = [Job("federated", m, s, p) for m in spec.federated for p in spec.partitions for s in spec.seeds]
    jobs += [Job("federated", m, s, CENTRAL) for m in spec.centralised for s in spec.seeds]
    jobs += [Job("baseline", b, s) for b in spec.baselines for s in spec.seeds]
    return sorted(jobs, key=lambda j: (0 if "q" in j.label else 1, j.kind, j.label, j.partition, j.seed))


def run_job(spec: StudySpec, job: Job, out: Path, quiet: bool = True) -> Path:
    """Run one job unless its result is already there; return its result path."""
    import torch

    from dqlstm.federated.run import run_federated

    torch.set_num_threads(1)
    target = job.folder(out)
    if job.kind == "federated":
        metrics = target / METRICS_FILE
        if metrics.is_file() and json.loads(metrics.read_text()).get("finished"):
            return metrics
        cfg = federated_config(spec, job.label, job.partition, job.seed)
        run_federated(cfg, target, resume=(target / "checkpoint.pt").is_file(), quiet=quiet)
        return metrics
    if target.is_file():
        return target
    from dqlstm.federated.baselines import train_baseline
    from dqlstm.federated.tasks import load_task

    data, train = check_shared(spec)
    result = train_baseline(
        job.label, load_task(data), seed=job.seed, epochs=spec.epochs, optimizer=train["optimizer"],
        lr=float(train["lr"]), batch_size=int(train["batch_size"]), options=spec.baseline_options,
    )  # fmt: skip
    payload = {
        **result.to_dict(),
        "data": data,
        "train": train,
        "options": spec.baseline_options,
        "provenance": provenance(),
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n")
    tmp.replace(target)
    if not quiet:
        print(
            f"{job.label} seed {job.seed}: test AUC {result.final['test_auc']:.4f} ({result.seconds:.0f} s)"
        )
    return target


def run_study(spec: StudySpec, out: Path, jobs: int = 1, quiet: bool = True) -> list[Path]:
    """Run (or find) every job; ``jobs`` worker processes (spawned, one torch thread each)."""
    check_shared(spec)
    todo = study_jobs(spec)
    if jobs <= 1:
        return [run_job(spec, j, out, quiet) for j in todo]
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_job, spec, j, out, quiet) for j in todo]
        return [f.result() for f in futures]


# --- aggregation --------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One trained model's final test scores."""

    model: str
    setting: str  # partition of a federated run, or "centralised"
    seed: int
    parameters: int
    test_auc: float
    test_accuracy: float
    test_loss: float
    seconds: float
    signal_fractions: tuple[float, ...] = ()  # per client (federated runs)


def collect(spec: StudySpec, out: Path) -> list[Record]:
    """The records of every finished job (error naming the first one missing)."""
    records = []
    for job in study_jobs(spec):
        path = job.folder(out) / METRICS_FILE if job.kind == "federated" else job.folder(out)
        if not path.is_file():
            raise FileNotFoundError(f"{job.kind} {job.label} ({job.partition}, seed {job.seed}): no {path}")
        m = json.loads(path.read_text())
        if job.kind == "federated":
            if not m.get("finished"):
                raise ValueError(f"{path}: the run is not finished")
            f = m["final"]
            fr = tuple(c.get("signal_fraction", float("nan")) for c in m["clients"])
            secs = sum(r["seconds"] for r in m["rounds"])
            records.append(Record(job.label, job.partition, job.seed, m["num_parameters"], f["test_auc"],
                                  f["test_accuracy"], f["test_loss"], secs, fr))  # fmt: skip
        else:
            f = m["final"]
            records.append(Record(job.label, CENTRAL, job.seed, m["parameters"], f["test_auc"],
                                  f["test_accuracy"], f["test_loss"], m["seconds"]))  # fmt: skip
    return records


def mean_interval(values: Sequence[float], seed: int = 0) -> dict[str, float]:
    """Mean and percentile bootstrap 95% interval (``dqlstm.stats.bootstrap_ci``)."""
    ci = bootstrap_ci(values, resamples=RESAMPLES, seed=seed)
    return {"mean": ci.estimate, "low": ci.low, "high": ci.high, "n": ci.n}


def difference_interval(
    a: Sequence[float], b: Sequence[float], paired: bool, seed: int = 0
) -> dict[str, float]:
    """``mean(a) - mean(b)`` with a percentile bootstrap 95% interval.

    Paired (same seeds, same shards): the bootstrap of the per-seed differences.
    Unpaired (different model families, whose seeds mean different things): ``a``
    and ``b`` are resampled independently and the difference of the resampled means
    is taken.
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if paired:
        if x.shape != y.shape:
            raise ValueError(f"paired samples need the same length, got {x.size} and {y.size}")
        return mean_interval(x - y, seed)
    if x.size < 1 or y.size < 1:
        raise ValueError("both samples need at least one value")
    rng = np.random.default_rng(seed)
    bx = x[rng.integers(0, x.size, size=(RESAMPLES, x.size))].mean(axis=1)
    by = y[rng.integers(0, y.size, size=(RESAMPLES, y.size))].mean(axis=1)
    low, high = np.quantile(bx - by, [0.025, 0.975])
    return {
        "mean": float(x.mean() - y.mean()),
        "low": float(low),
        "high": float(high),
        "n": int(min(x.size, y.size)),
    }


def verdict(d: Mapping[str, float]) -> str:
    """``higher`` / ``lower`` when the 95% interval excludes 0, else ``no difference shown``."""
    return "higher" if d["low"] > 0 else "lower" if d["high"] < 0 else "no difference shown"


def _values(records: Sequence[Record], model: str, setting: str, metric: str) -> list[float]:
    rs = sorted((r for r in records if r.model == model and r.setting == setting), key=lambda r: r.seed)
    return [float(getattr(r, metric)) for r in rs]


def summarise(spec: StudySpec, records: Sequence[Record]) -> dict[str, Any]:
    """Per (model, setting) means with intervals, and the comparisons the README reads."""
    groups = sorted({(r.model, r.setting) for r in records}, key=lambda g: (g[1] == CENTRAL, g[1], g[0]))
    rows = []
    for model, setting in groups:
        rs = [r for r in records if r.model == model and r.setting == setting]
        rows.append({
            "model": model,
            "setting": setting,
            "parameters": rs[0].parameters,
            "seeds": sorted(r.seed for r in rs),
            **{f"{m}": mean_interval(_values(records, model, setting, m)) for m in ("test_auc", "test_accuracy", "test_loss")},
            "seconds_per_run": float(np.mean([r.seconds for r in rs])),
        })  # fmt: skip
    comparisons = []
    fed = list(spec.federated)
    quantum = [m for m in fed if "qlstm" in m] or fed[:1]
    for q in quantum:
        for p in spec.partitions:
            for other in [m for m in fed if m != q]:
                comparisons.append(_compare(records, (q, p), (other, p), paired=True))
            for b in spec.baselines:
                comparisons.append(_compare(records, (q, p), (b, CENTRAL), paired=False))
        if q in spec.centralised:  # the model itself, without federation, against the others
            for other in [m for m in spec.centralised if m != q]:
                comparisons.append(_compare(records, (q, CENTRAL), (other, CENTRAL), paired=True))
            for bl in spec.baselines:
                comparisons.append(_compare(records, (q, CENTRAL), (bl, CENTRAL), paired=False))
    for m in spec.centralised:  # what federation costs (same seeds: same initial parameters)
        for p in spec.partitions:
            comparisons.append(_compare(records, (m, p), (m, CENTRAL), paired=True))
    for m in fed:  # what the non-i.i.d. shards cost each model (same seeds: same initial parameters)
        for p in spec.partitions[1:]:
            comparisons.append(_compare(records, (m, p), (m, spec.partitions[0]), paired=True))
    for b in spec.baselines:  # the classical baselines among themselves: the data's ceiling
        if b != "mlp" and "mlp" in spec.baselines:
            comparisons.append(_compare(records, ("mlp", CENTRAL), (b, CENTRAL), paired=False))
    return {"rows": rows, "comparisons": comparisons, "shards": shard_skew(spec, records)}


def shard_skew(spec: StudySpec, records: Sequence[Record]) -> dict[str, dict[str, float]]:
    """Per partition: the clients' signal fractions over every run (min, max) and the mean
    over runs of their spread across clients (max - min), to say how non-i.i.d. the shards are."""
    out = {}
    for p in spec.partitions:
        runs = [np.asarray(r.signal_fractions) for r in records if r.setting == p and r.signal_fractions]
        if runs:
            allf = np.concatenate(runs)
            spread = float(np.mean([f.max() - f.min() for f in runs]))
            out[p] = {"min": float(allf.min()), "max": float(allf.max()), "mean_spread": spread}
    return out


def _compare(
    records: Sequence[Record], a: tuple[str, str], b: tuple[str, str], paired: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "a": {"model": a[0], "setting": a[1]},
        "b": {"model": b[0], "setting": b[1]},
        "paired": paired,
    }
    for metric in ("test_auc", "test_accuracy"):
        d = difference_interval(_values(records, *a, metric), _values(records, *b, metric), paired)
        out[metric] = d | {"verdict": verdict(d)}
    if paired and len(_values(records, *a, "test_auc")) >= 2:
        t = tost_log_ratio(
            _values(records, *a, "test_auc"), _values(records, *b, "test_auc"), margin=EQUIVALENCE_MARGIN
        )
        out["auc_within_1_percent"] = {
            "verdict": t.verdict,
            "p_value": t.p_value,
            "ratio_90ci": [t.ci_low, t.ci_high],
        }
    return out


# --- output -------------------------------------------------------------------


def _ci(d: Mapping[str, float], scale: float = 1.0, digits: int = 4) -> str:
    return f"{d['mean'] * scale:.{digits}f} [{d['low'] * scale:.{digits}f}, {d['high'] * scale:.{digits}f}]"


def _name(model: str, setting: str) -> str:
    return f"{model} ({'federated, ' + setting if setting != CENTRAL else CENTRAL})"


def markdown(
    spec: StudySpec, summary: Mapping[str, Any], data: Mapping[str, Any], train: Mapping[str, Any]
) -> str:
    lines = [
        f"# {spec.name}: mean over {len(spec.seeds)} seeds {list(spec.seeds)} [bootstrap 95% interval]",
        "",
        (
            f"Data: {data}. Local/central training: {train}. Federated: {spec.rounds} rounds x 1 local epoch; "
            f"baselines: {spec.epochs} epochs, centralised. Label-skew alpha = {spec.alpha:g}."
        ),
        "",
        "| model | setting | parameters | test ROC AUC | test accuracy | test BCE | s / run |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in summary["rows"]:
        lines.append(
            f"| {r['model']} | {r['setting']} | {r['parameters']} | {_ci(r['test_auc'])} | {_ci(r['test_accuracy'])} "
            f"| {_ci(r['test_loss'])} | {r['seconds_per_run']:.0f} |"
        )
    lines += [
        "",
        "Differences A - B in percentage points [bootstrap 95% interval]; paired = same seeds and shards.",
        "",
        "| A | B | paired | d test AUC (pp) | AUC | d test accuracy (pp) | accuracy | AUC within 1% (TOST) |",
        "|---|---|---|---:|---|---:|---|---|",
    ]
    shards = [
        f"Client signal fractions, {p} shards: {sk['min']:.3f} to {sk['max']:.3f} over all runs; "
        f"mean spread (max - min) across a run's clients {sk['mean_spread']:.3f}."
        for p, sk in summary.get("shards", {}).items()
    ]
    lines[3:3] = ["", *shards] if shards else []
    for c in summary["comparisons"]:
        tost = c.get("auc_within_1_percent")
        t = f"{tost['verdict']} (p={tost['p_value']:.3f})" if tost else "-"
        lines.append(
            f"| {_name(**c['a'])} | {_name(**c['b'])} | {'yes' if c['paired'] else 'no'} "
            f"| {_ci(c['test_auc'], 100, 2)} | {c['test_auc']['verdict']} "
            f"| {_ci(c['test_accuracy'], 100, 2)} | {c['test_accuracy']['verdict']} | {t} |"
        )
    return "\n".join(lines) + "\n"


def write_results(spec: StudySpec, out: Path, results: Path) -> dict[str, Any]:
    """Summary files in ``results`` (and copies of every run's metrics), each with provenance."""
    records = collect(spec, out)
    data, train = check_shared(spec)
    summary = summarise(spec, records)
    results.mkdir(parents=True, exist_ok=True)
    for sub in ("federated", "baselines"):  # not "runs": .gitignore skips every runs/ folder
        (results / sub).mkdir(exist_ok=True)
    for job in study_jobs(spec):
        if job.kind == "federated":
            shutil.copyfile(
                job.folder(out) / METRICS_FILE, results / "federated" / f"{job.folder(out).name}.json"
            )
        else:
            shutil.copyfile(job.folder(out), results / "baselines" / job.folder(out).name)
    spec_d = asdict(spec) | {
        "federated": {k: str(v) for k, v in spec.federated.items()},
        "centralised": {k: str(v) for k, v in spec.centralised.items()},
        "source": str(spec.source),
    }
    doc = {"provenance": provenance(), "spec": spec_d, "data": data, "train": train, **summary,
           "records": [asdict(r) for r in records]}  # fmt: skip
    (results / "study.json").write_text(json.dumps(doc, indent=1) + "\n")
    with (results / "records.csv").open("w", newline="") as fh:
        fh.write(f"# {json.dumps(provenance())}\n")
        w = csv.writer(fh)
        w.writerow(
            ["model", "setting", "seed", "parameters", "test_auc", "test_accuracy", "test_loss", "seconds"]
        )
        for r in records:
            w.writerow(
                [
                    r.model,
                    r.setting,
                    r.seed,
                    r.parameters,
                    r.test_auc,
                    r.test_accuracy,
                    r.test_loss,
                    f"{r.seconds:.1f}",
                ]
            )
    prov = provenance()
    md = (
        markdown(spec, summary, data, train)
        + f"\nCommand: `{prov['command']}`; commit {prov['git_commit']}.\n"
    )
    (results / "study.md").write_text(md)
    plot_seeds(records, results / "study_auc.png")
    return doc


def plot_seeds(records: Sequence[Record], path: Path) -> Path:
    """Test AUC per seed (dots) and the mean with its bootstrap interval (bar), per model and setting."""
    from matplotlib.figure import Figure

    from dqlstm.figures import save_figure

    groups = sorted({(r.model, r.setting) for r in records}, key=lambda g: (g[1] == CENTRAL, g[1], g[0]))
    fig = Figure(figsize=(max(6, 1.1 * len(groups)), 4), layout="constrained")
    ax = fig.subplots()
    for i, (m, s) in enumerate(groups):
        vals = _values(records, m, s, "test_auc")
        ci = mean_interval(vals)
        ax.plot([i] * len(vals), vals, ".", color="0.5")
        ax.errorbar(
            [i + 0.15],
            [ci["mean"]],
            yerr=[[ci["mean"] - ci["low"]], [ci["high"] - ci["mean"]]],
            fmt="o",
            capsize=4,
        )
    ax.set_xticks(range(len(groups)), [f"{m}\n{s}" for m, s in groups], fontsize="small")
    ax.set_ylabel("test ROC AUC")
    ax.set_title("dots: seeds; bars: mean and bootstrap 95% interval", fontsize="small")
    return save_figure(fig, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dqlstm.federated.study", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "spec", metavar="SPEC", help="study TOML (experiments/configs/federated_susy_study.toml)"
    )
    parser.add_argument("--out", default=None, metavar="DIR", help="runs folder (default: runs/<study name>)")
    parser.add_argument(
        "--results",
        default=None,
        metavar="DIR",
        help="summary folder (default: DIR/results; committed: experiments/results/federated)",
    )
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="worker processes (default 1)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    from dqlstm.provenance import record_command

    record_command(["python", "-m", "dqlstm.federated.study", *(sys.argv[1:] if argv is None else argv)])
    spec = load_study(args.spec)
    out = Path(args.out or Path("runs") / spec.name)
    run_study(spec, out, jobs=args.jobs, quiet=args.quiet)
    doc = write_results(spec, out, Path(args.results) if args.results else out / "results")
    if not args.quiet:
        print(markdown(spec, doc, doc["data"], doc["train"]), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
