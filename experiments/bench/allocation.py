r"""Benchmark the shot allocations of the sampled cut path at equal total shots.

For each circuit the same batch of bindings is estimated many times by
:class:`~dqlstm.cutting.sampled.SampledCutExecutor` with ``allocation`` =
``uniform``, ``weighted`` and ``adaptive``, all with the same total shots
(``shots`` x distinct circuits per binding), and compared with exact
``Statevector`` values. Circuits (cuts of unequal weights):

- ``rzz0.2``, ``rzz0.5``: 2 qubits, a fixed RZZ(theta) gate cut (small theta
  puts almost all the QPD weight on one term), observables ZZ, ZI, IZ;
- ``wire``: 3 qubits with one wire cut (weights 1 and 0.5), ZZZ, IIZ, ZII;
- ``qlstm``: the gate circuit of ``experiments/configs/narma5_distributed_sampled.toml``
  (modular ansatz, 2 modules x 2 qubits, 1 CX link cut for 2-qubit QPUs),
  its four Z observables, at the bindings the model really produces: the 4
  gates x 6 samples of the last time step of a training forward pass.

Repetitions come in ``steps``; each step is one training step: for
``adaptive`` a fresh warm-up followed by the measured run (``adapt=False``,
so the allocation stays the warm-up's). Warm-up = the runs training makes
before the measured one, with ``adapt=True``: for ``qlstm`` the three earlier
time steps of the same forward pass (their real bindings); for the small
circuits three earlier optimiser steps, i.e. the batch moved by a random walk
of N(0, 0.01^2) per parameter and step (RMSprop with lr = 0.01 moves a
parameter by about lr per step). ``uniform`` and ``weighted`` need no warm-up.

Per case and allocation: the empirical RMS error over repetitions, bindings
and observables; the RMS reported standard error (E[reported var] = var, so
RMSE / reported ~ 1); the z-spread std(error / reported stderr) over entries
with a nonzero stderr; and the ratios weighted/uniform and adaptive/uniform of
the RMS error with a 95 % percentile bootstrap interval, resampling whole steps
(an adaptive step's repetitions share one warm-up).

    python experiments/bench/allocation.py [--quick] [--steps 40] [--reps 50] [--shots 128] [--out PATH]

Writes ``runs/bench/bench_allocation.json``; the committed result comes from
``--out experiments/results/bench_allocation.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import SparsePauliOp, Statevector
from qiskit_addon_cutting.instructions import CutWire

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script from anywhere in the checkout
    sys.path.insert(0, str(ROOT))

from machine import RESULTS, write_json

from dqlstm.cutting.sampled import SampledCutExecutor

CONFIG = ROOT / "experiments" / "configs" / "narma5_distributed_sampled.toml"
ALLOCATIONS = ("uniform", "weighted", "adaptive")
SEED = 2026
BATCH = 8  # bindings per step for the small circuits
WARMUP_STEPS = 3
STEP_SIZE = 0.01  # radians per parameter and optimiser step of the small circuits' warm-up walk
BOOTSTRAP = 4000


# ---------------------------------------------------------------- circuits


def circuit_rzz(theta: float) -> QuantumCircuit:
    """2 qubits, partition AB: a fixed RZZ(theta) gate cut between trainable rotations."""
    t = ParameterVector("t", 4)
    qc = QuantumCircuit(2)
    qc.ry(t[0], 0)
    qc.ry(t[1], 1)
    qc.rzz(theta, 0, 1)
    qc.rx(t[2], 0)
    qc.rx(t[3], 1)
    return qc


def circuit_wire() -> QuantumCircuit:
    """3 qubits; qubit 1 is wire-cut between CX(0, 1) and CX(1, 2): partition AABB after expansion."""
    t = ParameterVector("t", 6)
    qc = QuantumCircuit(3)
    for q in range(3):
        qc.ry(t[q], q)
    qc.cx(0, 1)
    qc.append(CutWire(), [1])
    qc.cx(1, 2)
    for q in range(3):
        qc.rx(t[3 + q], q)
    return qc


@dataclass
class Case:
    """A circuit, how to build its executor, the measured bindings and the warm-up batches."""

    name: str
    description: str
    circuit: QuantumCircuit
    observables: list
    executor_kwargs: dict
    bindings: np.ndarray  # (B, P) measured batch
    warmups: list  # callables rng -> (B', P) warm-up batches, in run order


def small_case(
    name: str, description: str, qc: QuantumCircuit, observables: list, labels: str, seed: int
) -> Case:
    rng = np.random.default_rng(seed)
    bindings = rng.uniform(-np.pi, np.pi, (BATCH, qc.num_parameters))

    def earlier(k: int):
        # k steps before the measured one: a random walk of k steps back from the measured batch
        return lambda r: bindings + r.normal(0.0, STEP_SIZE * np.sqrt(k), bindings.shape)

    return Case(
        name,
        description,
        qc,
        observables,
        {"partition_labels": labels},
        bindings,
        [earlier(k) for k in range(WARMUP_STEPS, 0, -1)],
    )


def qlstm_case() -> Case:
    """The config's gate circuit at the bindings of one training forward pass (recorded, deterministic)."""
    import torch

    from dqlstm.assemble import build_model
    from dqlstm.config import load_config
    from dqlstm.data.dataset import load_dataset
    from dqlstm.engine.observables import z_observables
    from dqlstm.training.seeding import seed_everything

    torch.set_num_threads(1)
    cfg = load_config(CONFIG)
    seed = int(cfg["train"]["seed"])
    seed_everything(seed)
    data = load_dataset(cfg["data"])
    model = build_model(cfg["model"], 1, 1, seed=seed, pool=None)
    engine = model.core.engine
    calls: list[np.ndarray] = []
    run = engine.executor.run

    def record(values, adapt=True):
        calls.append(np.array(values, dtype=np.float64))
        return run(values, adapt=adapt)

    engine.executor.run = record
    x, _, _, _ = data.tensors(next(model.parameters()).dtype)
    model(x[: int(cfg["train"]["batch_size"])])  # grad enabled: a training forward pass
    if len(calls) != WARMUP_STEPS + 1:
        raise RuntimeError(f"expected {WARMUP_STEPS + 1} engine calls (window), got {len(calls)}")
    plan = engine.plan
    return Case(
        "qlstm",
        "QLSTM gate circuit of narma5_distributed_sampled.toml (4 qubits, 2 modules x 2, 1 CX cut), "
        f"{calls[-1].shape[0]} bindings = 4 gates x {int(cfg['train']['batch_size'])} samples, last time step",
        engine.vqc.circuit,
        z_observables(engine.vqc.num_qubits),
        {"plan": plan},
        calls[-1],
        [lambda r, c=c: c for c in calls[:-1]],
    )


def make_executor(case: Case, allocation: str, shots: int, seed: int) -> SampledCutExecutor:
    kw = {"shots": shots, "seed": seed, "allocation": allocation}
    if "plan" in case.executor_kwargs:
        return SampledCutExecutor.from_plan(
            case.executor_kwargs["plan"], case.circuit, case.observables, **kw
        )
    return SampledCutExecutor(case.circuit, case.observables, case.executor_kwargs["partition_labels"], **kw)


def exact_values(qc: QuantumCircuit, observables: list, values: np.ndarray) -> np.ndarray:
    ops = [o if isinstance(o, SparsePauliOp) else SparsePauliOp(o) for o in observables]
    out = []
    for row in values:
        sv = Statevector(qc.assign_parameters(row))
        out.append([sv.expectation_value(op).real for op in ops])
    return np.array(out)


# ---------------------------------------------------------------- measurement


@dataclass
class Spread:
    """Repeated estimates of one case under one allocation (arrays ``(steps, reps, B, n_obs)``)."""

    err: np.ndarray
    stderr: np.ndarray
    total_shots_per_step: int
    shots_per_circuit: list  # of the last step
    seconds: float


def measure(case: Case, allocation: str, shots: int, steps: int, reps: int, seed: int) -> Spread:
    ex = make_executor(case, allocation, shots, seed)
    exact = exact_values(case.circuit, case.observables, case.bindings)
    rng = np.random.default_rng(seed)
    tiled = np.tile(case.bindings, (reps, 1))
    errs, stds, totals = [], [], set()
    start = time.perf_counter()
    for _ in range(steps):
        if allocation == "adaptive":  # the earlier runs of training: each replaces the scores
            for batch in case.warmups:
                ex.run(batch(rng), adapt=True)
        out = ex.run(tiled, adapt=False)
        totals.add(out.cost.total_shots)
        b = case.bindings.shape[0]
        errs.append((out.values - np.tile(exact, (reps, 1))).reshape(reps, b, -1))
        stds.append(out.stderr.reshape(reps, b, -1))
    seconds = time.perf_counter() - start
    if len(totals) != 1:
        raise RuntimeError(f"total shots changed between steps: {totals}")
    return Spread(
        np.stack(errs), np.stack(stds), totals.pop(), ex.allocator.shots_per_circuit().tolist(), seconds
    )


def summarise(s: Spread) -> dict:
    err, std = s.err, s.stderr
    ok = std > 0  # no spread seen in a class's few shots: stderr 0, z undefined
    return {
        "rms_error": float(np.sqrt(np.mean(err**2))),
        "rms_reported_stderr": float(np.sqrt(np.mean(std**2))),
        "mean_reported_stderr": float(np.mean(std)),
        "rms_error_over_reported": float(np.sqrt(np.mean(err**2) / np.mean(std**2))),
        "z_spread": float(np.std(err[ok] / std[ok])),
        "z_spread_per_observable": [
            round(float(np.std(err[..., o][ok[..., o]] / std[..., o][ok[..., o]])), 3)
            for o in range(err.shape[-1])
        ],
        "zero_stderr_fraction": float(1.0 - ok.mean()),
        "mean_error": float(np.mean(err)),  # unbiased: ~0 within rms_error / sqrt(count)
        "rms_error_per_observable": np.sqrt(np.mean(err**2, axis=(0, 1, 2))).round(5).tolist(),
        "rms_reported_per_observable": np.sqrt(np.mean(std**2, axis=(0, 1, 2))).round(5).tolist(),
        "total_shots_per_repetition": s.total_shots_per_step // err.shape[1],
        "shots_per_circuit": s.shots_per_circuit,
        "seconds": round(s.seconds, 2),
    }


def ratio_interval(a: Spread, b: Spread, rng: np.random.Generator) -> dict:
    """RMS error of ``a`` over ``b``; 95 % percentile bootstrap resampling whole steps of each."""
    sa = np.mean(a.err**2, axis=(1, 2, 3))  # mean squared error per step
    sb = np.mean(b.err**2, axis=(1, 2, 3))
    ia = rng.integers(0, sa.size, (BOOTSTRAP, sa.size))
    ib = rng.integers(0, sb.size, (BOOTSTRAP, sb.size))
    boot = np.sqrt(sa[ia].mean(axis=1) / sb[ib].mean(axis=1))
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {
        "ratio": float(np.sqrt(sa.mean() / sb.mean())),
        "ci95": [float(lo), float(hi)],
        "bootstrap_std": float(boot.std()),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="8 steps x 10 repetitions (seconds)")
    parser.add_argument("--steps", type=int, default=40, help="training steps (adaptive: one warm-up each)")
    parser.add_argument("--reps", type=int, default=50, help="repetitions of the batch per step")
    parser.add_argument("--shots", type=int, default=128, help="average shots per circuit (the config's 128)")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_allocation.json")
    args = parser.parse_args(argv)
    steps, reps = (8, 10) if args.quick else (args.steps, args.reps)
    if steps < 2 or reps < 1 or args.shots < 2:
        parser.error("need --steps >= 2, --reps >= 1 and --shots >= 2")
    start = time.perf_counter()
    cases = [
        small_case("rzz0.2", "RZZ(0.2) gate cut, 2 qubits", circuit_rzz(0.2), ["ZZ", "ZI", "IZ"], "AB", 1),
        small_case("rzz0.5", "RZZ(0.5) gate cut, 2 qubits", circuit_rzz(0.5), ["ZZ", "ZI", "IZ"], "AB", 2),
        small_case("wire", "wire cut, 3 qubits", circuit_wire(), ["ZZZ", "IIZ", "ZII"], "AABB", 3),
        qlstm_case(),
    ]
    rng = np.random.default_rng(SEED)
    rows = []
    print(
        f"{steps} steps x {reps} repetitions per case and allocation, {args.shots} shots per circuit on average"
    )
    print(
        f"{'case':8} {'alloc':9} {'rmse':>8} {'reported':>9} {'rmse/rep':>9} {'z-spread':>9} "
        f"{'ratio to uniform [95% CI]':>27} {'s':>6}"
    )
    for c, case in enumerate(cases):
        spreads = {
            a: measure(case, a, args.shots, steps, reps, SEED + 10 * c + i) for i, a in enumerate(ALLOCATIONS)
        }
        if len({s.total_shots_per_step for s in spreads.values()}) != 1:
            raise RuntimeError(f"{case.name}: allocations ran different total shots")
        ex = make_executor(case, "uniform", args.shots, 0)
        row = {
            "case": case.name,
            "description": case.description,
            "distinct_circuits": ex.num_subexperiments,
            "class_weights_per_circuit": ex.allocator.weights.round(4).tolist(),
            "bindings": int(case.bindings.shape[0]),
            "observables": [str(o) if isinstance(o, str) else o.to_list()[0][0] for o in case.observables],
            "allocations": {a: summarise(s) for a, s in spreads.items()},
            "ratios": {a: ratio_interval(spreads[a], spreads["uniform"], rng) for a in ALLOCATIONS[1:]},
        }
        rows.append(row)
        for a in ALLOCATIONS:
            s = row["allocations"][a]
            r = row["ratios"].get(a)
            ratio = f"{r['ratio']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]" if r else "1"
            print(
                f"{case.name:8} {a:9} {s['rms_error']:8.4f} {s['rms_reported_stderr']:9.4f} "
                f"{s['rms_error_over_reported']:9.3f} {s['z_spread']:9.3f} {ratio:>27} {s['seconds']:6.1f}",
                flush=True,
            )
    seconds = time.perf_counter() - start
    print(
        "\nratio of the RMS error to uniform's at equal total shots (95% bootstrap interval, bootstrap std)"
    )
    for row in rows:
        parts = [
            f"{a}/uniform {r['ratio']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}] "
            f"(sd {r['bootstrap_std']:.3f})"
            for a, r in row["ratios"].items()
        ]
        print(f"  {row['case']:8} " + "   ".join(parts))
    print(f"{seconds:.0f} s")
    report = {
        "benchmark": "shot allocations of the sampled cut path at equal total shots: RMS error against "
        "Statevector, uniform vs weighted vs adaptive",
        "setup": {
            "shots_per_circuit_average": args.shots,
            "steps": steps,
            "repetitions_per_step": reps,
            "repetitions": steps * reps,
            "small_circuit_batch": BATCH,
            "warmup_runs_per_step": WARMUP_STEPS,
            "warmup_step_size_rad": STEP_SIZE,
            "bootstrap_resamples": BOOTSTRAP,
            "seed": SEED,
            "config": str(CONFIG.relative_to(ROOT)),
        },
        "note": (
            "each step: adaptive re-warms (3 adapt=True runs of the earlier steps: qlstm the 3 earlier "
            "time steps of the forward pass, small circuits the batch moved back by a N(0, 0.01^2) "
            "random walk per step), then one adapt=False run of the batch x repetitions; ratios are of "
            "the RMS error over repetitions, bindings and observables, bootstrap over whole steps"
        ),
        "seconds": round(seconds, 1),
        "rows": rows,
    }
    write_json(args.out, report)
    return report


if __name__ == "__main__":
    main()
