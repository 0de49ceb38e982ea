r"""The ``sampled`` execution mode: cut sub-experiments run with shots, reconstructed with gradients.

A :class:`SampledCutExecutor` takes a parameterised circuit, observables and a
partition of the qubits, and once per circuit template asks qiskit-addon-cutting
for the quasi-probability decomposition (``partition_problem``) and the
sub-experiments (``generate_cutting_experiments``) with the circuit's free
parameters kept symbolic. Each call then binds a batch of parameter values:
one PUB ``(subexperiment, values (B, P_sub), shots)`` per sub-experiment,
all PUBs of all fragments in one ``pool.run``.

Duplicates. qiskit-addon-cutting lists identical circuits under several QPD
terms (2 CX cuts: 36 listed, 25 distinct per fragment); only the distinct ones
run, and every term uses its circuit's estimate, with the variance of the
shared estimates derived in :mod:`.dedup`. Costs count what ran;
``num_subexperiments_listed`` is what qiskit-addon-cutting listed.

Limits (:mod:`.guard`). Before anything is generated, a plan listing more than
``max_subexperiments`` sub-experiments, or needing more than
``max_total_shots`` shots for one binding, is refused; so is a call needing
more than ``max_total_shots``, and ``shots`` above :data:`.guard.MAX_SHOTS`.

Parameter order. Columns of ``parameter_values`` follow ``circuit.parameters``
(qiskit's sorted order: by name, ``ParameterVector`` elements by index). A
sub-experiment gets the columns of its own ``subexperiment.parameters``.

Gradients. Every parameter must sit in exactly one ``RX``/``RY``/``RZ`` gate,
as its bare angle. For such a gate :math:`\langle O\rangle(\theta) = a + b\cos
\theta + c \sin\theta`, so :math:`\partial_\theta \langle O\rangle =
(\langle O\rangle(\theta + \pi/2) - \langle O\rangle(\theta - \pi/2))/2`
exactly. A parameter lives in one fragment; only that fragment's
sub-experiments are re-run (all shifts of all its parameters in one PUB per
sub-experiment, bindings of shape ``(2, P_f, B)``) and the other fragments'
results of the unshifted run are reused (:meth:`CutReconstructor.shift_gradient`);
only the shifted fragment's distinct circuits run again.

SPSA. With ``gradient="spsa"`` the Jacobian is instead the simultaneous-
perturbation estimate of :mod:`.spsa`: every distinct circuit of every
fragment runs once at :math:`\theta + c_k\Delta` and once at
:math:`\theta - c_k\Delta` per binding (one PUB per circuit, bindings
``(2, B, P_sub)``), whatever the number of parameters; :math:`k` is
:attr:`SampledCutExecutor.spsa_step` (the gate engine counts optimiser steps).

Shots. ``allocation`` (:mod:`.allocation`) spreads the total ``shots x
distinct circuits`` of a binding over the circuits: ``uniform`` (``shots``
each), ``weighted`` (by class weight) or ``adaptive`` (by each class's share of
the variance in the latest forward run); shifted and perturbed runs use
the allocation of the latest forward run. Standard errors use each circuit's
own shot count.

Cut gates must not carry parameters: their QPD is fixed at template time.

Observables. Each observable (a Pauli string or a :class:`SparsePauliOp`) gives
one value :math:`\sum_j w_j \langle P_j\rangle` over its Pauli terms. Its
standard error is exact for a single Pauli and the upper bound
:math:`\sum_j |w_j| \sigma_j` otherwise (terms measured on the same shots are
correlated). Coefficients are summed (``simplify``) before they are checked to
be real, as ``cut-exact`` does.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from qiskit.circuit import Parameter, ParameterExpression, QuantumCircuit
from qiskit.circuit.library import RXGate, RYGate, RZGate
from qiskit.quantum_info import Pauli, PauliList, SparsePauliOp
from qiskit_addon_cutting import (
    cut_wires,
    expand_observables,
    generate_cutting_experiments,
    partition_problem,
)
from qiskit_addon_cutting.instructions import CutWire
from qiskit_addon_cutting.qpd import TwoQubitQPDGate
from qiskit_addon_cutting.utils.observable_grouping import ObservableCollection

from dqlstm.choices import DEFAULT_SHOTS

from .allocation import ShotAllocator, class_weights
from .dedup import FragmentTerms, fragment_terms
from .guard import (
    DEFAULT_MAX_SUBEXPERIMENTS,
    DEFAULT_MAX_TOTAL_SHOTS,
    SubexperimentCount,
    check_limit,
    check_parameter_values,
    check_plan_size,
    check_shots,
    check_total_shots,
    count_subexperiments,
)
from .reconstruct import CutReconstructor, FragmentEstimates
from .spsa import check_gradient, check_perturbation, perturbation, rademacher

__all__ = [
    "ExecutionCost",
    "SampledCutExecutor",
    "SampledJacobian",
    "SampledValues",
    "run_pubs",
]

_SHIFT = np.pi / 2
_ROTATIONS = (RXGate, RYGate, RZGate)

ObservablesLike = SparsePauliOp | Pauli | str | Sequence[SparsePauliOp | Pauli | str]


class PubRunner(Protocol):
    """A Qiskit V2 sampler (``run(pubs) -> job``) or a pool (``run(pubs) -> list``)."""

    def run(self, pubs: list[tuple[QuantumCircuit, np.ndarray, int]], /) -> Any: ...


def run_pubs(pool: PubRunner, pubs: list[tuple[QuantumCircuit, np.ndarray, int]]) -> list[Any]:
    """Run PUBs on ``pool`` and return one result per PUB, in order.

    Adapts both conventions: a Qiskit V2 sampler returns a job whose
    ``result()`` is a ``PrimitiveResult``; a ``QPUPool`` returns the list of
    pub results directly.
    """
    out = pool.run(pubs)
    if callable(getattr(out, "result", None)):
        out = out.result()
    results = list(out)
    if len(results) != len(pubs):
        raise RuntimeError(f"pool returned {len(results)} results for {len(pubs)} PUBs")
    return results


class _LocalAerSampler:
    """The default executor: one ideal ``backends.AerQPU`` as wide as the widest fragment.

    Its shots come from each sub-experiment's exact distribution (statistically
    per-shot Aer, without simulating each shot). Seeds follow ``QPUPool``'s
    rule: a hash of ``seed``, the PUB's content and how often this sampler has
    drawn that PUB, so a PUB is never drawn the same way twice, and a resumed
    run (new bindings, new PUBs) draws what an uninterrupted one would.
    """

    def __init__(self, seed: int | None, width: int) -> None:
        import random

        from backends import AerQPU

        self._qpu = AerQPU("local", max(1, width))
        self._seed = int(seed) if seed is not None else random.SystemRandom().randrange(1, 2**31)
        self._draws: dict[str, int] = {}

    @property
    def seed(self) -> int:
        return self._seed

    def run(self, pubs: list[tuple[QuantumCircuit, np.ndarray, int]]) -> list[Any]:
        from backends import as_pub
        from backends.pool import draw_seed

        results = []
        for pub in (as_pub(p, DEFAULT_SHOTS) for p in pubs):
            draw = self._draws.get(pub.key, 0)
            self._draws[pub.key] = draw + 1
            results.append(self._qpu.execute(pub, draw_seed(self._seed, pub, draw)))
        return results


@dataclass(frozen=True)
class ExecutionCost:
    """What one call cost on the QPUs.

    Attributes:
        shots_per_subexperiment: shots per PUB and binding under ``uniform``
            allocation (the average otherwise: the total is the same).
        num_subexperiments: distinct sub-experiment circuits of the template
            (all fragments), the ones that run.
        num_pubs: PUBs submitted.
        num_circuits_executed: bound circuits run (sum over PUBs of their bindings).
        total_shots: shots executed: the sum over PUBs of bindings x the PUB's shots
            (``num_circuits_executed * shots_per_subexperiment`` under ``uniform``).
        sampling_overhead: :math:`\\prod_{cuts} (\\sum_i |c_i|)^2` of the QPD.
        num_subexperiments_listed: sub-experiments qiskit-addon-cutting listed
            (QPD terms x observable groups per fragment, duplicates included).
    """

    shots_per_subexperiment: int
    num_subexperiments: int
    num_pubs: int
    num_circuits_executed: int
    total_shots: int
    sampling_overhead: float
    num_subexperiments_listed: int

    def __add__(self, other: ExecutionCost) -> ExecutionCost:
        return ExecutionCost(
            self.shots_per_subexperiment,
            self.num_subexperiments,
            self.num_pubs + other.num_pubs,
            self.num_circuits_executed + other.num_circuits_executed,
            self.total_shots + other.total_shots,
            self.sampling_overhead,
            self.num_subexperiments_listed,
        )


@dataclass(frozen=True)
class SampledValues:
    """Expectation values from one sampled run.

    Attributes:
        values: ``(B, n_observables)``.
        stderr: ``(B, n_observables)`` standard errors.
        cost: what the run cost.
        parameter_values: the ``(B, P)`` bindings used.
        estimates: per-fragment, per-class (distinct circuits) estimates, reused by
            :meth:`SampledCutExecutor.jacobian`.
    """

    values: np.ndarray
    stderr: np.ndarray
    cost: ExecutionCost
    parameter_values: np.ndarray
    estimates: dict[Hashable, FragmentEstimates] = field(repr=False)


@dataclass(frozen=True)
class SampledJacobian:
    """Parameter-shift or SPSA Jacobian from sampled runs.

    Attributes:
        jacobian: ``(B, n_observables, P)``, ``d value[b, o] / d parameter_values[b, p]``.
        stderr: same shape, standard errors (SPSA: of the shot noise given the direction).
        cost: shifted or perturbed runs (plus, parameter shift, the unshifted run if it was not given).
    """

    jacobian: np.ndarray
    stderr: np.ndarray
    cost: ExecutionCost


@dataclass(frozen=True)
class _Fragment:
    label: Hashable
    subexperiments: tuple[QuantumCircuit, ...]  # the distinct ones, class-major
    columns: tuple[np.ndarray, ...]  # per sub-experiment: its parameters' global columns
    parameters: np.ndarray  # global columns of the fragment's parameters
    terms: FragmentTerms  # which listed sub-experiment is which distinct one


class SampledCutExecutor:
    """Sampled expectation values and gradients of a cut parameterised circuit.

    Args:
        circuit: parameterised circuit, no classical bits. May contain
            ``CutWire`` markers (expanded with ``cut_wires``) or ``Move`` /
            ``TwoQubitQPDGate`` instructions already marked for cutting.
        observables: a :class:`SparsePauliOp` / Pauli string (one observable) or
            a sequence of them (one value each), on ``circuit.num_qubits``
            qubits (before ``CutWire`` expansion).
        partition_labels: one label per qubit of the circuit after wire-cut
            expansion (e.g. ``"AABB"``), as ``partition_problem`` takes; gates
            spanning two labels are cut. ``None``: fragments are the connected
            components left after removing gates already marked for cutting.
        pool: a Qiskit V2 sampler or an object with ``run(pubs) -> list``;
            default Aer ``SamplerV2`` with a fresh seed from ``seed`` per call.
        shots: shots per sub-experiment and binding.
        num_samples: QPD samples for ``generate_cutting_experiments``;
            ``inf`` (default) enumerates every term with its exact weight.
        seed: seed of the default pool.
        cut_circuit: ``circuit`` with its cuts already marked and wire cuts
            expanded onto extra qubits (e.g. ``plan.cut_circuit(circuit)``);
            observables are mapped onto it with ``expand_observables`` and
            ``partition_labels`` label its qubits.
        max_subexperiments: refuse (``ValueError``, before generating anything)
            a plan for which qiskit-addon-cutting would list more
            sub-experiments; ``None``: no limit.
        max_total_shots: refuse a plan needing more shots for one binding, and
            a call needing more shots; ``None``: no limit.
        deduplicate: run identical sub-experiments once (default). ``False``
            runs every listed one as an independent draw (the reference
            behaviour, twice or more the shots).
        allocation: ``uniform`` | ``weighted`` | ``adaptive`` shots across the
            distinct circuits (:mod:`.allocation`), same total.
        gradient: ``parameter-shift`` (fragment-local, exact up to shot
            noise) | ``spsa`` (:mod:`.spsa`: 2 evaluations per binding).
        spsa_perturbation: :math:`c` of :math:`c_k = c/(k+1)^{0.101}` (radians).

    Attributes:
        parameters: ``circuit.parameters``, the column order of ``parameter_values``.
        pauli_terms, term_weights: the observables' unique Pauli terms and the
            ``(n_observables, n_terms)`` weights combining them.
        cut_circuit: the circuit that was partitioned (after wire-cut expansion).
        coefficients, subobservables: ``generate_cutting_experiments`` /
            ``partition_problem`` outputs (reference inputs for
            ``reconstruct_expectation_values``).
        reconstructor: the :class:`CutReconstructor`.
        fragments: per partition label, its distinct sub-experiments, their
            parameter columns and ``terms`` (``listed_to_distinct()`` maps
            qiskit-addon-cutting's listing onto them).
        sampling_overhead, num_cuts: of the QPD.
        predicted: the sub-experiment count predicted before generating.
        last_values: the latest :meth:`run` result.
        allocator: the :class:`.allocation.ShotAllocator` (adaptive state in ``score``).
        spsa_step: optimiser step :math:`k` of the SPSA schedule (set by the caller).
        spsa_draws: SPSA Jacobians drawn so far (part of the directions' seeds).
    """

    @classmethod
    def from_plan(
        cls, plan: Any, circuit: QuantumCircuit, observables: ObservablesLike, **kwargs: Any
    ) -> SampledCutExecutor:
        """Executor for a partitioner ``CutPlan`` (``plan.cut_circuit``, ``plan.partition_labels``)."""
        return cls(
            circuit,
            observables,
            plan.partition_labels,
            cut_circuit=plan.cut_circuit(circuit),
            **kwargs,
        )

    def __init__(
        self,
        circuit: QuantumCircuit,
        observables: ObservablesLike,
        partition_labels: Sequence[Hashable] | None = None,
        *,
        pool: PubRunner | None = None,
        shots: int = DEFAULT_SHOTS,
        num_samples: float = np.inf,
        seed: int | None = None,
        cut_circuit: QuantumCircuit | None = None,
        max_subexperiments: int | None = DEFAULT_MAX_SUBEXPERIMENTS,
        max_total_shots: int | None = DEFAULT_MAX_TOTAL_SHOTS,
        deduplicate: bool = True,
        allocation: str = "uniform",
        gradient: str = "parameter-shift",
        spsa_perturbation: float = 0.1,
    ) -> None:
        if not isinstance(circuit, QuantumCircuit):
            raise ValueError(f"circuit must be a QuantumCircuit, got {type(circuit).__name__}")
        if circuit.num_clbits or circuit.cregs:
            raise ValueError("circuit has classical bits; pass it without measurements")
        self._shots = check_shots(shots)
        self.gradient = check_gradient(gradient)
        self.spsa_perturbation = check_perturbation(spsa_perturbation)
        self.spsa_step = 0
        self.spsa_draws = 0
        self.max_subexperiments = check_limit(max_subexperiments, "max_subexperiments")
        self.max_total_shots = check_limit(max_total_shots, "max_total_shots")
        self.circuit = circuit
        self.parameters: tuple[Parameter, ...] = tuple(circuit.parameters)
        paulis, self.term_weights = _observable_terms(observables, circuit.num_qubits)
        self.pauli_terms: PauliList = paulis

        if cut_circuit is not None:
            if not isinstance(cut_circuit, QuantumCircuit):
                raise ValueError("cut_circuit must be a QuantumCircuit")
            if set(cut_circuit.parameters) != set(self.parameters):
                raise ValueError("cut_circuit has other free parameters than circuit")
            expanded = cut_circuit
            paulis = expand_observables(paulis, circuit, expanded)
        elif any(isinstance(inst.operation, CutWire) for inst in circuit.data):
            expanded = cut_wires(circuit)
            paulis = expand_observables(paulis, circuit, expanded)
        else:
            expanded = circuit
        self.cut_circuit = expanded
        if partition_labels is not None:
            partition_labels = list(partition_labels)
            if len(partition_labels) != expanded.num_qubits:
                extra = expanded.num_qubits - circuit.num_qubits
                note = f" (the circuit's {extra} wire cut(s) added {extra} qubit(s))" if extra else ""
                raise ValueError(
                    f"partition_labels has {len(partition_labels)} labels but the circuit has "
                    f"{expanded.num_qubits} qubits{note}"
                )
            if any(lab is None for lab in partition_labels):
                raise ValueError("partition_labels contains None; remove idle qubits instead")
        _check_cut_gates_unparameterised(expanded, partition_labels)
        _check_rotation_parameters(circuit)

        problem = partition_problem(expanded, partition_labels, paulis)
        if None in problem.subobservables:  # automatic labels mark idle qubits with None
            raise ValueError(
                "the circuit has idle qubits, which automatic partitioning leaves without a "
                "fragment; remove them or pass partition_labels"
            )
        self.sampling_overhead = float(np.prod([basis.overhead for basis in problem.bases]))
        self.num_cuts = len(problem.bases)
        groups = {lab: len(ObservableCollection(obs).groups) for lab, obs in problem.subobservables.items()}
        self.predicted: SubexperimentCount = count_subexperiments(problem.subcircuits, groups, num_samples)
        check_plan_size(
            self.predicted,
            num_cuts=self.num_cuts,
            sampling_overhead=self.sampling_overhead,
            shots=self.shots,
            max_subexperiments=self.max_subexperiments,
            max_total_shots=self.max_total_shots,
        )
        subexperiments, coefficients = generate_cutting_experiments(
            problem.subcircuits, problem.subobservables, num_samples
        )
        self.coefficients = coefficients
        self.subobservables: dict[Hashable, PauliList] = dict(problem.subobservables)
        terms = {
            lab: fragment_terms(subexperiments[lab], len(coefficients), groups[lab])
            if deduplicate
            else FragmentTerms.identity(len(coefficients), groups[lab])
            for lab in problem.subobservables
        }
        self.reconstructor = CutReconstructor(coefficients, problem.subobservables, terms)

        column = {p: i for i, p in enumerate(self.parameters)}
        fragments = []
        owner: dict[int, Hashable] = {}
        for label in self.reconstructor.labels:
            listed = subexperiments[label]
            circuits = tuple(listed[j] for j in terms[label].distinct_indices())
            columns = tuple(np.array([column[p] for p in c.parameters], dtype=np.int64) for c in circuits)
            own = np.unique(np.concatenate([c for c in columns] + [np.empty(0, np.int64)]))
            for col in own:
                if owner.setdefault(int(col), label) != label:
                    raise ValueError(
                        f"parameter {self.parameters[col]} appears in fragments {owner[int(col)]!r} "
                        f"and {label!r}"
                    )
            fragments.append(_Fragment(label, circuits, columns, own, terms[label]))
        self.fragments: tuple[_Fragment, ...] = tuple(fragments)
        if pool is not None and not callable(getattr(pool, "run", None)):
            raise ValueError(
                f"pool must be a backends.QPUPool or a Qiskit V2 sampler (an object with run(pubs)), "
                f"got {type(pool).__name__} {pool!r:.80}"
            )
        widest = max((c.num_qubits for f in self.fragments for c in f.subexperiments), default=1)
        self.pool: PubRunner = pool if pool is not None else _LocalAerSampler(seed, widest)
        pool_seed = getattr(self.pool, "seed", None)
        self.spsa_seed = int(pool_seed) if isinstance(pool_seed, (int, np.integer)) else 0
        weights, classes, offset = [], [], 0
        for index, frag in enumerate(self.fragments):  # fragments follow the reconstructor's labels
            w = class_weights(self.reconstructor.merged, index)
            groups = frag.terms.num_groups
            weights.append(np.repeat(w, groups))
            classes.append(offset + np.repeat(np.arange(len(w)), groups))
            offset += len(w)
        self.allocator = ShotAllocator(
            allocation, self.shots, np.concatenate(weights), np.concatenate(classes)
        )
        self._circuit_shots = self.allocator.shots_per_circuit()
        self.last_values: SampledValues | None = None
        self.total_cost: ExecutionCost = self._cost([])  # everything executed so far (runs + shifts)

    # -- sizes -----------------------------------------------------------------

    @property
    def num_parameters(self) -> int:
        return len(self.parameters)

    @property
    def num_observables(self) -> int:
        return self.term_weights.shape[0]

    @property
    def num_subexperiments(self) -> int:
        """Distinct sub-experiment circuits over all fragments (the ones that run)."""
        return sum(len(f.subexperiments) for f in self.fragments)

    @property
    def num_subexperiments_listed(self) -> int:
        """Sub-experiments qiskit-addon-cutting listed (duplicates included)."""
        return sum(f.terms.num_listed for f in self.fragments)

    @property
    def shots(self) -> int:
        """:math:`S`: shots per sub-experiment and binding (the average under a non-uniform allocation).

        Settable: the next runs spread :math:`S` times the distinct circuits."""
        return self._shots

    @shots.setter
    def shots(self, shots: int) -> None:
        shots = check_shots(shots)
        self.allocator.set_shots(shots)
        self._shots = shots
        self._circuit_shots = self.allocator.shots_per_circuit()

    @property
    def allocation(self) -> str:
        return self.allocator.allocation

    def circuit_shots(self) -> dict[Hashable, np.ndarray]:
        """Per fragment, the shots of each distinct circuit (class-major) in the next run."""
        out, start = {}, 0
        for frag in self.fragments:
            out[frag.label] = self._circuit_shots[start : start + len(frag.subexperiments)].copy()
            start += len(frag.subexperiments)
        return out

    def state(self) -> dict[str, np.ndarray]:
        """What a resumed run needs to continue bit-identically: adaptive scores, SPSA counters."""
        return {
            "score": self.allocator.state(),
            "spsa": np.array([self.spsa_step, self.spsa_draws], dtype=np.float64),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state` (counters are rounded: averaged states may hold fractions)."""
        self.allocator.load_state(np.asarray(state["score"]))
        step, draws = (round(float(x)) for x in np.asarray(state["spsa"], dtype=np.float64).reshape(2))
        self.spsa_step, self.spsa_draws = step, draws
        self._circuit_shots = self.allocator.shots_per_circuit()

    @property
    def fragment_labels(self) -> tuple[Hashable, ...]:
        return tuple(f.label for f in self.fragments)

    def fragment_parameters(self) -> dict[Hashable, tuple[Parameter, ...]]:
        """The circuit parameters owned by each fragment."""
        return {f.label: tuple(self.parameters[i] for i in f.parameters) for f in self.fragments}

    # -- execution -------------------------------------------------------------

    def run(self, parameter_values: Any, *, adapt: bool = True) -> SampledValues:
        """Sampled expectation values for a batch of bindings.

        Args:
            parameter_values: ``(B, P)`` (or ``(P,)`` for one binding), columns in
                ``circuit.parameters`` order.
            adapt: ``adaptive`` allocation: let this run's estimates set the
                next runs' shots (torch passes ``False`` for evaluation).
        """
        values = check_parameter_values(parameter_values, self.num_parameters)
        self._circuit_shots = shots = self.allocator.shots_per_circuit()
        pubs = [(circ, values[:, cols], int(n)) for (circ, cols), n in zip(self._circuits(), shots)]
        check_total_shots(_shots_of(pubs), self.max_total_shots, "this run")
        results = run_pubs(self.pool, pubs)
        estimates = self.reconstructor.estimates(self._by_label(results))
        if adapt:
            self._observe(estimates, shots)
        rec = self.reconstructor.combine(estimates)
        out = SampledValues(
            values=rec.values @ self.term_weights.T,
            stderr=rec.stderr @ np.abs(self.term_weights).T,
            cost=self._cost(pubs),
            parameter_values=values,
            estimates=estimates,
        )
        self.last_values = out
        return out

    def jacobian(self, parameter_values: Any, base: SampledValues | None = None) -> SampledJacobian:
        """Jacobian ``(B, n_observables, P)``: fragment-local parameter shift, or SPSA (``gradient``).

        Args:
            parameter_values: ``(B, P)`` bindings.
            base: the :meth:`run` result at these bindings, whose fragment
                estimates the parameter shift reuses (run here if not given);
                SPSA does not need it.
        """
        values = check_parameter_values(parameter_values, self.num_parameters)
        if self.gradient == "spsa":
            return self._spsa_jacobian(values)
        if base is None:
            base = self.run(values)
            cost: ExecutionCost | None = base.cost
        else:
            if base.parameter_values.shape != values.shape or not np.array_equal(
                base.parameter_values, values
            ):
                raise ValueError("base was computed at different parameter_values")
            cost = None
        num_b = values.shape[0]
        pubs, spans = [], []
        shots = self.circuit_shots()
        for frag in self.fragments:
            if frag.parameters.size == 0:
                continue
            start = len(pubs)
            for circ, cols, n in zip(frag.subexperiments, frag.columns, shots[frag.label]):
                pubs.append((circ, _shifted_bindings(values, cols, frag.parameters), int(n)))
            spans.append((frag, start, len(pubs)))
        jac = np.zeros((num_b, self.reconstructor.num_paulis, self.num_parameters))
        var = np.zeros_like(jac)
        if pubs:
            check_total_shots(_shots_of(pubs), self.max_total_shots, "this parameter-shift run")
            results = run_pubs(self.pool, pubs)
            for frag, start, stop in spans:
                shifted = self.reconstructor.fragment_estimates(frag.label, results[start:stop])
                grad = self.reconstructor.shift_gradient(base.estimates, frag.label, shifted)
                # grad: (P_f, B, n_paulis) -> (B, n_paulis, P_f)
                jac[:, :, frag.parameters] = np.moveaxis(grad.values, 0, -1)
                var[:, :, frag.parameters] = np.moveaxis(grad.stderr, 0, -1) ** 2
            shift_cost = self._cost(pubs)
            cost = shift_cost if cost is None else cost + shift_cost
        elif cost is None:
            cost = self._cost([])
        w = self.term_weights
        return SampledJacobian(
            jacobian=np.einsum("ot,btp->bop", w, jac),
            stderr=np.einsum("ot,btp->bop", np.abs(w), np.sqrt(var)),
            cost=cost,
        )

    def _spsa_jacobian(self, values: np.ndarray) -> SampledJacobian:
        """SPSA (:mod:`.spsa`): all circuits at ``values +- c_k Delta``, one PUB per circuit."""
        c = perturbation(self.spsa_perturbation, self.spsa_step)
        delta = rademacher(self.spsa_seed, self.spsa_draws, values)
        self.spsa_draws += 1
        both = np.stack([values + c * delta, values - c * delta])  # (2, B, P)
        pubs = [
            (circ, both[:, :, cols], int(n)) for (circ, cols), n in zip(self._circuits(), self._circuit_shots)
        ]
        check_total_shots(_shots_of(pubs), self.max_total_shots, "this SPSA run")
        results = run_pubs(self.pool, pubs)
        rec = self.reconstructor.combine(self.reconstructor.estimates(self._by_label(results)))
        slope = (rec.values[0] - rec.values[1]) / (2 * c)  # (B, n_paulis)
        slope_std = np.sqrt(rec.stderr[0] ** 2 + rec.stderr[1] ** 2) / (2 * c)
        w = self.term_weights
        obs_slope = slope @ w.T  # (B, n_obs)
        obs_std = slope_std @ np.abs(w).T
        return SampledJacobian(
            jacobian=obs_slope[:, :, None] * delta[:, None, :],
            stderr=np.broadcast_to(obs_std[:, :, None], (*obs_std.shape, delta.shape[1])).copy(),
            cost=self._cost(pubs),
        )

    # -- helpers ---------------------------------------------------------------

    def _circuits(self) -> list[tuple[QuantumCircuit, np.ndarray]]:
        """Every distinct circuit with its parameter columns, in PUB order."""
        return [pair for frag in self.fragments for pair in zip(frag.subexperiments, frag.columns)]

    def _by_label(self, results: list[Any]) -> dict[Hashable, list[Any]]:
        by_label, start = {}, 0
        for frag in self.fragments:
            by_label[frag.label] = results[start : start + len(frag.subexperiments)]
            start += len(frag.subexperiments)
        return by_label

    def _observe(self, estimates: dict[Hashable, FragmentEstimates], shots: np.ndarray) -> None:
        """Feed a forward run's class estimates and sensitivities to the adaptive allocation."""
        if self.allocation != "adaptive":
            return
        means = [estimates[frag.label].mean for frag in self.fragments]
        sens = self.reconstructor.merged.sensitivities(means)
        a_all, m_all, counts, start = [], [], [], 0
        for frag, mean, a in zip(self.fragments, means, sens):
            n = shots[start : start + len(frag.subexperiments)].reshape(-1, frag.terms.num_groups)
            start += len(frag.subexperiments)
            a_all.extend(a)
            m_all.extend(mean)
            counts.extend(n.mean(axis=1))
        self.allocator.observe(a_all, m_all, counts)

    def _cost(self, pubs: list[tuple[QuantumCircuit, np.ndarray, int]]) -> ExecutionCost:
        circuits = sum(int(np.prod(v.shape[:-1])) for _, v, _ in pubs)
        cost = ExecutionCost(
            shots_per_subexperiment=self.shots,
            num_subexperiments=self.num_subexperiments,
            num_pubs=len(pubs),
            num_circuits_executed=circuits,
            total_shots=_shots_of(pubs),
            sampling_overhead=self.sampling_overhead,
            num_subexperiments_listed=self.num_subexperiments_listed,
        )
        if pubs:
            self.total_cost = self.total_cost + cost
        return cost


def _shifted_bindings(values: np.ndarray, cols: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Bindings ``(2, P_f, B, P_sub)``: axis 0 is +pi/2 / -pi/2, axis 1 the shifted parameter."""
    sub = values[:, cols]
    out = np.broadcast_to(sub, (2, len(params), *sub.shape)).copy()
    position = {int(c): j for j, c in enumerate(cols)}
    for j, col in enumerate(params):
        if int(col) not in position:
            raise RuntimeError(f"parameter column {col} missing from a sub-experiment")
        out[0, j, :, position[int(col)]] += _SHIFT
        out[1, j, :, position[int(col)]] -= _SHIFT
    return out


def _shots_of(pubs: list[tuple[QuantumCircuit, np.ndarray, int]]) -> int:
    return sum(int(np.prod(v.shape[:-1], dtype=np.int64)) * shots for _, v, shots in pubs)


def _observable_terms(observables: ObservablesLike, num_qubits: int) -> tuple[PauliList, np.ndarray]:
    """Unique Pauli terms of all observables and the ``(n_observables, n_terms)`` weights."""
    if isinstance(observables, (SparsePauliOp, Pauli, str)):
        observables = [observables]
    ops = []
    for i, obs in enumerate(observables):
        try:
            op = SparsePauliOp(obs) if not isinstance(obs, SparsePauliOp) else obs
        except Exception as exc:
            raise ValueError(f"observable {i} ({obs!r}) is not a Pauli string or SparsePauliOp") from exc
        if op.num_qubits != num_qubits:
            raise ValueError(
                f"observable {i} acts on {op.num_qubits} qubits but the circuit has {num_qubits}"
            )
        # sum equal Paulis before checking: (1+1j)P + (1-1j)P is 2P (as cut-exact checks)
        if np.any(np.abs(op.simplify().coeffs.imag) > 1e-12):
            raise ValueError(f"observable {i} has complex coefficients; it must be Hermitian")
        ops.append(op.simplify(atol=0.0))
    if not ops:
        raise ValueError("no observables given")
    index: dict[str, int] = {}
    labels: list[str] = []
    rows = []
    for op in ops:
        row: dict[int, float] = {}
        for label, coeff in op.to_list():
            if label not in index:
                index[label] = len(labels)
                labels.append(label)
            row[index[label]] = row.get(index[label], 0.0) + float(np.real(coeff))
        rows.append(row)
    weights = np.zeros((len(ops), len(labels)))
    for i, row in enumerate(rows):
        for j, w in row.items():
            weights[i, j] = w
    return PauliList(labels), weights


def _free_parameters(op: Any) -> set[Parameter]:
    found: set[Parameter] = set()
    for p in getattr(op, "params", []):
        if isinstance(p, ParameterExpression):
            found |= set(p.parameters)
    return found


def _check_cut_gates_unparameterised(
    circuit: QuantumCircuit, partition_labels: Sequence[Hashable] | None
) -> None:
    for index, inst in enumerate(circuit.data):
        if inst.operation.name == "barrier" or len(inst.qubits) < 2:
            continue
        qubits = [circuit.find_bit(q).index for q in inst.qubits]
        marked = isinstance(inst.operation, TwoQubitQPDGate)
        spans = partition_labels is not None and len({partition_labels[q] for q in qubits}) > 1
        if not (marked or spans):
            continue
        free = _free_parameters(inst.operation)
        if free:
            names = ", ".join(sorted(p.name for p in free))
            raise ValueError(
                f"cut gate {inst.operation.name} on qubits {qubits} (instruction {index}) carries "
                f"trainable parameter(s) {names}; the QPD of a cut gate is fixed when the "
                "sub-experiments are generated, so the ansatz must keep parameters off cut gates "
                "(put them on single-qubit rotations) or the partition must not cut this gate"
            )


def _check_rotation_parameters(circuit: QuantumCircuit) -> None:
    """Each parameter must be the bare angle of exactly one RX/RY/RZ gate (exact shift rule)."""
    if isinstance(circuit.global_phase, ParameterExpression) and circuit.global_phase.parameters:
        raise ValueError("circuit global phase depends on parameters; not supported")
    uses: dict[Parameter, int] = {}
    for inst in circuit.data:
        op = inst.operation
        free = _free_parameters(op)
        if not free:
            continue
        if not isinstance(op, _ROTATIONS):
            names = ", ".join(sorted(p.name for p in free))
            raise ValueError(
                f"parameter(s) {names} used by a '{op.name}' gate; the parameter-shift gradient "
                "needs every parameter in a single-qubit RX/RY/RZ gate"
            )
        angle = op.params[0]
        if not isinstance(angle, Parameter):
            raise ValueError(
                f"{op.name} angle {angle} is an expression; the parameter-shift gradient needs "
                "the bare parameter as the angle"
            )
        uses[angle] = uses.get(angle, 0) + 1
    repeated = sorted(p.name for p, n in uses.items() if n > 1)
    if repeated:
        raise ValueError(
            f"parameter(s) {', '.join(repeated)} appear in more than one gate; the "
            "parameter-shift gradient needs each parameter in exactly one RX/RY/RZ gate"
        )
