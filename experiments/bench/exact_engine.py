"""Time one NARMA-5 training epoch of the QLSTM with the exact engine.

Reference, measured in the same run: what a user without this package would
write - every gate circuit of every sample and time step evaluated with qiskit
``Statevector``, gradients by the parameter-shift rule (two more Statevector
runs per circuit parameter), plugged into the same QLSTM via a
``torch.autograd.Function``. The reference is timed on a few batches and scaled
to the epoch (its per-batch cost does not depend on the data); both are
checked to give the same loss and gradients first.

    python experiments/bench/exact_engine.py [--quick] [--out PATH]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from machine import RESULTS, write_json
from qiskit.quantum_info import Statevector

from dqlstm.models import QLSTM

EPOCH_WINDOWS, BATCH, STEPS = 198, 10, 4


class _StatevectorExpectation(torch.autograd.Function):
    @staticmethod
    def forward(ctx, angles, weights, vqc):
        a, w = angles.detach().double().numpy(), weights.detach().double().numpy()
        values, jac = _evaluate(vqc, a, w, with_jacobian=True)
        ctx.save_for_backward(torch.from_numpy(jac))
        ctx.n_in = a.shape[1]
        return torch.from_numpy(values).to(angles.dtype)

    @staticmethod
    def backward(ctx, grad):
        (jac,) = ctx.saved_tensors  # (G, B, n_obs, n_in + n_w)
        full = torch.einsum("gbo,gbop->gbp", grad.double(), jac)
        g_in = full[..., : ctx.n_in].sum(0)
        g_w = full[..., ctx.n_in :].sum(1)
        return g_in.float(), g_w.float(), None


def _expect_z(vqc, a_row, w_row):
    bind = dict(zip(vqc.inputs, a_row))
    bind.update(zip(vqc.weights, w_row))
    probs = Statevector(vqc.circuit.assign_parameters(bind)).probabilities()
    k = np.arange(len(probs))
    return np.array([(probs * (1 - 2 * ((k >> q) & 1))).sum() for q in range(vqc.num_qubits)])


def _evaluate(vqc, a, w, with_jacobian):
    G, B = w.shape[0], a.shape[0]
    values = np.zeros((G, B, vqc.num_qubits))
    jac = np.zeros((G, B, vqc.num_qubits, a.shape[1] + w.shape[1]))
    for g in range(G):
        for b in range(B):
            values[g, b] = _expect_z(vqc, a[b], w[g])
            if not with_jacobian:
                continue
            params = np.concatenate((a[b], w[g]))
            for p in range(len(params)):
                shifted = []
                for s in (np.pi / 2, -np.pi / 2):
                    q = params.copy()
                    q[p] += s
                    shifted.append(_expect_z(vqc, q[: a.shape[1]], q[a.shape[1] :]))
                jac[g, b, :, p] = (shifted[0] - shifted[1]) / 2
    return values, jac


class StatevectorReferenceEngine:
    """Same interface as the exact engine: ``prepare(weights)(angles) -> (G, B, n)``."""

    def __init__(self, vqc):
        self.vqc = vqc

    def prepare(self, weights):
        return lambda angles: _StatevectorExpectation.apply(angles, weights, self.vqc)


def _epoch_batches(n_qubits: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(EPOCH_WINDOWS, STEPS, 1, generator=g) * 2 - 1
    y = torch.rand(EPOCH_WINDOWS, 1, generator=g) * 2 - 1
    return [(x[i : i + BATCH], y[i : i + BATCH]) for i in range(0, EPOCH_WINDOWS, BATCH)]


def _train_batches(model, head, batches):
    opt = torch.optim.RMSprop(list(model.parameters()) + list(head.parameters()), lr=0.01)
    for xb, yb in batches:
        opt.zero_grad()
        _, (h, _) = model(xb)
        loss = torch.mean((head(h) - yb) ** 2)
        loss.backward()
        opt.step()
    return loss.item()


def bench(n_qubits: int, layers: int, repeats: int, ref_batches: int) -> dict:
    torch.manual_seed(0)
    model = QLSTM(1, 4, n_qubits=n_qubits, ansatz="chen2020", layers=layers, seed=0)
    head = torch.nn.Linear(4, 1)
    batches = _epoch_batches(n_qubits)

    # same numbers first: loss and gradients of one batch through both engines
    ref_model = QLSTM(1, 4, n_qubits=n_qubits, ansatz="chen2020", layers=layers, seed=0)
    ref_model.load_state_dict(model.state_dict())
    ref_model.engine = StatevectorReferenceEngine(ref_model.vqc)
    grads = []
    for m in (model, ref_model):
        m.zero_grad()
        xb, yb = batches[0]
        loss = torch.mean((head(m(xb)[1][0]) - yb) ** 2)
        loss.backward()
        grads.append(m.vqc_weights.grad.clone())
    max_grad_diff = float((grads[0] - grads[1]).abs().max())

    _train_batches(model, head, batches)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _train_batches(model, head, batches)
        times.append(time.perf_counter() - t0)
    epoch_s = float(np.median(times))

    t0 = time.perf_counter()
    _train_batches(ref_model, head, batches[:ref_batches])
    ref_epoch_s = (time.perf_counter() - t0) / ref_batches * len(batches)
    prepared = model.engine.prepare(model.vqc_weights)
    return {
        "n_qubits": n_qubits,
        "layers": layers,
        "block": "unitary" if prepared.block_unitary is not None else "chunked states",
        "epoch_seconds": epoch_s,
        "epoch_seconds_min": float(min(times)),
        "reference_epoch_seconds": ref_epoch_s,
        "reference_batches_timed": ref_batches,
        "speedup": ref_epoch_s / epoch_s,
        "max_abs_gradient_difference": max_grad_diff,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 qubits only, fewer repeats")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (training uses 1 by default)")
    parser.add_argument("--out", default=str(RESULTS / "bench_exact_engine.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    configs = [(4, 2)] if args.quick else [(4, 2), (6, 2), (8, 2)]
    results = []
    for n, layers in configs:
        r = bench(n, layers, repeats=3 if args.quick else 7, ref_batches=1)
        results.append(r)
        print(
            f"{n} qubits, {layers} layers ({r['block']}): epoch {r['epoch_seconds']*1e3:8.1f} ms "
            f"(min {r['epoch_seconds_min']*1e3:.1f})  reference {r['reference_epoch_seconds']:8.2f} s  "
            f"speed-up {r['speedup']:7.0f}x  |grad diff| {r['max_abs_gradient_difference']:.1e}"
        )
    payload = {
        "benchmark": "exact_engine",
        "epoch": {"windows": EPOCH_WINDOWS, "batch": BATCH, "steps": STEPS},
        "results": results,
    }
    write_json(args.out, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
