"""The process engine (one worker process per QPU): local engine's counts, dead workers, dead owners."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

try:
    import psutil
except ImportError:  # a test helper only
    psutil = None
needs_psutil = pytest.mark.skipif(psutil is None, reason="psutil not installed")

from backends import AerQPU, FaultyQPU, NoCapableQPUError, QPUPool

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


def _wait_gone(pids: list[int], limit: float) -> tuple[list[int], float]:
    """Poll until none of ``pids`` runs (zombies count as gone); the ones left and the time taken."""
    start = time.monotonic()
    while True:
        left = [pid for pid in pids if _running(pid)]
        elapsed = time.monotonic() - start
        if not left or elapsed > limit:
            return left, elapsed
        time.sleep(0.05)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@needs_psutil
def test_a_worker_killed_while_idle_is_rerouted_then_none_left_is_a_clear_error() -> None:
    rng = np.random.default_rng(1)
    pubs = [(ladder(2), rng.uniform(0, np.pi, (2, 2)), 100) for _ in range(6)]
    with QPUPool([AerQPU("a", 2), AerQPU("b", 2)], engine="process", seed=3) as pool:
        pool.run(pubs[:2])
        pid_a, pid_b = pool.engine.worker_pids()
        os.kill(pid_b, signal.SIGKILL)
        assert not _wait_gone([pid_b], 10.0)[0]
        time.sleep(0.3)  # the executor notices: submit now raises BrokenProcessPool at once
        results = pool.run(pubs[2:4])
        stats = pool.stats
        assert {r.metadata["qpu"] for r in results} == {"a"}
        assert not stats.qpus["b"].available and stats.qpus["a"].available
        os.kill(pid_a, signal.SIGKILL)
        assert not _wait_gone([pid_a], 10.0)[0]
        time.sleep(0.3)
        with pytest.raises(NoCapableQPUError, match="no QPU is left.*'a' became unavailable.*worker process"):
            pool.run(pubs[4:])
        assert pool.widest is None


# The child builds a process-engine pool, runs a PUB, reports its process tree and sleeps.
_OWNER = """
import json, sys, time
import numpy as np, psutil
sys.path.insert(0, sys.argv[1])
from backends import AerQPU, QPUPool
from ladder_circuit import ladder
pool = QPUPool([AerQPU("a", 2), AerQPU("b", 2)], engine="process", seed=1)
pool.run([(ladder(2), np.full((2, 2), 0.3), 100)])
tree = {p.pid: " ".join(p.cmdline()) for p in psutil.Process().children(recursive=True)}
print(json.dumps({"workers": pool.engine.worker_pids(), "tree": tree}), flush=True)
time.sleep(600)
"""


@needs_psutil  # ~2-5 s: a fresh interpreter, its fork server and two workers
def test_workers_fork_server_and_tracker_exit_when_the_owner_is_killed() -> None:
    tests = str(Path(__file__).resolve().parent)
    owner = subprocess.Popen([sys.executable, "-c", _OWNER, tests], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    try:
        report = json.loads(owner.stdout.readline())
    finally:
        owner.kill()  # SIGKILL: no atexit, no finalizers
        owner.wait()
    tree = {int(pid): cmd for pid, cmd in report["tree"].items()}
    assert set(report["workers"]) <= set(tree)
    assert any("forkserver" in cmd for cmd in tree.values()) and any("resource_tracker" in cmd for cmd in tree.values())
    left, _ = _wait_gone(list(tree), 10.0)
    for pid in left:  # do not leak them into the next test
        psutil.Process(pid).kill()
    assert not left, {pid: tree[pid] for pid in left}
