"""Expectation values of Pauli observables on batched statevectors.

For a Pauli string with X-mask ``x`` and Z-mask ``z`` (qiskit little-endian),
``P = i^{n_Y} X^x Z^z`` so ``P|k> = i^{n_Y} (-1)^{|k & z|} |k ^ x>`` and

    <psi|P|psi> = i^{n_Y} sum_k conj(psi[k ^ x]) (-1)^{|k & z|} psi[k].

Diagonal observables (only I/Z) reduce to ``probs @ signs``, one matmul for all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from qiskit.quantum_info import SparsePauliOp


def as_observables(observables, num_qubits: int) -> list[SparsePauliOp]:
    """Normalise ``None`` (Z on every qubit), a SparsePauliOp, Pauli strings or a list of them."""
    if observables is None:
        return [
            SparsePauliOp("I" * (num_qubits - 1 - q) + "Z" + "I" * q) for q in range(num_qubits)
        ]
    if isinstance(observables, (SparsePauliOp, str)):
        observables = [observables]
    out = []
    for i, o in enumerate(observables):
        op = SparsePauliOp(o) if not isinstance(o, SparsePauliOp) else o
        if op.num_qubits != num_qubits:
            raise ValueError(
                f"observable {i} acts on {op.num_qubits} qubits but the circuit has {num_qubits}"
            )
        if np.abs(np.imag(op.simplify().coeffs)).max(initial=0.0) > 1e-12:
            raise ValueError(f"observable {i} is not Hermitian (complex coefficients): {op}")
        out.append(op)
    if not out:
        raise ValueError("no observables given")
    return out


def z_observables(num_qubits: int) -> list[SparsePauliOp]:
    return as_observables(None, num_qubits)


@dataclass
class PauliExpectation:
    """Precomputed masks so ``__call__(psi)`` gives ``(..., n_obs)`` real expectation values."""

    diag: torch.Tensor | None  # (D, n_obs) float: summed signed coefficients, if all diagonal
    terms: list[tuple[int, "PauliString"]]  # (observable, weighted Pauli term) otherwise

    @classmethod
    def build(cls, observables: Sequence[SparsePauliOp], num_qubits: int) -> "PauliExpectation":
        dim = 1 << num_qubits
        k = np.arange(dim)
        diagonal = all(not op.paulis.x.any() for op in observables)
        if diagonal:
            mat = np.zeros((dim, len(observables)))
            for j, op in enumerate(observables):
                for zbits, c in zip(op.paulis.z, op.coeffs):
                    zmask = int(np.dot(zbits, 1 << np.arange(num_qubits)))
                    mat[:, j] += np.real(c) * _signs(k, zmask)
            return cls(torch.from_numpy(mat), [])
        terms = []
        for j, op in enumerate(observables):
            for pauli, c in zip(op.paulis, op.coeffs):
                term = PauliString.from_pauli(pauli, num_qubits)
                terms.append((j, PauliString(term.xmask, term.zmask, term.coeff * complex(c))))
        return cls(None, terms)

    def __call__(self, psi: torch.Tensor) -> torch.Tensor:
        if self.diag is not None:
            probs = psi.real**2 + psi.imag**2
            return probs @ self.diag.to(probs.dtype)
        n_obs = 1 + max(j for j, _ in self.terms)
        out = [torch.zeros(psi.shape[:-1], dtype=psi.real.dtype) for _ in range(n_obs)]
        for j, term in self.terms:
            out[j] = out[j] + (psi.conj() * term.apply(psi)).sum(-1).real
        return torch.stack(out, -1)


@dataclass(frozen=True)
class PauliString:
    """``P = coeff * X^x Z^z`` (phases of Y folded into ``coeff``) on a little-endian register."""

    xmask: int
    zmask: int
    coeff: complex

    @classmethod
    def from_pauli(cls, pauli, num_qubits: int) -> "PauliString":
        weights = 1 << np.arange(num_qubits)
        ny = int(np.sum(pauli.x & pauli.z))
        # qiskit's group phase of the Pauli object times i^{nY} from Y = iXZ
        coeff = (1j**ny) * (-1j) ** int(pauli.phase)
        return cls(int(np.dot(pauli.x, weights)), int(np.dot(pauli.z, weights)), coeff)

    def apply(self, psi: torch.Tensor) -> torch.Tensor:
        """``P psi`` along the last axis: ``(P psi)[m] = coeff (-1)^{|(m^x) & z|} psi[m ^ x]``."""
        dim = psi.shape[-1]
        idx = torch.arange(dim) ^ self.xmask
        signs = torch.from_numpy(_signs(idx.numpy(), self.zmask)).to(psi.real.dtype)
        out = psi[..., idx] * signs if self.xmask else psi * signs
        return out if self.coeff == 1 else out * self.coeff


def _signs(k: np.ndarray, zmask: int) -> np.ndarray:
    parity = np.zeros_like(k)
    v = k & zmask
    while np.any(v):
        parity ^= v & 1
        v >>= 1
    return 1.0 - 2.0 * parity
