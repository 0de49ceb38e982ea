"""The noise study: spec checks, and a tiny sampled run on noisy Aer QPUs (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dqlstm.config import ConfigError
from dqlstm.studies.noise import load_noise_spec, run_noise

REPO = Path(__file__).resolve().parents[1]

TINY = """
[noise]
name = "tiny"
seeds = [0]
fake_backend = "FakeManilaV2"
shots = 200
conditions = ["exact", "sampled-noiseless", "sampled-noisy"]

[base.data]
task = "narma5"
length = 9
window = 4
train_fraction = 0.5

[base.model]
kind = "qlstm"
ansatz = "modular"
n_qubits = 6
module_size = 3
links = 0
max_qubits = 3
hidden_size = 1
layers = 1

[base.train]
epochs = 1
batch_size = 4
"""


def test_shipped_noise_config_loads():
    spec = load_noise_spec(REPO / "experiments/configs/noise_fake.toml")
    assert spec.conditions == ("exact", "sampled-noiseless", "sampled-noisy")
    assert spec.run_config(0)["model"]["max_qubits"] == 3


def test_noise_spec_errors(tmp_path):
    p = tmp_path / "n.toml"
    p.write_text(TINY.replace('"sampled-noisy"]', '"noisy"]'))
    with pytest.raises(ConfigError, match="unknown conditions \\['noisy'\\]"):
        load_noise_spec(p)
    p.write_text(TINY.replace('fake_backend = "FakeManilaV2"\n', ""))
    with pytest.raises(ConfigError, match="fake_backend is required"):
        load_noise_spec(p)
    p.write_text(TINY.replace("max_qubits = 3\n", ""))
    with pytest.raises(ConfigError, match="max_qubits"):
        load_noise_spec(p)


@pytest.mark.slow
def test_tiny_noise_run(tmp_path):
    p = tmp_path / "n.toml"
    p.write_text(TINY)
    runs = run_noise(load_noise_spec(p), tmp_path / "out", quiet=True)
    by = {r.condition: r for r in runs}
    # same initial weights: after one epoch the noiseless sampled run is close to exact
    assert abs(by["sampled-noiseless"].train_curve[0] - by["exact"].train_curve[0]) < 0.05
    assert by["sampled-noisy"].cut["num_subexperiments"] == 2
    for name in ("noise.md", "noise.csv", "noise.json", "noise_loss.png", "noise_predictions.png"):
        assert (tmp_path / "out" / name).is_file()
    assert len(json.loads((tmp_path / "out/noise.json").read_text())["runs"]) == 3
