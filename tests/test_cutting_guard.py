"""Refusals before anything runs: plan size, shots, parameter values; output dtypes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from test_sampled_cutting import RecordingPool, circuit_4q_gate_cut, circuit_6q_two_cuts

from dqlstm.circuits import build_vqc
from dqlstm.cutting import estimator, guard, sampled
from dqlstm.cutting.estimator import CutEstimator
from dqlstm.cutting.guard import MAX_SHOTS, check_parameter_values
from dqlstm.cutting.sampled import SampledCutExecutor


@pytest.fixture
def no_generation(monkeypatch):
    """Fail if qiskit-addon-cutting is asked to generate sub-experiments."""

    def refuse(*args, **kwargs):
        raise AssertionError("sub-experiments were generated")

    monkeypatch.setattr(sampled, "generate_cutting_experiments", refuse)


# ---------------------------------------------------------------- plan size


def test_too_many_subexperiments_refused_before_generating(no_generation):
    with pytest.raises(ValueError) as info:
        SampledCutExecutor(circuit_6q_two_cuts(), ["ZZZZZZ"], "AAABBB", max_subexperiments=71)
    msg = str(info.value)
    assert "lists 72 sub-experiments" in msg
    assert "2 cuts" in msg and "50 of them distinct" in msg
    assert "sampling overhead is 81" in msg
    assert "max_qubits" in msg and "max_subexperiments=71" in msg


def test_limit_at_the_count_is_accepted():
    ex = SampledCutExecutor(circuit_6q_two_cuts(), ["ZZZZZZ"], "AAABBB", max_subexperiments=72)
    assert ex.num_subexperiments_listed == 72


def test_max_qubits_one_refused_at_once(no_generation):
    """A plan of millions of sub-experiments is refused from the bases alone."""
    g = build_vqc("brick", 8, 1)
    with pytest.raises(ValueError, match=r"lists 2,239,488 sub-experiments.*sampling overhead"):
        CutEstimator(g.circuit, None, max_qubits=1, method="sampled")


def test_estimator_passes_the_limits_on(no_generation):
    g = build_vqc("modular", 6, 1, module_size=3, links=1)
    with pytest.raises(ValueError, match="max_subexperiments=5"):
        CutEstimator(g.circuit, "ZIIIIZ", max_qubits=3, method="sampled", max_subexperiments=5)
    with pytest.raises(ValueError, match="max_total_shots=1,000"):
        CutEstimator(g.circuit, "ZIIIIZ", max_qubits=3, method="sampled", shots=101, max_total_shots=1000)


def test_shots_of_a_call_are_capped():
    pool = RecordingPool(0)
    # 10 distinct sub-experiments x 10 shots = 100 per binding
    ex = SampledCutExecutor(
        circuit_4q_gate_cut(), ["ZZZZ"], "AABB", pool=pool, shots=10, max_total_shots=1000
    )
    ex.run(np.zeros((10, 12)))
    with pytest.raises(ValueError, match="1,100 shots.*max_total_shots=1,000"):
        ex.run(np.zeros((11, 12)))
    with pytest.raises(ValueError, match="parameter-shift run needs"):
        ex.jacobian(np.zeros((1, 12)))  # 2 fragments x 5 circuits x (2 x 6) shifts x 10 = 1200
    assert len(pool.calls) == 2  # the refused calls ran nothing; jacobian's base run did
    with pytest.raises(ValueError, match="shots for a single binding"):
        SampledCutExecutor(circuit_4q_gate_cut(), ["ZZZZ"], "AABB", shots=10, max_total_shots=99)
    unlimited = SampledCutExecutor(
        circuit_4q_gate_cut(), ["ZZZZ"], "AABB", max_subexperiments=None, max_total_shots=None
    )
    assert unlimited.max_total_shots is None


@pytest.mark.parametrize("limit", [0, -3, 1.5, True, "100"])
def test_bad_limits(limit):
    with pytest.raises(ValueError, match="max_subexperiments must be a positive integer or None"):
        SampledCutExecutor(circuit_4q_gate_cut(), ["ZZZZ"], "AABB", max_subexperiments=limit)


# ---------------------------------------------------------------- shots


def test_shots_capped_per_subexperiment():
    with pytest.raises(ValueError, match="above the maximum 100,000,000"):
        SampledCutExecutor(circuit_4q_gate_cut(), ["ZZZZ"], "AABB", shots=10**12)
    g = build_vqc("modular", 6, 1, module_size=3, links=1)
    with pytest.raises(ValueError, match="above the maximum"):
        CutEstimator(g.circuit, "ZIIIIZ", max_qubits=3, method="sampled", shots=10**12)
    assert SampledCutExecutor(circuit_4q_gate_cut(), ["ZZZZ"], "AABB", shots=MAX_SHOTS).shots == MAX_SHOTS


# ---------------------------------------------------------------- parameter values


def test_one_parameter_check_for_every_engine():
    assert estimator.check_parameter_values is guard.check_parameter_values
    assert sampled.check_parameter_values is guard.check_parameter_values
    with pytest.raises(ValueError, match="no rows"):
        check_parameter_values(np.zeros((0, 3)), 3)
    g = build_vqc("modular", 6, 1, module_size=3, links=1)
    est = CutEstimator(g.circuit, "ZIIIIZ", max_qubits=3)  # cut-exact refuses B = 0 too
    with pytest.raises(ValueError, match="no rows"):
        est.run(np.zeros((0, len(est.parameters))))


@pytest.mark.parametrize("values", [np.full((1, 12), 0.5 + 0.1j), np.full((1, 12), 0.5 + 0j), [[1j] * 12]])
def test_complex_parameter_values_refused(values):
    ex = SampledCutExecutor(circuit_4q_gate_cut(), ["ZZZZ"], "AABB", pool=RecordingPool(0))
    with pytest.raises(ValueError, match="complex"):
        ex.run(values)
    with pytest.raises(ValueError, match="complex"):
        ex.jacobian(values)
    with pytest.raises(ValueError, match="complex"):
        check_parameter_values(values, 12)


@pytest.mark.parametrize("method", ["cut-exact", "sampled"])
def test_estimator_refuses_complex_values_and_tensors(method):
    g = build_vqc("modular", 6, 1, module_size=3, links=1)
    shots = 16 if method == "sampled" else None
    est = CutEstimator(g.circuit, "ZIIIIZ", max_qubits=3, method=method, shots=shots)
    P = len(est.parameters)
    with pytest.raises(ValueError, match="complex"):
        est.run(np.full((1, P), 1 + 1j))
    with pytest.raises(ValueError, match="complex"):
        est.torch(torch.ones(1, P, dtype=torch.complex128))


# ---------------------------------------------------------------- output dtypes


def test_integer_tensor_gives_float64_values():
    g = build_vqc("modular", 6, 1, module_size=3, links=1)
    est = CutEstimator(g.circuit, ["ZIIIIZ", "IIIZII"], max_qubits=3)
    P = len(est.parameters)
    ints = torch.arange(2 * P, dtype=torch.int64).reshape(2, P) % 3
    out = est.torch(ints)
    assert out.dtype == torch.float64
    expected = est.run(ints.numpy().astype(np.float64))
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-12)
    assert np.abs(expected).max() > 0.01  # truncation to int would have made these 0
    assert est.torch(ints[0]).dtype == torch.float64
    assert est.torch(ints.to(torch.float32)).dtype == torch.float32  # floats keep their dtype

    sampled_est = CutEstimator(g.circuit, "ZIIIIZ", max_qubits=3, method="sampled", shots=64, seed=2)
    out = sampled_est.torch(ints)
    assert out.dtype == torch.float64 and out.shape == (2, 1)


# ---------------------------------------------------------------- observables


def test_complex_coefficients_summed_before_the_check():
    """(1+1j)P + (1-1j)P = 2P is Hermitian: accepted as cut-exact accepts it."""
    op = SparsePauliOp(["ZZZZ", "ZZZZ"], [1 + 1j, 1 - 1j])
    ex = SampledCutExecutor(circuit_4q_gate_cut(), [op, "ZZZZ"], "AABB", pool=RecordingPool(1), shots=32)
    out = ex.run(np.full((2, 12), 0.4))
    np.testing.assert_allclose(out.values[:, 0], 2 * out.values[:, 1], rtol=0, atol=1e-12)
    g = build_vqc("modular", 6, 1, module_size=3, links=1)
    wide = SparsePauliOp(["ZIIIIZ", "ZIIIIZ"], [1 + 1j, 1 - 1j])
    CutEstimator(g.circuit, wide, max_qubits=3, method="sampled", shots=16)
    with pytest.raises(ValueError, match="complex coefficients"):
        SampledCutExecutor(circuit_4q_gate_cut(), [SparsePauliOp("ZZZZ", 1j)], "AABB")


def test_uncut_identity_circuit_has_no_cuts_to_guard():
    qc = QuantumCircuit(2)
    qc.h(0)
    ex = SampledCutExecutor(qc, ["ZI"], "AA", pool=RecordingPool(0), shots=8, max_subexperiments=1)
    assert ex.num_cuts == 0 and ex.num_subexperiments == ex.num_subexperiments_listed == 1


def test_a_pool_that_cannot_run_pubs_is_refused_when_built():
    from dqlstm.circuits import build_vqc
    from dqlstm.cutting import CutEstimator

    g = build_vqc("modular", 4, layers=1, module_size=2, links=1)
    with pytest.raises(ValueError, match="pool must be a backends.QPUPool or a Qiskit V2 sampler.*list"):
        CutEstimator(g.circuit, ["ZIII"], max_qubits=2, method="sampled", pool=[1, 2], shots=10)
