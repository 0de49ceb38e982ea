"""CutEstimatorV2: a Qiskit EstimatorV2 that cuts circuits onto small QPUs."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.primitives import BaseEstimatorV2, StatevectorEstimator
from qiskit.quantum_info import SparsePauliOp

from dqlstm.cutting.guard import MAX_SHOTS
from dqlstm.cutting.primitive import CutEstimatorV2, shots_for_precision


def ladder(n: int = 6, layers: int = 2) -> QuantumCircuit:
    """RY/RZ layers and a CX chain: the CX between the halves must be cut."""
    th = ParameterVector("t", 2 * n * layers)
    qc = QuantumCircuit(n)
    k = 0
    for _ in range(layers):
        for q in range(n):
            qc.ry(th[k], q)
            qc.rz(th[k + 1], q)
            k += 2
        for q in range(n - 1):
            qc.cx(q, q + 1)
    return qc


OBS = [
    SparsePauliOp("ZIIIIZ"),
    "XXIIII",
    SparsePauliOp.from_list([("IIZZII", 0.5), ("YIIIIY", 0.3)]),
    {"ZZZZZZ": 1.0, "IIIIII": 0.2},
]


def _evs(estimator, pubs, **kw):
    return [r.data for r in estimator.run(pubs, **kw).result()]


def test_is_an_estimator_v2_and_matches_statevector_on_every_pub_shape():
    qc = ladder()
    rng = np.random.default_rng(0)
    p = qc.num_parameters
    pubs = [
        (qc, OBS[0], rng.uniform(0, 3, p)),  # single binding, scalar observable
        (qc, OBS[2], rng.uniform(0, 3, (4, p))),  # (B,) bindings
        (qc, OBS, rng.uniform(0, 3, (5, 1, p))),  # (k,) observables against (B, 1)
        (qc, np.array([["ZZIIII"], ["IIIXXI"]]), rng.uniform(0, 3, (2, 3, p))),  # (2, 1) vs (2, 3)
    ]
    est = CutEstimatorV2(max_qubits=3)
    assert isinstance(est, BaseEstimatorV2)
    ref = _evs(StatevectorEstimator(), pubs)
    got = est.run(pubs).result()
    for r, s in zip(got, ref):
        assert r.data.evs.shape == s.evs.shape == r.data.shape
        np.testing.assert_allclose(r.data.evs, s.evs, atol=1e-10, rtol=0)
        assert np.all(r.data.stds == 0)
    cut = got[0].metadata["cut"]
    assert cut["num_cuts"] >= 1 and cut["num_fragments"] >= 2 and cut["sampling_overhead"] > 1
    assert got[0].metadata["target_precision"] == 0.0
    assert got.metadata["version"] == 2


def test_cache_hits_on_new_values_and_observable_order():
    qc = ladder(n=8, layers=1)
    rng = np.random.default_rng(1)
    est = CutEstimatorV2(max_qubits=4)
    obs = ["ZIIIIIIZ", "IIIXXIII"]
    est.run([(qc, obs, rng.uniform(0, 3, (2, qc.num_parameters)))]).result()
    # rebuilt circuit (fresh Parameter objects), new values, reversed observables: same entry
    values = rng.uniform(0, 3, qc.num_parameters)
    res = est.run([(ladder(n=8, layers=1), obs[::-1], values)]).result()[0]
    info = est.cache_info()
    assert (info.hits, info.misses, info.size) == (1, 1, 1)
    ref = _evs(StatevectorEstimator(), [(qc, obs[::-1], values)])[0]
    np.testing.assert_allclose(res.data.evs, ref.evs, atol=1e-10)


def test_narrow_circuit_is_one_fragment_without_cuts():
    qc = ladder(n=3, layers=1)
    values = np.random.default_rng(2).uniform(0, 3, (3, qc.num_parameters))
    res = CutEstimatorV2(max_qubits=4).run([(qc, "ZZI", values)]).result()[0]
    ref = _evs(StatevectorEstimator(), [(qc, "ZZI", values)])[0]
    np.testing.assert_allclose(res.data.evs, ref.evs, atol=1e-10)
    assert res.metadata["cut"]["num_cuts"] == 0 and res.metadata["cut"]["num_fragments"] == 1


def test_circuit_without_parameters():
    qc = QuantumCircuit(4)
    qc.h(0)
    for q in range(3):
        qc.cx(q, q + 1)
    res = CutEstimatorV2(max_qubits=2).run([(qc, ["ZZZZ", "XXXX", "ZIIZ"])]).result()[0]
    np.testing.assert_allclose(res.data.evs, [1.0, 1.0, 1.0], atol=1e-10)


def test_refusals():
    qc = ladder(n=4, layers=1)
    measured = qc.copy()
    measured.measure_all()
    est = CutEstimatorV2(max_qubits=2)
    with pytest.raises(ValueError, match="classical bits"):
        est.run([(measured, "ZZZZ", np.zeros(qc.num_parameters))])
    with pytest.raises(ValueError, match="unknown method"):
        CutEstimatorV2(max_qubits=2, method="exact")
    with pytest.raises(ValueError, match="pool only applies"):
        CutEstimatorV2(max_qubits=2, pool=object())
    sampled = CutEstimatorV2(max_qubits=2, method="sampled")
    with pytest.raises(ValueError, match="precision > 0"):
        sampled.run([(qc, "ZZZZ", np.zeros(qc.num_parameters))], precision=0.0)
    job = sampled.run([(qc, "ZZZZ", np.zeros(qc.num_parameters))], precision=1e-6)
    with pytest.raises(ValueError, match="MAX_SHOTS"):
        job.result()


def test_shots_for_precision_is_the_overhead_bound():
    assert shots_for_precision(0.1, 81.0) == 8100
    assert shots_for_precision(0.1, 9.0, weight=2.0) == 3600
    assert shots_for_precision(10.0, 1.0) == 2  # one shot has no variance estimate
    with pytest.raises(ValueError, match="MAX_SHOTS"):
        shots_for_precision(1e-4, 100.0 * MAX_SHOTS)


def test_sampled_on_aer_pool_is_within_reported_stds():
    from backends import AerQPU, QPUPool

    qc = ladder()
    values = np.random.default_rng(3).uniform(0, 3, (3, 1, qc.num_parameters))
    obs = ["ZIIIIZ", "XXIIII", SparsePauliOp.from_list([("IIZZII", 0.5), ("IYYIII", 0.5)])]
    exact = _evs(StatevectorEstimator(), [(qc, obs, values)])[0].evs
    with QPUPool([AerQPU("a", 3), AerQPU("b", 3)], seed=11) as pool:
        est = CutEstimatorV2(max_qubits=3, method="sampled", pool=pool, default_precision=0.1)
        coarse = est.run([(qc, obs, values)]).result()[0]
        fine = est.run([(qc, obs, values)], precision=0.05).result()[0]
        assert est.cache_info().misses == 1  # the second precision reused the sub-experiments
    for res, precision in ((coarse, 0.1), (fine, 0.05)):
        z = (res.data.evs - exact) / res.data.stds
        assert np.all(np.abs(z) < 5), z
        # the kappa bound is worst-case: stds at most the precision, not far below it
        assert np.all(res.data.stds <= precision) and np.all(res.data.stds > precision / 40)
        cut = res.metadata["cut"]
        assert cut["shots_per_subexperiment"] == shots_for_precision(precision, cut["sampling_overhead"])
        assert cut["total_shots"] == cut["shots_per_subexperiment"] * cut["num_subexperiments"] * 3
        assert res.metadata["target_precision"] == precision
    # 4x the shots halves the standard errors
    np.testing.assert_allclose(fine.data.stds / coarse.data.stds, 0.5, rtol=0.2)


def _qnn_circuit():
    x, w = ParameterVector("x", 2), ParameterVector("w", 8)
    qc = QuantumCircuit(4)
    for q in range(4):
        qc.ry(x[q // 2], q)
    for q in range(4):
        qc.ry(w[q], q)
    for q in range(3):
        qc.cx(q, q + 1)
    for q in range(4):
        qc.ry(w[4 + q], q)
    return qc, list(x), list(w)


def test_estimator_qnn_gradients_match_statevector():
    qml = pytest.importorskip("qiskit_machine_learning.neural_networks")
    qc, x, w = _qnn_circuit()
    rng = np.random.default_rng(4)
    inputs, weights = rng.uniform(-1, 1, (5, 2)), rng.uniform(-1, 1, 8)
    est = CutEstimatorV2(max_qubits=2)
    # precision 0: StatevectorEstimator adds N(0, precision) noise to its values otherwise
    kw = {"circuit": qc, "input_params": x, "weight_params": w, "default_precision": 0.0}
    cut = qml.EstimatorQNN(estimator=est, **kw)
    ref = qml.EstimatorQNN(estimator=StatevectorEstimator(), **kw)
    np.testing.assert_allclose(cut.forward(inputs, weights), ref.forward(inputs, weights), atol=1e-10)
    np.testing.assert_allclose(cut.backward(inputs, weights)[1], ref.backward(inputs, weights)[1], atol=1e-10)
    cut.forward(inputs[::-1], weights + 0.1)
    cut.backward(inputs[::-1], weights + 0.1)
    info = est.cache_info()
    assert (info.misses, info.hits) == (2, 2)  # forward circuit + parameter-shift circuit, then reused


def test_estimator_qnn_torch_classifier_trains():
    pytest.importorskip("qiskit_machine_learning")
    torch = pytest.importorskip("torch")
    from qiskit_machine_learning.connectors import TorchConnector
    from qiskit_machine_learning.neural_networks import EstimatorQNN

    qc, x, w = _qnn_circuit()
    rng = np.random.default_rng(0)
    features = rng.uniform(-1, 1, (20, 2))
    labels = np.where(features[:, 0] * features[:, 1] > 0, 1.0, -1.0)
    est = CutEstimatorV2(max_qubits=2)
    qnn = EstimatorQNN(circuit=qc, input_params=x, weight_params=w, estimator=est)
    model = TorchConnector(qnn, initial_weights=rng.uniform(-0.5, 0.5, 8))
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    xt = torch.tensor(features * np.pi / 2)
    yt = torch.tensor(labels)
    losses = []
    for _ in range(12):
        opt.zero_grad()
        loss = ((model(xt).squeeze(-1) - yt) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0], losses
    info = est.cache_info()
    assert info.misses == 2 and info.hits >= 2 * 11
    meta = est.run([(qc, "ZZZZ", np.zeros(10))]).result()[0].metadata["cut"]
    assert meta["num_cuts"] >= 1  # the QNN really ran on 2-qubit fragments
