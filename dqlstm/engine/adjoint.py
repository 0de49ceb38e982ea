"""Adjoint differentiation of rotation layers and of input-free blocks.

Autograd records a node for every small tensor operation of a gate build
(cos, sin, stack, 2x2 matmul, kron ...), and at the sizes of a QLSTM gate
circuit that bookkeeping costs more than the arithmetic. Here one autograd
node covers a whole single-qubit layer, or the whole input-free block, and
the backward is a handful of array operations. The kernels run in NumPy:
on 2x2 to 64x64 arrays a NumPy call costs about 1 us against torch's 3-5 us,
and these kernels are the hot path of training (the engine is CPU-only).

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
All rotation layers of one gate pattern are evaluated as one batch.
"""

from __future__ import annotations

import numpy as np
import torch

from .kron import apply_chunk, chunk_trace, chunks, layer_kron, partial_traces
from .program import INPUT, WEIGHT, LayerFactor, Monomial, SingleLayer, Step

_PAULI = {
    "rx": ((0, 1), (1, 0)),
    "ry": ((0, -1j), (1j, 0)),
    "rz": ((1, 0), (0, -1)),
}
ROTATIONS = frozenset(_PAULI)
NUMPY_DTYPES = {torch.complex128: (np.complex128, np.float64), torch.complex64: (np.complex64, np.float32)}


def to_numpy(t: torch.Tensor, dtype) -> np.ndarray:
    """The values of ``t`` as a NumPy array of ``dtype`` (no copy when it already is one)."""
    if t.device.type != "cpu":
        raise ValueError(f"the exact engine runs on the CPU; got a tensor on {t.device}")
    t = t.detach().resolve_conj().resolve_neg()
    if t.dtype in (torch.bfloat16, torch.float16):  # NumPy has no bfloat16
        t = t.to(torch.float64)
    return t.numpy().astype(dtype, copy=False)


def first_order(backward):
    """A hand-written backward: it has no second derivative, so refuse ``create_graph=True``
    (the returned gradients would silently carry no graph)."""

    def wrapped(ctx, *grads):
        if torch.is_grad_enabled():
            raise RuntimeError(
                "the exact engine's hand-differentiated nodes give first derivatives only; "
                "create_graph=True / higher-order gradients are not supported"
            )
        return backward(ctx, *grads)

    return wrapped


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


def _hermitian(a: np.ndarray) -> np.ndarray:
    return a.conj().swapaxes(-1, -2)


def _monomial(T: np.ndarray, gather: np.ndarray, phase: np.ndarray | None, axis: int) -> np.ndarray:
    """``S T`` for a monomial ``S`` acting along ``axis``: ``out[k] = phase[k] T[gather[k]]``."""
    T = np.take(T, gather, axis=axis)
    return T if phase is None else T * phase.reshape((-1,) + (1,) * (T.ndim - 1 - axis % T.ndim))


def _monomial_adjoint(lam: np.ndarray, gather: np.ndarray, phase: np.ndarray | None, axis: int) -> np.ndarray:
    """``S^H lam``: entries go back where they came from, with conjugate phases."""
    if phase is not None:
        lam = lam * phase.conj().reshape((-1,) + (1,) * (lam.ndim - 1 - axis % lam.ndim))
    back = np.empty_like(lam)
    where = [slice(None)] * lam.ndim
    where[axis] = gather
    back[tuple(where)] = lam
    return back


def _rotation(name: str, theta: np.ndarray, cdt) -> np.ndarray:
    """``exp(-i theta P / 2)`` for constant angles ``theta (nq,)``: ``(nq, 2, 2)``."""
    half = np.asarray(theta, dtype=np.float64)[:, None, None] / 2
    return (np.cos(half) * np.eye(2) - 1j * np.sin(half) * np.array(_PAULI[name])).astype(cdt)


class LayerPlan:
    """A rotation layer compiled for one dtype.

    Constant gates and constant-angle rotations become matrices, leading
    constants fold into the start, and the angle indices, affine maps and
    generators of all rotations are stacked so one call builds all of them.
    ``column=True`` evaluates ``m |0>`` (``(P, nq, 2, 1)``), else ``m`` (``(P, nq, 2, 2)``).
    Arrays in and out are NumPy.
    """

    def __init__(self, layer: SingleLayer, dtype: torch.dtype, column: bool):
        if not differentiable_by_adjoint(layer):
            raise ValueError("LayerPlan takes layers of constant gates and rx/ry/rz rotations only")
        cdt, rdt = NUMPY_DTYPES[dtype]
        self.cdt, self.rdt, self.column, self.nq = cdt, rdt, column, len(layer.qubits)
        start = np.array([[1], [0]], dtype=cdt) if column else None
        self.ops: list[np.ndarray | int] = []  # a constant matrix, or the number of a rotation
        rotations = []
        for f in layer.factors:
            if f.matrix is not None:
                m = f.matrix.numpy().astype(cdt)
            elif f.source is None:
                m = _rotation(f.name, f.offset[:, 0].numpy(), cdt)
            else:
                self.ops.append(len(rotations))
                rotations.append(f)
                continue
            if not self.ops:  # still leading: fold into the start
                start = m if start is None else m @ start
            elif isinstance(self.ops[-1], np.ndarray):
                self.ops[-1] = m @ self.ops[-1]
            else:
                self.ops.append(m)
        self.start = start
        self.k = k = len(rotations)
        self.rot_source = [f.source for f in rotations]
        self.sources = sorted(set(self.rot_source))
        self.index = np.stack([f.index[:, 0].numpy() for f in rotations], -1) if k else None  # (nq, k)
        # angles laid out in order: the (P, nq, k) array is a slice, no gather
        self.first = int(self.index[0, 0]) if k else 0
        self.contiguous = (
            len(self.sources) == 1 and k > 0 and bool((self.index.ravel() == self.first + np.arange(self.nq * k)).all())
        )
        self.plain = all(f.plain for f in rotations)
        if k and not self.plain:
            self.scale = np.stack([f.scale[:, 0].numpy() for f in rotations], -1).astype(rdt)
            self.offset = np.stack([f.offset[:, 0].numpy() for f in rotations], -1).astype(rdt)
        paulis = np.array([_PAULI[f.name] for f in rotations], dtype=cdt).reshape(-1, 2, 2)
        self.eye = np.eye(2, dtype=cdt)
        self.sine_term = (-1j * paulis).astype(cdt)  # F_j = cos(theta_j / 2) 1 + sin(theta_j / 2) (-i P_j)
        self.generator = (-0.5j * paulis).astype(cdt)  # A_j: (k, 2, 2)
        self.last_is_rotation = bool(self.ops) and isinstance(self.ops[-1], int)

    def angles(self, values: dict[int, np.ndarray]) -> np.ndarray:
        """``(P, nq, k)`` rotation angles."""
        if self.contiguous:
            src = values[self.sources[0]]
            theta = src[:, self.first : self.first + self.nq * self.k].reshape(-1, self.nq, self.k)
        elif len(self.sources) == 1:
            theta = values[self.sources[0]][:, self.index]
        else:
            theta = np.stack([values[s][:, self.index[:, j]] for j, s in enumerate(self.rot_source)], -1)
        return theta if self.plain else theta * self.scale + self.offset

    def forward(self, values: dict[int, np.ndarray], P: int) -> tuple[np.ndarray, np.ndarray | None]:
        """``(out, C)``: the layer for ``P`` rows, and the conjugated generators ``(P, nq, k, 2, 2)``."""
        shape = (P, self.nq, 2, 1 if self.column else 2)
        if not self.k:
            T = self.start if self.start is not None else np.eye(2, dtype=self.cdt)
            for op in self.ops:
                T = op @ T
            return np.broadcast_to(T, shape).copy(), None
        half = self.angles(values)[..., None, None] * 0.5
        # elementwise, not a BLAS product: a large threaded GEMM here would leave OpenBLAS
        # threads spinning against torch's own (measured 2x slower cut-exact)
        rots = np.cos(half) * self.eye + np.sin(half) * self.sine_term  # (P, nq, k, 2, 2)
        mats = [rots[:, :, op] if isinstance(op, int) else op for op in self.ops]
        T = self.start
        for M in mats:
            T = M if T is None else M @ T
        out = np.broadcast_to(T, shape).copy()
        if self.k == 1 and self.last_is_rotation:  # nothing after the only rotation
            return out, np.broadcast_to(self.generator, (P, self.nq, 1, 2, 2))
        # suffixes U_j = F_k ... F_{j+1} of every rotation, last rotation first
        U = np.empty((P, self.nq, self.k, 2, 2), dtype=self.cdt)
        suffix = None
        for i in range(len(self.ops) - 1, -1, -1):
            op = self.ops[i]
            if isinstance(op, int):
                U[:, :, op] = np.eye(2) if suffix is None else suffix
                if op == 0:
                    break
            suffix = mats[i] if suffix is None else suffix @ mats[i]
        return out, U @ self.generator @ _hermitian(U)

    def backward(self, conj_gen: np.ndarray | None, traces: np.ndarray, grads: dict[int, np.ndarray]) -> None:
        """Add ``dL/dvalues`` to ``grads[source] (P, num_params)``, given ``traces = R m^H (P, nq, 2, 2)``."""
        if conj_gen is None:
            return
        P = traces.shape[0]
        # Re sum(conj(traces) * C_j) over the 2x2 entries: (P, nq, 1, 4) x (P, nq, 4, k)
        t = traces.reshape(P, self.nq, 1, 4).conj()
        dtheta = (t @ conj_gen.reshape(P, self.nq, self.k, 4).swapaxes(-1, -2)).real[:, :, 0]
        if not self.plain:
            dtheta = dtheta * self.scale
        if len(self.sources) == 1:
            target = grads.get(self.sources[0])
            if target is None:
                return
            if self.contiguous:
                target[:, self.first : self.first + self.nq * self.k] += dtheta.reshape(P, -1)
            else:
                np.add.at(target, (slice(None), self.index.ravel()), dtheta.reshape(P, -1))
            return
        for j, s in enumerate(self.rot_source):
            if s in grads:
                np.add.at(grads[s], (slice(None), self.index[:, j]), dtheta[:, :, j])


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
        out, ctx.conj_gen = plan.forward({k: to_numpy(v, plan.rdt) for k, v in given.items()}, P)
        ctx.plan = plan
        ctx.shapes = {k: (tuple(v.shape), v.dtype) for k, v in given.items()}
        result = torch.from_numpy(out)
        # saved through torch: in-place changes and a second backward are caught as usual
        ctx.save_for_backward(inputs, weights, result)
        return result

    @staticmethod
    @first_order
    def backward(ctx, grad: torch.Tensor):
        _, _, out = ctx.saved_tensors
        need = {INPUT: ctx.needs_input_grad[4], WEIGHT: ctx.needs_input_grad[5]}
        plan = ctx.plan
        grads = {k: np.zeros(shape, dtype=plan.rdt) for k, (shape, _) in ctx.shapes.items() if need[k]}
        if grads:
            plan.backward(ctx.conj_gen, to_numpy(grad, plan.cdt) @ _hermitian(to_numpy(out, plan.cdt)), grads)
        out = [torch.from_numpy(grads[k]).to(ctx.shapes[k][1]) if k in grads else None for k in (INPUT, WEIGHT)]
        return None, None, None, None, *out


def _merge(layers: list[SingleLayer]) -> SingleLayer:
    """One layer over the concatenated qubit slots of same-pattern layers (for batch evaluation)."""
    factors = []
    for j, f in enumerate(layers[0].factors):
        if f.matrix is not None:
            factors.append(LayerFactor(f.name, f.matrix, None))
            continue
        parts = [la.factors[j] for la in layers]
        factors.append(
            LayerFactor(
                f.name,
                None,
                f.source,
                torch.cat([p.index for p in parts]),
                torch.cat([p.scale for p in parts]),
                torch.cat([p.offset for p in parts]),
            )
        )
    return SingleLayer(tuple(q for la in layers for q in la.qubits), factors)


def _pattern(layer: SingleLayer) -> tuple:
    return tuple(
        (f.name, None if f.matrix is None else f.matrix.numpy().tobytes(), f.source) for f in layer.factors
    )


class BlockPlan:
    """An input-free block of monomials and rotation layers compiled for one dtype.

    Layers of one gate pattern (e.g. every ``Rot`` layer of a chen2020 block)
    share one :class:`LayerPlan` over their concatenated qubits.
    """

    def __init__(self, block: list[Step], n: int, dtype: torch.dtype):
        if not block_differentiable_by_adjoint(block):
            raise ValueError("BlockPlan takes input-free blocks of monomials and rx/ry/rz rotation layers")
        self.n, self.cdt, self.rdt = n, *NUMPY_DTYPES[dtype]
        groups: dict[tuple, list[int]] = {}
        for i, s in enumerate(block):
            if isinstance(s, SingleLayer):
                groups.setdefault(_pattern(s), []).append(i)
        self.groups: list[LayerPlan] = []  # one per gate pattern, over its layers' qubits in turn
        where = {}  # step -> (group, first and past-last qubit slot in the group)
        for members in groups.values():
            start = 0
            for i in members:
                where[i] = (len(self.groups), start, start + len(block[i].qubits))
                start += len(block[i].qubits)
            self.groups.append(LayerPlan(_merge([block[i] for i in members]), dtype, column=False))
        # ("mono", gather, phase) or ("layer", group, start, stop, qubits, partial)
        self.steps = []
        for i, s in enumerate(block):
            if isinstance(s, Monomial):
                phase = None if s.phase_out is None else s.phase_out.numpy().astype(self.cdt)
                self.steps.append(("mono", s.gather.numpy(), phase))
            else:
                g, a, b = where[i]
                self.steps.append(("layer", g, a, b, s.qubits, list(s.qubits) if len(s.qubits) < n else None))
        self.first_layer = min(where, default=len(block))  # a block of monomials only has no weights

    def evaluate(self, weights: np.ndarray) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Every group's ``(m, C)`` for ``weights (G, P_w)``: layer matrices and conjugated generators."""
        return [plan.forward({WEIGHT: weights}, weights.shape[0]) for plan in self.groups]

    def weight_grads(self, evaluated, traces: list[np.ndarray], grads: np.ndarray) -> None:
        """Add ``dL/dweights`` to ``grads (G, P_w)`` from every group's traces ``R m^H``."""
        for plan, (_, conj_gen), tr in zip(self.groups, evaluated, traces):
            plan.backward(conj_gen, tr, {WEIGHT: grads})

    def _traces(self, rows: int) -> list[np.ndarray]:
        return [np.zeros((rows, plan.nq, 2, 2), dtype=self.cdt) for plan in self.groups]

    # the block as a unitary (narrow registers)

    def forward(self, weights: np.ndarray):
        """``(W (G, D, D), saved)``."""
        G, D = weights.shape[0], 1 << self.n
        evaluated = self.evaluate(weights)
        T = None  # None: identity so far
        tape = []
        for step in self.steps:
            if step[0] == "mono":
                _, gather, phase = step
                start = np.broadcast_to(np.eye(D, dtype=self.cdt), (G, D, D)) if T is None else T
                T = _monomial(start, gather, phase, axis=1)
                tape.append(None)
                continue
            _, g, a, b, qubits, _ = step
            K = layer_kron(qubits, evaluated[g][0][:, a:b], self.n)
            T = K if T is None else K @ T
            tape.append((K, T))  # T: the block so far, this layer included
        # a fresh, writable array: it becomes the output tensor
        return np.require(T, requirements=("C", "W")), (evaluated, tape)

    def backward(self, saved, grad_w: np.ndarray, grads: np.ndarray) -> None:
        """Add ``dL/dweights`` to ``grads (G, P_w)`` from ``grad_w = dL/dW``."""
        evaluated, tape = saved
        traces = self._traces(grad_w.shape[0])
        lam = grad_w
        for j in range(len(self.steps) - 1, self.first_layer - 1, -1):
            step = self.steps[j]
            if step[0] == "mono":
                lam = _monomial_adjoint(lam, step[1], step[2], axis=1)
                continue
            _, g, a, b, _, partial = step
            K, prefix = tape[j]
            tr = partial_traces(lam @ _hermitian(prefix))
            traces[g][:, a:b] = tr if partial is None else tr[:, partial]
            if j > self.first_layer:
                lam = _hermitian(K) @ lam
        self.weight_grads(evaluated, traces, grads)

    # the block applied to states (wide registers): layers act as chunks of a few qubits

    def chunk_operators(self, evaluated) -> list:
        """Per step ``None`` (monomial) or ``[(low, size, K (G, d, d), members)]`` over the layer's
        chunks (``members``: positions in the layer's qubits)."""
        ops = []
        for step in self.steps:
            if step[0] == "mono":
                ops.append(None)
                continue
            _, g, a, b, qubits, _ = step
            m = evaluated[g][0][:, a:b]
            ops.append(
                [
                    (low, size, layer_kron(tuple(qubits[i] - low for i in members), m[:, members], size), members)
                    for low, size, members in chunks(qubits, self.n)
                ]
            )
        return ops

    def apply_states(self, ops, T: np.ndarray) -> tuple[np.ndarray, list]:
        """``T (G, B, D)`` through the block; also the states after every chunk (for the backward)."""
        outs = []
        for step, op in zip(self.steps, ops):
            if op is None:
                T = _monomial(T, step[1], step[2], axis=-1)
                outs.append(None)
                continue
            after = []
            for low, size, K, _ in op:
                T = apply_chunk(T, K, low, size, self.n)
                after.append(T)
            outs.append(after)
        return T, outs

    def states_backward(self, ops, outs, lam: np.ndarray, traces: list[np.ndarray] | None):
        """``dL/d(input states)`` from ``lam = dL/d(output states)``; adds ``R m^H`` to ``traces``."""
        for j in range(len(self.steps) - 1, -1, -1):
            step, op = self.steps[j], ops[j]
            if op is None:
                lam = _monomial_adjoint(lam, step[1], step[2], axis=-1)
                continue
            _, g, a, _, qubits, _ = step
            for (low, size, K, members), out in zip(reversed(op), reversed(outs[j])):
                if traces is not None:  # Tr over the other qubits of sum_b lam_b out_b^H, per chunk
                    tr = partial_traces(chunk_trace(lam, out, low, size, self.n))
                    traces[g][:, [a + m for m in members]] += tr[:, [qubits[m] - low for m in members]]
                lam = apply_chunk(lam, _hermitian(K), low, size, self.n)
        return lam


def block_plan(program, dtype: torch.dtype) -> BlockPlan:
    key = ("block", dtype)
    if key not in program.plans:
        program.plans[key] = BlockPlan(program.block, program.num_qubits, dtype)
    return program.plans[key]


class BlockUnitary(torch.autograd.Function):
    """``W (G, D, D)`` of an input-free block of monomials and rotation layers, for ``weights (G, P_w)``."""

    @staticmethod
    def forward(ctx, plan: BlockPlan, weights: torch.Tensor):
        W, ctx.saved = plan.forward(to_numpy(weights, plan.rdt))
        ctx.plan, ctx.weight_shape, ctx.weight_dtype = plan, tuple(weights.shape), weights.dtype
        result = torch.from_numpy(W)
        ctx.save_for_backward(weights, result)  # the tape shares W: in-place changes are caught
        return result

    @staticmethod
    @first_order
    def backward(ctx, grad_w: torch.Tensor):
        ctx.saved_tensors  # noqa: B018 - the version check
        plan = ctx.plan
        grads = np.zeros(ctx.weight_shape, dtype=plan.rdt)
        plan.backward(ctx.saved, to_numpy(grad_w, plan.cdt), grads)
        return None, torch.from_numpy(grads).to(ctx.weight_dtype)


class EncodingPlan:
    """Encoding layers of rotations compiled for one dtype: input angles ``(P, num_inputs)``
    to per-qubit columns ``(P, n, 2)`` (qubits without gates stay ``|0>``), and back (NumPy)."""

    def __init__(self, encoding: list[SingleLayer], n: int, dtype: torch.dtype):
        if not self.supports(encoding):
            raise ValueError("EncodingPlan takes input-only layers of constant gates and rx/ry/rz rotations")
        self.n, (self.cdt, self.rdt) = n, NUMPY_DTYPES[dtype]
        self.layers = [(layer_plan(layer, dtype, column=True), list(layer.qubits)) for layer in encoding]
        self.whole = len(encoding) == 1 and encoding[0].qubits == tuple(range(n))

    @staticmethod
    def supports(encoding: list[SingleLayer]) -> bool:
        return all(differentiable_by_adjoint(la) and la.sources <= {INPUT} for la in encoding)

    def forward(self, angles: np.ndarray):
        P = angles.shape[0]
        values = {INPUT: angles}
        if self.whole:
            out, tape = self.layers[0][0].forward(values, P)
            return out[..., 0], [tape]
        cols = np.zeros((P, self.n, 2), dtype=self.cdt)
        cols[:, :, 0] = 1
        tapes = []
        for plan, qubits in self.layers:
            out, tape = plan.forward(values, P)
            cols[:, qubits] = out[..., 0]
            tapes.append(tape)
        return cols, tapes

    def backward(self, tapes, traces: np.ndarray, num_inputs: int) -> np.ndarray:
        """``dL/dangles (P, num_inputs)``, given ``traces = R a^H (P, n, 2, 2)`` for the gradient
        ``R`` in the columns ``a``."""
        grad_angles = np.zeros((traces.shape[0], num_inputs), dtype=self.rdt)
        for (plan, qubits), tape in zip(self.layers, tapes):
            plan.backward(tape, traces if self.whole else traces[:, qubits], {INPUT: grad_angles})
        return grad_angles


def encoding_plan(program, dtype: torch.dtype) -> EncodingPlan | None:
    """The program's :class:`EncodingPlan` for ``dtype`` (``None`` if its encoding has other gates)."""
    key = ("encoding", dtype)
    if key not in program.plans:
        program.plans[key] = (
            EncodingPlan(program.encoding, program.num_qubits, dtype)
            if EncodingPlan.supports(program.encoding)
            else None
        )
    return program.plans[key]
