"""The ``cut-exact`` engine: exact fragment simulation contracted over the cuts.

Each fragment ``f`` is simulated in torch once per assignment of the ket
indices of its own cuts (rows of one batched statevector run), giving

    F_f[s, a, a'] = <psi_f^{a'}| P_{f,s} |psi_f^{a}>

for every local Pauli string ``P_{f,s}`` the observables need (identity
included), with wires that leave the fragment kept as open (ket, bra)
amplitude indices. The expectation value of a Pauli term ``P = (x)_f P_f`` is
the contraction ``sum_{a, a'} prod_f F_f[s_f(P), a_f, a'_f]`` over the shared
cut indices (one ``torch.einsum`` for all terms and batch rows, contraction
order by opt_einsum). Memory and time grow with the cuts that touch one
fragment and with the widest fragment, not with the total width.

It equals the ``exact`` engine to machine precision and is differentiable by
torch autograd in weights and input angles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.quantum_info import Pauli

from dqlstm.engine.checks import check_angles, check_weights, real_dtype_of
from dqlstm.engine.observables import PauliString, as_observables
from dqlstm.engine.program import INPUT, WEIGHT, Indexed, Program, compile_circuit
from dqlstm.engine.simulate import apply_steps, product_state

from .fragments import FragmentCircuit, split_circuit
from .plans import plan_summary, resolve_plan

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX"


@dataclass
class _CompiledFragment:
    spec: FragmentCircuit
    program: Program
    strings: list[PauliString]  # local Pauli strings, identity first
    signs: torch.Tensor | None  # (S, D) +-1 of every string when all are diagonal (I/Z only)


class CutExactEngine:
    """Exact expectation values of a circuit through its cut plan.

    Args:
        circuit: the VQC.
        inputs, weights: its parameters, as for :class:`dqlstm.engine.ExactEngine`.
        observables: ``None`` (Z on every qubit) or Pauli observables.
        plan: a partitioner ``CutPlan``; else one is made with ``plan_cuts(circuit, max_qubits)``.
        max_qubits: QPU capacity (int) or capacities (list) when no plan is given.
        dtype: complex dtype of the simulation.
    """

    def __init__(
        self,
        circuit: QuantumCircuit,
        inputs: Sequence[Parameter],
        weights: Sequence[Parameter],
        observables=None,
        *,
        plan=None,
        max_qubits: int | Sequence[int] | None = None,
        dtype: torch.dtype = torch.complex128,
    ):
        self.plan = plan = resolve_plan(circuit, plan, max_qubits, "cut-exact")
        self.num_qubits = circuit.num_qubits
        self.num_inputs, self.num_weights = len(inputs), len(weights)
        self.dtype = dtype
        self.real_dtype = real_dtype_of(dtype)
        self.observables = as_observables(observables, self.num_qubits)
        specs = split_circuit(circuit, plan)
        self._cut_dims: dict[int, int] = {}
        for spec in specs:
            for cid, dim in spec.ket_cuts:
                self._cut_dims[cid] = dim
            for cid, _ in spec.open_cuts:
                self._cut_dims[cid] = 2
        # every Pauli term of every observable, split into fragment-local strings
        self._coeffs: list[tuple[int, complex]] = []
        local_terms: list[list[str]] = [[] for _ in specs]
        for j, op in enumerate(self.observables):
            for label, c in op.to_list():
                self._coeffs.append((j, complex(c)))
                for spec, terms in zip(specs, local_terms):
                    local = ["I"] * spec.circuit.num_qubits
                    for q, lq in spec.observed.items():
                        local[lq] = label[self.num_qubits - 1 - q]
                    terms.append("".join(reversed(local)))
        self._fragments: list[_CompiledFragment] = []
        self._selectors: list[torch.Tensor] = []
        for spec, terms in zip(specs, local_terms):
            unique = ["I" * spec.circuit.num_qubits] + sorted(set(terms) - {"I" * spec.circuit.num_qubits})
            where = {t: i for i, t in enumerate(unique)}
            self._selectors.append(torch.tensor([where[t] for t in terms]))
            strings = [PauliString.from_pauli(Pauli(t), spec.circuit.num_qubits) for t in unique]
            program = compile_circuit(spec.circuit, inputs, weights)
            signs = None
            if all(t.xmask == 0 for t in strings):
                eye = torch.ones(1 << spec.circuit.num_qubits, dtype=torch.complex128)
                signs = torch.stack([t.apply(eye).real for t in strings])
            self._fragments.append(_CompiledFragment(spec, program, strings, signs))
        coeff = np.zeros((len(self._coeffs), len(self.observables)), dtype=complex)
        for t, (j, c) in enumerate(self._coeffs):
            coeff[t, j] = c
        self._coeff = torch.from_numpy(coeff)
        self._equation = self._einsum_equation()

    def _einsum_equation(self) -> str:
        cuts = sorted(self._cut_dims)
        if len(cuts) > len(_LETTERS):
            raise ValueError(f"{len(cuts)} cuts exceed the contraction's index letters ({len(_LETTERS)})")
        letter = {c: _LETTERS[i] for i, c in enumerate(cuts)}
        subs = []
        for frag in self._fragments:
            ids = [c for c, _ in frag.spec.ket_cuts] + [c for c, _ in frag.spec.open_cuts]
            subs.append("YZ" + "".join(letter[c] for c in ids))
        return ",".join(subs) + "->YZ"

    # -------------------------------------------------------------- interface

    @property
    def num_observables(self) -> int:
        return len(self.observables)

    def cut_summary(self) -> dict:
        """The plan's cost figures (reported with every run)."""
        return {"mode": "cut-exact", **plan_summary(self.plan)}

    def prepare(self, weights: torch.Tensor):
        weights = check_weights(weights, self.num_weights)
        return lambda angles: self(angles, weights)

    def __call__(self, angles: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Expectation values ``(G, B, n_obs)`` for angles ``(B, n_in)`` or ``(G, B, n_in)``."""
        weights = check_weights(weights, self.num_weights)
        G = weights.shape[0]
        check_angles(angles, self.num_inputs, G)
        B = angles.shape[-2]
        x = angles.to(self.real_dtype).expand(G, B, self.num_inputs).reshape(G * B, -1)
        w = weights.to(self.real_dtype)[:, None, :].expand(G, B, self.num_weights).reshape(G * B, -1)
        tensors = [
            self._fragment_tensor(f, x, w).index_select(1, sel)
            for f, sel in zip(self._fragments, self._selectors)
        ]
        terms = torch.einsum(self._equation, *tensors)  # (G*B, n_terms)
        values = (terms @ self._coeff.to(terms.dtype)).real
        return values.reshape(G, B, -1)

    def _fragment_tensor(self, frag: _CompiledFragment, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``(GB, S, cut axes...)`` with one axis of size ``dim**2`` (ket, bra) per cut."""
        spec, prog = frag.spec, frag.program
        n, R, GB = spec.circuit.num_qubits, spec.rows, x.shape[0]
        values = {INPUT: x, WEIGHT: w}
        psi = product_state(prog.encoding, n, values, GB, self.dtype)[:, :, None]
        # Rows fan out only where a cut index first acts: a cut's rows are identical
        # before its operator, so each cut multiplies the rows there and not before.
        # Its digit becomes the fastest one, matching the ket_cuts order.
        start = 0
        for i, step in enumerate(prog.block + [None]):
            if step is not None and not isinstance(step, Indexed):
                continue
            psi = apply_steps(psi, prog.block[start:i], n, values)
            if step is None:
                break
            stack = spec.stacks[step.key].to(self.dtype)
            dim = stack.shape[0]
            psi = psi.repeat_interleave(dim, dim=0)
            values = {k: v.repeat_interleave(dim, dim=0) for k, v in values.items()}
            mats = stack.repeat(psi.shape[0] // dim, 1, 1)
            psi = apply_steps(psi, [step], n, values, indexed={step.key: mats})
            start = i + 1
        psi = psi[:, :, 0]
        psi = psi.reshape(GB, R, -1)
        if frag.signs is not None:  # one broadcast multiply for every diagonal string
            phi = psi[:, None] * frag.signs.to(psi.real.dtype)[None, :, None, :]
        else:
            phi = torch.stack([s.apply(psi) for s in frag.strings], 1)  # (GB, S, R, D)
        n_open = len(spec.open_cuts)
        if n_open:
            # split the open wires' amplitude indices off: (.., D) -> (.., rest, J)
            open_q = [lq for _, lq in spec.open_cuts]
            axes = [n - 1 - q for q in open_q]
            shape = [2] * n
            psi = psi.reshape(GB, R, *shape).movedim([2 + a for a in axes], list(range(2 + n - n_open, 2 + n)))
            psi = psi.reshape(GB, R, -1, 1 << n_open)
            phi = phi.reshape(GB, -1, R, *shape).movedim(
                [3 + a for a in axes], list(range(3 + n - n_open, 3 + n))
            ).reshape(GB, phi.shape[1], R, -1, 1 << n_open)
        else:
            psi = psi[..., None]
            phi = phi[..., None]
        # F[g, s, r, j, r', k] = sum_x conj(psi[g, r', x, k]) phi[g, s, r, x, j]
        F = torch.einsum("gsrxj,gRxk->gsrjRk", phi, psi.conj())
        S = F.shape[1]
        ket_dims = [d for _, d in spec.ket_cuts]
        F = F.reshape(GB, S, *ket_dims, *([2] * n_open), *ket_dims, *([2] * n_open))
        k = len(ket_dims) + n_open
        # pair each cut's ket axis with its bra axis: (.., a1..ak, b1..bk) -> (.., a1 b1, .., ak bk)
        order = [0, 1] + [ax for i in range(k) for ax in (2 + i, 2 + k + i)]
        F = F.permute(order)
        dims = ket_dims + [2] * n_open
        return F.reshape(GB, S, *[d * d for d in dims])
