"""qpu_from_config / pool_from_config: the [qpus] TOML schema and its errors."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
from qiskit import QuantumCircuit

from backends import AerQPU, BackendConfigError, IBMRuntimeQPU, pool_from_config, qpu_from_config

EXAMPLE = """
[qpus]
seed = 21
timeout = 30.0
retries = 2

[[qpus.devices]]
name = "aer"
count = 2
num_qubits = 3
noise = { depolarizing_1q = 1e-3, depolarizing_2q = 1e-2, readout = 0.02 }

[[qpus.devices]]
name = "manila"
noise = { fake_backend = "FakeManilaV2" }

[[qpus.devices]]
name = "ibm_local"
kind = "ibm"
backend = "FakeManilaV2"
num_qubits = 4
local_noise = false
"""


def bell() -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    return qc


def test_example_table_builds_the_pool_it_describes() -> None:
    config = tomllib.loads(EXAMPLE)
    with pool_from_config(config) as pool:
        assert [q.name for q in pool.qpus] == ["aer0", "aer1", "manila", "ibm_local"]
        assert [q.num_qubits for q in pool.qpus] == [3, 3, 5, 4]
        assert isinstance(pool.qpus[3], IBMRuntimeQPU) and pool.qpus[2].coupling_map
        assert (pool.seed, pool.timeout, pool.retries) == (21, 30.0, 2)
        (result,) = pool.run([bell()], shots=500)
    counts = result.data.meas.get_counts()
    assert sum(counts.values()) == 500 and counts.get("00", 0) + counts.get("11", 0) > 400


def test_whole_config_or_bare_table_accepted() -> None:
    table = tomllib.loads(EXAMPLE)["qpus"]
    table["devices"] = table["devices"][:1]
    with pool_from_config(table) as pool:
        assert len(pool.qpus) == 2


def test_single_qpu_from_config_matches_direct_construction() -> None:
    qpu = qpu_from_config({"name": "a", "num_qubits": 2, "seed": 3, "noise": {"readout": 0.1}})
    direct = AerQPU("b", 2, {"readout": 0.1}, seed=3)
    counts = [q.run([bell()], shots=300)[0].data.meas.get_counts() for q in (qpu, direct)]
    assert counts[0] == counts[1] and sum(counts[0].values()) == 300


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ({"name": "a", "num_qubits": 0}, "num_qubits must be positive"),
        ({"name": "a", "num_qubits": -2}, "num_qubits must be positive"),
        ({"name": "a"}, "num_qubits is required"),
        ({"num_qubits": 2}, "'name'"),
        ({"name": "a", "num_qubits": 2, "kind": "braket"}, "unknown kind 'braket'"),
        ({"name": "a", "num_qubits": 2, "nosie": {}}, r"unknown keys \['nosie'\]"),
        ({"name": "a", "noise": {"fake_backend": "FakeNowhereV2"}}, "unknown fake IBM backend 'FakeNowhereV2'"),
        ({"name": "a", "kind": "ibm"}, "'backend'"),
        ({"name": "a", "kind": "ibm", "backend": "FakeNowhereV2"}, "FakeNowhereV2"),
        ({"name": "a", "kind": "ibm", "backend": "FakeManilaV2", "token": "x"}, "credentials never go in configs"),
        ({"name": "a", "num_qubits": 2, "count": 0}, "count"),
    ],
)
def test_bad_entries_name_the_problem(entry: dict, match: str) -> None:
    with pytest.raises(BackendConfigError, match=match):
        pool_from_config({"qpus": {"devices": [entry]}})


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({}, "at least one"),
        ({"devices": []}, "at least one"),
        ({"devices": [{"name": "a", "num_qubits": 2}], "engine": "spark"}, "unknown engine"),
        ({"devices": [{"name": "a", "num_qubits": 2}], "retry": 3}, r"unknown keys \['retry'\]"),
        ({"devices": [{"name": "a", "num_qubits": 2}, {"name": "a", "num_qubits": 3}]}, "unique"),
        # [qpus] shots never reached training (the executor passes its own): say where they go
        ({"devices": [{"name": "a", "num_qubits": 2}], "shots": 500}, r"\[qpus\] shots: .*\[model\] shots"),
        ({"devices": [{"name": "a", "num_qubits": 2}], "cache_size": 0}, r"cache_size: .*independent draw"),
    ],
)
def test_bad_pool_tables(table: dict, match: str) -> None:
    with pytest.raises(BackendConfigError, match=match):
        pool_from_config({"qpus": table})


def test_shipped_ibm_example_config_parses_without_an_account(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example TOML is valid; swapping its device for a fake one builds a pool offline."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "experiments" / "configs" / "ibm_runtime_example.toml"
    config = tomllib.loads(path.read_text())
    assert "shots" not in config["qpus"] and config["model"]["shots"] == 2000  # shots live in [model]
    devices = config["qpus"]["devices"]
    assert any(d.get("kind") == "ibm" for d in devices)
    assert not any(k in d for d in devices for k in ("token", "api_key"))
    for device in devices:
        if device.get("kind") == "ibm":
            device.pop("instance", None)
            device.pop("channel", None)
            device["backend"] = "FakeManilaV2"
    with pool_from_config(config) as pool:
        results = pool.run([(bell(), np.zeros(0), 100)])
    assert results[0].data.meas.num_shots == 100
