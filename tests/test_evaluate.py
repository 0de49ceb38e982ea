"""``dqlstm evaluate``: a trained QLSTM deployed on QPUs, checked against its exact test MSE."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tiny_configs import lstm_toml, sampled_toml, write_config

from dqlstm.assemble import build_model
from dqlstm.cli import main
from dqlstm.data.dataset import load_dataset

# the tiny modular QLSTM (1 cut, 2-qubit fragments) on a 20-point series: 10 train, 6 test windows
SAMPLED = sampled_toml(epochs=1).replace("length = 10", "length = 20").replace("batch_size = 4", "batch_size = 12")
EXACT = SAMPLED.replace('mode = "sampled"', 'mode = "exact"').replace("shots = 20\n", "")
AER = '[qpus]\nengine = "local"\n\n[[qpus.devices]]\nkind = "aer"\nname = "aer"\ncount = 2\nnum_qubits = 2\n'
NOISY = AER.replace('name = "aer"', 'name = "manila"') + 'noise = { fake_backend = "FakeManilaV2" }\n'


@pytest.fixture(scope="module")
def exact_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("exact")
    out = folder / "run"
    assert main(["train", write_config(folder, EXACT), "--out", str(out), "--quiet"]) == 0
    return out


def evaluate(capsys, run: Path, *args: str) -> dict:
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def exact_mse(run: Path) -> float:
    """The reference: the checkpoint's weights in the uncut exact engine (another engine than evaluate's)."""
    ckpt = torch.load(run / "checkpoint.pt", weights_only=False)
    cfg = ckpt["config"]
    data = load_dataset(cfg["data"])
    model = build_model({**cfg["model"], "mode": "exact"}, data.num_features, 1, seed=0)
    model.load_state_dict(ckpt["model"])
    model.eval()
    with torch.no_grad():
        pred = model(torch.as_tensor(data.x_test, dtype=next(model.parameters()).dtype)).double()
    return float(((pred - torch.as_tensor(data.y_test)) ** 2).mean())


def test_many_shots_on_an_ideal_pool_agree_with_the_exact_mse(exact_run, tmp_path, capsys):
    qpus = write_config(tmp_path, AER, "aer.toml")
    ev = evaluate(capsys, exact_run, "--qpus", qpus, "--shots", "20000", "--repeats", "6")
    reference = exact_mse(exact_run)
    assert ev["exact_test_mse"] == pytest.approx(reference, rel=1e-9)  # cut-exact = exact
    assert ev["shot_stderr"] > 0 and ev["test_set_stderr"] > 0 and ev["num_test"] == 6
    # shot noise only (the bias, prediction_variance, is far smaller than the stderr here)
    assert ev["prediction_variance"] < 0.1 * ev["shot_stderr"]
    assert abs(ev["test_mse"] - reference) < 4 * ev["shot_stderr"]
    assert ev["shot_stderr"] < 0.02 * reference  # and the error bar is tight: the test can fail
    # cost: exactly what the repetitions ran, on the two QPUs of the pool
    c = ev["cost"]
    assert c["shots"] == c["qpu_shots"] == c["circuits"] * 20000 and c["qpu_seconds"] > 0
    assert set(c["per_qpu"]) == {"aer0", "aer1"} and c["sampling_overhead"] == pytest.approx(9.0)
    # provenance, written into the run folder
    written = json.loads((exact_run / "evaluations" / "aer-20000shots.json").read_text())
    assert written["test_mse"] == ev["test_mse"] and written["provenance"]["git_commit"]
    assert ev["trained_mode"] == "exact"


def test_the_shot_stderr_tracks_the_spread_of_fewer_shots(exact_run, tmp_path, capsys):
    # 100x fewer shots: the MSE's spread over repetitions grows about 10x
    qpus = write_config(tmp_path, AER, "aer.toml")
    many = evaluate(capsys, exact_run, "--qpus", qpus, "--shots", "20000", "--repeats", "6", "--out",
                    str(tmp_path / "a.json"))
    few = evaluate(capsys, exact_run, "--qpus", qpus, "--shots", "200", "--repeats", "6", "--out",
                   str(tmp_path / "b.json"))
    assert 3 < few["shot_std"] / many["shot_std"] < 30
    assert not (exact_run / "evaluations" / "aer-200shots.json").exists()  # --out: not in the run folder


def test_a_noisy_fake_manila_pool_runs_and_reports_its_cost(exact_run, tmp_path, capsys):
    qpus = write_config(tmp_path, NOISY, "manila.toml")
    ev = evaluate(capsys, exact_run, "--qpus", qpus, "--shots", "500", "--repeats", "2")
    c = ev["cost"]
    assert c["pubs"] == 2 * 10 * 4 and c["shots"] == c["circuits"] * 500  # 2 x 10 sub-experiments x 4 steps
    assert set(c["per_qpu"]) == {"manila0", "manila1"} and c["qpu_seconds"] > 0
    assert ev["pool"] == "manila" and (exact_run / "evaluations" / "manila-500shots.json").is_file()


def test_text_output_names_both_error_bars(exact_run, capsys):
    capsys.readouterr()
    assert main(["evaluate", str(exact_run), "--shots", "100", "--repeats", "2", "--out",
                 str(exact_run.parent / "t.json")]) == 0
    text = capsys.readouterr().out
    assert "shot noise" in text and "finite test set" in text and "cut-exact" in text and "QPU time" in text


def test_a_cut_exact_trained_run_loads(tmp_path, capsys):
    out = tmp_path / "run"
    config = write_config(tmp_path, EXACT.replace('mode = "exact"', 'mode = "cut-exact"'))
    assert main(["train", config, "--out", str(out), "--quiet"]) == 0
    ev = evaluate(capsys, out, "--shots", "100", "--repeats", "2")
    assert ev["trained_mode"] == "cut-exact" and ev["run_finished"]
    assert ev["exact_test_mse"] == pytest.approx(exact_mse(out), rel=1e-9)


def test_what_cannot_be_evaluated_is_named(tmp_path, capsys):
    lstm = tmp_path / "lstm"
    assert main(["train", write_config(tmp_path, lstm_toml(epochs=1)), "--out", str(lstm), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(lstm)]) == 2
    assert "'lstm' model: only a QLSTM has circuits" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["evaluate", str(empty)]) == 2
    assert "has no checkpoint.pt" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    no_qpus = write_config(tmp_path, "[model]\nkind = 'qlstm'\n", "x.toml")
    assert main(["evaluate", str(lstm), "--qpus", no_qpus]) == 2
    assert "has no [qpus] table" in capsys.readouterr().err


def test_a_sampled_trained_run_evaluates_with_its_own_shots(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", write_config(tmp_path, SAMPLED), "--out", str(out), "--quiet"]) == 0
    ev = evaluate(capsys, out, "--repeats", "2")
    assert ev["shots"] == 20 and ev["cost"]["shots"] == ev["cost"]["circuits"] * 20


def test_an_uncut_ansatz_needs_a_pool_to_set_its_cut(tmp_path, capsys):
    out = tmp_path / "run"
    config = EXACT.replace('ansatz = "modular"\nmodule_size = 2\nlinks = 1\n', 'ansatz = "chen2020"\n').replace(
        "n_qubits = 4", "n_qubits = 3")
    assert 'ansatz = "chen2020"' in config
    assert main(["train", write_config(tmp_path, config), "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--repeats", "2"]) == 2
    err = capsys.readouterr().err
    assert "needs max_qubits" in err and "give --qpus" in err


def test_a_run_trained_with_adaptive_shots_and_spsa_evaluates(tmp_path, capsys):
    """Such checkpoints also hold the sampled engine's state, which the exact reference has no use for."""
    text = SAMPLED.replace("shots = 20\n", 'shots = 20\nallocation = "adaptive"\ngradient = "spsa"\n')
    out = tmp_path / "run"
    assert main(["train", write_config(tmp_path, text), "--out", str(out), "--quiet"]) == 0
    ckpt = torch.load(out / "checkpoint.pt", weights_only=False)
    assert any(".sampled_state." in k for k in ckpt["model"])
    ev = evaluate(capsys, out, "--repeats", "2")
    cfg, data = ckpt["config"], load_dataset(ckpt["config"]["data"])
    model = build_model({**cfg["model"], "mode": "exact"} | {k: None for k in ("shots", "allocation", "gradient",
                        "spsa_perturbation")}, data.num_features, 1, seed=0)
    model.load_state_dict({k: v for k, v in ckpt["model"].items() if ".sampled_state." not in k})
    model.eval()
    with torch.no_grad():
        pred = model(torch.as_tensor(data.x_test, dtype=next(model.parameters()).dtype)).double()
    assert ev["exact_test_mse"] == pytest.approx(float(((pred - torch.as_tensor(data.y_test)) ** 2).mean()), rel=1e-9)
