"""Every PUB submitted to a pool is its own independent, reproducible draw (no result cache)."""

from __future__ import annotations

import time

import numpy as np

from backends import AerQPU, FaultyQPU, QPUPool, as_pub

from ladder_circuit import ladder  # noqa: E402

PUB = (ladder(3), np.random.default_rng(0).uniform(0, np.pi, (4, 3)), 300)
OTHER = (ladder(2), np.array([[0.3, 1.1], [2.0, 0.4]]), 200)


def bits(result) -> np.ndarray:
    return result.data.meas.array


def test_a_repeated_pub_is_a_fresh_draw_within_and_across_runs() -> None:
    with QPUPool([AerQPU("a", 3), AerQPU("b", 3)], seed=7) as pool:
        first, other, again = pool.run([PUB, OTHER, PUB])
        (later,) = pool.run([PUB])
        stats = pool.stats
        seeds = [pool.pub_seed(PUB, draw=d) for d in range(3)]
    assert [r.metadata["draw"] for r in (first, again, later, other)] == [0, 1, 2, 0]
    assert [r.metadata["seed"] for r in (first, again, later)] == seeds and len(set(seeds)) == 3
    assert not np.array_equal(bits(first), bits(again))
    assert not np.array_equal(bits(first), bits(later)) and not np.array_equal(bits(again), bits(later))
    # Each submission ran: jobs and shots count work done, not results served.
    assert sum(q.jobs for q in stats.qpus.values()) == 4 and stats.pubs == 4
    assert sum(q.shots for q in stats.qpus.values()) == 3 * 300 * 4 + 200 * 2


def test_each_draw_equals_a_bare_qpu_with_its_seed() -> None:
    with QPUPool([AerQPU("a", 3)], seed=7) as pool:
        results = pool.run([PUB, PUB, PUB])
    qpu = AerQPU("bare", 3)
    for result in results:
        expected = qpu.execute(as_pub(PUB, 1024), result.metadata["seed"])
        np.testing.assert_array_equal(bits(result), bits(expected))


def test_same_seed_and_same_calls_give_the_same_counts() -> None:
    calls = [[PUB, OTHER, PUB], [OTHER], [PUB, PUB]]
    outcomes = []
    for qpus in ([AerQPU("a", 3)], [AerQPU("x", 2), AerQPU("y", 3), AerQPU("z", 3)]):
        with QPUPool(qpus, seed=21) as pool:
            outcomes.append([bits(r) for call in calls for r in pool.run(call)])
    for got, want in zip(*outcomes):  # whichever QPU ran it
        np.testing.assert_array_equal(got, want)


def test_a_late_result_never_serves_a_later_submission() -> None:
    # "stuck" (first in line) stalls the PUB past its timeout; "a" serves it. The
    # stalled job has returned by the next run (busy until then, so the repeat goes
    # to "a"): it counts as work, serves nothing.
    stuck = FaultyQPU(AerQPU("stuck", 3), stall_rate=1.0, stall_seconds=0.4)
    with QPUPool([stuck, AerQPU("a", 3)], seed=3, timeout=0.1, backoff=0.001) as pool:
        (first,) = pool.run([PUB])
        time.sleep(1.0)
        (second,) = pool.run([PUB])
        stats = pool.stats
        seed = pool.pub_seed(PUB, draw=1)
    assert first.metadata["qpu"] == second.metadata["qpu"] == "a"
    assert (second.metadata["draw"], second.metadata["seed"]) == (1, seed)
    expected = AerQPU("bare", 3).execute(as_pub(PUB, 1024), seed)
    np.testing.assert_array_equal(bits(second), bits(expected))
    assert stats.qpus["stuck"].timeouts == 1 and stats.qpus["stuck"].jobs == 1  # the late one
    assert sum(q.shots for q in stats.qpus.values()) == 3 * 300 * 4
