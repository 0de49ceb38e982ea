"""IBMRuntimeQPU in qiskit-ibm-runtime's local testing mode (fake backends, no network)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import SparsePauliOp, Statevector
from qiskit_addon_cutting import (
    cut_gates,
    generate_cutting_experiments,
    partition_problem,
    reconstruct_expectation_values,
)

from backends import (
    BackendConfigError,
    IBMCredentialsError,
    IBMRuntimeQPU,
    QPUPool,
)
from backends.ibm import runtime_sampler_class
from backends.results import binding_results

SHOTS = 10_000
OBSERVABLES = SparsePauliOp(["ZZII", "IZZI", "ZIIZ", "XIIX", "IIZZ"])


def four_qubit_template() -> QuantumCircuit:
    """Parameters on 1-qubit gates only; the CX(1, 2) between halves is cut."""
    a = ParameterVector("a", 4)
    b = ParameterVector("b", 4)
    qc = QuantumCircuit(4)
    for i in range(4):
        qc.ry(a[i], i)
    qc.cx(0, 1)
    qc.cx(2, 3)
    qc.cx(1, 2)
    for i in range(4):
        qc.rx(b[i], i)
    return qc


def cut_experiments(qc: QuantumCircuit) -> tuple:
    index = next(i for i, inst in enumerate(qc.data)
                 if inst.operation.name == "cx" and [qc.find_bit(q).index for q in inst.qubits] == [1, 2])
    cut_circuit, _ = cut_gates(qc, [index])
    partitioned = partition_problem(cut_circuit, "AABB", observables=OBSERVABLES.paulis)
    subexperiments, coefficients = generate_cutting_experiments(
        partitioned.subcircuits, partitioned.subobservables, num_samples=np.inf
    )
    return subexperiments, coefficients, partitioned.subobservables


def test_uses_the_current_runtime_sampler() -> None:
    from qiskit_ibm_runtime import SamplerV2

    # 0.50+ deprecates SamplerV2 for the client-side executor sampler.
    assert runtime_sampler_class() is not SamplerV2


@pytest.mark.parametrize("local_noise", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_cut_fragments_end_to_end_in_local_mode(local_noise: bool) -> None:
    qc = four_qubit_template()
    values = np.random.default_rng(7).uniform(-np.pi, np.pi, (2, qc.num_parameters))
    subexperiments, coefficients, subobservables = cut_experiments(qc)
    labels = sorted(subexperiments)
    pubs = [(c, values[:, [qc.parameters.data.index(p) for p in c.parameters]], SHOTS)
            for label in labels for c in subexperiments[label]]
    qpu = IBMRuntimeQPU("manila", "FakeManilaV2", num_qubits=2, local_noise=local_noise)
    assert qpu.local and qpu.num_qubits == 2 and qpu.coupling_map
    with QPUPool([qpu], seed=5) as pool:
        results = pool.run(pubs)
    # every PUB is its own draw (the sampled mode merges identical sub-experiments before the pool)
    assert len(qpu.job_ids) == len(pubs)  # one job each, whole batch in it

    # Binding-by-binding reconstruction against the exact value.
    sizes = [len(subexperiments[label]) for label in labels]
    offsets = np.cumsum([0, *sizes])
    # Bound on the shot noise: each term is a product of two +-1 means (variance <= 2 / SHOTS).
    sigma = np.sqrt(sum(c**2 for c, _ in coefficients) * 2 / SHOTS)
    tolerance = 5 * sigma + (0.12 if local_noise else 0.0)  # FakeManila's noise adds a small bias
    for b in range(values.shape[0]):
        per_label = {label: binding_results(results[offsets[i]:offsets[i + 1]], b)
                     for i, label in enumerate(labels)}
        terms = reconstruct_expectation_values(per_label, coefficients, subobservables)
        exact = Statevector(qc.assign_parameters(values[b])).expectation_value
        expected = [exact(SparsePauliOp(p)).real for p in OBSERVABLES.paulis]
        np.testing.assert_allclose(terms, expected, atol=tolerance)


def test_fake_backend_instance_and_width_cap() -> None:
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    qpu = IBMRuntimeQPU("m", FakeManilaV2())
    assert qpu.num_qubits == 5 and qpu.local
    with pytest.raises(BackendConfigError, match="exceeds"):
        IBMRuntimeQPU("m", "FakeManilaV2", num_qubits=7)
    with pytest.raises(BackendConfigError, match="FakeAtlantisV2"):
        IBMRuntimeQPU("m", "FakeAtlantisV2")


def test_missing_credentials_say_how_to_save_an_account(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from qiskit_ibm_runtime.accounts import management

    for var in ("QISKIT_IBM_TOKEN", "QISKIT_IBM_URL", "QISKIT_IBM_INSTANCE", "QISKIT_IBM_CHANNEL"):
        monkeypatch.delenv(var, raising=False)
    # Point the account store at an empty file so a developer's saved account is not used.
    monkeypatch.setattr(management, "_DEFAULT_ACCOUNT_CONFIG_JSON_FILE", str(tmp_path / "none.json"))
    with pytest.raises(IBMCredentialsError, match=r"save_account"):
        IBMRuntimeQPU("real", "ibm_torino")


def test_local_mode_builds_one_single_threaded_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    # The runtime rebuilds the noise model on every job from a fake backend and lets Aer
    # take every core; one prebuilt 1-thread simulator per QPU avoids both (10x on 2 cores).
    from qiskit_aer import AerSimulator
    from qiskit_aer.noise import NoiseModel

    builds = []
    original = NoiseModel.from_backend.__func__
    monkeypatch.setattr(NoiseModel, "from_backend",
                        classmethod(lambda cls, *a, **k: builds.append(1) or original(cls, *a, **k)))
    qc = QuantumCircuit(2)
    qc.ry(0.3, 0)
    qc.cx(0, 1)
    qc.measure_all()
    for noise in (True, False):
        builds.clear()
        qpu = IBMRuntimeQPU("m", "FakeManilaV2", num_qubits=2, local_noise=noise)
        with qpu:
            qpu.run([qc, qc, qc], shots=50, seed=3)
            sim = qpu._simulator
            assert qpu._batch._backend is sim  # what the runtime's local mode runs
            assert isinstance(sim, AerSimulator) and sim.options.max_parallel_threads == 1
            assert (sim.options.noise_model is not None) == noise
        assert len(builds) <= 1 and len(qpu.job_ids) == 3
        assert qpu.backend.name == "fake_manila"  # transpiled for and logged as the device
    with pytest.raises(BackendConfigError, match="max_parallel_threads"):
        IBMRuntimeQPU("m", "FakeManilaV2", max_parallel_threads=-1)


def test_seeded_local_jobs_repeat() -> None:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    counts = []
    for _ in range(2):
        with IBMRuntimeQPU("m", "FakeManilaV2", num_qubits=2) as qpu:
            counts.append(qpu.run([qc], shots=200, seed=11)[0].join_data().get_counts())
    assert counts[0] == counts[1] and len(counts[0]) > 2  # FakeManila's noise: beyond 00/11


EXAMPLE = Path(__file__).resolve().parents[1] / "experiments" / "configs" / "ibm_fake_example.toml"


def test_fake_example_config_resolves_to_fake_backends_only() -> None:
    from backends import pool_from_config
    from dqlstm.config import load_config

    cfg = load_config(EXAMPLE)
    assert cfg["model"]["mode"] == "sampled" and cfg["train"]["epochs"] == 1
    devices = cfg["qpus"]["devices"]
    assert devices and all(d["kind"] == "ibm" and d["backend"].startswith("Fake") for d in devices)
    with pool_from_config(cfg) as pool:
        assert pool.qpus and all(isinstance(q, IBMRuntimeQPU) and q.local for q in pool.qpus)


@pytest.mark.slow  # ~70 s on 2 cores: every shot is simulated, as on hardware
def test_fake_example_trains(tmp_path) -> None:
    import json

    from dqlstm.config import load_config
    from dqlstm.training.run import run_training

    run_training(load_config(EXAMPLE), tmp_path / "run", quiet=True)
    cut = json.loads((tmp_path / "run" / "metrics.json").read_text())["cut"]
    assert cut["num_cuts"] == 1 and cut["fragment_widths"] == [2, 2]
    qpus = cut["pool"]["qpus"]
    assert set(qpus) == {"manila0", "manila1"} and all(q["failures"] == 0 for q in qpus.values())
    assert sum(q["jobs"] for q in qpus.values()) == cut["executed"]["num_pubs"]
