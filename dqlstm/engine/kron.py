"""Kronecker products of per-qubit factors, and the partial traces that give their gradients.

Qubit 0 is the least significant bit (qiskit's order): ``a_{n-1} (x) ... (x) a_0``.
:func:`kron_columns` and :func:`layer_kron` take torch tensors (autograd paths) or
NumPy arrays (the hand-differentiated kernels); the partial traces are NumPy only.

For ``K = (x)_q m_q`` with unitary factors and the gradient ``Gamma`` of a real loss in ``K``
(torch's convention), the gradient ``R_q`` in ``m_q`` satisfies
``R_q m_q^H = Tr_{q' != q}[Gamma K^H]``. The same holds for unit vectors ``a_q`` (``K`` a
product state). So every factor's gradient is one gather and one sum away, whatever the width.
"""

from __future__ import annotations

import functools

import numpy as np
import torch


def kron_columns(cols):
    """``(P, n, 2) -> (P, 2**n)`` with qubit 0 the least significant bit."""
    P, n, _ = cols.shape
    state = cols[:, n - 1]
    for q in range(n - 2, -1, -1):
        state = (state[:, :, None] * cols[:, q, None, :]).reshape(P, -1)
    return state


def layer_kron(qubits: tuple[int, ...], mats, n: int):
    """``(P, 2^n, 2^n)`` matrix ``M_{n-1} (x) ... (x) M_0`` of a single-qubit layer (identity elsewhere)."""
    P = mats.shape[0]
    where = {q: i for i, q in enumerate(qubits)}
    if isinstance(mats, np.ndarray):
        eye = np.broadcast_to(np.eye(2, dtype=mats.dtype), (P, 2, 2))
    else:
        eye = torch.eye(2, dtype=mats.dtype).expand(P, 2, 2)
    K = None
    for q in range(n - 1, -1, -1):
        m = mats[:, where[q]] if q in where else eye
        K = m if K is None else (K[:, :, None, :, None] * m[:, None, :, None, :]).reshape(P, K.shape[1] * 2, -1)
    return K


@functools.lru_cache(maxsize=None)
def _bit_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``I, J`` over ``(q, a, b, r)``: equal off qubit ``q``, with bit ``a`` resp. ``b``
    on it (``r`` runs over the other bits)."""
    r = np.arange(1 << (n - 1))
    rows, cols = [], []
    for q in range(n):
        low, high = r & ((1 << q) - 1), (r >> q) << (q + 1)
        for a in (0, 1):
            for b in (0, 1):
                rows.append(high | (a << q) | low)
                cols.append(high | (b << q) | low)
    return np.concatenate(rows), np.concatenate(cols)


def partial_traces(m: np.ndarray) -> np.ndarray:
    """``(P, n, 2, 2)``: ``Tr_{q' != q} M`` for every qubit ``q`` of ``M (P, D, D)``."""
    P, D = m.shape[0], m.shape[-1]
    n = D.bit_length() - 1
    rows, cols = _bit_pairs(n)
    return m[:, rows, cols].reshape(P, n, 2, 2, D // 2).sum(-1)


def outer_partial_traces(g: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """:func:`partial_traces` of ``g psi^H`` for vectors ``g, psi (P, D)``, without forming it."""
    P, D = g.shape
    n = D.bit_length() - 1
    rows, cols = _bit_pairs(n)
    return (g[:, rows] * psi[:, cols].conj()).reshape(P, n, 2, 2, D // 2).sum(-1)


CHUNK_QUBITS = 4  # a layer on a wide register acts as 16x16 matrices on groups of 4 qubits


def chunks(qubits: tuple[int, ...], n: int) -> list[tuple[int, int, list[int]]]:
    """``(low, size, members)`` groups of at most :data:`CHUNK_QUBITS` consecutive qubits that
    contain some of ``qubits``; ``members`` are positions in ``qubits``, lowest qubit first."""
    out = []
    for low in range(0, n, CHUNK_QUBITS):
        size = min(CHUNK_QUBITS, n - low)
        members = [i for i, q in enumerate(qubits) if low <= q < low + size]
        if members:
            out.append((low, size, members))
    return out


def apply_chunk(T: np.ndarray, K: np.ndarray, low: int, size: int, n: int) -> np.ndarray:
    """``T (G, B, D)`` with ``K (G, d, d)`` applied to qubits ``low .. low + size - 1`` of every row."""
    G, B, D = T.shape
    a, d, c = 1 << (n - low - size), 1 << size, 1 << low
    if c == 1:
        return (T.reshape(G, B * a, d) @ K.swapaxes(1, 2)).reshape(G, B, D)
    return (K[:, None] @ T.reshape(G, B * a, d, c)).reshape(G, B, D)


def chunk_trace(lam: np.ndarray, out: np.ndarray, low: int, size: int, n: int) -> np.ndarray:
    """``(G, d, d)``: ``sum_rows Tr_{outside the chunk}[lam_row out_row^H]`` for ``lam, out (G, B, D)``."""
    G, B, D = lam.shape
    a, d, c = 1 << (n - low - size), 1 << size, 1 << low
    left = np.moveaxis(lam.reshape(G, B * a, d, c), 2, 1).reshape(G, d, -1)
    right = np.moveaxis(out.reshape(G, B * a, d, c), 2, 1).reshape(G, d, -1)
    return left @ right.conj().swapaxes(1, 2)
