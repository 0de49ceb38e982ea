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
             = Tr_{q' != q}[grad_psi psi^H] a_q   (the columns are unit vectors)

Doing this by hand replaces a few hundred tiny autograd nodes per step with one.
"""

from __future__ import annotations

import torch

from .kron import kron_columns, outer_partial_traces


class EncodedExpectation(torch.autograd.Function):
    """``E (G, B, K)`` from encoded states and block unitaries ``(G, D, D)``.

    ``x`` is either the per-qubit columns ``(P, n, 2)`` (complex, differentiated by the
    caller's graph) or, with an :class:`~dqlstm.engine.adjoint.EncodingPlan`, the real input
    angles ``(P, num_inputs)`` of any float dtype; then the values and the angle gradients
    come back in that dtype and the encoding is differentiated here as well.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, unitary: torch.Tensor, zdiag: torch.Tensor, groups: int, encoding=None):
        # P = B (shared encoding) or G*B
        G = unitary.shape[0]
        if encoding is None:
            cols = x
        else:
            cols, ctx.encoding_tape = encoding.forward(x.detach().to(zdiag.dtype))
        psi = kron_columns(cols)
        if groups == 1:
            out = torch.matmul(psi, unitary.transpose(1, 2))  # (G, B, D)
        else:
            out = torch.bmm(psi.reshape(G, -1, psi.shape[-1]), unitary.transpose(1, 2))
        probs = torch.view_as_real(out).square().sum(-1)
        ctx.save_for_backward(cols, unitary, zdiag, psi, out)
        ctx.groups, ctx.encoding, ctx.x_dtype = groups, encoding, x.dtype
        ctx.encoding_num_inputs = x.shape[-1]
        e = probs @ zdiag
        return e if encoding is None else e.to(x.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable  # the hand-written backward has no second derivative
    def backward(ctx, grad_e: torch.Tensor):
        cols, unitary, zdiag, psi, out = ctx.saved_tensors
        grad_out = 2 * (grad_e.to(zdiag.dtype) @ zdiag.T) * out  # (G, B, D)
        grad_x = grad_unitary = None
        G, D = unitary.shape[0], unitary.shape[1]
        if ctx.needs_input_grad[1]:
            psi_g = psi.expand(G, -1, -1) if ctx.groups == 1 else psi.reshape(G, -1, D)
            grad_unitary = grad_out.transpose(1, 2) @ psi_g.conj()
        if ctx.needs_input_grad[0]:
            grad_psi = grad_out @ unitary.conj()  # (G, B, D)
            grad_psi = grad_psi.sum(0) if ctx.groups == 1 else grad_psi.reshape(-1, D)
            # Tr_{q' != q}[grad_psi psi^H] = grad_q a_q^H: the columns are unit vectors
            traces = outer_partial_traces(grad_psi, psi)
            if ctx.encoding is None:
                grad_x = (traces @ cols[..., None])[..., 0]
            else:
                grad_angles = torch.zeros(cols.shape[0], ctx.encoding_num_inputs, dtype=zdiag.dtype)
                ctx.encoding.backward(ctx.encoding_tape, traces, grad_angles)
                grad_x = grad_angles.to(ctx.x_dtype)
        return grad_x, grad_unitary, None, None, None
