r"""Vectorised reconstruction of expectation values from cutting sub-experiments.

This is the arithmetic of qiskit-addon-cutting's
:func:`~qiskit_addon_cutting.reconstruct_expectation_values`, done with numpy
on the packed :class:`~qiskit.primitives.BitArray` s of *all* sub-experiments,
*all* parameter bindings and *all* observables at once, plus standard errors
and the fragment-local parameter-shift gradient.

Notation (same as qiskit-addon-cutting). The joint quasi-probability
decomposition (QPD) of the cuts has terms :math:`i = 0..T-1` with coefficients
:math:`c_i` (``generate_cutting_experiments``' ``coefficients``). Fragment
(partition label) :math:`f` measures its sub-observables in :math:`G_f`
qubit-wise commuting groups; its sub-experiment for term :math:`i` and group
:math:`k` is at position :math:`i G_f + k` of the fragment's result list.

A shot of that sub-experiment yields the bits :math:`q` of the
``qpd_measurements`` register and :math:`m` of the ``observable_measurements``
register. Sub-observable :math:`P` of the group, with bit mask :math:`\mu_P`
over the group's measured qubits (``CommutingObservableGroup.pauli_bitmasks``),
takes the value

.. math::
    x = (-1)^{|q|} \, (-1)^{|m \wedge \mu_P|} \in \{-1, +1\},

with :math:`|\cdot|` the number of set bits. The fragment estimate
:math:`E_{f,i}(P)` is the shot mean of :math:`x`; where several groups contain
:math:`P` (``ObservableCollection.lookup``) their estimates are averaged.
The reconstructed expectation value of a global Pauli :math:`O = \otimes_f P_f`
is

.. math::
    \langle O \rangle = \sum_i c_i \prod_f E_{f,i}(P_f).

Duplicates. Terms whose circuits on fragment :math:`f` are identical share
one estimate (:mod:`.dedup`): results are given for the distinct circuits
only, :math:`E_{f,i} = X_{f,d(f,i)}`, and the sum runs over the distinct
class tuples with summed coefficients. Without ``term_classes`` every term is
its own class and the arithmetic is qiskit-addon-cutting's.

Standard errors. A shot mean of :math:`S` values :math:`\pm 1` with mean
:math:`E` has estimated variance :math:`v = (1 - E^2) / (S - 1)`. Distinct
sub-experiments are independent; the variance of the multilinear sum, with
one estimate shared by several terms, and its unbiased estimate are derived
in :mod:`.dedup` (for unshared terms the variance is :math:`\sum_i c_i^2
(\prod_f (v_f + E_f^2) - \prod_f E_f^2)`).

Parameter shift. If parameter :math:`\theta` lives in fragment :math:`g` only,

.. math::
    \partial_\theta \langle O \rangle = \sum_i c_i
    \frac{E^{+}_{g,i} - E^{-}_{g,i}}{2} \prod_{f \ne g} E_{f,i},

where :math:`E^{\pm}_{g,i}` are fragment :math:`g` 's estimates at
:math:`\theta \pm \pi/2`; the other fragments' estimates are reused, and
only :math:`g`'s distinct circuits run again.

Bit layout. ``BitArray.array`` has shape ``(*shape, shots, nbytes)``, bytes
big-endian, clbit 0 the least significant bit of the last byte -- exactly
what ``int.from_bytes(row, "big")`` in qiskit-addon-cutting decodes.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit.quantum_info import PauliList
from qiskit_addon_cutting.utils.observable_grouping import ObservableCollection

from .dedup import FragmentTerms, MergedQPD

__all__ = [
    "CutReconstructor",
    "FragmentEstimates",
    "Reconstruction",
    "parity_of_bytes",
]

QPD_REGISTER = "qpd_measurements"
OBSERVABLE_REGISTER = "observable_measurements"

# Histogram the (observable bits, qpd parity) outcomes when there are at most
# this many distinct outcomes; otherwise evaluate each mask shot by shot.
_MAX_HISTOGRAM_OUTCOMES = 1 << 12
# Bound on shots held in memory at once (terms x bindings x shots).
_CHUNK_SHOTS = 1 << 23

_BYTE_PARITY = np.array([bin(i).count("1") & 1 for i in range(256)], dtype=np.uint8)


def parity_of_bytes(packed: np.ndarray) -> np.ndarray:
    """Parity of the set bits of each packed row ``packed[..., :]`` (uint8), as uint8 0/1."""
    folded = packed[..., 0] if packed.shape[-1] == 1 else np.bitwise_xor.reduce(packed, axis=-1)
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0: SIMD popcount
        return np.bitwise_count(folded) & np.uint8(1)
    return _BYTE_PARITY[folded]


@dataclass(frozen=True)
class FragmentEstimates:
    """Per-class estimates of one fragment's sub-observables.

    Attributes:
        mean: ``(D, *shape, n_terms)`` shot means :math:`X_{f,d}(P_f)` for each
            distinct class ``d`` of QPD terms (``T`` classes without
            deduplication), binding index ``shape`` and global Pauli term.
        var: same shape, estimated variance of ``mean``.
    """

    mean: np.ndarray
    var: np.ndarray


@dataclass(frozen=True)
class Reconstruction:
    """Reconstructed expectation values of the Pauli terms.

    Attributes:
        values: ``(*shape, n_terms)``.
        stderr: ``(*shape, n_terms)`` standard errors.
    """

    values: np.ndarray
    stderr: np.ndarray


@dataclass(frozen=True)
class _GroupLayout:
    masks: np.ndarray  # (n_masks,) int64 bit masks over the observable register
    mask_bytes: np.ndarray  # (n_masks, nbytes) the same masks packed big-endian
    num_bits: int  # size of the observable register


@dataclass(frozen=True)
class _FragmentLayout:
    groups: tuple[_GroupLayout, ...]
    # lookup[t] = ((group, position), ...) of global Pauli term t in this fragment
    lookup: tuple[tuple[tuple[int, int], ...], ...]


def _fragment_layout(subobservables: PauliList) -> _FragmentLayout:
    collection = ObservableCollection(subobservables)
    groups = []
    for cog in collection.groups:
        # qiskit-addon-cutting measures qubit 0 when a group has no Pauli (its issue 422)
        num_bits = max(1, len(cog.pauli_indices))
        nbytes = (num_bits + 7) // 8
        masks = np.array(cog.pauli_bitmasks, dtype=np.int64)
        mask_bytes = np.array(
            [list(int(m).to_bytes(nbytes, "big")) for m in cog.pauli_bitmasks], dtype=np.uint8
        ).reshape(len(masks), nbytes)
        groups.append(_GroupLayout(masks, mask_bytes, num_bits))
    lookup = tuple(tuple(collection.lookup[p]) for p in subobservables)
    return _FragmentLayout(tuple(groups), lookup)


def _register(result: Any, name: str) -> np.ndarray:
    data = result.data
    bits = getattr(data, name, None)
    if bits is None:
        raise ValueError(
            f"sub-experiment result has no '{name}' register; expected results of circuits "
            "from qiskit-addon-cutting's generate_cutting_experiments"
        )
    return np.asarray(bits.array)


def _group_means(
    layout: _GroupLayout, obs: np.ndarray, qpd: np.ndarray
) -> np.ndarray:
    """Shot means of all masks of one group.

    Args:
        obs: ``(..., shots, nbytes_obs)`` packed observable register.
        qpd: ``(..., shots, nbytes_qpd)`` packed QPD register.

    Returns:
        ``(..., n_masks)`` means of :math:`(-1)^{|q| + |m \\wedge \\mu|}`.
    """
    shots = obs.shape[-2]
    qpar = parity_of_bytes(qpd)  # (..., shots)
    lead = obs.shape[:-2]
    num_outcomes = 1 << (layout.num_bits + 1)
    if num_outcomes <= _MAX_HISTOGRAM_OUTCOMES and num_outcomes <= 4 * shots:
        # Histogram of code = 2 m + parity(q) per binding (one bincount, rows
        # offset by num_outcomes), then a table of signs per outcome and mask.
        rows = int(np.prod(lead, dtype=np.int64))
        code = obs[..., 0].astype(np.intp).reshape(rows, shots)
        for j in range(1, obs.shape[-1]):
            code <<= 8
            code |= obs[..., j].reshape(rows, shots)
        code <<= 1
        code |= qpar.reshape(rows, shots)
        code += (np.arange(rows, dtype=np.intp) * num_outcomes)[:, None]
        counts = np.bincount(code.ravel(), minlength=rows * num_outcomes).reshape(
            rows, num_outcomes
        )
        outcomes = np.arange(num_outcomes, dtype=np.int64)
        m_bits = (outcomes >> 1)[:, None] & layout.masks[None, :]
        par = (_popcount64(m_bits) + (outcomes & 1)[:, None]) & 1
        signs = 1.0 - 2.0 * par  # (num_outcomes, n_masks)
        sums = counts.astype(np.float64) @ signs
        return (sums / shots).reshape(*lead, len(layout.masks))
    out = np.empty((*lead, len(layout.masks)))
    for j, mask in enumerate(layout.mask_bytes):
        par = parity_of_bytes(obs & mask) ^ qpar
        out[..., j] = 1.0 - 2.0 * np.count_nonzero(par, axis=-1) / shots
    return out


def _popcount64(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x).astype(np.int64)
    total = np.zeros(x.shape, dtype=np.int64)  # numpy < 2.0
    for shift in range(0, 64, 8):
        total += _BYTE_PARITY_COUNT[(x >> shift) & 0xFF]
    return total


_BYTE_PARITY_COUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)


def _stack_right_aligned(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Stack packed bit arrays, left-padding the byte axis with zeros to a common width."""
    width = max(a.shape[-1] for a in arrays)
    if all(a.shape[-1] == width for a in arrays):
        return np.stack(arrays)
    out = np.zeros((len(arrays), *arrays[0].shape[:-1], width), dtype=np.uint8)
    for i, a in enumerate(arrays):
        out[i, ..., width - a.shape[-1] :] = a
    return out


class CutReconstructor:
    """Reconstructs expectation values from all sub-experiment results at once.

    Built from the same inputs as ``reconstruct_expectation_values``: the QPD
    ``coefficients`` from ``generate_cutting_experiments`` and the
    sub-observables per partition label from ``partition_problem``, plus
    optionally the classes of identical sub-experiments per label
    (:func:`.dedup.fragment_terms`). Results are given per label for the
    distinct sub-experiments only (class-major: class ``d``, group ``k`` at
    ``d G + k``; without ``terms`` that is ``generate_cutting_experiments``'
    order); each may carry any batch ``shape`` of parameter bindings
    (``BitArray.array`` of shape ``(*shape, shots, nbytes)``), the same for all.
    """

    def __init__(
        self,
        coefficients: Sequence[tuple[float, Any]],
        subobservables: Mapping[Hashable, PauliList],
        terms: Mapping[Hashable, FragmentTerms] | None = None,
    ) -> None:
        if len(coefficients) == 0:
            raise ValueError("coefficients is empty; need one per QPD term")
        sizes = {len(p) for p in subobservables.values()}
        if len(sizes) != 1:
            raise ValueError("every partition needs one sub-observable per global observable")
        for label, paulis in subobservables.items():
            if any(p.phase != 0 for p in paulis):
                raise ValueError(f"a sub-observable of partition {label!r} has a phase != 1")
        self.coefficients = np.array([float(c[0]) for c in coefficients])
        self.labels: tuple[Hashable, ...] = tuple(subobservables)
        self.num_paulis: int = sizes.pop()
        self._layouts = {lab: _fragment_layout(subobservables[lab]) for lab in self.labels}
        num_t = len(self.coefficients)
        self.terms: dict[Hashable, FragmentTerms] = {}
        for lab in self.labels:
            groups = len(self._layouts[lab].groups)
            t = FragmentTerms.identity(num_t, groups) if terms is None else terms[lab]
            if t.num_terms != num_t or t.num_groups != groups:
                raise ValueError(
                    f"partition {lab!r}: term classes for {t.num_terms} terms x {t.num_groups} "
                    f"groups, expected {num_t} x {groups}"
                )
            self.terms[lab] = t
        self.merged = MergedQPD(self.coefficients, [self.terms[lab].term_class for lab in self.labels])

    @property
    def num_qpd_terms(self) -> int:
        """Number ``T`` of QPD terms (coefficients)."""
        return len(self.coefficients)

    def num_groups(self, label: Hashable) -> int:
        """Number of commuting groups (sub-experiments per QPD term) of a fragment."""
        return len(self._layouts[label].groups)

    def num_subexperiments(self, label: Hashable) -> int:
        """Distinct sub-experiments of a fragment (results it takes): classes x groups."""
        return self.terms[label].num_distinct

    def num_subexperiments_listed(self, label: Hashable) -> int:
        """Sub-experiments qiskit-addon-cutting lists for a fragment: QPD terms x groups."""
        return self.terms[label].num_listed

    def fragment_estimates(self, label: Hashable, results: Sequence[Any]) -> FragmentEstimates:
        """Per-class estimates :math:`X_{f,d}` of one fragment, vectorised over classes and bindings.

        Args:
            label: partition label.
            results: the fragment's pub results (``.data`` with the
                ``qpd_measurements`` and ``observable_measurements`` BitArrays),
                one per distinct sub-experiment, class-major.
        """
        layout = self._layouts[label]
        n_groups = len(layout.groups)
        n_terms = self.terms[label].num_classes
        if len(results) != n_terms * n_groups:
            raise ValueError(
                f"partition {label!r}: got {len(results)} results, expected "
                f"{n_terms} distinct QPD-term classes x {n_groups} observable groups = "
                f"{n_terms * n_groups}"
            )
        group_mean: list[np.ndarray] = []
        group_var: list[np.ndarray] = []
        for k, group in enumerate(layout.groups):
            obs = [_register(results[i * n_groups + k], OBSERVABLE_REGISTER) for i in range(n_terms)]
            qpd = [_register(results[i * n_groups + k], QPD_REGISTER) for i in range(n_terms)]
            mean, var = self._group_term_stats(group, obs, qpd)
            group_mean.append(mean)
            group_var.append(var)
        lead = group_mean[0].shape[:-1]
        mean = np.empty((*lead, self.num_paulis))
        var = np.empty((*lead, self.num_paulis))
        for t, places in enumerate(layout.lookup):
            mean[..., t] = sum(group_mean[g][..., n] for g, n in places) / len(places)
            var[..., t] = sum(group_var[g][..., n] for g, n in places) / len(places) ** 2
        return FragmentEstimates(mean, var)

    def _group_term_stats(
        self, group: _GroupLayout, obs: list[np.ndarray], qpd: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(D, *shape, n_masks)`` means and variances of one group over all classes.

        Classes may have different shot counts (shot allocation): classes with
        equal counts are evaluated together, each variance uses its own count.
        """
        shape_set = {a.shape[:-2] for a in obs} | {a.shape[:-2] for a in qpd}
        if len(shape_set) != 1 or any(o.shape[-2] != q.shape[-2] for o, q in zip(obs, qpd)):
            raise ValueError(
                "sub-experiment results differ in binding shape (or a result's registers in shot "
                f"count): {sorted(shape_set)}; run every sub-experiment with the same bindings"
            )
        lead = shape_set.pop()
        counts = np.array([o.shape[-2] for o in obs], dtype=np.int64)
        if np.any(counts < 1):
            raise ValueError("sub-experiment results contain no shots")
        mean = np.empty((len(obs), *lead, len(group.masks)))
        var = np.empty_like(mean)
        for shots in np.unique(counts):
            which = np.flatnonzero(counts == shots)
            per_term = max(1, int(np.prod(lead, dtype=np.int64)) * int(shots))
            chunk = max(1, _CHUNK_SHOTS // per_term)
            for start in range(0, len(which), chunk):
                idx = which[start : start + chunk]
                mean[idx] = _group_means(
                    group,
                    _stack_right_aligned([obs[i] for i in idx]),
                    _stack_right_aligned([qpd[i] for i in idx]),
                )
            m = mean[which]
            var[which] = (1.0 - m**2) / (shots - 1) if shots > 1 else np.full_like(m, np.inf)
        return mean, var

    def estimates(self, results: Mapping[Hashable, Sequence[Any]]) -> dict[Hashable, FragmentEstimates]:
        """:meth:`fragment_estimates` for every partition label."""
        missing = set(self.labels) - set(results)
        if missing:
            raise ValueError(f"no results for partition(s) {sorted(map(str, missing))}")
        return {lab: self.fragment_estimates(lab, results[lab]) for lab in self.labels}

    def combine(self, estimates: Mapping[Hashable, FragmentEstimates]) -> Reconstruction:
        r""":math:`\sum_i c_i \prod_f E_{f,i}` and its standard error (shared estimates included)."""
        means = [estimates[lab].mean for lab in self.labels]
        vars_ = [estimates[lab].var for lab in self.labels]
        values, var = self.merged.stats(means, vars_)
        return Reconstruction(values, np.sqrt(var))

    def reconstruct(self, results: Mapping[Hashable, Sequence[Any]]) -> Reconstruction:
        """Expectation values ``(*shape, n_paulis)`` and standard errors from raw results."""
        return self.combine(self.estimates(results))

    def shift_gradient(
        self,
        estimates: Mapping[Hashable, FragmentEstimates],
        label: Hashable,
        shifted: FragmentEstimates,
    ) -> Reconstruction:
        r"""Parameter-shift gradient w.r.t. the parameters of fragment ``label``.

        Args:
            estimates: unshifted per-fragment estimates, ``mean`` of shape
                ``(D_f, *shape, n_paulis)``.
            label: the fragment whose parameters were shifted.
            shifted: that fragment's estimates at the shifted bindings, ``mean``
                of shape ``(D, 2, P_f, *shape, n_paulis)``; axis 1 is
                ``(+pi/2, -pi/2)``, axis 2 the fragment's parameters.

        Returns:
            gradient and standard error, shape ``(P_f, *shape, n_paulis)``.
        """
        means, vars_ = [], []
        for lab in self.labels:
            if lab == label:
                means.append(0.5 * (shifted.mean[:, 0] - shifted.mean[:, 1]))  # (D, P_f, *shape, n)
                vars_.append(0.25 * (shifted.var[:, 0] + shifted.var[:, 1]))
            else:  # broadcast over the shifted parameters
                means.append(estimates[lab].mean[:, None])
                vars_.append(estimates[lab].var[:, None])
        grad, var = self.merged.stats(means, vars_)
        return Reconstruction(grad, np.sqrt(var))
