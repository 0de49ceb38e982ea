"""The Ray engine runs the same work as the local engine, with the same counts."""

from __future__ import annotations

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray not installed (extra dqlstm[ray])")

from backends import AerQPU, FaultyQPU, QPUPool  # noqa: E402


from ladder_circuit import ladder  # noqa: E402


@pytest.mark.slow  # starting Ray takes 5-15 s on 2 shared cores
def test_ray_engine_matches_local_engine_even_with_faults() -> None:
    rng = np.random.default_rng(3)
    pubs = [(ladder(w), rng.uniform(0, np.pi, (3, w)), 200) for w in (2, 4, 3, 2, 4, 3)]
    with QPUPool([AerQPU("a", 3), AerQPU("b", 4)], seed=8) as local:
        expected = local.run(pubs)
    # Every QPU gets a job at the start: "c" always fails it, "d" has vanished.
    qpus = [AerQPU("a", 3), AerQPU("b", 4), FaultyQPU(AerQPU("c", 4), failure_rate=1.0),
            FaultyQPU(AerQPU("d", 4), disappear_after=0)]
    with QPUPool(qpus, engine="ray", seed=8, retries=10, backoff=0.001) as pool:
        assert ray.is_initialized()
        results = pool.run(pubs)
        stats = pool.stats
    assert not ray.is_initialized()  # the pool started Ray, so it shut it down
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got.data.meas.array, want.data.meas.array)
    assert {r.metadata["qpu"] for r in results if r.data.meas.num_bits == 4} == {"b"}
    assert stats.qpus["a"].jobs + stats.qpus["b"].jobs == len(pubs)
    assert stats.qpus["c"].failures >= 1 and stats.qpus["c"].jobs == 0
    assert not stats.qpus["d"].available and stats.qpus["d"].failures == 1


@pytest.mark.slow
def test_ray_engine_joins_an_existing_ray_and_leaves_it_running() -> None:
    from backends.ray_engine import LOCAL_INIT

    ray.init(**LOCAL_INIT)
    try:
        pubs = [(ladder(2), np.array([[0.4, 1.1]]), 100)]
        with QPUPool([AerQPU("a", 2)], seed=2) as local:
            expected = local.run(pubs)
        with QPUPool([AerQPU("a", 2)], engine="ray", seed=2) as pool:
            (result,) = pool.run(pubs)
        assert ray.is_initialized()  # not ours to shut down
        np.testing.assert_array_equal(result.data.meas.array, expected[0].data.meas.array)
    finally:
        ray.shutdown()
