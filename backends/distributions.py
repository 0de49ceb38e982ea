"""Exact joint distributions of a circuit's classical bits, and shots drawn from them.

A QPD sub-experiment has mid-circuit measurements but no classical
feed-forward, so Aer simulates each of its shots on its own. Without
feed-forward the joint law of *all* classical bits is fixed by the circuit:
compute it once per binding, then draw the shots with one multinomial.

Deferred measurement, pure route (no quantum errors), state ``|psi>`` on the
circuit's active qubits plus record axes:

* gate ``U`` on qubits ``Q``:        ``|psi> -> U_Q |psi>``
* measurement of ``q`` (record r):   ``|psi> -> sum_k (P^q_k |psi>) (x) |k>_r``
  (a CX from ``q`` onto a fresh ancilla ``r`` that nothing touches again)
* reset of ``q`` (hidden record h):  ``|psi> -> sum_k (|0><k|_q |psi>) (x) |k>_h``
* end: ``p(x, r) = sum_h |<x, r, h|psi>|^2``

Mixed route (noise), ``rho`` on the active qubits, records as classical indices:

* gate with error ``E``:  ``rho -> E(U rho U^+)``, ``E(rho) = sum_i K_i rho K_i^+``
* measurement (record r): ``rho -> sum_k P_k E_m(rho) P_k (x) |k><k|_r``
  (``E_m`` the error Aer puts on ``measure``, applied before it)
* reset, then its error:  ``rho -> |0><0|_q (x) Tr_q rho``
* end: ``p(x, r) = <x| rho_r |x>``

``x`` are the final values of qubits whose measurement is their last
operation (read at the end, no record needed). Readout: output measurement
``j`` reports ``v_j`` with probability ``A_j[s_j, v_j]`` independently, so
``p(v) = sum_s p(s) prod_j A_j[s_j, v_j]``. A clbit holds the value of the
last measurement writing it, ``0`` if none.

Limits (:meth:`ExactProgram.too_costly`): ``2**(n + r)`` amplitudes (pure; r =
mid-circuit measurements + resets) or ``4**n * 2**r`` density-matrix entries
(mixed; r = kept mid-circuit records) per binding, at most ``2**22``; at most
20 measured output bits; and not more than 4x the work of per-shot
simulation (``2**r`` resp. ``2**(n + r)`` against ``shots``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ControlFlowOp, Parameter, ParameterExpression
from qiskit.circuit.library import PhaseGate, RXGate, RYGate, RZGate, U1Gate, U3Gate, UGate
from qiskit.primitives.containers import BitArray, DataBin
from qiskit.quantum_info import Operator

from .noise import NoiseChannels

MAX_LOG2_ELEMENTS = 22  # state or density-matrix elements per binding (64 MiB of complex128)
MAX_OUTPUT_BITS = 20  # measurements in the joint law (2**20 float64 per binding)
MAX_LAW_ELEMENTS = 2**24  # the laws of all bindings of a PUB together (128 MiB of float64)
_CHUNK_LOG2 = 22  # bindings simulated together hold at most 2**22 elements
_SKIPPED = {"barrier", "delay"}  # no effect on an ideal state (delay: unless noise rewrites it)


class Unsupported(ValueError):
    """The circuit or its noise has no exact route here; the message says why."""


@dataclass(frozen=True)
class _Op:
    """One state update: ``kind`` in gate | collapse | reset; a gate's matrix fixed or built per binding."""

    kind: str
    axes: tuple[int, ...]  # state axes the matrix acts on (gate) or the qubit's axes (collapse/reset)
    tensor: np.ndarray | None = None  # (D, D)
    build: Callable[[np.ndarray], np.ndarray] | None = None  # values (B, P) -> (B, D, D)
    record: bool = False  # collapse: add a record axis (pure routes always do)


@dataclass(frozen=True)
class _Output:
    """A measurement whose value some clbit ends with: its source and readout confusion."""

    source: int  # state axis (final qubit value) when >= 0, else record ~source (= -1 - record index)
    readout: np.ndarray | None  # A[true, reported]


@dataclass(frozen=True)
class ExactProgram:
    """A circuit compiled for exact distributions of its classical bits.

    ``mixed``: density-matrix route (the circuit meets quantum errors);
    ``num_qubits``: active qubits simulated; ``num_records``: record axes the
    measurements and resets add (pure) or kept mid-circuit records (mixed).
    """

    mixed: bool
    num_qubits: int
    num_records: int
    num_parameters: int
    num_clbits: int
    ops: tuple[_Op, ...]
    outputs: tuple[_Output, ...]
    clbit_outputs: tuple[int, ...]  # per clbit: index of its output, -1 when never measured

    @property
    def log2_elements(self) -> int:
        """log2 of the state (or density matrix) size per binding at its widest."""
        return (2 if self.mixed else 1) * self.num_qubits + self.num_records

    @property
    def method(self) -> str:
        return "density_matrix" if self.mixed else "statevector"

    def too_costly(self, shots: int, bindings: int = 1) -> str | None:
        """Why drawing ``shots`` per binding from the exact law is worse than per-shot, or ``None``.

        Per-shot costs ``shots * 2**n`` per binding (a pure state per shot), the
        exact law ``2**log2_elements``: keep the exact route while it is not
        more than 4x the per-shot work, and within the memory limits.
        """
        if self.log2_elements > MAX_LOG2_ELEMENTS:
            return f"state of 2**{self.log2_elements} elements > 2**{MAX_LOG2_ELEMENTS} per binding"
        if len(self.outputs) > MAX_OUTPUT_BITS:
            return f"{len(self.outputs)} measured bits > {MAX_OUTPUT_BITS}"
        if bindings * 2 ** len(self.outputs) > MAX_LAW_ELEMENTS:
            return f"{bindings} laws of 2**{len(self.outputs)} outcomes > {MAX_LAW_ELEMENTS} floats"
        if 2.0 ** (self.log2_elements - self.num_qubits) > 4 * shots:
            return f"exact law 2**{self.log2_elements} costs more than {shots} shots of 2**{self.num_qubits}"
        return None

    def probabilities(self, values: np.ndarray | None = None) -> np.ndarray:
        """Joint law ``(B, 2**K)`` of the K outputs (bit j of the index = output j) per binding.

        ``values``: ``(B, P)`` (or ``(P,)``) in ``circuit.parameters`` order.
        """
        values = np.zeros((1, 0)) if values is None else np.asarray(values, dtype=float)
        if values.ndim == 1:
            values = values[None, :]
        if values.ndim != 2 or values.shape[1] != self.num_parameters:
            raise ValueError(f"values must be (B, {self.num_parameters}), got {values.shape}")
        bindings = values.shape[0]
        if self.num_parameters == 0:  # one law serves every binding
            return np.repeat(self._law(values[:1]), bindings, axis=0)
        chunk = max(1, 2 ** max(_CHUNK_LOG2 - self.log2_elements, 0))
        return np.concatenate([self._law(values[i:i + chunk]) for i in range(0, bindings, chunk)])

    def clbit_probabilities(self, values: np.ndarray | None = None) -> np.ndarray:
        """Law ``(B, 2**num_clbits)`` of the clbit strings (bit i of the index = clbit i)."""
        law = self.probabilities(values)
        index = _clbit_values(np.arange(law.shape[1]), self.clbit_outputs)
        out = np.zeros((law.shape[0], 2**self.num_clbits))
        np.add.at(out, (slice(None), index), law)
        return out

    def _law(self, values: np.ndarray) -> np.ndarray:
        n, bindings = self.num_qubits, values.shape[0]
        width = 2 * n if self.mixed else n
        state = np.zeros((bindings,) + (2,) * width, dtype=complex)
        state[(slice(None),) + (0,) * width] = 1.0
        for op in self.ops:
            if op.kind == "gate":
                matrix = op.tensor if op.build is None else op.build(values)
                state = _contract(state, matrix, op.axes, batched=op.build is not None)
            elif op.kind == "collapse":
                state = _collapse(state, op.axes, op.record)
            else:
                state = _reset(state, op.axes)
        if self.mixed:  # diagonal: the column axes take the row labels
            labels = list(range(state.ndim))
            rows = labels[1:n + 1]
            probs = np.einsum(state, [0, *rows, *rows, *labels[2 * n + 1:]],
                              [0, *rows, *labels[2 * n + 1:]]).real
        else:
            probs = state.real**2 + state.imag**2
        return self._outputs_law(probs)

    def _outputs_law(self, probs: np.ndarray) -> np.ndarray:
        """``p(v) = sum_s p(s) prod_j A_j[s_j, v_j]`` over the output measurements."""
        bindings, k = probs.shape[0], len(self.outputs)
        first_record = 1 + self.num_qubits
        source = [o.source if o.source >= 0 else first_record - 1 - o.source for o in self.outputs]
        used = sorted(set(source))
        unused = tuple(a for a in range(1, probs.ndim) if a not in used)
        law = probs.sum(axis=unused) if unused else probs
        readers: dict[int, list[int]] = {}
        for j, axis in enumerate(source):
            readers.setdefault(axis, []).append(j)
        # labels[i]: the output on axis i of `law` (None: a source not yet turned into its outputs)
        labels: list[int | None] = [None]
        for axis in used:
            js = readers[axis]
            plain = len(js) == 1 and self.outputs[js[0]].readout is None
            labels.append(js[0] if plain else None)
        for axis in used:
            js = readers[axis]
            if len(js) == 1 and self.outputs[js[0]].readout is None:
                continue
            table = np.ones(2)  # T[s, v_1, .., v_m] = prod_j A_j[s, v_j]
            for j in js:
                a = np.eye(2) if self.outputs[j].readout is None else self.outputs[j].readout
                table = table[..., None] * a.reshape((2,) + (1,) * (table.ndim - 1) + (2,))
            at = labels.index(None, 1)  # the first unconverted source: this one (axis order)
            law = np.tensordot(law, table, axes=([at], [0]))
            del labels[at]
            labels += js
        order = [0] + [labels.index(j) for j in reversed(range(k))]
        law = np.clip(law.transpose(order).reshape(bindings, 2**k), 0.0, None)
        return law / law.sum(axis=1, keepdims=True)


def compile_circuit(circuit: QuantumCircuit, noise: NoiseChannels | None = None) -> ExactProgram:
    """Compile ``circuit`` (and the Aer noise it meets) for :meth:`ExactProgram.probabilities`.

    Raises :class:`Unsupported` for control flow, classical instructions,
    non-unitary instructions other than measure/reset, and noise Aer would
    apply in ways not modelled here (custom noise passes on the circuit's
    instructions, labelled measurements or resets under noise).
    """
    if circuit.num_clbits > 62:  # clbit strings are int64 here
        raise Unsupported(f"{circuit.num_clbits} clbits > 62")
    qubit_index = {q: i for i, q in enumerate(circuit.qubits)}
    clbit_index = {c: i for i, c in enumerate(circuit.clbits)}
    steps: list[tuple[Any, tuple[int, ...], tuple[int, ...], np.ndarray | None]] = []
    for inst in circuit.data:
        op = inst.operation
        qubits = tuple(qubit_index[q] for q in inst.qubits)
        clbits = tuple(clbit_index[c] for c in inst.clbits)
        if isinstance(op, ControlFlowOp):
            raise Unsupported(f"control flow ({op.name})")
        if noise is not None and noise.rewrites(op):
            raise Unsupported(f"a custom noise pass rewrites {op.name}")
        if op.name == "measure":
            if len(qubits) != 1 or len(clbits) != 1:
                raise Unsupported("measure on several qubits")
        elif clbits:
            raise Unsupported(f"classical instruction {op.name}")
        if noise is not None and op.name in ("measure", "reset") and op.label:
            raise Unsupported(f"labelled {op.name} under noise")
        error = None if noise is None else noise.error(op.label or op.name, qubits)
        if op.name in _SKIPPED and error is None:
            continue
        if error is not None and error.shape[-1] != 2 ** len(qubits):
            raise Unsupported(f"error on {op.name}{qubits} acts on a different number of qubits")
        steps.append((op, qubits, clbits, error))
    mixed = any(error is not None for *_, error in steps)

    # Last writer of each clbit: its value is the clbit's; earlier writes only collapse.
    writer: dict[int, int] = {}
    for i, (op, _, clbits, _) in enumerate(steps):
        if op.name == "measure":
            writer[clbits[0]] = i
    is_output = set(writer.values())
    # Terminal measurements (nothing changes their qubit after them) read the final state.
    terminal: set[int] = set()
    changed: set[int] = set()
    for i in reversed(range(len(steps))):
        op, qubits, _, error = steps[i]
        if op.name == "measure":
            if qubits[0] not in changed:
                terminal.add(i)
            if error is not None:  # its pre-measurement error changes the state
                changed.add(qubits[0])
        else:
            changed.update(qubits)

    active = sorted({q for _, qubits, _, _ in steps for q in qubits})
    parameters = list(circuit.parameters)
    asm = _Assembler(active, mixed, {p: i for i, p in enumerate(parameters)})
    output_of: dict[int, _Output] = {}
    for i, (op, qubits, _, error) in enumerate(steps):
        if op.name == "measure":
            q = qubits[0]
            if error is not None:
                asm.channel(qubits, error)
            readout = None if noise is None else noise.readout_matrix(q)
            if i in terminal:
                if i in is_output:
                    output_of[i] = _Output(asm.axis(q), readout)
                continue
            record = asm.collapse(q, keep=i in is_output)
            if i in is_output:
                output_of[i] = _Output(-1 - record, readout)
        elif op.name == "reset":
            asm.reset(qubits[0])
            if error is not None:
                asm.channel(qubits, error)
        else:
            asm.gate(op, qubits, error)
    asm.finish()
    outputs = [output_of[i] for i in sorted(output_of)]
    order = {i: j for j, i in enumerate(sorted(output_of))}
    clbit_outputs = tuple(order[writer[c]] if c in writer else -1 for c in range(circuit.num_clbits))
    return ExactProgram(mixed, len(active), asm.records, len(parameters), circuit.num_clbits, tuple(asm.ops),
                        tuple(outputs), clbit_outputs)


_Map = np.ndarray | Callable[[np.ndarray], np.ndarray]  # fixed (D, D), or values (B, P) -> (B, D, D)


class _Assembler:
    """Builds the op list, folding every 1-qubit map into a neighbouring gate.

    Maps are unitaries ``U`` (pure) or superoperator matrices
    ``M[(a, c), (b, d)] = sum_i (K_i U)[a, b] conj(K_i U)[c, d]`` (mixed), so
    consecutive maps compose by matrix products. 1-qubit maps on ``q`` wait
    in ``pending[q]``: they commute with every op not touching ``q``. The next
    multi-qubit gate on ``q`` takes them in (``G . P``); before a measurement,
    a reset or the end they join the last gate on ``q`` (``P . G``) or become
    an op of their own.
    """

    def __init__(self, active: Sequence[int], mixed: bool, param_index: dict[Parameter, int]) -> None:
        self.local = {q: i for i, q in enumerate(active)}
        self.n = len(active)
        self.mixed = mixed
        self.param_index = param_index
        self.ops: list[_Op] = []
        self.gate_qubits: list[tuple[int, ...] | None] = []  # per op: its qubits when it is a gate
        self.last: dict[int, int] = {}  # qubit -> index of the last op on it
        self.records = 0
        self.pending: dict[int, list[_Map]] = {}

    def axis(self, qubit: int) -> int:
        return 1 + self.local[qubit]

    def gate(self, op: Any, qubits: tuple[int, ...], error: np.ndarray | None) -> None:
        parameterised = any(isinstance(p, ParameterExpression) and p.parameters for p in op.params)
        matrix = _matrix_builder(op, self.param_index) if parameterised else _fixed_matrix(op)
        self._add(self._map(matrix, error), qubits)

    def channel(self, qubits: tuple[int, ...], kraus: np.ndarray) -> None:
        self._add(self._map(np.eye(kraus.shape[-1], dtype=complex), kraus), qubits)

    def collapse(self, qubit: int, keep: bool) -> int:
        """Measure ``qubit`` mid-circuit; return the index of the record axis it adds."""
        self.flush([qubit])
        record = keep or not self.mixed  # a pure state dephases through a (hidden) record
        self._push(_Op("collapse", self._axes((qubit,)), record=record), (qubit,), gate=False)
        self.records += record
        return self.records - 1

    def reset(self, qubit: int) -> None:
        self.flush([qubit])
        self._push(_Op("reset", self._axes((qubit,))), (qubit,), gate=False)
        self.records += not self.mixed

    def flush(self, qubits: Sequence[int]) -> None:
        for q in qubits:
            factors = self.pending.pop(q, None)
            if not factors:
                continue
            m = _product(factors)
            i = self.last.get(q)
            owner = None if i is None else self.gate_qubits[i]
            if owner is None:
                self._push(self._gate_op(m, (q,)), (q,), gate=True)
            else:  # P after the last gate on q
                base = self.ops[i].tensor if self.ops[i].build is None else self.ops[i].build
                self.ops[i] = self._gate_op(_fold(base, {owner.index(q): m}, len(owner), self.mixed, True), owner)

    def finish(self) -> None:
        self.flush(list(self.pending))

    def _map(self, matrix: _Map, error: np.ndarray | None) -> _Map:
        if not self.mixed:
            return matrix
        if isinstance(matrix, np.ndarray):
            return _superop(matrix[None] if error is None else error @ matrix)
        noise = None if error is None else _superop(error)

        def build(values: np.ndarray) -> np.ndarray:
            u = matrix(values)
            dim = u.shape[-1] ** 2
            m = np.einsum("zab,zcd->zacbd", u, u.conj()).reshape(len(values), dim, dim)
            return m if noise is None else noise @ m
        return build

    def _add(self, m: _Map, qubits: tuple[int, ...]) -> None:
        if len(qubits) == 1:
            self.pending.setdefault(qubits[0], []).append(m)
            return
        factors = {j: _product(self.pending.pop(q)) for j, q in enumerate(qubits) if q in self.pending}
        if factors:  # G after the pending P's
            m = _fold(m, factors, len(qubits), self.mixed, False)
        self._push(self._gate_op(m, qubits), qubits, gate=True)

    def _axes(self, qubits: Sequence[int]) -> tuple[int, ...]:
        """State axes of ``qubits`` in reshaped-matrix order (big-endian), rows then columns."""
        rows = tuple(1 + self.local[q] for q in reversed(qubits))
        return rows + tuple(a + self.n for a in rows) if self.mixed else rows

    def _gate_op(self, m: _Map, qubits: tuple[int, ...]) -> _Op:
        if isinstance(m, np.ndarray):
            return _Op("gate", self._axes(qubits), m)
        return _Op("gate", self._axes(qubits), build=m)

    def _push(self, op: _Op, qubits: tuple[int, ...], gate: bool) -> None:
        self.ops.append(op)
        self.gate_qubits.append(qubits if gate else None)
        for q in qubits:
            self.last[q] = len(self.ops) - 1


def _fold(base: _Map, factors: dict[int, _Map], k: int, mixed: bool, after: bool) -> _Map:
    """``base`` on k qubits composed with 1-qubit ``factors`` (by qarg index): ``F . G`` if ``after`` else ``G . F``."""
    width = 2 if mixed else 1  # axes per qubit per side: row (and column)

    def combine(b: np.ndarray, fs: dict[int, np.ndarray]) -> np.ndarray:
        batched = b.ndim == 3 or any(f.ndim == 3 for f in fs.values())
        labels = list(range(2 * width * k))  # out blocks, then in blocks; qarg j at k-1-j in each
        out = labels.copy()
        operands: list[Any] = [b.reshape(b.shape[:-2] + (2,) * len(labels)), ([51] if b.ndim == 3 else []) + labels]
        fresh = len(labels)
        for j, f in fs.items():
            outs = [k - 1 - j + r * k for r in range(width)]
            ins = [width * k + p for p in outs]
            new = list(range(fresh, fresh + width))
            fresh += width
            if after:  # F's input is G's output
                sub = new + [labels[p] for p in outs]
                for p, label in zip(outs, new):
                    out[p] = label
            else:  # F's output is G's input
                sub = [labels[p] for p in ins] + new
                for p, label in zip(ins, new):
                    out[p] = label
            operands += [f.reshape(f.shape[:-2] + (2,) * (2 * width)), ([51] if f.ndim == 3 else []) + sub]
        result = np.einsum(*operands, ([51] if batched else []) + out)
        dim = 2 ** (width * k)
        return result.reshape(result.shape[:1] + (dim, dim)) if batched else result.reshape(dim, dim)

    if isinstance(base, np.ndarray) and all(isinstance(f, np.ndarray) for f in factors.values()):
        return combine(base, factors)

    def build(values: np.ndarray) -> np.ndarray:
        b = base if isinstance(base, np.ndarray) else base(values)
        return combine(b, {j: f if isinstance(f, np.ndarray) else f(values) for j, f in factors.items()})
    return build


def _product(factors: list[_Map]) -> _Map:
    """The map of applying ``factors`` in order (the last one leftmost)."""
    merged: list[_Map] = []
    for f in factors:
        if isinstance(f, np.ndarray) and merged and isinstance(merged[-1], np.ndarray):
            merged[-1] = f @ merged[-1]
        else:
            merged.append(f)
    if len(merged) == 1:
        return merged[0]

    def build(values: np.ndarray) -> np.ndarray:
        out = None
        for f in merged:
            m = f if isinstance(f, np.ndarray) else f(values)
            out = m if out is None else m @ out
        return np.broadcast_to(out, (len(values),) + out.shape[-2:])
    return build


def _superop(kraus: np.ndarray) -> np.ndarray:
    """``M[(a, c), (b, d)] = sum_i K_i[a, b] conj(K_i[c, d])``, so ``rho'[a, c] = M[(a, c), (b, d)] rho[b, d]``."""
    d = kraus.shape[-1]
    return np.einsum("iab,icd->acbd", kraus, kraus.conj()).reshape(d * d, d * d)


def _fixed_matrix(op: Any) -> np.ndarray:
    """Unitary of an instruction with numeric parameters (through its definition if it has no matrix)."""
    try:
        return np.asarray(op.to_matrix(), dtype=complex)
    except Exception:  # no to_matrix, or no matrix of its own: try the definition
        pass
    try:
        return np.asarray(Operator(op).data, dtype=complex)
    except Exception as exc:  # opaque or non-unitary (initialize, kraus, save_*, ...)
        raise Unsupported(f"no unitary for instruction {op.name}") from exc


def _matrix_builder(op: Any, param_index: dict[Parameter, int]) -> Callable[[np.ndarray], np.ndarray]:
    """values (B, P) -> matrices (B, 2**k, 2**k) of a parameterised gate."""
    getters = [_param_getter(p, param_index) for p in op.params]

    def angles(values: np.ndarray) -> list[np.ndarray]:
        return [g(values) for g in getters]

    vectorised = _VECTORISED.get(type(op))
    if vectorised is not None:
        return lambda values: vectorised(*angles(values))

    def generic(values: np.ndarray) -> np.ndarray:
        columns = angles(values)
        out = []
        for b in range(len(values)):
            gate = op.copy()
            gate.params = [float(c[b]) for c in columns]
            out.append(_fixed_matrix(gate))
        return np.stack(out)

    return generic


def _param_getter(param: Any, param_index: dict[Parameter, int]) -> Callable[[np.ndarray], np.ndarray]:
    if isinstance(param, Parameter):
        column = param_index[param]
        return lambda values: values[:, column]
    if isinstance(param, ParameterExpression) and param.parameters:
        symbols = list(param.parameters)
        columns = [param_index[p] for p in symbols]
        slopes = [param.gradient(p) for p in symbols]
        if all(isinstance(g, (int, float)) for g in slopes):  # affine (transpiled angles): vectorise
            offset = float(np.real(complex(param.bind_all({p: 0.0 for p in symbols}))))
            weights = np.asarray(slopes, dtype=float)
            return lambda values: offset + values[:, columns] @ weights

        def evaluate(values: np.ndarray) -> np.ndarray:
            out = [complex(param.bind_all(dict(zip(symbols, row)))) for row in values[:, columns]]
            return np.real(np.asarray(out))
        return evaluate
    value = float(param)
    return lambda values: np.full(len(values), value)


def _rx(t: np.ndarray) -> np.ndarray:
    c, s = np.cos(t / 2), np.sin(t / 2)
    m = np.empty(t.shape + (2, 2), dtype=complex)
    m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1] = c, -1j * s, -1j * s, c
    return m


def _ry(t: np.ndarray) -> np.ndarray:
    c, s = np.cos(t / 2), np.sin(t / 2)
    m = np.empty(t.shape + (2, 2), dtype=complex)
    m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1] = c, -s, s, c
    return m


def _rz(t: np.ndarray) -> np.ndarray:
    m = np.zeros(t.shape + (2, 2), dtype=complex)
    m[..., 0, 0], m[..., 1, 1] = np.exp(-0.5j * t), np.exp(0.5j * t)
    return m


def _phase(t: np.ndarray) -> np.ndarray:
    m = np.zeros(t.shape + (2, 2), dtype=complex)
    m[..., 0, 0], m[..., 1, 1] = 1.0, np.exp(1j * t)
    return m


def _u(theta: np.ndarray, phi: np.ndarray, lam: np.ndarray) -> np.ndarray:
    c, s = np.cos(theta / 2), np.sin(theta / 2)
    m = np.empty(theta.shape + (2, 2), dtype=complex)
    m[..., 0, 0], m[..., 0, 1] = c, -np.exp(1j * lam) * s
    m[..., 1, 0], m[..., 1, 1] = np.exp(1j * phi) * s, np.exp(1j * (phi + lam)) * c
    return m


_VECTORISED: dict[type, Callable[..., np.ndarray]] = {
    RXGate: _rx, RYGate: _ry, RZGate: _rz, PhaseGate: _phase, U1Gate: _phase, UGate: _u, U3Gate: _u,
}


def _contract(state: np.ndarray, matrix: np.ndarray, axes: tuple[int, ...], batched: bool) -> np.ndarray:
    """Apply ``matrix`` (``[B,] D, D``, ``D = 2**len(axes)``, big-endian over ``axes``) to the state."""
    rest = [a for a in range(1, state.ndim) if a not in axes]
    order = [0, *axes, *rest]
    dim = 2 ** len(axes)
    moved = state.transpose(order).reshape(state.shape[0], dim, -1)
    out = (matrix @ moved).reshape([state.shape[0]] + [2] * len(axes) + [state.shape[a] for a in rest])
    return out.transpose(np.argsort(order))


def _collapse(state: np.ndarray, axes: tuple[int, ...], record: bool) -> np.ndarray:
    """Projective measurement of one qubit: ``axes`` = its (row[, column]) axes."""
    if not record:  # mixed, nothing kept: remove the coherences between 0 and 1
        row, col = axes
        state = state.copy()
        for a, b in ((0, 1), (1, 0)):
            index = [slice(None)] * state.ndim
            index[row], index[col] = a, b
            state[tuple(index)] = 0.0
        return state
    out = np.zeros(state.shape + (2,), dtype=state.dtype)
    for k in (0, 1):
        index = [slice(None)] * state.ndim
        for axis in axes:
            index[axis] = k
        out[tuple(index) + (k,)] = state[tuple(index)]
    return out


def _reset(state: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Reset one qubit to 0: pure, the old value leaves in a hidden record; mixed, partial trace."""
    if len(axes) == 1:
        out = np.zeros(state.shape + (2,), dtype=state.dtype)
        for k in (0, 1):
            src = [slice(None)] * state.ndim
            src[axes[0]] = k
            dst = [slice(None)] * state.ndim
            dst[axes[0]] = 0
            out[tuple(dst) + (k,)] = state[tuple(src)]
        return out
    row, col = axes
    out = np.zeros_like(state)
    dst = [slice(None)] * state.ndim
    dst[row], dst[col] = 0, 0
    for k in (0, 1):
        src = [slice(None)] * state.ndim
        src[row], src[col] = k, k
        out[tuple(dst)] += state[tuple(src)]
    return out


def _clbit_values(outcomes: np.ndarray, clbit_outputs: Sequence[int]) -> np.ndarray:
    """Integer clbit strings (bit i = clbit i) of output outcomes (bit j = output j)."""
    value = np.zeros(len(outcomes), dtype=np.int64)
    for c, j in enumerate(clbit_outputs):
        if j >= 0:
            value |= ((outcomes >> j) & 1) << c
    return value


def sample_data(
    program: ExactProgram,
    circuit: QuantumCircuit,
    law: np.ndarray,
    shape: tuple[int, ...],
    shots: int,
    rng: np.random.Generator,
) -> DataBin:
    """Draw ``shots`` per binding from ``law`` (``(B, 2**K)``) into a DataBin as Aer's SamplerV2 builds it.

    One multinomial per binding gives the counts; a random permutation per
    binding then orders the shots, so any slice of them is again an i.i.d.
    sample. Each classical register gets a ``BitArray`` of shape ``shape``;
    as in Aer, its bit ``j`` is clbit ``start + j``, ``start`` the index of
    its first bit.
    """
    size = law.shape[1]
    outcomes = _draw(law, shots, rng).ravel()
    tabulate = size <= outcomes.size  # pack every outcome once, then gather rows per shot
    clbits = _clbit_values(np.arange(size) if tabulate else outcomes, program.clbit_outputs)
    meas = {}
    for creg in circuit.cregs:
        start = circuit.find_bit(creg[0]).index if creg.size else 0
        packed = _pack(clbits >> start, creg.size)
        if tabulate:
            packed = packed[outcomes]
        meas[creg.name] = BitArray(packed.reshape(shape + (shots, packed.shape[1])), creg.size)
    return DataBin(**meas, shape=shape)


def _draw(law: np.ndarray, shots: int, rng: np.random.Generator) -> np.ndarray:
    """``(B, shots)`` outcomes: multinomial counts per binding, then a random order."""
    bindings, size = law.shape
    if size <= 1 << 16:
        counts = rng.multinomial(shots, law)  # one multinomial per row
        outcomes = np.repeat(np.tile(np.arange(size), bindings), counts.ravel()).reshape(bindings, shots)
    else:  # wide laws: only each binding's support
        rows = []
        for p in law:
            support = np.flatnonzero(p)
            rows.append(np.repeat(support, rng.multinomial(shots, p[support])))
        outcomes = np.stack(rows)
    return rng.permuted(outcomes, axis=1)


def _pack(values: np.ndarray, size: int) -> np.ndarray:
    """Big-endian bytes of the low ``size`` bits of ``values`` (BitArray layout)."""
    nbytes = (size + 7) // 8
    low = values & ((1 << size) - 1)
    return ((low[:, None] >> (8 * np.arange(nbytes - 1, -1, -1))) & 0xFF).astype(np.uint8)
