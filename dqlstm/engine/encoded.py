"""One autograd node for the per-step hot path of an input-free block.

For per-qubit encoded vectors ``a_q`` (``cols[b, q]``), block unitaries
``W_g`` and a diagonal observable matrix ``Z`` (``D x K``):

    psi_b   = a_{n-1} (x) ... (x) a_0
    out_gb  = W_g psi_b
    E_gbk   = sum_i |out_gb[i]|^2 Z[i, k]

Backward, in torch's conjugate-Wirtinger convention (grad_z = 2 dL/dz*):

    grad_out = 2 (gE Z^T) * out
    grad_W_g = sum_b grad_out_gb psi_b^H
    grad_psi = sum_g W_g^H grad_out_g        (per g when the encoding is per gate)
    grad_a_q = sum_{i: i_q = a} grad_psi[i] prod_{q' != q} conj(a_{q'}[i_q'])

Doing this by hand replaces a few hundred tiny autograd nodes per step with one.
"""

from __future__ import annotations

import torch


def kron_columns(cols: torch.Tensor) -> torch.Tensor:
    """``(P, n, 2) -> (P, 2**n)`` with qubit 0 the least significant bit."""
    P, n, _ = cols.shape
    state = cols[:, n - 1]
    for q in range(n - 2, -1, -1):
        state = (state[:, :, None] * cols[:, q, None, :]).reshape(P, -1)
    return state


class EncodedExpectation(torch.autograd.Function):
    @staticmethod
    def forward(ctx, cols: torch.Tensor, unitary: torch.Tensor, zdiag: torch.Tensor, groups: int):
        # cols: (P, n, 2) with P = B (shared encoding) or G*B; unitary: (G, D, D)
        G = unitary.shape[0]
        psi = kron_columns(cols)
        if groups == 1:
            out = torch.matmul(psi, unitary.transpose(1, 2))  # (G, B, D)
        else:
            out = torch.bmm(psi.reshape(G, -1, psi.shape[-1]), unitary.transpose(1, 2))
        probs = out.real.square() + out.imag.square()
        ctx.save_for_backward(cols, unitary, zdiag, psi, out)
        ctx.groups = groups
        return probs @ zdiag

    @staticmethod
    @torch.autograd.function.once_differentiable  # the hand-written backward has no second derivative
    def backward(ctx, grad_e: torch.Tensor):
        cols, unitary, zdiag, psi, out = ctx.saved_tensors
        grad_out = 2 * (grad_e @ zdiag.T) * out  # (G, B, D)
        grad_cols = grad_unitary = None
        G, D = unitary.shape[0], unitary.shape[1]
        if ctx.needs_input_grad[1]:
            psi_g = psi.expand(G, -1, -1) if ctx.groups == 1 else psi.reshape(G, -1, D)
            grad_unitary = grad_out.transpose(1, 2) @ psi_g.conj()
        if ctx.needs_input_grad[0]:
            grad_psi = grad_out @ unitary.conj()  # (G, B, D)
            grad_psi = grad_psi.sum(0) if ctx.groups == 1 else grad_psi.reshape(-1, D)
            P, n, _ = cols.shape
            gp = grad_psi.reshape(P, *([2] * n))
            conj = cols.conj()
            grad_cols = _kron_grad(gp, conj, n)
        return grad_cols, grad_unitary, None, None


def _kron_grad(gp: torch.Tensor, conj: torch.Tensor, n: int) -> torch.Tensor:
    """``grad_a_q`` for every qubit from prefix/suffix products of the other qubits' vectors."""
    P = gp.shape[0]
    flat = gp.reshape(P, -1)
    # left[q]: conj kron of qubits n-1..q+1 (more significant); right[q]: of qubits q-1..0
    left = [torch.ones(P, 1, dtype=conj.dtype)]
    for q in range(n - 1, 0, -1):
        left.append((left[-1][:, :, None] * conj[:, q, None, :]).reshape(P, -1))
    right = [torch.ones(P, 1, dtype=conj.dtype)]
    for q in range(n - 1):
        right.append((conj[:, q, :, None] * right[-1][:, None, :]).reshape(P, -1))
    out = []
    for q in range(n):
        lo, hi = right[q], left[n - 1 - q]
        g = flat.reshape(P, hi.shape[1], 2 * lo.shape[1])
        g = torch.bmm(hi[:, None, :], g).reshape(P, 2, lo.shape[1])  # contract the high qubits
        out.append(torch.bmm(g, lo[:, :, None])[:, :, 0])  # then the low ones
    return torch.stack(out, 1)
