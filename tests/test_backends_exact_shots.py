"""AerQPU's exact-distribution shots: exact laws, Aer's bit layout, noise semantics, fallbacks.

References are independent of :mod:`backends.distributions`: a deferred
circuit (each measurement a CX onto a fresh ancilla, each reset a SWAP with
one) evolved by ``qiskit.quantum_info``, and Aer itself (density-matrix
``save_probabilities``, or per-shot runs of deterministic circuits).
"""

from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import Parameter, ParameterVector
from qiskit.circuit.library import CRXGate, CXGate, RZZGate, SwapGate, XGate
from qiskit.quantum_info import DensityMatrix, Kraus, Operator, PauliList, Statevector
from qiskit_addon_cutting import cut_gates, generate_cutting_experiments, partition_problem
from qiskit_aer import AerSimulator
from qiskit_aer.noise import (
    NoiseModel,
    ReadoutError,
    amplitude_damping_error,
    depolarizing_error,
    pauli_error,
    thermal_relaxation_error,
)

from backends import AerQPU, BackendConfigError, as_pub
from backends.distributions import ExactProgram, compile_circuit
from backends.noise import noise_channels

# ---------------------------------------------------------------- references

def deferred_law(qc: QuantumCircuit, values: np.ndarray | None = None,
                 errors: dict[str, object] | None = None,
                 readout: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """Law of the clbit strings (bit i = clbit i) by deferred measurement with quantum_info.

    ``errors``: instruction name -> QuantumError after it (before it for ``measure``);
    ``readout``: qubit -> confusion matrix ``A[true, reported]``.
    """
    bound = qc.assign_parameters(values) if qc.num_parameters else qc
    n = bound.num_qubits
    extra = sum(inst.operation.name in ("measure", "reset") for inst in bound.data)
    mixed = bool(errors)
    state = (DensityMatrix if mixed else Statevector).from_label("0" * (n + extra))
    errors = errors or {}
    ancilla, last = n, {}  # clbit -> (ancilla holding its value, confusion)
    for inst in bound.data:
        name = inst.operation.name
        qubits = [bound.find_bit(q).index for q in inst.qubits]
        if name == "barrier":
            continue
        if name == "measure" and name in errors:
            state = state.evolve(Kraus(errors[name].to_quantumchannel()), qubits)
        if name == "measure":
            state = state.evolve(CXGate(), [qubits[0], ancilla])
            last[bound.find_bit(inst.clbits[0]).index] = (ancilla, (readout or {}).get(qubits[0]))
            ancilla += 1
            continue
        if name == "reset":
            state = state.evolve(SwapGate(), [qubits[0], ancilla])
            ancilla += 1
        else:
            state = state.evolve(Operator(inst.operation), qubits)
        if name in errors:
            state = state.evolve(Kraus(errors[name].to_quantumchannel()), qubits)
    probs = state.probabilities()
    law = np.zeros(2**bound.num_clbits)
    for x in np.flatnonzero(probs > 1e-300):
        branch = np.ones(1)  # law over the written clbits, in order of `last`
        for anc, confusion in last.values():
            bit = (x >> anc) & 1
            row = np.eye(2)[bit] if confusion is None else confusion[bit]
            branch = np.multiply.outer(row, branch).ravel()  # new clbit = most significant
        order = list(last)
        for index in np.flatnonzero(branch):
            value = sum(((index >> j) & 1) << c for j, c in enumerate(order))
            law[value] += probs[x] * branch[index]
    return law


def aer_dm_probabilities(qc: QuantumCircuit, model: NoiseModel) -> np.ndarray:
    """Aer density-matrix probabilities (little-endian over all qubits) of a measurement-free circuit."""
    circuit = qc.copy()
    circuit.save_probabilities()
    sim = AerSimulator(method="density_matrix", noise_model=model)
    return np.asarray(sim.run(circuit, shots=1).result().data()["probabilities"])


def qpd_subexperiments(width: int, cuts: int, seed: int) -> list[QuantumCircuit]:
    """Sub-experiments of a two-fragment CX-cut circuit (RY/RZ parameters, CX chains)."""
    theta = ParameterVector("t", 4 * width)
    qc = QuantumCircuit(width)
    half = width // 2
    for q in range(width):
        qc.ry(theta[q], q)
        qc.rz(theta[width + q], q)
    crossing = []
    for layer in range(cuts):
        for q in range(width - 1):
            if q == half - 1:
                crossing.append(len(qc.data))
            qc.cx(q, q + 1)
        for q in range(width):
            qc.ry(theta[(2 + layer % 2) * width + q], q)
    cut, _ = cut_gates(qc, crossing)
    parts = partition_problem(cut, "A" * half + "B" * (width - half), observables=PauliList(["Z" * width]))
    subs, _ = generate_cutting_experiments(parts.subcircuits, parts.subobservables, num_samples=np.inf)
    seen, out = set(), []
    for label in sorted(subs):
        for circuit in subs[label]:
            key = str(circuit.data)
            if key not in seen:
                seen.add(key)
                out.append(circuit)
    return out


def has_mid_circuit_measurement(qc: QuantumCircuit) -> bool:
    """A measured qubit is acted on again later."""
    measured = set()
    for inst in qc.data:
        qubits = set(inst.qubits)
        if inst.operation.name != "measure" and measured & qubits:
            return True
        if inst.operation.name == "measure":
            measured |= qubits
    return False


def edge_case_circuit() -> QuantumCircuit:
    """Several registers, a loose clbit, re-measurement, a clbit written twice, unmeasured clbits, resets."""
    a, b = Parameter("a"), Parameter("b")
    qr = QuantumRegister(4, "q")
    c1, c2 = ClassicalRegister(3, "c1"), ClassicalRegister(10, "wide")
    qc = QuantumCircuit(qr, c1, c2)
    qc.ry(a, 0)
    qc.cx(0, 1)
    qc.measure(0, c1[2])  # mid-circuit
    qc.rx(2 * b + 0.3, 0)
    qc.measure(0, c2[0])  # the same qubit again
    qc.append(CRXGate(b), [1, 2])  # generic (non-vectorised) parameterised gate
    qc.measure(1, c1[0])
    qc.reset(1)
    qc.h(1)
    qc.append(RZZGate(a - b), [1, 3])
    qc.u(a, b, 0.4, 3)
    qc.p(b.sin(), 2)  # a non-affine expression
    qc.cx(2, 3)
    qc.measure(2, c2[9])
    qc.measure(3, c2[9])  # c2[9] written twice: the last write counts
    qc.measure(3, c2[4])  # q3 read into two clbits
    qc.barrier()
    qc.measure(1, c2[2])
    return qc  # c1[1], c2[1], c2[3], ... never measured: 0


# ---------------------------------------------------------------- exact laws

def test_ideal_law_equals_deferred_statevector_on_edge_cases() -> None:
    qc = edge_case_circuit()
    values = np.random.default_rng(3).uniform(-np.pi, np.pi, (3, qc.num_parameters))
    law = compile_circuit(qc).clbit_probabilities(values)
    for row, binding in zip(law, values):
        np.testing.assert_allclose(row, deferred_law(qc, binding), atol=1e-12)


def test_ideal_law_equals_deferred_statevector_on_qpd_subexperiments() -> None:
    rng = np.random.default_rng(4)
    circuits = qpd_subexperiments(4, 2, seed=4)
    assert sum(map(has_mid_circuit_measurement, circuits)) >= 5
    for qc in circuits[::3]:
        values = rng.uniform(-np.pi, np.pi, (2, qc.num_parameters))
        law = compile_circuit(qc).clbit_probabilities(values)
        for row, binding in zip(law, values):
            np.testing.assert_allclose(row, deferred_law(qc, binding), atol=1e-12)


def _simple_noise() -> tuple[NoiseModel, dict[str, object], dict[int, np.ndarray]]:
    errors = {
        "sx": depolarizing_error(0.03, 1),
        "x": thermal_relaxation_error(40.0, 30.0, 5.0),
        "cx": depolarizing_error(0.08, 2),
        "measure": pauli_error([("X", 0.05), ("I", 0.95)]),  # acts before the measurement
        "reset": amplitude_damping_error(0.2).compose(pauli_error([("X", 0.1), ("I", 0.9)])),
    }
    readout = {q: np.array([[0.9 - 0.02 * q, 0.1 + 0.02 * q], [0.15, 0.85]]) for q in range(3)}
    model = NoiseModel(basis_gates=["rz", "sx", "x", "cx"])
    for name, error in errors.items():
        model.add_all_qubit_quantum_error(error, [name])
    for q, confusion in readout.items():
        model.add_readout_error(ReadoutError(confusion), [q])
    return model, errors, readout


def small_edge_case() -> QuantumCircuit:
    """Mid-circuit and repeated measurements, a clbit written twice, a reset: few enough for a DM reference."""
    a, b = Parameter("a"), Parameter("b")
    qc = QuantumCircuit(QuantumRegister(3, "q"), ClassicalRegister(2, "c1"), ClassicalRegister(3, "c2"))
    qc.ry(a, 0)
    qc.cx(0, 1)
    qc.measure(0, 4)  # mid-circuit
    qc.rx(2 * b + 0.3, 0)
    qc.reset(1)
    qc.ry(b, 1)
    qc.cx(0, 2)
    qc.cx(1, 2)
    qc.measure(2, 0)
    qc.measure(2, 0)  # written twice: the last write counts
    qc.measure(1, 1)
    qc.measure(1, 3)  # q1 read into two clbits (independent readout errors)
    return qc  # c2[0] never measured


def _transpiled_edge_case() -> QuantumCircuit:
    from qiskit.transpiler import generate_preset_pass_manager

    pm = generate_preset_pass_manager(0, basis_gates=["rz", "sx", "x", "cx"], seed_transpiler=1)
    return pm.run(small_edge_case())


def test_noisy_law_equals_deferred_density_matrix() -> None:
    model, errors, readout = _simple_noise()
    qc = _transpiled_edge_case()
    program = compile_circuit(qc, noise_channels(model))
    assert program.mixed
    values = np.random.default_rng(5).uniform(-np.pi, np.pi, (2, qc.num_parameters))
    law = program.clbit_probabilities(values)
    for row, binding in zip(law, values):
        np.testing.assert_allclose(row, deferred_law(qc, binding, errors, readout), atol=1e-12)


def test_readout_only_noise_stays_on_the_statevector_route() -> None:
    model = NoiseModel(basis_gates=["rz", "sx", "x", "cx"])
    model.add_all_qubit_readout_error(ReadoutError([[0.8, 0.2], [0.3, 0.7]]))
    qc = _transpiled_edge_case()
    program = compile_circuit(qc, noise_channels(model))
    assert not program.mixed
    values = np.random.default_rng(6).uniform(-np.pi, np.pi, (1, qc.num_parameters))
    confusion = {q: np.array([[0.8, 0.2], [0.3, 0.7]]) for q in range(3)}
    np.testing.assert_allclose(program.clbit_probabilities(values)[0],
                               deferred_law(qc, values[0], readout=confusion), atol=1e-12)


def _fake_manila_model() -> NoiseModel:
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    return NoiseModel.from_backend(FakeManilaV2())


def _quantum_only(model: NoiseModel) -> object:
    return replace(noise_channels(model), readout={}, default_readout=None)


@pytest.mark.parametrize("which", ["manila", "precedence-and-labels"])
def test_gate_and_reset_noise_equal_aer_density_matrix(which: str) -> None:
    """Aer's own noise semantics, exactly: which error where, gate then error, reset then error."""
    rng = np.random.default_rng(7)
    if which == "manila":
        model = _fake_manila_model()
    else:
        model = NoiseModel(basis_gates=["rz", "sx", "x", "cx"])
        model.add_all_qubit_quantum_error(depolarizing_error(0.2, 1), ["sx"])
        model.add_quantum_error(amplitude_damping_error(0.3), ["sx"], [1])  # replaces the above on qubit 1
        model.add_all_qubit_quantum_error(pauli_error([("Y", 0.3), ("I", 0.7)]), ["tagged"])  # by label
        model.add_all_qubit_quantum_error(amplitude_damping_error(0.25), ["reset"])
    qc = QuantumCircuit(3)
    for _ in range(3):
        for q in range(3):
            qc.rz(rng.uniform(0, 2 * np.pi), q)
            qc.sx(q)
        qc.cx(0, 1)
        qc.cx(2, 1)
        qc.append(XGate(label="tagged"), [2])  # no "x" noise: Aer matches the label
        qc.x(0)
        qc.reset(1)
    measured = qc.copy()
    measured.measure_all()
    program = compile_circuit(measured, _quantum_only(model))
    assert program.mixed
    np.testing.assert_allclose(program.clbit_probabilities()[0], aer_dm_probabilities(qc, model), atol=1e-12)


def test_measure_errors_act_before_the_measurement_and_readout_after_like_aer() -> None:
    """Deterministic: X on measure flips what this measurement sees; readout flips only the record."""
    model = NoiseModel(basis_gates=["x", "cx"])
    model.add_quantum_error(pauli_error([("X", 1.0)]), ["measure"], [0])
    model.add_readout_error(ReadoutError([[0.0, 1.0], [1.0, 0.0]]), [1])
    qc = QuantumCircuit(2, 5)
    qc.measure(0, 0)  # X, then measure: 1
    qc.measure(0, 1)  # X again: 0
    qc.x(1)
    qc.measure(1, 2)  # 1 read as 0
    qc.cx(1, 0)  # the state kept 1 on qubit 1: flips qubit 0 (0 -> 1)
    qc.measure(0, 3)  # X: 0
    qc.measure(1, 4)  # read as 0
    exact = AerQPU("e", 2, model).execute(as_pub((qc, None, 20), 20), seed=1)
    per_shot = AerQPU("p", 2, model, shots_method="per-shot").execute(as_pub((qc, None, 20), 20), seed=1)
    assert exact.metadata["shots_route"] == "exact-distribution"
    assert exact.data.c.get_counts() == per_shot.data.c.get_counts() == {"00001": 20}


# ---------------------------------------------------------------- results like Aer's

def deterministic_circuit() -> QuantumCircuit:
    """Every bit fixed: exact and per-shot results must agree shot for shot."""
    qr = QuantumRegister(5, "q")
    a, b, wide = ClassicalRegister(2, "a"), ClassicalRegister(3, "b"), ClassicalRegister(11, "wide")
    qc = QuantumCircuit(qr, a, b, wide)
    theta = Parameter("theta")
    qc.rx(theta, 0)  # theta in {0, pi}: deterministic per binding
    qc.measure(0, a[1])
    qc.x(0)
    qc.measure(0, wide[10])
    qc.x(2)
    qc.measure(2, b[0])
    qc.measure(2, b[0])  # same clbit twice
    qc.reset(2)
    qc.measure(2, wide[3])
    qc.x(3)
    qc.cx(3, 4)
    qc.measure(4, wide[9])
    qc.measure(4, b[2])
    return qc


@pytest.mark.parametrize("shape", [(), (2,), (2, 3)])
def test_bit_arrays_equal_aer_per_shot_on_deterministic_circuits(shape: tuple[int, ...]) -> None:
    qc = deterministic_circuit()
    values = np.pi * (np.arange(int(np.prod(shape, dtype=int))) % 2).reshape(shape + (1,))
    pub = as_pub((qc, values[()] if shape else np.array([np.pi]), 7), 7)
    exact = AerQPU("e", 5).execute(pub, seed=3)
    per_shot = AerQPU("p", 5, shots_method="per-shot").execute(pub, seed=3)
    assert exact.metadata["shots_route"] == "exact-distribution"
    assert per_shot.metadata["shots_route"] == "per-shot"
    assert list(exact.data) == list(per_shot.data) == ["a", "b", "wide"]
    for name in ("a", "b", "wide"):
        e, p = exact.data[name], per_shot.data[name]
        assert e.shape == p.shape == shape and e.num_shots == p.num_shots == 7 and e.num_bits == p.num_bits
        np.testing.assert_array_equal(e.array, p.array)
        assert e.array.dtype == p.array.dtype == np.uint8


def test_loose_bits_and_register_start_follow_aer() -> None:
    """Aer takes register bits from the index of its first bit on; mirror it, loose bits included."""
    from qiskit.circuit import Clbit

    loose = [Clbit(), Clbit()]
    qc = QuantumCircuit(QuantumRegister(3, "q"), loose, ClassicalRegister(2, "r"))
    qc.x(0)
    qc.x(2)
    qc.measure(0, loose[1])
    qc.measure(2, 2)
    qc.measure(0, 3)
    exact = AerQPU("e", 3).execute(as_pub((qc, None, 5), 5), seed=1)
    per_shot = AerQPU("p", 3, shots_method="per-shot").execute(as_pub((qc, None, 5), 5), seed=1)
    np.testing.assert_array_equal(exact.data.r.array, per_shot.data.r.array)


def test_noisy_deterministic_readout_matches_aer() -> None:
    qc = deterministic_circuit()
    noise = {"readout": [1.0, 0.0]}  # every 0 reads as 1, every 1 stays
    pub = as_pub((qc, np.array([[0.0], [np.pi]]), 9), 9)
    exact = AerQPU("e", 5, noise).execute(pub, seed=2)
    per_shot = AerQPU("p", 5, noise, shots_method="per-shot").execute(pub, seed=2)
    assert exact.metadata["shots_route"] == "exact-distribution"
    for name in ("a", "b", "wide"):
        np.testing.assert_array_equal(exact.data[name].array, per_shot.data[name].array)


def test_seeded_runs_are_reproducible_and_shots_are_shuffled() -> None:
    qc = QuantumCircuit(1, 1)
    qc.h(0)
    qc.measure(0, 0)
    qpu = AerQPU("a", 1)
    pub = as_pub((qc, None, 4000), 4000)
    first, again = qpu.execute(pub, seed=9), qpu.execute(pub, seed=9)
    other = qpu.execute(pub, seed=10)
    np.testing.assert_array_equal(first.data.c.array, again.data.c.array)
    assert not np.array_equal(first.data.c.array, other.data.c.array)
    bits = first.data.c.array[:, 0]
    assert 1800 < bits.sum() < 2200
    assert 0.4 < bits[:2000].mean() < 0.6  # not sorted: any slice is a fair sample
    assert first.metadata["shots"] == 4000 and first.metadata["simulator_metadata"]["method"] == "statevector"


def test_pickled_qpu_gives_the_same_shots() -> None:
    qc = qpd_subexperiments(4, 1, seed=1)[2]
    values = np.random.default_rng(1).uniform(0, 1, (3, qc.num_parameters))
    qpu = AerQPU("a", 4, {"depolarizing_2q": 0.05, "readout": 0.03})
    before = qpu.execute(as_pub((qc, values, 100), 100), seed=4)
    clone = pickle.loads(pickle.dumps(qpu))
    after = clone.execute(as_pub((qc, values, 100), 100), seed=4)
    assert after.metadata["shots_route"] == "exact-distribution"
    for name in before.data:
        np.testing.assert_array_equal(before.data[name].array, after.data[name].array)


def test_transpilation_dropping_parameters_keeps_working() -> None:
    theta, phi = Parameter("a_theta"), Parameter("b_phi")  # parameters sort by name
    qc = QuantumCircuit(1, 1)
    qc.ry(theta, 0)
    qc.rz(phi, 0)  # diagonal before a measurement: level-2 optimisation removes it
    qc.measure(0, 0)
    qpu = AerQPU("a", 1, {"depolarizing_1q": 0.01}, optimization_level=2)
    result = qpu.execute(as_pub((qc, np.array([[np.pi, 0.3], [0.0, 1.0]]), 400), 400), seed=1)
    assert result.metadata["shots_route"] == "exact-distribution"
    assert result.metadata["simulator_metadata"]["num_parameters"] == 1
    counts = [result.data.c.get_counts(i) for i in range(2)]
    assert counts[0].get("1", 0) > 380 and counts[1].get("0", 0) > 380


# ---------------------------------------------------------------- fallbacks

def _route(qpu: AerQPU, qc: QuantumCircuit, shots: int = 10) -> dict:
    return qpu.execute(as_pub((qc, None, shots), shots), seed=1).metadata


def test_control_flow_falls_back_to_per_shot() -> None:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
    qc.measure(1, 1)
    meta = _route(AerQPU("a", 2), qc)
    assert meta["shots_route"] == "per-shot" and "control flow" in meta["per_shot_reason"]


def test_non_unitary_instruction_falls_back() -> None:
    qc = QuantumCircuit(1, 1)
    qc.initialize([0.6, 0.8], 0)
    qc.measure(0, 0)
    meta = _route(AerQPU("a", 1), qc)
    assert meta["shots_route"] == "per-shot" and "initialize" in meta["per_shot_reason"]


def test_correlated_readout_falls_back() -> None:
    model = NoiseModel(basis_gates=["x", "cx"])
    model.add_readout_error(ReadoutError([[0.9, 0.1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]), [0, 1])
    qc = QuantumCircuit(2, 2)
    qc.measure([0, 1], [0, 1])
    meta = _route(AerQPU("a", 2, model), qc)
    assert meta["shots_route"] == "per-shot" and "correlated readout" in meta["per_shot_reason"]


def test_delay_under_relaxation_pass_falls_back() -> None:
    qc = QuantumCircuit(1, 1)
    qc.x(0)
    qc.delay(500, 0, unit="dt")
    qc.measure(0, 0)
    qpu = AerQPU("m", 1, _fake_manila_model())  # its RelaxationNoisePass rewrites delays
    meta = _route(qpu, qc)
    assert meta["shots_route"] == "per-shot" and "noise pass" in meta["per_shot_reason"]
    plain = QuantumCircuit(1, 1)
    plain.x(0)
    plain.measure(0, 0)
    assert _route(qpu, plain)["shots_route"] == "exact-distribution"


def test_too_wide_for_a_density_matrix_falls_back() -> None:
    qc = QuantumCircuit(12, 12)
    for q in range(11):
        qc.cx(q, q + 1)
    qc.measure(range(12), range(12))
    meta = _route(AerQPU("a", 12, {"depolarizing_2q": 0.01}), qc)
    assert meta["shots_route"] == "per-shot" and "2**24" in meta["per_shot_reason"]
    assert _route(AerQPU("b", 12), qc)["shots_route"] == "exact-distribution"  # a statevector fits


def test_per_shot_option_and_bad_option() -> None:
    qc = QuantumCircuit(1, 1)
    qc.measure(0, 0)
    qpu = AerQPU("a", 1, shots_method="per-shot")
    assert qpu.shots_method == "per-shot"
    assert _route(qpu, qc)["per_shot_reason"] == "shots_method='per-shot'"
    with pytest.raises(BackendConfigError, match="shots_method"):
        AerQPU("a", 1, shots_method="fast")


def test_program_limits_say_why() -> None:
    qc = QuantumCircuit(2, 1)
    for _ in range(12):  # 12 mid-circuit measurements: 2**12 records for 10 shots
        qc.h(0)
        qc.measure(0, 0)
    program = compile_circuit(qc)
    assert isinstance(program, ExactProgram) and program.num_records == 11
    assert program.too_costly(10_000) is None and "costs more" in program.too_costly(10)


# ---------------------------------------------------------------- statistics (slow)

def _joint_outcomes(result: object, binding: int) -> np.ndarray:
    """One integer per shot over all registers of one binding."""
    joint, offset = 0, 0
    for name in result.data:
        bits = result.data[name]
        array = bits.array[binding].astype(np.int64)
        value = (array * (256 ** np.arange(array.shape[-1] - 1, -1, -1))).sum(axis=-1)
        joint = joint + (value << offset)
        offset += bits.num_bits
    return np.asarray(joint)


def homogeneity_pvalue(a: np.ndarray, b: np.ndarray, min_count: int = 10) -> float | None:
    """Chi-square homogeneity p-value of two samples; sparse outcomes pooled into one cell.

    ``None`` when fewer than two cells remain (nothing to compare).
    """
    from scipy.stats import chi2_contingency

    keys, counts = np.unique(np.concatenate([a, b]), return_counts=True)
    table = np.stack([np.searchsorted(keys, a)[:, None] == np.arange(len(keys)),
                      np.searchsorted(keys, b)[:, None] == np.arange(len(keys))]).sum(axis=1)
    order = np.argsort(counts)
    cells, pooled = [], np.zeros(2, dtype=int)
    for i in order:
        if pooled.sum() < min_count:
            pooled = pooled + table[:, i]
        else:
            cells.append(table[:, i])
    if pooled.sum() >= min_count or not cells:
        cells.append(pooled)
    else:
        cells[-1] = cells[-1] + pooled
    if len(cells) < 2:
        return None
    return float(chi2_contingency(np.stack(cells, axis=1), correction=False).pvalue)


def test_homogeneity_pvalues_are_uniform_for_identical_laws() -> None:
    """The statistic itself: same-law samples give uniform p-values, different laws small ones."""
    from scipy.stats import kstest

    rng = np.random.default_rng(0)
    law = np.array([0.5, 0.3, 0.15, 0.04, 0.01])
    pvalues = [homogeneity_pvalue(rng.choice(5, 500, p=law), rng.choice(5, 500, p=law)) for _ in range(300)]
    assert kstest(pvalues, "uniform").pvalue > 0.001 and np.mean(np.less(pvalues, 0.01)) < 0.03
    shifted = np.array([0.45, 0.35, 0.15, 0.04, 0.01])
    assert homogeneity_pvalue(rng.choice(5, 20000, p=law), rng.choice(5, 20000, p=shifted)) < 1e-6


_NOISES = {
    "ideal": None,
    "depolarizing+readout": {"depolarizing_1q": 2e-3, "depolarizing_2q": 3e-2, "readout": [0.03, 0.05]},
    "FakeManilaV2": {"fake_backend": "FakeManilaV2"},
}


@pytest.mark.slow
@pytest.mark.parametrize("noise", list(_NOISES))
def test_exact_shots_are_statistically_identical_to_aer_per_shot(noise: str) -> None:
    """QPD sub-experiments (>= 100 circuit/binding pairs): counts of both routes are homogeneous."""
    from scipy.stats import kstest

    circuits = qpd_subexperiments(6, 2, seed=0)
    mid = [qc for qc in circuits if has_mid_circuit_measurement(qc)]
    chosen = mid + [qc for qc in circuits if not has_mid_circuit_measurement(qc)][:26 - len(mid)]
    rng = np.random.default_rng(11)
    # Aer seeds shot k with seed + k: runs whose seeds are close share shots, so spread the seeds.
    seeds = rng.integers(1, 2**31 - 1, (len(chosen), 2))
    exact = AerQPU("exact", 5, _NOISES[noise])
    per_shot = AerQPU("per-shot", 5, _NOISES[noise], shots_method="per-shot")
    pvalues, shots = [], 2000
    for i, qc in enumerate(chosen):
        pub = as_pub((qc, rng.uniform(-np.pi, np.pi, (4, qc.num_parameters)), shots), shots)
        fast, slow = exact.execute(pub, seed=int(seeds[i, 0])), per_shot.execute(pub, seed=int(seeds[i, 1]))
        assert fast.metadata["shots_route"] == "exact-distribution"
        for binding in range(4):
            p = homogeneity_pvalue(_joint_outcomes(fast, binding), _joint_outcomes(slow, binding))
            if p is not None:
                pvalues.append(p)
    assert len(pvalues) >= 100
    small = float(np.mean(np.less(pvalues, 0.01)))
    uniform = float(kstest(pvalues, "uniform").pvalue)
    print(f"{noise}: {len(pvalues)} pairs, fraction p < 0.01 = {small:.3f}, KS uniformity p = {uniform:.3f}")
    assert small <= 0.05 and uniform > 0.001


def test_wide_laws_are_drawn_over_their_support() -> None:
    qc = QuantumCircuit(17, 17)
    qc.x(range(0, 17, 2))
    qc.h(5)
    qc.measure(range(17), range(17))
    result = AerQPU("a", 17).execute(as_pub((qc, None, 2000), 2000), seed=1)
    counts = result.data.c.get_counts()
    base = "".join("1" if q % 2 == 0 else "0" for q in reversed(range(17)))
    flipped = base[:11] + "1" + base[12:]  # clbit 5 is character 11 from the left
    assert result.metadata["shots_route"] == "exact-distribution" and set(counts) == {base, flipped}
    assert 900 < counts[base] < 1100
