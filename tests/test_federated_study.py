"""Label-skew client shards, centralised baselines, and the seeds study's statistics and files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from qiskit.quantum_info import SparsePauliOp, Statevector

from dqlstm.config import ConfigError
from dqlstm.federated.baselines import VQCClassifier, build_baseline, train_baseline, vqc_circuit
from dqlstm.federated.config import resolve_federated_config
from dqlstm.federated.partition import label_fractions, partition_indices
from dqlstm.federated.run import build_federation, run_federated
from dqlstm.federated.study import (
    CENTRAL,
    Record,
    difference_interval,
    federated_config,
    load_study,
    main,
    mean_interval,
    summarise,
    verdict,
)
from dqlstm.federated.tasks import FederatedTask, load_task
from dqlstm.models.regressor import count_parameters

# --- label-skew partition --------------------------------------------------------


def _labels(n: int, p: float = 0.5, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < p).astype(float)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_label_skew_uses_every_sample_once_and_skews_the_labels(seed):
    y = _labels(4000)
    shards = partition_indices(4000, 10, "label-skew", labels=y, alpha=0.3, seed=seed)
    assert len(shards) == 10 and all(s.size > 0 for s in shards)
    assert all(np.all(np.diff(s) > 0) for s in shards)
    assert np.array_equal(np.sort(np.concatenate(shards)), np.arange(4000))  # each sample exactly once
    fr = np.array(label_fractions(shards, y))
    # i.i.d. shards of ~400 would keep every fraction within ~0.5 +- 0.08 (3 sigma); Dirichlet(0.3) does not
    assert fr.max() - fr.min() > 0.4
    iid = np.array(label_fractions(partition_indices(4000, 10, "interleaved"), y))
    assert fr.std() > 5 * iid.std()


def test_label_skew_is_seeded_and_tends_to_iid_for_large_alpha():
    y = _labels(6000, p=0.3)
    a = partition_indices(6000, 6, "label-skew", labels=y, alpha=0.5, seed=3)
    b = partition_indices(6000, 6, "label-skew", labels=y, alpha=0.5, seed=3)
    c = partition_indices(6000, 6, "label-skew", labels=y, alpha=0.5, seed=4)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not all(u.size == v.size and np.array_equal(u, v) for u, v in zip(a, c))
    wide = partition_indices(6000, 6, "label-skew", labels=y, alpha=1e5, seed=3)
    # each class split ~evenly: shards of ~1000 with the global 30% signal (binomial sd ~0.015)
    assert np.allclose([s.size for s in wide], 1000, atol=30)
    assert np.allclose(label_fractions(wide, y), y.mean(), atol=0.05)


def test_label_skew_class_shares_follow_the_dirichlet_mean():
    """Over many draws, client k's share of a class averages 1/K (the Dirichlet mean)."""
    y = np.repeat([0.0, 1.0], 500)
    shares = np.array([
        [np.isin(np.flatnonzero(y == 1), s).sum() / 500 for s in
         partition_indices(1000, 4, "label-skew", labels=y, alpha=1.0, seed=seed)]
        for seed in range(300)
    ])  # fmt: skip
    assert np.allclose(shares.sum(axis=1), 1.0)
    # Dir(1,1,1,1) marginal: Beta(1, 3), mean 1/4, sd sqrt(3/80) = 0.19; 300 draws: se 0.011
    assert np.allclose(shares.mean(axis=0), 0.25, atol=0.045)
    assert np.allclose(shares.std(axis=0), math.sqrt(3 / 80), atol=0.04)


def test_label_skew_errors():
    y = _labels(100)
    with pytest.raises(ValueError, match="needs the class labels and a Dirichlet alpha"):
        partition_indices(100, 4, "label-skew", alpha=0.5)
    with pytest.raises(ValueError, match="alpha must be positive"):
        partition_indices(100, 4, "label-skew", labels=y, alpha=0.0)
    with pytest.raises(ValueError, match="99 labels for 100 samples"):
        partition_indices(100, 4, "label-skew", labels=y[:99], alpha=0.5)
    with pytest.raises(ValueError, match="not a regression target"):
        partition_indices(100, 4, "label-skew", labels=np.linspace(0, 1, 100), alpha=0.5)
    with pytest.raises(ValueError, match="label-skew partition only"):
        partition_indices(100, 4, "contiguous", labels=y)
    with pytest.raises(ValueError, match="no Dirichlet"):
        partition_indices(12, 12, "label-skew", labels=y[:12], alpha=1e-3)


def test_label_skew_config_and_federation():
    cfg = resolve_federated_config(
        {"data": {"task": "susy", "events": 400, "seed": 0}, "model": {"kind": "lstm", "hidden_size": 2},
         "federated": {"clients": 5, "partition": "label-skew", "seed": 2}}
    )  # fmt: skip
    assert cfg["federated"]["alpha"] == 0.5
    with pytest.raises(ConfigError, match="alpha applies to partition = 'label-skew' only"):
        resolve_federated_config({"federated": {"alpha": 0.5}})
    with pytest.raises(ConfigError, match="alpha must be > 0"):
        resolve_federated_config({"federated": {"partition": "label-skew", "alpha": 0.0}})
    task = load_task(cfg["data"])
    server = build_federation(cfg, task)
    xs = torch.cat([c.x for c in server.clients])
    assert xs.shape[0] == task.num_train  # all training events, each once (rows are distinct)
    assert torch.unique(xs, dim=0).shape[0] == task.num_train
    expect = partition_indices(task.num_train, 5, "label-skew", labels=task.y_train[:, 0], alpha=0.5, seed=2)
    for c, idx in zip(server.clients, expect):
        assert torch.equal(c.y[:, 0], torch.as_tensor(task.y_train[idx, 0], dtype=c.y.dtype))
    with pytest.raises(ValueError, match="needs class labels"):
        series = resolve_federated_config(
            {"data": {"task": "narma5"}, "federated": {"partition": "label-skew"}}
        )
        build_federation(series, load_task(series["data"]))


# --- baselines -------------------------------------------------------------------


def _separable_task(n_train: int = 400, n_test: int = 200, seed: int = 0) -> FederatedTask:
    """Two Gaussian classes at -0.5 and +0.5 in every feature (sd 0.3): separable by a plane.

    Every qubit of the plain VQC sees a same-signed shift of its three angles, which its
    ``<Z>`` keeps (a shift in one feature only is scrambled by the others on the qubit).
    """
    rng = np.random.default_rng(seed)
    y = (rng.random(n_train + n_test) < 0.5).astype(float)
    x = 0.3 * rng.normal(size=(y.size, 18)) + np.where(y[:, None] == 1, 0.5, -0.5)
    y = y[:, None]
    return FederatedTask(
        "separable", "classification", x[:n_train], y[:n_train], x[n_train:], y[n_train:], steps=6
    )


def test_baseline_parameter_counts():
    assert count_parameters(build_baseline("logistic", 18, 0)) == 19
    assert count_parameters(build_baseline("mlp", 18, 0, {"mlp_hidden": 10})) == (18 + 2) * 10 + 1
    assert (
        count_parameters(build_baseline("vqc", 18, 0, {"vqc_qubits": 6, "vqc_layers": 10})) == 3 * 6 * 10 + 7
    )
    # Linear(18, 4) + 2 chen2020 layers on 4 qubits + Linear(4, 1)
    assert count_parameters(build_baseline("dressed-vqc", 18, 0)) == 18 * 4 + 4 + 3 * 4 * 2 + 4 + 1
    with pytest.raises(ValueError, match="unknown baseline 'svm'"):
        build_baseline("svm", 18, 0)
    with pytest.raises(ValueError, match="cannot be spread evenly over 4 qubits"):
        build_baseline("vqc", 18, 0, {"vqc_qubits": 4})


def test_vqc_matches_qiskit_statevector_and_finite_differences():
    model = VQCClassifier(18, n_qubits=3, layers=2, seed=5)
    x = torch.randn(4, 18, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    z = model.expectations(x).detach().numpy()
    qc, xs, th = vqc_circuit(18, 3, 2)
    for b in range(4):
        bind = dict(zip(xs, (2 * np.arctan(x[b].numpy())).tolist()))
        bind |= dict(zip(th, model.weights.detach().numpy().tolist()))
        sv = Statevector(qc.assign_parameters(bind))
        ref = [sv.expectation_value(SparsePauliOp("I" * (2 - q) + "Z" + "I" * q)).real for q in range(3)]
        np.testing.assert_allclose(z[b], ref, atol=1e-12)
    # d logit / d weights against central differences
    w = model.weights.detach().clone()
    model(x).sum().backward()
    eps = 1e-6
    for k in (0, 7, 17):
        plus, minus = w.clone(), w.clone()
        plus[k] += eps
        minus[k] -= eps
        with torch.no_grad():
            model.weights.copy_(plus)
            fp = float(model(x).sum())
            model.weights.copy_(minus)
            fm = float(model(x).sum())
            model.weights.copy_(w)
        assert model.weights.grad[k].item() == pytest.approx((fp - fm) / (2 * eps), abs=1e-7)


@pytest.mark.parametrize("name", ["logistic", "mlp", "vqc", "dressed-vqc"])
def test_baselines_beat_chance_on_separable_data(name):
    task = _separable_task()
    opts = {"vqc_qubits": 6, "vqc_layers": 2}
    r = train_baseline(name, task, seed=0, epochs=6, lr=0.05, options=opts)
    assert r.final["test_auc"] > 0.97 and r.final["test_accuracy"] > 0.9
    assert r.final["train_accuracy"] > 0.9
    assert len(r.history) == 7 and r.final["test_auc"] == r.history[-1]["test_auc"]
    assert train_baseline(name, task, seed=0, epochs=6, lr=0.05, options=opts).final == r.final  # seeded


def test_dressed_vqc_matches_qiskit_statevector():
    model = build_baseline("dressed-vqc", 18, 3)
    x = torch.randn(3, 18, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        angles = model.vqc.encode(model.clayer_in(x)).numpy()
        logits = model(x).numpy()[:, 0]
    w, b = model.clayer_out.weight.detach().numpy()[0], float(model.clayer_out.bias.detach()[0])
    for i in range(3):
        bind = dict(zip(model.vqc.inputs, angles[i].tolist()))
        bind |= dict(zip(model.vqc.weights, model.weights.detach().numpy().tolist()))
        sv = Statevector(model.vqc.circuit.assign_parameters(bind))
        z = [sv.expectation_value(SparsePauliOp("I" * (3 - q) + "Z" + "I" * q)).real for q in range(4)]
        assert logits[i] == pytest.approx(float(np.dot(w, z) + b), abs=1e-12)


def test_baseline_rejects_regression_tasks():
    task = FederatedTask(
        "s", "regression", np.zeros((4, 2, 1)), np.zeros((4, 1)), np.zeros((2, 2, 1)), np.zeros((2, 1))
    )
    with pytest.raises(ValueError, match="baselines are classifiers"):
        train_baseline("logistic", task, seed=0, epochs=1)


# --- seed statistics -------------------------------------------------------------


def test_mean_interval_and_differences():
    vals = [0.80, 0.82, 0.81, 0.85, 0.79]
    ci = mean_interval(vals)
    assert ci["mean"] == pytest.approx(np.mean(vals)) and ci["n"] == 5
    assert min(vals) <= ci["low"] < ci["mean"] < ci["high"] <= max(vals)
    # large normal sample: the percentile bootstrap approaches mean +- 1.96 s / sqrt(n)
    big = np.random.default_rng(0).normal(1.0, 2.0, size=800)
    ci = mean_interval(big)
    half = 1.96 * big.std(ddof=1) / math.sqrt(big.size)
    assert ci["low"] == pytest.approx(big.mean() - half, abs=0.1 * half)
    assert ci["high"] == pytest.approx(big.mean() + half, abs=0.1 * half)
    a, b = [0.83, 0.84, 0.82], [0.80, 0.81, 0.79]
    assert difference_interval(a, b, paired=True) == mean_interval(np.subtract(a, b))
    d = difference_interval([0.9, 0.9], [0.7, 0.7, 0.7], paired=False)
    assert (
        d["mean"] == pytest.approx(0.2) and d["low"] == pytest.approx(0.2) and d["high"] == pytest.approx(0.2)
    )
    assert verdict(d) == "higher" and verdict({"low": -0.1, "high": -0.01}) == "lower"
    assert verdict({"low": -0.1, "high": 0.1}) == "no difference shown"
    with pytest.raises(ValueError, match="same length"):
        difference_interval([1.0, 2.0], [1.0], paired=True)


def _records() -> list[Record]:
    rng = np.random.default_rng(0)
    recs = []
    for seed in (4, 0, 2, 1, 3):  # out of order: pairing must go by seed
        base = 0.80 + 0.01 * seed
        recs += [
            Record("qlstm", "contiguous", seed, 193, base + 0.005, 0.75, 0.5, 1.0),
            Record("lstm", "contiguous", seed, 206, base, 0.76, 0.5, 1.0),
            Record("qlstm", "label-skew", seed, 193, base - 0.02, 0.70, 0.6, 1.0),
            Record("lstm", "label-skew", seed, 206, base - 0.01, 0.72, 0.6, 1.0),
            Record("mlp", CENTRAL, seed, 201, 0.85 + 0.001 * rng.normal(), 0.78, 0.45, 1.0),
            Record("logistic", CENTRAL, seed, 19, 0.81 + 0.001 * rng.normal(), 0.76, 0.5, 1.0),
        ]
    return recs


def test_summarise_pairs_by_seed(tmp_path):
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    for p in (a, b):
        p.write_text("")
    spec_file = tmp_path / "s.toml"
    spec_file.write_text(
        '[study]\nname = "t"\nseeds = [0, 1, 2, 3, 4]\nrounds = 1\npartitions = ["contiguous", "label-skew"]\n'
        'federated = { qlstm = "a.toml", lstm = "b.toml" }\n[baselines]\nnames = ["logistic", "mlp"]\n'
    )
    spec = load_study(spec_file)
    s = summarise(spec, _records())
    rows = {(r["model"], r["setting"]): r for r in s["rows"]}
    assert rows[("qlstm", "contiguous")]["test_auc"]["mean"] == pytest.approx(0.825)
    assert rows[("qlstm", "contiguous")]["seeds"] == [0, 1, 2, 3, 4]
    comps = {
        (c["a"]["model"], c["a"]["setting"], c["b"]["model"], c["b"]["setting"]): c for c in s["comparisons"]
    }
    same = comps[("qlstm", "contiguous", "lstm", "contiguous")]
    # per-seed differences are all +0.005: a paired interval of zero width, "higher"
    assert same["test_auc"]["low"] == pytest.approx(0.005) and same["test_auc"]["high"] == pytest.approx(
        0.005
    )
    assert same["test_auc"]["verdict"] == "higher" and same["auc_within_1_percent"]["verdict"] == "equivalent"
    skew = comps[("qlstm", "label-skew", "lstm", "label-skew")]
    assert skew["test_auc"]["mean"] == pytest.approx(-0.01) and skew["test_auc"]["verdict"] == "lower"
    vs_mlp = comps[("qlstm", "contiguous", "mlp", CENTRAL)]
    assert not vs_mlp["paired"] and vs_mlp["test_auc"]["verdict"] == "lower"
    assert ("qlstm", "label-skew", "qlstm", "contiguous") in comps and (
        "mlp",
        CENTRAL,
        "logistic",
        CENTRAL,
    ) in comps


def test_load_study_errors(tmp_path):
    (tmp_path / "a.toml").write_text("")

    def spec(text: str):
        p = tmp_path / "s.toml"
        p.write_text(text)
        return load_study(p)

    ok = '[study]\nname = "t"\nrounds = 1\nfederated = { a = "a.toml" }\n'
    with pytest.raises(ConfigError, match="seeds must be distinct"):
        spec(ok + "seeds = [0, 0]\npartitions = ['contiguous']\n")
    with pytest.raises(ConfigError, match="partitions must be a non-empty subset"):
        spec(ok + "seeds = [0]\npartitions = ['random']\n")
    with pytest.raises(ConfigError, match="existing config files"):
        spec(
            '[study]\nname = "t"\nrounds = 1\nseeds = [0]\npartitions = ["contiguous"]\nfederated = { a = "no.toml" }\n'
        )
    with pytest.raises(ConfigError, match="unknown key"):
        spec(ok + "seeds = [0]\npartitions = ['contiguous']\n[baselines]\nlayers = 3\n")
    with pytest.raises(ConfigError, match="centralised must map federated labels"):
        spec(ok + "seeds = [0]\npartitions = ['contiguous']\ncentralised = { b = 'a.toml' }\n")
    with pytest.raises(ConfigError, match="names must be distinct names"):
        spec(ok + "seeds = [0]\npartitions = ['contiguous']\n[baselines]\nnames = ['svm']\n")


def test_study_end_to_end_writes_results_with_provenance(tmp_path, capsys):
    fed = (
        '[data]\ntask = "susy"\nevents = 240\nseed = 0\n[model]\nkind = "lstm"\nhidden_size = 2\n'
        '[train]\noptimizer = "adam"\nlr = 0.02\nbatch_size = 16\n[federated]\nclients = 3\nrounds = 9\n'
    )
    (tmp_path / "lstm.toml").write_text(fed)
    (tmp_path / "lstm_c.toml").write_text(fed.replace("clients = 3", "clients = 1"))
    (tmp_path / "study.toml").write_text(
        '[study]\nname = "tiny"\nseeds = [0, 1]\nrounds = 2\npartitions = ["contiguous", "label-skew"]\n'
        'alpha = 0.4\nfederated = { lstm = "lstm.toml" }\ncentralised = { lstm = "lstm_c.toml" }\n'
        '[baselines]\nnames = ["logistic"]\n'
    )
    out, res = tmp_path / "runs", tmp_path / "res"
    assert main([str(tmp_path / "study.toml"), "--out", str(out), "--results", str(res), "--quiet"]) == 0
    doc = json.loads((res / "study.json").read_text())
    assert doc["provenance"]["command"].startswith("python -m dqlstm.federated.study")
    assert len(doc["records"]) == 2 * 2 + 2 + 2 and {r["setting"] for r in doc["records"]} == {
        "contiguous", "label-skew", CENTRAL,
    }  # fmt: skip
    run = json.loads((res / "federated" / "lstm_label-skew_s1.json").read_text())
    assert run["config"]["federated"]["alpha"] == 0.4 and len(run["rounds"]) == 2  # the study's rounds
    assert run["provenance"][0]["git_commit"] and run["config"]["data"]["seed"] == 0
    # the same seed and partition reproduce a run exactly; the study reused its folders
    cfg = federated_config(load_study(tmp_path / "study.toml"), "lstm", "label-skew", 1)
    again = run_federated(cfg, tmp_path / "again", quiet=True)
    assert again.metrics["final"]["test_auc"] == run["final"]["test_auc"]
    central = json.loads((res / "federated" / "lstm_centralised_s1.json").read_text())
    assert len(central["clients"]) == 1 and central["clients"][0]["num_samples"] == run["task"]["num_train"]
    pairs = {
        (c["a"]["model"], c["a"]["setting"], c["b"]["model"], c["b"]["setting"]) for c in doc["comparisons"]
    }
    assert ("lstm", "label-skew", "lstm", CENTRAL) in pairs and (
        "lstm",
        "contiguous",
        "lstm",
        CENTRAL,
    ) in pairs
    (tmp_path / "bad.toml").write_text(fed)  # 3 clients: not a centralised reference
    (tmp_path / "bad_study.toml").write_text(
        (tmp_path / "study.toml").read_text().replace("lstm_c.toml", "bad.toml")
    )
    with pytest.raises(ConfigError, match="needs \\[federated\\] clients = 1"):
        federated_config(load_study(tmp_path / "bad_study.toml"), "lstm", CENTRAL, 0)
    base = json.loads((res / "baselines" / "logistic_s0.json").read_text())
    assert base["epochs"] == 2 and base["provenance"]["command"].startswith(
        "python -m dqlstm.federated.study"
    )
    md = (res / "study.md").read_text()
    assert "| lstm | label-skew | " in md and "Command: `python -m dqlstm.federated.study" in md
    assert (res / "records.csv").read_text().startswith("# {")
    assert (res / "study_auc.png").stat().st_size > 0
