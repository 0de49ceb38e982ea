"""Adjoint differentiation of rotation layers and of narrow block unitaries.

Autograd records a node for every small tensor operation of a gate build
(cos, sin, stack, 2x2 matmul, kron ...), and at the sizes of a QLSTM gate
circuit that bookkeeping costs more than the arithmetic. Here one autograd
node covers a whole single-qubit layer, or the whole input-free block, and
the backward is a handful of tensor operations.

Layer. Qubit ``q`` of a layer holds ``m = F_k ... F_1 S`` with ``S`` the
identity (a gate matrix) or ``|0>`` (an encoding column), constant gates and
rotations

    F_j = exp(theta_j A_j) = cos(theta_j / 2) 1 - i sin(theta_j / 2) P_j,   A_j = -i P_j / 2,

``P_j`` one of X, Y, Z. With the suffix ``U_j = F_k ... F_{j+1}``,
``dm / dtheta_j = U_j A_j U_j^H m``, so for torch's gradient
``R = dL/dRe m + i dL/dIm m`` of a real loss ``L``

    dL/dtheta_j = Re tr(R^H U_j A_j U_j^H m) = Re sum(conj(R m^H) * C_j),   C_j = U_j A_j U_j^H.

The conjugated generators ``C_j`` come out of the forward pass; the backward
only needs ``R m^H``, which for a factor of a Kronecker product is a partial
trace (:mod:`dqlstm.engine.kron`).

Block. ``W = S_L ... S_1`` of layers ``K = (x)_q m_q`` and monomials (CNOT
rings). With ``B_j = S_j ... S_1``, ``Lambda_L = dL/dW`` and
``Lambda_{j-1} = S_j^H Lambda_j``, the gradient in ``K_j`` is
``Lambda_j B_{j-1}^H``, and ``R_q m_q^H = Tr_{q' != q}[Lambda_j B_j^H]``.
"""

from __future__ import annotations

import torch

from .kron import layer_kron, partial_traces
from .program import INPUT, WEIGHT, Monomial, SingleLayer, Step

_PAULI = {
    "rx": ((0, 1), (1, 0)),
    "ry": ((0, -1j), (1j, 0)),
    "rz": ((1, 0), (0, -1)),
}
ROTATIONS = frozenset(_PAULI)


def real_of(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.complex128 else torch.float32


def differentiable_by_adjoint(layer: SingleLayer) -> bool:
    """True if every gate of the layer is constant or a one-angle rotation (rx, ry, rz)."""
    return all(f.matrix is not None or f.name in ROTATIONS for f in layer.factors)


def block_differentiable_by_adjoint(block: list[Step]) -> bool:
    """True for input-free blocks of monomials and rotation layers (every built-in ansatz)."""
    return bool(block) and all(
        isinstance(s, Monomial)
        or (isinstance(s, SingleLayer) and INPUT not in s.sources and differentiable_by_adjoint(s))
        for s in block
    )


def _rotation(name: str, theta: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``exp(-i theta P / 2)`` for constant angles ``theta (nq,)``: ``(nq, 2, 2)``."""
    pauli = torch.tensor(_PAULI[name], dtype=dtype)
    half = theta.to(real_of(dtype)) / 2
    return torch.cos(half)[:, None, None] * torch.eye(2, dtype=dtype) - 1j * torch.sin(half)[:, None, None] * pauli


class LayerPlan:
    """A rotation layer compiled for one dtype.

    Constant gates and constant-angle rotations become matrices, leading
    constants fold into the start, and the angle indices, affine maps and
    generators of all rotations are stacked so one call builds all of them.
    ``column=True`` evaluates ``m |0>`` (``(P, nq, 2, 1)``), else ``m`` (``(P, nq, 2, 2)``).
    """

    def __init__(self, layer: SingleLayer, dtype: torch.dtype, column: bool):
        if not differentiable_by_adjoint(layer):
            raise ValueError("LayerPlan takes layers of constant gates and rx/ry/rz rotations only")
        real = real_of(dtype)
        self.dtype, self.column, self.nq = dtype, column, len(layer.qubits)
        start = torch.tensor([[1], [0]], dtype=dtype) if column else None
        self.ops: list[torch.Tensor | int] = []  # a constant matrix, or the number of a rotation
        rotations = []
        for f in layer.factors:
            if f.matrix is not None:
                m = f.matrix.to(dtype)
            elif f.source is None:
                m = _rotation(f.name, f.offset[:, 0], dtype)
            else:
                self.ops.append(len(rotations))
                rotations.append(f)
                continue
            if not self.ops:  # still leading: fold into the start
                start = m if start is None else m @ start
            elif isinstance(self.ops[-1], torch.Tensor):
                self.ops[-1] = m @ self.ops[-1]
            else:
                self.ops.append(m)
        self.start = start
        self.k = len(rotations)
        self.rot_source = [f.source for f in rotations]
        self.sources = sorted(set(self.rot_source))
        self.index = torch.stack([f.index[:, 0] for f in rotations], -1) if rotations else None  # (nq, k)
        self.plain = all(f.plain for f in rotations)
        if rotations and not self.plain:
            self.scale = torch.stack([f.scale[:, 0] for f in rotations], -1).to(real)
            self.offset = torch.stack([f.offset[:, 0] for f in rotations], -1).to(real)
        paulis = torch.tensor([_PAULI[f.name] for f in rotations], dtype=dtype).reshape(-1, 2, 2)
        eye = torch.eye(2, dtype=dtype).expand_as(paulis)
        # [cos, sin] @ basis = cos 1 - i sin P, flattened per rotation: (k, 2, 4)
        self.basis = torch.stack((eye.reshape(-1, 4), (-1j * paulis).reshape(-1, 4)), 1)
        self.generator = -0.5j * paulis  # A_j: (k, 2, 2)

    def angles(self, values: dict[int, torch.Tensor]) -> torch.Tensor:
        """``(P, nq, k)`` rotation angles."""
        if len(self.sources) == 1:
            theta = values[self.sources[0]][:, self.index]
        else:
            theta = torch.stack([values[s][:, self.index[:, j]] for j, s in enumerate(self.rot_source)], -1)
        return theta if self.plain else torch.addcmul(self.offset, theta, self.scale)

    def forward(self, values: dict[int, torch.Tensor], P: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(out, C)``: the layer for ``P`` rows, and the conjugated generators ``(P, nq, k, 2, 2)``."""
        if not self.k:
            T = self.start if self.start is not None else torch.eye(2, dtype=self.dtype)
            for op in self.ops:
                T = op @ T
            return T.expand(P, self.nq, 2, 1 if self.column else 2), None
        half = self.angles(values) * 0.5
        cs = torch.stack((torch.cos(half), torch.sin(half)), -1).to(self.dtype)  # (P, nq, k, 2)
        rots = (cs.unsqueeze(-2) @ self.basis).reshape(P, self.nq, self.k, 2, 2)
        mats = [rots[:, :, op] if isinstance(op, int) else op for op in self.ops]
        T = self.start
        for M in mats:
            T = M if T is None else M @ T
        # suffixes U_j of every rotation, last rotation first
        suffixes = [None] * self.k
        U = None
        for op, M in zip(reversed(self.ops), reversed(mats)):
            if isinstance(op, int):
                suffixes[op] = U
            U = M if U is None else U @ M
        if suffixes[0] is None:  # a single rotation, nothing after it
            conj_gen = self.generator.expand(P, self.nq, self.k, 2, 2)
        else:
            eye = torch.eye(2, dtype=self.dtype).expand(P, self.nq, 2, 2)
            U = torch.stack([eye if u is None else u.expand(P, self.nq, 2, 2) for u in suffixes], 2)
            conj_gen = U @ self.generator @ U.mH
        return T.expand(P, self.nq, 2, 1 if self.column else 2), conj_gen

    def backward(self, conj_gen: torch.Tensor | None, traces: torch.Tensor, grads: dict[int, torch.Tensor]) -> None:
        """Add ``dL/dvalues`` to ``grads[source] (P, num_params)``, given ``traces = R m^H (P, nq, 2, 2)``."""
        if conj_gen is None:
            return
        dtheta = torch.linalg.vecdot(traces.flatten(-2)[:, :, None], conj_gen.flatten(-2)).real  # (P, nq, k)
        if not self.plain:
            dtheta = dtheta * self.scale
        if len(self.sources) == 1:
            target = grads.get(self.sources[0])
            if target is not None:
                target.index_add_(1, self.index.flatten(), dtheta.flatten(1).to(target.dtype))
            return
        for j, s in enumerate(self.rot_source):
            if s in grads:
                grads[s].index_add_(1, self.index[:, j], dtheta[:, :, j].to(grads[s].dtype))


def layer_plan(layer: SingleLayer, dtype: torch.dtype, column: bool) -> LayerPlan:
    """The layer's plan for ``dtype``, built once and kept on the layer."""
    key = (dtype, column)
    plan = layer.plans.get(key)
    if plan is None:
        plan = layer.plans[key] = LayerPlan(layer, dtype, column)
    return plan


class RotationLayer(torch.autograd.Function):
    """``(P, nq, 2, c)``: the layer's matrices (``c = 2``) or columns from ``|0>`` (``c = 1``).

    ``inputs`` / ``weights`` are ``(P, num_params)`` real tensors of any float dtype (either may
    be ``None``); their gradients come back in that dtype.
    """

    @staticmethod
    def forward(ctx, layer: SingleLayer, P: int, dtype: torch.dtype, column: bool, inputs, weights):
        plan = layer_plan(layer, dtype, column)
        given = {k: v for k, v in ((INPUT, inputs), (WEIGHT, weights)) if v is not None}
        missing = set(plan.sources) - set(given)
        if missing:
            raise ValueError(f"layer needs parameter sources {sorted(missing)} that were not given")
        real = real_of(dtype)
        out, ctx.conj_gen = plan.forward({k: v.detach().to(real) for k, v in given.items()}, P)
        ctx.plan, ctx.out = plan, out
        ctx.shapes = {k: (v.shape, v.dtype) for k, v in given.items()}
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        need = {INPUT: ctx.needs_input_grad[4], WEIGHT: ctx.needs_input_grad[5]}
        real = real_of(grad.dtype)
        grads = {k: torch.zeros(shape, dtype=real) for k, (shape, _) in ctx.shapes.items() if need[k]}
        if grads:
            ctx.plan.backward(ctx.conj_gen, grad @ ctx.out.mH, grads)
        out = [grads[k].to(ctx.shapes[k][1]) if k in grads else None for k in (INPUT, WEIGHT)]
        return None, None, None, None, *out


class BlockUnitary(torch.autograd.Function):
    """``W (G, D, D)`` of an input-free block of monomials and rotation layers, for ``weights (G, P_w)``."""

    @staticmethod
    def forward(ctx, block: list[Step], n: int, dtype: torch.dtype, weights: torch.Tensor):
        G = weights.shape[0]
        values = {WEIGHT: weights.detach().to(real_of(dtype))}
        T = None  # None: identity so far
        tape = []
        for s in block:
            if isinstance(s, Monomial):
                if T is None:
                    T = torch.eye(1 << n, dtype=dtype).index_select(0, s.gather).expand(G, -1, -1)
                else:
                    T = T.index_select(1, s.gather)
                if s.phase_out is not None:
                    T = T * s.phase_out.to(dtype)[:, None]
                tape.append(None)
                continue
            plan = layer_plan(s, dtype, column=False)
            m, conj_gen = plan.forward(values, G)
            K = layer_kron(s.qubits, m, n)
            T = K if T is None else K @ T
            tape.append((plan, conj_gen, K, T))  # T: the block so far, this layer included
        ctx.block, ctx.tape, ctx.n = block, tape, n
        ctx.weight_shape, ctx.weight_dtype = weights.shape, weights.dtype
        return T

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_w: torch.Tensor):
        grads = {WEIGHT: torch.zeros(ctx.weight_shape, dtype=real_of(grad_w.dtype))}
        first = next(j for j, t in enumerate(ctx.tape) if t is not None)
        lam = grad_w
        for j in range(len(ctx.block) - 1, first - 1, -1):
            s, t = ctx.block[j], ctx.tape[j]
            if t is None:  # monomial: S^H sends rows back where they came from
                if s.phase_out is not None:
                    lam = lam * s.phase_out.to(lam.dtype).conj()[:, None]
                lam = lam.index_copy(1, s.gather, lam)
                continue
            plan, conj_gen, K, prefix = t
            traces = partial_traces(lam @ prefix.mH)
            if len(s.qubits) < ctx.n:
                traces = traces[:, list(s.qubits)]
            plan.backward(conj_gen, traces, grads)
            if j > first:
                lam = K.mH @ lam
        return None, None, None, grads[WEIGHT].to(ctx.weight_dtype)


class EncodingPlan:
    """Encoding layers of rotations compiled for one dtype: input angles ``(P, num_inputs)``
    to per-qubit columns ``(P, n, 2)`` (qubits without gates stay ``|0>``), and back."""

    def __init__(self, encoding: list[SingleLayer], n: int, dtype: torch.dtype):
        if not self.supports(encoding):
            raise ValueError("EncodingPlan takes input-only layers of constant gates and rx/ry/rz rotations")
        self.n, self.dtype = n, dtype
        self.layers = [(layer_plan(layer, dtype, column=True), list(layer.qubits)) for layer in encoding]
        self.whole = len(encoding) == 1 and encoding[0].qubits == tuple(range(n))

    @staticmethod
    def supports(encoding: list[SingleLayer]) -> bool:
        return all(differentiable_by_adjoint(la) and la.sources <= {INPUT} for la in encoding)

    def forward(self, angles: torch.Tensor):
        P = angles.shape[0]
        values = {INPUT: angles}
        if self.whole:
            out, tape = self.layers[0][0].forward(values, P)
            return out[..., 0], [tape]
        cols = torch.zeros(P, self.n, 2, dtype=self.dtype)
        cols[:, :, 0] = 1
        tapes = []
        for plan, qubits in self.layers:
            out, tape = plan.forward(values, P)
            cols[:, qubits] = out[..., 0]
            tapes.append(tape)
        return cols, tapes

    def backward(self, tapes, traces: torch.Tensor, grad_angles: torch.Tensor) -> None:
        """Add ``dL/dangles`` to ``grad_angles (P, num_inputs)``, given ``traces = R a^H (P, n, 2, 2)``
        for the gradient ``R`` in the columns ``a``."""
        grads = {INPUT: grad_angles}
        for (plan, qubits), tape in zip(self.layers, tapes):
            plan.backward(tape, traces if self.whole else traces[:, qubits], grads)


def encoding_plan(program, dtype: torch.dtype) -> EncodingPlan | None:
    """The program's :class:`EncodingPlan` for ``dtype`` (``None`` if its encoding has other gates)."""
    plans = program.plans
    if dtype not in plans:
        plans[dtype] = (
            EncodingPlan(program.encoding, program.num_qubits, dtype)
            if EncodingPlan.supports(program.encoding)
            else None
        )
    return plans[dtype]
