"""Sampled cut execution: reconstruction, values, parameter-shift gradients, autograd.

References are independent: qiskit-addon-cutting's ``reconstruct_expectation_values``
on the very same bit arrays, and exact ``Statevector`` expectation values.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector
from qiskit.primitives import BitArray, DataBin, PrimitiveResult, SamplerPubResult
from qiskit.quantum_info import SparsePauliOp, Statevector
from qiskit_addon_cutting import cut_wires, reconstruct_expectation_values
from qiskit_addon_cutting.instructions import CutWire
from qiskit_aer.primitives import SamplerV2

from dqlstm.cutting.sampled import SampledCutExecutor, run_pubs
from dqlstm.cutting.torch_sampled import sampled_expectation

# ---------------------------------------------------------------- fixtures


def _rotations(qc: QuantumCircuit, theta, start: int, gate: str) -> int:
    for q in range(qc.num_qubits):
        getattr(qc, gate)(theta[start + q], q)
    return start + qc.num_qubits


def circuit_4q_gate_cut() -> QuantumCircuit:
    """4 qubits, AABB: CX(1, 2) is the only gate between the halves."""
    t = ParameterVector("t", 12)
    qc = QuantumCircuit(4)
    k = _rotations(qc, t, 0, "ry")
    qc.cx(0, 1)
    qc.cx(3, 2)
    qc.cx(1, 2)
    k = _rotations(qc, t, k, "rx")
    qc.cx(0, 1)
    qc.cx(2, 3)
    _rotations(qc, t, k, "rz")
    return qc


def circuit_6q_two_cuts() -> QuantumCircuit:
    """6 qubits, AAABBB: CX(2, 3) and CX(5, 0) cross the halves."""
    t = ParameterVector("t", 12)
    qc = QuantumCircuit(6)
    k = _rotations(qc, t, 0, "ry")
    for a, b in [(0, 1), (1, 2), (3, 4), (4, 5), (2, 3), (5, 0)]:
        qc.cx(a, b)
    _rotations(qc, t, k, "rx")
    return qc


def circuit_4q_wire_and_gate_cut() -> QuantumCircuit:
    """4 qubits; CX(1, 2) is gate-cut, then qubit 2 is wire-cut and moves to A.

    After ``cut_wires`` the qubits are (0, 1, 2-before-cut, 2-after-cut, 3):
    partition ``"AABAB"``.
    """
    t = ParameterVector("t", 8)
    qc = QuantumCircuit(4)
    k = _rotations(qc, t, 0, "ry")
    qc.cx(0, 1)
    qc.cx(2, 3)
    qc.cx(1, 2)
    qc.append(CutWire(), [2])
    qc.cx(2, 1)
    _rotations(qc, t, k, "rx")
    return qc


def circuit_2q() -> QuantumCircuit:
    """2 qubits, AB: one CX cut, one parameter-carrying rotation layer on each side."""
    t = ParameterVector("t", 4)
    qc = QuantumCircuit(2)
    qc.ry(t[0], 0)
    qc.ry(t[1], 1)
    qc.cx(0, 1)
    qc.rx(t[2], 0)
    qc.rx(t[3], 1)
    return qc


def exact_values(qc: QuantumCircuit, observables, values: np.ndarray) -> np.ndarray:
    ops = [SparsePauliOp(o) if isinstance(o, str) else o for o in observables]
    out = []
    for row in np.atleast_2d(values):
        sv = Statevector(qc.assign_parameters(row))
        out.append([sv.expectation_value(op).real for op in ops])
    return np.array(out)


def finite_difference_jacobian(qc: QuantumCircuit, observables, values: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of the exact values: ``(B, n_observables, P)``."""
    values = np.atleast_2d(values)
    fd = np.zeros((values.shape[0], len(observables), values.shape[1]))
    for p in range(values.shape[1]):
        e = np.zeros(values.shape[1])
        e[p] = h
        fd[:, :, p] = (exact_values(qc, observables, values + e) - exact_values(qc, observables, values - e)) / (2 * h)
    return fd


def aer_sampler(seed: int) -> SamplerV2:
    # one OpenMP thread: Aer's default threading is very slow on shared CPUs
    return SamplerV2(seed=seed, options={"backend_options": {"max_parallel_threads": 1}})


class RecordingPool:
    """A pool in the QPUPool style (``run(pubs) -> list``) that keeps every call."""

    def __init__(self, seed: int) -> None:
        self.sampler = aer_sampler(seed)
        self.calls: list[tuple[list, list]] = []

    def run(self, pubs):
        results = list(self.sampler.run(pubs).result())
        self.calls.append((pubs, results))
        return results


def _slice_result(result, index) -> SamplerPubResult:
    """One binding of a batched sub-experiment result, as the reference expects it."""
    data = result.data
    return SamplerPubResult(
        DataBin(
            qpd_measurements=BitArray(
                data.qpd_measurements.array[index], data.qpd_measurements.num_bits
            ),
            observable_measurements=BitArray(
                data.observable_measurements.array[index],
                data.observable_measurements.num_bits,
            ),
        )
    )


def _split(executor: SampledCutExecutor, results: list) -> dict:
    """Results of one call per label (the distinct sub-experiments that ran)."""
    out, start = {}, 0
    for frag in executor.fragments:
        out[frag.label] = results[start : start + len(frag.subexperiments)]
        start += len(frag.subexperiments)
    return out


def _reference(executor: SampledCutExecutor, by_label: dict, index) -> np.ndarray:
    """qiskit-addon-cutting's reconstruction of the Pauli terms for one binding.

    Every listed sub-experiment gets the result of its distinct circuit.
    """
    results = {}
    for frag in executor.fragments:
        listed = [by_label[frag.label][j] for j in frag.terms.listed_to_distinct()]
        results[frag.label] = PrimitiveResult([_slice_result(r, index[frag.label]) for r in listed])
    return np.array(reconstruct_expectation_values(results, executor.coefficients, executor.subobservables))


# ---------------------------------------------------------------- reconstruction vs reference


@pytest.mark.parametrize(
    "make, labels, observables",
    [
        (circuit_4q_gate_cut, "AABB", ["ZZZZ", "XXII", "IIYY", "IZZI", "IIII", "XIIZ"]),
        (circuit_4q_wire_and_gate_cut, "AABAB", ["ZZZZ", "IXXI"]),
    ],
)
def test_reconstruction_equals_qiskit_addon_cutting(make, labels, observables):
    qc = make()
    pool = RecordingPool(seed=11)
    ex = SampledCutExecutor(qc, observables, labels, pool=pool, shots=128)
    rng = np.random.default_rng(0)
    values = rng.uniform(-np.pi, np.pi, (2, ex.num_parameters))
    out = ex.run(values)
    (pubs, results), = pool.calls
    by_label = _split(ex, results)
    for b in range(2):
        ref = _reference(ex, by_label, {lab: b for lab in by_label})
        # observables here are single Paulis, so values are the Pauli-term values
        np.testing.assert_allclose(out.values[b], ref @ ex.term_weights.T, rtol=0, atol=1e-12)
    assert out.values.shape == (2, len(observables))
    identity = np.array([SparsePauliOp(o).paulis[0].to_label() == "I" * qc.num_qubits for o in observables])
    assert np.all(out.stderr[:, ~identity] > 0)
    # the identity's QPD-measurement terms cancel exactly now that they share one estimate
    np.testing.assert_allclose(out.values[:, identity], 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out.stderr[:, identity], 0.0, rtol=0, atol=1e-12)


def _random_results(rng, num_terms, obs_bits, qpd_bits_per_term, batch, shots):
    """Random sub-experiment results with the registers qiskit-addon-cutting creates."""
    out = []
    for i in range(num_terms):
        regs = {}
        for name, bits in [("qpd_measurements", qpd_bits_per_term[i]), ("observable_measurements", obs_bits)]:
            nbytes = (bits + 7) // 8
            arr = rng.integers(0, 256, (batch, shots, nbytes), dtype=np.uint8)
            arr[..., 0] &= (1 << (bits - 8 * (nbytes - 1))) - 1
            regs[name] = BitArray(arr, bits)
        out.append(SamplerPubResult(DataBin(**regs)))
    return out


@pytest.mark.parametrize("shots, force_mask_path", [(600, False), (50, False), (600, True)])
def test_reconstructor_wide_registers(monkeypatch, shots, force_mask_path):
    """Multi-byte registers, QPD registers of different widths, both evaluation paths."""
    from qiskit.quantum_info import PauliList

    from dqlstm.cutting import reconstruct

    if force_mask_path:  # and one QPD term per chunk
        monkeypatch.setattr(reconstruct, "_MAX_HISTOGRAM_OUTCOMES", 0)
        monkeypatch.setattr(reconstruct, "_CHUNK_SHOTS", 1)
    subobs = {"A": PauliList(["ZZZZZZZZZZ", "ZIZIZIZIZI", "IIIIIIIIIZ", "ZIIIIIIIII"])}
    coefficients = [(0.5, None), (-1.25, None), (2.0, None)]
    rng = np.random.default_rng(3)
    batch = 2
    results = _random_results(rng, 3, 10, [3, 12, 1], batch, shots)
    rec = reconstruct.CutReconstructor(coefficients, subobs)
    ours = rec.reconstruct({"A": results})
    for b in range(batch):
        ref = reconstruct_expectation_values(
            {"A": PrimitiveResult([_slice_result(r, b) for r in results])}, coefficients, subobs
        )
        np.testing.assert_allclose(ours.values[b], ref, rtol=0, atol=1e-12)


def test_gradient_arithmetic_equals_reference_on_shifted_results():
    """The Jacobian is (E(+pi/2) - E(-pi/2)) / 2 with only the owning fragment shifted.

    Reference: qiskit-addon-cutting's reconstruction of the shifted fragment's
    results combined with the other fragment's unshifted results.
    """
    obs = ["ZZ", "XZ", "ZY"]  # two commuting groups per fragment
    pool = RecordingPool(seed=5)
    ex = SampledCutExecutor(circuit_2q(), obs, "AB", pool=pool, shots=64)
    values = np.random.default_rng(1).uniform(-np.pi, np.pi, (2, ex.num_parameters))
    base = ex.run(values)
    jac = ex.jacobian(values, base=base)
    assert jac.jacobian.shape == (2, 3, ex.num_parameters)
    (_, base_results), (shift_pubs, shift_results) = pool.calls
    base_by_label = _split(ex, base_results)
    # the shifted call holds every fragment's sub-experiments, fragment by fragment
    shifted_by_label = _split(ex, shift_results)
    for frag in ex.fragments:
        for j, col in enumerate(frag.parameters):
            for b in range(2):
                by_label = dict(base_by_label)
                by_label[frag.label] = shifted_by_label[frag.label]
                index = {lab: b for lab in by_label}
                index[frag.label] = (0, j, b)
                plus = _reference(ex, by_label, index)
                index[frag.label] = (1, j, b)
                minus = _reference(ex, by_label, index)
                expected = 0.5 * (plus - minus) @ ex.term_weights.T
                np.testing.assert_allclose(jac.jacobian[b, :, col], expected, rtol=0, atol=1e-12)
    # only the shifted sub-experiments ran again: 2 shifts x P_f params x B bindings each
    expected_circuits = sum(
        len(f.subexperiments) * 2 * len(f.parameters) * 2 for f in ex.fragments
    )
    assert jac.cost.num_circuits_executed == expected_circuits
    assert len(shift_pubs) == ex.num_subexperiments


def test_cost_and_overhead():
    qc = circuit_4q_wire_and_gate_cut()
    pool = RecordingPool(seed=2)
    ex = SampledCutExecutor(qc, ["ZZZZ"], "AABAB", pool=pool, shots=16)
    assert ex.num_cuts == 2
    assert ex.sampling_overhead == pytest.approx(9.0 * 16.0)  # CX gate cut x Move wire cut
    out = ex.run(np.zeros((2, ex.num_parameters)))
    # one commuting group per fragment: listed = 2 fragments x (6 x 8) QPD terms,
    # of which 30 (A) + 20 (B) circuits are distinct and run
    assert ex.reconstructor.num_qpd_terms == 48
    assert ex.num_subexperiments_listed == 96 == out.cost.num_subexperiments_listed
    assert ex.num_subexperiments == 50 == out.cost.num_subexperiments
    assert ex.predicted.total_listed == 96 and ex.predicted.total_distinct == 50
    assert out.cost.num_pubs == 50
    assert out.cost.num_circuits_executed == 100
    assert out.cost.total_shots == 100 * 16
    assert out.cost.sampling_overhead == pytest.approx(144.0)


def test_cut_wire_markers_and_pre_expanded_circuit_agree():
    """``CutWire`` in the circuit == the same circuit after ``cut_wires`` passed as cut_circuit."""
    qc = circuit_4q_wire_and_gate_cut()
    values = np.full((1, qc.num_parameters), 0.7)
    obs = ["ZZZZ", "IZZI"]
    a = SampledCutExecutor(qc, obs, "AABAB", pool=RecordingPool(4), shots=16)
    b = SampledCutExecutor(
        qc, obs, "AABAB", pool=RecordingPool(4), shots=16, cut_circuit=cut_wires(qc)
    )
    assert a.num_subexperiments == b.num_subexperiments
    np.testing.assert_array_equal(a.run(values).values, b.run(values).values)


def test_from_partitioner_plan():
    partitioner = pytest.importorskip("partitioner")
    qc = circuit_4q_gate_cut()
    plan = partitioner.plan_cuts(qc, 2)
    obs = ["ZZZZ", "IIIZ"]
    ex = SampledCutExecutor.from_plan(plan, qc, obs, pool=RecordingPool(6), shots=16)
    assert ex.num_subexperiments_listed == plan.num_subexperiments  # one group per fragment
    assert ex.num_subexperiments == 10  # 5 distinct of 6 per fragment
    assert ex.sampling_overhead == pytest.approx(plan.sampling_overhead)
    ref = SampledCutExecutor(qc, obs, plan.partition_labels, pool=RecordingPool(6), shots=16)
    values = np.full((2, qc.num_parameters), -0.4)
    np.testing.assert_array_equal(ex.run(values).values, ref.run(values).values)


def test_runs_on_qpu_pool():
    backends = pytest.importorskip("backends")
    qc = circuit_4q_gate_cut()
    pool = backends.QPUPool([backends.AerQPU("a", 2, seed=1), backends.AerQPU("b", 2, seed=2)], seed=5)
    obs = ["ZZZZ", "IZZI"]
    ex = SampledCutExecutor(qc, obs, "AABB", pool=pool, shots=2000)
    values = np.random.default_rng(8).uniform(-np.pi, np.pi, (2, 12))
    out = ex.run(values)
    assert np.all(np.abs(out.values - exact_values(qc, obs, values)) < 5 * out.stderr)


def test_sampler_and_pool_give_the_same_results():
    """A V2 sampler (job.result()) and a pool (list) are interchangeable."""
    qc = circuit_4q_gate_cut()
    values = np.full((1, 12), 0.3)
    a = SampledCutExecutor(qc, ["ZZZZ"], "AABB", pool=aer_sampler(3), shots=32).run(values)
    b = SampledCutExecutor(qc, ["ZZZZ"], "AABB", pool=RecordingPool(seed=3), shots=32).run(values)
    np.testing.assert_array_equal(a.values, b.values)


def test_run_pubs_rejects_missing_results():
    class Short:
        def run(self, pubs):
            return pubs[:-1]

    with pytest.raises(RuntimeError, match="2 PUBs"):
        run_pubs(Short(), [1, 2])


def test_autograd_equals_direct_jacobian():
    qc = circuit_2q()
    obs = ["ZZ", SparsePauliOp(["XI", "IZ"], [0.5, -1.0])]
    values = np.random.default_rng(2).uniform(-np.pi, np.pi, (2, 4))
    weights = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)

    ex = SampledCutExecutor(qc, obs, "AB", shots=64, seed=7)
    params = torch.tensor(values, requires_grad=True)
    out = sampled_expectation(ex, params)
    (out * weights).sum().backward()

    direct = SampledCutExecutor(qc, obs, "AB", shots=64, seed=7)
    base = direct.run(values)
    jac = direct.jacobian(values, base=base)
    np.testing.assert_allclose(out.detach().numpy(), base.values, rtol=0, atol=1e-12)
    expected = np.einsum("bo,bop->bp", weights.numpy(), jac.jacobian)
    np.testing.assert_allclose(params.grad.numpy(), expected, rtol=0, atol=1e-12)


def test_autograd_single_binding_vector():
    qc = circuit_4q_gate_cut()
    ex = SampledCutExecutor(qc, ["ZZZZ", "IZZI"], "AABB", shots=16, seed=1)
    params = torch.zeros(12, requires_grad=True)
    out = sampled_expectation(ex, params)
    assert out.shape == (2,)
    out.sum().backward()
    assert params.grad.shape == (12,)


# ---------------------------------------------------------------- bad input


def test_observable_on_wrong_number_of_qubits():
    with pytest.raises(ValueError, match="observable 1 acts on 3 qubits but the circuit has 4"):
        SampledCutExecutor(circuit_4q_gate_cut(), ["ZZZZ", "ZZZ"], "AABB")


def test_partition_labels_wrong_length_mentions_wire_cuts():
    with pytest.raises(ValueError, match="5 qubits.*wire cut"):
        SampledCutExecutor(circuit_4q_wire_and_gate_cut(), ["ZZZZ"], "AABB")


@pytest.mark.parametrize(
    "values, match",
    [
        (np.zeros((2, 11)), r"shape \(B, 12\)"),
        (np.zeros((2, 3, 12)), r"shape \(B, 12\)"),
        (np.full((1, 12), np.nan), "NaN"),
        (np.zeros((0, 12)), "no rows"),
        ([["a"] * 12], "not a numeric array"),
    ],
)
def test_bad_parameter_values(values, match):
    ex = SampledCutExecutor(circuit_4q_gate_cut(), ["ZZZZ"], "AABB", pool=RecordingPool(0))
    with pytest.raises(ValueError, match=match):
        ex.run(values)
    with pytest.raises(ValueError, match=match):
        ex.jacobian(values)


@pytest.mark.parametrize("shots", [0, -5, 1.5, True])
def test_bad_shots(shots):
    with pytest.raises(ValueError, match="shots"):
        SampledCutExecutor(circuit_4q_gate_cut(), ["ZZZZ"], "AABB", shots=shots)


def test_cut_on_parameterised_gate():
    a = Parameter("a")
    qc = QuantumCircuit(2)
    qc.ry(Parameter("b"), 0)
    qc.rzz(a, 0, 1)
    with pytest.raises(ValueError, match="cut gate rzz.*carries trainable parameter.*a.*keep parameters off cut gates"):
        SampledCutExecutor(qc, ["ZZ"], "AB")


def test_parameter_not_on_single_rotation():
    qc = QuantumCircuit(2)
    p = Parameter("p")
    qc.ry(p, 0)
    qc.rx(p, 1)
    with pytest.raises(ValueError, match="p appear in more than one gate"):
        SampledCutExecutor(qc, ["ZZ"], "AB")
    qc = QuantumCircuit(2)
    qc.ry(2 * p, 0)
    with pytest.raises(ValueError, match="bare parameter"):
        SampledCutExecutor(qc, ["ZZ"], "AB")
    qc = QuantumCircuit(2)
    qc.u(p, 0, 0, 0)
    with pytest.raises(ValueError, match="'u' gate"):
        SampledCutExecutor(qc, ["ZZ"], "AB")


def test_idle_qubit_with_automatic_partition():
    qc = QuantumCircuit(3)
    qc.ry(Parameter("a"), 0)
    qc.cx(0, 1)
    with pytest.raises(ValueError, match="idle qubits"):
        SampledCutExecutor(qc, ["ZZZ"], None)


def test_base_from_other_bindings_rejected():
    ex = SampledCutExecutor(circuit_4q_gate_cut(), ["ZZZZ"], "AABB", pool=RecordingPool(0), shots=8)
    base = ex.run(np.zeros((1, 12)))
    with pytest.raises(ValueError, match="different parameter_values"):
        ex.jacobian(np.ones((1, 12)), base=base)


# ---------------------------------------------------------------- statistics vs exact


def _assert_within(estimate, stderr, exact, k=4.0):
    z = np.abs(estimate - exact) / stderr
    assert np.all(stderr > 0)
    assert np.all(z < k), f"max |z| = {z.max():.2f}\nestimate {estimate}\nexact {exact}"


@pytest.mark.slow
@pytest.mark.parametrize(
    "make, labels, observables, shots",
    [
        (circuit_4q_gate_cut, "AABB", ["ZZZZ", "IZZI", "ZIIZ", "IIIZ"], 8000),
        (circuit_6q_two_cuts, "AAABBB", ["ZZZZZZ", "IIZZII", "ZIIIIZ"], 3000),
        (
            circuit_4q_wire_and_gate_cut,
            "AABAB",
            ["ZZZZ", "IZZI", SparsePauliOp(["ZIII", "IIIZ"], [0.5, -1.0])],
            3000,
        ),
    ],
)
def test_sampled_values_match_statevector(make, labels, observables, shots):
    qc = make()
    ex = SampledCutExecutor(qc, observables, labels, shots=shots, seed=1234)
    values = np.random.default_rng(3).uniform(-np.pi, np.pi, (2, ex.num_parameters))
    out = ex.run(values)
    _assert_within(out.values, out.stderr, exact_values(qc, observables, values))


@pytest.mark.slow
def test_sampled_gradient_matches_finite_differences():
    qc = circuit_4q_gate_cut()
    obs = ["ZZZZ", "IZZI", "ZIIZ"]
    ex = SampledCutExecutor(qc, obs, "AABB", shots=1500, seed=99)
    values = np.random.default_rng(4).uniform(-np.pi, np.pi, (2, ex.num_parameters))
    jac = ex.jacobian(values)
    fd = finite_difference_jacobian(qc, obs, values)
    _assert_within(jac.jacobian, jac.stderr, fd)
    # the estimate is informative, not just noise within wide error bars
    assert np.abs(fd).max() > 10 * jac.stderr.mean()


def _spread_ratio(estimates: np.ndarray, stderr: np.ndarray) -> np.ndarray:
    """Empirical std over repeated identical bindings / mean reported standard error."""
    return estimates.std(axis=0, ddof=1) / stderr.mean(axis=0)


@pytest.mark.slow
def test_standard_errors_are_calibrated():
    """128 identical bindings are 128 independent repetitions: their spread matches the stderr
    (the ratio's own spread is about 1/sqrt(254) = 0.06, so the bounds are 4 of those)."""
    qc = circuit_4q_gate_cut()
    obs = ["ZZZZ", "IZZI", SparsePauliOp(["ZIII", "IIZI"], [1.0, 1.0])]
    ex = SampledCutExecutor(qc, obs, "AABB", shots=200, seed=21)
    row = np.random.default_rng(5).uniform(-np.pi, np.pi, 12)
    out = ex.run(np.tile(row, (128, 1)))
    ratio = _spread_ratio(out.values, out.stderr)
    # single Paulis: exact stderr; the sum of two Paulis: an upper bound
    assert np.all((ratio[:2] > 0.75) & (ratio[:2] < 1.3)), ratio
    assert 0.3 < ratio[2] < 1.6, ratio


@pytest.mark.slow
def test_gradient_standard_errors_are_calibrated():
    # 128 repetitions: the ratio's own spread is about 0.06 (16 gave 0.18 and flaky bounds)
    ex = SampledCutExecutor(circuit_2q(), ["ZZ", "IZ"], "AB", shots=200, seed=22)
    row = np.array([0.3, -1.1, 0.8, 2.0])
    jac = ex.jacobian(np.tile(row, (128, 1)))
    ratio = _spread_ratio(jac.jacobian.reshape(128, -1), jac.stderr.reshape(128, -1))
    assert np.all((ratio > 0.75) & (ratio < 1.3)), ratio
