"""Shot allocation across the distinct sub-experiments (dqlstm.cutting.allocation).

References: qiskit-addon-cutting's ``reconstruct_expectation_values`` on the same
bit arrays (unequal shots per sub-experiment), exact ``Statevector`` values for
the spread of repeated estimates, central differences for the sensitivities.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit_addon_cutting.instructions import CutWire

from dqlstm.cutting.allocation import MIN_SHOTS, ShotAllocator, allocate, class_weights
from dqlstm.cutting.dedup import MergedQPD
from dqlstm.cutting.sampled import SampledCutExecutor
from tests.test_sampled_cutting import (
    RecordingPool,
    _reference,
    _split,
    circuit_4q_wire_and_gate_cut,
    exact_values,
)

# ---------------------------------------------------------------- circuits with unequal cut weights


def circuit_rzz(theta: float = 0.2) -> QuantumCircuit:
    """2 qubits, AB: a fixed RZZ(theta) gate cut; small theta puts almost all weight on one term."""
    t = ParameterVector("t", 4)
    qc = QuantumCircuit(2)
    qc.ry(t[0], 0)
    qc.ry(t[1], 1)
    qc.rzz(theta, 0, 1)
    qc.rx(t[2], 0)
    qc.rx(t[3], 1)
    return qc


def circuit_wire() -> QuantumCircuit:
    """3 qubits; qubit 1 is wire-cut between CX(0, 1) and CX(1, 2): partition AABB after expansion."""
    t = ParameterVector("t", 6)
    qc = QuantumCircuit(3)
    for q in range(3):
        qc.ry(t[q], q)
    qc.cx(0, 1)
    qc.append(CutWire(), [1])
    qc.cx(1, 2)
    for q in range(3):
        qc.rx(t[3 + q], q)
    return qc


# ---------------------------------------------------------------- allocate()


def _water_fill(total: int, w: np.ndarray, floor: int) -> np.ndarray:
    """Reference continuous optimum by bisection on lambda: sum max(floor, lam w) = total."""
    lo, hi = 0.0, total / max(w.max(), 1e-300) + 1.0
    for _ in range(200):
        lam = 0.5 * (lo + hi)
        if np.maximum(floor, lam * w).sum() > total:
            hi = lam
        else:
            lo = lam
    return np.maximum(floor, lo * w)


@pytest.mark.parametrize(
    "total, weights",
    [
        (1000, [1.0, 1.0, 1.0, 1.0]),
        (1000, [0.99, 0.2, 0.1, 0.1, 0.01, 0.99, 0.1, 0.1, 0.2, 0.01]),
        (60, [5.0, 1e-4, 1e-4, 0.0, 3.0]),  # tiny and zero weights sit on the floor
        (20, [1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),  # total == floor x count + 8
        (7919, np.random.default_rng(0).exponential(size=37)),
    ],
)
def test_allocate_is_the_rounded_water_filled_optimum(total, weights):
    w = np.asarray(weights, dtype=float)
    n = allocate(total, w)
    assert n.dtype == np.int64 and n.sum() == total
    assert n.min() >= MIN_SHOTS
    x = _water_fill(total, w, MIN_SHOTS)
    assert np.all(np.abs(n - x) < 1.0 + 1e-6), (n, x)  # largest remainder: within one of the optimum
    assert np.all(n[w == 0] == MIN_SHOTS)


def test_allocate_edge_cases():
    np.testing.assert_array_equal(allocate(10, np.zeros(3)), [4, 3, 3])  # all zero: as equal as possible
    np.testing.assert_array_equal(allocate(6, np.array([1.0, 9.0, 5.0])), [2, 2, 2])  # exactly the floor
    with pytest.raises(ValueError, match="floor of 2 shots"):
        allocate(5, np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        allocate(10, np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="non-empty"):
        allocate(10, np.array([]))


def test_allocator_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown allocation 'neyman'"):
        ShotAllocator("neyman", 10, np.ones(2), np.arange(2))
    with pytest.raises(ValueError, match="needs shots >= 2"):
        ShotAllocator("weighted", 1, np.ones(2), np.arange(2))
    with pytest.raises(ValueError, match="unknown allocation"):
        SampledCutExecutor(circuit_rzz(), ["ZZ"], "AB", allocation="Weighted")


# ---------------------------------------------------------------- weights and sensitivities


def test_class_weights_sum_abs_merged_coefficients():
    """w_{f,d} = sum over merged terms using class d of |sum of their QPD coefficients|."""
    ex = SampledCutExecutor(
        circuit_4q_wire_and_gate_cut(), ["ZZZZ"], "AABAB", pool=RecordingPool(0), shots=10
    )
    coeff = np.array([c for c, _ in ex.coefficients])
    tuples: dict[tuple[int, ...], float] = {}
    for i in range(len(coeff)):
        key = tuple(int(frag.terms.term_class[i]) for frag in ex.fragments)
        tuples[key] = tuples.get(key, 0.0) + coeff[i]
    for f, frag in enumerate(ex.fragments):
        ref = np.zeros(frag.terms.num_classes)
        for key, c in tuples.items():
            ref[key[f]] += abs(c)
        np.testing.assert_allclose(class_weights(ex.reconstructor.merged, f), ref, rtol=1e-12)


def test_sensitivities_are_the_derivatives_of_the_estimator():
    rng = np.random.default_rng(3)
    term_classes = [rng.integers(0, 4, 12), rng.integers(0, 3, 12), rng.integers(0, 5, 12)]
    merged = MergedQPD(rng.normal(size=12), term_classes)
    means = [rng.uniform(-1, 1, (int(t.max()) + 1, 2)) for t in term_classes]
    zero = [np.zeros_like(m) for m in means]
    sens = merged.sensitivities(means)
    h = 1e-6
    for f, d in itertools.product(range(3), range(3)):
        up = [m.copy() for m in means]
        down = [m.copy() for m in means]
        up[f][d] += h
        down[f][d] -= h
        fd = (merged.stats(up, zero)[0] - merged.stats(down, zero)[0]) / (2 * h)
        np.testing.assert_allclose(sens[f][d], fd, atol=1e-8)


# ---------------------------------------------------------------- executor: shots, reconstruction, cost


@pytest.mark.parametrize("allocation", ["uniform", "weighted", "adaptive"])
def test_pub_shots_keep_the_uniform_total(allocation):
    qc = circuit_rzz()
    pool = RecordingPool(1)
    ex = SampledCutExecutor(qc, ["ZZ", "ZI"], "AB", pool=pool, shots=100, allocation=allocation)
    values = np.random.default_rng(0).uniform(-np.pi, np.pi, (3, 4))
    for _ in range(2):  # adaptive: the second run uses the first run's scores
        out = ex.run(values)
        shots = np.array([s for _, _, s in pool.calls[-1][0]])
        assert shots.sum() == 100 * ex.num_subexperiments
        assert shots.min() >= (100 if allocation == "uniform" else MIN_SHOTS)
        assert out.cost.total_shots == 3 * shots.sum()
        assert out.cost.num_circuits_executed == 3 * ex.num_subexperiments
        assert sum(r.data.observable_measurements.num_shots for r in pool.calls[-1][1]) == shots.sum()
    if allocation == "weighted":  # proportional to the class weights (within rounding)
        w = ex.allocator.weights
        np.testing.assert_allclose(shots, shots.sum() * w / w.sum(), atol=1.0)
    if allocation != "uniform":
        assert len(set(shots.tolist())) > 1


@pytest.mark.parametrize("allocation", ["weighted", "adaptive"])
def test_unequal_shots_reconstruct_as_qiskit_addon_cutting(allocation):
    qc = circuit_4q_wire_and_gate_cut()
    obs = ["ZZZZ", "IZZI", "ZIIZ"]
    pool = RecordingPool(4)
    ex = SampledCutExecutor(qc, obs, "AABAB", pool=pool, shots=40, allocation=allocation)
    values = np.random.default_rng(9).uniform(-np.pi, np.pi, (2, qc.num_parameters))
    ex.run(values)
    out = ex.run(values)
    assert len({s for _, _, s in pool.calls[-1][0]}) > 1
    by_label = _split(ex, pool.calls[-1][1])
    for b in range(2):
        ref = _reference(ex, by_label, {frag.label: b for frag in ex.fragments})
        np.testing.assert_allclose(out.values[b], ex.term_weights @ ref, atol=1e-12)


def test_shift_runs_use_the_forward_allocation():
    pool = RecordingPool(2)
    ex = SampledCutExecutor(circuit_rzz(), ["ZZ"], "AB", pool=pool, shots=50, allocation="adaptive")
    values = np.full((2, 4), 0.7)
    ex.run(values)
    base = ex.run(values)
    forward = [s for _, _, s in pool.calls[-1][0]]
    jac = ex.jacobian(values, base=base)
    assert [s for _, _, s in pool.calls[-1][0]] == forward
    assert jac.cost.total_shots == sum(v.size // v.shape[-1] * s for _, v, s in pool.calls[-1][0])


def test_adaptive_state_round_trip():
    values = np.full((4, 4), -0.3)
    a = SampledCutExecutor(
        circuit_rzz(), ["ZZ"], "AB", pool=RecordingPool(5), shots=50, allocation="adaptive"
    )
    assert np.all(np.isnan(a.state()["score"]))
    first = a.allocator.shots_per_circuit()
    np.testing.assert_array_equal(first, allocate(50 * a.num_subexperiments, a.allocator.weights))  # weighted
    a.run(values)
    b = SampledCutExecutor(
        circuit_rzz(), ["ZZ"], "AB", pool=RecordingPool(5), shots=50, allocation="adaptive"
    )
    b.load_state(a.state())
    np.testing.assert_array_equal(b.allocator.shots_per_circuit(), a.allocator.shots_per_circuit())
    assert not np.array_equal(a.allocator.shots_per_circuit(), first)
    with pytest.raises(ValueError, match="classes"):
        b.load_state({"score": np.ones(3), "spsa": np.zeros(2)})


# ---------------------------------------------------------------- statistics: stderr at equal total shots


def _spread(qc, labels, obs, allocation, row, reps, shots, seed):
    """RMSE against Statevector and the reported stderr over ``reps`` identical bindings."""
    ex = SampledCutExecutor(qc, obs, labels, shots=shots, seed=seed, allocation=allocation)
    if allocation == "adaptive":
        ex.run(np.tile(row, (32, 1)))  # earlier step: the scores
    out = ex.run(np.tile(row, (reps, 1)))
    err = out.values - exact_values(qc, obs, row[None, :])
    rmse = np.sqrt((err**2).mean(axis=0))
    reported = np.sqrt((out.stderr**2).mean(axis=0))  # E[var estimate] = var: compare in variance
    ok = out.stderr > 0  # all shots of the classes alike (p near 0 or 1): no spread seen, stderr 0
    z_spread = np.array([(err[ok[:, o], o] / out.stderr[ok[:, o], o]).std() for o in range(len(obs))])
    return rmse, reported, z_spread, out.cost.total_shots


@pytest.mark.parametrize(
    "make, labels, obs, seed, max_ratio",
    [
        (circuit_rzz, "AB", ["ZZ", "ZI", "IZ"], 31, {"weighted": 0.7, "adaptive": 0.7}),
        (circuit_wire, "AABB", ["ZZZ", "IIZ", "ZII"], 32, {"weighted": 0.99, "adaptive": 0.8}),
    ],
)
def test_weighted_and_adaptive_beat_uniform_at_equal_shots(make, labels, obs, seed, max_ratio):
    """4000 repetitions: each RMSE is known to ~1.1 %, a ratio of two to ~1.6 %."""
    qc = make()
    row = np.random.default_rng(1).uniform(-np.pi, np.pi, qc.num_parameters)
    res = {a: _spread(qc, labels, obs, a, row, 4000, 200, seed) for a in ("uniform", "weighted", "adaptive")}
    assert len({r[3] for r in res.values()}) == 1  # the same total shots
    total = {a: np.sqrt((r[0] ** 2).sum()) for a, r in res.items()}  # summed over the observables
    for a, (rmse, reported, z, _) in res.items():
        print(
            f"{make.__name__} {a:9s} rmse {np.round(rmse, 4)} reported {np.round(reported, 4)} "
            f"rmse/reported {np.round(rmse / reported, 3)} z-spread {np.round(z, 2)} "
            f"ratio to uniform {total[a] / total['uniform']:.3f}"
        )
        # the reported stderr is the spread: 4000 reps give ~1.1 % on each side
        assert np.all(np.abs(rmse / reported - 1) < 0.08), (a, rmse / reported)
    for a in ("weighted", "adaptive"):
        assert total[a] / total["uniform"] < max_ratio[a], (a, total[a] / total["uniform"])
