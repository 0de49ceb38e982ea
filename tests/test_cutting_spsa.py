"""SPSA Jacobians of the sampled mode (dqlstm.cutting.spsa), their cost, state and resume.

References: exact ``Statevector`` values (the exact SPSA expectation over all
``2^P`` directions, central differences for the gradient), parameter-shift
identities for the higher derivatives of the bias formula.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from dqlstm.config import resolve_config
from dqlstm.cutting.sampled import SampledCutExecutor
from dqlstm.cutting.spsa import perturbation, rademacher
from dqlstm.cutting.torch_sampled import sampled_expectation
from dqlstm.training import run_training
from tests.test_sampled_cutting import (
    RecordingPool,
    circuit_2q,
    circuit_4q_gate_cut,
    exact_values,
    finite_difference_jacobian,
)

OBS = ["ZZ", "IZ"]
ROW = np.array([0.3, -1.1, 0.8, 2.0])


def exact_spsa_mean(qc, obs, row, c):
    """E over all 2^P Rademacher directions of (f(row + c D) - f(row - c D)) / (2c) D: ``(n_obs, P)``."""
    p = len(row)
    out = np.zeros((len(obs), p))
    for signs in itertools.product((-1.0, 1.0), repeat=p):
        d = np.array(signs)
        slope = (exact_values(qc, obs, row + c * d) - exact_values(qc, obs, row - c * d))[0] / (2 * c)
        out += slope[:, None] * d[None, :]
    return out / 2**p


def test_schedule_and_directions():
    assert perturbation(0.1, 0) == 0.1
    assert perturbation(0.2, 9) == pytest.approx(0.2 / 10**0.101)
    with pytest.raises(ValueError, match="step"):
        perturbation(0.1, -1)
    v = np.random.default_rng(0).normal(size=(500, 8))
    d = rademacher(7, 3, v)
    assert d.shape == v.shape and set(np.unique(d)) == {-1.0, 1.0}
    assert abs(d.mean()) < 0.05  # 4000 fair signs: std 0.016
    np.testing.assert_array_equal(d, rademacher(7, 3, v.copy()))  # content, not identity
    assert not np.array_equal(d, rademacher(7, 4, v))
    assert not np.array_equal(d, rademacher(8, 3, v))
    assert not np.array_equal(d[:1], rademacher(7, 3, v[:1] + 1e-9))


@pytest.mark.parametrize(
    "value, match",
    [(0.0, "positive"), (-1.0, "positive"), (float("nan"), "finite"), ("0.1", "number"), (True, "number")],
)
def test_bad_perturbation(value, match):
    with pytest.raises(ValueError, match=match):
        SampledCutExecutor(circuit_2q(), OBS, "AB", gradient="spsa", spsa_perturbation=value)


def test_unknown_gradient():
    with pytest.raises(ValueError, match="unknown gradient 'finite-difference'"):
        SampledCutExecutor(circuit_2q(), OBS, "AB", gradient="finite-difference")


def test_bias_formula_of_the_docstring():
    """E J_p - d_p f = c^2/6 (d_p^3 f + 3 sum_{q != p} d_q^2 d_p f) + O(c^4), derivatives by shift rules."""
    qc, p = circuit_2q(), len(ROW)

    def f(x):
        return exact_values(qc, OBS, x)[0]

    def shift(x, q, s):
        y = x.copy()
        y[q] += s
        return y

    def d1(g, q):
        return lambda x: (g(shift(x, q, np.pi / 2)) - g(shift(x, q, -np.pi / 2))) / 2

    def d2(g, q):  # a + b cos + c sin: the second derivative is mean of the +-pi/2 values minus the value
        return lambda x: (g(shift(x, q, np.pi / 2)) + g(shift(x, q, -np.pi / 2))) / 2 - g(x)

    grad = np.stack([d1(f, q)(ROW) for q in range(p)], axis=-1)
    np.testing.assert_allclose(grad, finite_difference_jacobian(qc, OBS, ROW)[0], atol=1e-8)
    third = np.stack(
        [d2(d1(f, q), q)(ROW) + 3 * sum(d2(d1(f, q), r)(ROW) for r in range(p) if r != q) for q in range(p)],
        axis=-1,
    )
    for c in (0.05, 0.1, 0.2):
        bias = exact_spsa_mean(qc, OBS, ROW, c) - grad
        predicted = c**2 / 6 * third
        assert np.abs(bias).max() > 1e-4  # the bias exists ...
        assert np.abs(bias - predicted).max() < 0.2 * c**4 * p**2  # ... and is the O(c^2) term


@pytest.mark.slow
def test_mean_of_spsa_estimates_is_the_gradient():
    """8000 bindings of one point: 8000 independent SPSA estimates (each binding its own direction)."""
    qc, c, reps = circuit_2q(), 0.1, 8000
    ex = SampledCutExecutor(qc, OBS, "AB", shots=500, seed=41, gradient="spsa", spsa_perturbation=c)
    jac = ex.jacobian(np.tile(ROW, (reps, 1)))
    mean = jac.jacobian.mean(axis=0)
    sem = jac.jacobian.std(axis=0, ddof=1) / np.sqrt(reps)
    expected = exact_spsa_mean(qc, OBS, ROW, c)
    grad = finite_difference_jacobian(qc, OBS, ROW)[0]
    print("SPSA mean", mean.round(3), "\nexact grad", grad.round(3), "\nsem", sem.round(3))
    assert np.all(np.abs(mean - expected) < 4 * sem), np.abs(mean - expected) / sem
    assert np.all(np.abs(mean - grad) < 4 * sem + np.abs(expected - grad))
    assert np.abs(grad).max() > 10 * sem.max()  # informative, not noise within wide bounds


def test_spsa_stderr_is_the_shot_spread_given_the_direction():
    """Per binding, slope = J[b, o, p] D[b, p]; its error against the exact slope along D has spread 1."""
    qc, c, reps = circuit_2q(), 0.3, 1500
    ex = SampledCutExecutor(qc, OBS, "AB", shots=300, seed=42, gradient="spsa", spsa_perturbation=c)
    values = np.tile(ROW, (reps, 1))
    delta = rademacher(ex.spsa_seed, 0, values)
    jac = ex.jacobian(values)
    assert ex.spsa_draws == 1
    slope = jac.jacobian[:, :, 0] * delta[:, 0][:, None]
    np.testing.assert_allclose(jac.jacobian, slope[:, :, None] * delta[:, None, :])
    exact = {}
    for d in {tuple(r) for r in delta}:
        d_arr = np.array(d)
        exact[d] = (exact_values(qc, OBS, ROW + c * d_arr) - exact_values(qc, OBS, ROW - c * d_arr))[0] / (
            2 * c
        )
    target = np.array([exact[tuple(r)] for r in delta])
    ratio = (slope - target).std(axis=0) / np.sqrt((jac.stderr[:, :, 0] ** 2).mean(axis=0))
    print("SPSA slope spread / reported stderr", ratio.round(3))
    assert np.all(np.abs(ratio - 1) < 0.12), ratio  # 1500 reps: ~0.02 each


@pytest.mark.parametrize(
    "make, labels, obs", [(circuit_2q, "AB", OBS), (circuit_4q_gate_cut, "AABB", ["ZZZZ"])]
)
def test_two_evaluations_per_binding_whatever_the_parameter_count(make, labels, obs):
    qc = make()
    pool = RecordingPool(3)
    ex = SampledCutExecutor(qc, obs, labels, pool=pool, shots=20, gradient="spsa", allocation="weighted")
    values = np.random.default_rng(2).uniform(-np.pi, np.pi, (5, qc.num_parameters))
    jac = ex.jacobian(values)
    pubs = pool.calls[-1][0]
    assert len(pool.calls) == 1  # no forward run needed
    assert jac.cost.num_pubs == len(pubs) == ex.num_subexperiments
    assert all(v.shape == (2, 5, len(circ.parameters)) for circ, v, _ in pubs)
    assert jac.cost.num_circuits_executed == 2 * 5 * ex.num_subexperiments
    assert jac.cost.total_shots == 2 * 5 * 20 * ex.num_subexperiments  # allocation keeps the total
    assert ex.total_cost.total_shots == jac.cost.total_shots
    ps = SampledCutExecutor(qc, obs, labels, pool=RecordingPool(3), shots=20)
    shift = ps.jacobian(values, base=ps.run(values)).cost
    per_fragment = sum(2 * f.parameters.size * len(f.subexperiments) for f in ps.fragments)
    assert shift.num_circuits_executed == 5 * per_fragment
    print(
        f"{make.__name__}: P = {qc.num_parameters}, circuits per binding: SPSA "
        f"{2 * ex.num_subexperiments}, parameter shift {per_fragment}"
    )


def test_autograd_uses_the_spsa_jacobian():
    qc = circuit_2q()
    values = np.tile(ROW, (3, 1))
    grad_out = torch.tensor([[1.0, -2.0], [0.5, 0.0], [0.0, 1.0]], dtype=torch.float64)
    a = SampledCutExecutor(qc, OBS, "AB", pool=RecordingPool(9), shots=50, gradient="spsa")
    params = torch.tensor(values, requires_grad=True)
    (sampled_expectation(a, params) * grad_out).sum().backward()
    b = SampledCutExecutor(qc, OBS, "AB", pool=RecordingPool(9), shots=50, gradient="spsa")
    b.run(values)
    jac = b.jacobian(values)
    np.testing.assert_allclose(params.grad.numpy(), np.einsum("bo,bop->bp", grad_out.numpy(), jac.jacobian))


def test_spsa_and_weighted_on_a_pool_count_what_ran():
    backends = pytest.importorskip("backends")
    pool = backends.QPUPool([backends.AerQPU("a", 2, seed=1), backends.AerQPU("b", 2, seed=2)], seed=5)
    try:
        qc = circuit_4q_gate_cut()
        ex = SampledCutExecutor(
            qc, ["ZZZZ"], "AABB", pool=pool, shots=30, allocation="adaptive", gradient="spsa"
        )
        values = np.random.default_rng(8).uniform(-np.pi, np.pi, (2, 12))
        ex.run(values)
        ex.run(values)
        ex.jacobian(values)
        # two forward runs of 2 bindings, one SPSA run of 2 x 2 bindings; adaptive keeps the total
        ran = sum(q.shots for q in pool.stats.qpus.values())  # counted by the QPUs
        assert ran == ex.total_cost.total_shots == (2 * 2 + 2 * 2) * 30 * ex.num_subexperiments
        assert pool.stats.pubs == ex.total_cost.num_pubs == 3 * ex.num_subexperiments
        assert ex.spsa_seed == pool.seed
    finally:
        pool.close()


# ---------------------------------------------------------------- engine state and resume


def tiny_sampled_cfg(epochs: int, **model) -> dict:
    """4-qubit modular ansatz, one gate cut (10 distinct sub-experiments), a few train windows."""
    return resolve_config(
        {
            "data": {"task": "narma5", "length": 20},
            "model": {
                "kind": "qlstm",
                "hidden_size": 1,
                "n_qubits": 4,
                "ansatz": "modular",
                "module_size": 2,
                "links": 1,
                "layers": 1,
                "mode": "sampled",
                "shots": 16,
                **model,
            },
            "train": {"epochs": epochs, "batch_size": 10, "seed": 3},
        }
    )


def test_engine_state_is_in_the_state_dict_only_when_needed():
    from dqlstm.assemble import build_model

    plain = build_model(tiny_sampled_cfg(1)["model"], 1, 1, seed=0)
    assert not any("sampled_state" in k for k in plain.state_dict())
    model = build_model(tiny_sampled_cfg(1, gradient="spsa", allocation="adaptive")["model"], 1, 1, seed=0)
    engine = model.core.engine
    assert engine.executor.gradient == "spsa" and engine.executor.allocation == "adaptive"
    x = torch.randn(3, 2, 1)
    model(x).sum().backward()  # a training step: k = 0 used, one SPSA draw
    with torch.no_grad():
        model(x)  # evaluation: not a step
    assert engine.train_steps == 1 and engine.executor.spsa_draws == 2  # 2 time steps, one draw each
    state = model.state_dict()
    assert state["core.engine.sampled_state.spsa"].tolist() == [0.0, 2.0]
    assert torch.isfinite(state["core.engine.sampled_state.score"]).all()
    fresh = build_model(tiny_sampled_cfg(1, gradient="spsa", allocation="adaptive")["model"], 1, 1, seed=0)
    fresh.load_state_dict(state)
    assert fresh.core.engine.train_steps == 1 and fresh.core.engine.executor.spsa_draws == 2
    np.testing.assert_array_equal(fresh.core.engine.executor.allocator.score, engine.executor.allocator.score)
    with pytest.raises(RuntimeError, match="sampled_state"):
        plain.load_state_dict(state)  # a checkpoint with engine state into a model without
    with pytest.raises(RuntimeError, match="sampled_state"):
        fresh.load_state_dict(plain.state_dict())


def test_resume_is_bit_identical_with_spsa_and_adaptive(tmp_path):
    from tests.test_training import state_equal

    cfg = {"gradient": "spsa", "allocation": "adaptive", "spsa_perturbation": 0.2}
    full = run_training(tiny_sampled_cfg(2, **cfg), tmp_path / "full", quiet=True)
    run_training(tiny_sampled_cfg(1, **cfg), tmp_path / "part", quiet=True)
    torch.rand(10)
    resumed = run_training(tiny_sampled_cfg(2, **cfg), tmp_path / "part", resume=True, quiet=True)
    strip = lambda r: [(e["train_loss"], e["test_loss"]) for e in r.metrics["epochs"]]
    assert strip(resumed) == strip(full)
    assert state_equal(resumed.model, full.model)
    assert resumed.metrics["final"] == full.metrics["final"]
    # the interrupted run's final predictions ran too, and are counted (dqlstm.cost)
    assert resumed.metrics["cut"]["executed"]["total_shots"] > full.metrics["cut"]["executed"]["total_shots"]
    steps = 2 * -(-full.metrics["data"]["num_train"] // 10)  # optimiser steps of 2 epochs, batch size 10
    assert full.model.core.engine.train_steps == resumed.model.core.engine.train_steps == steps
