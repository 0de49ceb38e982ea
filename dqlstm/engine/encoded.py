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

For wider registers :class:`EncodedBlockExpectation` applies the block to the
states chunk by chunk instead of forming ``W`` (``D x B`` work, not ``D x D``);
its backward runs the chunks' adjoints and takes every layer's partial traces
on the way (:meth:`~dqlstm.engine.adjoint.BlockPlan.states_backward`).

Doing this by hand replaces a few hundred tiny autograd nodes per step with one.
"""

from __future__ import annotations

import numpy as np
import torch

from .adjoint import NUMPY_DTYPES, first_order, to_numpy
from .kron import kron_columns, outer_partial_traces


class EncodedExpectation(torch.autograd.Function):
    """``E (G, B, K)`` from encoded states and block unitaries ``(G, D, D)``; NumPy kernels.

    ``x`` is either the per-qubit columns ``(P, n, 2)`` (complex unit vectors, differentiated
    by the caller's graph) or, with an :class:`~dqlstm.engine.adjoint.EncodingPlan`, the real
    input angles ``(P, num_inputs)`` of any float dtype; then the values and the angle
    gradients come back in that dtype and the encoding is differentiated here as well.
    ``zdiag (D, K)`` is a NumPy array of the engine's real dtype.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, unitary: torch.Tensor, zdiag: np.ndarray, groups: int, encoding=None):
        # P = B (shared encoding) or G*B
        cdt, rdt = NUMPY_DTYPES[unitary.dtype]
        W = to_numpy(unitary, cdt)
        G, D = W.shape[0], W.shape[-1]
        if encoding is None:
            cols = to_numpy(x, cdt)
        else:
            cols, ctx.encoding_tape = encoding.forward(to_numpy(x, rdt))
        psi = kron_columns(cols)
        Wt = W.swapaxes(1, 2)
        out = psi @ Wt if groups == 1 else psi.reshape(G, -1, D) @ Wt  # (G, B, D)
        e = (out.real**2 + out.imag**2) @ zdiag
        ctx.arrays = cols, W, zdiag, psi, out
        ctx.save_for_backward(x, unitary)  # for torch's checks: in-place changes, a second backward
        ctx.groups, ctx.encoding, ctx.x_dtype, ctx.num_inputs = groups, encoding, x.dtype, x.shape[-1]
        e = torch.from_numpy(e)
        return e if encoding is None else e.to(x.dtype)

    @staticmethod
    @first_order
    def backward(ctx, grad_e: torch.Tensor):
        ctx.saved_tensors  # noqa: B018 - the version check
        cols, W, zdiag, psi, out = ctx.arrays
        grad_out = 2 * (to_numpy(grad_e, zdiag.dtype) @ zdiag.T) * out  # (G, B, D)
        grad_x = grad_unitary = None
        G, D = W.shape[0], W.shape[-1]
        if ctx.needs_input_grad[1]:
            psi_g = psi if ctx.groups == 1 else psi.reshape(G, -1, D)
            grad_unitary = torch.from_numpy(grad_out.swapaxes(1, 2) @ psi_g.conj())
        if ctx.needs_input_grad[0]:
            grad_psi = grad_out @ W.conj()  # (G, B, D)
            grad_psi = grad_psi.sum(0) if ctx.groups == 1 else grad_psi.reshape(-1, D)
            # Tr_{q' != q}[grad_psi psi^H] = grad_q a_q^H: the columns are unit vectors
            traces = outer_partial_traces(grad_psi, psi)
            if ctx.encoding is None:
                grad_x = torch.from_numpy((traces @ cols[..., None])[..., 0])
            else:
                grad_angles = ctx.encoding.backward(ctx.encoding_tape, traces, ctx.num_inputs)
                grad_x = torch.from_numpy(grad_angles).to(ctx.x_dtype)
        return grad_x, grad_unitary, None, None, None


class EncodedBlockExpectation(torch.autograd.Function):
    """``E (G, B, K)``: encoded states through an input-free block applied as chunks (wide
    registers, where the ``D x D`` unitary would cost more than the ``D x B`` states).

    ``prepared = (plan, evaluated, ops)`` comes from :class:`~dqlstm.engine.adjoint.BlockPlan`
    for ``weights``; ``weights`` is passed so its gradient flows. Angles and values as in
    :class:`EncodedExpectation` with an encoding plan.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weights: torch.Tensor, zdiag: np.ndarray, groups: int, encoding, prepared):
        plan, evaluated, ops = prepared
        G, D = weights.shape[0], 1 << plan.n
        cols, ctx.encoding_tape = encoding.forward(to_numpy(x, plan.rdt))
        psi = kron_columns(cols)
        T = np.broadcast_to(psi, (G,) + psi.shape) if groups == 1 else psi.reshape(G, -1, D)
        T, outs = plan.apply_states(ops, T)
        ctx.arrays = zdiag, psi, T, outs
        ctx.save_for_backward(x, weights)  # for torch's checks: in-place changes, a second backward
        ctx.groups, ctx.encoding, ctx.prepared = groups, encoding, prepared
        ctx.x_dtype, ctx.num_inputs = x.dtype, x.shape[-1]
        ctx.weight_shape, ctx.weight_dtype = tuple(weights.shape), weights.dtype
        return torch.from_numpy((T.real**2 + T.imag**2) @ zdiag).to(x.dtype)

    @staticmethod
    @first_order
    def backward(ctx, grad_e: torch.Tensor):
        ctx.saved_tensors  # noqa: B018 - the version check
        zdiag, psi, T, outs = ctx.arrays
        plan, evaluated, ops = ctx.prepared
        lam = 2 * (to_numpy(grad_e, zdiag.dtype) @ zdiag.T) * T  # (G, B, D)
        traces = plan._traces(T.shape[0]) if ctx.needs_input_grad[1] else None
        lam = plan.states_backward(ops, outs, lam, traces)
        grad_x = grad_w = None
        if traces is not None:
            grads = np.zeros(ctx.weight_shape, dtype=plan.rdt)
            plan.weight_grads(evaluated, traces, grads)
            grad_w = torch.from_numpy(grads).to(ctx.weight_dtype)
        if ctx.needs_input_grad[0]:
            grad_psi = lam.sum(0) if ctx.groups == 1 else lam.reshape(-1, lam.shape[-1])
            traces = outer_partial_traces(grad_psi, psi)
            grad_x = torch.from_numpy(ctx.encoding.backward(ctx.encoding_tape, traces, ctx.num_inputs))
            grad_x = grad_x.to(ctx.x_dtype)
        return grad_x, grad_w, None, None, None, None
