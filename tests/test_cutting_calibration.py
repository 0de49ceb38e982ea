"""Reported standard errors are calibrated where qiskit-addon-cutting lists duplicates.

Two CX cuts (36 QPD terms, 25 distinct circuits per fragment): over a few hundred
estimates at random parameter values, z = (estimate - exact) / stderr has
spread 1 +- 0.1, exact values from ``Statevector``. Shared estimates make the
terms correlated; an independent-terms variance would miss this spread.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_sampled_cutting import circuit_6q_two_cuts, exact_values, finite_difference_jacobian

import backends
from dqlstm.cutting.sampled import SampledCutExecutor

pytestmark = pytest.mark.slow

LABELS = "AAABBB"


def _z_scores(ex: SampledCutExecutor, observables, num_bindings: int, seed: int) -> np.ndarray:
    qc = ex.circuit
    values = np.random.default_rng(seed).uniform(-np.pi, np.pi, (num_bindings, ex.num_parameters))
    out = ex.run(values)
    assert out.cost.num_subexperiments < out.cost.num_subexperiments_listed  # duplicates merged
    assert np.all(out.stderr > 0)
    return ((out.values - exact_values(qc, observables, values)) / out.stderr).ravel()


def _assert_calibrated(z: np.ndarray) -> None:
    assert len(z) >= 300
    spread = z.std(ddof=1)
    assert abs(spread - 1) < 0.1, f"z spread {spread:.3f}, mean {z.mean():.3f}"
    assert abs(z.mean()) < 0.2, f"z mean {z.mean():.3f}"


def test_values_calibrated_with_default_sampler():
    obs = ["ZZZZZZ", "IIZZII", "ZIIIIZ", "IZIIZI"]  # one group per fragment: 50 PUBs
    ex = SampledCutExecutor(circuit_6q_two_cuts(), obs, LABELS, shots=200, seed=17)
    _assert_calibrated(_z_scores(ex, obs, 100, seed=1))


def test_values_calibrated_on_qpu_pool():
    obs = ["ZZZZZZ", "IIZZII", "ZIIIIZ", "XIIIIX"]  # two groups per fragment: 100 PUBs
    qpus = [backends.AerQPU("a", 3), backends.AerQPU("b", 3)]
    with backends.QPUPool(qpus, seed=23) as pool:
        ex = SampledCutExecutor(circuit_6q_two_cuts(), obs, LABELS, pool=pool, shots=200)
        z = np.concatenate([_z_scores(ex, obs, 50, seed=s) for s in (2, 3)])
    _assert_calibrated(z)


def test_gradients_calibrated_on_qpu_pool():
    """Parameter-shift Jacobian against central finite differences of the exact values."""
    obs = ["ZZZZZZ", "IIZZII", "ZIIIIZ", "IZIIZI"]
    qc = circuit_6q_two_cuts()
    qpus = [backends.AerQPU("a", 3), backends.AerQPU("b", 3)]
    with backends.QPUPool(qpus, seed=29) as pool:
        ex = SampledCutExecutor(qc, obs, LABELS, pool=pool, shots=200)
        values = np.random.default_rng(4).uniform(-np.pi, np.pi, (8, ex.num_parameters))
        jac = ex.jacobian(values)
    fd = finite_difference_jacobian(qc, obs, values)
    assert np.all(jac.stderr > 0)
    _assert_calibrated(((jac.jacobian - fd) / jac.stderr).ravel())
