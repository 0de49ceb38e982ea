"""AerQPU, PUB normalisation and noise configs, against a bare qiskit-aer SamplerV2."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit_aer.primitives import SamplerV2

from backends import AerQPU, BackendConfigError, as_pub, circuit_fingerprint, derive_seed
from backends.results import select_binding


from ladder_circuit import ladder  # noqa: E402


def test_fingerprint_ignores_parameter_identity_but_not_content() -> None:
    a, b = ladder(3), ladder(3)  # same content, fresh Parameter UUIDs
    assert circuit_fingerprint(a) == circuit_fingerprint(b)
    assert circuit_fingerprint(a) != circuit_fingerprint(ladder(3, name="y"))
    c = ladder(3)
    c.x(0)
    assert circuit_fingerprint(a) != circuit_fingerprint(c)


def test_pub_key_and_seed_depend_on_bindings_and_shots() -> None:
    qc = ladder(2)
    p1 = as_pub((qc, [0.1, 0.2], 100), 1024)
    assert p1.key == as_pub((ladder(2), np.array([0.1, 0.2]), 100), 1024).key
    assert p1.key != as_pub((qc, [0.1, 0.3], 100), 1024).key
    assert p1.key != as_pub((qc, [0.1, 0.2], 101), 1024).key
    assert derive_seed(1, p1) == derive_seed(1, p1) != derive_seed(2, p1)
    assert p1.num_bindings == 1 and as_pub((qc, np.zeros((5, 2))), 10).num_bindings == 5


def test_bad_pubs_are_rejected() -> None:
    qc = ladder(2)
    with pytest.raises(ValueError, match="PUB"):
        as_pub((qc, [0.1, 0.2, 0.3]), 10)  # 3 values for 2 parameters
    with pytest.raises(ValueError, match="shots"):
        as_pub((qc, [0.1, 0.2], 0), 10)
    bare = QuantumCircuit(1)
    bare.h(0)
    with pytest.raises(ValueError, match="classical register"):
        as_pub(bare, 10)


def test_aer_qpu_matches_bare_sampler_bit_for_bit() -> None:
    # the per-shot route is Aer's own sampler (the default route draws from exact laws: see test_backends_exact_shots)
    qc = ladder(3)
    values = np.random.default_rng(0).uniform(0, np.pi, (4, 3))
    qpu = AerQPU("a", 3, shots_method="per-shot")
    result = qpu.execute(as_pub((qc, values, 300), 1024), seed=42)
    reference = SamplerV2(seed=42).run([(qc, values, 300)]).result()[0]
    assert result.data.meas.shape == (4,)
    np.testing.assert_array_equal(result.data.meas.array, reference.data.meas.array)
    one = select_binding(result, 2)
    assert one.data.meas.shape == () and one.data.meas.get_counts() == reference.data.meas.get_counts(2)


def test_unparameterised_and_qpu_seeded_runs_are_reproducible() -> None:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    first = AerQPU("a", 2, seed=5).run([qc], shots=200)[0].data.meas.get_counts()
    again = AerQPU("b", 2, seed=5).run([qc], shots=200)[0].data.meas.get_counts()
    assert first == again and set(first) <= {"00", "11"} and sum(first.values()) == 200


@pytest.mark.parametrize("num_qubits", [0, -3, 2.5, True])
def test_bad_qubit_counts(num_qubits: object) -> None:
    with pytest.raises(BackendConfigError, match="num_qubits"):
        AerQPU("a", num_qubits)  # type: ignore[arg-type]


def test_unknown_fake_backend_is_named() -> None:
    with pytest.raises(BackendConfigError, match="FakeNowhereV2"):
        AerQPU("a", 5, {"fake_backend": "FakeNowhereV2"})


@pytest.mark.parametrize(
    ("noise", "match"),
    [
        ({"depolarizing_1q": 1.5}, "depolarizing_1q"),
        ({"readout": -0.1}, "readout"),
        ({"readout": [0.1]}, "readout"),
        ({"depolarising_2q": 0.1}, "unknown noise keys"),
        ({"fake_backend": "FakeManilaV2", "readout": 0.1}, "cannot be combined"),
        ("FakeManilaV2", "must be a dict"),
    ],
)
def test_bad_noise_configs(noise: object, match: str) -> None:
    with pytest.raises(BackendConfigError, match=match):
        AerQPU("a", 2, noise)  # type: ignore[arg-type]


def test_readout_noise_flips_at_the_configured_rate() -> None:
    qc = QuantumCircuit(1)
    qc.measure_all()  # |0> measured: only readout error can give a 1
    qpu = AerQPU("noisy", 1, {"readout": 0.2})
    counts = qpu.run([qc], shots=20000, seed=3)[0].data.meas.get_counts()
    assert abs(counts.get("1", 0) / 20000 - 0.2) < 0.02


def test_depolarising_noise_mixes_a_deterministic_circuit() -> None:
    qc = QuantumCircuit(2)
    qc.x(0)
    for _ in range(10):
        qc.cx(0, 1)
        qc.barrier()  # keeps the transpiler from cancelling CX pairs
    qc.measure_all()
    ideal = AerQPU("ideal", 2).run([qc], shots=4000, seed=1)[0].data.meas.get_counts()
    noisy = AerQPU("noisy", 2, {"depolarizing_2q": 0.05}).run([qc], shots=4000, seed=1)[0].data.meas.get_counts()
    assert ideal == {"01": 4000}
    assert 0.2 < 1 - noisy.get("01", 0) / 4000 < 0.5  # ~10 noisy CX at p=0.05


def test_fake_backend_noise_uses_device_target() -> None:
    qpu = AerQPU("manila", 3, {"fake_backend": "FakeManilaV2"})
    assert qpu.coupling_map and "sx" in qpu.basis_gates and qpu.num_qubits == 3
    qc = ladder(3)
    counts = qpu.run([(qc, [np.pi, 0.0, 0.0], 4000)], seed=2)[0].data.meas.get_counts()
    # ideal: |111> (ry(pi) then CX ladder); noise leaves it the clear majority but not all
    assert 0.7 < counts.get("111", 0) / 4000 < 1.0
    with pytest.raises(BackendConfigError, match="exceeds"):
        AerQPU("big", 6, {"fake_backend": "FakeManilaV2"})
