"""The ``exact`` engine: batched statevector simulation in torch with autograd.

For a VQC ``U(x, theta) = W(theta) E(x)`` whose encoding ``E`` is a product of
single-qubit gates and whose block ``W`` does not depend on ``x``,

    <O_j>(x, theta) = <0| E(x)^dag W(theta)^dag O_j W(theta) E(x) |0>.

``prepare(theta)`` does the weight-only work once for every weight set (``G``
sets, e.g. the four LSTM gates); each call then handles a batch of encodings:

* narrow blocks (``n <= unitary_max_qubits``): ``W`` is built once and a call
  is one Kronecker product and one batched matmul;
* wider blocks: each rotation layer becomes a few ``16 x 16`` Kronecker
  chunks once, and a call applies them to the ``B`` states (``D x B`` work,
  not ``D x D``).

When the gates are rotations (rx, ry, rz), constants and permutations - every
built-in ansatz - and the observables diagonal, each of these is a single
hand-differentiated autograd node (:mod:`dqlstm.engine.adjoint`,
:mod:`dqlstm.engine.encoded`). Otherwise the compiled steps run in torch
autograd (with hand-differentiated rotation layers where they occur, and the
block unitary still built once for narrow input-free blocks). The
hand-differentiated nodes give first derivatives only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
from qiskit.circuit import Parameter, QuantumCircuit

from .observables import PauliExpectation, as_observables
from .program import INPUT, WEIGHT, Program, compile_circuit
from .checks import check_angles, check_weights, real_dtype_of
from .adjoint import (
    NUMPY_DTYPES,
    BlockUnitary,
    block_differentiable_by_adjoint,
    block_plan,
    encoding_plan,
    to_numpy,
)
from .encoded import EncodedBlockExpectation, EncodedExpectation
from .kron import kron_columns
from .simulate import apply_steps, product_columns, step_matrices


class ExactEngine:
    """Exact expectation values of a parameterised circuit, differentiable in torch.

    Args:
        circuit: the VQC (no measurements).
        inputs: parameters set from data (encoding angles).
        weights: trainable parameters.
        observables: ``None`` for ``Z`` on every qubit, else SparsePauliOp(s) / Pauli strings.
        dtype: ``torch.complex128`` (default, exact to ~1e-15) or ``torch.complex64``.
        unitary_max_qubits: widest register whose block is built as a ``D x D`` unitary;
            wider ones apply the block to the states (5: the faster side on a
            QLSTM epoch, measured by ``experiments/bench/exact_engine.py``).

    Values come back in the float dtype of the input angles. CPU tensors only.
    """

    def __init__(
        self,
        circuit: QuantumCircuit,
        inputs: Sequence[Parameter],
        weights: Sequence[Parameter],
        observables=None,
        dtype: torch.dtype = torch.complex128,
        unitary_max_qubits: int = 5,
    ):
        self.real_dtype = real_dtype_of(dtype)
        if isinstance(unitary_max_qubits, bool) or not isinstance(unitary_max_qubits, int) or unitary_max_qubits < 0:
            raise ValueError(f"unitary_max_qubits must be a non-negative integer, got {unitary_max_qubits!r}")
        self.program: Program = compile_circuit(circuit, inputs, weights)
        self.num_qubits = circuit.num_qubits
        self.observables = as_observables(observables, self.num_qubits)
        self.expectation = PauliExpectation.build(self.observables, self.num_qubits)
        self.dtype = dtype
        self.unitary_max_qubits = unitary_max_qubits
        diag = self.expectation.diag
        # (D, n_obs) for diagonal observables, as the NumPy array the kernels take
        self.zdiag = None if diag is None else diag.numpy().astype(NUMPY_DTYPES[dtype][1])
        self._block_by_adjoint = block_differentiable_by_adjoint(self.program.block)
        self._encoding_plan = encoding_plan(self.program, dtype)  # None: the encoding has other gates

    @property
    def num_inputs(self) -> int:
        return self.program.num_inputs

    @property
    def num_weights(self) -> int:
        return self.program.num_weights

    @property
    def num_observables(self) -> int:
        return len(self.observables)

    def prepare(self, weights: torch.Tensor) -> "PreparedCircuit":
        """Fix the weights ``(G, num_weights)`` (or ``(num_weights,)``) for many evaluations.

        The block's gate matrices are built once here. Narrow circuits also get
        the block unitary ``W`` (one matmul per call after that); wider ones
        apply the block's few fused steps to the ``B`` states of each call,
        which touches ``D x B`` instead of ``D x D`` amplitudes.
        """
        weights = check_weights(weights, self.num_weights)
        if weights.dtype not in (torch.float32, torch.float64):
            weights = weights.to(self.real_dtype)
        narrow = self.num_qubits <= self.unitary_max_qubits
        if narrow and self._block_by_adjoint:  # one autograd node
            unitary = BlockUnitary.apply(block_plan(self.program, self.dtype), weights)
            return PreparedCircuit(self, weights, None, unitary)
        if self._block_by_adjoint and self.zdiag is not None and self._encoding_plan is not None:
            plan = block_plan(self.program, self.dtype)  # wide: the block applied to states, by chunks
            evaluated = plan.evaluate(to_numpy(weights, plan.rdt))
            chunked = (plan, evaluated, plan.chunk_operators(evaluated))
            # the weights ride along to each call for their gradient; none under no_grad
            routed = weights if torch.is_grad_enabled() else weights.detach()
            return PreparedCircuit(self, routed, None, None, chunked)
        weights = weights.to(self.real_dtype)
        if self.program.block_uses_inputs:
            return PreparedCircuit(self, weights, None, None)
        G = weights.shape[0]
        mats = step_matrices(self.program.block, {WEIGHT: weights}, G, self.dtype)
        block_unitary = None
        if narrow:
            D = 1 << self.num_qubits
            eye = torch.eye(D, dtype=self.dtype).expand(G, D, D)
            block_unitary = apply_steps(eye, self.program.block, self.num_qubits, matrices=mats)
        return PreparedCircuit(self, weights, mats, block_unitary)

    def __call__(self, angles: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Expectation values ``(G, B, n_obs)`` for angles ``(B, n_in)`` or ``(G, B, n_in)``."""
        return self.prepare(weights)(angles)


@dataclass
class PreparedCircuit:
    engine: ExactEngine
    weights: torch.Tensor  # (G, num_weights)
    block_matrices: list[torch.Tensor | None] | None  # the general route's input-free block steps
    block_unitary: torch.Tensor | None  # (G, D, D) for narrow input-free blocks
    block_states: tuple | None = None  # BlockPlan, its evaluation and chunk operators (wide blocks)
    version: int = field(init=False)  # the weights' version at prepare: later in-place changes are refused

    def __post_init__(self) -> None:
        self.version = self.weights._version

    def __call__(self, angles: torch.Tensor) -> torch.Tensor:
        """Values ``(G, B, n_obs)`` in the float dtype of ``angles`` (computed in the engine's dtype)."""
        eng = self.engine
        G = self.weights.shape[0]
        check_angles(angles, eng.num_inputs, G)
        if self.weights._version != self.version:
            raise RuntimeError(
                "the weights changed in place since prepare(); prepare again (e.g. once per forward pass)"
            )
        if angles.dtype not in (torch.float32, torch.float64):
            angles = angles.to(eng.real_dtype)
        shared = angles.ndim == 2
        plan, flat = eng._encoding_plan, angles.reshape(-1, eng.num_inputs)
        if self.block_unitary is not None and eng.zdiag is not None and plan is not None:
            # the hot path: one autograd node per call
            return EncodedExpectation.apply(flat, self.block_unitary, eng.zdiag, 1 if shared else G, plan)
        if self.block_states is not None:
            return EncodedBlockExpectation.apply(
                flat, self.weights, eng.zdiag, 1 if shared else G, plan, self.block_states
            )
        return self._general(angles.to(eng.real_dtype), shared).to(angles.dtype)

    def _general(self, angles: torch.Tensor, shared: bool) -> torch.Tensor:
        eng = self.engine
        G = self.weights.shape[0]
        n, prog = eng.num_qubits, eng.program
        flat = angles.reshape(-1, eng.num_inputs)
        cols = product_columns(prog.encoding, n, {INPUT: flat}, flat.shape[0], eng.dtype)
        if self.block_unitary is not None and eng.zdiag is not None:
            return EncodedExpectation.apply(cols, self.block_unitary, eng.zdiag, 1 if shared else G)
        psi = kron_columns(cols)
        if self.block_unitary is not None:
            if shared:  # (B, D) @ (G, D, D)^T -> (G, B, D)
                out = torch.matmul(psi, self.block_unitary.transpose(1, 2))
            else:
                out = torch.bmm(psi.reshape(G, -1, psi.shape[-1]), self.block_unitary.transpose(1, 2))
            return eng.expectation(out)
        if self.block_matrices is not None:  # states as columns: (G, D, B)
            cols = psi.T.expand(G, -1, -1) if shared else psi.reshape(G, -1, psi.shape[-1]).transpose(1, 2)
            out = apply_steps(cols, prog.block, n, matrices=self.block_matrices)
            return eng.expectation(out.transpose(1, 2))
        B = angles.shape[-2]
        full = (angles.expand(G, B, eng.num_inputs) if shared else angles).reshape(G * B, -1)
        psi_full = psi.expand(G, B, -1).reshape(G * B, -1) if shared else psi
        w = self.weights[:, None, :].expand(G, B, eng.num_weights).reshape(G * B, -1)
        out = apply_steps(psi_full[:, :, None], prog.block, n, {INPUT: full, WEIGHT: w})
        return eng.expectation(out[:, :, 0].reshape(G, B, -1))
