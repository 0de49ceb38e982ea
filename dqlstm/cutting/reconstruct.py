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

Standard errors. A shot mean of :math:`S` values :math:`\pm 1` with mean
:math:`E` has estimated variance :math:`v = (1 - E^2) / (S - 1)`. Different
sub-experiments are independent, so with
:math:`\mathrm{Var}(\prod_f X_f) = \prod_f (v_f + E_f^2) - \prod_f E_f^2`
(independent factors) and :math:`\mathrm{Var}\langle O\rangle = \sum_i c_i^2
\mathrm{Var}(\prod_f E_{f,i})`.

Parameter shift. If parameter :math:`\theta` lives in fragment :math:`g` only,

.. math::
    \partial_\theta \langle O \rangle = \sum_i c_i
    \frac{E^{+}_{g,i} - E^{-}_{g,i}}{2} \prod_{f \ne g} E_{f,i},

where :math:`E^{\pm}_{g,i}` are fragment :math:`g` 's estimates at
:math:`\theta \pm \pi/2`; the other fragments' estimates are reused.

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
    """Per-QPD-term estimates of one fragment's sub-observables.

    Attributes:
        mean: ``(T, *shape, n_terms)`` shot means :math:`E_{f,i}(P_f)` for each QPD
            term ``i``, binding index ``shape`` and global Pauli term.
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
    sub-observables per partition label from ``partition_problem``. Results
    are given per label, ordered as ``generate_cutting_experiments`` orders the
    sub-experiments; each may carry any batch ``shape`` of parameter bindings
    (``BitArray.array`` of shape ``(*shape, shots, nbytes)``), the same for all.
    """

    def __init__(
        self,
        coefficients: Sequence[tuple[float, Any]],
        subobservables: Mapping[Hashable, PauliList],
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

    @property
    def num_qpd_terms(self) -> int:
        """Number ``T`` of QPD terms (coefficients)."""
        return len(self.coefficients)

    def num_groups(self, label: Hashable) -> int:
        """Number of commuting groups (sub-experiments per QPD term) of a fragment."""
        return len(self._layouts[label].groups)

    def num_subexperiments(self, label: Hashable) -> int:
        """Sub-experiments of a fragment: QPD terms x commuting groups."""
        return self.num_qpd_terms * self.num_groups(label)

    def fragment_estimates(self, label: Hashable, results: Sequence[Any]) -> FragmentEstimates:
        """Per-term estimates :math:`E_{f,i}` of one fragment, vectorised over terms and bindings.

        Args:
            label: partition label.
            results: the fragment's pub results (``.data`` with the
                ``qpd_measurements`` and ``observable_measurements`` BitArrays),
                one per sub-experiment, in ``generate_cutting_experiments`` order.
        """
        layout = self._layouts[label]
        n_groups = len(layout.groups)
        n_terms = self.num_qpd_terms
        if len(results) != n_terms * n_groups:
            raise ValueError(
                f"partition {label!r}: got {len(results)} results, expected "
                f"{n_terms} QPD terms x {n_groups} observable groups = {n_terms * n_groups}"
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
        """``(T, *shape, n_masks)`` means and variances of one group over all QPD terms."""
        shape_set = {a.shape[:-1] for a in obs} | {a.shape[:-1] for a in qpd}
        if len(shape_set) != 1:
            raise ValueError(
                "sub-experiment results differ in binding shape or shot count: "
                f"{sorted(shape_set)}; run every sub-experiment with the same bindings and shots"
            )
        lead_shots = shape_set.pop()
        shots = lead_shots[-1]
        if shots < 1:
            raise ValueError("sub-experiment results contain no shots")
        per_term = max(1, int(np.prod(lead_shots, dtype=np.int64)))
        chunk = max(1, _CHUNK_SHOTS // per_term)
        means = []
        for start in range(0, len(obs), chunk):
            stop = start + chunk
            means.append(
                _group_means(
                    group, _stack_right_aligned(obs[start:stop]), _stack_right_aligned(qpd[start:stop])
                )
            )
        mean = np.concatenate(means) if len(means) > 1 else means[0]
        var = (1.0 - mean**2) / (shots - 1) if shots > 1 else np.full_like(mean, np.inf)
        return mean, var

    def estimates(self, results: Mapping[Hashable, Sequence[Any]]) -> dict[Hashable, FragmentEstimates]:
        """:meth:`fragment_estimates` for every partition label."""
        missing = set(self.labels) - set(results)
        if missing:
            raise ValueError(f"no results for partition(s) {sorted(map(str, missing))}")
        return {lab: self.fragment_estimates(lab, results[lab]) for lab in self.labels}

    def combine(self, estimates: Mapping[Hashable, FragmentEstimates]) -> Reconstruction:
        r""":math:`\sum_i c_i \prod_f E_{f,i}` and its standard error."""
        means = [estimates[lab].mean for lab in self.labels]
        vars_ = [estimates[lab].var for lab in self.labels]
        prod_mean, prod_var = _product_stats(means, vars_)
        c = self.coefficients
        values = np.tensordot(c, prod_mean, axes=(0, 0))
        var = np.tensordot(c**2, prod_var, axes=(0, 0))
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
                ``(T, *shape, n_paulis)``.
            label: the fragment whose parameters were shifted.
            shifted: that fragment's estimates at the shifted bindings, ``mean``
                of shape ``(T, 2, P_f, *shape, n_paulis)``; axis 1 is
                ``(+pi/2, -pi/2)``, axis 2 the fragment's parameters.

        Returns:
            gradient and standard error, shape ``(P_f, *shape, n_paulis)``.
        """
        others = [lab for lab in self.labels if lab != label]
        if others:
            rest_mean, rest_var = _product_stats(
                [estimates[lab].mean for lab in others], [estimates[lab].var for lab in others]
            )
        else:  # uncut circuit: a single fragment
            rest_mean = np.ones_like(estimates[label].mean)
            rest_var = np.zeros_like(rest_mean)
        diff = 0.5 * (shifted.mean[:, 0] - shifted.mean[:, 1])  # (T, P_f, *shape, n)
        diff_var = 0.25 * (shifted.var[:, 0] + shifted.var[:, 1])
        rest_mean = rest_mean[:, None]
        rest_var = rest_var[:, None]
        term = diff * rest_mean
        term_var = (diff_var + diff**2) * (rest_var + rest_mean**2) - term**2
        c = self.coefficients
        grad = np.tensordot(c, term, axes=(0, 0))
        var = np.tensordot(c**2, np.maximum(term_var, 0.0), axes=(0, 0))
        return Reconstruction(grad, np.sqrt(var))


def _product_stats(
    means: Sequence[np.ndarray], variances: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    r"""Mean and variance of a product of independent factors.

    :math:`\mathrm{Var}(\prod X_f) = \prod (v_f + E_f^2) - \prod E_f^2`.
    """
    mean = means[0]
    second = variances[0] + means[0] ** 2
    for m, v in zip(means[1:], variances[1:]):
        mean = mean * m
        second = second * (v + m**2)
    return mean, np.maximum(second - mean**2, 0.0)
