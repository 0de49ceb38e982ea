r"""Deploy a trained QLSTM on QPUs: its test MSE from shots, with error bars and cost (``dqlstm evaluate``).

"Train exactly, deploy on QPUs": a run trained in any QLSTM mode (``exact``,
``cut-exact`` or ``sampled``) is rebuilt from its folder (``config.toml`` and
``checkpoint.pt``) in ``sampled`` mode on a pool (a ``[qpus]`` table; default:
the local ideal Aer sampler), its trained weights loaded, and the test set
predicted ``R`` times (each repetition draws fresh shots).

With ``e_{r,i} = (\hat y_{r,i} - y_i)^2`` (scaled units, as in training),
``MSE_r = mean_i e_{r,i}``:

* ``test_mse``: ``mean_r MSE_r``;
* ``shot_stderr``: ``std_r(MSE_r) / sqrt(R)``, the shot noise of ``test_mse``
  (from the repetitions, so it includes everything the shots do: the QPD
  sampling overhead, noise on noisy QPUs, and its propagation through the
  recurrence); ``shot_std`` is one evaluation's spread ``std_r(MSE_r)``;
* ``test_set_stderr``: ``std_i(mean_r e_{r,i}) / sqrt(N_test)``, how much the
  MSE would move with another test set of the same size, if windows were
  independent (overlapping windows of one series are not: read it as a lower
  bound);
* ``exact_test_mse``: the same weights in ``cut-exact`` mode (the noise-free
  value the sampled estimator estimates per output). Shot noise biases the
  sampled MSE upwards by about ``prediction_variance = mean_i var_r \hat y_{r,i}``
  (``E[(\hat y - y)^2] = (E\hat y - y)^2 + var \hat y``), so on an ideal pool
  ``test_mse - exact_test_mse`` is that plus shot noise.

Cost: the executed PUBs, circuits and shots, the QPUs' busy seconds
(:mod:`dqlstm.budget` says what they are) and the plan's sampling overhead.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

EVALUATIONS_DIR = "evaluations"
DEFAULT_REPEATS = 5


@dataclass
class Evaluation:
    """What ``dqlstm evaluate`` measured (see the module docstring for the formulas)."""

    run_dir: str
    checkpoint_epoch: int
    run_finished: bool
    trained_mode: str
    pool: str
    shots: int
    repeats: int
    seed: int
    num_test: int
    test_mse: float
    shot_stderr: float
    shot_std: float
    test_set_stderr: float
    exact_test_mse: float
    exact_test_set_stderr: float
    prediction_variance: float
    mse_per_repeat: list[float]
    cost: dict[str, Any]
    plan: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_run(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(resolved config, checkpoint)`` of a training run folder; clear errors for what is not one."""
    import torch

    from dqlstm.config import read_toml, resolve_config
    from dqlstm.runs import CHECKPOINT_FILE, CONFIG_FILE
    from dqlstm.training.run import CHECKPOINT_FORMAT

    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir} is not a run folder (it does not exist)")
    ckpt_path, cfg_path = run_dir / CHECKPOINT_FILE, run_dir / CONFIG_FILE
    if not ckpt_path.is_file():
        raise FileNotFoundError(f"{run_dir} has no {CHECKPOINT_FILE}: nothing trained to evaluate")
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{run_dir} has no {CONFIG_FILE}: not a dqlstm train run folder")
    raw = read_toml(cfg_path)
    if "federated" in raw:
        raise ValueError(f"{run_dir} is a federated run; dqlstm evaluate takes a dqlstm train run folder")
    # a resolved config writes empty tables ([qpus], [budget]) that a config file may not have
    cfg = resolve_config({k: v for k, v in raw.items() if v != {}}, source=str(cfg_path))
    if cfg["model"].get("kind") != "qlstm":
        raise ValueError(
            f"{run_dir} trained an {cfg['model'].get('kind')!r} model: only a QLSTM has circuits to run on QPUs"
        )
    try:
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)  # our own file (NumPy RNG state)
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file: torch/pickle raise many kinds
        raise ValueError(f"{ckpt_path} is not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT or "model" not in ckpt:
        raise ValueError(f"{ckpt_path} is not a dqlstm train checkpoint")
    return cfg, ckpt


def sampled_config(
    cfg: Mapping[str, Any], qpus: Mapping[str, Any] | None, shots: int | None
) -> dict[str, Any]:
    """The run's config with its QLSTM in ``sampled`` mode on ``qpus`` (re-validated)."""
    from dqlstm.config import resolve_config

    model = dict(cfg["model"])
    model["mode"] = "sampled"
    if shots is not None:
        model["shots"] = int(shots)
    raw = {k: dict(v) for k, v in cfg.items() if k not in ("qpus", "budget", "run")}
    raw["model"] = model
    if qpus:
        raw["qpus"] = dict(qpus)
    return resolve_config(raw, source="evaluation config")


def exact_config(sampled: Mapping[str, Any], max_qubits: int | None) -> dict[str, Any]:
    """The ``[model]`` of ``sampled`` in ``cut-exact`` mode, cut for the same width."""
    from dqlstm.config import SAMPLED_DEFAULTS

    model = {k: v for k, v in sampled["model"].items() if k not in SAMPLED_DEFAULTS}
    model["mode"] = "cut-exact"
    if max_qubits is not None:
        model.setdefault("max_qubits", max_qubits)
    return model


def read_qpus(path: str | Path) -> dict[str, Any]:
    """The ``[qpus]`` table of a TOML file (checked, nothing built)."""
    from dqlstm.config import check_qpus_table, read_toml

    raw = read_toml(path)
    table = raw.get("qpus")
    if not isinstance(table, Mapping) or not table.get("devices"):
        raise ValueError(f"{path} has no [qpus] table with [[qpus.devices]]")
    check_qpus_table(table, str(path))
    return dict(table)


def evaluate_run(
    run_dir: str | Path,
    qpus: Mapping[str, Any] | None = None,
    *,
    shots: int | None = None,
    repeats: int = DEFAULT_REPEATS,
    seed: int | None = None,
    pool_name: str = "local-aer",
) -> Evaluation:
    """Evaluate the trained QLSTM of ``run_dir`` on ``qpus`` (``None``: the local ideal sampler)."""
    import numpy as np
    import torch

    from dqlstm.assemble import build_model, open_pool
    from dqlstm.budget import Spent, meter_default_sampler
    from dqlstm.cost import cut_info
    from dqlstm.data.dataset import load_dataset
    from dqlstm.provenance import provenance
    from dqlstm.training.loop import predict

    if repeats < 2:
        raise ValueError(
            f"repeats must be at least 2 (the shot stderr comes from their spread), got {repeats}"
        )
    run_dir = Path(run_dir)
    cfg, ckpt = load_run(run_dir)
    trained_mode = str(cfg["model"].get("mode", "exact"))
    seed = int(cfg["train"]["seed"]) if seed is None else int(seed)
    scfg = sampled_config(cfg, qpus, shots)
    data = load_dataset(scfg["data"])
    y_test = torch.as_tensor(data.y_test, dtype=torch.float64)
    with open_pool(scfg, seed) as pool:
        try:
            model = build_model(scfg["model"], data.num_features, 1, seed=seed, pool=pool)
        except ValueError as exc:
            if "needs max_qubits" not in str(exc):
                raise
            raise ValueError(f"{exc}: give --qpus (the pool's widest QPU sets the cut)") from None
        _load_weights(model, ckpt["model"], run_dir)
        meter_default_sampler(model)
        dtype = next(model.parameters()).dtype
        x_test = torch.as_tensor(data.x_test, dtype=dtype)
        preds = np.stack([predict(model, x_test).double().numpy()[:, 0] for _ in range(repeats)])  # (R, N)
        cut = cut_info(model) or {}
        width = max(q.num_qubits for q in pool.qpus) if pool is not None else None
    errors = (preds - y_test.numpy()[:, 0]) ** 2  # (R, N)
    mse_r = errors.mean(axis=1)
    exact_model = build_model(exact_config(scfg, width), data.num_features, 1, seed=seed)
    # the sampled engine's own state (adaptive scores, SPSA counters) has no meaning without shots
    weights = {k: v for k, v in ckpt["model"].items() if ".sampled_state." not in k}
    _load_weights(exact_model, weights, run_dir)
    exact_pred = predict(
        exact_model, torch.as_tensor(data.x_test, dtype=next(exact_model.parameters()).dtype)
    )
    exact_err = ((exact_pred.double() - y_test) ** 2).numpy()[:, 0]
    n = data.num_test
    spent = Spent.from_cut(cut)
    executed = cut.get("executed", {})
    plan = {k: v for k, v in cut.items() if k not in ("evaluations", "executed", "pool")}
    cost = {
        "pubs": int(executed.get("num_pubs", 0)),
        "circuits": int(executed.get("num_circuits", 0)),
        "shots": int(executed.get("total_shots", 0)),
        "qpu_shots": spent.shots,  # what the QPUs ran (retries included)
        "qpu_seconds": spent.qpu_seconds,
        "sampling_overhead": cut.get("sampling_overhead"),
        "per_qpu": {
            name: {k: q.get(k) for k in ("jobs", "shots", "seconds", "failures")}
            for name, q in (cut.get("pool") or {}).get("qpus", {}).items()
        },
        "retries": (cut.get("pool") or {}).get("retries", 0),
    }
    return Evaluation(
        run_dir=str(run_dir),
        checkpoint_epoch=int(ckpt.get("epoch", 0)),
        # the final predictions are checkpointed just before the run is marked finished
        run_finished="final" in ckpt.get("metrics", {}) and "position" not in ckpt,
        trained_mode=trained_mode,
        pool=pool_name,
        shots=int(scfg["model"]["shots"]),
        repeats=repeats,
        seed=seed,
        num_test=n,
        test_mse=float(mse_r.mean()),
        shot_stderr=float(mse_r.std(ddof=1) / math.sqrt(repeats)),
        shot_std=float(mse_r.std(ddof=1)),
        test_set_stderr=float(errors.mean(axis=0).std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan"),
        exact_test_mse=float(exact_err.mean()),
        exact_test_set_stderr=float(exact_err.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan"),
        prediction_variance=float(preds.var(axis=0, ddof=1).mean()),
        mse_per_repeat=[float(v) for v in mse_r],
        cost=cost,
        plan=plan,
        provenance=provenance(),
    )


def _load_weights(model: Any, state: Mapping[str, Any], run_dir: Path) -> None:
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:  # another architecture: a config edited after training
        lines = str(exc).strip().splitlines()  # torch's first line is only a header
        reason = "; ".join(line.strip() for line in lines[1:]) or lines[0]
        raise ValueError(
            f"{run_dir}: the checkpoint's weights do not fit the model of its config.toml ({reason})"
        ) from None


def default_output(run_dir: str | Path, ev: Evaluation) -> Path:
    """``RUN_DIR/evaluations/<pool>-<shots>shots.json``."""
    return Path(run_dir) / EVALUATIONS_DIR / f"{ev.pool}-{ev.shots}shots.json"


def format_evaluation(ev: Evaluation) -> str:
    """A few lines: MSE with its two error bars, the exact reference, the cost."""
    from dqlstm.progress import count, duration

    c = ev.cost
    state = "finished" if ev.run_finished else f"unfinished, checkpoint of epoch {ev.checkpoint_epoch}"
    return "\n".join(
        [
            (
                f"{ev.run_dir} ({ev.trained_mode}-trained QLSTM, {state}) on {ev.pool}: {ev.shots} shots per "
                f"sub-experiment, {ev.repeats} evaluations of {ev.num_test} test windows"
            ),
            (
                f"test MSE {ev.test_mse:.4e} +- {ev.shot_stderr:.2e} (shot noise, over {ev.repeats} evaluations) "
                f"+- {ev.test_set_stderr:.2e} (finite test set)"
            ),
            (
                f"exact (cut-exact, noise-free) test MSE {ev.exact_test_mse:.4e} +- {ev.exact_test_set_stderr:.2e} "
                f"(finite test set); prediction variance from shots {ev.prediction_variance:.2e}"
            ),
            (
                f"cost: {count(c['pubs'])} PUBs, {count(c['circuits'])} circuits, {count(c['shots'])} shots, "
                f"{duration(c['qpu_seconds'])} of QPU time; sampling overhead {c['sampling_overhead']:.4g}"
            ),
        ]
    )


def write_evaluation(ev: Evaluation, path: str | Path) -> Path:
    from dqlstm.runs import write_json

    return write_json(path, ev.to_dict())


def as_json(ev: Evaluation) -> str:
    return json.dumps(ev.to_dict(), indent=2, default=str)
