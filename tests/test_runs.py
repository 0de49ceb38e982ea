"""The run folder's failure modes and what survives a resume, through ``dqlstm train``."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import torch
from tiny_configs import lstm_toml, sampled_toml, write_config

import dqlstm.training.run
from dqlstm.cli import main
from dqlstm.cost import add_costs


def metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if not line.startswith("epoch ")]  # a log's progress
    assert "Traceback" not in err and len(lines) == 1, err
    return lines[0]


def test_output_under_a_file_is_one_line_and_status_2(tmp_path, capsys):
    config = write_config(tmp_path, lstm_toml())
    (tmp_path / "afile").write_text("x")
    assert main(["train", config, "--out", str(tmp_path / "afile" / "run")]) == 2
    assert "afile exists and is not a folder" in one_error_line(capsys)


def test_read_only_folder_and_full_disk_are_one_line_and_status_2(tmp_path, capsys, monkeypatch):
    config = write_config(tmp_path, lstm_toml())

    def read_only(self, *a, **k):
        raise PermissionError(13, "Permission denied")

    with monkeypatch.context() as m:
        m.setattr(Path, "mkdir", read_only)
        assert main(["train", config, "--out", str(tmp_path / "ro")]) == 2
    assert "cannot write" in one_error_line(capsys)

    # the disk fills up while the second checkpoint is written
    saves = []
    real_save = torch.save

    def full_disk(obj, path):
        saves.append(path)
        if len(saves) == 2:
            raise OSError(28, "No space left on device")
        real_save(obj, path)

    out = tmp_path / "full"
    with monkeypatch.context() as m:
        m.setattr(torch, "save", full_disk)
        assert main(["train", config, "--out", str(out)]) == 2
    assert "checkpoint.pt: No space left on device" in one_error_line(capsys)
    assert not metrics(out)["finished"] and len(metrics(out)["epochs"]) == 1
    assert not list(out.glob("*.tmp"))
    # space again: the run resumes from the checkpoint that was written
    assert main(["train", config, "--out", str(out), "--resume", "--quiet"]) == 0
    assert metrics(out)["finished"] and len(metrics(out)["epochs"]) == 3


def test_ctrl_c_prints_the_checkpoint_and_the_resume_command(tmp_path, capsys, monkeypatch):
    config = write_config(tmp_path, lstm_toml())
    out = tmp_path / "run"
    real_epoch = dqlstm.training.run.train_epoch
    calls = []

    def interrupted_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(dqlstm.training.run, "train_epoch", interrupted_epoch)
        assert main(["train", config, "--seed", "3", "--epochs", "4", "--out", str(out)]) == 130
    err = one_error_line(capsys)
    assert f"checkpoint {out / 'checkpoint.pt'}" in err and f"--out {out} --resume" in err
    # the printed command, run as written, continues the run (its overrides included)
    again = shlex.split(err.split("continue with: ", 1)[1])
    assert again[:2] == ["dqlstm", "train"] and "--seed" in again and "--epochs" in again
    assert main([*again[1:], "--quiet"]) == 0
    resumed = metrics(out)
    assert main(["train", config, "--seed", "3", "--epochs", "4", "--out", str(tmp_path / "straight"), "--quiet"]) == 0
    straight = metrics(tmp_path / "straight")
    assert [e["test_loss"] for e in resumed["epochs"]] == [e["test_loss"] for e in straight["epochs"]]
    assert len(resumed["provenance"]) == 2


def test_ctrl_c_before_any_checkpoint_says_nothing_was_saved(tmp_path, capsys, monkeypatch):
    config = write_config(tmp_path, lstm_toml())
    with monkeypatch.context() as m:
        m.setattr(dqlstm.training.run, "train_epoch", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
        assert main(["train", config, "--out", str(tmp_path / "r")]) == 130
    assert "nothing saved" in one_error_line(capsys)


def test_sampled_runs_without_qpus_are_reproducible_and_resume_keeps_the_full_cost(tmp_path):
    config = write_config(tmp_path, sampled_toml())
    a, b, c = (tmp_path / n for n in "abc")
    assert main(["train", config, "--out", str(a), "--epochs", "1", "--quiet"]) == 0
    assert main(["train", config, "--out", str(b), "--epochs", "1", "--quiet"]) == 0
    assert metrics(a)["epochs"][0]["train_loss"] == metrics(b)["epochs"][0]["train_loss"]
    assert metrics(a)["final"] == metrics(b)["final"]
    # one epoch, then a new process trains the second: the same curve as straight through
    # (seeds follow the PUBs' content and draw counts), and the cost counts both processes
    assert main(["train", config, "--out", str(c), "--epochs", "1", "--quiet"]) == 0
    assert main(["train", config, "--out", str(c), "--epochs", "2", "--resume", "--quiet"]) == 0
    assert main(["train", config, "--out", str(tmp_path / "d"), "--epochs", "2", "--quiet"]) == 0
    losses = [[(e["train_loss"], e["test_loss"]) for e in metrics(out)["epochs"]] for out in (c, tmp_path / "d")]
    assert losses[0] == losses[1] and metrics(c)["final"] == metrics(tmp_path / "d")["final"]
    one, two = metrics(a)["cut"], metrics(c)["cut"]
    # two epochs and two final evaluations, against one of each; without the sum it would be about equal
    assert two["executed"]["total_shots"] > 1.8 * one["executed"]["total_shots"]
    assert two["evaluations"] > 1.8 * one["evaluations"]
    assert two["num_subexperiments"] == one["num_subexperiments"]


def test_sampled_runs_on_a_pool_without_its_own_seed_are_reproducible(tmp_path):
    qpus = '\n[qpus]\nengine = "local"\n\n[[qpus.devices]]\nname = "aer"\ncount = 2\nnum_qubits = 2\n'
    config = write_config(tmp_path, sampled_toml() + qpus)
    runs = [tmp_path / "p", tmp_path / "q"]
    for out in runs:
        assert main(["train", config, "--out", str(out), "--epochs", "1", "--quiet"]) == 0
    first, second = (metrics(out) for out in runs)
    assert first["epochs"][0]["train_loss"] == second["epochs"][0]["train_loss"] and first["final"] == second["final"]
    assert first["cut"]["pool"]["pubs"] > 0  # it ran on the pool


def test_add_costs_sums_counters_and_keeps_descriptions():
    earlier = {"num_cuts": 1, "evaluations": 3, "executed": {"total_shots": 100, "num_pubs": 2},
               "pool": {"qpus": {"a": {"num_qubits": 2, "shots": 10, "available": True}}, "retries": 1}}
    current = {"num_cuts": 1, "evaluations": 2, "executed": {"total_shots": 50, "num_pubs": 1},
               "pool": {"qpus": {"a": {"num_qubits": 2, "shots": 5, "available": False}}, "retries": 0}}
    total = add_costs(earlier, current)
    assert total["evaluations"] == 5 and total["executed"] == {"total_shots": 150, "num_pubs": 3}
    assert total["pool"]["qpus"]["a"] == {"num_qubits": 2, "shots": 15, "available": False}
    assert total["num_cuts"] == 1 and add_costs(None, None) is None


def test_a_study_results_folder_under_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["sweep", "--quick", "--no-timing", "--quiet", "--results", str(tmp_path / "afile" / "r")]) == 2
    assert "afile" in one_error_line(capsys)
