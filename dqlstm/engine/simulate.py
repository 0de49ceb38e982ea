"""Batched application of compiled steps to torch tensors.

A tensor ``T`` of shape ``(P, 2**n, Q)`` holds ``P`` independent problems
(batch elements or weight sets); the middle axis is the qubit register in
qiskit's little-endian order (qubit ``q`` is bit ``q`` of the index), ``Q`` is
any number of trailing columns (``Q = 2**n`` when building a unitary, ``Q = 1``
for states). Angles are given as ``values[source]`` tensors of shape
``(P, num_params)``.
"""

from __future__ import annotations

import torch

from .gates import PARAMETERISED
from .adjoint import RotationLayer, differentiable_by_adjoint
from .kron import kron_columns, layer_kron
from .program import INPUT, WEIGHT, Dense, Factor, Indexed, Monomial, SingleLayer, Step


def factor_matrix(
    f: Factor, values: dict[int, torch.Tensor], P: int, dtype: torch.dtype
) -> torch.Tensor:
    """``(P, d, d)`` matrix of one factor (constant factors broadcast as ``(1, d, d)``)."""
    if f.matrix is not None:
        return f.matrix.to(dtype).unsqueeze(0)
    real = torch.float64 if dtype == torch.complex128 else torch.float32
    angles = []
    for r in f.refs:
        if r.source is None:
            angles.append(torch.full((P,), r.offset, dtype=real))
        else:
            angles.append(values[r.source][:, r.index] * r.scale + r.offset)
    return PARAMETERISED[f.name][2](angles, dtype)


def _factor_matrices(f, values: dict[int, torch.Tensor], P: int, dtype: torch.dtype) -> torch.Tensor:
    """``(P, num_qubits_in_layer, 2, 2)`` (or ``(2, 2)`` if constant) matrices of one layer position."""
    if f.matrix is not None:
        return f.matrix.to(dtype)
    if f.source is None:
        angles = f.offset.expand(P, *f.offset.shape)
    else:
        src = values[f.source]
        angles = src[:, f.index]
        if not f.plain:
            angles = angles * f.scale.to(src.dtype) + f.offset.to(src.dtype)
    return PARAMETERISED[f.name][2](list(angles.unbind(-1)), dtype)


def _rotation_layer(layer: SingleLayer, values, P: int, dtype: torch.dtype, column: bool) -> torch.Tensor:
    used = layer.sources
    return RotationLayer.apply(
        layer, P, dtype, column, *(values[k] if k in used else None for k in (INPUT, WEIGHT))
    )


def layer_matrices(
    layer: SingleLayer, values: dict[int, torch.Tensor], P: int, dtype: torch.dtype
) -> torch.Tensor:
    """``(P, num_qubits_in_layer, 2, 2)`` fused matrices of a single-qubit layer."""
    if differentiable_by_adjoint(layer):
        return _rotation_layer(layer, values, P, dtype, column=False)
    m = None
    for f in layer.factors:
        g = _factor_matrices(f, values, P, dtype)
        m = g if m is None else g @ m
    return m.expand(P, len(layer.qubits), 2, 2)


def layer_columns(
    layer: SingleLayer, values: dict[int, torch.Tensor], P: int, dtype: torch.dtype
) -> torch.Tensor:
    """``(P, num_qubits_in_layer, 2)`` states ``F_k ... F_1 |0>``: matrix-vector products only,
    with the leading constant gates (e.g. ``H``) folded into the start vector."""
    if differentiable_by_adjoint(layer):
        return _rotation_layer(layer, values, P, dtype, column=True)[..., 0]
    v = torch.zeros(2, 1, dtype=dtype)
    v[0, 0] = 1
    for f in layer.factors:
        v = _factor_matrices(f, values, P, dtype) @ v
    return v[..., 0].expand(P, len(layer.qubits), 2)


_ELEMENTWISE_FROM = 1 << 15  # amplitudes; below, one einsum has less overhead
_KRON_MAX_QUBITS = 6  # narrow registers: one (2^n x 2^n) layer matrix beats n small contractions


def apply_single(T: torch.Tensor, qubit: int, n: int, m: torch.Tensor) -> torch.Tensor:
    """``T <- (1 (x) m (x) 1) T`` on ``qubit`` for per-row matrices ``m (P, 2, 2)``."""
    P, D, Q = T.shape
    hi = 1 << (n - 1 - qubit)
    view = T.reshape(P, hi, 2, (D // hi // 2) * Q)
    m = m.expand(P, 2, 2)
    if T.numel() < _ELEMENTWISE_FROM:
        return torch.einsum("pij,pajc->paic", m, view).reshape(P, D, Q)
    # large states: two fused multiply-adds per half avoid einsum's permute copies
    t0, t1 = view.unbind(2)
    c = m[:, :, :, None, None]
    out0 = c[:, 0, 0] * t0 + c[:, 0, 1] * t1
    out1 = c[:, 1, 0] * t0 + c[:, 1, 1] * t1
    return torch.stack((out0, out1), 2).reshape(P, D, Q)


def apply_dense(T: torch.Tensor, qubits: tuple[int, ...], n: int, m: torch.Tensor) -> torch.Tensor:
    P, D, Q = T.shape
    k = len(qubits)
    # tensor axes: 0 = P, 1..n = qubits n-1..0, n+1 = Q
    axes = [1 + (n - 1 - q) for q in reversed(qubits)]  # most significant instruction qubit first
    view = T.reshape(P, *([2] * n), Q)
    front = view.movedim(axes, list(range(1, k + 1))).reshape(P, 1 << k, -1)
    out = torch.matmul(m.expand(P, 1 << k, 1 << k), front)
    rest = [2] * (n - k)
    out = out.reshape(P, *([2] * k), *rest, Q).movedim(list(range(1, k + 1)), axes)
    return out.reshape(P, D, Q)


def step_matrices(
    steps: list[Step],
    values: dict[int, torch.Tensor],
    P: int,
    dtype: torch.dtype,
    indexed: dict[str, torch.Tensor] | None = None,
) -> list[torch.Tensor | None]:
    """The gate matrices of every step for ``P`` rows (``None`` for monomials).

    ``indexed[key]`` gives the ``(P, 2, 2)`` matrices of :class:`Indexed` steps.
    """
    out: list[torch.Tensor | None] = []
    for s in steps:
        if isinstance(s, Indexed):
            if indexed is None or s.key not in indexed:
                raise ValueError(f"no matrices given for indexed operator {s.key!r}")
            out.append(indexed[s.key].to(dtype))
        elif isinstance(s, SingleLayer):
            out.append(layer_matrices(s, values, P, dtype))
        elif isinstance(s, Dense):
            out.append(factor_matrix(s.factor, values, P, dtype))
        else:
            out.append(None)
    return out


def apply_steps(
    T: torch.Tensor,
    steps: list[Step],
    n: int,
    values: dict[int, torch.Tensor] | None = None,
    matrices: list[torch.Tensor | None] | None = None,
    indexed: dict[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Left-multiply ``T (P, 2**n, Q)`` by the steps' unitaries, in circuit order.

    Give either ``values`` (matrices are built here) or ``matrices`` from :func:`step_matrices`.
    """
    if matrices is None:
        matrices = step_matrices(steps, values or {}, T.shape[0], T.dtype, indexed)
    for s, m in zip(steps, matrices):
        if isinstance(s, Monomial):
            T = T.index_select(1, s.gather)
            if s.phase_out is not None:
                T = T * s.phase_out.to(T.dtype)[None, :, None]
        elif isinstance(s, SingleLayer):
            # building a unitary (many columns): one kron'd layer matrix per row set
            if n <= _KRON_MAX_QUBITS and len(s.qubits) > 1 and 4 * T.shape[2] >= T.shape[1]:
                T = torch.matmul(layer_kron(s.qubits, m, n), T)
            else:
                for i, q in enumerate(s.qubits):
                    T = apply_single(T, q, n, m[:, i])
        elif isinstance(s, Indexed):
            T = apply_single(T, s.qubit, n, m)
        else:
            T = apply_dense(T, s.qubits, n, m)
    return T


def product_columns(
    encoding: list[SingleLayer], n: int, values: dict[int, torch.Tensor], P: int, dtype: torch.dtype
) -> torch.Tensor:
    """``(P, n, 2)`` per-qubit states ``M_q |0>`` of the encoding (qubits without gates stay |0>)."""
    if len(encoding) == 1 and encoding[0].qubits == tuple(range(n)):
        return layer_columns(encoding[0], values, P, dtype)  # the usual case: one layer on every qubit
    cols = torch.zeros(P, n, 2, dtype=dtype)
    cols[:, :, 0] = 1
    for layer in encoding:
        idx = torch.tensor(layer.qubits)
        cols = cols.index_copy(1, idx, layer_columns(layer, values, P, dtype))
    return cols


def product_state(
    encoding: list[SingleLayer], n: int, values: dict[int, torch.Tensor], P: int, dtype: torch.dtype
) -> torch.Tensor:
    """``(P, 2**n)`` state ``(x)_q M_q |0>`` of the encoding."""
    return kron_columns(product_columns(encoding, n, values, P, dtype))
