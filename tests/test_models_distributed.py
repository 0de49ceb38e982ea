"""DistributedQLSTM and the [qpus] wiring: cut modes against the uncut exact QLSTM."""

import pytest
import torch

from backends import AerQPU, BackendConfigError, QPUPool
from dqlstm.assemble import build_model, open_pool
from dqlstm.models import QLSTM, DistributedQLSTM


def test_cut_exact_equals_uncut_exact_with_gradients():
    kw = dict(n_qubits=6, ansatz="modular", module_size=3, links=1, layers=2, seed=3)
    exact = QLSTM(1, 3, **kw).double()
    dist = DistributedQLSTM(1, 3, qpus=[3, 3], mode="cut-exact", n_qubits=6, module_size=3, links=1, layers=2, seed=3)
    dist = dist.double()
    assert dist.cut_summary()["num_cuts"] == 2  # one link per layer
    x = torch.randn(4, 5, 1, dtype=torch.float64)
    out_e, out_d = exact(x)[0], dist(x)[0]
    torch.testing.assert_close(out_d, out_e, atol=1e-10, rtol=0)
    out_e.sum().backward()
    out_d.sum().backward()
    for (name, pe), (_, pd) in zip(exact.named_parameters(), dist.named_parameters()):
        torch.testing.assert_close(pd.grad, pe.grad, atol=1e-10, rtol=0, msg=name)


def test_no_links_means_no_cuts():
    dist = DistributedQLSTM(1, 2, qpus=3, mode="cut-exact", n_qubits=9, links=0, layers=1, seed=0)
    summary = dist.cut_summary()
    assert summary["num_cuts"] == 0 and summary["fragment_widths"] == [3, 3, 3]
    assert summary["sampling_overhead"] == 1.0


def test_sampled_engine_reports_its_cost():
    pool = QPUPool([AerQPU("a", 2), AerQPU("b", 2)], seed=3)
    try:
        dist = DistributedQLSTM(1, 1, qpus=pool, mode="sampled", shots=50, n_qubits=4, module_size=2,
                                links=1, layers=1, seed=0)
        dist(torch.randn(1, 1, 1))[0].sum().backward()
        summary = dist.cut_summary()
        assert summary["num_cuts"] == 1 and summary["sampling_overhead"] == 9.0
        assert summary["executed"]["total_shots"] == 50 * summary["executed"]["num_circuits"]
        assert summary["pool"]["pubs"] == summary["executed"]["num_pubs"]
        assert torch.isfinite(dist.vqc_weights.grad).all()
    finally:
        pool.close()


@pytest.mark.slow
def test_sampled_on_a_pool_is_close_to_exact():
    pool = QPUPool([AerQPU("a", 2), AerQPU("b", 2)], seed=11)
    try:
        dist = DistributedQLSTM(1, 2, qpus=pool, mode="sampled", shots=4000, n_qubits=4, module_size=2,
                                links=1, layers=1, seed=5)
        exact = QLSTM(1, 2, n_qubits=4, ansatz="modular", module_size=2, links=1, layers=1, seed=5)
        x = torch.randn(2, 2, 1)
        with torch.no_grad():
            diff = (dist(x)[0] - exact(x)[0]).abs().max().item()
        assert diff < 0.05  # shot noise of 4000 shots through the cell's squashing
        summary = dist.cut_summary()
        assert summary["mode"] == "sampled" and summary["shots_per_subexperiment"] == 4000
        forward_shots = summary["executed"]["total_shots"]
        assert forward_shots > 0
        dist(x)[0].sum().backward()  # parameter-shift runs are counted too
        assert dist.cut_summary()["executed"]["total_shots"] > 2 * forward_shots
        assert pool.stats.pubs > 0 and dist.cut_summary()["pool"]["pubs"] == pool.stats.pubs
    finally:
        pool.close()


def test_qpus_table_sets_capacities_and_pool():
    model = {"kind": "qlstm", "hidden_size": 2, "n_qubits": 4, "ansatz": "modular", "module_size": 2,
             "links": 1, "layers": 1, "mode": "cut-exact"}
    qpus = {"seed": 1, "devices": [{"kind": "aer", "name": "q", "count": 2, "num_qubits": 2}]}
    with open_pool({"model": model, "qpus": qpus}) as pool:
        cut = build_model(model, input_size=1, output_size=1, seed=0, pool=pool)
        assert cut.core.cut_summary()["fragment_widths"] == [2, 2]
    sampled_cfg = {"model": {**model, "mode": "sampled", "shots": 100}, "qpus": qpus}
    with open_pool(sampled_cfg) as pool:
        sampled = build_model(sampled_cfg["model"], 1, 1, seed=0, pool=pool)
        assert sampled.core.engine.executor.pool is pool and isinstance(pool, QPUPool)
    assert pool._closed  # the assembly owns the pool: closed when the block ends


def test_open_pool_closes_on_error_and_builds_nothing_for_exact_or_lstm():
    qpus = {"seed": 1, "devices": [{"kind": "aer", "name": "q", "count": 2, "num_qubits": 2}]}
    model = {"kind": "qlstm", "n_qubits": 4, "ansatz": "modular", "module_size": 2, "links": 1, "mode": "sampled"}
    with pytest.raises(RuntimeError, match="boom"):
        with open_pool({"model": model, "qpus": qpus}) as pool:
            raise RuntimeError("boom")
    assert pool._closed
    for other in ({**model, "mode": "exact"}, {"kind": "lstm"}):
        with open_pool({"model": other, "qpus": qpus}) as nothing:
            assert nothing is None
    # the table is checked in every mode, without building anything
    with pytest.raises(BackendConfigError, match="unknown kind 'quantinuum'"):
        with open_pool({"model": {"kind": "lstm"}, "qpus": {"devices": [{"kind": "quantinuum", "name": "x"}]}}):
            pass
