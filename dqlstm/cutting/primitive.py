r"""``CutEstimatorV2``: the cutting estimator as a Qiskit ``BaseEstimatorV2`` primitive.

Qiskit code written for ``StatevectorEstimator`` / Runtime's ``EstimatorV2``
(and libraries built on them, e.g. qiskit-machine-learning's ``EstimatorQNN``)
runs unchanged on QPUs narrower than its circuits:

>>> est = CutEstimatorV2(max_qubits=3)                    # doctest: +SKIP
>>> est.run([(circuit, ["ZIIIIZ", "XXIIII"], values)]).result()[0].data.evs  # doctest: +SKIP

Each PUB is coerced with ``EstimatorPub.coerce`` and broadcast exactly as
``StatevectorEstimator`` does: ``evs[i] = <O[i_o]>(theta[i_p])`` over the
broadcast shape of the observables array ``O`` (shape :math:`S_o`) and the
bindings ``theta`` (shape :math:`S_p`). Every distinct binding is evaluated
once for every distinct observable of the PUB by a :class:`CutEstimator`,
then picked into the broadcast shape.

Cache. One ``CutEstimator`` (cut plan + fragments or sub-experiments) per
(circuit content, set of observables, method); the circuit is keyed by
:func:`backends.circuit_fingerprint`, so new parameter values - and the
parameter-shifted bindings a gradient sends - reuse the plan. PUBs of one
``run`` that share an entry (and shots) are evaluated in one call.

Precision -> shots (``sampled``). Every distinct sub-experiment runs
:math:`S` shots per binding. With sampling overhead
:math:`\kappa = \prod_{cuts} (\sum_i |c_i|)^2`, a :math:`\pm1` observable has
per-shot variance :math:`\kappa - \langle O\rangle^2 \le \kappa`, so its
standard error is at most :math:`\sqrt{\kappa / S}`. For a target precision
:math:`\epsilon`,

.. math::
    S = \max(2, \lceil \kappa\, w^2 / \epsilon^2 \rceil),
    \qquad w = \max_k \sum_{P_j \ne I} |a_{kj}|

(:math:`w = 1` for a Pauli string; for :math:`O_k = \sum_j a_{kj} P_j` the
standard error is at most :math:`\sum_j |a_{kj}| \sigma_j`). :math:`S` above
:data:`~dqlstm.cutting.guard.MAX_SHOTS` is refused with ``ValueError``. The
bound is worst-case: reported ``stds`` are at most the precision asked for,
usually below it. ``cut-exact`` is exact: ``stds`` are 0 and precision only
goes to the metadata.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.primitives import (
    BaseEstimatorV2,
    DataBin,
    PrimitiveJob,
    PrimitiveResult,
    PubResult,
)
from qiskit.primitives.containers.estimator_pub import EstimatorPub, EstimatorPubLike
from qiskit.quantum_info import SparsePauliOp

# backends.pub needs qiskit only: it loads neither Aer nor IBM Runtime
from backends.pub import circuit_fingerprint

from .estimator import CutEstimator
from .guard import MAX_SHOTS, check_shots
from .modes import CUT_MODES, check_mode

__all__ = ["CacheInfo", "CutEstimatorOptions", "CutEstimatorV2", "shots_for_precision"]

# qiskit's BackendEstimatorV2 / EstimatorQNN default precision (1/64)
SAMPLED_DEFAULT_PRECISION = 0.015625
_PAULI_LETTERS = frozenset("IXYZ")

ObservableKey = tuple[tuple[str, float], ...]
EntryKey = tuple[str, tuple[ObservableKey, ...], str]


@dataclass(frozen=True)
class CutEstimatorOptions:
    """Options of :class:`CutEstimatorV2`.

    Attributes:
        max_qubits: QPU capacity, or a list of capacities (one fragment each).
        method: ``cut-exact`` (exact fragments contracted over the cuts) or
            ``sampled`` (qiskit-addon-cutting sub-experiments with shots).
        default_precision: precision of PUBs that name none; ``None``: 0 for
            ``cut-exact``, :data:`SAMPLED_DEFAULT_PRECISION` for ``sampled``.
        seed: ``sampled`` without a pool: seed of the local Aer sampler.
        cache_size: ``CutEstimator`` s kept (least recently used dropped).
        pool: ``sampled`` only: a ``backends.QPUPool`` or a V2 sampler.
    """

    max_qubits: int | tuple[int, ...]
    method: str = "cut-exact"
    default_precision: float | None = None
    seed: int | None = None
    cache_size: int = 16
    pool: Any = field(default=None, compare=False, repr=False)


@dataclass
class CacheInfo:
    """Cache use so far: look-ups (one per distinct entry and ``run``) that hit or missed; entries held."""

    hits: int = 0
    misses: int = 0
    size: int = 0


def shots_for_precision(precision: float, sampling_overhead: float, weight: float = 1.0) -> int:
    """Shots per sub-experiment and binding: :math:`\\lceil \\kappa w^2 / \\epsilon^2 \\rceil`, at least 2.

    Raises ``ValueError`` for ``precision <= 0`` (no finite shot count reaches
    it) and above :data:`MAX_SHOTS`.
    """
    if not precision > 0 or not math.isfinite(precision):
        raise ValueError(
            f"method 'sampled' needs a precision > 0 (got {precision!r}): shots = "
            "ceil(sampling_overhead * w^2 / precision^2); pass precision=... or default_precision"
        )
    kappa_w2 = sampling_overhead * weight**2
    # >= 2: the reported variance (1 - E^2) / (S - 1) is undefined for one shot
    need = max(2, math.ceil(kappa_w2 / precision**2))
    if need > MAX_SHOTS:
        finest = math.sqrt(kappa_w2 / MAX_SHOTS)
        raise ValueError(
            f"precision {precision:g} needs {need:,} shots per sub-experiment and binding "
            f"(sampling overhead {sampling_overhead:.4g}, observable weight {weight:.4g}: "
            f"ceil(kappa * w^2 / precision^2)), above MAX_SHOTS={MAX_SHOTS:,}; ask for a "
            f"precision >= {finest:.3g}, or cut less (larger max_qubits)"
        )
    return check_shots(need)


class CutEstimatorV2(BaseEstimatorV2):
    """A ``BaseEstimatorV2`` whose circuits are cut onto QPUs of ``max_qubits`` qubits.

    ``run(pubs, precision=None)`` returns a ``PrimitiveJob``; its result is a
    ``PrimitiveResult`` of ``PubResult`` s with ``data.evs`` / ``data.stds`` in
    the PUB's broadcast shape and ``metadata``: ``target_precision``,
    ``circuit_metadata`` and ``cut`` (cuts, fragments, sampling overhead,
    sub-experiments, ``shots_per_subexperiment``, ``num_bindings``,
    ``total_shots`` of this PUB; shots are 0 for ``cut-exact``).

    Circuits: unitary, parameterised or not, no measurements or classical
    bits (``ValueError``). Observables: Pauli sums with real coefficients.
    A circuit no wider than ``max_qubits`` gets a one-fragment plan (no cuts).
    ``sampled`` needs every parameter as the bare angle of one RX/RY/RZ gate
    (:class:`~dqlstm.cutting.sampled.SampledCutExecutor`). Precision to shots:
    see the module docstring.
    """

    def __init__(
        self,
        max_qubits: int | Sequence[int],
        *,
        method: str = "cut-exact",
        pool: Any = None,
        default_precision: float | None = None,
        seed: int | None = None,
        cache_size: int = 16,
    ) -> None:
        check_mode(method, CUT_MODES, "method")
        if method == "cut-exact" and pool is not None:
            raise ValueError("pool only applies to method='sampled'")
        if max_qubits is None:
            raise ValueError("max_qubits (the QPU capacity, or a list of capacities) is required")
        if default_precision is None:
            default_precision = 0.0 if method == "cut-exact" else SAMPLED_DEFAULT_PRECISION
        if not (default_precision >= 0 and math.isfinite(default_precision)):
            raise ValueError(f"default_precision must be a finite number >= 0, got {default_precision!r}")
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 1:
            raise ValueError(f"cache_size must be a positive integer, got {cache_size!r}")
        caps = max_qubits if isinstance(max_qubits, int) else tuple(max_qubits)
        self._options = CutEstimatorOptions(caps, method, float(default_precision), seed, cache_size, pool)
        self._cache: OrderedDict[EntryKey, CutEstimator] = OrderedDict()
        self._info = CacheInfo()
        self._lock = threading.Lock()  # jobs run in threads; entries' shots are set per group

    @property
    def options(self) -> CutEstimatorOptions:
        return self._options

    def cache_info(self) -> CacheInfo:
        """Hits, misses and size of the ``CutEstimator`` cache (a copy)."""
        with self._lock:
            return CacheInfo(self._info.hits, self._info.misses, len(self._cache))

    def run(
        self, pubs: Iterable[EstimatorPubLike], *, precision: float | None = None
    ) -> PrimitiveJob[PrimitiveResult[PubResult]]:
        if precision is None:
            precision = self._options.default_precision
        coerced = [EstimatorPub.coerce(pub, precision) for pub in pubs]
        for pub in coerced:
            _check_circuit(pub.circuit)
            if self._options.method == "sampled" and not pub.precision > 0:
                shots_for_precision(pub.precision, 1.0)  # raises: precision 0 needs infinite shots
        job = PrimitiveJob(self._run, coerced)
        job._submit()
        return job

    # -- execution -------------------------------------------------------------

    def _run(self, pubs: list[EstimatorPub]) -> PrimitiveResult[PubResult]:
        with self._lock:
            prepared = [_Prepared.of(pub, self._options.method) for pub in pubs]
            groups: OrderedDict[tuple[EntryKey, int], list[int]] = OrderedDict()
            entries: dict[EntryKey, CutEstimator] = {}
            for i, prep in enumerate(prepared):
                if prep.num_bindings == 0 or prep.size == 0:
                    continue
                if prep.key not in entries:
                    entries[prep.key] = self._entry(prep)
                entry = entries[prep.key]
                prep.shots = self._shots(entry, prep.precision)
                groups.setdefault((prep.key, prep.shots), []).append(i)
            values: dict[int, tuple[np.ndarray, np.ndarray, dict[str, Any]]] = {}
            for (key, shots), members in groups.items():
                entry = entries[key]
                if shots:
                    _set_shots(entry, shots)
                batch = np.concatenate([prepared[i].bindings for i in members], axis=0)
                res = entry.estimate(batch)
                start = 0
                for i in members:
                    stop = start + prepared[i].num_bindings
                    values[i] = (res.values[start:stop], res.stderr[start:stop], entry.plan_cost())
                    start = stop
            results = [self._pub_result(prep, values.get(i)) for i, prep in enumerate(prepared)]
        return PrimitiveResult(results, metadata={"version": 2})

    def _entry(self, prep: _Prepared) -> CutEstimator:
        """The cached ``CutEstimator`` of ``prep``'s (circuit, observables, method), built on a miss."""
        entry = self._cache.get(prep.key)
        if entry is not None:
            self._cache.move_to_end(prep.key)
            self._info.hits += 1
            return entry
        self._info.misses += 1
        opts = self._options
        sampled = opts.method == "sampled"
        entry = CutEstimator(
            prep.circuit,
            [_to_op(k, prep.circuit.num_qubits) for k in prep.key[1]],
            max_qubits=list(opts.max_qubits) if isinstance(opts.max_qubits, tuple) else opts.max_qubits,
            method=opts.method,
            pool=opts.pool if sampled else None,
            seed=opts.seed if sampled else None,
        )
        self._cache[prep.key] = entry
        while len(self._cache) > opts.cache_size:
            self._cache.popitem(last=False)
        return entry

    def _shots(self, entry: CutEstimator, precision: float) -> int:
        """0 for ``cut-exact``; else :func:`shots_for_precision` for the entry's plan."""
        if self._options.method == "cut-exact":
            return 0
        kappa = float(entry.plan_cost()["sampling_overhead"])
        weight = max(_weight(op) for op in entry.observables)
        return shots_for_precision(precision, kappa, weight)

    def _pub_result(self, prep: _Prepared, out: tuple[np.ndarray, np.ndarray, dict] | None) -> PubResult:
        shape = prep.shape
        if out is None:  # nothing to evaluate: empty bindings or observables
            evs = np.zeros(shape)
            return PubResult(
                DataBin(evs=evs, stds=np.zeros(shape), shape=shape),
                metadata={"target_precision": prep.precision, "circuit_metadata": prep.circuit.metadata,
                          "cut": {"num_bindings": 0, "total_shots": 0}},
            )
        vals, errs, plan_cost = out
        b_idx = np.broadcast_to(np.arange(prep.num_bindings).reshape(prep.binding_shape), shape)
        o_idx = np.broadcast_to(prep.observable_index, shape)
        cost = {**plan_cost, "shots_per_subexperiment": prep.shots, "num_bindings": prep.num_bindings}
        runs = plan_cost.get("num_subexperiments", 0) if prep.shots else 0
        cost["total_shots"] = int(prep.shots) * int(runs) * prep.num_bindings
        return PubResult(
            DataBin(evs=vals[b_idx, o_idx], stds=errs[b_idx, o_idx], shape=shape),
            metadata={
                "target_precision": prep.precision,
                "circuit_metadata": prep.circuit.metadata,
                "cut": cost,
            },
        )


@dataclass
class _Prepared:
    """One PUB flattened: distinct bindings ``(B, P)``, distinct observables, index maps."""

    circuit: QuantumCircuit
    key: EntryKey
    bindings: np.ndarray  # (B, P), rows in C order of the bindings shape
    binding_shape: tuple[int, ...]
    observable_index: np.ndarray  # observables shape -> index into key[1]
    shape: tuple[int, ...]
    precision: float
    shots: int = 0

    @property
    def num_bindings(self) -> int:
        return int(self.bindings.shape[0])

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=int))

    @classmethod
    def of(cls, pub: EstimatorPub, method: str) -> _Prepared:
        circuit = pub.circuit
        params = circuit.parameters
        bshape = tuple(pub.parameter_values.shape)
        num_b = int(np.prod(bshape, dtype=int))
        if len(params):
            bindings = np.asarray(pub.parameter_values.as_array(params), dtype=np.float64)
        else:
            bindings = np.zeros(bshape + (0,))
        bindings = bindings.reshape(num_b, len(params))
        oshape = tuple(pub.observables.shape)
        keys = [_observable_key(d) for d in pub.observables.ravel().tolist()]
        distinct = tuple(sorted(set(keys)))
        where = {k: i for i, k in enumerate(distinct)}
        index = np.array([where[k] for k in keys], dtype=np.int64).reshape(oshape)
        key = (circuit_fingerprint(circuit), distinct, method)
        return cls(circuit, key, bindings, bshape, index, tuple(pub.shape), float(pub.precision))


def _check_circuit(circuit: QuantumCircuit) -> None:
    if circuit.num_clbits or circuit.cregs:
        raise ValueError(
            "CutEstimatorV2 circuits must have no classical bits or measurements (the estimator "
            "measures the observables itself); remove them, e.g. circuit.remove_final_measurements()"
        )
    for inst in circuit.data:
        if inst.operation.name in ("measure", "reset"):
            raise ValueError(f"CutEstimatorV2 circuits must be unitary; found '{inst.operation.name}'")


def _observable_key(obs: dict[str, Any]) -> ObservableKey:
    """Canonical (sorted, summed) real Pauli terms of one ObservablesArray element."""
    terms: dict[str, complex] = {}
    for label, coeff in obs.items():
        if not set(label) <= _PAULI_LETTERS:
            raise ValueError(f"observable term {label!r} is not a Pauli string (I, X, Y, Z only)")
        terms[label] = terms.get(label, 0.0) + complex(coeff)
    out = []
    for label, c in sorted(terms.items()):
        if abs(c.imag) > 1e-12:
            raise ValueError(f"observable term {label!r} has a complex coefficient {c}; must be Hermitian")
        out.append((label, float(c.real)))
    return tuple(out)


def _to_op(key: ObservableKey, num_qubits: int) -> SparsePauliOp:
    if not key:  # the zero observable
        return SparsePauliOp("I" * num_qubits, coeffs=[0.0])
    return SparsePauliOp.from_list(list(key), num_qubits=num_qubits)


def _weight(op: SparsePauliOp) -> float:
    """:math:`\\sum_{P_j \\ne I} |a_j|`: the bound's scale (1 for a Pauli string)."""
    keep = op.paulis.x.any(axis=1) | op.paulis.z.any(axis=1)
    return float(np.abs(op.coeffs[keep]).sum())


def _set_shots(entry: CutEstimator, shots: int) -> None:
    # precision may change per call: only the shots change, the plan and sub-experiments stay
    entry.shots = shots
