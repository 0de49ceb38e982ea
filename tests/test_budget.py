"""``[budget]``: refused before anything runs, stopped at a step boundary, resumed bit-identically.

Shots of the tiny sampled config (batch 2, so 2 optimiser steps per epoch), counted by hand
from its plan: a forward call on ``B`` samples runs 10 sub-experiments x 4 gates x ``B`` x 4
time steps x 20 shots = 3,200 ``B`` shots; a step on 2 samples 134,400 shots, the test-set
evaluation (2 windows) 6,400, an epoch 275,200, the final predictions 19,200, 2 epochs 569,600.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import torch
from tiny_configs import sampled_toml, write_config

from dqlstm.budget import BUDGET_EXIT, MeteredSampler, Spent
from dqlstm.cli import main

CONFIG = sampled_toml(epochs=2).replace("batch_size = 4", "batch_size = 2")
TOTAL, STEP, EVAL, FINAL = 569_600, 134_400, 6_400, 19_200


def budgeted(tmp_path: Path, max_shots: int | None = None, max_qpu_seconds: float | None = None) -> str:
    lines = ["\n[budget]"]
    if max_shots is not None:
        lines.append(f"max_shots = {max_shots}")
    if max_qpu_seconds is not None:
        lines.append(f"max_qpu_seconds = {max_qpu_seconds}")
    return write_config(tmp_path, CONFIG + "\n".join(lines) + "\n")


def metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_a_run_over_budget_is_refused_before_anything_runs(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", budgeted(tmp_path, max_shots=TOTAL - 1), "--out", str(out), "--quiet"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "max_shots = 569,599" in line and f"{TOTAL:,} shots" in line and "--until-budget" in line
    assert not out.exists()  # no folder, no training
    assert main(["estimate", budgeted(tmp_path, max_shots=TOTAL - 1), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["budget"] == {"max_shots": TOTAL - 1, "fits_max_shots": False}
    assert main(["estimate", budgeted(tmp_path, max_shots=TOTAL)]) == 0
    assert "budget: max_shots = 569,600 fits" in capsys.readouterr().out


def test_qpu_seconds_are_refused_from_the_calibrated_estimate(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", budgeted(tmp_path, max_qpu_seconds=1e-6), "--out", str(out), "--quiet"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "max_qpu_seconds = 1e-06" in line and "calibrated on this machine" in line
    assert not out.exists()
    # started anyway, it stops before the first step (its estimate alone passes the cap) ...
    assert (
        main(
            [
                "train",
                budgeted(tmp_path, max_qpu_seconds=1e-6),
                "--out",
                str(out),
                "--quiet",
                "--until-budget",
            ]
        )
        == BUDGET_EXIT
    )
    line = one_line(capsys.readouterr().err)
    assert "max_qpu_seconds = 1e-06: spent 0 s of QPU time, mini-batch 1/2 of epoch 1 needs about" in line
    assert metrics(out)["budget"]["position"] == {"epoch": 1, "batches_done": 0, "num_batches": 2}
    # ... and without the cap it resumes from there to the end, counting the QPU seconds it spent
    assert main(["train", write_config(tmp_path, CONFIG), "--out", str(out), "--quiet", "--resume"]) == 0
    m = metrics(out)
    assert m["finished"] and m["cut"]["executed"]["total_shots"] == TOTAL
    assert m["cut"]["pool"]["qpus"]["local-aer"]["seconds"] > 0


def test_a_budget_that_fits_exactly_runs_to_the_end(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", budgeted(tmp_path, max_shots=TOTAL), "--out", str(out), "--quiet"]) == 0
    m = metrics(out)
    assert m["finished"] and "stopped" not in m
    assert m["budget"]["spent"]["shots"] == m["cut"]["executed"]["total_shots"] == TOTAL
    assert m["budget"]["spent"]["qpu_seconds"] > 0  # the metered local sampler's busy seconds


def _weights(out: Path) -> dict:
    return torch.load(out / "checkpoint.pt", weights_only=False)["model"]


def test_stops_at_budget_and_resumes_to_the_unbudgeted_run_bit_for_bit(tmp_path, capsys):
    plain = tmp_path / "plain"
    assert main(["train", write_config(tmp_path, CONFIG, "plain.toml"), "--out", str(plain), "--quiet"]) == 0
    reference = metrics(plain)
    out = tmp_path / "run"

    def train(max_shots: int, *flags: str) -> int:
        return main(["train", budgeted(tmp_path, max_shots=max_shots), "--out", str(out), "--quiet", *flags])

    # 1. inside epoch 1: the second step would pass 150,000
    capsys.readouterr()
    assert train(150_000, "--until-budget") == BUDGET_EXIT
    line = one_line(capsys.readouterr().err)
    assert "[budget] max_shots = 150,000: spent 134,400 shots, mini-batch 2/2 of epoch 1" in line
    assert line.endswith(f"--until-budget --out {out} --resume")
    m = metrics(out)
    assert m["stopped"] == "budget" and not m["finished"] and m["epochs"] == []
    assert m["budget"]["position"] == {"epoch": 1, "batches_done": 1, "num_batches": 2}
    # 2. the resume (budget raised) finishes epoch 1 and stops before epoch 2's first step
    assert train(280_000, "--until-budget", "--resume") == BUDGET_EXIT
    assert "mini-batch 1/2 of epoch 2" in one_line(capsys.readouterr().err)
    assert metrics(out)["budget"]["spent"]["shots"] == STEP * 2 + EVAL
    # 3. a resume whose remaining estimate does not fit is refused (and changes nothing)
    before = (out / "checkpoint.pt").read_bytes()
    assert train(560_000, "--resume") == 2
    assert f"{TOTAL:,} shots in all (275,200 already spent)" in one_line(capsys.readouterr().err)
    assert (out / "checkpoint.pt").read_bytes() == before
    # 4. both steps of epoch 2 fit, its evaluation plus the final predictions do not
    assert train(TOTAL - 1, "--until-budget", "--resume") == BUDGET_EXIT
    assert "the test-set evaluation and the final predictions after epoch 2 needs 25,600" in one_line(
        capsys.readouterr().err
    )
    assert metrics(out)["budget"]["position"]["batches_done"] == 2
    # 5. enough: the run finishes as the unbudgeted one did
    assert train(TOTAL, "--resume") == 0
    m = metrics(out)
    assert m["finished"] and len(m["provenance"]) == 4  # the refused one trained nothing
    for a, b in zip(m["epochs"], reference["epochs"], strict=True):
        assert (a["train_loss"], a["test_loss"]) == (b["train_loss"], b["test_loss"])
    assert m["final"] == reference["final"]
    assert m["cut"]["executed"] == reference["cut"]["executed"]
    assert m["cut"]["evaluations"] == reference["cut"]["evaluations"]
    assert m["cut"]["pool"]["qpus"]["local-aer"]["shots"] == TOTAL
    a, b = _weights(out), _weights(plain)
    assert all(torch.equal(a[k], b[k]) for k in b)


def test_spent_counts_what_the_qpus_ran_retries_included(tmp_path, capsys, monkeypatch):
    # Stalled jobs time out and are rerouted; their late results ran too, so the QPUs' shots
    # exceed the executor's, and the budget counts the QPUs'.
    import dqlstm.training.run as run_module
    from backends import AerQPU, FaultyQPU, QPUPool

    @contextlib.contextmanager
    def stalling_pool(cfg, seed=None):
        qpus = [FaultyQPU(AerQPU(f"q{i}", 2), stall_rate=0.08, stall_seconds=0.3, seed=i) for i in range(2)]
        with QPUPool(qpus, seed=1, timeout=0.05, retries=20, backoff=0.001) as pool:
            yield pool

    monkeypatch.setattr(run_module, "open_pool", stalling_pool)
    out = tmp_path / "run"
    code = main(
        [
            "train",
            budgeted(tmp_path, max_shots=2 * STEP + EVAL),
            "--out",
            str(out),
            "--quiet",
            "--until-budget",
        ]
    )
    assert code == BUDGET_EXIT
    m = metrics(out)
    ran = sum(q["shots"] for q in m["cut"]["pool"]["qpus"].values())
    assert m["cut"]["pool"]["retries"] > 0 and ran > m["cut"]["executed"]["total_shots"]
    assert m["budget"]["spent"]["shots"] == ran  # what ran, not what was asked for
    # the guard saw the retried shots: it stopped before a step it would have allowed by the executor's count
    assert m["cut"]["executed"]["total_shots"] < 2 * STEP + EVAL


def test_spent_reads_the_pool_statistics_else_the_executed_shots():
    pool = {"qpus": {"a": {"shots": 10, "seconds": 1.5}, "b": {"shots": 5, "seconds": 0.5}}}
    assert Spent.from_cut({"executed": {"total_shots": 12}, "pool": pool}) == Spent(15, 2.0)
    assert Spent.from_cut({"executed": {"total_shots": 12}}) == Spent(12, 0.0)
    assert Spent.from_cut(None) == Spent()


def test_the_metered_sampler_counts_bindings_times_shots():
    class Echo:
        def run(self, pubs):
            return list(range(len(pubs)))

    import numpy as np

    sampler = MeteredSampler(Echo(), "local", 2)
    assert sampler.run([(None, np.zeros((3, 1)), 7), (None, np.zeros((2, 4, 5, 1)), 10)]) == [0, 1]
    stats = sampler.stats
    assert stats.pubs == 2 and stats.qpus["local"].shots == 3 * 7 + 40 * 10 and stats.qpus["local"].jobs == 2


def test_an_spsa_run_fits_a_cap_only_the_parameter_shift_run_passes(tmp_path, capsys):
    """SPSA runs every circuit twice per row whatever the parameters: a step on 2 samples costs 3 forward
    passes' worth, 3 x 3,200 x 2 = 19,200 shots (parameter shift: 134,400); 2 epochs of 2 steps and an
    evaluation each, then the final predictions: 2 x (2 x 19,200 + 6,400) + 19,200 = 108,800. A cap
    between the two totals refuses the parameter-shift run and lets the SPSA run finish."""
    spsa_step = 3 * 3_200 * 2
    spsa_total = 2 * (2 * spsa_step + EVAL) + FINAL
    cap = (spsa_total + TOTAL) // 2
    assert spsa_total < cap < TOTAL
    out = tmp_path / "ps"
    assert main(["train", budgeted(tmp_path, max_shots=cap), "--out", str(out), "--quiet"]) == 2
    assert f"{TOTAL:,} shots" in one_line(capsys.readouterr().err)
    spsa = CONFIG.replace("shots = 20\n", 'shots = 20\ngradient = "spsa"\n')
    config = write_config(tmp_path, spsa + f"\n[budget]\nmax_shots = {cap}\n", "spsa.toml")
    out = tmp_path / "spsa"
    assert main(["train", config, "--out", str(out), "--quiet"]) == 0
    m = metrics(out)
    assert m["finished"] and "stopped" not in m
    assert m["budget"]["spent"]["shots"] == m["cut"]["executed"]["total_shots"] == spsa_total


def test_ctrl_c_after_a_budget_stop_inside_an_epoch_names_that_position(tmp_path, capsys, monkeypatch):
    import dqlstm.training.run as run_module

    out = tmp_path / "run"
    config = budgeted(tmp_path, max_shots=150_000)
    assert main(["train", config, "--out", str(out), "--quiet", "--until-budget"]) == BUDGET_EXIT
    capsys.readouterr()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "run_training", interrupted)  # Ctrl-C in the resumed run
    assert main(["train", config, "--out", str(out), "--quiet", "--resume"]) == 130
    line = one_line(capsys.readouterr().err)
    assert "holds epoch 0 and 1/2 mini-batches of epoch 1; continue with:" in line
    assert "last finished epoch" not in line
