r"""Cut cost versus qubit count: the partitioner's plans over widths, QPU sizes, ansatz families and depths.

For every (family, layers, width, QPU capacity) the gate circuit is built with
``build_vqc`` and planned with ``partitioner.plan_cuts``; a row records the
plan (fragments, cuts, total sampling overhead :math:`\kappa = \prod_c
\gamma_c^2`), the sub-experiments qiskit-addon-cutting lists
(:math:`F\prod_c T_c`) and the distinct ones that run (:math:`M`, merged
duplicates, :mod:`dqlstm.cutting.dedup`), and the shots a sampled evaluation
needs for a target standard error :math:`\varepsilon`.

Shots, for the allocation dqlstm uses (``uniform``: every distinct
sub-experiment gets the same :math:`N` shots; derivation in
:mod:`.qpd_variance`). The estimate :math:`Y = \sum_g C_g \prod_f X_{f,d(g,f)}`
of a :math:`\pm 1` observable has, to first order in :math:`1/N`,

.. math:: \mathrm{Var}\,Y \approx \frac1N \sum_f\sum_d A_{f,d}^2\,\sigma_{f,d}^2
          \le \frac{\sum_f B_f}{N}, \qquad B_f = \sum_d w_{f,d}^2 = \prod_{c\ni f} s_c(f),

where :math:`\sigma_{f,d}^2 = 1 - \mu_{f,d}^2` is the variance of one shot of
sub-experiment :math:`(f,d)` and :math:`w_{f,d}` bounds its weight
(:math:`s = 2` per CX/CZ cut side, 4 / 3 per wire-cut side); exactly,
:math:`\mathrm{Var}\,Y \le \prod_f (1 + B_f/N) - 1`. ``shots_per_subexperiment``
is the smallest :math:`N` with that bound :math:`\le \varepsilon^2` and
``shots_for_target`` :math:`= M N`, the shots of one estimate (per binding and
observable group). These do not involve :math:`\sigma^2 = 1 - \langle
O\rangle^2` of the uncut circuit: the fragment variances
:math:`\sigma_{f,d}^2` stay near 1 even where :math:`\langle O\rangle^2 \to 1`.

``shots_for_target_kappa`` :math:`= \kappa/\varepsilon^2` is the textbook
count for a scheme dqlstm does *not* run: sampling the joint QPD term by term
with probability :math:`|c_i|/\gamma`, each shot worth :math:`\pm\gamma`,
per-shot variance :math:`\kappa - \langle O\rangle^2` (Mitarai & Fujii, New J.
Phys. 23, 023021 (2021); Piveteau & Sutter, IEEE Trans. Inf. Theory (2024),
arXiv:2205.00016; Lowe et al., Quantum 7, 934 (2023), arXiv:2207.14734).
The earlier ``kappa * sigma^2 / eps^2`` understated even that scheme.

On a subset (``[timing]``) it measures one forward+backward pass of the four
LSTM gate circuits: ``cut-exact`` (exact fragment simulation and tensor
contraction, autograd backward) and, for plans with at most
``sampled_max_subexperiments`` distinct sub-experiments, ``sampled`` (shots
drawn on the local Aer sampler, parameter-shift backward), with the error
against the ``exact`` engine where that fits (<= 14 qubits).

On the ``[shots]`` cases (1, 2, 3 gate cuts and a wire cut) it measures the
sampled estimator's error against ``Statevector`` over repetitions and sets it
against the exact predicted, the self-reported and the bound standard errors
(:mod:`.shot_error`). Cases that would not fit are skipped with the reason
recorded, never silently.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from dqlstm import progress
from dqlstm.config import ConfigError
from dqlstm.provenance import provenance, provenance_note
from dqlstm.runs import write_json
from dqlstm.studies.common import (
    markdown_table,
    read_spec,
    study_torch_settings,
    write_csv,
)
from dqlstm.studies.qpd_variance import kappa_shots, plan_shot_cost
from dqlstm.studies.shot_error import ShotCase, ShotRow, measure_shot_error

FAMILIES = ("chen2020", "brick", "modular-l0", "modular-l1", "modular-l2", "modular-l3")
_SWEEP_KEYS = {"name", "qubits", "capacities", "families", "layers", "module_size", "target_stderr"}
_TIMING_KEYS = {"families", "capacities", "layers", "max_qubits", "batch", "gates", "max_bytes", "time_limit",
                "exact_max_qubits", "sampled_max_subexperiments", "sampled_max_qubits", "sampled_shots",
                "sampled_batch", "enabled"}
_SHOTS_KEYS = {"cases", "shots", "repetitions", "bindings", "seed", "enabled"}
_CASE_KEYS = {"family", "layers", "qubits", "capacity"}
_QUICK_KEYS = _SWEEP_KEYS | {"timing_" + k for k in _TIMING_KEYS} | {"shots_" + k for k in _SHOTS_KEYS}


def parse_family(family: str) -> tuple[str, int]:
    """``"modular-l2"`` -> ``("modular", 2)``; other families have no links."""
    if family.startswith("modular-l") and family[len("modular-l"):].isdigit():
        return "modular", int(family[len("modular-l"):])
    if family in ("chen2020", "brick"):
        return family, 0
    raise ConfigError(f"unknown ansatz family {family!r}; use chen2020, brick or modular-l<links> (e.g. modular-l1)")


@dataclass(frozen=True)
class TimingSpec:
    """Which rows get measured and the budgets that decide feasibility."""

    enabled: bool = True
    families: tuple[str, ...] = FAMILIES[:5]
    capacities: tuple[int, ...] = (3, 6)
    layers: tuple[int, ...] = (2,)
    max_qubits: int = 48
    batch: int = 8  # samples per evaluation
    gates: int = 4  # weight sets (the LSTM's four gates)
    max_bytes: float = 5e7  # cut-exact: largest fragment tensor allowed (estimate, bytes)
    time_limit: float = 60.0  # seconds per measurement before it is abandoned
    exact_max_qubits: int = 14
    sampled_max_subexperiments: int = 100  # distinct sub-experiments (the ones that run)
    sampled_max_qubits: int = 36  # wider: parameter-shift over every weight takes minutes
    sampled_shots: int = 1000
    sampled_batch: int = 2


@dataclass(frozen=True)
class ShotSpec:
    """The ``[shots]`` error study: cases, shots per distinct sub-experiment, repetitions, bindings."""

    enabled: bool = True
    cases: tuple[ShotCase, ...] = ()
    shots: int = 1000
    repetitions: int = 200
    bindings: int = 2
    seed: int = 0


@dataclass(frozen=True)
class SweepSpec:
    name: str
    qubits: tuple[int, ...]
    capacities: tuple[int, ...]
    families: tuple[str, ...]
    layers: tuple[int, ...]
    module_size: int = 3
    target_stderr: float = 0.01
    timing: TimingSpec = field(default_factory=TimingSpec)
    shots: ShotSpec = field(default_factory=ShotSpec)


def _shot_spec(path: str | Path, table: dict[str, Any]) -> ShotSpec:
    cases = []
    for i, case in enumerate(table.get("cases", [])):
        if not isinstance(case, dict) or set(case) != _CASE_KEYS:
            raise ConfigError(f"{path}: [shots] cases[{i}] must be a table with keys {sorted(_CASE_KEYS)}, got {case!r}")
        parse_family(case["family"])
        if any(not isinstance(case[k], int) or case[k] < 1 for k in ("layers", "qubits", "capacity")):
            raise ConfigError(f"{path}: [shots] cases[{i}]: layers, qubits and capacity must be positive integers")
        cases.append(ShotCase(case["family"], case["layers"], case["qubits"], case["capacity"]))
    for key in ("shots", "repetitions", "bindings"):
        value = table.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 2):
            raise ConfigError(f"{path}: [shots] {key} must be an integer >= 2, got {value!r}")
    rest = {k: v for k, v in table.items() if k != "cases"}
    return ShotSpec(cases=tuple(cases), **rest)


def load_sweep_spec(path: str | Path, *, quick: bool = False, timing: bool | None = None) -> SweepSpec:
    """Read a sweep TOML (``[sweep]``, ``[timing]``, ``[quick]``); ``quick`` applies ``[quick]``."""
    raw = read_spec(path, {"sweep": _SWEEP_KEYS, "timing": _TIMING_KEYS, "shots": _SHOTS_KEYS, "quick": _QUICK_KEYS})
    sweep = dict(raw.get("sweep", {}))
    tim = dict(raw.get("timing", {}))
    shots = dict(raw.get("shots", {}))
    if quick:
        q = raw.get("quick")
        if not q:
            raise ConfigError(f"{path}: --quick needs a [quick] table")
        for k, v in q.items():
            if k.startswith("timing_"):
                tim[k[len("timing_"):]] = v
            elif k.startswith("shots_"):
                shots[k[len("shots_"):]] = v
            else:
                sweep[k] = v
    if timing is not None:  # --no-timing: plans only, no measurement of any kind
        tim["enabled"] = timing
        shots["enabled"] = timing and shots.get("enabled", True)
    for key in ("qubits", "capacities", "families", "layers"):
        if not sweep.get(key):
            raise ConfigError(f"{path}: [sweep] {key} must be a non-empty list")
    for fam in list(sweep["families"]) + list(tim.get("families", [])):
        parse_family(fam)
    for key in ("qubits", "capacities", "layers"):
        bad = [v for v in sweep[key] if not isinstance(v, int) or v < 1]
        if bad:
            raise ConfigError(f"{path}: [sweep] {key} must hold positive integers, got {bad}")
    eps = float(sweep.get("target_stderr", 0.01))
    if not 0 < eps < 1:
        raise ConfigError(f"{path}: [sweep] target_stderr must be in (0, 1), got {eps}")
    tim_spec = TimingSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in tim.items()})
    return SweepSpec(
        name=str(sweep.get("name", Path(path).stem)) + ("-quick" if quick else ""),
        qubits=tuple(sweep["qubits"]), capacities=tuple(sweep["capacities"]),
        families=tuple(sweep["families"]), layers=tuple(sweep["layers"]),
        module_size=int(sweep.get("module_size", 3)), target_stderr=eps, timing=tim_spec,
        shots=_shot_spec(path, shots),
    )


@dataclass
class SweepRow:
    """One planned circuit (and, on the timing subset, its measurements)."""

    family: str
    ansatz: str
    links: int
    layers: int
    n_qubits: int
    capacity: int
    num_fragments: int
    num_cuts: int
    num_gate_cuts: int
    num_wire_cuts: int
    sampling_overhead: float
    log10_overhead: float
    num_subexperiments: int  # distinct circuits that run (duplicates merged), one observable group
    num_subexperiments_listed: int  # qiskit-addon-cutting's listing, F * prod_c T_c
    weight_sum: float  # sum_f B_f: Var <= weight_sum / N to first order
    shots_per_subexperiment: int  # N for target_stderr, uniform allocation
    shots_for_target: float  # M N: shots of one estimate, uniform allocation
    shots_for_target_kappa: float  # kappa / eps^2: |c|-proportional sampling (not what runs)
    fragment_widths: list[int]
    max_cuts_per_fragment: int
    plan_method: str
    plan_seconds: float
    cut_exact_seconds: float | None = None
    cut_exact_skip: str | None = None
    cut_exact_error_vs_exact: float | None = None
    sampled_seconds: float | None = None
    sampled_skip: str | None = None
    sampled_error_vs_exact: float | None = None
    sampled_max_stderr: float | None = None
    sampled_stderr_bound: float | None = None  # sqrt of the allocation's variance bound at sampled_shots
    exact_skip: str | None = None


@dataclass
class SweepResult:
    spec: SweepSpec
    rows: list[SweepRow]
    skipped: list[dict[str, Any]]
    results_dir: Path
    seconds: float
    files: list[Path] = field(default_factory=list)
    shot_rows: list[ShotRow] = field(default_factory=list)


def cuts_per_fragment(plan) -> list[int]:
    counts = [0] * plan.num_fragments
    for cut in plan.cuts:
        for f in set(cut.fragments):
            counts[f] += 1
    return counts


def cut_exact_bytes(plan, gates: int, batch: int) -> float:
    """Size of the largest fragment tensor the cut-exact engine builds (complex128).

    A fragment touching ``k`` cuts is simulated for every (ket, bra) assignment
    of its cut indices: ``4**k`` columns per local Pauli string (one string per
    qubit's Z plus the identity), per gate and sample.
    """
    counts = cuts_per_fragment(plan)
    return max(
        (gates * batch * (f.width + 1) * 4.0**k * 16 for f, k in zip(plan.fragments, counts)),
        default=0.0,
    )


class _Timeout(Exception):
    pass


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`_Timeout` after ``seconds`` (main thread only; else no limit)."""
    def handler(signum, frame):
        raise _Timeout()

    try:
        old = signal.signal(signal.SIGALRM, handler)
    except ValueError:  # not the main thread
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _forward_backward(engine, weights: torch.Tensor, angles: torch.Tensor) -> tuple[torch.Tensor, float]:
    w = weights.clone().requires_grad_(True)
    a = angles.clone().requires_grad_(True)
    t0 = time.perf_counter()
    out = engine.prepare(w)(a)
    out.sum().backward()
    return out.detach(), time.perf_counter() - t0


def measure_row(row: SweepRow, vqc, plan, timing: TimingSpec, seed: int = 0) -> None:
    """Fill the row's wall times and errors (or the reasons they were skipped)."""
    from dqlstm.cutting import CutExactEngine
    from dqlstm.engine import ExactEngine

    gen = torch.Generator().manual_seed(seed)
    weights = torch.stack([vqc.init_weights(gen) for _ in range(timing.gates)])
    values = 2 * torch.rand(timing.batch, vqc.num_qubits, generator=gen, dtype=torch.float64) - 1
    angles = vqc.encode(values)
    exact = None
    if vqc.num_qubits <= timing.exact_max_qubits:
        with torch.no_grad():
            exact = ExactEngine(vqc.circuit, vqc.inputs, vqc.weights)(angles, weights)
    else:
        row.exact_skip = f"{vqc.num_qubits} qubits > exact_max_qubits={timing.exact_max_qubits}"

    need = cut_exact_bytes(plan, timing.gates, timing.batch)
    if need > timing.max_bytes:
        row.cut_exact_skip = (f"largest fragment tensor ~{need:.2g} B > max_bytes={timing.max_bytes:.2g} "
                              f"({row.max_cuts_per_fragment} cuts on one fragment)")
    else:
        try:
            with _time_limit(timing.time_limit):
                engine = CutExactEngine(vqc.circuit, vqc.inputs, vqc.weights, plan=plan)
                out, row.cut_exact_seconds = _forward_backward(engine, weights, angles)
            if exact is not None:
                row.cut_exact_error_vs_exact = float((out - exact).abs().max())
        except _Timeout:
            row.cut_exact_skip = f"took longer than time_limit={timing.time_limit:g} s"
        except MemoryError as exc:
            row.cut_exact_skip = f"out of memory: {exc}"

    if row.n_qubits > timing.sampled_max_qubits:
        row.sampled_skip = f"{row.n_qubits} qubits > sampled_max_qubits={timing.sampled_max_qubits}"
        return
    if row.num_subexperiments > timing.sampled_max_subexperiments:
        row.sampled_skip = (f"{row.num_subexperiments} distinct sub-experiments > sampled_max_subexperiments="
                            f"{timing.sampled_max_subexperiments} (parameter-shift gradients re-run each one "
                            "twice per fragment parameter)")
        return
    from dqlstm.cutting.gate_engines import SampledGateEngine

    b = timing.sampled_batch
    try:
        with _time_limit(timing.time_limit):
            engine = SampledGateEngine(vqc, plan, shots=timing.sampled_shots, seed=seed)
            out, row.sampled_seconds = _forward_backward(engine, weights, angles[:b])
        stderr = engine.executor.last_values.stderr
        row.sampled_max_stderr = float(stderr.max())
        row.sampled_stderr_bound = math.sqrt(plan_shot_cost(plan, vqc.circuit).variance_bound(timing.sampled_shots))
        if exact is not None:
            row.sampled_error_vs_exact = float((out - exact[:, :b]).abs().max())
    except _Timeout:
        row.sampled_seconds = None
        row.sampled_skip = f"took longer than time_limit={timing.time_limit:g} s"


def plan_row(spec: SweepSpec, family: str, layers: int, n: int, cap: int):
    """Build the circuit, plan it and return ``(row, vqc, plan)``."""
    from dqlstm.circuits import build_vqc
    from partitioner import plan_cuts

    ansatz, links = parse_family(family)
    kwargs = {"module_size": spec.module_size, "links": links} if ansatz == "modular" else {}
    vqc = build_vqc(ansatz, n, layers, **kwargs)
    t0 = time.perf_counter()
    plan = plan_cuts(vqc.circuit, cap)
    seconds = time.perf_counter() - t0
    counts = cuts_per_fragment(plan)
    cost = plan_shot_cost(plan, vqc.circuit)
    n_target = cost.shots_per_subexperiment(spec.target_stderr)
    row = SweepRow(
        family=family, ansatz=ansatz, links=links, layers=layers, n_qubits=n, capacity=cap,
        num_fragments=plan.num_fragments, num_cuts=plan.num_cuts, num_gate_cuts=plan.num_gate_cuts,
        num_wire_cuts=plan.num_wire_cuts, sampling_overhead=plan.sampling_overhead,
        log10_overhead=math.log10(plan.sampling_overhead), num_subexperiments=cost.num_subexperiments,
        num_subexperiments_listed=plan.num_subexperiments, weight_sum=cost.leading,
        shots_per_subexperiment=n_target, shots_for_target=float(cost.num_subexperiments) * n_target,
        shots_for_target_kappa=kappa_shots(plan.sampling_overhead, spec.target_stderr),
        fragment_widths=list(plan.fragment_widths), max_cuts_per_fragment=max(counts, default=0),
        plan_method=plan.method, plan_seconds=seconds,
    )
    return row, vqc, plan


def _skip_reason(spec: SweepSpec, family: str, n: int) -> str | None:
    ansatz, links = parse_family(family)
    if ansatz != "modular":
        return None
    if n % spec.module_size:
        return f"{n} qubits is not a multiple of module_size={spec.module_size}"
    if links and n // spec.module_size < 2:
        return "links need at least two modules"
    if links > spec.module_size:
        return f"links={links} > module_size={spec.module_size}"
    return None


def _timed(spec: SweepSpec, row: SweepRow) -> bool:
    t = spec.timing
    return (t.enabled and row.family in t.families and row.capacity in t.capacities
            and row.layers in t.layers and row.n_qubits <= t.max_qubits)


def run_sweep(spec: SweepSpec, results_dir: str | Path, *, quiet: bool = False) -> SweepResult:
    """Plan (and on the timing subset measure) every combination, run the ``[shots]`` cases; write CSV,
    JSON, markdown and plots."""
    from dqlstm.studies.plots import plot_overhead
    from dqlstm.studies.sweep_plots import plot_shot_errors, plot_walltime

    results = Path(results_dir)
    combos = [(f, l, n, c) for f in spec.families for l in spec.layers for n in spec.qubits for c in spec.capacities]
    rows: list[SweepRow] = []
    skipped: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    with study_torch_settings(1):
        # a log gets a line per chunk (about 20 in all, or one per HEARTBEAT_SECONDS), not per plan
        chunk = max(1, math.ceil(len(combos) / 20))
        last_line = time.monotonic()
        bar = progress.Progress(len(combos), label="sweep: plan", desc=f"sweep {spec.name}", unit="plan", quiet=quiet)
        with bar:
            for i, (family, layers, n, cap) in enumerate(combos, 1):
                what = f"{family} L{layers} n={n} QPU={cap}"
                reason = _skip_reason(spec, family, n)
                if reason:
                    skipped.append(
                        {"family": family, "layers": layers, "n_qubits": n, "capacity": cap, "reason": reason}
                    )
                else:
                    bar.show(what)
                    row, vqc, plan = plan_row(spec, family, layers, n, cap)
                    if _timed(spec, row):
                        measure_row(row, vqc, plan, spec.timing)
                    rows.append(row)
                line = None
                if i % chunk == 0 or i == len(combos) or time.monotonic() - last_line >= progress.HEARTBEAT_SECONDS:
                    last_line = time.monotonic()
                    line = (f"{what} ({len(rows)} planned, {len(skipped)} skipped, "
                            f"{progress.duration(time.perf_counter() - t0)})")
                bar.advance(line=line)
        shot_rows = run_shot_cases(spec, quiet=quiet)
    seconds = time.perf_counter() - t0
    results.mkdir(parents=True, exist_ok=True)
    dicts = [asdict(r) for r in rows]
    columns = list(SweepRow.__dataclass_fields__)
    files = [
        write_csv(results / "sweep.csv", dicts, columns),
        write_json(results / "sweep.json", {
            "provenance": provenance(),
            "spec": asdict(spec),
            "shots_formula": SHOTS_FORMULA,
            "shot_rows": [asdict(r) for r in shot_rows],
            "rows": dicts, "skipped": skipped, "capacity_gaps": capacity_gaps(rows), "seconds": seconds,
        }, indent=None),  # thousands of rows: compact
    ]
    if shot_rows:
        files.append(write_csv(results / "shots.csv", [asdict(r) for r in shot_rows], list(ShotRow.__dataclass_fields__)))
        files.append(plot_shot_errors(results / "shot_error.png", shot_rows, spec.target_stderr))
    (results / "sweep.md").write_text(render_markdown(spec, rows, seconds, shot_rows) + provenance_note())
    files.append(results / "sweep.md")
    plot_layers = 2 if 2 in spec.layers else spec.layers[0]
    files.append(plot_overhead(results / "overhead_vs_qubits.png", dicts, spec.families, plot_layers))
    if any(r.cut_exact_seconds is not None or r.sampled_seconds is not None for r in rows):
        t = spec.timing
        files.append(plot_walltime(results / "walltime_vs_qubits.png", dicts, t))
    return SweepResult(spec, rows, skipped, results, seconds, files, shot_rows)


SHOTS_FORMULA = (
    "uniform allocation, N shots per distinct sub-experiment: Var <= prod_f (1 + B_f/N) - 1 ~ sum_f B_f / N "
    "(weight_sum); shots_per_subexperiment = smallest N with bound <= target_stderr^2; shots_for_target = "
    "num_subexperiments * N; shots_for_target_kappa = kappa / target_stderr^2 (|c|-proportional term sampling, "
    "per-shot variance kappa - <O>^2; not what runs)"
)


def run_shot_cases(spec: SweepSpec, *, quiet: bool = False) -> list[ShotRow]:
    """The ``[shots]`` error study (:mod:`.shot_error`), one row per case."""
    from dqlstm.circuits import build_vqc
    from partitioner import plan_cuts

    s = spec.shots
    if not (s.enabled and s.cases):
        return []
    out = []
    with progress.Progress(len(s.cases), label="sweep: shots", desc="shot error", unit="case", quiet=quiet) as bar:
        for case in s.cases:
            bar.show(f"{case.family} L{case.layers} n={case.n_qubits} QPU={case.capacity}")
            ansatz, links = parse_family(case.family)
            kwargs = {"module_size": spec.module_size, "links": links} if ansatz == "modular" else {}
            vqc = build_vqc(ansatz, case.n_qubits, case.layers, **kwargs)
            plan = plan_cuts(vqc.circuit, case.capacity)
            r = measure_shot_error(case, vqc, plan, shots=s.shots, repetitions=s.repetitions,
                                   bindings=s.bindings, seed=s.seed)
            out.append(r)
            bar.advance(line=f"{case.family} n={case.n_qubits} QPU={case.capacity}: {r.num_cuts} cuts, RMS error "
                             f"{r.measured_rms_error:.3g} vs predicted {r.predicted_rms_stderr:.3g} ({r.seconds:.0f} s)")
    return out


def capacity_gaps(rows: Sequence[SweepRow]) -> list[dict[str, Any]]:
    """Plans costlier than the plan found for a *smaller* QPU of the same circuit.

    Any plan for capacity c also fits capacity c' > c, so the optimal overhead
    can only fall with capacity; a rise shows where the heuristic search missed
    a cheaper plan.
    """
    gaps = []
    groups: dict[tuple[str, int, int], list[SweepRow]] = {}
    for r in rows:
        groups.setdefault((r.family, r.layers, r.n_qubits), []).append(r)
    for (family, layers, n), rs in groups.items():
        rs.sort(key=lambda r: r.capacity)
        best = None
        for r in rs:
            if best is not None and r.log10_overhead > best.log10_overhead + 1e-9:
                gaps.append({"family": family, "layers": layers, "n_qubits": n, "capacity": r.capacity,
                             "log10_overhead": r.log10_overhead, "smaller_capacity": best.capacity,
                             "smaller_log10_overhead": best.log10_overhead})
            if best is None or r.log10_overhead < best.log10_overhead:
                best = r
    return gaps


def render_markdown(spec: SweepSpec, rows: Sequence[SweepRow], seconds: float,
                    shot_rows: Sequence[ShotRow] = ()) -> str:
    """A readable extract: the largest width per (family, capacity) at the plotted depth, and the timed rows."""
    layers = 2 if 2 in spec.layers else spec.layers[0]
    lines = [
        f"# Cut-cost sweep `{spec.name}`",
        "",
        (f"{len(rows)} plans in {seconds / 60:.1f} min. κ = total sampling overhead; M = distinct sub-experiments "
        "(duplicates merged, the ones that run). Shots for standard error "
        f"ε = {spec.target_stderr:g} with the allocation used (uniform: N shots per distinct sub-experiment): "
        "N = smallest with ∏_f(1 + B_f/N) − 1 ≤ ε² (≈ Σ_f B_f / ε²), M·N per estimate; κ/ε² is the count for "
        "|c|-proportional term sampling, which dqlstm does not run (formulas: `dqlstm/studies/qpd_variance.py`). "
        "Full data: `sweep.csv` / `sweep.json`."),
        "",
        f"## Overhead at {layers} layers (every width; rows = family, capacity)",
        "",
    ]
    def width_table(cell) -> str:
        """One row per (family, capacity) at ``layers``, one column per width, ``cell(row)`` in each."""
        widths, table = sorted(spec.qubits), []
        for fam in spec.families:
            for cap in sorted(spec.capacities):
                cells = {r.n_qubits: r for r in rows if r.family == fam and r.capacity == cap and r.layers == layers}
                if cells:
                    table.append({"family": fam, "capacity": cap,
                                  **{str(n): "" if n not in cells else cell(cells[n]) for n in widths}})
        return markdown_table(table, [("family", "family"), ("capacity", "QPU")]
                              + [(str(n), f"{n}q") for n in widths])

    lines.append("Cell: κ (cuts). Empty: width not a multiple of the module size.")
    lines.append("")
    lines.append(width_table(lambda r: f"{r.sampling_overhead:.2g} ({r.num_cuts})"))
    lines += ["", f"## Sub-experiments and shots at {layers} layers", "",
              f"Cell: M / M·N (shots of one estimate at ε = {spec.target_stderr:g}, uniform allocation).", "",
              width_table(lambda r: f"{r.num_subexperiments:.2g} / {r.shots_for_target:.1g}")]
    gaps = capacity_gaps(rows)
    lines += ["", "## Plans costlier than a smaller QPU's plan", "",
              (f"{len(gaps)} of {len(rows)} plans have a higher κ than the plan found for a smaller capacity of the "
              "same circuit (whose fragments would also fit): the partitioner's heuristic missed a cheaper plan there.")]
    if gaps:
        worst = sorted(gaps, key=lambda g: g["smaller_log10_overhead"] - g["log10_overhead"])[:12]
        lines += ["", markdown_table([{**g, "k": f"1e{g['log10_overhead']:.1f}",
                                       "ks": f"1e{g['smaller_log10_overhead']:.1f}"} for g in worst],
                                     [("family", "family"), ("layers", "layers"), ("n_qubits", "qubits"),
                                      ("capacity", "QPU"), ("k", "κ"), ("smaller_capacity", "smaller QPU"),
                                      ("ks", "κ there")])]
    timed = [r for r in rows if r.cut_exact_seconds is not None or r.cut_exact_skip or r.sampled_seconds is not None]
    if timed:
        lines += ["", "## Measured forward+backward (4 gates)", ""]
        lines.append(markdown_table([{
            "family": r.family, "layers": r.layers, "n": r.n_qubits, "cap": r.capacity, "cuts": r.num_cuts,
            "k": r.max_cuts_per_fragment,
            "ce": f"{r.cut_exact_seconds:.3g}" if r.cut_exact_seconds is not None else f"skipped: {r.cut_exact_skip}",
            "ce_err": f"{r.cut_exact_error_vs_exact:.1e}" if r.cut_exact_error_vs_exact is not None else "-",
            "sa": f"{r.sampled_seconds:.3g}" if r.sampled_seconds is not None else "-",
            "m": r.num_subexperiments,
            "sa_err": (f"{r.sampled_error_vs_exact:.2g} (stderr ≤ {r.sampled_max_stderr:.2g}, "
                       f"bound {r.sampled_stderr_bound:.2g})" if r.sampled_error_vs_exact is not None else "-"),
        } for r in timed], [("family", "family"), ("layers", "layers"), ("n", "qubits"), ("cap", "QPU"),
                            ("cuts", "cuts"), ("k", "max cuts on one fragment"),
                            ("ce", "cut-exact s"), ("ce_err", "cut-exact max error vs exact"), ("m", "M"),
                            ("sa", "sampled s"), ("sa_err", "sampled max error vs exact")]))
        lines += ["", ("cut-exact: exact fragment simulation and contraction, autograd backward "
                  f"({spec.timing.gates} gates x batch {spec.timing.batch}); sampled: shots on the local Aer sampler, "
                  f"parameter-shift backward ({spec.timing.gates} gates x batch {spec.timing.sampled_batch}, "
                  f"{spec.timing.sampled_shots} shots per distinct sub-experiment). One draw each: the error "
                  "columns are single draws, see the shot-error table for statistics.")]
    if shot_rows:
        lines += ["", "## Sampled estimator error vs prediction (`shots.csv`)", "",
                  (f"{shot_rows[0].shots} shots per distinct sub-experiment, {shot_rows[0].repetitions} repetitions x "
                  f"{shot_rows[0].bindings} bindings x every ⟨Z_q⟩. RMS over all draws. predicted: exact Var of "
                  "the estimator from the exact sub-experiment means; reported: the estimator's own stderr; "
                  "bound: √(∏_f(1+B_f/N)−1); κ-form: √((κ−⟨O⟩²)/(M·N)), |c|-proportional sampling with the same "
                  "shots; old: √(κσ²/(M·N)). χ² = mean (error/predicted)² (1 expected)."), ""]
        lines.append(markdown_table([{
            **asdict(r), "kappa": f"{r.sampling_overhead:.4g}", "m": f"{r.num_subexperiments} ({r.num_subexperiments_listed})",
            "meas": f"{r.measured_rms_error:.4f}", "pred": f"{r.predicted_rms_stderr:.4f}",
            "rep": f"{r.reported_rms_stderr:.4f}", "bound": f"{r.bound_stderr:.4f}",
            "kap": f"{r.kappa_rms_stderr:.4f}", "old": f"{r.old_formula_rms_stderr:.4f}",
            "chi": f"{r.chi2:.3f}", "w2": f"{100 * r.within_2_sigma:.1f}%",
            "eff": f"{r.effective_shot_variance:.3g}",
        } for r in shot_rows], [("family", "family"), ("layers", "layers"), ("n_qubits", "qubits"), ("capacity", "QPU"),
                                ("num_cuts", "cuts"), ("cut_operations", "cut ops"), ("kappa", "κ"),
                                ("m", "M (listed)"), ("total_shots", "M·N"), ("meas", "measured"),
                                ("pred", "predicted"), ("rep", "reported"), ("bound", "bound"), ("kap", "κ-form"),
                                ("old", "old"), ("chi", "χ²"), ("w2", "|e| < 2σ"),
                                ("eff", "Var·M·N (vs κ)")]))
    return "\n".join(lines) + "\n"
