"""Applying a plan with qiskit-addon-cutting reconstructs the uncut expectation values exactly.

Subexperiments from ``generate_cutting_experiments`` with exact weights
(``num_samples=inf``) are evaluated exactly (qiskit Statevector, branching on
the mid-circuit QPD measurements: ``ExactSampler``) and recombined with
``reconstruct_expectation_values``; the reference is the Statevector
expectation value of the uncut circuit.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import PauliList, SparsePauliOp, Statevector
from qiskit_addon_cutting import generate_cutting_experiments, reconstruct_expectation_values
from qiskit_addon_cutting.utils.observable_grouping import ObservableCollection
from qiskit_addon_cutting.utils.simulation import ExactSampler

from partitioner import expand_wire_cuts, plan_cuts


def reconstruct(plan, circuit, observables: PauliList, values: dict | None = None) -> np.ndarray:
    problem = plan.apply(circuit, observables)
    subexperiments, coefficients = generate_cutting_experiments(
        problem.subcircuits, problem.subobservables, num_samples=np.inf
    )
    results = {}
    for label, circuits in subexperiments.items():
        if values is not None:
            circuits = [c.assign_parameters({p: values[p] for p in c.parameters}) for c in circuits]
        assert all(not c.parameters for c in circuits)
        results[label] = ExactSampler().run(circuits).result()
    return np.array(reconstruct_expectation_values(results, coefficients, problem.subobservables))


def exact(circuit: QuantumCircuit, observables: PauliList, values: dict | None = None) -> np.ndarray:
    bound = circuit.assign_parameters(values) if values else circuit
    sv = Statevector(bound)
    return np.array([sv.expectation_value(SparsePauliOp(p)).real for p in observables])


def random_paulis(n: int, count: int, seed: int) -> PauliList:
    rng = np.random.default_rng(seed)
    return PauliList(["".join(rng.choice(list("IXYZ"), n)) for _ in range(count)])


def test_two_gate_cuts():
    qc = QuantumCircuit(4)
    rng = np.random.default_rng(0)
    for q in range(4):
        qc.ry(rng.uniform(0, 6), q)
    qc.cx(0, 1)
    qc.cx(2, 3)
    qc.cx(1, 2)
    qc.rz(rng.uniform(0, 6), 2)
    qc.cz(0, 1)
    qc.cx(2, 3)
    qc.rzz(0.7, 1, 2)
    qc.ry(rng.uniform(0, 6), 1)
    plan = plan_cuts(qc, 2)
    assert plan.num_gate_cuts == 2 and plan.num_wire_cuts == 0
    obs = random_paulis(4, 6, seed=1)
    np.testing.assert_allclose(reconstruct(plan, qc, obs), exact(qc, obs), atol=1e-8)


def test_wire_cut():
    qc = QuantumCircuit(5)
    rng = np.random.default_rng(2)
    for q in range(5):
        qc.ry(rng.uniform(0, 6), q)
    qc.cx(0, 1)
    qc.cx(4, 0)
    qc.cx(4, 1)
    qc.ry(rng.uniform(0, 6), 4)
    qc.cx(4, 2)
    qc.cx(4, 3)
    qc.cx(2, 3)
    plan = plan_cuts(qc, 3)
    assert plan.num_wire_cuts == 1 and plan.num_gate_cuts == 0
    obs = random_paulis(5, 5, seed=3)
    np.testing.assert_allclose(reconstruct(plan, qc, obs), exact(qc, obs), atol=1e-8)


def test_wire_cuts_on_one_qubit_around_another_qubits_cut():
    # q0 is cut twice around a cut on q1: cut_wires alone miscounts this (see expand_wire_cuts)
    from partitioner import PlanError
    from partitioner.plan import Cut, CutPlan, Fragment

    qc = QuantumCircuit(4)
    for q in range(4):
        qc.ry(0.3 + q, q)
    qc.cx(0, 1)  # 4: q0 and q1 in fragment 0
    qc.cx(0, 2)  # 5: q0 moved to fragment 1
    qc.cx(1, 2)  # 6: q1 moved to fragment 1
    qc.cx(0, 3)  # 7: q0 back in fragment 0
    wires = [(5, 0), (6, 1), (7, 0)]
    expanded = expand_wire_cuts(qc, wires)
    assert expanded.num_qubits == 7
    assert [inst.operation.name for inst in expanded.data].count("qpd_2q") == 3
    plan = CutPlan(
        num_qubits=4,
        max_qubits=4,
        fragments=(Fragment((0, 1, 3), 4, 4), Fragment((0, 1, 2), 3, 4)),
        cuts=(
            Cut("wire", 5, (0,), "cx", 16.0, 8, (0, 1)),
            Cut("wire", 6, (1,), "cx", 16.0, 8, (0, 1)),
            Cut("wire", 7, (0,), "cx", 16.0, 8, (1, 0)),
        ),
        segments=((0, 1, 0), (0, 1), (1,), (0,)),
    )
    assert plan.partition_labels == (0, 1, 0, 0, 1, 1, 0)
    obs = PauliList(["ZXZY", "XIYZ"])  # 512 QPD terms: keep the groups few
    np.testing.assert_allclose(reconstruct(plan, qc, obs), exact(qc, obs), atol=1e-8)
    # a gate across fragments that the plan does not list is refused
    extra = qc.copy()
    extra.cx(1, 3)
    with pytest.raises(PlanError, match="does not belong"):
        plan.apply(extra)


def test_planned_wire_and_gate_cuts_together():
    # q6 changes group mid-circuit (wire cut) and one CNOT joins the groups (gate cut)
    qc = QuantumCircuit(7)
    rng = np.random.default_rng(4)
    for q in range(7):
        qc.ry(rng.uniform(0, 6), q)
    for base in (0, 3):
        for a, b in itertools.combinations(range(base, base + 3), 2):
            qc.cx(a, b)
    for q in (0, 1, 2, 3, 4, 5):
        qc.cx(6, q)
        qc.ry(rng.uniform(0, 6), 6)
    qc.cx(2, 3)
    plan = plan_cuts(qc, 4)
    assert plan.num_wire_cuts == 1 and plan.num_gate_cuts == 1
    obs = random_paulis(7, 4, seed=6)
    np.testing.assert_allclose(reconstruct(plan, qc, obs), exact(qc, obs), atol=1e-8)


def test_parameterised_modular_ansatz_binds_after_cutting():
    from dqlstm.circuits import build_vqc

    g = build_vqc("modular", n_qubits=6, layers=1, module_size=3, links=1)
    plan = plan_cuts(g.circuit, 3)
    assert plan.num_cuts == 1
    problem = plan.apply(g.circuit)
    # uncut gates keep their symbolic parameters in the subcircuits
    kept = set().union(*(c.parameters for c in problem.subcircuits.values()))
    assert kept == set(g.circuit.parameters)
    rng = np.random.default_rng(7)
    obs = PauliList(["ZIIIII", "IIIZII", "ZZZZZZ", "XIIIIY"])
    for _ in range(2):
        values = {p: float(rng.uniform(-np.pi, np.pi)) for p in g.circuit.parameters}
        np.testing.assert_allclose(
            reconstruct(plan, g.circuit, obs, values), exact(g.circuit, obs, values), atol=1e-8
        )


def test_heterogeneous_capacities_reconstruct():
    qc = QuantumCircuit(5)
    rng = np.random.default_rng(8)
    for q in range(5):
        qc.ry(rng.uniform(0, 6), q)
    for a, b in [(0, 1), (1, 2), (3, 4), (2, 3), (0, 2), (4, 3), (1, 4)]:
        qc.cx(a, b)
        qc.rx(rng.uniform(0, 6), b)
    plan = plan_cuts(qc, [3, 2])
    assert sorted(plan.fragment_widths) == [2, 3] and plan.num_cuts == 2
    obs = PauliList(["ZIIII", "IIZII", "IIIIZ", "XYZXY"])
    np.testing.assert_allclose(reconstruct(plan, qc, obs), exact(qc, obs), atol=1e-8)


def test_subexperiment_count_matches_qiskit_addon_cutting():
    qc = QuantumCircuit(6)
    for q in range(6):
        qc.ry(0.1 * q, q)
    for a, b in [(0, 1), (1, 2), (3, 4), (4, 5), (2, 3), (0, 5), (1, 4)]:
        qc.cx(a, b)
    plan = plan_cuts(qc, 3)
    obs = PauliList(["ZZZZZZ", "ZIIIIZ"])  # one commuting group on every fragment
    problem = plan.apply(qc, obs)
    subs, coeffs = generate_cutting_experiments(problem.subcircuits, problem.subobservables, np.inf)
    groups = {k: len(ObservableCollection(v).groups) for k, v in problem.subobservables.items()}
    assert set(groups.values()) == {1}
    assert sum(len(v) for v in subs.values()) == plan.num_subexperiments
    assert len(coeffs) == plan.num_qpd_terms


def test_barriers_and_idle_qubits():
    qc = QuantumCircuit(5)  # qubit 4 never used
    for q in range(4):
        qc.ry(0.3 + q, q)
    qc.cx(0, 1)
    qc.barrier()
    qc.cx(2, 3)
    qc.cx(1, 2)
    qc.barrier(0, 1, 2)
    qc.cx(0, 1)
    qc.cx(2, 3)
    plan = plan_cuts(qc, 2)
    assert plan.num_cuts == 1
    assert sorted(f.qubits for f in plan.fragments) == [(0, 1), (2, 3), (4,)]
    obs = PauliList(["ZZZZZ", "XIZIZ", "IIIZI"])
    np.testing.assert_allclose(reconstruct(plan, qc, obs), exact(qc, obs), atol=1e-8)


def test_sparse_pauli_op_observable():
    qc = QuantumCircuit(4)
    for q in range(4):
        qc.ry(0.4 + 0.3 * q, q)
    qc.cx(0, 1)
    qc.cx(2, 3)
    qc.cx(1, 2)
    qc.cx(0, 1)
    qc.cz(2, 3)
    plan = plan_cuts(qc, 2)
    op = SparsePauliOp(["ZZII", "IXIZ", "YIIY"], coeffs=[0.5, -1.25, 2.0])
    values = reconstruct(plan, qc, op.paulis)
    # plan.apply takes the SparsePauliOp itself and uses its Pauli terms
    assert plan.apply(qc, op).subobservables == plan.apply(qc, op.paulis).subobservables
    assert float(np.dot(op.coeffs.real, values)) == pytest.approx(
        Statevector(qc).expectation_value(op).real, abs=1e-8)
