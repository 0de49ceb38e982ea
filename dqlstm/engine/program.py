"""Compile a parameterised qiskit circuit into a short list of torch steps.

The compiler reads the circuit once (the circuit is the single source of
truth) and produces:

* an *encoding*: single-qubit gates that depend only on input angles or on
  nothing, taken from the start of each wire. They leave |0...0> a product
  state, so the encoded state is a Kronecker product of per-qubit vectors.
* a *block*: everything else, with consecutive parameter-free multi-qubit
  permutation / phase gates (CNOT rings, CZ, SWAP, Toffoli) fused into one gather, and runs of
  single-qubit gates fused into one 2x2 matrix per qubit (X gates included).

When the block does not depend on the inputs (the usual VQC), its weight-only
work is done once per weight set - the unitary ``W(theta)`` on narrow
registers, per-layer Kronecker chunks on wider ones - and reused for any
number of encoded states: this is what makes the exact engine fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from qiskit.circuit import Gate, Parameter, ParameterExpression, QuantumCircuit
from qiskit.quantum_info import Operator

from backends.circuits import has_unbound_parameters

from .gates import PARAMETERISED

INPUT, WEIGHT = 0, 1
_SKIP = {"barrier", "global_phase"}


@dataclass(frozen=True)
class ParamRef:
    """An angle ``scale * value[source][index] + offset`` (``source=None``: constant)."""

    source: int | None
    index: int
    scale: float = 1.0
    offset: float = 0.0


@dataclass
class Factor:
    """One gate in a fused run: a constant matrix or a parameterised builder."""

    name: str
    refs: tuple[ParamRef, ...] = ()
    matrix: torch.Tensor | None = None  # constant gates only

    @property
    def sources(self) -> set[int]:
        return {r.source for r in self.refs if r.source is not None}


@dataclass
class LayerFactor:
    """Position ``j`` of a single-qubit layer: one gate kind on every qubit of the layer.

    Angles are ``scale * values[source][:, index] + offset`` with ``index``,
    ``scale`` and ``offset`` of shape ``(num_qubits_in_layer, num_params)``.
    """

    name: str
    matrix: torch.Tensor | None  # constant gate, shared by all qubits of the layer
    source: int | None
    index: torch.Tensor | None = None
    scale: torch.Tensor | None = None
    offset: torch.Tensor | None = None

    plain: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        # every angle a bare parameter (scale 1, offset 0): no arithmetic at run time
        if self.scale is not None:
            self.plain = bool((self.scale == 1).all() and (self.offset == 0).all())


@dataclass
class SingleLayer:
    """Single-qubit gate runs on distinct qubits with one gate pattern, built as one batch.

    Qubit ``qubits[i]`` gets ``F_k ... F_1`` where ``F_j`` is ``factors[j]`` for that qubit.
    """

    qubits: tuple[int, ...]
    factors: list[LayerFactor]
    plans: dict = field(default_factory=dict, repr=False, compare=False)  # per-dtype caches (adjoint)

    @property
    def sources(self) -> set[int]:
        return {f.source for f in self.factors if f.source is not None}


def _signature(f: Factor):
    if f.matrix is not None:
        return ("const", f.name, f.matrix.numpy().tobytes())
    return (f.name, tuple(r.source for r in f.refs))


def build_layers(runs: dict[int, list[Factor]]) -> list[SingleLayer]:
    """Group per-qubit gate runs with the same pattern into vectorised layers."""
    groups: dict[tuple, list[int]] = {}
    for q in sorted(runs):
        groups.setdefault(tuple(_signature(f) for f in runs[q]), []).append(q)
    layers = []
    for qubits in groups.values():
        factors = []
        for j, first in enumerate(runs[qubits[0]]):
            if first.matrix is not None:
                factors.append(LayerFactor(first.name, first.matrix, None))
                continue
            refs = [runs[q][j].refs for q in qubits]
            sources = {r.source for rr in refs for r in rr} - {None}
            factors.append(
                LayerFactor(
                    first.name,
                    None,
                    sources.pop() if sources else None,
                    torch.tensor([[r.index for r in rr] for rr in refs], dtype=torch.long),
                    torch.tensor([[r.scale for r in rr] for rr in refs], dtype=torch.float64),
                    torch.tensor([[r.offset for r in rr] for rr in refs], dtype=torch.float64),
                )
            )
        layers.append(SingleLayer(tuple(qubits), factors))
    return layers


class IndexedGate(Gate):
    """Placeholder for a single-qubit operator chosen per batch row by an index.

    Cutting engines use it for the terms of a cut: ``key`` names a stack of
    ``2x2`` matrices given at run time, and each simulated row picks one.
    """

    def __init__(self, key: str):
        super().__init__("indexed", 1, [], label=key)
        self.key = key


@dataclass
class Indexed:
    """Step applying the row-selected matrix of ``key`` to ``qubit``."""

    qubit: int
    key: str
    sources: set[int] = field(default_factory=set)


@dataclass
class Monomial:
    """Fused parameter-free permutation-with-phases on the full basis: out[perm[k]] = phase[k] in[k]."""

    gather: torch.Tensor  # out = in[gather] * phase_out
    phase_out: torch.Tensor | None
    sources: set[int] = field(default_factory=set)


@dataclass
class Dense:
    """A multi-qubit gate applied as a dense ``2^k x 2^k`` matrix (constant or parameterised)."""

    qubits: tuple[int, ...]
    factor: Factor

    @property
    def sources(self) -> set[int]:
        return self.factor.sources


Step = SingleLayer | Monomial | Dense | Indexed
# a single-qubit gate whose angles mix inputs and weights becomes a one-qubit Dense
# step: a layer batches one parameter source per gate position


@dataclass
class Program:
    num_qubits: int
    num_inputs: int
    num_weights: int
    encoding: list[SingleLayer]
    block: list[Step]
    plans: dict = field(default_factory=dict, repr=False, compare=False)  # per-dtype caches (adjoint)

    @property
    def block_uses_inputs(self) -> bool:
        return any(INPUT in s.sources for s in self.block)


def _param_ref(value, lookup: dict[Parameter, tuple[int, int]], where: str) -> ParamRef:
    if not isinstance(value, ParameterExpression):
        return ParamRef(None, 0, 0.0, float(value))
    params = list(value.parameters)
    if not params:
        return ParamRef(None, 0, 0.0, float(value))
    if len(params) > 1:
        raise ValueError(f"{where}: angle {value} mixes several parameters; use one parameter per angle")
    p = params[0]
    if p not in lookup:
        raise ValueError(f"{where}: parameter {p.name} is neither an input nor a weight of the circuit")
    slope = value.gradient(p)
    if isinstance(slope, ParameterExpression) and slope.parameters:
        raise ValueError(f"{where}: angle {value} is not affine in {p.name}; use a*{p.name} + b")
    a = float(complex(slope.numeric() if isinstance(slope, ParameterExpression) else slope).real)
    b = float(complex(value.bind({p: 0.0}).numeric()).real)
    source, index = lookup[p]
    return ParamRef(source, index, a, b)


def check_vqc_instruction(inst, where: str) -> None:
    """Refuse what a VQC may not contain: measurements, resets, classical bits or control."""
    op = inst.operation
    if inst.clbits or op.name in ("measure", "reset") or getattr(op, "condition", None) is not None:
        raise ValueError(f"{where}: measurements, resets and classical control are not allowed in a VQC")


def _is_monomial(m: np.ndarray) -> bool:
    nz = np.abs(m) > 1e-12
    return bool((nz.sum(0) == 1).all() and (nz.sum(1) == 1).all())


def _monomial(qubits: Sequence[int], matrix: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Full-basis map of a k-qubit monomial gate: ``U|j> = phase[j] |target[j]>``."""
    dim = 1 << n
    basis = np.arange(dim)
    local = np.zeros(dim, dtype=np.int64)
    for i, q in enumerate(qubits):
        local |= ((basis >> q) & 1) << i
    col_target = np.argmax(np.abs(matrix) > 1e-12, axis=0)  # row of the nonzero in each column
    new_local = col_target[local]
    target = basis.copy()
    for i, q in enumerate(qubits):
        target &= ~(1 << q)
        target |= ((new_local >> i) & 1) << q
    phase = matrix[new_local, local]
    return target, phase


class _MonomialBuilder:
    def __init__(self, n: int):
        self.n = n
        self.target = np.arange(1 << n)
        self.phase = np.ones(1 << n, dtype=complex)

    def add(self, qubits: Sequence[int], matrix: np.ndarray) -> None:
        t, ph = _monomial(qubits, matrix, self.n)
        # compose: |j> -> phase[j] |target[j]> then the new gate
        self.phase = self.phase * ph[self.target]
        self.target = t[self.target]

    def build(self) -> Monomial:
        gather = np.empty_like(self.target)
        gather[self.target] = np.arange(len(self.target))
        phase_out = self.phase[gather]
        trivial = np.allclose(phase_out, 1.0)
        return Monomial(
            torch.from_numpy(gather),
            None if trivial else torch.from_numpy(phase_out.astype(np.complex128)),
        )


def compile_circuit(
    circuit: QuantumCircuit,
    inputs: Sequence[Parameter],
    weights: Sequence[Parameter],
) -> Program:
    """Compile ``circuit`` whose free parameters are exactly ``inputs`` and ``weights``."""
    lookup: dict[Parameter, tuple[int, int]] = {}
    for i, p in enumerate(inputs):
        if p in lookup:
            raise ValueError(f"parameter {p.name} is listed twice as an input")
        lookup[p] = (INPUT, i)
    for i, p in enumerate(weights):
        if p in lookup:
            raise ValueError(f"parameter {p.name} is listed both as an input and as a weight")
        lookup[p] = (WEIGHT, i)
    missing = set(circuit.parameters) - set(lookup)
    if missing:
        names = ", ".join(sorted(p.name for p in missing))
        raise ValueError(f"circuit parameters not declared as inputs or weights: {names}")
    n = circuit.num_qubits
    if n < 1:
        raise ValueError("circuit has no qubits")
    if n > 26:
        raise ValueError(f"the exact engine holds 2^n amplitudes; {n} qubits is too wide (use mode 'cut-exact')")
    qindex = {q: i for i, q in enumerate(circuit.qubits)}

    encoding: dict[int, list[Factor]] = {}
    open_wire = [True] * n  # wire still only has encoding gates on it
    block: list[Step] = []
    pending: dict[int, list[Factor]] = {}
    mono: _MonomialBuilder | None = None

    def flush_mono() -> None:
        nonlocal mono
        if mono is not None:
            block.append(mono.build())
            mono = None

    def flush_pending() -> None:
        if pending:
            flush_mono()
            block.extend(build_layers(pending))
            pending.clear()

    for pos, inst in enumerate(circuit.data):
        op = inst.operation
        name = op.name
        if name in _SKIP:
            continue
        qubits = tuple(qindex[q] for q in inst.qubits)
        where = f"instruction {pos} ({name} on qubits {list(qubits)})"
        if isinstance(op, IndexedGate):
            open_wire[qubits[0]] = False
            flush_pending()
            flush_mono()
            block.append(Indexed(qubits[0], op.key))
            continue
        check_vqc_instruction(inst, where)
        if name in PARAMETERISED:
            k, nparams, _ = PARAMETERISED[name]
            refs = tuple(_param_ref(v, lookup, where) for v in op.params)
            if len(refs) != nparams or len(qubits) != k:
                raise ValueError(f"{where}: unexpected gate signature")
            factor = Factor(name, refs)
        elif has_unbound_parameters(op):
            raise ValueError(
                f"{where}: parameterised gate {name!r} is not supported by the torch engine; "
                f"supported: {', '.join(sorted(PARAMETERISED))}"
            )
        else:
            try:
                matrix = Operator(op).data
            except Exception as exc:  # noqa: BLE001 - qiskit raises several types here
                raise ValueError(f"{where}: gate has no matrix form ({exc})") from None
            factor = Factor(name, (), torch.from_numpy(np.asarray(matrix, dtype=np.complex128)))

        if len(qubits) == 1 and len(factor.sources) < 2:
            q = qubits[0]
            if open_wire[q] and WEIGHT not in factor.sources:
                encoding.setdefault(q, []).append(factor)
            else:
                open_wire[q] = False
                pending.setdefault(q, []).append(factor)
            continue
        for q in qubits:
            open_wire[q] = False
        flush_pending()
        if factor.matrix is not None and _is_monomial(factor.matrix.numpy()):
            if mono is None:
                mono = _MonomialBuilder(n)
            mono.add(qubits, factor.matrix.numpy())
        else:
            flush_mono()
            block.append(Dense(qubits, factor))
    flush_pending()
    flush_mono()
    return Program(
        n,
        len(inputs),
        len(weights),
        build_layers(encoding),
        block,
    )
