"""Benchmark: vectorised cut reconstruction vs qiskit-addon-cutting's reference.

12 qubits split 6 + 6, k = 1..4 CX gates between the halves (6^k QPD terms),
12 single-qubit <Z_i> readouts plus the global Z parity, 4000 shots per
sub-experiment and a batch of B = 8 parameter bindings (one PUB per
sub-experiment carrying all bindings).

Both reconstructors get identical results. Ours (``CutReconstructor``) takes
the batched results directly. The reference, ``reconstruct_expectation_values``,
takes one binding at a time, so it is called in a loop over the batch, as a
user would; building its per-binding inputs is *not* timed. Where the
reference would take too long (above ``--ref-max-shots`` shots, k = 4: about
10 M shots per binding) it is timed on fewer bindings and scaled to the batch;
each binding has the same terms and shots, so its cost is the same.

Results source: ``synthetic`` (default) draws uniformly random bits with the
exact register layout of each sub-experiment (from
``generate_cutting_experiments``). Reconstruction cost does not depend on the
bit values, and simulating k = 4 with Aer means 83 M mid-circuit-measured shots.
``--source aer`` runs the sub-experiments on Aer instead (fine for k <= 2).

Usage: ``python experiments/bench/reconstruct.py [--quick] [--source aer] [--cuts 1 2]``.
Writes ``runs/bench/bench_reconstruct.json`` (committed: ``--out experiments/results/...``), one entry per source
(``synthetic``, ``aer``, ``*_quick``), keeping the others.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.primitives import BitArray, DataBin, PrimitiveResult, SamplerPubResult
from qiskit_addon_cutting import reconstruct_expectation_values

from dqlstm.cutting.sampled import SampledCutExecutor, run_pubs
from machine import RESULTS, machine_info



def circuit(num_qubits: int, cuts: int) -> QuantumCircuit:
    """RY layer, CX chain inside each half, ``cuts`` CX across, RX layer."""
    half = num_qubits // 2
    t = ParameterVector("t", 2 * num_qubits)
    qc = QuantumCircuit(num_qubits)
    for q in range(num_qubits):
        qc.ry(t[q], q)
    for lo in (0, half):
        for q in range(lo, lo + half - 1):
            qc.cx(q, q + 1)
    for j in range(cuts):
        qc.cx(half - 1 - j, half + j)
    for q in range(num_qubits):
        qc.rx(t[num_qubits + q], q)
    return qc


def observables(num_qubits: int) -> list[str]:
    z = ["I" * (num_qubits - 1 - i) + "Z" + "I" * i for i in range(num_qubits)]
    return z + ["Z" * num_qubits]


class SyntheticPool:
    """Uniformly random bits in each sub-experiment's exact register layout."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def run(self, pubs):
        out = []
        for circ, values, shots in pubs:
            regs = {}
            for reg in circ.cregs:
                nbytes = (reg.size + 7) // 8
                arr = self.rng.integers(0, 256, (*values.shape[:-1], shots, nbytes), dtype=np.uint8)
                arr[..., 0] &= (1 << (reg.size - 8 * (nbytes - 1))) - 1  # unused high bits are 0
                regs[reg.name] = BitArray(arr, reg.size)
            out.append(SamplerPubResult(DataBin(**regs)))
        return out


def _binding(result, b: int) -> SamplerPubResult:
    d = result.data
    return SamplerPubResult(
        DataBin(
            qpd_measurements=BitArray(d.qpd_measurements.array[b], d.qpd_measurements.num_bits),
            observable_measurements=BitArray(
                d.observable_measurements.array[b], d.observable_measurements.num_bits
            ),
        )
    )


def bench_one(cuts: int, args: argparse.Namespace) -> dict:
    n = args.qubits
    qc = circuit(n, cuts)
    labels = "A" * (n // 2) + "B" * (n - n // 2)
    pool = SyntheticPool(args.seed) if args.source == "synthetic" else None
    # every listed sub-experiment runs: the reference reconstructor takes one result per listed circuit
    ex = SampledCutExecutor(qc, observables(n), labels, pool=pool, shots=args.shots, seed=args.seed, deduplicate=False)
    values = np.random.default_rng(args.seed).uniform(-np.pi, np.pi, (args.batch, ex.num_parameters))

    t0 = time.perf_counter()
    pubs = [
        (c, values[:, cols], ex.shots)
        for frag in ex.fragments
        for c, cols in zip(frag.subexperiments, frag.columns)
    ]
    results = run_pubs(ex.pool, pubs)
    t_execute = time.perf_counter() - t0
    by_label, start = {}, 0
    for frag in ex.fragments:
        by_label[frag.label] = results[start : start + len(frag.subexperiments)]
        start += len(frag.subexperiments)

    rec = ex.reconstructor
    t_ours = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        ours = rec.reconstruct(by_label)
        t_ours.append(time.perf_counter() - t0)

    shots_per_element = len(pubs) * args.shots
    ref_elements = args.ref_elements or max(1, int(args.ref_max_shots // shots_per_element))
    ref_elements = min(args.batch, ref_elements)
    t_ref = 0.0
    ref = []
    for b in range(ref_elements):
        per_binding = {
            lab: PrimitiveResult([_binding(r, b) for r in res]) for lab, res in by_label.items()
        }
        t0 = time.perf_counter()
        ref.append(reconstruct_expectation_values(per_binding, ex.coefficients, ex.subobservables))
        t_ref += time.perf_counter() - t0
    t_ref_batch = t_ref * args.batch / ref_elements
    diff = float(np.abs(np.array(ref) - ours.values[:ref_elements]).max())
    row = {
        "cuts": cuts,
        "qpd_terms": rec.num_qpd_terms,
        "subexperiments": ex.num_subexperiments,
        "sampling_overhead": ex.sampling_overhead,
        "total_shots": len(pubs) * args.batch * args.shots,
        "execute_seconds": t_execute,
        "ours_seconds": min(t_ours),
        "reference_seconds": t_ref_batch,
        "reference_elements_timed": ref_elements,
        "reference_extrapolated": ref_elements < args.batch,
        "speedup": t_ref_batch / min(t_ours),
        "max_abs_diff": diff,
    }
    print(
        f"k={cuts}: terms={row['qpd_terms']:5d} subexp={row['subexperiments']:5d} "
        f"ours={row['ours_seconds']:.4f}s reference={t_ref_batch:.2f}s"
        f"{' (extrapolated)' if row['reference_extrapolated'] else ''} "
        f"speedup={row['speedup']:.0f}x max|diff|={diff:.1e}",
        flush=True,
    )
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="k = 1..2, B = 2, 1000 shots")
    ap.add_argument("--qubits", type=int, default=12)
    ap.add_argument("--cuts", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--shots", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--source", choices=["synthetic", "aer"], default="synthetic")
    ap.add_argument(
        "--ref-elements",
        type=int,
        default=0,
        help="batch elements the reference is timed on (0: as many as --ref-max-shots allows); "
        "its time for the whole batch is extrapolated from them (every element costs the same)",
    )
    ap.add_argument("--ref-max-shots", type=float, default=2e7)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--out", type=Path, default=RESULTS / "bench_reconstruct.json")
    args = ap.parse_args()
    if args.quick:
        args.cuts, args.batch, args.shots = [1, 2], 2, 1000

    rows = [bench_one(k, args) for k in args.cuts]
    report = {
        "benchmark": "vectorised CutReconstructor vs qiskit_addon_cutting.reconstruct_expectation_values",
        "qubits": args.qubits,
        "split": [args.qubits // 2, args.qubits - args.qubits // 2],
        "observables": len(observables(args.qubits)),
        "shots_per_subexperiment": args.shots,
        "batch": args.batch,
        "source": args.source,
        "quick": args.quick,
        "machine": machine_info(),
        "rows": rows,
    }
    # one entry per results source (and quick mode); other entries are kept
    key = args.source + ("_quick" if args.quick else "")
    merged = json.loads(args.out.read_text()) if args.out.exists() else {}
    if "rows" in merged:  # older single-run layout
        merged = {}
    merged[key] = report
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.out} [{key}]")


if __name__ == "__main__":
    main()
