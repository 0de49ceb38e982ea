"""Kronecker products of per-qubit factors, and the partial traces that give their gradients.

Qubit 0 is the least significant bit (qiskit's order): ``a_{n-1} (x) ... (x) a_0``.

For ``K = (x)_q m_q`` with unitary factors and the gradient ``Gamma`` of a real loss in ``K``
(torch's convention), the gradient in ``m_q`` is ``Tr_{q' != q}[Gamma K^H] m_q``: the partial
trace is ``grad_q m_q^H``. The same holds for unit vectors ``a_q`` (``K`` a product state).
So every factor's gradient is one gather and one sum away, whatever the width.
"""

from __future__ import annotations

import functools

import torch


def kron_columns(cols: torch.Tensor) -> torch.Tensor:
    """``(P, n, 2) -> (P, 2**n)`` with qubit 0 the least significant bit."""
    P, n, _ = cols.shape
    state = cols[:, n - 1]
    for q in range(n - 2, -1, -1):
        state = (state[:, :, None] * cols[:, q, None, :]).reshape(P, -1)
    return state


def layer_kron(qubits: tuple[int, ...], mats: torch.Tensor, n: int) -> torch.Tensor:
    """``(P, 2^n, 2^n)`` matrix ``M_{n-1} (x) ... (x) M_0`` of a single-qubit layer (identity elsewhere)."""
    P = mats.shape[0]
    where = {q: i for i, q in enumerate(qubits)}
    eye = torch.eye(2, dtype=mats.dtype).expand(P, 2, 2)
    K = None
    for q in range(n - 1, -1, -1):
        m = mats[:, where[q]] if q in where else eye
        K = m if K is None else (K[:, :, None, :, None] * m[:, None, :, None, :]).reshape(P, K.shape[1] * 2, -1)
    return K


@functools.lru_cache(maxsize=None)
def _bit_pairs(n: int) -> torch.Tensor:
    """Flat indices ``I * D + J`` over ``(q, a, b, r)``: ``I, J`` equal off qubit ``q``,
    with bit ``a`` resp. ``b`` on it (``r`` runs over the other bits)."""
    r = torch.arange(1 << (n - 1))
    pairs = []
    for q in range(n):
        low, high = r & ((1 << q) - 1), (r >> q) << (q + 1)
        for a in (0, 1):
            for b in (0, 1):
                pairs.append(((high | (a << q) | low) << n) | high | (b << q) | low)
    return torch.stack(pairs).flatten()


def partial_traces(m: torch.Tensor) -> torch.Tensor:
    """``(P, n, 2, 2)``: ``Tr_{q' != q} M`` for every qubit ``q`` of ``M (P, D, D)``."""
    P, D = m.shape[0], m.shape[-1]
    n = D.bit_length() - 1
    flat = m.reshape(P, D * D).index_select(1, _bit_pairs(n))
    return flat.reshape(P, n, 2, 2, D // 2).sum(-1)


def outer_partial_traces(g: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
    """:func:`partial_traces` of ``g psi^H`` for vectors ``g, psi (P, D)``, without forming it."""
    P, D = g.shape
    n = D.bit_length() - 1
    pairs = _bit_pairs(n)
    prod = g.index_select(1, pairs >> n) * psi.index_select(1, pairs & (D - 1)).conj()
    return prod.reshape(P, n, 2, 2, D // 2).sum(-1)
