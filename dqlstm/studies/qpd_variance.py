r"""Shot cost of the sampled cut estimator as it is run: uniform shots per distinct sub-experiment.

Estimator (:mod:`dqlstm.cutting.dedup`). With merged QPD coefficients
:math:`C_g` and fragment estimates :math:`X_{f,d}` (shot means of
:math:`\pm 1` outcomes of the distinct sub-experiment :math:`(f, d)`,
:math:`N` shots each, independent, mean :math:`\mu_{f,d}`),

.. math:: Y = \sum_g C_g \prod_f X_{f, d(g, f)}, \qquad
          \mathrm{Var}\,Y = \sum_{\emptyset \ne S \subseteq F} \sum_{k_S} A_S(k_S)^2
          \prod_{f\in S} v_{f,k_f},\qquad v_{f,d} = \frac{\sigma_{f,d}^2}{N} = \frac{1 - \mu_{f,d}^2}{N}

exactly, with :math:`A_S(k_S) = \sum_{g: d(g,f)=k_f\,\forall f\in S} C_g
\prod_{f\notin S}\mu_{f,d(g,f)}` (derivation in :mod:`dqlstm.cutting.dedup`).
To first order in :math:`1/N`

.. math:: \mathrm{Var}\,Y \approx \frac1N \sum_f \sum_d A_{f,d}^2\,\sigma_{f,d}^2 .

Weights. Each cut :math:`c` is a QPD :math:`\sum_i c_{c,i} \mathcal F_{c,i}`
of local (signed) instruments; group its terms by the local operation on
side a and on side b (``qpdbasis_from_instruction``; terms equal on both
sides merge) into :math:`C_{c,ab}`. Fix fragment :math:`f`'s class
:math:`d`, i.e. its side :math:`a_c` of every cut :math:`c \ni f`. In
:math:`A_{f,d}` the terms of every cut *not* touching :math:`f` are summed
with their coefficients, which by the QPD identity rebuilds that cut's
original operation, and what is left is the expectation of a :math:`\pm 1`
outcome of a physical process (other fragments, partner instruments
:math:`b_c` fixed), so at most 1 in size. Hence

.. math:: |A_{f,d}| \le w_{f,d} = \prod_{c \ni f} \sum_b |C_{c, a_c b}|, \qquad
          \sum_d w_{f,d}^2 = B_f = \prod_{c \ni f} s_c(f),\quad
          s_c(a) = \sum_a \Big(\sum_b |C_{c,ab}|\Big)^2

(:math:`s_c(b)` alike; a cut with both sides on :math:`f`:
:math:`\sum_{ab} C_{c,ab}^2`). CX/CZ: 6 terms of :math:`\pm 1/2`, 5 classes
per side, :math:`s = 2` (:math:`\kappa_c = 9`); Move (wire cut): 8 terms,
4 / 6 classes, :math:`s = 4 / 2` (:math:`\kappa_c = 16`). The same argument
for any :math:`S` bounds :math:`\sum_{k_S} A_S^2` by :math:`\prod_c s_c(S)`
(:math:`s_c = 1` for cuts outside :math:`S`); with :math:`s_c(\text{both})
\le s_c(a)\,s_c(b)` (checked per cut) the sum over :math:`S` factorises:

.. math:: \mathrm{Var}\,Y \le \prod_f \Big(1 + \frac{B_f}{N}\Big) - 1
          = \frac{\sum_f B_f}{N} + O(N^{-2})

for every binding and :math:`\pm 1` observable. A fragment without cuts runs
no QPD measurement, so where it does not hold the observable its estimate is
exactly 1 and drops out; for single-qubit observables (the QLSTM's
:math:`Z_q`) the product runs over the fragments with cuts plus one
:math:`B = 1` for the observable's own fragment if that has none (so
:math:`\kappa = 1` plans get :math:`N = 1/\varepsilon^2` per fragment). Fragment :math:`f` runs
:math:`\prod_{c\ni f} D_c(f)` distinct circuits (:math:`D_c(f)` classes on
its side), :math:`M = \sum_f \prod_{c\ni f} D_c(f)` per observable group
and binding; the uniform allocation spends :math:`M N` shots for one
estimate, with :math:`N` the smallest integer with the bound
:math:`\le \varepsilon^2`.

Comparison, not what dqlstm runs: sampling the joint QPD term by term with
probability :math:`|c_i|/\gamma` (Mitarai & Fujii, New J. Phys. 23, 023021
(2021); Piveteau & Sutter, IEEE Trans. Inf. Theory (2024),
arXiv:2205.00016; Lowe et al., Quantum 7, 934 (2023), arXiv:2207.14734)
makes each shot :math:`\pm\gamma` with mean :math:`\langle O\rangle`, so
its variance is :math:`\gamma^2 - \langle O\rangle^2 = \kappa - \langle
O\rangle^2` and :math:`(\kappa - \langle O\rangle^2)/\varepsilon^2 \le
\kappa/\varepsilon^2` shots are needed; the uncut :math:`\sigma^2 = 1 -
\langle O\rangle^2` is *not* a factor (``kappa * sigma^2`` understates the
cost where :math:`\langle O\rangle^2 \to 1`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from qiskit.circuit import Instruction, QuantumCircuit
from qiskit_addon_cutting.instructions import Move
from qiskit_addon_cutting.qpd import qpdbasis_from_instruction
from qiskit_addon_cutting.utils.observable_grouping import ObservableCollection

__all__ = [
    "CutTerms",
    "UniformShotCost",
    "cut_terms",
    "exact_fragment_means",
    "exact_variance",
    "kappa_shots",
    "plan_shot_cost",
]


@dataclass(frozen=True)
class CutTerms:
    """One cut's QPD merged by local classes: ``coefficients[a, b]`` = :math:`C_{ab}` (0 where no term)."""

    coefficients: np.ndarray  # (D_a, D_b)

    @property
    def classes(self) -> tuple[int, int]:
        return self.coefficients.shape  # type: ignore[return-value]

    @property
    def gamma(self) -> float:
        return float(np.abs(self.coefficients).sum())

    def s(self, side_a: bool, side_b: bool) -> float:
        """:math:`s_c` for the sides inside :math:`S`."""
        c = np.abs(self.coefficients)
        if side_a and side_b:
            return float((c**2).sum())
        if side_a:
            return float((c.sum(axis=1) ** 2).sum())
        if side_b:
            return float((c.sum(axis=0) ** 2).sum())
        return float(c.sum() ** 2)

    def distinct(self, side_a: bool, side_b: bool) -> int:
        """Distinct local circuits a fragment holding these sides runs for this cut."""
        if side_a and side_b:
            return int(np.count_nonzero(self.coefficients))
        return self.classes[0] if side_a else self.classes[1] if side_b else 1


def _op_key(ops: Sequence[Instruction]) -> tuple:
    return tuple((op.name, tuple(float(p) for p in op.params)) for op in ops)


_CUT_TERMS: dict[tuple[str, tuple[float, ...]], CutTerms] = {}


def _merged_terms(op: Instruction) -> CutTerms:
    basis = qpdbasis_from_instruction(op)
    keys_a: dict[tuple, int] = {}
    keys_b: dict[tuple, int] = {}
    entries = []
    for coeff, (side_a, side_b) in zip(basis.coeffs, basis.maps):
        if abs(coeff) <= 1e-14:  # generate_qpd_weights drops these terms
            continue
        a = keys_a.setdefault(_op_key(side_a), len(keys_a))
        b = keys_b.setdefault(_op_key(side_b), len(keys_b))
        entries.append((a, b, float(coeff)))
    table = np.zeros((len(keys_a), len(keys_b)))
    for a, b, coeff in entries:
        table[a, b] += coeff
    return CutTerms(table)


def cut_terms(op: Instruction) -> CutTerms:
    """Merged QPD of cutting ``op`` (a bound two-qubit gate, or ``Move`` for a wire cut)."""
    # same standard gate name and angles -> same matrix -> same QPD
    key = (op.name, tuple(float(p) for p in op.params))
    if key not in _CUT_TERMS:
        _CUT_TERMS[key] = _merged_terms(op)
    return _CUT_TERMS[key]


@dataclass(frozen=True)
class UniformShotCost:
    r"""Shot cost of one plan under uniform allocation (module docstring).

    Attributes:
        num_subexperiments: :math:`M`, distinct sub-experiments per observable group and binding.
        sampling_overhead: :math:`\kappa = \prod_c \gamma_c^2`.
        fragment_weights: :math:`B_f = \sum_d w_{f,d}^2` per fragment.
    """

    num_subexperiments: int
    sampling_overhead: float
    fragment_weights: tuple[float, ...]

    @property
    def leading(self) -> float:
        r""":math:`\sum_f B_f`: ``Var Y <= leading / N`` to first order."""
        return float(sum(self.fragment_weights))

    def variance_bound(self, shots: float) -> float:
        r""":math:`\prod_f (1 + B_f/N) - 1`, a bound on Var Y for every binding and ±1 observable."""
        return math.expm1(sum(math.log1p(b / shots) for b in self.fragment_weights))

    def shots_per_subexperiment(self, target_stderr: float) -> int:
        """Smallest integer :math:`N` with :meth:`variance_bound` :math:`\\le \varepsilon^2`."""
        target = target_stderr**2
        if not self.fragment_weights or self.leading == 0:
            return 1
        hi = max(1.0, self.leading / target)  # first order; the bound there is >= target
        while self.variance_bound(hi) > target:
            hi *= 2
        lo = hi / 2 if hi > 1 else 1.0
        while self.variance_bound(lo) <= target and lo > 1:
            lo /= 2
        while hi - lo > 0.5:  # bisection on the monotone bound
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if self.variance_bound(mid) <= target else (mid, hi)
        n = max(1, math.floor(lo))
        while self.variance_bound(n) > target:
            n += 1
        return n

    def total_shots(self, target_stderr: float) -> float:
        """:math:`M N`: shots of one estimate with standard error :math:`\\le \varepsilon`."""
        return float(self.num_subexperiments) * self.shots_per_subexperiment(target_stderr)


def kappa_shots(sampling_overhead: float, target_stderr: float, expectation: float = 0.0) -> float:
    r""":math:`|c_i|`-proportional sampling (not used here): :math:`(\kappa - \langle O\rangle^2)/\varepsilon^2`."""
    return (sampling_overhead - expectation**2) / target_stderr**2


def plan_shot_cost(plan, circuit: QuantumCircuit) -> UniformShotCost:
    """:class:`UniformShotCost` of a partitioner ``CutPlan`` for ``circuit`` (no sub-experiments generated)."""
    terms = []
    for cut in plan.cuts:
        op = circuit.data[cut.index].operation if cut.kind == "gate" else Move()
        t = cut_terms(op)
        if t.s(True, True) > t.s(True, False) * t.s(False, True) * (1 + 1e-12):
            raise ValueError(f"cut of {op.name}: s(both) > s(a) s(b); the factorised bound does not apply")
        terms.append((t, cut.fragments))
    weights = []
    distinct = 0
    uncut = False
    for f in range(plan.num_fragments):
        b, m, touched = 1.0, 1, False
        for t, (fa, fb) in terms:
            if f in (fa, fb):
                b *= t.s(fa == f, fb == f)
                m *= t.distinct(fa == f, fb == f)
                touched = True
        distinct += m
        if touched:
            weights.append(b)
        else:
            uncut = True
    # a fragment without cuts measures no QPD bits: for an observable it does not hold its estimate is
    # exactly 1 (no variance); a single-qubit observable sits on one such fragment at most
    if uncut:
        weights.append(1.0)
    kappa = math.prod(t.gamma**2 for t, _ in terms)
    return UniformShotCost(distinct, kappa, tuple(weights))


def exact_fragment_means(executor, parameter_values: np.ndarray) -> list[np.ndarray]:
    r"""Exact :math:`\mu_{f,d}` ``(D_f, B, n_terms)`` of every distinct sub-experiment of a
    :class:`~dqlstm.cutting.sampled.SampledCutExecutor`, from the exact law of its classical bits
    (``backends.distributions``): :math:`\mu = \sum_x p(x) (-1)^{|q| + |m \wedge \mu_P|}`.

    One observable group per fragment (Pauli-Z observables); otherwise ``ValueError``.
    """
    from backends.distributions import compile_circuit

    values = np.atleast_2d(np.asarray(parameter_values, dtype=float))
    out = []
    for frag in executor.fragments:
        collection = ObservableCollection(executor.subobservables[frag.label])
        if len(collection.groups) != 1:
            raise ValueError(
                f"fragment {frag.label!r} measures {len(collection.groups)} observable groups; "
                "exact means are implemented for one group (commuting Pauli-Z observables)"
            )
        masks = collection.groups[0].pauli_bitmasks
        position = [collection.lookup[p][0][1] for p in executor.subobservables[frag.label]]
        means = []
        for circ, cols in zip(frag.subexperiments, frag.columns):
            law = compile_circuit(circ).clbit_probabilities(values[:, cols])  # (B, 2**clbits)
            qpd_mask, obs_bit = 0, {}
            for i, clbit in enumerate(circ.clbits):
                for reg, j in circ.find_bit(clbit).registers:
                    if reg.name == "qpd_measurements":
                        qpd_mask |= 1 << i
                    elif reg.name == "observable_measurements":
                        obs_bit[j] = i
            outcomes = np.arange(law.shape[1], dtype=np.int64)
            cols_t = []
            for pos in position:
                full = qpd_mask
                for j, i in obs_bit.items():
                    if (masks[pos] >> j) & 1:
                        full |= 1 << i
                parity = np.array([(int(x) & full).bit_count() & 1 for x in outcomes])
                cols_t.append(law @ (1.0 - 2.0 * parity))
            means.append(np.stack(cols_t, axis=-1))
        out.append(np.stack(means))
    return out


def exact_variance(executor, means: Sequence[np.ndarray], shots: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact value and variance ``(B, n_terms)`` of the executor's estimate at ``shots`` per sub-experiment."""
    variances = [(1.0 - m**2) / shots for m in means]
    value, _unbiased, exact = executor.reconstructor.merged.variance_sums(means, variances)
    return value, exact
