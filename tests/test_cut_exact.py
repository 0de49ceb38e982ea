"""cut-exact against the uncut exact engine, qiskit Statevector and Aer MPS."""

import numpy as np
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector
from qiskit.quantum_info import SparsePauliOp, Statevector

from dqlstm.circuits import build_vqc
from dqlstm.cutting import CutEstimator, CutExactEngine
from dqlstm.engine import ExactEngine
from partitioner import plan_cuts


def wire_cut_circuit():
    """Qubit 2 talks to {0, 1} first and to {3, 4} later: one wire cut beats four gate cuts."""
    x, w = ParameterVector("x", 5), ParameterVector("w", 8)
    qc = QuantumCircuit(5)
    for q in range(5):
        qc.h(q)
        qc.ry(x[q], q)
    for k in range(2):
        qc.cx(0, 2)
        qc.rz(w[2 * k], 2)
        qc.cx(1, 2)
        qc.ry(w[2 * k + 1], 1)
    for k in range(2):
        qc.cx(2, 3)
        qc.rx(w[4 + 2 * k], 2)
        qc.cx(2, 4)
        qc.ry(w[5 + 2 * k], 4)
    return qc, x, w


CASES = [
    ("modular 1 cut", lambda: build_vqc("modular", 6, 1, module_size=3, links=1), 3),
    ("brick 2 cuts", lambda: build_vqc("brick", 6, 2), 3),
    ("modular 4 cuts", lambda: build_vqc("modular", 9, 2, module_size=3, links=1), 3),
    ("modular no cut", lambda: build_vqc("modular", 6, 2, module_size=3, links=0), 3),
    ("chen2020 gate+wire", lambda: build_vqc("chen2020", 5, 1), 3),
]


@pytest.mark.parametrize("name,make,cap", CASES, ids=[c[0] for c in CASES])
def test_values_and_gradients_equal_exact_engine(name, make, cap):
    g = make()
    plan = plan_cuts(g.circuit, cap)
    assert max(plan.fragment_widths) <= cap
    cut = CutExactEngine(g.circuit, g.inputs, g.weights, plan=plan)
    full = ExactEngine(g.circuit, g.inputs, g.weights)
    x = torch.randn(3, g.num_inputs, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, g.num_weights, dtype=torch.float64, requires_grad=True)
    a, b = cut(x, w), full(x, w)
    torch.testing.assert_close(a, b, atol=1e-10, rtol=0)
    probe = torch.randn_like(a)
    ga = torch.autograd.grad((a * probe).sum(), (x, w))
    gb = torch.autograd.grad((b * probe).sum(), (x, w))
    for u, v in zip(ga, gb):
        torch.testing.assert_close(u, v, atol=1e-10, rtol=0)


def test_wire_cut_is_planned_and_exact():
    qc, x, w = wire_cut_circuit()
    plan = plan_cuts(qc, 3)
    assert [c.kind for c in plan.cuts] == ["wire"]
    cut = CutExactEngine(qc, x, w, plan=plan)
    full = ExactEngine(qc, x, w)
    X = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    W = torch.randn(1, 8, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(cut(X, W), full(X, W), atol=1e-10, rtol=0)
    assert torch.autograd.gradcheck(lambda a, b: cut(a, b), (X[:2].detach().requires_grad_(), W))


def test_estimator_matches_statevector_for_pauli_sums():
    g = build_vqc("chen2020", 5, 1)
    obs = [
        SparsePauliOp(["ZZIII", "IXIYI", "YIIIZ"], [0.5, -1.5, 0.25]),
        SparsePauliOp("XXXXX"),
        "IIZII",
    ]
    est = CutEstimator(g.circuit, obs, max_qubits=3)
    assert est.plan.num_cuts >= 1
    rng = np.random.default_rng(2)
    values = rng.uniform(-np.pi, np.pi, size=(3, len(g.circuit.parameters)))
    got = est.run(values)
    for b in range(3):
        sv = Statevector(g.circuit.assign_parameters(values[b]))
        ref = [sv.expectation_value(SparsePauliOp(o) if isinstance(o, str) else o).real for o in obs]
        np.testing.assert_allclose(got[b], ref, atol=1e-10)
    cost = est.estimate(values).cost
    assert cost["num_cuts"] == est.plan.num_cuts and cost["sampling_overhead"] == est.plan.sampling_overhead


def test_estimator_torch_gradient_matches_parameter_shift():
    g = build_vqc("brick", 4, 2)
    est = CutEstimator(g.circuit, "ZIIZ", max_qubits=2)
    rng = np.random.default_rng(4)
    v = rng.normal(size=(1, len(g.circuit.parameters)))
    t = torch.tensor(v, requires_grad=True)
    est.torch(t).sum().backward()
    shift = []
    for j in range(v.shape[1]):
        e = np.zeros_like(v)
        e[0, j] = np.pi / 2
        shift.append((est.run(v + e) - est.run(v - e))[0, 0] / 2)
    np.testing.assert_allclose(t.grad.numpy()[0], shift, atol=1e-10)


def test_forty_qubit_chain_matches_aer_mps():
    from qiskit_aer import AerSimulator

    g = build_vqc("modular", 40, 1, module_size=10, links=1)
    eng = CutExactEngine(g.circuit, g.inputs, g.weights, max_qubits=10)
    assert eng.plan.num_cuts == 3 and eng.plan.fragment_widths == (10, 10, 10, 10)
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(1, g.num_inputs)), rng.normal(size=(1, g.num_weights))
    got = eng(torch.tensor(x), torch.tensor(w))[0, 0].numpy()
    bind = dict(zip(g.inputs, x[0]))
    bind.update(zip(g.weights, w[0]))
    qc = g.circuit.assign_parameters(bind)
    for q in (0, 9, 10, 25, 39):
        qc.save_expectation_value(SparsePauliOp.from_sparse_list([("Z", [q], 1)], 40), range(40), label=f"z{q}")
    data = AerSimulator(method="matrix_product_state").run(qc).result().data()
    np.testing.assert_allclose([got[q] for q in (0, 9, 10, 25, 39)], [data[f"z{q}"] for q in (0, 9, 10, 25, 39)], atol=1e-9)


def test_hundred_qubits_forward_and_backward_run():
    g = build_vqc("modular", 100, 1, module_size=10, links=1)
    eng = CutExactEngine(g.circuit, g.inputs, g.weights, max_qubits=10)
    x = torch.randn(2, g.num_inputs, dtype=torch.float64, requires_grad=True)
    w = torch.randn(1, g.num_weights, dtype=torch.float64, requires_grad=True)
    out = eng(x, w)
    assert out.shape == (1, 2, 100) and torch.all(out.abs() <= 1 + 1e-12)
    out.sum().backward()
    assert torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0


def test_bad_input_is_named():
    g = build_vqc("modular", 6, 1, module_size=3, links=1)
    with pytest.raises(ValueError, match="acts on 4 qubits"):
        CutEstimator(g.circuit, "ZZZZ", max_qubits=3)
    est = CutEstimator(g.circuit, "ZIIIIZ", max_qubits=3)
    P = len(g.circuit.parameters)
    with pytest.raises(ValueError, match=rf"shape \(B, {P}\)"):
        est.run(np.zeros((2, P + 1)))
    bad = np.zeros((2, P))
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.run(bad)
    with pytest.raises(ValueError, match="shots must be a positive integer"):
        CutEstimator(g.circuit, "ZIIIIZ", max_qubits=3, method="sampled", shots=0)
    with pytest.raises(ValueError, match="unknown method"):
        CutEstimator(g.circuit, "ZIIIIZ", max_qubits=3, method="magic")
    with pytest.raises(ValueError, match="max_qubits"):
        CutEstimator(g.circuit, "ZIIIIZ")
    qc = QuantumCircuit(2)
    qc.h(range(2))
    qc.rzz(Parameter("theta"), 0, 1)
    with pytest.raises(ValueError, match="unbound parameters"):
        CutEstimator(qc, "ZZ", max_qubits=1)


def test_bad_weights_and_circuits_are_named():
    g = build_vqc("modular", 6, 1, module_size=3, links=1)
    eng = CutExactEngine(g.circuit, g.inputs, g.weights, max_qubits=3)
    with pytest.raises(ValueError, match="weights must have shape"):
        eng(torch.zeros(2, g.num_inputs), torch.zeros(1, 1))
    with pytest.raises(ValueError, match="dtype"):
        CutExactEngine(g.circuit, g.inputs, g.weights, max_qubits=3, dtype=torch.float64)
    # a measurement inside the circuit is refused by name, not by an IndexError in qiskit
    qc = g.circuit.copy()
    qc.add_register(__import__("qiskit").ClassicalRegister(1))
    plan = plan_cuts(g.circuit, 3)
    qc.measure(0, 0)
    with pytest.raises(ValueError):
        CutExactEngine(qc, g.inputs, g.weights, plan=plan)


def test_parameterised_controlled_gate_is_never_cut():
    theta = Parameter("theta")
    qc = QuantumCircuit(2)
    qc.h([0, 1])
    qc.cry(theta, 0, 1)
    with pytest.raises(ValueError, match="unbound parameters"):
        CutEstimator(qc, "ZZ", max_qubits=1)
