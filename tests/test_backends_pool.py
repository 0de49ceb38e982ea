"""QPUPool: reproducibility against a bare QPU, routing, faults, errors."""

from __future__ import annotations

import numpy as np
import pytest

from backends import (
    AerQPU,
    BackendConfigError,
    FaultyQPU,
    NoCapableQPUError,
    PoolExecutionError,
    QPUPool,
    as_pub,
    derive_seed,
)
from backends.pool import MAX_SHOTS


from ladder_circuit import ladder  # noqa: E402


def make_pubs(widths: list[int], batch: int = 4, shots: int = 200, seed: int = 0) -> list[tuple]:
    rng = np.random.default_rng(seed)
    return [(ladder(w), rng.uniform(0, np.pi, (batch, w)), shots) for w in widths]


def arrays(results: list) -> list[np.ndarray]:
    return [r.data.meas.array for r in results]


def assert_same(a: list, b: list) -> None:
    assert len(a) == len(b)
    for x, y in zip(arrays(a), arrays(b)):
        np.testing.assert_array_equal(x, y)


PUBS = make_pubs([2, 3, 4, 2, 3, 5, 2, 4, 3, 2])


def bare(pubs: list, seeds: list[int], width: int = 5) -> list:
    """What one QPU outside any pool returns for ``pubs`` with ``seeds``."""
    qpu = AerQPU("bare", width)
    return [qpu.execute(as_pub(p, 1024), s) for p, s in zip(pubs, seeds)]


@pytest.fixture(scope="module")
def reference() -> list:
    """Fault-free pool results, seed 11 (each also checked against a bare QPU below)."""
    with QPUPool([AerQPU("a", 3), AerQPU("b", 5)], seed=11) as pool:
        return pool.run(PUBS)


def test_pool_equals_a_bare_qpu_with_the_pub_seed(reference: list) -> None:
    with QPUPool([AerQPU("solo", 5)], seed=11) as pool:
        seeds = [pool.pub_seed(p) for p in PUBS]
    # A PUB submitted once keeps the seed it always had: its counts did not change.
    assert seeds == [derive_seed(11, as_pub(p, 1024)) for p in PUBS]
    assert_same(reference, bare(PUBS, seeds))
    assert [r.metadata["seed"] for r in reference] == seeds
    assert [r.metadata["draw"] for r in reference] == [0] * len(PUBS)
    assert [r.data.meas.shape for r in reference] == [(4,)] * len(PUBS)
    assert [r.data.meas.num_bits for r in reference] == [2, 3, 4, 2, 3, 5, 2, 4, 3, 2]


def test_counts_do_not_depend_on_which_qpu_ran_a_pub(reference: list) -> None:
    with QPUPool([AerQPU(f"q{i}", 5) for i in range(4)], seed=11) as pool:
        results = pool.run(PUBS)
        used = {r.metadata["qpu"] for r in results}
    assert_same(results, reference)
    assert len(used) > 1  # the work really was spread


def test_different_pool_seed_gives_different_counts(reference: list) -> None:
    with QPUPool([AerQPU("a", 5)], seed=12) as pool:
        other = pool.run(PUBS)
    assert any(not np.array_equal(x, y) for x, y in zip(arrays(other), arrays(reference)))


def test_wide_fragment_goes_to_a_wide_qpu() -> None:
    pubs = make_pubs([2, 4, 2, 4, 2])
    with QPUPool([AerQPU("small", 2), AerQPU("wide", 4)], seed=3) as pool:
        results = pool.run(pubs)
        stats = pool.stats
    assert [r.metadata["qpu"] for r in results if r.data.meas.num_bits == 4] == ["wide", "wide"]
    assert stats.qpus["small"].jobs + stats.qpus["wide"].jobs == 5
    assert stats.qpus["small"].jobs >= 1  # narrow work is balanced onto the small QPU too


def test_no_qpu_wide_enough_names_width_and_widest() -> None:
    with QPUPool([AerQPU("a", 2), AerQPU("b", 3)], seed=1) as pool:
        with pytest.raises(NoCapableQPUError, match=r"5-qubit.*widest QPU has 3 qubits"):
            pool.run(make_pubs([2, 5]))
        assert pool.stats.qpus["a"].jobs == 0  # rejected before any work


FAULT_PUBS = make_pubs([2, 3, 4, 5] * 12 + [2, 3], batch=2, shots=100, seed=1)  # 50: faults surely hit


@pytest.fixture(scope="module")
def fault_reference() -> list:
    with QPUPool([AerQPU("clean", 5)], seed=11) as pool:
        return pool.run(FAULT_PUBS)


@pytest.mark.parametrize("failure_rate", [0.2, 0.5])
def test_injected_failures_and_a_stalled_qpu_change_nothing(fault_reference: list, failure_rate: float) -> None:
    qpus = [
        FaultyQPU(AerQPU("flaky3", 3), failure_rate=failure_rate, seed=1),
        FaultyQPU(AerQPU("flaky5", 5), failure_rate=failure_rate, seed=2),
        FaultyQPU(AerQPU("stuck", 5), stall_rate=1.0, stall_seconds=60.0),
    ]
    with QPUPool(qpus, seed=11, timeout=0.3, retries=20, backoff=0.001) as pool:
        results = pool.run(FAULT_PUBS)
        stats = pool.stats
    assert_same(results, fault_reference)
    assert stats.qpus["stuck"].timeouts >= 1 and stats.qpus["stuck"].jobs == 0
    assert stats.qpus["flaky3"].failures + stats.qpus["flaky5"].failures >= 1
    assert stats.retries == sum(q.failures for q in stats.qpus.values())  # timeouts included


def test_qpu_disappearing_mid_run_is_rerouted(reference: list) -> None:
    qpus = [AerQPU("a", 5), FaultyQPU(AerQPU("vanishing", 5), disappear_after=2)]
    with QPUPool(qpus, seed=11) as pool:
        results = pool.run(PUBS)
        stats = pool.stats
        assert not stats.qpus["vanishing"].available and stats.qpus["vanishing"].jobs <= 2
        again = pool.run(make_pubs([3], seed=9))  # later runs avoid it entirely
    assert_same(results, reference)
    assert again[0].metadata["qpu"] == "a"


def test_only_wide_qpu_disappearing_is_a_clear_error() -> None:
    qpus = [AerQPU("small", 2), FaultyQPU(AerQPU("wide", 5), disappear_after=0)]
    with QPUPool(qpus, seed=1) as pool, pytest.raises(NoCapableQPUError, match="5-qubit.*widest QPU has 2"):
        pool.run(make_pubs([5, 2]))


def test_persistent_failure_raises_after_retries() -> None:
    with QPUPool([FaultyQPU(AerQPU("bad", 3), failure_rate=1.0)], seed=1, retries=2, backoff=0.001) as pool:
        with pytest.raises(PoolExecutionError, match="failed 3 times.*injected job failure"):
            pool.run(make_pubs([2]))
        assert pool.stats.qpus["bad"].failures == 3


def test_only_stalled_qpus_time_out_instead_of_hanging() -> None:
    qpus = [FaultyQPU(AerQPU("stuck", 3), stall_rate=1.0, stall_seconds=60.0)]
    with QPUPool(qpus, seed=1, timeout=0.2, retries=1, backoff=0.001) as pool:
        with pytest.raises(PoolExecutionError, match="timed out|stalled"):
            pool.run(make_pubs([2]))


def test_a_still_stalled_qpu_gets_no_new_work_in_the_next_run() -> None:
    qpus = [AerQPU("a", 3), FaultyQPU(AerQPU("stuck", 3), stall_rate=1.0, stall_seconds=60.0)]
    with QPUPool(qpus, seed=1, timeout=0.3, retries=3, backoff=0.001) as pool:
        first = pool.run(make_pubs([2, 3, 2]))
        second = pool.run(make_pubs([3, 2], seed=4))
        stats = pool.stats
    assert {r.metadata["qpu"] for r in first + second} == {"a"}
    assert stats.qpus["stuck"].timeouts == 1  # its one job is still running: not given another


def test_stats_are_a_dataclass_and_dict() -> None:
    with QPUPool([AerQPU("a", 3), AerQPU("b", 3)], seed=1) as pool:
        pool.run(make_pubs([2, 2, 3, 3]))
        data = pool.stats.to_dict()
        util = pool.stats.utilisation()
    assert set(data["qpus"]) == {"a", "b"}
    assert sum(q["jobs"] for q in data["qpus"].values()) == 4
    assert all(q["seconds"] > 0 for q in data["qpus"].values()) and set(util) == {"a", "b"}


def test_empty_input_and_malformed_pubs() -> None:
    with QPUPool([AerQPU("a", 2)], seed=1) as pool:
        assert pool.run([]) == []
        with pytest.raises(ValueError, match="PUB"):
            pool.run([(ladder(2), np.zeros((3, 5)), 10)])  # 5 values for 2 parameters
        assert pool.stats.qpus["a"].jobs == 0


def test_closed_pool_refuses_work() -> None:
    pool = QPUPool([AerQPU("a", 2)], seed=1)
    pool.close()
    with pytest.raises(BackendConfigError, match="closed"):
        pool.run(make_pubs([2]))


def test_single_binding_pubs_and_default_shots() -> None:
    qc = ladder(2)
    with QPUPool([AerQPU("a", 2)], seed=4, default_shots=123) as pool:
        (result,) = pool.run([(qc, [0.3, 1.2])])
    assert result.data.meas.shape == () and result.data.meas.num_shots == 123


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"qpus": []}, "at least one"),
        ({"engine": "dask"}, "unknown engine"),
        ({"timeout": 0}, "timeout"),
        ({"retries": -1}, "retries"),
    ],
)
def test_bad_pool_arguments(kwargs: dict, match: str) -> None:
    qpus = kwargs.pop("qpus", [AerQPU("a", 2)])
    with pytest.raises(BackendConfigError, match=match):
        QPUPool(qpus, **kwargs)


@pytest.mark.parametrize(
    ("qpus", "match"),
    [
        ([1, 2], r"not QPUs: #0: 1 \(int\), #1: 2 \(int\)"),
        ("ab", "list of QPU instances, got str"),
        (None, "list of QPU instances, got NoneType"),
    ],
)
def test_non_qpus_are_named(qpus: object, match: str) -> None:
    with pytest.raises(BackendConfigError, match=match):
        QPUPool(qpus)  # type: ignore[arg-type]


def test_one_bare_qpu_is_not_a_pool() -> None:
    with pytest.raises(BackendConfigError, match="got one QPU: pass \\[AerQPU"):
        QPUPool(AerQPU("a", 2))  # type: ignore[arg-type]


@pytest.mark.parametrize("shots", [10**12, MAX_SHOTS + 1, 0, -3, 1.5, True, "100"])
def test_bad_shots_are_refused_before_any_work(shots: object) -> None:
    with QPUPool([AerQPU("a", 2)], seed=1) as pool:
        with pytest.raises(ValueError, match=r"shots must be an integer in \[1, 100_000_000\]"):
            pool.run(make_pubs([2]), shots=shots)  # type: ignore[arg-type]
        if isinstance(shots, int) and shots > MAX_SHOTS:
            with pytest.raises(ValueError, match="PUB #1 shots must be an integer"):
                pool.run([(ladder(2), np.zeros(2), 10), (ladder(2), np.zeros(2), shots)])
        assert pool.stats.qpus["a"].jobs == 0
        (result,) = pool.run([(ladder(2), np.zeros(2), 10)])
    assert result.metadata["draw"] == 0  # refused calls consumed no draw


def test_default_shots_are_bounded() -> None:
    with pytest.raises(BackendConfigError, match="default_shots must be an integer"):
        QPUPool([AerQPU("a", 2)], default_shots=10**9)


def test_duplicate_names_rejected() -> None:
    with pytest.raises(BackendConfigError, match="unique"):
        QPUPool([AerQPU("a", 2), AerQPU("a", 3)])


def test_multi_dimensional_bindings_keep_their_shape() -> None:
    """Parameter-shift PUBs bind arrays shaped like (2, P_f, B, P)."""
    qc = ladder(3)
    values = np.random.default_rng(2).uniform(0, np.pi, (2, 3, 4, 3))
    with QPUPool([AerQPU("a", 3)], seed=9) as pool:
        (result,) = pool.run([(qc, values, 50)])
        seed = pool.pub_seed((qc, values, 50))
    (reference,) = bare([(qc, values, 50)], [seed], 3)
    assert result.data.meas.shape == (2, 3, 4)
    np.testing.assert_array_equal(result.data.meas.array, reference.data.meas.array)
