"""Stalled jobs: retries charge only attempts that ran, waits are bounded, QPUs bring default timeouts."""

from __future__ import annotations

import numpy as np
import pytest

from backends import QPU, AerQPU, FaultyQPU, PoolExecutionError, QPUPool, as_pub
from backends.pub import Pub
from backends.qpu import LOCAL_TIMEOUT_FLOOR

from ladder_circuit import ladder  # noqa: E402


def make_pubs(count: int, seed: int = 0) -> list[tuple]:
    rng = np.random.default_rng(seed)
    return [(ladder(w), rng.uniform(0, np.pi, (2, w)), 100) for w in [2, 3] * (count // 2)]


def test_waiting_behind_stalled_qpus_is_not_a_retry() -> None:
    # Stalls (3x the timeout) often leave every QPU stalled at once; PUBs queued
    # behind them used to be charged a retry per timeout period spent waiting.
    qpus = [FaultyQPU(AerQPU(f"q{i}", 3), stall_rate=0.3, failure_rate=0.1, stall_seconds=1.0, seed=i)
            for i in range(3)]
    with QPUPool(qpus, seed=1, timeout=0.3, retries=10, backoff=0.001) as pool:
        results = pool.run(make_pubs(24))
        stats = pool.stats
    timeouts = sum(q.timeouts for q in stats.qpus.values())
    failures = sum(q.failures for q in stats.qpus.values())  # timeouts included
    stalls = sum(q.injected["stalls"] for q in qpus)
    injected_failures = sum(q.injected["failures"] for q in qpus)
    assert len(results) == 24 and timeouts >= 2
    assert stats.retries == failures == timeouts + injected_failures
    assert timeouts <= stalls  # a stall still running when the run ended was never a timeout


def test_a_pub_behind_a_qpu_stalled_forever_fails_after_a_bounded_wait() -> None:
    qpus = [FaultyQPU(AerQPU("stuck", 3), stall_rate=1.0, stall_seconds=60.0)]
    with QPUPool(qpus, seed=1, timeout=0.1, retries=2, backoff=0.001) as pool:
        with pytest.raises(PoolExecutionError, match=r"PUB #0 .* waited 0.3 s .*\(stuck\) was stalled"):
            pool.run(make_pubs(2)[:1])
        stats = pool.stats
    assert stats.qpus["stuck"].timeouts == 1 and stats.retries == 1  # one real timeout, one charge


class _Remote(QPU):
    """A remote device (queues of hours): no default timeout."""

    local = False

    def execute(self, pub: Pub, seed: int | None):
        raise AssertionError("never run: the test reads only its default timeout")


class _ShortFuse(FaultyQPU):
    def default_timeout(self, pub: Pub) -> float | None:
        return 0.2


def test_default_timeouts_local_simulators_yes_remote_devices_no() -> None:
    small = as_pub(make_pubs(2)[0], 1024)
    huge = as_pub((ladder(3), np.zeros((10**5, 3)), 10**5), 1024)  # 10**10 shots
    assert AerQPU("a", 3).default_timeout(small) == LOCAL_TIMEOUT_FLOOR
    assert AerQPU("a", 3).default_timeout(huge) > LOCAL_TIMEOUT_FLOOR  # scales with the estimated cost
    assert FaultyQPU(AerQPU("f", 3)).default_timeout(small) == LOCAL_TIMEOUT_FLOOR
    assert _Remote("r", 3).default_timeout(small) is None
    assert FaultyQPU(_Remote("r", 3)).default_timeout(small) is None


def test_pool_without_timeout_uses_the_qpus_default_timeout() -> None:
    qpus = [_ShortFuse(AerQPU("fuse", 3), stall_rate=1.0, stall_seconds=5.0), AerQPU("a", 3)]
    with QPUPool(qpus, seed=2, backoff=0.001) as pool:
        assert pool.timeout is None
        results = pool.run(make_pubs(2))
        stats = pool.stats
    assert {r.metadata["qpu"] for r in results} == {"a"}
    assert stats.qpus["fuse"].timeouts == 1 and stats.retries == 1
