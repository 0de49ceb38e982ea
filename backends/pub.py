"""Sampler PUBs (primitives V2): normalisation, content fingerprints, per-PUB seeds.

A PUB is ``(circuit, parameter_values, shots)``; ``parameter_values`` has shape
``(P,)`` (one binding) or ``(B, P)`` (a batch of bindings, one job). The
fingerprint depends only on the circuit's content (gate names, parameter
names, bits), never on object identity or Parameter UUIDs, so the same
experiment built twice - in another process, on another machine - gets the
same key, hence the same seed and the same counts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterExpression
from qiskit.primitives.containers.sampler_pub import SamplerPub

_SEED_MODULUS = 2**31 - 1  # seeds in [1, 2**31 - 1]: valid for Aer, never falsy


@dataclass(frozen=True)
class Pub:
    """One normalised sampler PUB with its content key."""

    sampler_pub: SamplerPub
    key: str = field(compare=False)

    @property
    def circuit(self) -> QuantumCircuit:
        return self.sampler_pub.circuit

    @property
    def shots(self) -> int:
        return int(self.sampler_pub.shots)

    @property
    def width(self) -> int:
        """Number of qubits the circuit needs."""
        return self.sampler_pub.circuit.num_qubits

    @property
    def num_bindings(self) -> int:
        """Number of parameter bindings (``B``; 1 for a single binding)."""
        return int(np.prod(self.sampler_pub.shape, dtype=int))

    @property
    def parameter_values(self) -> np.ndarray:
        """Bindings as an array ``(*shape, P)`` in ``circuit.parameters`` order."""
        return self.sampler_pub.parameter_values.as_array(self.circuit.parameters)


def as_pub(pub_like: Any, default_shots: int) -> Pub:
    """Normalise a PUB-like (circuit, (circuit, values), (circuit, values, shots), Pub)."""
    if isinstance(pub_like, Pub):
        return pub_like
    if isinstance(pub_like, tuple) and len(pub_like) >= 2 and isinstance(pub_like[1], (list, tuple)):
        values = np.asarray(pub_like[1], dtype=float)  # lists -> arrays for SamplerPub
        pub_like = (pub_like[0], values, *pub_like[2:])
    try:
        sampler_pub = SamplerPub.coerce(pub_like, default_shots)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"invalid sampler PUB: {exc}") from exc
    if sampler_pub.shots is None or sampler_pub.shots <= 0:
        raise ValueError(f"PUB shots must be a positive integer, got {sampler_pub.shots!r}")
    if not sampler_pub.circuit.cregs:
        raise ValueError("PUB circuit has no classical register: add measurements")
    return Pub(sampler_pub, _pub_key(sampler_pub))


def circuit_fingerprint(circuit: QuantumCircuit) -> str:
    """SHA-256 of the circuit's content (independent of Parameter UUIDs)."""
    digest = hashlib.sha256()
    _feed_circuit(digest, circuit)
    return digest.hexdigest()


def derive_seed(pool_seed: int, pub: Pub) -> int:
    """Seed of one PUB: a hash of the pool seed and the PUB content, not of the worker."""
    digest = hashlib.sha256(f"{int(pool_seed)}|{pub.key}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % _SEED_MODULUS + 1


def _pub_key(sampler_pub: SamplerPub) -> str:
    circuit = sampler_pub.circuit
    values = np.ascontiguousarray(
        sampler_pub.parameter_values.as_array(circuit.parameters), dtype=np.float64
    )
    digest = hashlib.sha256()
    _feed_circuit(digest, circuit)
    digest.update(f"|shape={values.shape}|shots={sampler_pub.shots}|".encode())
    digest.update(values.tobytes())
    return digest.hexdigest()


def _feed_circuit(digest: Any, circuit: QuantumCircuit) -> None:
    digest.update(f"q={circuit.num_qubits};c={circuit.num_clbits};".encode())
    digest.update(";".join(f"{r.name}:{r.size}" for r in circuit.cregs).encode())
    digest.update(f";gp={_param_text(circuit.global_phase)};".encode())
    digest.update(",".join(p.name for p in circuit.parameters).encode())
    for inst in circuit.data:
        op = inst.operation
        qubits = ",".join(str(circuit.find_bit(q).index) for q in inst.qubits)
        clbits = ",".join(str(circuit.find_bit(c).index) for c in inst.clbits)
        params = ",".join(_param_text(p) for p in op.params if not isinstance(p, QuantumCircuit))
        digest.update(f"|{op.name}({params})[{qubits}][{clbits}]".encode())
        for block in getattr(op, "blocks", ()):  # control flow: hash the bodies too
            _feed_circuit(digest, block)


def _param_text(value: Any) -> str:
    if isinstance(value, ParameterExpression):
        return str(value)
    if isinstance(value, (float, np.floating)):
        return float(value).hex()
    if isinstance(value, np.ndarray):
        return hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
    return repr(value)
