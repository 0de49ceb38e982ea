"""The process engine (one worker process per QPU) gives the local engine's counts."""

from __future__ import annotations

import numpy as np

from backends import AerQPU, FaultyQPU, QPUPool


from ladder_circuit import ladder  # noqa: E402


def test_process_engine_matches_local_engine_with_faults_and_a_stall() -> None:
    rng = np.random.default_rng(5)
    pubs = [(ladder(w), rng.uniform(0, np.pi, (3, w)), 200) for w in (2, 4, 3, 2, 4, 3, 2)]
    with QPUPool([AerQPU("a", 4)], seed=6) as local:
        expected = local.run(pubs)
    # Every QPU gets a job at the start: "d" has vanished, "e" hangs (its process is
    # terminated on close, so the test process exits at once).
    qpus = [AerQPU("a", 3), AerQPU("b", 4), FaultyQPU(AerQPU("d", 4), disappear_after=0),
            FaultyQPU(AerQPU("e", 4), stall_rate=1.0, stall_seconds=120.0)]
    with QPUPool(qpus, engine="process", seed=6, timeout=2.0, retries=10, backoff=0.001) as pool:
        results = pool.run(pubs)
        stats = pool.stats
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got.data.meas.array, want.data.meas.array)
    assert {r.metadata["qpu"] for r in results} <= {"a", "b"}
    assert not stats.qpus["d"].available and stats.qpus["d"].jobs == 0
    assert stats.qpus["e"].timeouts == 1 and stats.qpus["e"].jobs == 0
