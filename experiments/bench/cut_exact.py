"""Time ``cut-exact`` forward + backward on wide modular gate circuits.

Modular circuits of 20, 40 and 100 qubits (modules of 10 qubits joined by one
CNOT link per layer, so fragments of 10 qubits in a chain), a batch of 32
input bindings, one weight set, ``<Z_i>`` on every qubit, forward and
backward through torch autograd. Reference in the same run: the uncut exact
statevector engine where it fits in memory (20 qubits, on a batch of 4 since
autograd keeps its 2^20-amplitude intermediates); beyond that there is no
uncut reference (2^40 amplitudes), which is the point of cutting.

    python experiments/bench/cut_exact.py [--quick] [--out PATH]
"""

from __future__ import annotations

import argparse
import time

import torch
from machine import RESULTS, write_json

from dqlstm.circuits import build_vqc
from dqlstm.cutting import CutExactEngine
from dqlstm.engine import ExactEngine

BATCH = 32
REFERENCE_BATCH = 4


def _time_fwd_bwd(engine, x, w, repeats: int) -> tuple[float, float]:
    fwd, bwd = [], []
    for _ in range(repeats + 1):  # first call warms up
        xs, ws = x.detach().requires_grad_(), w.detach().requires_grad_()
        t0 = time.perf_counter()
        out = engine(xs, ws)
        t1 = time.perf_counter()
        out.sum().backward()
        t2 = time.perf_counter()
        fwd.append(t1 - t0)
        bwd.append(t2 - t1)
    return min(fwd[1:]), min(bwd[1:])


def bench(n_qubits: int, module: int, layers: int, repeats: int, reference: bool) -> dict:
    g = build_vqc("modular", n_qubits, layers, module_size=module, links=1)
    t0 = time.perf_counter()
    eng = CutExactEngine(g.circuit, g.inputs, g.weights, max_qubits=module)
    setup = time.perf_counter() - t0
    gen = torch.Generator().manual_seed(n_qubits)
    x = torch.randn(BATCH, g.num_inputs, generator=gen, dtype=torch.float64)
    w = torch.randn(1, g.num_weights, generator=gen, dtype=torch.float64)
    fwd, bwd = _time_fwd_bwd(eng, x, w, repeats)
    row = {
        "n_qubits": n_qubits,
        "module_size": module,
        "layers": layers,
        "batch": BATCH,
        "num_cuts": eng.plan.num_cuts,
        "fragment_widths": list(eng.plan.fragment_widths),
        "sampling_overhead": eng.plan.sampling_overhead,
        "setup_seconds": setup,
        "forward_seconds": fwd,
        "backward_seconds": bwd,
        "total_seconds": fwd + bwd,
    }
    if reference:
        # the uncut engine keeps every 2^n-amplitude intermediate for autograd: compare on a
        # smaller batch so it fits in memory, timing cut-exact on the same batch
        xr = x[:REFERENCE_BATCH]
        ref = ExactEngine(g.circuit, g.inputs, g.weights, unitary_max_qubits=0)
        rf, rb = _time_fwd_bwd(ref, xr, w, 1)
        cf, cb = _time_fwd_bwd(eng, xr, w, repeats)
        with torch.no_grad():
            err = float((eng(xr, w) - ref(xr, w)).abs().max())
        row.update(
            reference_batch=REFERENCE_BATCH,
            reference_total_seconds=rf + rb,
            cut_exact_total_seconds_at_reference_batch=cf + cb,
            speedup_vs_exact=(rf + rb) / (cf + cb),
            max_abs_error_vs_exact=err,
        )
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 and 40 qubits, one layer")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    parser.add_argument("--out", default=str(RESULTS / "bench_cut_exact.json"))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cases = [(20, 10, 1, True), (40, 10, 1, False)] if args.quick else [
        (20, 10, 2, True), (40, 10, 2, False), (100, 10, 2, False)
    ]
    rows = []
    for n, module, layers, ref in cases:
        r = bench(n, module, layers, repeats=1 if args.quick else 3, reference=ref)
        rows.append(r)
        line = (
            f"{n:4d} qubits ({r['fragment_widths']} , {r['num_cuts']} cuts, {layers} layers): "
            f"forward {r['forward_seconds']:.3f} s + backward {r['backward_seconds']:.3f} s "
            f"= {r['total_seconds']:.3f} s"
        )
        if ref:
            line += (
                f" | batch {REFERENCE_BATCH}: uncut exact {r['reference_total_seconds']:.2f} s vs "
                f"{r['cut_exact_total_seconds_at_reference_batch']:.3f} s, ratio {r['speedup_vs_exact']:.1f}x, "
                f"max error {r['max_abs_error_vs_exact']:.1e}"
            )
        print(line)
    payload = {
        "benchmark": "cut_exact",
        "results": rows,
    }
    write_json(args.out, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
