"""The exact torch engine against qiskit Statevector, finite differences and autograd."""

import numpy as np
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import SparsePauliOp, Statevector

from dqlstm.circuits import build_vqc
from dqlstm.engine import ExactEngine


def reference(circuit, inputs, weights, x, w, observables):
    out = np.empty((w.shape[0], x.shape[-2], len(observables)))
    for g in range(w.shape[0]):
        for b in range(x.shape[-2]):
            xb = x[g, b] if x.ndim == 3 else x[b]
            bind = dict(zip(inputs, xb))
            bind.update(zip(weights, w[g]))
            sv = Statevector(circuit.assign_parameters(bind))
            out[g, b] = [sv.expectation_value(o).real for o in observables]
    return out


FAMILIES = [
    ("chen2020", 4, 2, {}),
    ("chen2020", 5, 1, {}),
    ("chen2020", 2, 3, {}),
    ("brick", 6, 3, {}),
    ("modular", 6, 2, {"module_size": 3, "links": 0}),
    ("modular", 9, 2, {"module_size": 3, "links": 2}),
    ("modular", 8, 1, {"module_size": 4, "links": 1}),
]


@pytest.mark.parametrize("ansatz,n,layers,kw", FAMILIES)
@pytest.mark.parametrize("unitary_max_qubits", [0, 12])
def test_matches_statevector_on_random_parameters(ansatz, n, layers, kw, unitary_max_qubits):
    g = build_vqc(ansatz, n, layers, **kw)
    eng = ExactEngine(g.circuit, g.inputs, g.weights, unitary_max_qubits=unitary_max_qubits)
    rng = np.random.default_rng(n * 10 + layers)
    x = rng.uniform(-np.pi, np.pi, size=(3, g.num_inputs))
    w = rng.uniform(0, 2 * np.pi, size=(2, g.num_weights))
    got = eng(torch.tensor(x), torch.tensor(w)).numpy()
    ref = reference(g.circuit, g.inputs, g.weights, x, w, eng.observables)
    np.testing.assert_allclose(got, ref, atol=1e-10, rtol=0)


@pytest.mark.parametrize("unitary_max_qubits", [0, 12])
def test_per_gate_angles_match_statevector(unitary_max_qubits):
    g = build_vqc("chen2020", 4, 2)
    eng = ExactEngine(g.circuit, g.inputs, g.weights, unitary_max_qubits=unitary_max_qubits)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3, 5, g.num_inputs))
    w = rng.normal(size=(3, g.num_weights))
    got = eng(torch.tensor(x), torch.tensor(w)).numpy()
    np.testing.assert_allclose(got, reference(g.circuit, g.inputs, g.weights, x, w, eng.observables), atol=1e-10)


def generic_circuit():
    x = ParameterVector("x", 3)
    w = ParameterVector("w", 6)
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.rx(x[0], 0)
    qc.ry(2 * x[1] + 0.3, 1)
    qc.s(2)
    qc.cz(0, 1)
    qc.rzz(w[0], 1, 2)
    qc.rx(x[2], 2)  # re-uploads an input after a weight
    qc.u(w[1], w[2], w[3], 0)
    qc.crx(w[4], 2, 0)
    qc.swap(0, 2)
    qc.rxx(w[5], 0, 1)
    qc.t(1)
    qc.ryy(0.7, 1, 2)
    qc.cp(w[4], 0, 1)
    qc.ccx(0, 1, 2)
    qc.cry(-w[1], 1, 2)
    qc.crz(w[2], 0, 2)
    qc.p(w[3], 1)
    return qc, x, w


def test_generic_gates_reuploading_and_pauli_observables():
    qc, x, w = generic_circuit()
    obs = [SparsePauliOp(["XYZ", "ZZI", "YIX"], [0.5, -1.0, 2.0]), SparsePauliOp("IYI"), "ZIZ"]
    eng = ExactEngine(qc, x, w, observables=obs)
    assert eng.program.block_uses_inputs
    rng = np.random.default_rng(1)
    X, W = rng.normal(size=(4, 3)), rng.normal(size=(2, 6))
    got = eng(torch.tensor(X), torch.tensor(W)).numpy()
    ref = reference(qc, x, w, X, W, [SparsePauliOp(o) if isinstance(o, str) else o for o in obs])
    np.testing.assert_allclose(got, ref, atol=1e-10)


@pytest.mark.parametrize("unitary_max_qubits", [0, 12])
def test_non_diagonal_observables_on_input_free_block(unitary_max_qubits):
    g = build_vqc("chen2020", 3, 2)
    obs = [SparsePauliOp(["XXI", "IYZ"], [0.3, 0.7]), SparsePauliOp("ZIX")]
    eng = ExactEngine(g.circuit, g.inputs, g.weights, observables=obs, unitary_max_qubits=unitary_max_qubits)
    rng = np.random.default_rng(3)
    X, W = rng.normal(size=(4, g.num_inputs)), rng.normal(size=(2, g.num_weights))
    got = eng(torch.tensor(X), torch.tensor(W)).numpy()
    np.testing.assert_allclose(got, reference(g.circuit, g.inputs, g.weights, X, W, obs), atol=1e-10)


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("unitary_max_qubits", [0, 12])
def test_gradients_match_finite_differences(shared, unitary_max_qubits):
    g = build_vqc("chen2020", 4, 2)
    eng = ExactEngine(g.circuit, g.inputs, g.weights, unitary_max_qubits=unitary_max_qubits)
    w = torch.randn(2, g.num_weights, dtype=torch.float64, requires_grad=True)
    shape = (3, g.num_inputs) if shared else (2, 3, g.num_inputs)
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: eng.prepare(b)(a), (x, w), eps=1e-6, atol=1e-7)


def test_generic_gradients_match_finite_differences():
    qc, x, w = generic_circuit()
    eng = ExactEngine(qc, x, w, observables=["XYZ", "ZZI"])
    X = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    W = torch.randn(2, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: eng(a, b), (X, W), eps=1e-6, atol=1e-7)


def test_parameter_shift_agrees_with_autograd():
    # an independent gradient: the parameter-shift rule on qiskit Statevector
    g = build_vqc("brick", 3, 2)
    eng = ExactEngine(g.circuit, g.inputs, g.weights)
    rng = np.random.default_rng(5)
    x, w = rng.normal(size=(1, g.num_inputs)), rng.normal(size=(1, g.num_weights))
    wt = torch.tensor(w, requires_grad=True)
    eng(torch.tensor(x), wt)[0, 0, 0].backward()
    shift = []
    for j in range(g.num_weights):
        e = np.zeros_like(w)
        e[0, j] = np.pi / 2
        plus = reference(g.circuit, g.inputs, g.weights, x, w + e, eng.observables)[0, 0, 0]
        minus = reference(g.circuit, g.inputs, g.weights, x, w - e, eng.observables)[0, 0, 0]
        shift.append((plus - minus) / 2)
    np.testing.assert_allclose(wt.grad.numpy()[0], shift, atol=1e-10)


def test_complex64_is_close():
    g = build_vqc("chen2020", 4, 2)
    e64 = ExactEngine(g.circuit, g.inputs, g.weights, dtype=torch.complex64)
    e128 = ExactEngine(g.circuit, g.inputs, g.weights)
    x, w = torch.randn(5, g.num_inputs), torch.randn(4, g.num_weights)
    np.testing.assert_allclose(e64(x, w).numpy(), e128(x, w).numpy(), atol=1e-5)


def test_bad_input_is_named():
    g = build_vqc("chen2020", 3, 1)
    eng = ExactEngine(g.circuit, g.inputs, g.weights)
    with pytest.raises(ValueError, match="weights must have shape"):
        eng.prepare(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="input angles must have shape"):
        eng(torch.zeros(2, 4), torch.zeros(1, g.num_weights))
    with pytest.raises(ValueError, match="acts on 2 qubits"):
        ExactEngine(g.circuit, g.inputs, g.weights, observables=["ZZ"])
    qc = QuantumCircuit(2, 1)
    qc.h(0)
    qc.measure(0, 0)
    with pytest.raises(ValueError, match="measurements"):
        ExactEngine(qc, [], [])
    qc = g.circuit.copy()
    qc.rx(ParameterVector("extra", 1)[0], 0)
    with pytest.raises(ValueError, match="not declared"):
        ExactEngine(qc, g.inputs, g.weights)


def test_gate_mixing_input_and_weight_angles_is_simulated_exactly():
    x, w = ParameterVector("x", 2), ParameterVector("w", 2)
    qc = QuantumCircuit(2)
    qc.h([0, 1])
    qc.u(w[0], x[0], 0.2, 0)
    qc.cx(0, 1)
    qc.u(x[1], w[1], -0.4, 1)
    eng = ExactEngine(qc, x, w)
    X, W = np.array([[0.3, -1.1]]), np.array([[0.7, 1.9]])
    np.testing.assert_allclose(
        eng(torch.tensor(X), torch.tensor(W)).numpy(), reference(qc, x, w, X, W, eng.observables), atol=1e-10
    )


def test_non_affine_angles_and_non_hermitian_observables_are_refused():
    x, w = ParameterVector("x", 1), ParameterVector("w", 1)
    for angle in (w[0] * (w[0] - 1) * (w[0] - 2) + w[0], 1 / w[0], abs(w[0])):
        qc = QuantumCircuit(1)
        qc.ry(x[0], 0)
        qc.rz(angle, 0)
        with pytest.raises(ValueError, match="not affine"):
            ExactEngine(qc, x, w)
    qc = QuantumCircuit(1)
    qc.ry(x[0], 0)
    qc.rz(w[0], 0)
    with pytest.raises(ValueError, match="not Hermitian"):
        ExactEngine(qc, x, w, observables=[SparsePauliOp(["X", "Y"], [1, 1j])])


def rotation_circuit():
    """Every case the adjoint (hand-differentiated) paths handle: partial layers, constant
    gates inside weight runs, affine and constant angles, monomials with phases."""
    x, w = ParameterVector("x", 4), ParameterVector("w", 9)
    qc = QuantumCircuit(4)
    qc.h(0)
    qc.rx(x[0], 0)
    qc.sx(1)
    qc.ry(-2 * x[1] + 0.4, 1)
    qc.rz(x[2], 1)
    qc.ry(x[3], 3)  # qubit 2 has no encoding gate
    qc.cx(0, 1)
    qc.cz(1, 2)
    qc.s(3)
    qc.rz(w[0], 3)
    qc.rx(0.5 * w[1] - 1.0, 3)
    qc.t(3)
    qc.ry(w[2], 0)
    qc.ry(w[3], 2)
    qc.rz(0.9, 2)
    qc.cx(3, 0)
    qc.swap(1, 3)
    qc.iswap(2, 3)  # complex phases
    qc.rx(w[4], 1)
    qc.ry(w[4], 0)  # one weight in two gates
    qc.cz(0, 3)
    for q, p in zip(range(4), (5, 6, 7, 8)):
        qc.rz(w[p], q)
    return qc, x, w


@pytest.mark.parametrize("unitary_max_qubits", [0, 12])
def test_adjoint_paths_match_statevector_and_finite_differences(unitary_max_qubits):
    from dqlstm.engine.adjoint import block_differentiable_by_adjoint, differentiable_by_adjoint

    qc, x, w = rotation_circuit()
    eng = ExactEngine(qc, x, w, observables=["ZIIZ", "IZZI", "ZZZZ"], unitary_max_qubits=unitary_max_qubits)
    assert block_differentiable_by_adjoint(eng.program.block)
    assert all(differentiable_by_adjoint(layer) for layer in eng.program.encoding)
    rng = np.random.default_rng(11)
    X, W = rng.normal(size=(3, 4)), rng.normal(size=(2, 9))
    got = eng(torch.tensor(X), torch.tensor(W)).numpy()
    ref = reference(qc, x, w, X, W, [SparsePauliOp(o) for o in ("ZIIZ", "IZZI", "ZZZZ")])
    np.testing.assert_allclose(got, ref, atol=1e-10)
    Xt = torch.tensor(X, requires_grad=True)
    Wt = torch.tensor(W, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: eng(a, b), (Xt, Wt), eps=1e-6, atol=1e-7)
    Xg = torch.tensor(rng.normal(size=(2, 3, 4)), requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: eng(a, b), (Xg, Wt), eps=1e-6, atol=1e-7)


def test_adjoint_gradients_follow_the_callers_float32():
    g = build_vqc("chen2020", 4, 2)
    eng = ExactEngine(g.circuit, g.inputs, g.weights)
    w64 = torch.randn(4, g.num_weights, dtype=torch.float64, requires_grad=True)
    x64 = torch.randn(5, g.num_inputs, dtype=torch.float64, requires_grad=True)
    w32 = w64.detach().float().requires_grad_()
    x32 = x64.detach().float().requires_grad_()
    eng(x64, w64).sum().backward()
    eng(x32, w32).sum().backward()
    assert w32.grad.dtype == torch.float32 and x32.grad.dtype == torch.float32
    np.testing.assert_allclose(w32.grad.numpy(), w64.grad.numpy(), atol=1e-5)
    np.testing.assert_allclose(x32.grad.numpy(), x64.grad.numpy(), atol=1e-5)


@pytest.mark.parametrize("ansatz,n,kw", [("chen2020", 6, {}), ("modular", 9, {"module_size": 3, "links": 2})])
def test_wide_block_on_states_matches_finite_differences(ansatz, n, kw):
    # registers wider than a chunk: layers act as several Kronecker chunks, per-gate angles too
    g = build_vqc(ansatz, n, 2, **kw)
    eng = ExactEngine(g.circuit, g.inputs, g.weights, unitary_max_qubits=0)
    assert eng.prepare(torch.zeros(1, g.num_weights)).block_states is not None
    w = torch.randn(2, g.num_weights, dtype=torch.float64, requires_grad=True)
    x = torch.randn(3, g.num_inputs, dtype=torch.float64, requires_grad=True)
    xg = torch.randn(2, 2, g.num_inputs, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: eng(a, b), (x, w), eps=1e-6, atol=1e-7)
    assert torch.autograd.gradcheck(lambda a, b: eng(a, b), (xg, w), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("unitary_max_qubits", [0, 12])
def test_hand_differentiated_nodes_keep_torch_safety_checks(unitary_max_qubits):
    g = build_vqc("chen2020", 4, 2)
    eng = ExactEngine(g.circuit, g.inputs, g.weights, unitary_max_qubits=unitary_max_qubits)
    w = torch.randn(4, g.num_weights, dtype=torch.float64, requires_grad=True)
    x = torch.randn(3, g.num_inputs, dtype=torch.float64)
    out = eng(x, w).sum()
    out.backward()
    with pytest.raises(RuntimeError, match="second time"):
        out.backward()
    with pytest.raises(RuntimeError, match="first derivatives only"):
        torch.autograd.grad(eng(x, w).pow(2).sum(), w, create_graph=True)
    gates = eng.prepare(w)
    gates(x).sum().backward()
    with torch.no_grad():
        w.add_(0.1)  # e.g. an optimiser step: the prepared block is stale now
    with pytest.raises(RuntimeError, match="changed in place"):
        gates(x)
    with torch.no_grad():
        frozen = eng.prepare(w)
    w.grad = None
    frozen(x.requires_grad_()).sum().backward()
    assert w.grad is None and x.grad is not None


def test_engine_names_empty_batches_and_takes_low_precision_angles():
    g = build_vqc("chen2020", 3, 1)
    eng = ExactEngine(g.circuit, g.inputs, g.weights)
    w = torch.randn(2, g.num_weights, dtype=torch.float64)
    with pytest.raises(ValueError, match="no samples"):
        eng(torch.zeros(0, g.num_inputs), w)
    with pytest.raises(ValueError, match="no weight set"):
        eng(torch.zeros(2, g.num_inputs), torch.zeros(0, g.num_weights))
    with pytest.raises(ValueError, match="unitary_max_qubits"):
        ExactEngine(g.circuit, g.inputs, g.weights, unitary_max_qubits=2.5)
    x = torch.rand(2, g.num_inputs, dtype=torch.float64)
    low = eng(x.to(torch.bfloat16), w)
    np.testing.assert_allclose(low.numpy(), eng(x.to(torch.bfloat16).double(), w).numpy(), atol=1e-12)
