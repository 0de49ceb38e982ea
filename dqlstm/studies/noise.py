"""Noise study: the distributed QLSTM in ``sampled`` mode on noisy Aer QPUs versus noiseless.

Each condition is an ordinary training run (``dqlstm train``'s run folder,
same seed, same initial weights, same data order) of the study's base config:

- ``exact``: the exact engine (no shots, no noise), the reference;
- ``sampled-noiseless``: sub-experiments with shots on ideal Aer QPUs;
- ``sampled-noisy``: the same on Aer QPUs carrying a fake IBM backend's noise
  model (``[[qpus.devices]] noise = { fake_backend = ... }``), transpiled to
  that device.

The sampled conditions get a ``[qpus]`` table with one QPU per fragment of
the plan, so the study is what ``dqlstm train`` does with such a config.

Run: ``python -m dqlstm.studies.noise experiments/configs/noise_fake.toml [--out DIR] [--results DIR]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dqlstm.config import ConfigError, resolve_config
from dqlstm.provenance import provenance, provenance_note
from dqlstm.runs import write_json
from dqlstm.studies.common import markdown_table, read_spec, study_torch_settings, write_csv

CONDITIONS = ("exact", "sampled-noiseless", "sampled-noisy")
_NOISE_KEYS = {"name", "seeds", "fake_backend", "shots", "conditions", "description"}


@dataclass(frozen=True)
class NoiseSpec:
    name: str
    seeds: tuple[int, ...]
    fake_backend: str
    shots: int
    conditions: tuple[str, ...]
    base: dict[str, Any]

    def run_config(self, seed: int, condition: str = "exact") -> dict[str, Any]:
        """The resolved ``dqlstm train`` config of one (condition, seed)."""
        raw = json.loads(json.dumps(self.base))
        raw.setdefault("train", {})["seed"] = seed
        model = raw.setdefault("model", {})
        if condition == "exact":
            model["mode"] = "exact"
            model.pop("shots", None)
        else:
            model.update({"mode": "sampled", "shots": self.shots})
            raw["qpus"] = self.qpus_table(model, seed, noisy=condition == "sampled-noisy")
        return resolve_config(raw, source=f"noise study {self.name!r}, condition {condition!r}")

    def qpus_table(self, model: dict[str, Any], seed: int, *, noisy: bool) -> dict[str, Any]:
        """One Aer QPU per fragment of the plan, ideal or with the fake backend's noise."""
        from dqlstm.assemble import model_settings
        from dqlstm.studies.compare import variant_plan

        device: dict[str, Any] = {
            "kind": "aer",
            "name": "noisy" if noisy else "ideal",
            "count": variant_plan(model_settings(model)).num_fragments,
            "num_qubits": int(model["max_qubits"]),
        }
        if noisy:
            device["noise"] = {"fake_backend": self.fake_backend}
        return {"engine": "local", "seed": seed, "devices": [device]}


def load_noise_spec(path: str | Path) -> NoiseSpec:
    raw = read_spec(path, {"noise": _NOISE_KEYS, "base": set()})
    n = raw.get("noise", {})
    conditions = tuple(n.get("conditions", CONDITIONS))
    bad = [c for c in conditions if c not in CONDITIONS]
    if bad:
        raise ConfigError(f"{path}: unknown conditions {bad}; choose from {list(CONDITIONS)}")
    if "fake_backend" not in n:
        raise ConfigError(f"{path}: [noise] fake_backend is required (e.g. \"FakeManilaV2\")")
    spec = NoiseSpec(
        name=str(n.get("name", Path(path).stem)), seeds=tuple(int(s) for s in n.get("seeds", (0,))),
        fake_backend=str(n["fake_backend"]), shots=int(n.get("shots", 1000)), conditions=conditions,
        base=dict(raw.get("base", {})),
    )
    model = spec.run_config(spec.seeds[0])["model"]
    if model["kind"] != "qlstm" or model.get("max_qubits") is None:
        raise ConfigError(f"{path}: [base.model] must be a qlstm with max_qubits (the QPU size)")
    return spec


@dataclass
class NoiseRun:
    condition: str
    seed: int
    train_curve: list[float]
    test_curve: list[float]
    final_train_mse: float
    final_test_mse: float
    seconds: float
    cut: dict[str, Any] | None
    folder: str = ""
    predictions: dict[str, list[float]] = field(default_factory=dict)


def run_condition(spec: NoiseSpec, condition: str, seed: int, out: str | Path) -> NoiseRun:
    """Train one condition as an ordinary run in ``out/<condition>/seed<k>``; return curves and final MSE."""
    from dqlstm.studies.compare import run_predictions
    from dqlstm.training.run import run_training

    folder = Path(out) / condition / f"seed{seed}"
    result = run_training(spec.run_config(seed, condition), folder, force=True, quiet=True)
    m = result.metrics
    return NoiseRun(
        condition=condition, seed=seed,
        train_curve=[e["train_loss"] for e in m["epochs"]], test_curve=[e["test_loss"] for e in m["epochs"]],
        final_train_mse=m["final"]["train_loss"], final_test_mse=m["final"]["test_loss"],
        seconds=sum(e["seconds"] for e in m["epochs"]), cut=m["cut"], folder=str(folder),
        predictions=run_predictions(result),
    )


def run_noise(
    spec: NoiseSpec, results_dir: str | Path, *, out: str | Path | None = None, quiet: bool = False
) -> list[NoiseRun]:
    """Every (seed, condition) run under ``out`` (default ``runs/noise/<name>``); tables and plots to ``results_dir``."""
    from dqlstm.studies.plots import plot_compare_predictions, plot_noise_losses

    results = Path(results_dir)
    out = Path(out) if out is not None else Path("runs/noise") / spec.name
    runs = []
    with study_torch_settings(1):
        for seed in spec.seeds:
            for cond in spec.conditions:
                if not quiet:
                    print(f"noise study {spec.name}: {cond}, seed {seed} ...", file=sys.stderr, flush=True)
                runs.append(run_condition(spec, cond, seed, out))
    results.mkdir(parents=True, exist_ok=True)
    rows = [{k: v for k, v in asdict(r).items() if k not in ("predictions", "train_curve", "test_curve", "cut")}
            for r in runs]
    write_csv(results / "noise.csv", rows, list(rows[0]))
    write_json(results / "noise.json", {"provenance": provenance(), "spec": asdict(spec),
                                         "runs": [asdict(r) for r in runs]})
    cfg = spec.run_config(spec.seeds[0])
    text = [
        f"# Noise study `{spec.name}`", "",
        f"Model: {cfg['model']['ansatz']} QLSTM, {cfg['model']['n_qubits']} qubits on QPUs of "
        f"{cfg['model']['max_qubits']} qubits (links={cfg['model']['links']}); task {cfg['data']['task']}, "
        f"series length {cfg['data']['length']}, {cfg['train']['epochs']} epochs, batch {cfg['train']['batch_size']}; "
        f"sampled: {spec.shots} shots per sub-experiment; noise: {spec.fake_backend} (qiskit-ibm-runtime fake "
        "backend noise model on Aer, circuits transpiled to the device).", "",
        markdown_table([{**r, "final_train_mse": f"{r['final_train_mse']:.3e}",
                         "final_test_mse": f"{r['final_test_mse']:.3e}", "seconds": f"{r['seconds']:.0f}"}
                        for r in rows],
                       [("condition", "condition"), ("seed", "seed"), ("final_train_mse", "train MSE"),
                        ("final_test_mse", "test MSE"), ("seconds", "wall time (s)")]),
    ]
    (results / "noise.md").write_text("\n".join(text) + "\n" + provenance_note())
    plot_noise_losses(results / "noise_loss.png", runs, spec.name)
    first = {r.condition: r.predictions for r in runs if r.seed == spec.seeds[0]}
    plot_compare_predictions(results / "noise_predictions.png", f"{cfg['data']['task']} ({spec.fake_backend})",
                             first, spec.seeds[0])
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dqlstm.studies.noise", description=__doc__.split("\n\n")[0])
    parser.add_argument("config", metavar="CONFIG", help="noise study TOML (experiments/configs/noise_*.toml)")
    parser.add_argument("--results", default=None, metavar="DIR",
                        help="folder of the table and plots (default: runs/noise/<study name>/results; "
                             "the committed ones: experiments/results/noise/<study name>)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="folder of the runs (default: runs/noise/<study name>)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    spec = load_noise_spec(args.config)
    # next to the runs by default: committed results change only when --results names them
    out = Path(args.out or Path("runs/noise") / spec.name)
    run_noise(spec, args.results or out / "results", out=out, quiet=args.quiet)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
