"""The cut-cost sweep: rows agree with the partitioner and with qiskit-addon-cutting's accounting."""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.quantum_info import PauliList, SparsePauliOp, Statevector
from qiskit_addon_cutting import generate_cutting_experiments

from dqlstm.circuits import build_vqc
from dqlstm.config import ConfigError
from dqlstm.cutting.dedup import fragment_terms
from dqlstm.cutting.sampled import SampledCutExecutor
from dqlstm.studies.qpd_variance import (
    UniformShotCost,
    cut_terms,
    exact_fragment_means,
    exact_variance,
    kappa_shots,
    plan_shot_cost,
)
from dqlstm.studies.shot_error import ShotCase, measure_shot_error
from dqlstm.studies.sweep import (
    ShotSpec,
    SweepSpec,
    TimingSpec,
    cut_exact_bytes,
    load_sweep_spec,
    parse_family,
    plan_row,
    run_sweep,
)
from partitioner import plan_cuts

REPO = Path(__file__).resolve().parents[1]


def _tiny_spec(**timing) -> SweepSpec:
    t = {"families": ("brick", "modular-l1"), "capacities": (3,), "layers": (1,), "max_qubits": 6,
         "batch": 2, "time_limit": 30.0, "sampled_max_subexperiments": 10, "sampled_shots": 400,
         "sampled_batch": 1, **timing}
    return SweepSpec(name="tiny", qubits=(4, 6), capacities=(3, 4), families=("brick", "modular-l0", "modular-l1"),
                     layers=(1,), target_stderr=0.05, timing=TimingSpec(**t))


@pytest.mark.parametrize("family, n, cap, layers", [
    ("brick", 6, 3, 2), ("modular-l1", 9, 3, 1), ("modular-l2", 6, 3, 1), ("chen2020", 4, 3, 1),
])
def test_row_matches_plan_and_qiskit_addon_cutting(family, n, cap, layers):
    spec = SweepSpec(name="t", qubits=(n,), capacities=(cap,), families=(family,), layers=(layers,))
    row, vqc, plan = plan_row(spec, family, layers, n, cap)
    fresh = plan_cuts(vqc.circuit, cap)  # deterministic for the default seed
    assert (row.num_cuts, row.num_fragments, row.num_subexperiments_listed) == (
        fresh.num_cuts, fresh.num_fragments, fresh.num_subexperiments)
    assert row.sampling_overhead == pytest.approx(fresh.sampling_overhead, rel=1e-12)
    # qiskit-addon-cutting's own accounting of the same cuts
    circuit = vqc.circuit.assign_parameters(np.linspace(0.1, 1.0, vqc.circuit.num_parameters))
    problem = plan.apply(circuit, PauliList(["I" * (n - 1 - q) + "Z" + "I" * q for q in range(n)]))
    assert len(problem.bases) == row.num_cuts > 0
    assert math.prod(b.overhead for b in problem.bases) == pytest.approx(row.sampling_overhead, rel=1e-9)
    subexperiments, coefficients = generate_cutting_experiments(
        problem.subcircuits, problem.subobservables, num_samples=np.inf)
    assert sum(len(v) for v in subexperiments.values()) == row.num_subexperiments_listed
    assert len(coefficients) == row.num_subexperiments_listed // row.num_fragments
    # the distinct ones (per-cut classes) are what dedup finds in qiskit-addon-cutting's listing
    distinct = sum(fragment_terms(subexperiments[f], len(coefficients), 1).num_distinct for f in subexperiments)
    assert row.num_subexperiments == distinct < row.num_subexperiments_listed
    cost = plan_shot_cost(plan, vqc.circuit)
    assert row.shots_for_target == row.num_subexperiments * row.shots_per_subexperiment
    assert cost.variance_bound(row.shots_per_subexperiment) <= 0.01**2 < cost.variance_bound(
        row.shots_per_subexperiment - 1)
    assert row.shots_for_target_kappa == pytest.approx(row.sampling_overhead / 0.01**2)


def test_shots_formula_closed_forms():
    # one CX cut, two fragments: B_f = 2 each, bound (1 + 2/N)^2 - 1 = eps^2 at N = 2 / (sqrt(1 + eps^2) - 1)
    cost = UniformShotCost(10, 9.0, (2.0, 2.0))
    assert cost.variance_bound(100) == pytest.approx((1 + 2 / 100) ** 2 - 1)
    assert cost.shots_per_subexperiment(0.01) == math.ceil(2 / (math.sqrt(1 + 0.01**2) - 1) - 1e-9)
    assert cost.total_shots(0.01) == 10 * cost.shots_per_subexperiment(0.01)
    assert kappa_shots(9.0, 0.01, 0.5) == pytest.approx((9 - 0.25) / 1e-4)
    # no cut (kappa 1 by construction): a fragment's estimate of an observable it does not hold is exactly 1,
    # so N = 1/eps^2 per fragment, M = F fragments
    vqc = build_vqc("modular", 9, 1, module_size=3, links=0)
    free = plan_shot_cost(plan_cuts(vqc.circuit, 3), vqc.circuit)
    assert (free.num_subexperiments, free.fragment_weights, free.sampling_overhead) == (3, (1.0,), 1.0)
    assert free.shots_per_subexperiment(0.01) == 10_000
    # merged QPDs: CX 6 terms of +-1/2, 5 local classes per side; Move 8 terms, 4 / 6 classes
    from qiskit.circuit.library import CXGate
    from qiskit_addon_cutting.instructions import Move

    cx, move = cut_terms(CXGate()), cut_terms(Move())
    assert cx.classes == (5, 5) and cx.gamma == pytest.approx(3.0) and cx.s(True, False) == pytest.approx(2.0)
    assert move.classes == (4, 6) and move.gamma**2 == pytest.approx(16.0)
    assert (move.s(True, False), move.s(False, True)) == pytest.approx((4.0, 3.0))


def _one_cut_circuit() -> tuple[QuantumCircuit, list[Parameter]]:
    a, b, c = Parameter("a"), Parameter("b"), Parameter("c")
    qc = QuantumCircuit(3)
    qc.ry(a, 0)
    qc.ry(b, 1)
    qc.rx(c, 2)
    qc.cx(0, 1)  # cut: qubit 0 is fragment A, qubits 1-2 fragment B
    qc.cx(1, 2)
    return qc, [a, b, c]


def test_exact_variance_of_one_cx_cut_against_the_qpd_double_sum():
    qc, _ = _one_cut_circuit()
    shots = 50
    executor = SampledCutExecutor(qc, ["IIZ", "IZI", "ZII", "ZZZ"], "ABB", shots=shots, seed=3)
    values = np.array([[0.3, -1.1, 0.7], [2.0, 0.4, -0.5]])
    means = exact_fragment_means(executor, values)
    value, var = exact_variance(executor, means, shots)
    # exact means reproduce the Statevector values through qiskit-addon-cutting's (unmerged) QPD terms
    coeffs = np.array([c for c, _ in executor.coefficients])
    classes = [f.terms.term_class for f in executor.fragments]  # (T,) class of each listed term per fragment
    listed = np.prod([m[cls] for m, cls in zip(means, classes)], axis=0)  # (T, B, n_terms)
    direct = np.einsum("t,tbo->bo", coeffs, listed)
    for b, row in enumerate(values):
        sv = Statevector(qc.assign_parameters(row))
        truth = [sv.expectation_value(SparsePauliOp(p)).real for p in ["IIZ", "IZI", "ZII", "ZZZ"]]
        assert direct[b] == pytest.approx(truth, abs=1e-12)
        assert value[b] == pytest.approx(truth, abs=1e-12)
    # independent variance: E[Y^2] - E[Y]^2 over the listed terms, sharing handled term pair by term pair:
    # E[X_d X_d'] = mu_d mu_d' for different circuits, mu_d^2 + (1 - mu_d^2)/N for the same one
    second = np.zeros_like(direct)
    for i in range(len(coeffs)):
        for j in range(len(coeffs)):
            prod = np.ones_like(direct)
            for m, cls in zip(means, classes):
                mi, mj = m[cls[i]], m[cls[j]]
                prod = prod * (mi * mj + (cls[i] == cls[j]) * (1 - mi**2) / shots)
            second += coeffs[i] * coeffs[j] * prod
    assert var == pytest.approx(second - direct**2, rel=1e-9, abs=1e-15)
    cost = UniformShotCost(executor.num_subexperiments, executor.sampling_overhead, (2.0, 2.0))
    assert executor.num_subexperiments == 10 and np.all(var <= cost.variance_bound(shots))


def test_exact_variance_matches_repeated_draws():
    qc, _ = _one_cut_circuit()
    shots, reps = 40, 4000
    executor = SampledCutExecutor(qc, ["IZI", "ZII"], "ABB", shots=shots, seed=11)
    values = np.array([[0.3, -1.1, 0.7]])
    _, var = exact_variance(executor, exact_fragment_means(executor, values), shots)
    draws = executor.run(np.repeat(values, reps, axis=0)).values  # (reps, 2) independent estimates
    ratio = draws.var(axis=0, ddof=1) / var[0]
    # sample variance of 4000 draws: relative spread ~ sqrt(2/4000) (x kurtosis) ~ 0.03; allow 5 of those
    assert np.all(np.abs(ratio - 1) < 0.15), ratio


def test_measured_error_of_a_one_cut_row_within_prediction():
    case = ShotCase("modular-l1", 1, 6, 3)
    vqc = build_vqc("modular", 6, 1, module_size=3, links=1)
    plan = plan_cuts(vqc.circuit, 3)
    r = measure_shot_error(case, vqc, plan, shots=500, repetitions=100, bindings=2, seed=5)
    assert (r.num_cuts, r.num_fragments, r.num_subexperiments) == (1, 2, 10)
    assert r.predicted_num_subexperiments == r.num_subexperiments
    assert r.exact_mean_error < 1e-10
    assert r.max_predicted_over_bound <= 1.0
    # 1200 draws (100 independent repetitions x 2 bindings x 6 correlated qubits): chi2 spread ~ 0.1
    assert 0.6 < r.chi2 < 1.5
    assert r.measured_rms_error == pytest.approx(r.predicted_rms_stderr, rel=0.25)
    assert r.reported_rms_stderr == pytest.approx(r.predicted_rms_stderr, rel=0.05)


def test_cut_exact_memory_estimate_skips_without_running():
    vqc = build_vqc("chen2020", 6, 2)
    plan = plan_cuts(vqc.circuit, 3)
    # 12 cuts touch one 3-qubit fragment: 4 gates x 10 samples x 4 strings x 4^12 x 16 B
    assert cut_exact_bytes(plan, 4, 10) == pytest.approx(4 * 10 * 4 * 4.0**12 * 16)
    spec = SweepSpec(name="t", qubits=(6,), capacities=(3,), families=("chen2020",), layers=(2,),
                     timing=TimingSpec(families=("chen2020",), capacities=(3,), layers=(2,), batch=10,
                                       sampled_max_subexperiments=0))
    from dqlstm.studies.sweep import measure_row

    row, vqc, plan = plan_row(spec, "chen2020", 2, 6, 3)
    measure_row(row, vqc, plan, spec.timing)
    assert row.cut_exact_seconds is None and "max_bytes" in row.cut_exact_skip
    assert row.sampled_seconds is None and "sampled_max_subexperiments" in row.sampled_skip


def test_run_sweep_writes_rows_plots_and_measurements(tmp_path):
    spec = _tiny_spec()
    result = run_sweep(spec, tmp_path, quiet=True)
    # modular needs multiples of 3: n=4 is skipped with a reason, never silently
    assert {(s["family"], s["n_qubits"]) for s in result.skipped} == {("modular-l0", 4), ("modular-l1", 4)}
    assert all("multiple" in s["reason"] for s in result.skipped)
    assert len(result.rows) == 2 * 2 + 2 * 2  # brick: 2 widths x 2 caps; each modular family: 1 width x 2 caps
    for name in ("sweep.csv", "sweep.json", "sweep.md", "overhead_vs_qubits.png", "walltime_vs_qubits.png"):
        assert (tmp_path / name).is_file(), name
    with (tmp_path / "sweep.csv").open() as fh:
        csv_rows = list(csv.DictReader(fh))
    assert len(csv_rows) == len(result.rows)
    timed = [r for r in result.rows if r.cut_exact_seconds is not None]
    assert {(r.family, r.n_qubits) for r in timed} == {("brick", 4), ("brick", 6), ("modular-l1", 6)}
    for r in timed:
        assert r.cut_exact_error_vs_exact < 1e-10
    # shot-based rows with real cuts (1 CX cut, 10 distinct sub-experiments)
    sampled = [r for r in csv_rows if r["sampled_seconds"]]
    assert sampled and all(int(r["num_cuts"]) >= 1 for r in sampled)
    assert all(float(r["sampled_stderr_bound"]) > 0 for r in sampled)
    no_link = next(r for r in result.rows if r.family == "modular-l0" and r.capacity == 3)
    assert (no_link.num_cuts, no_link.sampling_overhead, no_link.num_fragments) == (0, 1.0, 2)
    data = json.loads((tmp_path / "sweep.json").read_text())
    assert data["rows"][0]["sampling_overhead"] == result.rows[0].sampling_overhead


@pytest.mark.slow
def test_sampled_timing_within_reported_stderr(tmp_path):
    spec = _tiny_spec(families=("modular-l0",), sampled_max_subexperiments=2, sampled_shots=4000)
    spec = SweepSpec(name="s", qubits=(6,), capacities=(3,), families=("modular-l0",), layers=(1,),
                     timing=spec.timing)
    result = run_sweep(spec, tmp_path, quiet=True)
    (row,) = result.rows
    assert row.sampled_seconds is not None and row.sampled_skip is None
    assert row.sampled_error_vs_exact < 5 * row.sampled_max_stderr


def test_run_sweep_shot_cases(tmp_path):
    spec = SweepSpec(name="s", qubits=(6,), capacities=(3,), families=("modular-l1",), layers=(1,),
                     timing=TimingSpec(enabled=False),
                     shots=ShotSpec(cases=(ShotCase("modular-l1", 1, 6, 3),), shots=200, repetitions=20, bindings=2))
    result = run_sweep(spec, tmp_path, quiet=True)
    (r,) = result.shot_rows
    assert r.num_cuts == 1 and r.draws == 20 * 2 * 6
    with (tmp_path / "shots.csv").open() as fh:
        assert [int(x["num_cuts"]) for x in csv.DictReader(fh)] == [1]
    assert (tmp_path / "shot_error.png").is_file()
    assert json.loads((tmp_path / "sweep.json").read_text())["shot_rows"][0]["num_cuts"] == 1


def test_committed_sweep_has_shot_based_rows_with_cuts():
    base = REPO / "experiments/results/sweep/cutcost"
    with (base / "sweep.csv").open() as fh:
        sampled = [r for r in csv.DictReader(fh) if r["sampled_seconds"]]
    assert any(int(r["num_cuts"]) >= 1 for r in sampled)
    with (base / "shots.csv").open() as fh:
        shots = list(csv.DictReader(fh))
    assert {1, 2, 3} <= {int(r["num_cuts"]) for r in shots}
    assert any(int(r["num_wire_cuts"]) >= 1 for r in shots)
    for r in shots:
        assert float(r["exact_mean_error"]) < 1e-9
        assert float(r["max_predicted_over_bound"]) <= 1.0


def test_spec_errors_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="unknown ansatz family 'modular-x'"):
        parse_family("modular-x")
    bad = tmp_path / "bad.toml"
    bad.write_text('[sweep]\nqubits = [4]\ncapacities = [3]\nfamilies = ["brick"]\nlayers = [1]\nfoo = 1\n')
    with pytest.raises(ConfigError, match="unknown keys \\['foo'\\]"):
        load_sweep_spec(bad)
    empty = tmp_path / "empty.toml"
    empty.write_text('[sweep]\nqubits = []\ncapacities = [3]\nfamilies = ["brick"]\nlayers = [1]\n')
    with pytest.raises(ConfigError, match="qubits must be a non-empty list"):
        load_sweep_spec(empty)
    case = tmp_path / "case.toml"
    case.write_text('[sweep]\nqubits = [4]\ncapacities = [3]\nfamilies = ["brick"]\nlayers = [1]\n'
                    '[shots]\ncases = [{ family = "brick", layers = 1, qubits = 4 }]\n')
    with pytest.raises(ConfigError, match="cases\\[0\\] must be a table with keys"):
        load_sweep_spec(case)
    reps = tmp_path / "reps.toml"
    reps.write_text('[sweep]\nqubits = [4]\ncapacities = [3]\nfamilies = ["brick"]\nlayers = [1]\n'
                    '[shots]\nrepetitions = 1\n')
    with pytest.raises(ConfigError, match="repetitions must be an integer >= 2"):
        load_sweep_spec(reps)


def test_shipped_sweep_config_and_quick_reduction():
    full = load_sweep_spec(REPO / "experiments/configs/sweep.toml")
    quick = load_sweep_spec(REPO / "experiments/configs/sweep.toml", quick=True)
    assert max(full.qubits) >= 40 and min(full.capacities) == 3 and max(full.capacities) == 12
    assert len(quick.qubits) * len(quick.capacities) < len(full.qubits) * len(full.capacities)
    assert quick.name.endswith("-quick")


def test_cli_sweep_no_timing(tmp_path):
    from dqlstm.cli import sweep as sweep_cli

    cfg = tmp_path / "s.toml"
    cfg.write_text('[sweep]\nname = "cli"\nqubits = [6]\ncapacities = [3]\nfamilies = ["modular-l1"]\nlayers = [1]\n')
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    sweep_cli.register(sub)
    args = parser.parse_args(["sweep", str(cfg), "--results", str(tmp_path / "out"), "--no-timing", "--quiet"])
    assert args.func(args) == 0
    rows = json.loads((tmp_path / "out/sweep.json").read_text())["rows"]
    assert len(rows) == 1 and rows[0]["num_cuts"] == 1 and rows[0]["cut_exact_seconds"] is None
