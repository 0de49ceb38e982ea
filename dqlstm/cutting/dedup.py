r"""Identical cutting sub-experiments run once, and the estimator that reuses them.

Duplicates. ``generate_cutting_experiments`` lists for fragment :math:`f`,
QPD term :math:`i = 0..T-1` and commuting observable group :math:`k` one
circuit, at position :math:`i G_f + k`. Many are the same circuit: terms that
differ only in cuts elsewhere, or whose operations on :math:`f`'s side of a
cut coincide (2 CX cuts: 36 terms, 25 distinct circuits per fragment). Terms
:math:`i, i'` are in the same *class* :math:`d(f, i)` of fragment :math:`f`
when their circuits are equal for every group, compared by content
(``backends.circuit_fingerprint``: gate names, parameter names and values,
bits; not object identity). Each class runs once and gives one estimate
:math:`X_{f,d}` (shot means of the fragment's sub-observables), used by every
term of the class.

Estimator. With QPD coefficients :math:`c_i`,

.. math::
    Y = \sum_i c_i \prod_f X_{f,d(f,i)} = \sum_g C_g \prod_f X_{f,d(g,f)},

where :math:`g` runs over the distinct class tuples :math:`(d(f,i))_f` and
:math:`C_g = \sum_{i \in g} c_i` (terms of one tuple have the very same
product). Its value is that of the full listing with the duplicates' results
copied.

Variance. The :math:`X_{f,d}` are independent across distinct :math:`(f, d)`
(different circuits, different shots), but one :math:`X_{f,d}` appears in
several tuples :math:`g`, so the terms are correlated and
:math:`\sum_g C_g^2 \mathrm{Var}\prod_f X` is wrong. Write :math:`X_{f,d} =
\mu_{f,d} + \varepsilon_{f,d}` with :math:`E\varepsilon = 0`,
:math:`\mathrm{Var}\,\varepsilon_{f,d} = v_{f,d}`. :math:`Y` is multilinear
(one factor per fragment), so expanding the products

.. math::
    Y = \sum_{S \subseteq F} \sum_{k_S} A_S(k_S) \prod_{f \in S} \varepsilon_{f,k_f},
    \qquad A_S(k_S) = \sum_{g:\, d(g,f) = k_f\, \forall f \in S} C_g
    \prod_{f \notin S} \mu_{f,d(g,f)}.

Products over different sets of :math:`\varepsilon` are uncorrelated
(independent, zero mean), and :math:`E[\prod_{f \in S}\varepsilon_{f,k_f}^2]
= \prod_{f\in S} v_{f,k_f}`, hence exactly

.. math::
    \mathrm{Var}\,Y = \sum_{\emptyset \ne S \subseteq F} \sum_{k_S}
    A_S(k_S)^2 \prod_{f \in S} v_{f,k_f}.

Without sharing (every class in one tuple) this is :math:`\sum_g C_g^2
(\prod_f (v_{f} + \mu_{f}^2) - \prod_f \mu_{f}^2)`, the formula for
independent terms. Cost :math:`O(2^F N)` for :math:`F` fragments and
:math:`N` tuples.

Estimate. Let :math:`R_S = \sum_{k_S} A_S(k_S)^2 \prod_{f\in S} v_{f,k_f}`
and :math:`Q_S` the same with the estimates :math:`\hat\mu, \hat v` plugged
in (:math:`\hat v = (1 - \hat\mu^2)/(S-1)` is unbiased for the variance of a
shot mean). :math:`Q_S` uses :math:`\hat v` of the fragments in :math:`S` and
:math:`\hat\mu` of the others, which are independent; :math:`\hat A_S` is
multilinear in the latter, so :math:`E[\hat A_S^2] = A_S^2 + \mathrm{Var}\hat
A_S` and :math:`E[Q_S] = \sum_{T \supseteq S} R_T`: the plug-in :math:`\sum_S
Q_S` counts the order-:math:`|T|` terms :math:`2^{|T|}-1` times (too large
for few shots: z-scores spread 0.89 at 50 shots, 2 CX cuts). Möbius inversion
gives the unbiased estimate

.. math::
    \widehat{\mathrm{Var}}\,Y = \sum_{\emptyset \ne S \subseteq F} (-1)^{|S|+1} Q_S,

Goodman's :math:`\hat x^2 v_y + \hat y^2 v_x - v_x v_y` for one product of
two. It can be :math:`\le 0` with very few shots; there the plug-in
:math:`\sum_S Q_S \ge 0` (conservative) is reported instead.

Parameter shift. The gradient is the same multilinear form with the shifted
fragment :math:`h`'s :math:`X_{h,d}` replaced by :math:`(X^+_{h,d} -
X^-_{h,d})/2` from the shifted run (variance :math:`(v^+ + v^-)/4`,
independent of the other fragments' unshifted estimates); only :math:`h`'s
distinct circuits run again.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from qiskit.circuit import QuantumCircuit

__all__ = ["FragmentTerms", "MergedQPD", "fragment_terms"]


@dataclass(frozen=True)
class FragmentTerms:
    """The distinct sub-experiments of one fragment.

    Attributes:
        term_class: ``(T,)`` class :math:`d(f, i)` of each QPD term.
        representatives: ``(D,)`` first term of each class (classes in order of
            first appearance).
        num_groups: commuting observable groups :math:`G_f`.
    """

    term_class: np.ndarray
    representatives: np.ndarray
    num_groups: int

    @property
    def num_terms(self) -> int:
        return len(self.term_class)

    @property
    def num_classes(self) -> int:
        return len(self.representatives)

    @property
    def num_listed(self) -> int:
        """Sub-experiments qiskit-addon-cutting lists: :math:`T G_f`."""
        return self.num_terms * self.num_groups

    @property
    def num_distinct(self) -> int:
        """Sub-experiments that run: :math:`D G_f`."""
        return self.num_classes * self.num_groups

    def distinct_indices(self) -> np.ndarray:
        """``(D G_f,)`` listed positions of the circuits to run, class-major."""
        g = self.num_groups
        return (self.representatives[:, None] * g + np.arange(g)[None, :]).ravel()

    def listed_to_distinct(self) -> np.ndarray:
        """``(T G_f,)`` position among the distinct circuits of each listed one."""
        g = self.num_groups
        return (self.term_class[:, None] * g + np.arange(g)[None, :]).ravel()

    @classmethod
    def identity(cls, num_terms: int, num_groups: int) -> FragmentTerms:
        """Every term its own class (no merging)."""
        ids = np.arange(num_terms, dtype=np.int64)
        return cls(ids, ids.copy(), num_groups)


def fragment_terms(
    circuits: Sequence[QuantumCircuit],
    num_terms: int,
    num_groups: int,
    key: Callable[[QuantumCircuit], object] | None = None,
) -> FragmentTerms:
    """Classes of QPD terms whose circuits are equal for every observable group.

    Args:
        circuits: the fragment's ``T G_f`` sub-experiments in
            ``generate_cutting_experiments`` order (term-major).
        num_terms, num_groups: :math:`T`, :math:`G_f`.
        key: content key of a circuit; default ``backends.circuit_fingerprint``.
    """
    if len(circuits) != num_terms * num_groups:
        raise ValueError(
            f"got {len(circuits)} sub-experiments, expected {num_terms} QPD terms x "
            f"{num_groups} observable groups"
        )
    if key is None:
        from backends import circuit_fingerprint as key
    term_class = np.empty(num_terms, dtype=np.int64)
    seen: dict[tuple[object, ...], int] = {}
    reps: list[int] = []
    for i in range(num_terms):
        k = tuple(key(circuits[i * num_groups + j]) for j in range(num_groups))
        d = seen.setdefault(k, len(reps))
        if d == len(reps):
            reps.append(i)
        term_class[i] = d
    return FragmentTerms(term_class, np.array(reps, dtype=np.int64), num_groups)


@dataclass(frozen=True)
class _Subset:
    """Precomputed grouping of the tuples by their classes on fragments ``inside``."""

    inside: tuple[int, ...]
    outside: tuple[int, ...]
    order: np.ndarray  # tuples sorted by their key on `inside`
    starts: np.ndarray  # first sorted position of each distinct key
    first: np.ndarray  # a tuple holding each key (to read the key's classes)


class MergedQPD:
    r"""The estimator :math:`\sum_g C_g \prod_f X_{f,d(g,f)}` over distinct class tuples.

    Args:
        coefficients: ``(T,)`` QPD coefficients :math:`c_i`.
        term_classes: per fragment, ``(T,)`` classes :math:`d(f, i)`.

    Attributes:
        classes: ``(N, F)`` class tuple of each merged term.
        coefficients: ``(N,)`` summed coefficients :math:`C_g`.
        term_group: ``(T,)`` merged term of each QPD term.
    """

    def __init__(self, coefficients: Sequence[float], term_classes: Sequence[np.ndarray]) -> None:
        c = np.asarray(coefficients, dtype=np.float64)
        if not term_classes:
            raise ValueError("need the term classes of at least one fragment")
        table = np.stack([np.asarray(t, dtype=np.int64) for t in term_classes], axis=1)
        if table.shape[0] != len(c):
            raise ValueError(f"{table.shape[0]} term classes for {len(c)} coefficients")
        self.classes, self.term_group = np.unique(table, axis=0, return_inverse=True)
        self.term_group = self.term_group.reshape(-1)
        self.coefficients = np.bincount(self.term_group, weights=c, minlength=len(self.classes))
        num_f = table.shape[1]
        subsets = []
        for size in range(1, num_f + 1):
            for inside in itertools.combinations(range(num_f), size):
                outside = tuple(f for f in range(num_f) if f not in inside)
                keys = self.classes[:, inside]
                order = np.lexsort(keys.T[::-1])
                sorted_keys = keys[order]
                new = np.ones(len(order), dtype=bool)
                new[1:] = np.any(sorted_keys[1:] != sorted_keys[:-1], axis=1)
                starts = np.flatnonzero(new)
                subsets.append(_Subset(inside, outside, order, starts, order[starts]))
        self._subsets = tuple(subsets)

    @property
    def num_fragments(self) -> int:
        return self.classes.shape[1]

    @property
    def num_merged_terms(self) -> int:
        return len(self.coefficients)

    def stats(
        self, means: Sequence[np.ndarray], variances: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Value and estimated variance of the estimator (module docstring).

        Args:
            means, variances: per fragment, ``(D_f, *batch)`` estimates of its
                classes; the ``batch`` shapes must broadcast together.

        Returns:
            ``(*batch)`` value and variance: the unbiased estimate where it is
            positive, the plug-in one elsewhere.
        """
        value, unbiased, plug_in = self.variance_sums(means, variances)
        return value, np.where(unbiased > 0, unbiased, plug_in)

    def sensitivities(self, means: Sequence[np.ndarray]) -> list[np.ndarray]:
        r"""Per fragment, ``(D_f, *batch)`` :math:`A_{f,d} = \partial Y / \partial X_{f,d}` at ``means``.

        :math:`A_{f,d} = \sum_{g:\, d(g,f) = d} C_g \prod_{f' \ne f} \mu_{f',d(g,f')}` (the
        :math:`A_{\{f\}}` of the module docstring); :math:`\sum_{f,d} A_{f,d}^2 v_{f,d}` is the
        first-order variance. Classes no merged term uses get 0.
        """
        mu = [np.asarray(m)[self.classes[:, f]] for f, m in enumerate(means)]
        shape = np.broadcast_shapes(*(m.shape for m in mu))
        coeff = self.coefficients.reshape(-1, *([1] * (len(shape) - 1)))
        out = []
        for f, m in enumerate(means):
            sub = next(s for s in self._subsets if s.inside == (f,))
            a = np.add.reduceat((coeff * _product(mu, sub.outside, shape))[sub.order], sub.starts, axis=0)
            full = np.zeros((np.shape(m)[0], *shape[1:]))
            full[self.classes[sub.first, f]] = a
            out.append(full)
        return out

    def variance_sums(
        self, means: Sequence[np.ndarray], variances: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r"""Value, :math:`\sum_S (-1)^{|S|+1} Q_S` and :math:`\sum_S Q_S`.

        With the true means and variances as input, the last is the exact
        variance :math:`\sum_S R_S`.
        """
        mu = [np.asarray(m)[self.classes[:, f]] for f, m in enumerate(means)]
        var = [np.asarray(v)[self.classes[:, f]] for f, v in enumerate(variances)]
        shape = np.broadcast_shapes(*(m.shape for m in mu), *(v.shape for v in var))
        coeff = self.coefficients.reshape(-1, *([1] * (len(shape) - 1)))
        value = np.sum(coeff * _product(mu, range(len(mu)), shape), axis=0)
        signed = np.zeros(shape[1:])
        plain = np.zeros(shape[1:])
        for sub in self._subsets:
            weight = coeff * _product(mu, sub.outside, shape)
            a = np.add.reduceat(weight[sub.order], sub.starts, axis=0)
            q = np.sum(a**2 * _product(var, sub.inside, shape, sub.first), axis=0)
            plain = plain + q
            signed = signed + q if len(sub.inside) % 2 else signed - q
        return value, signed, plain


def _product(
    arrays: Sequence[np.ndarray],
    which: Sequence[int],
    shape: tuple[int, ...],
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """Product of ``arrays[f]`` (rows ``rows`` if given) over ``f in which``; ones if empty."""
    out: np.ndarray | None = None
    for f in which:
        x = arrays[f] if rows is None else arrays[f][rows]
        out = x if out is None else out * x
    if out is None:
        n = shape[0] if rows is None else len(rows)
        return np.ones((n,) + (1,) * (len(shape) - 1))
    return out
