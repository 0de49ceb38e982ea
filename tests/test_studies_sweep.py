"""The cut-cost sweep: rows agree with the partitioner and with qiskit-addon-cutting's accounting."""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from qiskit_addon_cutting import generate_cutting_experiments

from dqlstm.circuits import build_vqc
from dqlstm.config import ConfigError
from qiskit.quantum_info import PauliList
from dqlstm.studies.sweep import (
    SweepSpec,
    TimingSpec,
    cut_exact_bytes,
    load_sweep_spec,
    parse_family,
    plan_row,
    run_sweep,
    shots_for_target,
)
from partitioner import plan_cuts

REPO = Path(__file__).resolve().parents[1]


def _tiny_spec(**timing) -> SweepSpec:
    t = {"families": ("brick", "modular-l1"), "capacities": (3,), "layers": (1,), "max_qubits": 6,
         "batch": 2, "time_limit": 30.0, "sampled_max_subexperiments": 2, "sampled_shots": 400,
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
    assert (row.num_cuts, row.num_fragments, row.num_subexperiments) == (
        fresh.num_cuts, fresh.num_fragments, fresh.num_subexperiments)
    assert row.sampling_overhead == pytest.approx(fresh.sampling_overhead, rel=1e-12)
    # qiskit-addon-cutting's own accounting of the same cuts
    circuit = vqc.circuit.assign_parameters(np.linspace(0.1, 1.0, vqc.circuit.num_parameters))
    problem = plan.apply(circuit, PauliList(["I" * (n - 1 - q) + "Z" + "I" * q for q in range(n)]))
    assert len(problem.bases) == row.num_cuts > 0
    assert math.prod(b.overhead for b in problem.bases) == pytest.approx(row.sampling_overhead, rel=1e-9)
    subexperiments, coefficients = generate_cutting_experiments(
        problem.subcircuits, problem.subobservables, num_samples=np.inf)
    assert sum(len(v) for v in subexperiments.values()) == row.num_subexperiments
    assert len(coefficients) == row.num_subexperiments // row.num_fragments
    assert row.shots_for_target == pytest.approx(row.sampling_overhead / 0.01**2)


def test_shots_formula():
    assert shots_for_target(81.0, 0.01) == pytest.approx(810000.0)
    assert shots_for_target(1.0, 0.1, variance_bound=0.5) == pytest.approx(50.0)


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
