"""Benchmark AerQPU's shots: exact-distribution route vs Aer per-shot, on the same QPD PUBs.

Workload: a 12-qubit circuit of 3 modules x 4 qubits (RY/RZ parameters on
single qubits, CX chains inside a module, one CX link between neighbouring
modules); both links are cut (qiskit-addon-cutting), and every distinct
sub-experiment of the 3 fragments becomes one PUB of 8 bindings x 4000 shots.
Each row runs the same PUBs through ``AerQPU.execute`` with
``shots_method="per-shot"`` (Aer's SamplerV2, the reference, measured in the
same run) and ``"exact"``; rows: ideal, depolarizing + readout, and a fake
IBM device's noise (FakeManilaV2 unless ``--fake-backend`` names another or
``""``).

Transpilation (noisy rows) is identical for both routes and done before the
clocks start; it is reported apart. The exact route is timed cold (a fresh
QPU: compiling every circuit is included) and warm (compiled circuits cached,
as when training re-runs the same circuits with new parameters).

    python experiments/bench/shots.py [--quick] [--repeats 3] [--fake-backend NAME] [--out PATH]

Writes ``runs/bench/bench_shots.json``; the committed result comes from
``--out experiments/results/bench_shots.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import PauliList
from qiskit_addon_cutting import cut_gates, generate_cutting_experiments, partition_problem

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script from anywhere in the checkout
    sys.path.insert(0, str(ROOT))

from backends import AerQPU, Pub, as_pub, circuit_fingerprint, derive_seed  # noqa: E402
from machine import RESULTS, write_json  # noqa: E402

SEED = 2024
NOISY = {"depolarizing_1q": 1e-3, "depolarizing_2q": 1e-2, "readout": 0.02}


def modular_circuit(modules: int, size: int, layers: int) -> tuple[QuantumCircuit, list[int]]:
    """Modules of ``size`` qubits; returns the circuit and the indices of the inter-module CX links."""
    width = modules * size
    theta = ParameterVector("t", 2 * width * (layers + 1))
    qc = QuantumCircuit(width)
    links, k = [], 0
    for layer in range(layers + 1):
        for q in range(width):
            qc.ry(theta[k], q)
            qc.rz(theta[k + 1], q)
            k += 2
        if layer == layers:
            break
        for m in range(modules):
            for q in range(m * size, (m + 1) * size - 1):
                qc.cx(q, q + 1)
        if layer == 0:  # one link between neighbours, in the first layer only
            for m in range(modules - 1):
                links.append(len(qc.data))
                qc.cx((m + 1) * size - 1, (m + 1) * size)
    return qc, links


def workload(modules: int, size: int, layers: int, bindings: int, shots: int) -> list[Pub]:
    """One PUB per distinct sub-experiment of the cut circuit's fragments."""
    qc, links = modular_circuit(modules, size, layers)
    cut, _ = cut_gates(qc, links)
    labels = "".join(chr(ord("A") + q // size) for q in range(qc.num_qubits))
    parts = partition_problem(cut, labels, observables=PauliList(["Z" * qc.num_qubits]))
    subs, _ = generate_cutting_experiments(parts.subcircuits, parts.subobservables, num_samples=np.inf)
    rng = np.random.default_rng(SEED)
    pubs, seen = [], set()
    for label in sorted(subs):
        for circuit in subs[label]:
            key = circuit_fingerprint(circuit)
            if key not in seen:  # identical circuits would only repeat work
                seen.add(key)
                values = rng.uniform(-np.pi, np.pi, (bindings, circuit.num_parameters))
                pubs.append(as_pub((circuit, values, shots), shots))
    return pubs


def has_mid_circuit_measurement(qc: QuantumCircuit) -> bool:
    measured: set = set()
    for inst in qc.data:
        if inst.operation.name == "measure":
            measured |= set(inst.qubits)
        elif measured & set(inst.qubits):
            return True
    return False


def fresh_qpu(noise: object, width: int, method: str,
              transpiled: dict[str, tuple[QuantumCircuit, QuantumCircuit]]) -> AerQPU:
    """A new QPU whose transpile cache already holds the row's circuits (identical for both routes)."""
    qpu = AerQPU(f"aer-{method}", width, noise, shots_method=method)
    for original, done in transpiled.values():
        qpu._transpiled.get(original, lambda _, done=done: done)
    return qpu


def run(qpu: AerQPU, pubs: list[Pub]) -> tuple[float, list, np.ndarray]:
    """Wall seconds of all PUBs, their results, and seconds per PUB."""
    results, seconds = [], []
    start = time.perf_counter()
    for p in pubs:
        t = time.perf_counter()
        results.append(qpu.execute(p, derive_seed(SEED, p)))
        seconds.append(time.perf_counter() - t)
    return time.perf_counter() - start, results, np.asarray(seconds)


def bench_row(name: str, noise: object, pubs: list[Pub], width: int, repeats: int) -> dict:
    probe = AerQPU("probe", width, noise)
    start = time.perf_counter()
    transpiled = {circuit_fingerprint(p.circuit): (p.circuit, probe._transpile(p.circuit) if probe.basis_gates
                                                   else p.circuit) for p in pubs}
    transpile_seconds = time.perf_counter() - start if probe.basis_gates else 0.0
    reference_seconds, reference, reference_each = run(fresh_qpu(noise, width, "per-shot", transpiled), pubs)
    cold, warm, cold_each = float("inf"), float("inf"), None
    for _ in range(repeats):
        qpu = fresh_qpu(noise, width, "exact", transpiled)
        seconds, results, each = run(qpu, pubs)
        if seconds < cold:
            cold, cold_each = seconds, each
        warm = min(warm, run(qpu, pubs)[0])
    mid = np.array([has_mid_circuit_measurement(p.circuit) for p in pubs])
    split = {}
    for label, mask in (("with_mid_circuit_measurements", mid), ("final_measurements_only", ~mid)):
        part = int(sum(p.shots * p.num_bindings for p, m in zip(pubs, mask) if m))
        if part:
            split[label] = {
                "pubs": int(mask.sum()),
                "per_shot_us_per_shot": round(1e6 * reference_each[mask].sum() / part, 3),
                "exact_cold_us_per_shot": round(1e6 * cold_each[mask].sum() / part, 4),
                "speedup_cold": round(reference_each[mask].sum() / cold_each[mask].sum(), 1),
            }
    routes = sorted({r.metadata["shots_route"] for r in results})
    methods = sorted({r.metadata["simulator_metadata"].get("method", "?") for r in results})
    shots = sum(p.shots * p.num_bindings for p in pubs)
    # Same PUBs, same law: the pooled counts over all PUBs must agree closely.
    tvd = max(_pooled_tvd(a, b) for a, b in zip(results, reference))
    return {
        "row": name,
        "noise": noise,
        "pubs": len(pubs),
        "total_shots": shots,
        "transpile_seconds": round(transpile_seconds, 3),
        "per_shot_seconds": round(reference_seconds, 3),
        "exact_cold_seconds": round(cold, 4),
        "exact_warm_seconds": round(warm, 4),
        "per_shot_shots_per_s": round(shots / reference_seconds),
        "exact_cold_shots_per_s": round(shots / cold),
        "exact_warm_shots_per_s": round(shots / warm),
        "us_per_shot_per_shot": round(1e6 * reference_seconds / shots, 3),
        "us_per_shot_exact_cold": round(1e6 * cold / shots, 4),
        "speedup_cold": round(reference_seconds / cold, 1),
        "speedup_warm": round(reference_seconds / warm, 1),
        "exact_routes": routes,
        "exact_methods": methods,
        "max_pub_total_variation_vs_per_shot": round(tvd, 4),
        "by_circuit_kind": split,
    }


def _pooled_tvd(a: object, b: object) -> float:
    """Total variation distance of the first register's counts pooled over bindings (a sanity check)."""
    name = next(iter(a.data))
    ca, cb = a.data[name].get_counts(), b.data[name].get_counts()
    total = sum(ca.values())
    return 0.5 * sum(abs(ca.get(k, 0) - cb.get(k, 0)) for k in set(ca) | set(cb)) / total


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 bindings x 500 shots (seconds)")
    parser.add_argument("--repeats", type=int, default=3, help="best of N timings of the exact route")
    parser.add_argument("--fake-backend", default="FakeManilaV2",
                        help="row with this fake IBM device's noise ('' for none)")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_shots.json")
    args = parser.parse_args(argv)
    setup = dict(modules=3, size=4, layers=2, bindings=2 if args.quick else 8, shots=500 if args.quick else 4000)
    pubs = workload(**setup)
    width = max(p.width for p in pubs)
    mid = sum(has_mid_circuit_measurement(p.circuit) for p in pubs)
    print(f"{len(pubs)} distinct sub-experiments ({mid} with mid-circuit measurements) of <= {width} qubits, "
          f"{setup['bindings']} bindings x {setup['shots']} shots; {os.cpu_count()} CPUs; "
          f"exact route best of {args.repeats}")
    rows_spec = [("ideal", None), ("depolarizing+readout", NOISY)]
    if args.fake_backend:
        rows_spec.append((args.fake_backend, {"fake_backend": args.fake_backend}))
    rows = []
    for name, noise in rows_spec:
        row = bench_row(name, noise, pubs, width, max(1, args.repeats))
        rows.append(row)
        print(f"  {name}: per-shot {row['per_shot_seconds']:.2f} s, exact {row['exact_cold_seconds']:.3f} s cold / "
              f"{row['exact_warm_seconds']:.3f} s warm", flush=True)
    print(f"{'row':>22} {'per-shot shots/s':>17} {'exact shots/s':>14} {'ratio':>7} "
          f"{'warm shots/s':>13} {'ratio':>7} {'us/shot':>8} {'routes'}")
    for r in rows:
        print(f"{r['row']:>22} {r['per_shot_shots_per_s']:>17,} {r['exact_cold_shots_per_s']:>14,} "
              f"{r['speedup_cold']:>6.0f}x {r['exact_warm_shots_per_s']:>13,} {r['speedup_warm']:>6.0f}x "
              f"{r['us_per_shot_per_shot']:>8.2f} {','.join(r['exact_routes'])}/{','.join(r['exact_methods'])}")
        for kind, part in r["by_circuit_kind"].items():
            print(f"{'':>22}   {kind}: {part['pubs']} PUBs, per-shot {part['per_shot_us_per_shot']:.2f} us/shot, "
                  f"exact {part['exact_cold_us_per_shot']:.3f} us/shot, {part['speedup_cold']:.0f}x")
    report = {
        "benchmark": "AerQPU shots: exact-distribution route vs Aer SamplerV2 per-shot (1 simulator thread)",
        "setup": {**setup, "num_pubs": len(pubs), "pubs_with_mid_circuit_measurements": mid,
                  "max_width": width, "repeats": args.repeats, "seed": SEED, "noisy": NOISY},
        "note": ("per-shot measured once per row, exact best of repeats; cold = fresh QPU (compiles every "
                 "circuit), warm = compiled circuits cached; transpilation excluded from both"),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "rows": rows,
    }
    write_json(args.out, report)
    return report


if __name__ == "__main__":
    main()
