"""The comparison study: runs, naive baselines, intervals, paired ratios, equivalence verdicts, wording.

References: each run's own metrics.json and predictions.json, dqlstm.baselines and
dqlstm.metrics on the data rebuilt from the run config, numpy's geometric mean,
and dqlstm.stats (itself tested against scipy in test_stats.py).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from dqlstm.baselines import naive_baselines
from dqlstm.circuits import build_vqc
from dqlstm.config import ConfigError
from dqlstm.data.dataset import load_dataset
from dqlstm.metrics import nrmse
from dqlstm.stats import EQUIVALENT, NOT_SHOWN_EQUIVALENT, bootstrap_ci, tost_log_ratio
from dqlstm.studies.compare import (
    load_compare_spec,
    run_compare,
    summarise,
    variant_plan,
)
from dqlstm.studies.compare_tables import (
    BaselineRecord,
    RunRecord,
    baseline_statement,
    baseline_summaries,
    paired,
    render_task,
)
from partitioner import plan_cuts

REPO = Path(__file__).resolve().parents[1]

TINY = """
[study]
name = "tiny"
tasks = ["narma5"]
seeds = [0, 1, 2]
epochs = 2
prediction_variants = ["Q3", "cut"]
compare_to = ["LSTM"]

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
seeds = [0, 1]
epochs = 1
variants = ["LSTM", "Q3"]
"""


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    cfg = root / "tiny.toml"
    cfg.write_text(TINY)
    spec = load_compare_spec(cfg)
    result = run_compare(spec, root / "runs", root / "results", quiet=True)
    return cfg, root, result


def _finals(root: Path, label: str) -> list[dict]:
    paths = sorted((root / "runs/runs/narma5").glob(f"{label.lower()}/seed*/metrics.json"))
    return [json.loads(p.read_text())["final"] for p in paths]


def test_rows_are_baselines_then_models_with_intervals_of_the_runs(tiny_study):
    _, root, _ = tiny_study
    with (root / "results/table.csv").open() as fh:
        rows = {r["label"]: r for r in csv.DictReader(fh)}
    assert list(rows) == ["persistence", "linear extrapolation", "AR(p)", "Q3", "cut", "uncut", "LSTM"]
    for label in ("Q3", "cut", "uncut", "LSTM"):
        test = [f["test_loss"] for f in _finals(root, label)]
        assert len(test) == 3
        row = rows[label]
        assert float(row["test_mse_mean"]) == pytest.approx(np.mean(test), rel=1e-12)
        assert float(row["test_mse_std"]) == pytest.approx(np.std(test, ddof=1), rel=1e-12)
        ci = bootstrap_ci(test)
        assert (float(row["test_mse_low"]), float(row["test_mse_high"])) == pytest.approx((ci.low, ci.high))
        assert min(test) <= float(row["test_mse_low"]) <= float(row["test_mse_high"]) <= max(test)
    # runs keep their small files, not checkpoints
    assert not list((root / "runs").rglob("checkpoint.pt"))
    for name in (
        "table.md",
        "table.csv",
        "comparisons.csv",
        "summary.json",
        "loss_narma5.png",
        "intervals_narma5.png",
        "predictions_narma5.png",
        "cut_vs_exact.png",
    ):
        assert (root / "results" / name).is_file(), name


def test_baseline_rows_and_nrmse_match_the_data_code(tiny_study):
    _, _, result = tiny_study
    spec = result.spec
    for seed in spec.seeds:
        data = load_dataset(spec.data_config("narma5", seed))
        ref = naive_baselines(data)
        mine = {b.name: b for b in result.baselines if b.seed == seed}
        assert set(mine) == {"persistence", "linear-extrapolation", "ar"}  # arx needs y+u, mean not asked
        for name, b in mine.items():
            assert b.test_mse == ref[name].test_mse and b.test_nrmse == ref[name].test_nrmse
        assert mine["ar"].orders == ref["ar"].orders
        # a model's NRMSE from its own saved predictions
        for run in (r for r in result.runs if r.seed == seed):
            pred = json.loads((Path(run.folder) / "predictions.json").read_text())
            assert run.test_nrmse == pytest.approx(
                nrmse(np.array(pred["test_pred"]), data.y_test[:, 0]), rel=1e-5
            )
    rows = {s.label: s for s in result.summaries}
    assert rows["persistence"].test_mse_mean == pytest.approx(
        np.mean([b.test_mse for b in result.baselines if b.name == "persistence"])
    )


def test_paired_ratios_and_equivalence_come_from_the_per_seed_values(tiny_study):
    _, root, result = tiny_study
    cut = [f["test_loss"] for f in _finals(root, "cut")]
    q3 = [f["test_loss"] for f in _finals(root, "Q3")]
    comps = {(c.label, c.against): c for c in result.comparisons}
    c = comps[("cut", "Q3")]
    assert c.kind == "centralised" and c.n == 3
    assert c.ratio == pytest.approx(float(np.exp(np.mean(np.log(np.array(cut) / np.array(q3))))))
    assert c.ratio_of_means == pytest.approx(np.mean(cut) / np.mean(q3))
    t = tost_log_ratio(cut, q3)
    assert (c.tost_p, c.verdict) == (pytest.approx(t.p_value), t.verdict)
    table = (root / "results/table.md").read_text()
    assert f"**{c.verdict}**" in table
    # every trained model against every baseline and against the LSTM (compare_to)
    for label in ("Q3", "cut", "uncut", "LSTM"):
        for b in ("persistence", "linear extrapolation", "AR(p)"):
            assert comps[(label, b)].kind == "baseline"
    assert comps[("Q3", "LSTM")].kind == "model" and ("LSTM", "LSTM") not in comps


def test_cut_variant_equals_exact_twin_and_reports_the_plan(tiny_study):
    _, _, result = tiny_study
    s = {x.label: x for x in result.summaries}
    cut = s["cut"]
    plan = plan_cuts(build_vqc("modular", 6, 1, links=1).circuit, 3)
    assert (cut.num_cuts, cut.num_fragments) == (plan.num_cuts, plan.num_fragments)
    assert cut.sampling_overhead == pytest.approx(plan.sampling_overhead)
    assert cut.subexperiments_per_eval == plan.num_subexperiments
    assert cut.plan_matches_run is True  # the engine's own cut summary agrees with the plan
    assert cut.qpu_qubits == 3 and cut.n_qubits == 6
    # the model's classical layers are float32, so identical maths agrees to float32 rounding
    assert cut.curve_max_abs_diff_vs_reference < 1e-6
    assert cut.test_mse_mean == pytest.approx(s["uncut"].test_mse_mean, rel=1e-4)
    assert s["Q3"].num_cuts is None and s["uncut"].num_cuts is None


def test_second_call_reuses_finished_runs(tiny_study):
    cfg, root, first = tiny_study
    again = run_compare(load_compare_spec(cfg), root / "runs", root / "results2", quiet=True)
    assert all(r.reused for r in again.runs)
    assert [r.test_mse for r in again.runs] == [r.test_mse for r in first.runs]
    assert [(c.label, c.against, c.ratio) for c in again.comparisons] == [
        (c.label, c.against, c.ratio) for c in first.comparisons
    ]


# --- wording follows the statistics (synthetic per-seed values) ----------------------


def _records(label: str, values: list[float]) -> list[RunRecord]:
    return [
        RunRecord("t", label, s, "", 10, v, v, math.sqrt(v), 1.0, [v] * 10, [v] * 10, None)
        for s, v in enumerate(values)
    ]


def test_equivalence_words_follow_the_test_not_the_mean():
    rng = np.random.default_rng(0)
    cent = np.exp(rng.normal(np.log(1e-3), 0.3, 10))
    tight = cent * 1.02 * np.exp(rng.normal(0, 0.01, 10))  # mean ratio 1.02, tiny spread
    loose = cent * np.exp(rng.normal(0, 0.5, 10))  # mean ratio ~1 but seeds disagree wildly
    loose *= 1.0 / float(np.exp(np.mean(np.log(loose / cent))))  # geometric mean ratio exactly 1.00
    for values, verdict in ((tight, EQUIVALENT), (loose, NOT_SHOWN_EQUIVALENT)):
        c = paired("t", "dist", "cent", "centralised", dict(enumerate(values)), dict(enumerate(cent)))
        assert c.verdict == verdict
        text = "\n".join(render_task("t", [], [c], 0.10, 0.05))
        assert f"**{verdict}**" in text
    c = paired("t", "dist", "cent", "centralised", dict(enumerate(loose)), dict(enumerate(cent)))
    assert c.ratio == pytest.approx(1.0)  # a ratio of 1.00 that the old "<= 1.10" rule called "yes"


def test_baseline_statement_names_who_beats_whom():
    base = [BaselineRecord("t", "persistence", s, 1.0, 1e-2, 0.5) for s in range(5)]
    base += [BaselineRecord("t", "ar", s, 1.0, 1e-4, 0.05, {"p": 4}) for s in range(5)]
    good = {s: 1e-3 * (1 + 0.01 * s) for s in range(5)}  # 10x better than persistence, 10x worse than AR
    comps = [
        paired("t", "M", "persistence", "baseline", good, {b.seed: b.test_mse for b in base[:5]}),
        paired("t", "M", "AR(p)", "baseline", good, {b.seed: b.test_mse for b in base[5:]}),
    ]
    rows = baseline_summaries("t", base)
    rows.append(
        type(rows[0])(
            task="t",
            label="M",
            group="g",
            kind="lstm",
            seeds=5,
            test_mse_mean=1e-3,
            test_mse_low=1e-3,
            test_mse_high=1e-3,
            test_mse_std=0.0,
            test_nrmse_mean=0.1,
            test_nrmse_low=0.1,
            test_nrmse_high=0.1,
            train_mse_mean=1e-3,
        )
    )
    text = "\n".join(baseline_statement("t", rows, comps))
    assert "- persistence: beaten by M (0.10 [0.10, 0.10])" in text
    assert "- AR(p): beaten by no trained model; better than M (10.2" in text
    assert "best naive baseline is AR(p) (p=4)" in text and "no trained model beats every baseline" in text


def test_summarise_on_synthetic_runs(tmp_path):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    spec = load_compare_spec(cfg, variants=["Q3", "cut", "LSTM"])
    runs = [
        RunRecord(
            "narma5",
            r.label,
            r.seed,
            "",
            10,
            r.train_mse,
            r.test_mse,
            r.test_nrmse,
            1.0,
            r.train_curve,
            r.test_curve,
            None,
        )
        for label, vals in (("Q3", [1e-3, 2e-3, 3e-3]), ("cut", [1e-3, 2e-3, 3e-3]), ("LSTM", [5e-3] * 3))
        for r in _records(label, vals)
    ]
    base = [BaselineRecord("narma5", "persistence", s, 1.0, 4e-3, 0.5) for s in range(3)]
    rows, comps = summarise(spec, runs, base)
    by = {(c.label, c.against): c for c in comps}
    assert by[("cut", "Q3")].verdict == EQUIVALENT  # identical per-seed values
    assert by[("LSTM", "persistence")].words == "worse" and by[("Q3", "LSTM")].words == "better"
    assert [r.label for r in rows] == ["persistence", "Q3", "cut", "LSTM"]
    assert rows[1].train_loss_change == pytest.approx(1.0)


# --- specs ---------------------------------------------------------------------------


def test_quick_and_overrides(tiny_study):
    cfg, _, _ = tiny_study
    quick = load_compare_spec(cfg, quick=True)
    assert (quick.seeds, quick.epochs, [v.label for v in quick.variants]) == ((0, 1), 1, ["Q3", "LSTM"])
    over = load_compare_spec(cfg, quick=True, seeds=[3, 4], epochs=7, tasks=["oscillator"])
    assert (over.seeds, over.epochs, over.tasks) == ((3, 4), 7, ("oscillator",))
    cut_only = load_compare_spec(cfg, variants=["cut", "LSTM"])
    assert cut_only.variants[0].reference is None and cut_only.variants[0].centralised is None


@pytest.mark.parametrize(
    "old, new, match",
    [
        ('reference = "uncut"', 'reference = "nope"', "unknown variant 'nope'"),
        ('label = "Q3"', 'label = "LSTM"', "labels must be unique"),
        ("n_qubits = 3 }", "n_qubits = 3, lyers = 2 }", "lyers"),
        ('compare_to = ["LSTM"]', 'compare_to = ["GRU"]', "compare_to names unknown variant 'GRU'"),
        ('compare_to = ["LSTM"]', "margin = 1.5", "margin"),
        ('compare_to = ["LSTM"]', "alpha = 0.7", "alpha"),
        ('compare_to = ["LSTM"]', 'baselines = ["oracle"]', "unknown baselines"),
        ('compare_to = ["LSTM"]', 'baselines = ["arx"]', "arx needs data.features"),
        ('label = "Q3"', 'label = "persistence"', "names of naive baselines"),
    ],
)
def test_spec_errors(tmp_path, old, new, match):
    bad = tmp_path / "bad.toml"
    assert old in TINY
    bad.write_text(TINY.replace(old, new, 1))
    with pytest.raises(ConfigError, match=match):
        load_compare_spec(bad)


def test_shipped_chen_config_is_the_issue_design():
    spec = load_compare_spec(REPO / "experiments/configs/compare_chen.toml")
    assert spec.tasks == ("narma5", "narma10", "oscillator") and len(spec.seeds) >= 10 and spec.epochs == 100
    models = {v.label: spec.run_config("narma5", v, 0)["model"] for v in spec.variants}
    kinds = {(m["kind"], m.get("cell"), m.get("dressed"), m.get("mode")) for m in models.values()}
    assert ("lstm", None, None, None) in kinds
    assert ("qlstm", "6vqc", False, "exact") in kinds  # Chen-faithful reference
    assert ("qlstm", "4vqc", True, "exact") in kinds  # dressed centralised
    dist = [v for v in spec.variants if v.centralised]
    assert len(dist) == 1 and models[dist[0].label]["n_qubits"] == models[dist[0].centralised]["n_qubits"]
    plan = variant_plan(models[dist[0].label])  # links = 0: 2 fragments of 3 qubits, nothing cut
    assert (plan.num_fragments, plan.num_cuts, max(plan.fragment_widths)) == (2, 0, 3)
    # the cut-exact check runs the same model as fragments, in the same run folders
    check = load_compare_spec(REPO / "experiments/configs/compare_chen_cutcheck.toml")
    twin = [v for v in check.variants if v.reference]
    assert len(twin) == 1 and check.run_config("narma5", twin[0], 0)["model"]["mode"] == "cut-exact"
    ref = check.variant(twin[0].reference)
    assert ref.label == dist[0].label
    assert check.run_config("narma5", ref, 0) == spec.run_config("narma5", dist[0], 0)
    cut_model = dict(check.run_config("narma5", twin[0], 0)["model"], mode="exact")
    assert cut_model == models[dist[0].label]  # the same model but for the mode
    data = spec.data_config("narma5", 0)
    assert (data["features"], data["input"], data["window"]) == ("y", "sine", 4)
    assert spec.baseline_names("narma5") == ("persistence", "linear-extrapolation", "ar")


def test_shipped_standard_config_is_the_standard_narma_setup():
    spec = load_compare_spec(REPO / "experiments/configs/compare_standard.toml")
    assert set(spec.tasks) == {"narma5", "narma10"}
    for task, order in (("narma5", 5), ("narma10", 10)):
        data = spec.data_config(task, 3)
        assert data["features"] == "y+u" and data["input"] == "random" and data["warmup"] > 0
        assert data["window"] >= order and data["seed"] == 3  # each seed its own random input
        assert "arx" in spec.baseline_names(task)
    quick = load_compare_spec(REPO / "experiments/configs/compare_standard.toml", quick=True)
    assert quick.name.endswith("-quick") and quick.epochs < spec.epochs


def test_paper_config_still_loads():
    spec = load_compare_spec(REPO / "experiments/configs/compare_paper.toml", quick=True)
    assert spec.name == "paper-quick" and {"LSTM", "QLSTM 6q"} <= {v.label for v in spec.variants}


@pytest.mark.slow
def test_cli_compare_with_two_workers_equals_one(tmp_path, tiny_study):
    from dqlstm.cli import compare as compare_cli

    cfg, _, _ = tiny_study
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    compare_cli.register(sub)
    outs = {}
    for workers in (1, 2):
        args = parser.parse_args(
            [
                "compare",
                str(cfg),
                "--quick",
                "--out",
                str(tmp_path / f"r{workers}"),
                "--results",
                str(tmp_path / f"res{workers}"),
                "--quiet",
                "--workers",
                str(workers),
            ]
        )
        assert args.func(args) == 0
        outs[workers] = json.loads((tmp_path / f"res{workers}/summary.json").read_text())
    assert [r["test_mse"] for r in outs[1]["runs"]] == [r["test_mse"] for r in outs[2]["runs"]]
    table = (tmp_path / "res2/table.md").read_text()
    assert "| persistence |" in table and "| LSTM |" in table
    assert outs[2]["workers"] == 2
