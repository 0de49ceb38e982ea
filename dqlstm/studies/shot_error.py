r"""Measured error of the sampled cut estimator against the exact value, over repetitions.

For one planned circuit (real gate and wire cuts) and ``bindings`` random
parameter bindings (QLSTM-style: uniform weights, encoded data in [-1, 1]),
the executor (:class:`~dqlstm.cutting.sampled.SampledCutExecutor`, uniform
allocation: ``shots`` per distinct sub-experiment) estimates every
:math:`\langle Z_q\rangle` ``repetitions`` times (independent draws: the
bindings are repeated inside one run). The error :math:`e = Y - \langle
Z_q\rangle` against ``qiskit.quantum_info.Statevector`` is compared with

* ``predicted``: the exact standard deviation of the estimator,
  :math:`\mathrm{Var}\,Y` of :mod:`.qpd_variance` evaluated with the exact
  sub-experiment means :math:`\mu_{f,d}` (exact laws of their classical bits);
* ``reported``: the estimator's own standard error (:mod:`dqlstm.cutting.dedup`);
* ``bound``: :math:`\sqrt{\prod_f (1 + B_f/N) - 1}`, the allocation's bound for any
  binding and :math:`\pm 1` observable;
* ``kappa``: :math:`\sqrt{(\kappa - \langle O\rangle^2)/(M N)}`, what term-by-term
  :math:`|c_i|`-proportional sampling would give with the same total shots;
* ``old``: :math:`\sqrt{\kappa\sigma^2/(MN)}`, :math:`\sigma^2 = 1 - \langle O\rangle^2`,
  the formula the sweep used before (it understates the cost of that scheme).

``chi2`` is the mean of :math:`e^2/\mathrm{Var}\,Y` over all draws (1 expected; its
spread is about :math:`\sqrt{2/\text{draws}}` for independent draws).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["ShotCase", "ShotRow", "measure_shot_error"]


@dataclass(frozen=True)
class ShotCase:
    family: str
    layers: int
    n_qubits: int
    capacity: int


@dataclass
class ShotRow:
    """One case: plan figures, shots, and measured vs predicted errors (RMS over bindings and qubits)."""

    family: str
    layers: int
    n_qubits: int
    capacity: int
    num_cuts: int
    num_gate_cuts: int
    num_wire_cuts: int
    cut_operations: str
    num_fragments: int
    sampling_overhead: float
    num_subexperiments: int  # distinct, the ones that ran
    num_subexperiments_listed: int
    predicted_num_subexperiments: int  # from the per-cut classes (qpd_variance)
    weight_sum: float  # sum_f B_f
    shots: int  # per distinct sub-experiment and binding
    total_shots: int  # M N per estimate
    repetitions: int
    bindings: int
    draws: int  # repetitions x bindings x qubits
    measured_rms_error: float
    predicted_rms_stderr: float
    reported_rms_stderr: float
    bound_stderr: float
    kappa_rms_stderr: float
    old_formula_rms_stderr: float
    chi2: float
    within_2_sigma: float  # fraction of draws with |e| < 2 predicted stderr
    min_ratio: float  # per (binding, qubit): measured RMS / predicted, min and max
    max_ratio: float
    max_predicted_over_bound: float
    effective_shot_variance: float  # mean Var Y x M N, to set against kappa - <O>^2
    exact_mean_error: float  # |sum_g C_g prod mu - Statevector|, max (checks the exact means)
    seconds: float


def _bindings(vqc, count: int, generator: torch.Generator) -> np.ndarray:
    """``(count, P)`` values in ``circuit.parameters`` order: random weights, encoded data in [-1, 1]."""
    rows = []
    for _ in range(count):
        weights = vqc.init_weights(generator)
        data = 2 * torch.rand(vqc.num_qubits, generator=generator, dtype=torch.float64) - 1
        angles = vqc.encode(data)
        value = {p: float(v) for p, v in zip(vqc.weights, weights)}
        value.update({p: float(v) for p, v in zip(vqc.inputs, angles)})
        rows.append([value[p] for p in vqc.circuit.parameters])
    return np.array(rows)


def _statevector_z(circuit, values: np.ndarray) -> np.ndarray:
    from qiskit.quantum_info import Statevector

    n = circuit.num_qubits
    out = np.empty((len(values), n))
    for b, row in enumerate(values):
        probs = Statevector(circuit.assign_parameters(row)).probabilities()
        index = np.arange(probs.size)
        for q in range(n):
            out[b, q] = probs @ (1.0 - 2.0 * ((index >> q) & 1))
    return out


def measure_shot_error(
    case: ShotCase, vqc, plan, *, shots: int, repetitions: int, bindings: int, seed: int = 0
) -> ShotRow:
    """Run ``case`` (its circuit ``vqc`` and ``plan``) and fill a :class:`ShotRow` (module docstring)."""
    from dqlstm.cutting.sampled import SampledCutExecutor
    from dqlstm.engine.observables import z_observables

    from .qpd_variance import exact_fragment_means, exact_variance, plan_shot_cost

    t0 = time.perf_counter()
    n = vqc.num_qubits
    cost = plan_shot_cost(plan, vqc.circuit)
    executor = SampledCutExecutor.from_plan(plan, vqc.circuit, z_observables(n), shots=shots, seed=seed)
    values = _bindings(vqc, bindings, torch.Generator().manual_seed(seed))
    exact = _statevector_z(vqc.circuit, values)  # (B, n)
    means = exact_fragment_means(executor, values)
    mean_value, var_terms = exact_variance(executor, means, shots)
    weights = executor.term_weights  # (n_obs, n_terms): Z_q are single Pauli terms
    exact_from_means = mean_value @ weights.T
    var = var_terms @ (weights.T**2)  # (B, n)
    res = executor.run(np.repeat(values, repetitions, axis=0))
    est = res.values.reshape(bindings, repetitions, n)
    err = est - exact[:, None, :]
    reported = res.stderr.reshape(bindings, repetitions, n)
    total = executor.num_subexperiments * shots
    bound = cost.variance_bound(shots)
    kappa = executor.sampling_overhead
    per_point = np.sqrt((err**2).mean(axis=1))  # (B, n)
    sd = np.sqrt(var)
    # a deterministic value (variance 0) has error 0: z = 0 there
    z = np.divide(err, sd[:, None, :], out=np.zeros_like(err), where=sd[:, None, :] > 0)
    ratio = np.divide(per_point, sd, out=np.ones_like(sd), where=sd > 0)
    kinds = [c.operation if c.kind == "gate" else "wire" for c in plan.cuts]
    return ShotRow(
        family=case.family, layers=case.layers, n_qubits=n, capacity=case.capacity,
        num_cuts=plan.num_cuts, num_gate_cuts=plan.num_gate_cuts, num_wire_cuts=plan.num_wire_cuts,
        cut_operations=" ".join(kinds) or "-", num_fragments=plan.num_fragments, sampling_overhead=kappa,
        num_subexperiments=executor.num_subexperiments,
        num_subexperiments_listed=executor.num_subexperiments_listed,
        predicted_num_subexperiments=cost.num_subexperiments, weight_sum=cost.leading, shots=shots,
        total_shots=total, repetitions=repetitions, bindings=bindings, draws=int(err.size),
        measured_rms_error=float(np.sqrt((err**2).mean())),
        predicted_rms_stderr=float(np.sqrt(var.mean())),
        reported_rms_stderr=float(np.sqrt((reported**2).mean())),
        bound_stderr=float(np.sqrt(bound)),
        kappa_rms_stderr=float(np.sqrt(((kappa - exact**2) / total).mean())),
        old_formula_rms_stderr=float(np.sqrt((kappa * (1 - exact**2) / total).mean())),
        chi2=float((z**2).mean()), within_2_sigma=float((np.abs(z) < 2).mean()),
        min_ratio=float(ratio.min()), max_ratio=float(ratio.max()),
        max_predicted_over_bound=float(sd.max() / np.sqrt(bound)),
        effective_shot_variance=float(var.mean() * total),
        exact_mean_error=float(np.abs(exact_from_means - exact).max()),
        seconds=time.perf_counter() - t0,
    )
