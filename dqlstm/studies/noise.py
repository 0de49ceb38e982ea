"""Noise study: the distributed QLSTM in ``sampled`` mode on noisy Aer QPUs versus noiseless.

Each condition trains the same model (same seed, same initial weights, same
data order) for a few epochs:

- ``exact``: the exact engine (no shots, no noise), the reference;
- ``sampled-noiseless``: sub-experiments with shots on ideal Aer QPUs;
- ``sampled-noisy``: the same on Aer QPUs carrying a fake IBM backend's noise
  model (``backends.AerQPU(noise_model={"fake_backend": ...})``), transpiled
  to that device.

The training config's ``[model]`` has no key for a QPU pool, so this study
builds the model itself (``QLSTM`` with ``engine_options={"pool": ...}``) and
reuses the training loop's epoch, evaluation and prediction functions.

Run: ``python -m dqlstm.studies.noise experiments/configs/noise_fake.toml [--results DIR]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from dqlstm.config import ConfigError, resolve_config
from dqlstm.studies.common import markdown_table, read_spec, study_torch_settings, write_csv, write_json

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

    def run_config(self, seed: int) -> dict[str, Any]:
        raw = json.loads(json.dumps(self.base))
        raw.setdefault("train", {})["seed"] = seed
        return resolve_config(raw, source=f"noise study {self.name!r}")


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
    predictions: dict[str, list[float]] = field(default_factory=dict)


def _pool(spec: NoiseSpec, model_cfg: dict[str, Any], noisy: bool, seed: int, fragments: int):
    from backends import AerQPU, QPUPool

    noise = {"fake_backend": spec.fake_backend} if noisy else None
    qpus = [AerQPU(f"{'noisy' if noisy else 'ideal'}{i}", int(model_cfg["max_qubits"]), noise_model=noise)
            for i in range(fragments)]
    return QPUPool(qpus, seed=seed)


def run_condition(spec: NoiseSpec, condition: str, seed: int) -> NoiseRun:
    """Train one condition from the seed's initial weights; return curves and final MSE."""
    from dqlstm.data.dataset import load_dataset
    from dqlstm.models.qlstm import QLSTM
    from dqlstm.models.regressor import SequenceRegressor
    from dqlstm.training.loop import evaluate, make_optimizer, predict, train_epoch
    from dqlstm.training.seeding import seed_everything
    from dqlstm.studies.compare import variant_plan

    cfg = spec.run_config(seed)
    m, tr = cfg["model"], cfg["train"]
    seed_everything(seed)
    data = load_dataset(cfg["data"])
    options: dict[str, Any] = {}
    mode = "exact"
    if condition != "exact":
        mode = "sampled"
        plan = variant_plan(m)
        options = {"max_qubits": int(m["max_qubits"]), "shots": spec.shots,
                   "pool": _pool(spec, m, condition == "sampled-noisy", seed, plan.num_fragments)}
    core = QLSTM(1, int(m["hidden_size"]), n_qubits=int(m["n_qubits"]), ansatz=m["ansatz"],
                 layers=int(m["layers"]), dressed=bool(m["dressed"]), module_size=int(m["module_size"]),
                 links=int(m["links"]), mode=mode, engine_options=options or None, seed=seed)
    torch.manual_seed(seed)  # the head's initial weights, identical across conditions
    model = SequenceRegressor(core, 1)
    dtype = next(model.parameters()).dtype
    x_train, y_train, x_test, y_test = data.tensors(dtype)
    opt = make_optimizer(tr["optimizer"], model.parameters(), float(tr["lr"]))
    shuffle = torch.Generator().manual_seed(seed)
    train_curve, test_curve = [], []
    t0 = time.perf_counter()
    for _ in range(int(tr["epochs"])):
        train_curve.append(train_epoch(model, opt, x_train, y_train, int(tr["batch_size"]), shuffle))
        test_curve.append(evaluate(model, x_test, y_test))
    p_train, p_test = predict(model, x_train), predict(model, x_test)
    seconds = time.perf_counter() - t0
    train_idx, test_idx = data.target_indices()
    summary = getattr(core.engine, "cut_summary", None)
    return NoiseRun(
        condition=condition, seed=seed, train_curve=train_curve, test_curve=test_curve,
        final_train_mse=float(torch.nn.functional.mse_loss(p_train, y_train)),
        final_test_mse=float(torch.nn.functional.mse_loss(p_test, y_test)),
        seconds=seconds, cut=summary() if callable(summary) else None,
        predictions={"series": data.scaled.tolist(), "train_index": train_idx.tolist(),
                     "train_pred": p_train.reshape(-1).tolist(), "test_index": test_idx.tolist(),
                     "test_pred": p_test.reshape(-1).tolist()},
    )


def run_noise(spec: NoiseSpec, results_dir: str | Path, *, quiet: bool = False) -> list[NoiseRun]:
    from dqlstm.studies.plots import plot_compare_predictions, plot_noise_losses

    results = Path(results_dir)
    runs = []
    with study_torch_settings(1):
        for seed in spec.seeds:
            for cond in spec.conditions:
                if not quiet:
                    print(f"noise study {spec.name}: {cond}, seed {seed} ...", file=sys.stderr, flush=True)
                runs.append(run_condition(spec, cond, seed))
    results.mkdir(parents=True, exist_ok=True)
    rows = [{k: v for k, v in asdict(r).items() if k not in ("predictions", "train_curve", "test_curve", "cut")}
            for r in runs]
    write_csv(results / "noise.csv", rows, list(rows[0]))
    write_json(results / "noise.json", {"spec": asdict(spec), "runs": [asdict(r) for r in runs]})
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
    (results / "noise.md").write_text("\n".join(text) + "\n")
    plot_noise_losses(results / "noise_loss.png", runs, spec.name)
    first = {r.condition: r.predictions for r in runs if r.seed == spec.seeds[0]}
    plot_compare_predictions(results / "noise_predictions.png", f"{cfg['data']['task']} ({spec.fake_backend})",
                             first, spec.seeds[0])
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dqlstm.studies.noise", description=__doc__.split("\n\n")[0])
    parser.add_argument("config", metavar="CONFIG", help="noise study TOML (experiments/configs/noise_*.toml)")
    parser.add_argument("--results", default=None, metavar="DIR",
                        help="output folder (default: experiments/results/noise/<study name>)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    spec = load_noise_spec(args.config)
    run_noise(spec, args.results or Path("experiments/results/noise") / spec.name, quiet=args.quiet)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
