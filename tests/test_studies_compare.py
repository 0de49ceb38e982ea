"""The comparison study: one run_training per (task, variant, seed), aggregated honestly."""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import pytest

from dqlstm.circuits import build_vqc
from dqlstm.config import ConfigError
from dqlstm.studies.common import mean_std
from dqlstm.studies.compare import load_compare_spec, run_compare
from partitioner import plan_cuts

REPO = Path(__file__).resolve().parents[1]

TINY = """
[study]
name = "tiny"
tasks = ["narma5"]
seeds = [0, 1]
epochs = 2
prediction_variants = ["Q3", "cut"]

[base.data]
length = 30
[base.model]
hidden_size = 2
layers = 1
[base.train]
batch_size = 8

[[variant]]
label = "Q3"
group = "centralised"
model = { kind = "qlstm", ansatz = "chen2020", n_qubits = 3 }

[[variant]]
label = "cut"
group = "distributed, cut"
model = { kind = "qlstm", ansatz = "modular", n_qubits = 6, links = 1, mode = "cut-exact", max_qubits = 3 }
reference = "uncut"
centralised = "Q3"

[[variant]]
label = "uncut"
group = "reference"
model = { kind = "qlstm", ansatz = "modular", n_qubits = 6, links = 1 }

[[variant]]
label = "LSTM"
group = "classical"
model = { kind = "lstm" }

[quick]
seeds = [0]
epochs = 1
variants = ["LSTM", "cut"]
"""


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    cfg = root / "tiny.toml"
    cfg.write_text(TINY)
    spec = load_compare_spec(cfg, variants=["Q3", "cut", "uncut"])
    result = run_compare(spec, root / "runs", root / "results", quiet=True)
    return cfg, root, result


def test_table_is_the_mean_and_std_of_the_runs(tiny_study):
    _, root, result = tiny_study
    with (root / "results/table.csv").open() as fh:
        rows = {r["label"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"Q3", "cut", "uncut"}
    for label, row in rows.items():
        finals = [json.loads(p.read_text())["final"]
                  for p in sorted((root / "runs/runs/narma5").glob(f"{label.lower()}/seed*/metrics.json"))]
        assert len(finals) == 2
        m, s = mean_std([f["test_loss"] for f in finals])
        assert float(row["test_mse_mean"]) == pytest.approx(m, rel=1e-12)
        assert float(row["test_mse_std"]) == pytest.approx(s, rel=1e-12)
        assert float(row["train_mse_mean"]) == pytest.approx(mean_std([f["train_loss"] for f in finals])[0])
    # runs keep their small files, not checkpoints
    assert not list((root / "runs").rglob("checkpoint.pt"))
    for name in ("table.md", "summary.json", "loss_narma5.png", "predictions_narma5.png", "cut_vs_exact.png"):
        assert (root / "results" / name).is_file(), name


def test_cut_variant_equals_exact_twin_and_reports_the_plan(tiny_study):
    _, _, result = tiny_study
    s = {x.label: x for x in result.summaries}
    cut = s["cut"]
    plan = plan_cuts(build_vqc("modular", 6, 1, links=1).circuit, 3)
    assert (cut.num_cuts, cut.num_fragments) == (plan.num_cuts, plan.num_fragments)
    assert cut.sampling_overhead == pytest.approx(plan.sampling_overhead)
    assert cut.subexperiments_per_eval == plan.num_subexperiments
    assert cut.subexperiments_per_step == 4 * plan.num_subexperiments  # window 4
    assert cut.plan_matches_run is True  # the engine's own cut summary agrees with the plan
    # the model's classical layers are float32, so identical maths agrees to float32 rounding
    assert cut.curve_max_abs_diff_vs_reference < 1e-6
    assert cut.test_mse_mean == pytest.approx(s["uncut"].test_mse_mean, rel=1e-4)
    assert cut.test_mse_ratio_vs_centralised == pytest.approx(cut.test_mse_mean / s["Q3"].test_mse_mean)
    assert s["Q3"].num_cuts is None and s["uncut"].num_cuts is None


def test_second_call_reuses_finished_runs(tiny_study):
    cfg, root, first = tiny_study
    again = run_compare(load_compare_spec(cfg, variants=["Q3", "cut", "uncut"]), root / "runs", root / "results2", quiet=True)
    assert all(r.reused for r in again.runs)
    assert [r.test_mse for r in again.runs] == [r.test_mse for r in first.runs]


def test_quick_and_overrides(tiny_study):
    cfg, _, _ = tiny_study
    quick = load_compare_spec(cfg, quick=True)
    assert (quick.seeds, quick.epochs, [v.label for v in quick.variants]) == ((0,), 1, ["cut", "LSTM"])
    assert quick.variants[0].reference is None  # its twin is not run, so not compared
    over = load_compare_spec(cfg, quick=True, seeds=[3, 4], epochs=7, tasks=["oscillator"])
    assert (over.seeds, over.epochs, over.tasks) == ((3, 4), 7, ("oscillator",))


def test_spec_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY.replace('reference = "uncut"', 'reference = "nope"'))
    with pytest.raises(ConfigError, match="unknown variant 'nope'"):
        load_compare_spec(bad)
    bad.write_text(TINY.replace('label = "Q3"', 'label = "LSTM"'))
    with pytest.raises(ConfigError, match="labels must be unique"):
        load_compare_spec(bad)
    bad.write_text(TINY.replace("n_qubits = 3 }", "n_qubits = 3, lyers = 2 }"))
    with pytest.raises(ConfigError, match="lyers"):
        load_compare_spec(bad)  # every run config is resolved before anything runs
    with pytest.raises(ConfigError, match="unknown variants"):
        load_compare_spec(REPO / "experiments/configs/compare_paper.toml", variants=["QLSTM 99q"])


def test_shipped_config_covers_the_paper_design():
    spec = load_compare_spec(REPO / "experiments/configs/compare_paper.toml")
    assert set(spec.tasks) == {"narma5", "narma10", "oscillator"} and len(spec.seeds) >= 3
    models = {v.label: spec.run_config("narma5", v, 0)["model"] for v in spec.variants}
    assert {m["n_qubits"] for m in models.values() if m.get("ansatz") == "chen2020"} == {3, 4, 5, 6}
    links = {(m["links"], m["mode"]) for m in models.values() if m.get("ansatz") == "modular"}
    assert {(0, "exact"), (1, "cut-exact"), (2, "cut-exact")} <= links
    for m in models.values():
        if m.get("mode") == "cut-exact":
            assert m["max_qubits"] == 3 and m["module_size"] == 3
    quick = load_compare_spec(REPO / "experiments/configs/compare_paper.toml", quick=True)
    assert quick.name == "paper-quick" and quick.epochs < spec.epochs


@pytest.mark.slow
def test_cli_compare(tmp_path):
    from dqlstm.cli import compare as compare_cli

    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    compare_cli.register(sub)
    args = parser.parse_args(["compare", str(cfg), "--quick", "--out", str(tmp_path / "r"),
                              "--results", str(tmp_path / "res"), "--quiet"])
    assert args.func(args) == 0
    table = (tmp_path / "res/table.md").read_text()
    assert "| narma5 | LSTM |" in table and "| narma5 | cut |" in table
    assert math.isfinite(json.loads((tmp_path / "res/summary.json").read_text())["study_seconds"])
