r"""The price of a training run before running it: circuits, PUBs, shots and QPU seconds.

Nothing runs on a QPU except, for simulated QPUs, a short timing calibration.
The model is built exactly as ``dqlstm train`` builds it (same plan, same
sub-experiments), so the counts are read from its :class:`SampledCutExecutor`,
not re-derived. Notation: ``G`` circuits per engine call (4 gate circuits;
``cell = "6vqc"`` adds a second engine of ``G = 2`` readout circuits VQC5/VQC6,
``hidden_size`` wide, called after the gates at every time step, priced the
same way), ``T`` the window length (time steps), ``n_f`` the distinct
sub-experiments of fragment ``f``, ``U = sum_f n_f``, ``P_f`` the circuit
parameters fragment ``f`` owns (weights and encoding angles), ``s_u`` the
shots per binding of distinct circuit ``u`` (``executor.circuit_shots()``:
``S`` = ``shots`` each under ``uniform``; any allocation keeps
``sum_u s_u = S * U``).

One engine call on ``B`` samples has ``R = G * B`` binding rows:

* forward: PUBs ``U``, circuits ``R * U``, shots ``R * S * U``;
* backward, ``gradient = "spsa"``: every circuit at ``theta +- c_k Delta``:
  PUBs ``U``, circuits ``2 * R * U``, shots ``2 * R * S * U``;
* backward, parameter shift (fragments with ``P_f > 0`` only): PUBs
  ``sum_f n_f``, circuits ``R * sum_f 2 * P_f * n_f``, shots
  ``R * sum_f 2 * P_f * sum_{u in f} s_u`` (``S`` x circuits only under
  ``uniform``: ``weighted`` moves shots between fragments).

``adaptive`` allocation changes ``s_u`` every step from the latest forward
run; the estimate uses the allocation of the freshly built model (the
``weighted`` one of the first step). Forward and SPSA totals do not depend on
it (``sum_u s_u`` is fixed), so they stay exact; parameter-shift shots, the
per-QPU split and QPU seconds are then approximate, and the estimate says so
(``approximate``).

A run of ``E`` epochs on ``N_train`` / ``N_test`` windows, batch size ``b``:

* step (mini-batch of ``B``) = ``T`` forward + ``T`` backward calls on ``B``
  (of each engine);
* epoch = one step per mini-batch (``N_train // b`` of ``b``, plus one of
  ``N_train % b`` if non-zero) + ``T`` forward calls on ``N_test`` (``evaluate``
  takes the whole test set as one batch);
* total = ``E`` epochs + ``T`` forward calls on ``N_train`` and ``T`` on
  ``N_test`` (the final ``predict`` of each part, one batch each).

QPU seconds (per PUB, i.e. per job, of ``k`` bound circuits with ``s`` shots):

* simulated QPU (Aer, local sampler): ``a + c * k``, ``a`` and ``c`` calibrated
  on this machine by running a handful of the run's own forward PUBs at two
  batch sizes on one QPU of each device entry (:func:`calibrate`: fastest of
  several repeats, and a floor on ``c`` so that a noisy machine never prices
  circuits at 0 s; the local sampler draws shots from the exact
  distribution, so ``s`` hardly matters);
* IBM backend (hardware or fake; fake backends carry the same target data):
  ``JOB_OVERHEAD + k * s * (rep_delay + T_circ)``, with ``rep_delay`` the
  backend's ``default_rep_delay`` and ``T_circ`` the circuit's duration on the
  backend's target (transpiled as the QPU transpiles it, longest path of gate,
  measure and reset durations);
* IBM device without account: the pool's hardware estimate
  ``2 s + 250 us * k * s`` (:meth:`IBMRuntimeQPU.estimate_cost`).

Split over the pool: each PUB goes only to QPUs at least as wide as its
fragment, assigned as the pool's scheduler does (most constrained first, then
least loaded) with these seconds as costs, i.e. assuming balanced load and no
failures or retries. ``wall_seconds`` sums each call's busiest QPU (the
engines of a 6vqc cell run one after the other).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dqlstm.progress import duration

JOB_OVERHEAD = 2.0  # s per IBM job (queue excluded): the pool's own hardware figure
DEFAULT_REP_DELAY = 250e-6  # s: IBM's usual default when the backend does not say
NO_ACCOUNT_PER_SHOT = 2.5e-4  # s per circuit-shot, IBMRuntimeQPU.estimate_cost for hardware
CALIBRATION_PUBS = 4  # forward PUBs timed per device entry
MAX_CALIBRATION_ROWS = 256  # bindings of the larger calibration PUBs
MIN_CALIBRATION_ROWS = 32  # ... at least: enough work per PUB for its time to stand out of the noise
CALIBRATION_REPEATS = 3  # timings per size; the fastest counts (a busy machine only ever adds time)
SPEC_SECTIONS = {  # sections that mark a spec that is not a `dqlstm train` config
    "study": "a compare study (dqlstm compare)",
    "variant": "a compare study (dqlstm compare)",
    "sweep": "a sweep spec (dqlstm sweep)",
    "noise": "a noise study spec",
    "base": "a study spec",
}


@dataclass(frozen=True)
class Work:
    """QPU work: PUBs (jobs), bound circuits, shots and estimated QPU seconds."""

    pubs: int = 0
    circuits: int = 0
    shots: int = 0
    qpu_seconds: float = 0.0

    def __add__(self, other: Work) -> Work:
        return Work(
            self.pubs + other.pubs,
            self.circuits + other.circuits,
            self.shots + other.shots,
            self.qpu_seconds + other.qpu_seconds,
        )

    def times(self, k: int) -> Work:
        return Work(self.pubs * k, self.circuits * k, self.shots * k, self.qpu_seconds * k)


@dataclass(frozen=True)
class Level:
    """Work of a step, an epoch or the run: in total, per QPU, and the parallel wall time."""

    total: Work = Work()
    per_qpu: dict[str, Work] = field(default_factory=dict)
    wall_seconds: float = 0.0

    def __add__(self, other: Level) -> Level:
        names = list(self.per_qpu) + [n for n in other.per_qpu if n not in self.per_qpu]
        per = {n: self.per_qpu.get(n, Work()) + other.per_qpu.get(n, Work()) for n in names}
        return Level(self.total + other.total, per, self.wall_seconds + other.wall_seconds)

    def times(self, k: int) -> Level:
        return Level(
            self.total.times(k), {n: w.times(k) for n, w in self.per_qpu.items()}, self.wall_seconds * k
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self.total),
            "wall_seconds": self.wall_seconds,
            "per_qpu": {n: asdict(w) for n, w in self.per_qpu.items()},
        }


@dataclass(frozen=True)
class Estimate:
    """What a training config will cost on QPUs; ``note`` says what is assumed."""

    config: str
    kind: str
    mode: str | None
    on_qpus: bool
    note: str
    workload: dict[str, int]
    per_step: Level
    per_epoch: Level
    total: Level
    qpus: list[dict[str, Any]] = field(default_factory=list)  # name, width, timing model
    plan: dict[str, Any] | None = None
    pricer: Pricer | None = field(default=None, repr=False, compare=False)  # prices any call (budgets)
    budget: dict[str, Any] | None = None  # the config's [budget] and whether the run fits it
    approximate: list[str] = field(default_factory=list)  # why figures beyond QPU seconds are not exact

    def to_dict(self) -> dict[str, Any]:
        keys = ("config", "kind", "mode", "on_qpus", "note", "workload", "qpus", "plan", "budget")
        out = {k: getattr(self, k) for k in keys}
        out.update(approximate=bool(self.approximate), approximate_why=list(self.approximate))
        out.update(
            per_step=self.per_step.to_dict(), per_epoch=self.per_epoch.to_dict(), total=self.total.to_dict()
        )
        return out


@dataclass(frozen=True)
class PubShape:
    """One PUB of an engine call: its circuit, how many bound circuits it carries and their shots each."""

    circuit: Any
    bindings: int
    shots: int


@dataclass
class Device:
    """A QPU of the pool as the estimate sees it: width and a seconds model per PUB."""

    name: str
    num_qubits: int
    model: str  # how the seconds are obtained (shown to the user)
    seconds: Callable[[Any, int, int], float]  # (circuit, bindings, shots) -> s


# -- counting ---------------------------------------------------------------------


def call_pubs(executor: Any, rows: int, backward: bool) -> list[PubShape]:
    """The PUBs of one ``executor.run`` (forward) or ``executor.jacobian`` run on ``rows`` bindings.

    Backward is SPSA (every circuit, 2 perturbed bindings per row) or the
    parameter shift (fragments owning parameters, ``2 P_f`` per row); each
    circuit with the shots ``executor.circuit_shots()`` gives it next.
    """
    shots = executor.circuit_shots()
    spsa = backward and getattr(executor, "gradient", "parameter-shift") == "spsa"
    out = []
    for frag in executor.fragments:
        p_f = int(frag.parameters.size)
        if backward and not spsa and p_f == 0:
            continue  # nothing to shift: the fragment's forward results are reused
        per_row = 2 if spsa else 2 * p_f if backward else 1
        out.extend(
            PubShape(c, per_row * rows, int(n)) for c, n in zip(frag.subexperiments, shots[frag.label])
        )
    return out


def batch_sizes(n: int, batch_size: int) -> dict[int, int]:
    """Mini-batch size -> how many of that size ``train_epoch`` makes of ``n`` samples."""
    sizes = {batch_size: n // batch_size} if n >= batch_size else {}
    if n % batch_size:
        sizes[n % batch_size] = sizes.get(n % batch_size, 0) + 1
    return sizes


def schedule(pubs: Sequence[PubShape], devices: Sequence[Device]) -> Level:
    """Work of one call, dispatched as the pool dispatches: in priority order to free QPUs that fit.

    Replays the pool's list scheduling (:mod:`backends.scheduler`) in simulated
    time, with the seconds models as both the balancing costs and the job
    durations; ``wall_seconds`` is when the last job ends.
    """
    from backends.scheduler import choose_qpu, task_priority

    widths = [d.num_qubits for d in devices]
    costs = [
        [
            d.seconds(p.circuit, p.bindings, p.shots) if p.circuit.num_qubits <= d.num_qubits else 0.0
            for d in devices
        ]
        for p in pubs
    ]
    for p in pubs:
        if p.circuit.num_qubits > max(widths):
            raise ValueError(
                f"a {p.circuit.num_qubits}-qubit fragment fits no QPU of the pool (widths {widths})"
            )
    pending = sorted(
        range(len(pubs)),
        key=lambda i: task_priority(
            pubs[i].circuit.num_qubits,
            min(c for c, w in zip(costs[i], widths) if w >= pubs[i].circuit.num_qubits),
            i,
            widths,
        ),
    )
    load = [0.0] * len(devices)
    busy_until = [0.0] * len(devices)
    per = {d.name: Work() for d in devices}
    now = 0.0
    while pending:
        free = [q for q in range(len(devices)) if busy_until[q] <= now]
        for i in list(pending):
            if not free:
                break
            q = choose_qpu(pubs[i].circuit.num_qubits, free, widths, load, costs[i], set())
            if q is None:
                continue
            free.remove(q)
            pending.remove(i)
            load[q] += costs[i][q]
            busy_until[q] = now + costs[i][q]
            k = pubs[i].bindings
            per[devices[q].name] += Work(1, k, k * pubs[i].shots, costs[i][q])
        later = [t for t in busy_until if t > now]
        now = min(later) if later else now
    total = Work()
    for w in per.values():
        total += w
    return Level(total, per, max(busy_until, default=0.0))


def model_engines(core: Any) -> list[tuple[Any, int]]:
    """``(executor, G)`` of each sampled engine of a QLSTM core, in call order: the gate circuits
    (``G = 4``) and, for ``cell = "6vqc"``, the readout circuits VQC5/VQC6 (``G = 2``)."""
    engines = [(core.engine.executor, int(core.vqc_weights.shape[0]))]
    readout = getattr(core, "readout_engine", None)
    if readout is not None:
        engines.append((readout.executor, int(core.readout_weights.shape[0])))
    return engines


class Pricer:
    """The work of the engine calls of one sampled model on the pool's devices (cached per batch size).

    ``engines``: :func:`model_engines`. ``forward(B)`` is a prediction on ``B``
    samples (``T`` forward calls of each engine), ``step(B)`` an optimiser step
    on a mini-batch of ``B`` (``T`` forward and ``T`` backward calls of each):
    the units of the formulas in the module docstring.
    """

    def __init__(self, engines: Sequence[tuple[Any, int]], devices: Sequence[Device], seq: int) -> None:
        self.engines, self.devices, self.seq = list(engines), list(devices), seq
        self._cache: dict[tuple[int, bool], Level] = {}

    def call(self, batch: int, backward: bool) -> Level:
        """One call of every engine on ``batch`` samples (each engine's PUBs are one ``pool.run``)."""
        if (batch, backward) not in self._cache:
            level = Level()
            for executor, gates in self.engines:
                level += schedule(call_pubs(executor, gates * batch, backward), self.devices)
            self._cache[(batch, backward)] = level
        return self._cache[(batch, backward)]

    def forward(self, batch: int) -> Level:
        return self.call(batch, False).times(self.seq)

    def step(self, batch: int) -> Level:
        return (self.call(batch, False) + self.call(batch, True)).times(self.seq)


# -- timing -----------------------------------------------------------------------


def _random_bindings(circuit: Any, rows: int, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(-np.pi, np.pi, size=(rows, circuit.num_parameters))


def calibrate(
    run: Callable[[list], Any],
    circuits: Sequence[Any],
    shots: int,
    rows: tuple[int, int],
    repeats: int = CALIBRATION_REPEATS,
) -> tuple[float, float]:
    """``(a, c)`` of ``seconds = a + c * bindings`` per PUB, timed with ``run(pubs)`` at two binding counts.

    Each size is timed ``repeats`` times and the fastest counts: another
    process on a shared machine only ever adds time. ``c`` is the slope
    between the sizes; when noise makes it smaller than
    ``t_large / (2 large)`` (half the per-circuit share of the larger PUB's
    own fastest time), that floor is used instead, so that a busy machine
    never prices circuits at 0 s (it once fitted 0 ms/circuit); ``a`` is what
    the smaller PUBs leave, at least 0.
    """
    rng = np.random.default_rng(0)
    small, large = rows
    run([(c, _random_bindings(c, small, rng), shots) for c in circuits])  # warm-up: transpile, compile
    times = []
    for k in (small, large):
        pubs = [(c, _random_bindings(c, k, rng), shots) for c in circuits]
        best = math.inf
        for _ in range(max(repeats, 1)):
            t0 = time.perf_counter()
            run(pubs)
            best = min(best, time.perf_counter() - t0)
        times.append(best / len(circuits))
    slope = (times[1] - times[0]) / (large - small) if large > small else 0.0
    per_binding = max(slope, times[1] / (2 * large))
    return max(times[0] - small * per_binding, 0.0), per_binding


def ibm_timing(qpu: Any, optimization_level: int = 1) -> tuple[Callable[[Any, int, int], float], str] | None:
    """The target-based seconds model of an ``IBMRuntimeQPU`` (None if its target has no durations)."""
    from qiskit.transpiler import generate_preset_pass_manager

    backend = qpu.backend
    target = getattr(backend, "target", None)
    if target is None or target.dt is None:
        return None
    rep_delay = float(getattr(backend, "default_rep_delay", None) or DEFAULT_REP_DELAY)
    pm = generate_preset_pass_manager(
        optimization_level, backend=backend, seed_transpiler=1234
    )  # as the QPU does
    durations: dict[int, float] = {}

    def duration(circuit: Any) -> float:
        if id(circuit) not in durations:
            durations[id(circuit)] = float(pm.run(circuit).estimate_duration(target, unit="s"))
        return durations[id(circuit)]

    def seconds(circuit: Any, bindings: int, shots: int) -> float:
        try:
            per_shot = rep_delay + duration(circuit)
        except Exception:  # noqa: BLE001 - no duration from the target (control flow): the pool's figure
            per_shot = NO_ACCOUNT_PER_SHOT
        return JOB_OVERHEAD + bindings * shots * per_shot

    model = f"{backend.name} target: {JOB_OVERHEAD:g} s/job + shots x (rep_delay {rep_delay * 1e6:g} us + "
    return seconds, model + "circuit duration)"


def _no_account_seconds(circuit: Any, bindings: int, shots: int) -> float:
    return JOB_OVERHEAD + NO_ACCOUNT_PER_SHOT * bindings * shots


def pool_devices(table: Mapping[str, Any], executor: Any, batch_rows: int) -> list[Device]:
    """The pool's QPUs with their seconds models (one calibration per ``[[qpus.devices]]`` entry)."""
    from backends.config import qpu_from_config
    from backends.errors import BackendError
    from backends.schema import device_names

    forward = [p.circuit for p in call_pubs(executor, 1, backward=False)]
    rows = max(batch_rows, MIN_CALIBRATION_ROWS)
    devices: list[Device] = []
    for entry in table["devices"]:
        names = device_names(entry)
        single = {k: v for k, v in entry.items() if k != "count"}
        try:
            qpu = qpu_from_config(single)
        except BackendError as exc:  # an IBM device without account: no target to read
            if entry.get("num_qubits") is None:
                raise ValueError(f"QPU {entry['name']!r}: {exc}") from None
            model = (
                f"no IBM account ({type(exc).__name__}): {JOB_OVERHEAD:g} s/job + "
                f"{NO_ACCOUNT_PER_SHOT * 1e6:g} us/shot"
            )
            devices += [Device(n, int(entry["num_qubits"]), model, _no_account_seconds) for n in names]
            continue
        try:
            timing = None
            if entry.get("kind", "aer") == "ibm":  # hardware or fake: the device's timing, not this CPU's
                timing = ibm_timing(qpu, int(entry.get("optimization_level", 1)))
            if timing is None and entry.get("kind", "aer") == "ibm":  # never run calibration jobs on a device
                devices += [Device(n, qpu.num_qubits, "IBM target without timing data: no-account model",
                                   _no_account_seconds) for n in names]
                continue
            if timing is None:
                fits = [c for c in forward if c.num_qubits <= qpu.num_qubits][:CALIBRATION_PUBS]
                a, c = (
                    calibrate(lambda pubs, qpu=qpu: qpu.run(pubs), fits, executor.shots, (1, rows))
                    if fits
                    else (0.0, 0.0)
                )
                timing = (
                    lambda _c, k, _s, a=a, c=c: a + c * k,
                    (
                        f"calibrated on this machine: {a * 1e3:.3g} ms/job + {c * 1e3:.3g} ms/circuit "
                        f"at {executor.shots} shots"
                    ),
                )
            devices += [Device(n, qpu.num_qubits, timing[1], timing[0]) for n in names]
        finally:
            qpu.close()
    return devices


def local_device(executor: Any, batch_rows: int) -> Device:
    """The default local Aer sampler of a sampled run without ``[qpus]``, calibrated."""
    from dqlstm.cutting.sampled import run_pubs

    forward = [p.circuit for p in call_pubs(executor, 1, backward=False)]
    a, c = calibrate(
        lambda pubs: run_pubs(executor.pool, pubs),
        forward[:CALIBRATION_PUBS],
        executor.shots,
        (1, max(batch_rows, MIN_CALIBRATION_ROWS)),
    )
    width = max(circuit.num_qubits for circuit in forward)
    return Device(
        "local-aer",
        width,
        f"calibrated on this machine: {a * 1e3:.3g} ms/job + "
        f"{c * 1e3:.3g} ms/circuit at {executor.shots} shots",
        lambda _c, k, _s: a + c * k,
    )


def untimed_devices(table: Mapping[str, Any], executor: Any) -> list[Device]:
    """The pool's QPUs (or the local sampler) with widths only and zero seconds: counts, no calibration."""
    from backends.schema import device_names

    def zero(_c: Any, _k: int, _s: int) -> float:
        return 0.0

    if not table.get("devices"):
        width = max(p.circuit.num_qubits for p in call_pubs(executor, 1, backward=False))
        return [Device("local-aer", width, "not timed", zero)]
    return [
        Device(n, w, "not timed", zero)
        for entry, w in zip(table["devices"], _entry_widths(table))
        for n in device_names(entry)
    ]


# -- the estimate -----------------------------------------------------------------


def check_training_spec(raw: Mapping[str, Any], source: str) -> None:
    """``ValueError`` naming what ``raw`` is when it is not a ``dqlstm train`` config."""
    for section, what in SPEC_SECTIONS.items():
        if section in raw:
            raise ValueError(
                f"{source} is {what}, not a training config; estimate the training configs it runs"
            )


def estimate_config(path: str | Path, epochs: int | None = None) -> Estimate:
    """Estimate for the config file ``path`` (``epochs`` overrides ``train.epochs``)."""
    from dqlstm.config import read_toml

    raw = read_toml(path)
    check_training_spec(raw, str(path))
    if "federated" in raw:
        return _federated(raw, str(path))
    from dqlstm.config import load_config

    return estimate(load_config(path, {"train.epochs": epochs}), str(path))


def _federated(raw: Mapping[str, Any], source: str) -> Estimate:
    model = raw.get("model", {})
    kind, mode = model.get("kind", "qlstm"), model.get("mode", "exact")
    if kind == "qlstm" and mode == "sampled":
        raise ValueError(
            f"{source} is a federated config in sampled mode; estimate supports dqlstm train configs"
        )
    return _nothing(
        source,
        kind,
        mode if kind == "qlstm" else None,
        f"federated {kind}{f' ({mode})' if kind == 'qlstm' else ''}: nothing runs on QPUs",
        {},
    )


def _nothing(
    source: str,
    kind: str,
    mode: str | None,
    note: str,
    workload: dict[str, int],
    plan: dict[str, Any] | None = None,
) -> Estimate:
    return Estimate(source, kind, mode, False, note, workload, Level(), Level(), Level(), [], plan)


def estimate(cfg: Mapping[str, Any], source: str = "config", *, timing: bool = True) -> Estimate:
    """Estimate for a resolved config (:func:`dqlstm.config.load_config`).

    ``timing=False`` skips the calibration: counts only, QPU seconds 0 (what a
    shots budget needs, in the time of building the model).
    """
    import torch

    from dqlstm.assemble import build_model, model_settings
    from dqlstm.data.dataset import load_dataset

    train = cfg["train"]
    data = load_dataset(cfg["data"])
    b, n_epochs = int(train["batch_size"]), int(train["epochs"])
    workload = {
        "epochs": n_epochs,
        "batch_size": b,
        "seq": data.window,
        "num_train": data.num_train,
        "num_test": data.num_test,
        "steps_per_epoch": math.ceil(data.num_train / b),
    }
    m = model_settings(cfg["model"])
    kind, mode = m["kind"], (m["mode"] if m["kind"] == "qlstm" else None)
    if kind != "qlstm" or mode == "exact":
        return _nothing(
            source, kind, mode, f"{kind}{f' ({mode})' if mode else ''}: nothing runs on QPUs", workload
        )
    table = cfg.get("qpus") or {}
    model_cfg = dict(cfg["model"])
    if table.get("devices") and model_cfg.get("max_qubits") is None:
        model_cfg["max_qubits"] = max(_entry_widths(table))  # as build_core does with the pool's widest QPU
    with torch.random.fork_rng(devices=[]):
        core = build_model(model_cfg, data.num_features, 1, seed=int(train["seed"])).core
    summary = core.cut_summary()
    if mode != "sampled":
        plan = {k: v for k, v in (summary or {}).items() if k not in ("evaluations", "executed", "pool")}
        return _nothing(
            source,
            kind,
            mode,
            "cut-exact: sub-experiments are contracted exactly on this machine; "
            "nothing runs on QPUs (the plan below is what sampled mode would run)",
            workload,
            plan,
        )
    engines = model_engines(core)
    executor = engines[0][0]  # the gate circuits: the widest fragments, calibrated
    # calibrate up to the size of a full step's largest PUB (backward runs), capped to stay quick
    rows = min(
        max(
            p.bindings for ex, g in engines for p in call_pubs(ex, g * b, True) + call_pubs(ex, g * b, False)
        ),
        MAX_CALIBRATION_ROWS,
    )
    if not timing:
        devices = untimed_devices(table, executor)
    elif table.get("devices"):
        devices = pool_devices(table, executor, rows)
    else:
        devices = [local_device(executor, rows)]
    price = Pricer(engines, devices, data.window)
    per_step = price.step(min(b, data.num_train))
    per_epoch = Level()
    for size, count in batch_sizes(data.num_train, b).items():
        per_epoch += price.step(size).times(count)
    per_epoch += price.forward(data.num_test)  # evaluate: the test set as one batch
    final = price.forward(data.num_train) + price.forward(data.num_test)  # predict on both parts
    total = per_epoch.times(n_epochs) + final
    counters = ("evaluations", "executed", "pool")
    plan = {k: v for k, v in summary.items() if k not in counters}
    if "circuits" in plan:  # 6vqc: each engine's own plan, without its counters
        plan["circuits"] = {
            name: {k: v for k, v in sub.items() if k not in counters}
            for name, sub in plan["circuits"].items()
        }
    for key, (ex, _) in zip(("fragments", "readout_fragments"), engines):
        plan[key] = [
            {
                "label": str(f.label),
                "width": int(f.subexperiments[0].num_qubits),
                "distinct_subexperiments": len(f.subexperiments),
                "parameters": int(f.parameters.size),
            }
            for f in ex.fragments
        ]
    approximate = approximations(engines)
    counts = "counts approximate (see approximate_why)" if approximate else "counts exact"
    note = f"sampled: {counts}; QPU seconds estimated, balanced load, no retries"
    if not timing:
        note = f"sampled: {counts}; QPU seconds not estimated (no calibration)"
    qpus = [{"name": d.name, "num_qubits": d.num_qubits, "model": d.model} for d in devices]
    return Estimate(
        source,
        kind,
        mode,
        True,
        note,
        workload,
        per_step,
        per_epoch,
        total,
        qpus,
        plan,
        price,
        budget_check(cfg, total.total, timing),
        approximate,
    )


def approximations(engines: Sequence[tuple[Any, int]]) -> list[str]:
    """Why figures other than QPU seconds are not exact (empty: PUBs, circuits and shots are exact).

    Only ``adaptive`` allocation: its per-circuit shots follow each step's
    forward run, and the estimate knows only the first step's (``weighted``).
    """
    adaptive = [ex for ex, _ in engines if ex.allocation == "adaptive"]
    if not adaptive:
        return []
    split = (
        "adaptive allocation: per-circuit shots change every step with the latest forward run; the "
        "estimate uses the first step's (weighted) allocation, so the per-QPU split of shots is "
        "approximate (total PUBs, circuits and forward/SPSA shots stay exact: every run spends "
        "shots x distinct circuits)"
    )
    why = [split]
    if any(ex.gradient != "spsa" for ex in adaptive):
        why.append(
            "adaptive allocation with parameter-shift gradients: the shift runs repeat only the fragments "
            "that own parameters, with the latest allocation's shots, so their total shots are approximate"
        )
    return why


def budget_check(cfg: Mapping[str, Any], total: Work, timed: bool) -> dict[str, Any] | None:
    """The config's ``[budget]`` caps and whether the estimated run fits each (``None`` without caps)."""
    caps = {k: v for k, v in (cfg.get("budget") or {}).items() if v is not None}
    if not caps:
        return None
    out: dict[str, Any] = dict(caps)
    if "max_shots" in caps:
        out["fits_max_shots"] = total.shots <= caps["max_shots"]
    if "max_qpu_seconds" in caps and timed:
        out["fits_max_qpu_seconds"] = total.qpu_seconds <= caps["max_qpu_seconds"]
    return out


def _entry_widths(table: Mapping[str, Any]) -> list[int]:
    """Widths of the ``[[qpus.devices]]`` entries, without building them where the entry says."""
    from backends.config import qpu_from_config

    widths = []
    for entry in table["devices"]:
        if entry.get("num_qubits") is not None:
            widths.append(int(entry["num_qubits"]))
            continue
        qpu = qpu_from_config({k: v for k, v in entry.items() if k != "count"})
        widths.append(qpu.num_qubits)
        qpu.close()
    return widths


# -- text -------------------------------------------------------------------------


def format_estimate(est: Estimate) -> str:
    """A short table: per step, per epoch, whole run; then the per-QPU split of the run."""
    w = est.workload
    head = f"{est.config}: {est.kind}{f' ({est.mode})' if est.mode else ''}"
    if w:
        head += (
            f", {w['epochs']} epochs x {w['steps_per_epoch']} steps (batch {w['batch_size']}, "
            f"seq {w['seq']}, {w['num_train']} train / {w['num_test']} test windows)"
        )
    lines = [head, est.note] + [f"approximate: {why}" for why in est.approximate]
    if est.plan and not est.on_qpus:
        lines.append(
            f"plan: {est.plan.get('num_subexperiments', '?')} sub-experiments, "
            f"sampling overhead {est.plan.get('sampling_overhead', float('nan')):.4g}"
        )
    if not est.on_qpus:
        return "\n".join(lines)
    lines += ["", f"{'':<10}{'PUBs':>12}{'circuits':>14}{'shots':>16}{'QPU time':>12}{'wall':>12}"]
    for name, lvl in (("step", est.per_step), ("epoch", est.per_epoch), ("run", est.total)):
        t = lvl.total
        lines.append(
            f"{name:<10}{t.pubs:>12,}{t.circuits:>14,}{t.shots:>16,}{duration(t.qpu_seconds):>12}"
            f"{duration(lvl.wall_seconds):>12}"
        )
    if est.budget:
        verdicts = [
            f"{key} = {est.budget[key]:,} {'fits' if est.budget[f'fits_{key}'] else 'EXCEEDED'}"
            for key in ("max_shots", "max_qpu_seconds")
            if f"fits_{key}" in est.budget
        ]
        lines.append(f"budget: {'; '.join(verdicts)}")
    lines += ["", f"{'QPU':<10}{'width':>6}{'PUBs':>12}{'circuits':>14}{'shots':>16}{'QPU time':>12}  model"]
    for q in est.qpus:
        t = est.total.per_qpu.get(q["name"], Work())
        lines.append(
            f"{q['name']:<10}{q['num_qubits']:>6}{t.pubs:>12,}{t.circuits:>14,}{t.shots:>16,}"
            f"{duration(t.qpu_seconds):>12}  {q['model']}"
        )
    return "\n".join(lines)
