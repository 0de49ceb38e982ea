"""``dqlstm estimate``: the counted QPU work equals what a run executes, exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_configs import sampled_toml, write_config

from dqlstm.cli import main
from dqlstm.estimate import batch_sizes, estimate_config

SAMPLED_TWO_EPOCHS = sampled_toml(epochs=2)


POOL = """
[qpus]
engine = "local"
seed = 3

[[qpus.devices]]
kind = "aer"
name = "aer"
count = 2
num_qubits = 2
"""

EXACT = SAMPLED_TWO_EPOCHS.replace('mode = "sampled"', 'mode = "exact"').replace("shots = 20\n", "")


def executed(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())["cut"]["executed"]


def estimated(capsys, config: str, epochs: int) -> dict:
    assert main(["estimate", config, "--json", "--epochs", str(epochs)]) == 0
    return json.loads(capsys.readouterr().out)


def assert_same_work(est: dict, run: dict) -> None:
    total = est["total"]
    assert (total["pubs"], total["circuits"], total["shots"]) == (
        run["num_pubs"], run["num_circuits"], run["total_shots"])


@pytest.mark.parametrize("epochs, pool", [(1, ""), (2, POOL)], ids=["1-epoch-local-sampler", "2-epochs-pool"])
def test_estimate_equals_what_the_run_executed(tmp_path, capsys, epochs, pool):
    config = write_config(tmp_path, SAMPLED_TWO_EPOCHS + pool)
    est = estimated(capsys, config, epochs)
    out = tmp_path / "run"
    assert main(["train", config, "--epochs", str(epochs), "--out", str(out), "--quiet"]) == 0
    assert_same_work(est, executed(out))
    per_qpu = est["total"]["per_qpu"]
    assert sum(q["circuits"] for q in per_qpu.values()) == est["total"]["circuits"]
    if pool:
        assert set(per_qpu) == {"aer0", "aer1"} and all(q["pubs"] > 0 for q in per_qpu.values())


def test_epochs_scale_and_the_final_predictions_count_once(tmp_path):
    config = write_config(tmp_path, SAMPLED_TWO_EPOCHS)
    one, three = (estimate_config(config, e) for e in (1, 3))
    final = one.total.total.circuits - one.per_epoch.total.circuits  # predict on train and test
    assert final > 0
    assert three.total.total.circuits == 3 * one.per_epoch.total.circuits + final
    assert one.total.total.shots == 20 * one.total.total.circuits
    assert one.total.total.qpu_seconds > 0


def test_json_has_the_levels_and_their_figures(tmp_path, capsys):
    est = estimated(capsys, write_config(tmp_path, SAMPLED_TWO_EPOCHS), 1)
    for level in ("per_step", "per_epoch", "total"):
        assert {"circuits", "shots", "qpu_seconds", "pubs", "per_qpu"} <= set(est[level])
    assert est["on_qpus"] and est["workload"]["seq"] == 4


def test_table_names_the_levels(tmp_path, capsys):
    assert main(["estimate", write_config(tmp_path, SAMPLED_TWO_EPOCHS)]) == 0
    text = capsys.readouterr().out
    assert all(word in text for word in ("step", "epoch", "run", "calibrated on this machine"))


def test_exact_mode_reports_no_qpu_work(tmp_path, capsys):
    est = estimated(capsys, write_config(tmp_path, EXACT), 2)
    assert not est["on_qpus"] and "nothing runs on QPUs" in est["note"]
    for level in ("per_step", "per_epoch", "total"):
        assert (est[level]["circuits"], est[level]["shots"], est[level]["qpu_seconds"]) == (0, 0, 0.0)


def test_cut_exact_reports_the_plan(tmp_path, capsys):
    est = estimated(capsys, write_config(tmp_path, SAMPLED_TWO_EPOCHS.replace('"sampled"', '"cut-exact"').replace("shots = 20\n", "")), 1)
    assert not est["on_qpus"] and est["total"]["circuits"] == 0 and est["plan"]["num_subexperiments"] > 0


def test_missing_config_is_one_line_and_status_2(tmp_path, capsys):
    assert main(["estimate", str(tmp_path / "nope.toml")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not found" in err and "Traceback" not in err


def test_study_specs_are_refused_in_one_line(tmp_path, capsys):
    assert main(["estimate", write_config(tmp_path, "[sweep]\nqubits = [4]\n")]) == 2
    assert "not a training config" in capsys.readouterr().err


def test_batch_sizes_include_the_smaller_last_batch():
    assert batch_sizes(10, 4) == {4: 2, 2: 1}
    assert batch_sizes(8, 4) == {4: 2}
    assert batch_sizes(3, 4) == {3: 1}


def test_counts_without_timing_equal_the_timed_ones_and_price_any_batch(tmp_path):
    from dqlstm.config import load_config
    from dqlstm.estimate import estimate

    cfg = load_config(write_config(tmp_path, SAMPLED_TWO_EPOCHS + POOL))
    timed, counted = estimate(cfg), estimate(cfg, timing=False)
    for a, b in ((timed.total, counted.total), (timed.per_epoch, counted.per_epoch)):
        assert (a.total.pubs, a.total.circuits, a.total.shots) == (b.total.pubs, b.total.circuits, b.total.shots)
    assert counted.total.total.qpu_seconds == 0 and timed.total.total.qpu_seconds > 0
    assert set(counted.total.per_qpu) == {"aer0", "aer1"}
    # a step is linear in the batch: B bindings per gate circuit and sub-experiment
    price = counted.pricer
    assert price.step(3).total.circuits == 3 * price.step(1).total.circuits
    assert price.step(4).total.shots == counted.per_step.total.shots
