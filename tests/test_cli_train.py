"""``dqlstm train`` end to end on tiny runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dqlstm.cli import main

TINY = """
[data]
task = "narma5"
length = 60

[model]
kind = "lstm"
hidden_size = 3

[train]
epochs = 5
batch_size = 10
"""


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def read_metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def test_train_writes_a_run_with_overrides(tiny_config, tmp_path, capsys):
    out = tmp_path / "out"
    # --mode sets the QLSTM's engine: on an LSTM config it is an error that names it, and nothing is written
    assert main(["train", str(tiny_config), "--out", str(out), "--mode", "cut-exact"]) == 2
    assert "[model] mode does not apply to kind = 'lstm'" in capsys.readouterr().err and not out.exists()
    rc = main(["train", str(tiny_config), "--epochs", "2", "--out", str(out), "--seed", "4"])
    assert rc == 0
    metrics = read_metrics(out)
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]
    assert metrics["config"]["train"]["seed"] == 4 and metrics["config"]["data"]["seed"] == 4
    assert metrics["provenance"][0]["git_commit"] and "train" in metrics["provenance"][0]["command"]
    assert metrics["config"]["run"]["out"] == str(out)
    assert {"config.toml", "checkpoint.pt", "predictions.png", "loss.png"} <= {p.name for p in out.iterdir()}
    summary = capsys.readouterr().out
    assert "LSTM on narma5" in summary and "test MSE" in summary


def test_default_out_dir_overwrite_protection_and_resume(tiny_config, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", str(tiny_config), "--epochs", "1", "--quiet"]) == 0
    out = tmp_path / "runs" / "tiny"
    assert len(read_metrics(out)["epochs"]) == 1
    assert capsys.readouterr().out == ""  # --quiet

    assert main(["train", str(tiny_config), "--epochs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "dqlstm train: error:" in err and "already holds a finished run" in err and "--force" in err

    assert main(["train", str(tiny_config), "--epochs", "3", "--resume", "--quiet"]) == 0
    assert [e["epoch"] for e in read_metrics(out)["epochs"]] == [1, 2, 3]
    assert main(["train", str(tiny_config), "--epochs", "1", "--force", "--quiet"]) == 0
    assert [e["epoch"] for e in read_metrics(out)["epochs"]] == [1]


def test_user_errors_are_reported_cleanly(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nepocs = 3\n")
    assert main(["train", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'epocs' in section [train]" in err and "did you mean 'epochs'" in err
    assert main(["train", str(tmp_path / "nope.toml")]) == 2
    assert "config file not found" in capsys.readouterr().err
    assert main(["train", str(bad), "--epochs", "-1"]) == 2
    assert "epocs" in capsys.readouterr().err  # file errors come first
    tiny = tmp_path / "tiny.toml"
    tiny.write_text(TINY)
    assert main(["train", str(tiny), "--epochs", "-1"]) == 2
    assert "(with command-line overrides): [train] epochs must be >= 0, got -1" in capsys.readouterr().err
    assert main(["train", str(tiny), "--mode", "cut_exact"]) == 2
    assert "did you mean 'cut-exact'" in capsys.readouterr().err


def test_packaged_default_config_from_any_directory(tmp_path, monkeypatch):
    pytest.importorskip("dqlstm.models.qlstm")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--epochs", "1", "--quiet"]) == 0
    metrics = read_metrics(tmp_path / "runs" / "default")
    assert metrics["model"]["class"] == "QLSTM"
    assert metrics["config"]["data"]["task"] == "narma5"
    assert metrics["data"]["num_train"] == 198


@pytest.mark.slow  # a fresh interpreter imports torch and qiskit: ~10 s on a busy box
def test_console_module_entry_point(tiny_config, tmp_path):
    out = tmp_path / "sub"
    proc = subprocess.run(
        [sys.executable, "-m", "dqlstm", "train", str(tiny_config), "--epochs", "1", "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(read_metrics(out)["epochs"]) == 1
