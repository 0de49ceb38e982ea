"""Partitioner: costs, graph, known optima, capacities, errors, JSON.

Optima are checked against independent references: a brute-force enumeration
of qubit partitions (gate cuts only) scored with qiskit-addon-cutting's QPD
overheads, closed forms for hand-made circuits, and find_cuts where it proves
its own minimum.
"""

from __future__ import annotations

import itertools
import json
import math

import networkx as nx
import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.circuit.library import CXGate, CZGate, RZZGate, SwapGate
from qiskit_addon_cutting.instructions import Move
from qiskit_addon_cutting.qpd import qpdbasis_from_instruction

from partitioner import (
    CutPlan,
    PlanError,
    build_model,
    gate_cut_cost,
    interaction_graph,
    plan_cuts,
    wire_cut_cost,
)
from partitioner.costs import UncuttableGateError

# ---------------------------------------------------------------- helpers


def random_circuit(n: int, gates: int, seed: int, kinds=("cx",)) -> QuantumCircuit:
    rng = np.random.default_rng(seed)
    qc = QuantumCircuit(n)
    for q in range(n):
        qc.ry(float(rng.uniform(0, 2 * np.pi)), q)
    for _ in range(gates):
        a, b = (int(x) for x in rng.choice(n, 2, replace=False))
        kind = kinds[int(rng.integers(len(kinds)))]
        if kind == "cx":
            qc.cx(a, b)
        elif kind == "cz":
            qc.cz(a, b)
        elif kind == "rzz":
            qc.rzz(float(rng.uniform(0, np.pi)), a, b)
        qc.ry(float(rng.uniform(0, 2 * np.pi)), b)
    return qc


def set_partitions(n: int, max_block: int):
    """All partitions of range(n) as restricted-growth label tuples, blocks <= max_block."""

    def rec(prefix: list[int], sizes: list[int]):
        if len(prefix) == n:
            yield tuple(prefix)
            return
        for b in range(len(sizes) + 1):
            if b < len(sizes) and sizes[b] >= max_block:
                continue
            if b == len(sizes):
                sizes.append(0)
            sizes[b] += 1
            prefix.append(b)
            yield from rec(prefix, sizes)
            prefix.pop()
            sizes[b] -= 1
            if sizes[b] == 0:
                sizes.pop()

    yield from rec([], [])


def fits(labels: tuple[int, ...], caps) -> bool:
    widths = sorted(np.bincount(labels).tolist(), reverse=True)
    if isinstance(caps, int):
        return max(widths) <= caps
    if len(widths) > len(caps):
        return False
    return any(
        all(w <= c for w, c in zip(widths, perm)) for perm in itertools.permutations(caps, len(widths))
    )


def two_qubit_gate_logs(circuit: QuantumCircuit) -> list[tuple[int, int, float]]:
    """(qubit, qubit, log gamma^2) of every two-qubit gate, from qiskit-addon-cutting's QPDs."""
    out = []
    for inst in circuit.data:
        qs = [circuit.find_bit(q).index for q in inst.qubits]
        if len(qs) == 2:
            out.append((qs[0], qs[1], math.log(qpdbasis_from_instruction(inst.operation).overhead)))
    return out


def brute_force_gate_only(circuit: QuantumCircuit, caps) -> float:
    """Minimum over all qubit partitions that fit ``caps`` of the gate-cut log overhead."""
    gates = two_qubit_gate_logs(circuit)
    max_block = caps if isinstance(caps, int) else max(caps)
    return min(
        sum(w for a, b, w in gates if labels[a] != labels[b])
        for labels in set_partitions(circuit.num_qubits, max_block)
        if fits(labels, caps)
    )


def assert_fits(plan: CutPlan, caps) -> None:
    assert sum(plan.fragment_widths) == plan.num_qubits + plan.num_wire_cuts
    if isinstance(caps, int):
        assert all(f.capacity == caps and f.width <= caps for f in plan.fragments)
    else:
        qpus = [f.qpu for f in plan.fragments]
        assert len(set(qpus)) == len(qpus), "two fragments on one QPU"
        for f in plan.fragments:
            assert f.capacity == caps[f.qpu] and f.width <= f.capacity


def dense_blocks(block: int, links: list[tuple[int, int]], rounds: int = 2) -> QuantumCircuit:
    """Two all-to-all blocks of ``block`` qubits; ``links`` CNOTs between them mid-circuit."""
    qc = QuantumCircuit(2 * block)
    for r in range(rounds):
        for base in (0, block):
            for a, b in itertools.combinations(range(base, base + block), 2):
                qc.cx(a, b)
                qc.ry(0.1 * (a + b + r), b)
        if r == 0:
            for a, b in links:
                qc.cx(a, b)
    return qc


# ---------------------------------------------------------------- costs and graph


def test_cut_costs_come_from_the_qpd():
    assert gate_cut_cost(CXGate()).overhead == pytest.approx(9.0)
    assert gate_cut_cost(CZGate()).overhead == pytest.approx(9.0)
    assert gate_cut_cost(SwapGate()).overhead == pytest.approx(49.0)
    assert gate_cut_cost(CXGate()).num_terms == 6
    for theta in (0.3, 1.1, 2.9):
        expected = (1 + 2 * abs(math.sin(theta))) ** 2
        assert gate_cut_cost(RZZGate(theta)).overhead == pytest.approx(expected, rel=1e-12)
    assert wire_cut_cost().overhead == pytest.approx(16.0)
    assert wire_cut_cost().num_terms == len(qpdbasis_from_instruction(Move()).coeffs)
    with pytest.raises(UncuttableGateError, match="unbound parameters"):
        gate_cut_cost(RZZGate(Parameter("t")))


def test_interaction_graph_weights_multiply_overheads():
    qc = QuantumCircuit(3)
    qc.cx(0, 1)
    qc.rzz(0.4, 0, 1)
    qc.swap(1, 2)
    qc.h(2)
    g = interaction_graph(qc)
    assert isinstance(g, nx.Graph) and sorted(g.nodes) == [0, 1, 2]
    assert sorted(g.edges) == [(0, 1), (1, 2)]
    o01 = 9 * (1 + 2 * math.sin(0.4)) ** 2
    assert g.edges[0, 1]["overhead"] == pytest.approx(o01)
    assert g.edges[0, 1]["weight"] == pytest.approx(math.log(o01))
    assert g.edges[0, 1]["gates"] == [0, 1]
    assert g.edges[1, 2]["weight"] == pytest.approx(math.log(49))


@pytest.mark.parametrize("seed", range(4))
def test_plan_cost_is_the_cut_of_the_time_expanded_graph(seed):
    from partitioner import time_expanded_graph

    qc = random_circuit(10, 18, seed=40 + seed, kinds=("cx", "rzz"))
    plan = plan_cuts(qc, 3 + seed % 2)
    graph = time_expanded_graph(qc)
    # fragment of event (q, j): the segment of q that contains j, from the plan's wire cuts
    wire_at = {q: sorted(c.index for c in plan.cuts if c.kind == "wire" and c.qubits == (q,))
               for q in range(qc.num_qubits)}
    frag = {(q, j): plan.segments[q][sum(i <= data["index"] for i in wire_at[q])]
            for (q, j), data in graph.nodes(data=True)}
    cut = sum(d["weight"] for a, b, d in graph.edges(data=True) if frag[a] != frag[b])
    assert cut == pytest.approx(plan.log_overhead)
    assert sum(d["kind"] == "wire" for a, b, d in graph.edges(data=True) if frag[a] != frag[b]) == plan.num_wire_cuts


def test_three_qubit_gate_is_an_uncuttable_edge():
    qc = QuantumCircuit(3)
    qc.ccx(0, 1, 2)
    g = interaction_graph(qc)
    assert all(math.isinf(d["weight"]) for _, _, d in g.edges(data=True))
    model = build_model(qc)
    assert model.uncuttable()[0].reason


# ---------------------------------------------------------------- known optima


@pytest.mark.parametrize("k", [1, 2, 3])
def test_two_dense_blocks_joined_by_k_cnots(k):
    links = [(i, 4 + i) for i in range(k)]
    qc = dense_blocks(4, links)
    plan = plan_cuts(qc, 4)
    assert plan.sampling_overhead == pytest.approx(9.0**k)
    assert plan.num_gate_cuts == k and plan.num_wire_cuts == 0
    assert sorted(f.qubits for f in plan.fragments) == [(0, 1, 2, 3), (4, 5, 6, 7)]
    link_ids = [i for i, inst in enumerate(qc.data)
                if len(inst.qubits) == 2 and {qc.find_bit(q).index // 4 for q in inst.qubits} == {0, 1}]
    assert sorted(c.index for c in plan.cuts) == link_ids
    assert plan.log_overhead == pytest.approx(brute_force_gate_only(qc, 4))
    assert_fits(plan, 4)


@pytest.mark.parametrize("n,cap,layers", [(6, 2, 1), (7, 3, 2), (8, 4, 1), (8, 3, 2)])
def test_chain(n, cap, layers):
    from dqlstm.circuits import build_vqc

    qc = build_vqc("brick", n_qubits=n, layers=layers).circuit
    plan = plan_cuts(qc, cap)
    expected = 9.0 ** (layers * (math.ceil(n / cap) - 1))
    assert plan.sampling_overhead == pytest.approx(expected)
    assert plan.log_overhead == pytest.approx(brute_force_gate_only(qc, cap))
    assert_fits(plan, cap)


@pytest.mark.parametrize("n,cap", [(6, 3), (8, 3), (8, 4), (7, 2)])
def test_ring(n, cap):
    qc = QuantumCircuit(n)
    for q in range(n):
        qc.ry(0.2 * q, q)
    for q in range(n):
        qc.cx(q, (q + 1) % n)
    plan = plan_cuts(qc, cap)
    # k arcs cut k ring edges
    assert plan.sampling_overhead == pytest.approx(9.0 ** math.ceil(n / cap))
    assert plan.log_overhead == pytest.approx(brute_force_gate_only(qc, cap))
    assert_fits(plan, cap)


@pytest.mark.parametrize("n,module,layers", [(6, 3, 2), (12, 3, 2), (12, 4, 1), (15, 5, 2)])
def test_modular_without_links_needs_no_cut(n, module, layers):
    from dqlstm.circuits import build_vqc

    g = build_vqc("modular", n_qubits=n, layers=layers, module_size=module, links=0)
    for cap in (module, module + 2, n):
        plan = plan_cuts(g.circuit, cap)
        assert plan.num_cuts == 0 and plan.sampling_overhead == 1.0
        assert sorted(f.qubits for f in plan.fragments) == sorted(g.modules)
        assert plan.num_subexperiments == len(g.modules)


@pytest.mark.parametrize("family,n,links", [("modular", 48, 1), ("modular", 24, 2), ("brick", 16, 0)])
def test_larger_qpus_get_no_costlier_plans_on_these_circuits(family, n, links):
    # a plan for small QPUs also fits larger ones; the sweep once found 174 of 2880 plans
    # where growth filled a larger QPU across module boundaries (modular-l1 48 qubits: 1e21.9
    # on 5-qubit QPUs against 1e14.3 on 3-qubit ones). Best effort in general: the sweep
    # still lists 14 (modular-l2).
    from dqlstm.circuits import build_vqc

    kw = {"module_size": 3, "links": links} if family == "modular" else {}
    g = build_vqc(family, n, 1, **kw)
    overheads = [plan_cuts(g.circuit, cap).log_overhead for cap in range(3, 13)]
    for smaller, larger in itertools.pairwise(overheads):
        assert larger <= smaller + 1e-9, overheads


@pytest.mark.parametrize("n,module,links,layers", [(6, 3, 1, 2), (9, 3, 2, 1), (12, 3, 1, 2), (12, 4, 2, 2)])
def test_modular_links_are_the_cuts(n, module, links, layers):
    from dqlstm.circuits import build_vqc

    g = build_vqc("modular", n_qubits=n, layers=layers, module_size=module, links=links)
    qc = g.circuit
    module_of = {q: m for m, qs in enumerate(g.modules) for q in qs}
    inter = [i for i, inst in enumerate(qc.data)
             if len(inst.qubits) == 2 and len({module_of[qc.find_bit(q).index] for q in inst.qubits}) == 2]
    assert len(inter) == links * layers * (len(g.modules) - 1)
    plan = plan_cuts(qc, module)
    assert [c.index for c in plan.cuts] == inter
    assert all(c.kind == "gate" for c in plan.cuts)
    assert plan.sampling_overhead == pytest.approx(9.0 ** len(inter))
    assert sorted(f.qubits for f in plan.fragments) == sorted(g.modules)
    assert_fits(plan, module)


def test_wire_cut_for_a_qubit_that_changes_group():
    # q6 talks to {0,1,2} three times, then to {3,4,5} three times
    qc = QuantumCircuit(7)
    for base in (0, 3):
        for a, b in itertools.combinations(range(base, base + 3), 2):
            qc.cx(a, b)
    for q in (0, 1, 2):
        qc.cx(6, q)
    for q in (3, 4, 5):
        qc.cx(6, q)
    for base in (0, 3):
        for a, b in itertools.combinations(range(base, base + 3), 2):
            qc.cz(a, b)
    gate_only = plan_cuts(qc, 4, wire_cuts=False)
    assert gate_only.sampling_overhead == pytest.approx(9.0**3)
    assert gate_only.log_overhead == pytest.approx(brute_force_gate_only(qc, 4))
    plan = plan_cuts(qc, 4)
    assert plan.sampling_overhead == pytest.approx(16.0)
    (cut,) = plan.cuts
    assert cut.kind == "wire" and cut.qubits == (6,)
    # between q6's last gate with the first group and its first with the second
    first_late = [i for i, inst in enumerate(qc.data) if [qc.find_bit(q).index for q in inst.qubits] == [6, 3]][0]
    assert cut.index == first_late
    assert sorted(f.qubits for f in plan.fragments) == [(0, 1, 2, 6), (3, 4, 5, 6)]
    assert plan.segments[6] == (plan.fragments.index(next(f for f in plan.fragments if 0 in f.qubits)),
                                plan.fragments.index(next(f for f in plan.fragments if 3 in f.qubits)))
    assert_fits(plan, 4)


def test_never_worse_than_find_cuts_minimum():
    from partitioner.baseline import find_cuts_plan, find_cuts_positions

    qc = random_circuit(6, 10, seed=3)
    for cap in (3, 4):
        _, _, meta = find_cuts_positions(qc, cap, seed=1)
        assert meta["minimum_reached"]
        plan = plan_cuts(qc, cap)
        assert plan.sampling_overhead <= meta["sampling_overhead"] * (1 + 1e-9)
        assert_fits(plan, cap)
        # find_cuts' cuts as a CutPlan: same overhead, fits, and the guard keeps the cheaper
        theirs = find_cuts_plan(qc, cap, seed=1)
        assert theirs.sampling_overhead == pytest.approx(meta["sampling_overhead"])
        assert_fits(theirs, cap)
        assert math.prod(b.overhead for b in theirs.apply(qc).bases) == pytest.approx(
            theirs.sampling_overhead)
        guarded = plan_cuts(qc, cap, compare_find_cuts=True)
        assert guarded.log_overhead <= min(plan.log_overhead, theirs.log_overhead) + 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_gate_only_plan_is_the_brute_force_optimum(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 8))
    qc = random_circuit(n, int(rng.integers(n, 2 * n)), seed=seed, kinds=("cx", "cz", "rzz"))
    cap = int(rng.integers(2, n))
    plan = plan_cuts(qc, cap, wire_cuts=False)
    assert plan.log_overhead == pytest.approx(brute_force_gate_only(qc, cap), abs=1e-9)
    assert plan.gate_optimal
    assert_fits(plan, cap)
    # wire cuts may only help
    assert plan_cuts(qc, cap).log_overhead <= plan.log_overhead + 1e-9


@pytest.mark.parametrize("caps", [[4, 2, 2], [5, 3], [3, 3, 1, 1], [6, 2]])
def test_heterogeneous_capacities(caps):
    qc = random_circuit(8, 12, seed=sum(caps) * 7 + len(caps))
    plan = plan_cuts(qc, caps, wire_cuts=False)
    assert plan.log_overhead == pytest.approx(brute_force_gate_only(qc, caps), abs=1e-9)
    assert_fits(plan, caps)
    full = plan_cuts(qc, caps)
    assert full.log_overhead <= plan.log_overhead + 1e-9
    assert_fits(full, caps)


def test_heterogeneous_list_keeps_one_fragment_per_qpu():
    from dqlstm.circuits import build_vqc

    g = build_vqc("modular", n_qubits=9, layers=1, module_size=3, links=0)
    plan = plan_cuts(g.circuit, [6, 3])  # three modules, two QPUs: two share the big one
    assert plan.num_cuts == 0 and plan.num_fragments == 2
    assert sorted(plan.fragment_widths) == [3, 6]
    assert_fits(plan, [6, 3])


@pytest.mark.parametrize("seed", range(5))
def test_random_plans_are_consistent(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(8, 17))
    qc = random_circuit(n, 2 * n, seed=seed, kinds=("cx", "cz", "rzz"))
    cap = int(rng.integers(3, 9))
    plan = plan_cuts(qc, cap)
    assert_fits(plan, cap)
    assert plan.sampling_overhead == pytest.approx(math.prod(c.overhead for c in plan.cuts))
    problem = plan.apply(qc)
    # qiskit-addon-cutting's own bases give the same overhead
    assert math.prod(b.overhead for b in problem.bases) == pytest.approx(plan.sampling_overhead, rel=1e-9)
    assert {k: c.num_qubits for k, c in problem.subcircuits.items()} == dict(enumerate(plan.fragment_widths))
    # never worse than cutting without wire cuts, nor than a deterministic restart
    assert plan.log_overhead <= plan_cuts(qc, cap, wire_cuts=False).log_overhead + 1e-9
    assert plan_cuts(qc, cap) == plan


# ---------------------------------------------------------------- uncuttable gates


def test_parameterised_two_qubit_gates_are_never_cut():
    t = Parameter("t")
    qc = QuantumCircuit(4)
    qc.rzz(t, 1, 2)
    qc.cx(0, 1)
    qc.cx(2, 3)
    plan = plan_cuts(qc, 2)
    assert any({1, 2} <= set(f.qubits) for f in plan.fragments)
    assert all(c.index != 0 for c in plan.cuts if c.kind == "gate")
    # with capacity 1 it would have to be cut
    with pytest.raises(PlanError, match=r"rzz on qubits \(1, 2\).*unbound parameters"):
        plan_cuts(qc, 1)


def test_applying_a_cut_on_a_parameterised_gate_is_refused():
    qc = QuantumCircuit(2)
    qc.rzz(0.5, 0, 1)
    plan = plan_cuts(qc, 1)
    assert plan.num_gate_cuts == 1
    t = Parameter("t")
    symbolic = QuantumCircuit(2)
    symbolic.rzz(t, 0, 1)
    with pytest.raises(PlanError, match="unbound parameters"):
        plan.apply(symbolic)


# ---------------------------------------------------------------- errors


def test_error_empty_circuit():
    with pytest.raises(PlanError, match="no qubits"):
        plan_cuts(QuantumCircuit(), 3)
    with pytest.raises(PlanError, match="no instructions"):
        plan_cuts(QuantumCircuit(3), 3)


@pytest.mark.parametrize("what", ["measure", "reset", "if_test", "clbits"])
def test_error_non_unitary(what):
    qc = QuantumCircuit(2, 1) if what in ("measure", "if_test", "clbits") else QuantumCircuit(2)
    qc.cx(0, 1)
    if what == "measure":
        qc.measure(1, 0)
    elif what == "reset":
        qc.reset(0)
    elif what == "if_test":
        with qc.if_test((qc.clbits[0], 1)):
            qc.x(0)
    with pytest.raises(PlanError, match={"measure": "measurement", "reset": "reset",
                                         "if_test": "classically controlled",
                                         "clbits": "classical bits"}[what]):
        plan_cuts(qc, 2)


def test_error_gate_wider_than_every_qpu():
    qc = QuantumCircuit(4)
    qc.ccx(0, 1, 2)
    qc.cx(2, 3)
    with pytest.raises(PlanError, match=r"qubits \(0, 1, 2\).*ccx.*largest QPU has 2"):
        plan_cuts(qc, [2, 2, 2])
    assert plan_cuts(qc, 3).num_cuts == 1


def test_error_capacities_too_small():
    qc = random_circuit(8, 8, seed=1)
    with pytest.raises(PlanError, match=r"\[3, 3\] hold 6 qubits.*8 qubits"):
        plan_cuts(qc, [3, 3])
    # enough qubits in total, but the uncuttable pair {3, 4} finds no free QPU
    g = QuantumCircuit(5)
    g.ccx(0, 1, 2)
    g.rzz(Parameter("t"), 3, 4)
    with pytest.raises(PlanError, match=r"sizes \[3, 2\].*fits the QPUs \[3, 1, 1\]"):
        plan_cuts(g, [3, 1, 1])


@pytest.mark.parametrize("bad", [0, -1, [], [3, 0], "3", [2.5], True])
def test_error_invalid_capacity(bad):
    with pytest.raises(ValueError):
        plan_cuts(random_circuit(3, 2, seed=0), bad)


def test_error_not_a_circuit():
    with pytest.raises(TypeError):
        plan_cuts("not a circuit", 3)


# ---------------------------------------------------------------- plan object


def test_plan_json_round_trip_and_summary():
    qc = dense_blocks(3, [(0, 3), (1, 4)])
    plan = plan_cuts(qc, 3)
    data = json.loads(plan.to_json())
    assert data["num_fragments"] == plan.num_fragments == 2
    assert data["num_cuts"] == plan.num_cuts == 2
    assert data["sampling_overhead"] == pytest.approx(81.0)
    assert data["fragment_widths"] == [3, 3]
    assert data["num_subexperiments"] == 2 * 6 * 6
    assert CutPlan.from_json(plan.to_json()) == plan
    assert CutPlan.from_dict(plan.to_dict()).to_dict() == plan.to_dict()


def test_plan_checks_the_circuit_it_is_applied_to():
    qc = dense_blocks(3, [(0, 3)])
    plan = plan_cuts(qc, 3)
    with pytest.raises(PlanError, match="plan is for 6 qubits"):
        plan.apply(QuantumCircuit(5))
    other = dense_blocks(3, [(1, 4)])
    with pytest.raises(PlanError, match="plan expects cx on"):
        plan.apply(other)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6))
def test_never_worse_than_find_cuts_on_random_circuits(seed):
    from partitioner.baseline import find_cuts_positions

    rng = np.random.default_rng(500 + seed)
    n = int(rng.integers(7, 10))
    qc = random_circuit(n, int(rng.integers(n, 2 * n)), seed=500 + seed, kinds=("cx", "cz", "rzz"))
    cap = int(rng.integers(3, n - 1))
    _, _, meta = find_cuts_positions(qc, cap, seed=0)
    plan = plan_cuts(qc, cap)
    assert plan.sampling_overhead <= meta["sampling_overhead"] * (1 + 1e-9)
    assert_fits(plan, cap)
