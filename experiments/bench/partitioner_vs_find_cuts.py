"""Benchmark: ``partitioner.plan_cuts`` vs qiskit-addon-cutting's ``find_cuts``.

Random circuits (CX/CZ/RZZ on random pairs) and the dqlstm ansatz families,
8-24 qubits, QPU sizes 3-12. For each: total sampling overhead and wall time of
both on the same circuit and capacity; the ratio is find_cuts / plan_cuts
overhead (> 1: plan_cuts cheaper). ``find_cuts`` runs with its default
``OptimizationParameters`` (max_gamma 1024, max_backjumps 10000) and seed 0.

    python experiments/bench/partitioner_vs_find_cuts.py [--quick] [--out FILE]

Writes runs/bench/bench_partitioner.json (the committed file: --out experiments/results/bench_partitioner.json).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script from anywhere in the checkout
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from qiskit import QuantumCircuit  # noqa: E402

from dqlstm.circuits import build_vqc  # noqa: E402
from partitioner import plan_cuts  # noqa: E402
from partitioner.baseline import find_cuts_positions  # noqa: E402
from machine import RESULTS, write_json  # noqa: E402


def random_circuit(n: int, gates: int, seed: int) -> QuantumCircuit:
    """Random two-qubit gates (CX, CZ, RZZ(random angle)) on random pairs, RY between."""
    rng = np.random.default_rng(seed)
    qc = QuantumCircuit(n)
    for q in range(n):
        qc.ry(float(rng.uniform(0, 2 * np.pi)), q)
    for _ in range(gates):
        a, b = (int(x) for x in rng.choice(n, 2, replace=False))
        kind = rng.choice(["cx", "cz", "rzz"], p=[0.5, 0.25, 0.25])
        if kind == "cx":
            qc.cx(a, b)
        elif kind == "cz":
            qc.cz(a, b)
        else:
            qc.rzz(float(rng.uniform(0, np.pi)), a, b)
        qc.ry(float(rng.uniform(0, 2 * np.pi)), b)
    return qc


def cases(quick: bool) -> list[dict]:
    """Benchmark instances: name, circuit, capacity."""
    out = []
    sizes = [8, 10, 12] if quick else [8, 10, 12, 14, 16, 20, 24]
    seeds = range(2) if quick else range(3)
    for n in sizes:
        for s in seeds:
            gates = int(1.5 * n) if s % 2 == 0 else 2 * n
            cap = [3, 4, 6, 8, 12][(n + s) % 5]
            cap = min(cap, n - 1)
            out.append({"family": "random", "n": n, "gates": gates, "cap": cap,
                        "circuit": random_circuit(n, gates, seed=1000 * n + s)})
    ansatz = [
        ("chen2020", 8, 1, {}, 4),
        ("brick", 12, 2, {}, 5),
        ("modular", 12, 2, {"module_size": 3, "links": 1}, 3),
        ("modular", 12, 2, {"module_size": 4, "links": 2}, 6),
    ]
    if not quick:
        ansatz += [
            ("chen2020", 10, 1, {}, 6),
            ("brick", 16, 2, {}, 6),
            ("brick", 24, 1, {}, 8),
            ("modular", 18, 2, {"module_size": 3, "links": 2}, 6),
            ("modular", 24, 1, {"module_size": 4, "links": 1}, 12),
            ("modular", 16, 2, {"module_size": 4, "links": 0}, 4),
        ]
    for fam, n, layers, kw, cap in ansatz:
        qc = build_vqc(fam, n_qubits=n, layers=layers, **kw).circuit
        label = fam + "".join(f",{k}={v}" for k, v in kw.items()) + f",L={layers}"
        out.append({"family": label, "n": n, "gates": sum(len(i.qubits) == 2 for i in qc.data),
                    "cap": cap, "circuit": qc})
    return out


def time_plan(circuit: QuantumCircuit, cap: int, repeats: int) -> tuple[object, float, float]:
    """Plan, median wall seconds, median CPU seconds (CPU time is robust to a shared machine)."""
    plan, wall, cpu = None, [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        plan = plan_cuts(circuit, cap)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return plan, statistics.median(wall), statistics.median(cpu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few small instances (about a minute)")
    parser.add_argument("--repeats", type=int, default=3, help="plan_cuts timings per instance (median)")
    parser.add_argument("--out", default=str(RESULTS / "bench_partitioner.json"))
    args = parser.parse_args(argv)

    rows = []
    header = (f"{'family':<34} {'n':>3} {'2q':>4} {'cap':>4} | {'plan_cuts':>10} {'cuts':>7} {'ms':>7} {'cpu':>6}"
              f" | {'find_cuts':>10} {'cuts':>7} {'s':>7} {'min':>5} | {'ratio':>9}")
    print(header)
    print("-" * len(header))
    for case in cases(args.quick):
        qc, cap = case["circuit"], case["cap"]
        plan, seconds, cpu_seconds = time_plan(qc, cap, args.repeats)
        t0 = time.perf_counter()
        gates, wires, meta = find_cuts_positions(qc, cap, seed=0)
        fc_seconds = time.perf_counter() - t0
        fc_overhead = float(meta["sampling_overhead"])
        ours = plan.sampling_overhead
        row = {
            "family": case["family"], "n": case["n"], "two_qubit_gates": case["gates"], "max_qubits": cap,
            "plan_cuts": {"overhead": ours, "log10_overhead": math.log10(ours),
                          "gate_cuts": plan.num_gate_cuts, "wire_cuts": plan.num_wire_cuts,
                          "fragments": plan.num_fragments, "ms": 1e3 * seconds,
                          "cpu_ms": 1e3 * cpu_seconds,
                          "gate_optimal": plan.gate_optimal},
            "find_cuts": {"overhead": fc_overhead, "log10_overhead": math.log10(fc_overhead),
                          "gate_cuts": len(gates), "wire_cuts": len(wires),
                          "seconds": fc_seconds, "minimum_reached": bool(meta["minimum_reached"])},
            "ratio": fc_overhead / ours,
        }
        rows.append(row)
        print(f"{case['family']:<34} {case['n']:>3} {case['gates']:>4} {cap:>4} | {ours:>10.3g} "
              f"{plan.num_gate_cuts:>3}g{plan.num_wire_cuts:>2}w {1e3 * seconds:>7.1f} {1e3 * cpu_seconds:>6.1f} | {fc_overhead:>10.3g} "
              f"{len(gates):>3}g{len(wires):>2}w {fc_seconds:>7.2f} {str(meta['minimum_reached']):>5} | "
              f"{row['ratio']:>9.3g}", flush=True)

    tol = 1e-9
    rnd = [r for r in rows if r["family"] == "random"]
    small = [r["plan_cuts"]["ms"] for r in rows if r["n"] <= 16]
    small_cpu = [r["plan_cuts"]["cpu_ms"] for r in rows if r["n"] <= 16]
    summary = {
        "instances": len(rows),
        "never_worse": sum(r["ratio"] >= 1 - tol for r in rows),
        "worse": [f"{r['family']} n={r['n']} cap={r['max_qubits']}" for r in rows if r["ratio"] < 1 - tol],
        "random_instances": len(rnd),
        "random_strictly_better": sum(r["ratio"] > 1 + tol for r in rnd),
        "geomean_ratio": math.exp(statistics.mean(math.log(r["ratio"]) for r in rows)),
        "plan_cuts_ms_median": statistics.median(r["plan_cuts"]["ms"] for r in rows),
        "plan_cuts_ms_max_up_to_16_qubits": max(small) if small else None,
        "plan_cuts_ms_max": max(r["plan_cuts"]["ms"] for r in rows),
        "plan_cuts_cpu_ms_median": statistics.median(r["plan_cuts"]["cpu_ms"] for r in rows),
        "plan_cuts_cpu_ms_max_up_to_16_qubits": max(small_cpu) if small_cpu else None,
        "plan_cuts_cpu_ms_max": max(r["plan_cuts"]["cpu_ms"] for r in rows),
        "find_cuts_s_median": statistics.median(r["find_cuts"]["seconds"] for r in rows),
    }
    print()
    print(f"never worse than find_cuts: {summary['never_worse']}/{summary['instances']}"
          + (f"  (worse: {', '.join(summary['worse'])})" if summary["worse"] else ""))
    print(f"strictly better on random circuits: {summary['random_strictly_better']}/{len(rnd)}")
    print(f"geometric-mean overhead ratio find_cuts/plan_cuts: {summary['geomean_ratio']:.3g}")
    print(f"plan_cuts wall ms: median {summary['plan_cuts_ms_median']:.1f}, max up to 16 qubits "
          f"{summary['plan_cuts_ms_max_up_to_16_qubits']:.1f}, max {summary['plan_cuts_ms_max']:.1f}")
    print(f"plan_cuts CPU ms: median {summary['plan_cuts_cpu_ms_median']:.1f}, max up to 16 qubits "
          f"{summary['plan_cuts_cpu_ms_max_up_to_16_qubits']:.1f}, max {summary['plan_cuts_cpu_ms_max']:.1f}")
    print(f"find_cuts s: median {summary['find_cuts_s_median']:.2f}")
    result = {
        "benchmark": "partitioner.plan_cuts vs qiskit_addon_cutting.find_cuts",
        "quick": args.quick,
        "repeats": args.repeats,
        "summary": summary,
        "rows": rows,
    }
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
