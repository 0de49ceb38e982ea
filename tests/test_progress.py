"""Progress of train / federate / compare / sweep: lines in a log, a bar on a terminal, nothing with --quiet.

pytest's capsys gives a stderr that is not a TTY: the log case.
"""

from __future__ import annotations

import re

import pytest
from tiny_configs import lstm_toml, sampled_toml, write_config

import dqlstm.progress
from dqlstm.cli import main
from dqlstm.progress import Heartbeat, Progress, count, duration

COMPARE = """
[study]
name = "tiny"
tasks = ["narma5"]
seeds = [0, 1]
epochs = 1

[base.data]
length = 30
[base.model]
hidden_size = 2
[base.train]
batch_size = 8

[[variant]]
label = "LSTM"
group = "classical"
model = { kind = "lstm" }
"""

SWEEP = '[sweep]\nname = "tiny"\nqubits = [4, 6]\ncapacities = [3]\nfamilies = ["modular-l1"]\nlayers = [1]\n'


def test_train_in_a_log_prints_one_plain_line_per_epoch(tmp_path, capsys):
    assert main(["train", write_config(tmp_path, lstm_toml()), "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"], err
    assert re.fullmatch(r"epoch 3/3: train \S+e[-+]\d+, test \S+e[-+]\d+, [\d.]+ s", lines[-1]), lines[-1]


def test_resumed_train_counts_from_the_resumed_epoch(tmp_path, capsys):
    config, out = write_config(tmp_path, lstm_toml()), str(tmp_path / "r")
    assert main(["train", config, "--out", out, "--epochs", "1", "--quiet"]) == 0
    assert main(["train", config, "--out", out, "--resume"]) == 0
    assert [line.split(":")[0] for line in capsys.readouterr().err.splitlines()] == ["epoch 2/3", "epoch 3/3"]


def test_quiet_prints_nothing(tmp_path, capsys):
    assert main(["train", write_config(tmp_path, lstm_toml()), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")


def test_terminal_gets_the_bar_and_no_lines(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(dqlstm.progress, "is_tty", lambda: True)
    assert main(["train", write_config(tmp_path, lstm_toml()), "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert "3/3" in err and "epoch 1/3:" not in err  # tqdm's frames, not log lines


def test_sampled_run_reports_the_work_inside_an_epoch(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(dqlstm.progress, "HEARTBEAT_SECONDS", 0.0)  # a line after every mini-batch
    assert main(["train", write_config(tmp_path, sampled_toml(epochs=1)), "--out", str(tmp_path / "s")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    inside = [line for line in err.splitlines() if "so far this epoch" in line]
    assert inside and re.fullmatch(r"epoch 1/1: [\d,]+ circuits evaluated so far this epoch, \S+( [kMGT])? shots",
                                   inside[0]), err
    done = err.splitlines()[-1]
    assert done.startswith("epoch 1/1: train ") and done.endswith(" shots"), err


def test_federate_in_a_log_prints_one_line_per_round(tmp_path, capsys):
    config = write_config(tmp_path, '[data]\ntask = "susy"\nevents = 80\n[model]\nkind = "lstm"\nhidden_size = 2\n'
                             "[federated]\nclients = 2\nrounds = 2\n")
    assert main(["federate", config, "--out", str(tmp_path / "f")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert len(lines) == 2 and lines[1].startswith("round 2/2: test loss ") and ", auc 0." in lines[1], err


def test_compare_in_a_log_prints_one_line_per_run(tmp_path, capsys):
    cfg = write_config(tmp_path, COMPARE)
    args = ["compare", cfg, "--out", str(tmp_path / "runs"), "--results", str(tmp_path / "res")]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    assert [line.split(" done")[0] for line in err.splitlines()] == [
        "compare: run 1/2: narma5 / LSTM / seed 0", "compare: run 2/2: narma5 / LSTM / seed 1"], err
    assert main([*args, "--quiet"]) == 0  # a second call reuses the runs, and says nothing
    assert capsys.readouterr() == ("", "")


def test_sweep_in_a_log_prints_plain_lines(tmp_path, capsys):
    args = ["sweep", write_config(tmp_path, SWEEP), "--results", str(tmp_path / "out"), "--no-timing"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert lines == [line for line in lines if line.startswith("sweep: plan ")] and lines[-1].startswith(
        "sweep: plan 2/2: modular-l1 L1 n=6 QPU=3 (1 planned, 1 skipped, "), err  # n=4: not whole modules
    assert main([*args, "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_heartbeat_reports_the_counters_since_the_step_began(capsys, monkeypatch):
    monkeypatch.setattr(dqlstm.progress, "is_tty", lambda: False)
    executed = {"num_pubs": 1, "num_circuits": 100, "total_shots": 10_000}
    progress = Progress(5, label="epoch", desc="x", unit="epoch", initial=2)
    beat = Heartbeat(progress, lambda: {"executed": dict(executed)})
    assert beat.enabled
    beat.begin()
    executed.update(num_circuits=1_334, total_shots=12_310_000)
    beat()  # within the interval: silent
    monkeypatch.setattr(dqlstm.progress, "HEARTBEAT_SECONDS", 0.0)
    beat()
    assert capsys.readouterr().err == "epoch 3/5: 1,234 circuits evaluated so far this epoch, 12.3 M shots\n"
    # nothing shot-based, or nothing shown: no heartbeat, and the counters are never read again
    assert not Heartbeat(progress, lambda: {"num_cuts": 1}).enabled
    assert not Heartbeat(Progress(5, label="epoch", desc="x", unit="epoch", quiet=True), lambda: {"executed": {}}).enabled


@pytest.mark.parametrize("n, text", [(0, "0"), (1234, "1,234"), (99_999, "99,999"), (123_456, "123 k"),
                                     (12_345_678, "12.3 M"), (4.56e9, "4.56 G")])
def test_count(n, text):
    assert count(n) == text


def test_duration():
    assert [duration(s) for s in (0.04, 0.7, 12.3, 210, 9000)] == ["0.04 s", "0.7 s", "12 s", "3.5 min", "2.5 h"]
