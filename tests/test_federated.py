"""FedAvg: weighting, equivalence with centralised training, failing clients, resume, config, CLI."""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from dqlstm.config import ConfigError
from dqlstm.federated import (
    Client,
    ClientFailureWarning,
    FederatedServer,
    LocalTraining,
    client_seed,
    clients_per_round,
    fedavg,
    partition_indices,
    resolve_federated_config,
    run_federated,
    sample_clients,
)
from dqlstm.runs import CHECKPOINT_FILE, CONFIG_FILE, METRICS_FILE, ROUNDS_PLOT
from dqlstm.models.lstm import LSTM
from dqlstm.models.qlstm import QLSTM
from dqlstm.models.regressor import SequenceRegressor

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny models: one intra-op thread, as training runs use (train.threads = 1).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def lstm_builder(seed: int = 0):
    def build() -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return SequenceRegressor(LSTM(2, 3), 1)

    return build


def qlstm_builder(seed: int = 0):
    def build() -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return SequenceRegressor(QLSTM(2, 2, n_qubits=3, layers=1, seed=seed), 1)

    return build


def toy_data(n: int, dtype=torch.float32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, 2, generator=g, dtype=dtype)
    return x, x.sum(dim=(1, 2))[:, None].tanh()


def params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def reference_epoch(model, opt, x, y, batch_size, seed):
    """A plain mini-batch MSE epoch (written out, independent of train_epoch)."""
    order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
    for start in range(0, x.shape[0], batch_size):
        idx = order[start : start + batch_size]
        opt.zero_grad()
        nn.functional.mse_loss(model(x[idx]), y[idx]).backward()
        opt.step()


# --- averaging, partitions, sampling ---------------------------------------------


def test_fedavg_weighted_hand_computation():
    a = {"w": torch.tensor([1.0, 2.0]), "b": torch.tensor([3.0]), "n": torch.tensor(5)}
    b = {"w": torch.tensor([4.0, 8.0]), "b": torch.tensor([0.0]), "n": torch.tensor(5)}
    out = fedavg([a, b], [1, 3])
    # (1 * 1 + 3 * 4) / 4, (1 * 2 + 3 * 8) / 4, (1 * 3 + 3 * 0) / 4
    assert torch.equal(out["w"], torch.tensor([3.25, 6.5])) and torch.equal(out["b"], torch.tensor([0.75]))
    assert out["w"].dtype == torch.float32 and torch.equal(out["n"], torch.tensor(5))
    with pytest.raises(ValueError, match="weights must be positive"):
        fedavg([a, b], [1, 0])
    with pytest.raises(ValueError, match="different entries"):
        fedavg([a, {"w": a["w"]}], [1, 1])
    with pytest.raises(ValueError, match="non-floating entry 'n' differs"):
        fedavg([a, {**b, "n": torch.tensor(6)}], [1, 1])


def test_partitions_and_sampling():
    parts = partition_indices(10, 3, "contiguous")
    assert [p.tolist() for p in parts] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    parts = partition_indices(10, 3, "interleaved")
    assert [p.tolist() for p in parts] == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    with pytest.raises(ValueError, match="11 clients but only 10 training samples"):
        partition_indices(10, 11)
    assert clients_per_round(10, 0.25) == 3 and clients_per_round(10, 0.3) == 3 and clients_per_round(10, 1.0) == 10
    for bad in (0.0, -0.1, 1.01):
        with pytest.raises(ValueError, match=r"must be in \(0, 1\]"):
            clients_per_round(10, bad)
    rounds = [sample_clients(10, 0.3, seed=7, round_no=r) for r in range(1, 30)]
    assert all(len(s) == 3 and s == sorted(set(s)) for s in rounds)
    assert rounds == [sample_clients(10, 0.3, seed=7, round_no=r) for r in range(1, 30)]
    assert len({tuple(s) for s in rounds}) > 5 and rounds != [sample_clients(10, 0.3, 8, r) for r in range(1, 30)]
    assert client_seed(0, 1, 0) != client_seed(0, 1, 1) != client_seed(0, 2, 1)


# --- equivalence with centralised training --------------------------------------


@pytest.mark.parametrize(("num_clients", "optimizer"), [(1, "adam"), (4, "rmsprop"), (3, "adam")])
def test_identical_clients_equal_centralised_training(num_clients, optimizer):
    """K clients holding the same data and the same random stream, full participation,
    1 local epoch, optimiser state reset every round == a plain loop that re-creates
    the optimiser every epoch and shuffles with the round's stream. Exact, every round."""
    x, y = toy_data(23)
    local = LocalTraining(optimizer, lr=0.05, batch_size=5, local_epochs=1, optimizer_state="reset")
    clients = [Client(k, x, y, stream=0) for k in range(num_clients)]
    server = FederatedServer(lstm_builder(), clients, local, fraction=1.0, seed=11)
    ref = lstm_builder()()
    assert_same(params(server.model), params(ref))
    opt_cls = torch.optim.Adam if optimizer == "adam" else torch.optim.RMSprop
    for r in range(1, 4):
        result = server.run_round(r)
        assert result.clients_used == list(range(num_clients)) and result.dropped == []
        reference_epoch(ref, opt_cls(ref.parameters(), lr=0.05), x, y, 5, client_seed(11, r, 0))
        assert_same(params(server.model), params(ref))


def test_single_client_keeping_optimizer_state_equals_centralised():
    """optimizer_state="keep" with one client == one persistent optimiser, 2 local epochs per round."""
    x, y = toy_data(17)
    local = LocalTraining("adam", lr=0.05, batch_size=4, local_epochs=2, optimizer_state="keep")
    server = FederatedServer(lstm_builder(), [Client(0, x, y)], local, seed=3)
    ref = lstm_builder()()
    opt = torch.optim.Adam(ref.parameters(), lr=0.05)
    for r in range(1, 4):
        server.run_round(r)
        # one generator per round, drawn from for both local epochs
        g = torch.Generator().manual_seed(client_seed(3, r, 0))
        for _ in range(2):
            order = torch.randperm(17, generator=g)
            for s in range(0, 17, 4):
                idx = order[s : s + 4]
                opt.zero_grad()
                nn.functional.mse_loss(ref(x[idx]), y[idx]).backward()
                opt.step()
        assert_same(params(server.model), params(ref))


def test_qlstm_single_client_equals_centralised():
    x, y = toy_data(12)
    local = LocalTraining("rmsprop", lr=0.05, batch_size=6)
    server = FederatedServer(qlstm_builder(), [Client(0, x, y)], local, seed=5)
    ref = qlstm_builder()()
    for r in (1, 2):
        server.run_round(r)
        reference_epoch(ref, torch.optim.RMSprop(ref.parameters(), lr=0.05), x, y, 6, client_seed(5, r, 0))
        assert_same(params(server.model), params(ref))


def test_round_is_sample_weighted_average_of_client_updates():
    x, y = toy_data(8)
    local = LocalTraining("adam", lr=0.1, batch_size=2)
    clients = [Client(0, x[:3], y[:3]), Client(1, x[3:], y[3:])]
    server = FederatedServer(lstm_builder(), clients, local, seed=2)
    start = params(server.model)
    server.run_round(1)
    # Each client's update by hand, from the same starting model.
    states = []
    for k, (xs, ys) in enumerate(((x[:3], y[:3]), (x[3:], y[3:]))):
        m = lstm_builder()()
        m.load_state_dict(start)
        reference_epoch(m, torch.optim.Adam(m.parameters(), lr=0.1), xs, ys, 2, client_seed(2, 1, k))
        states.append(params(m))
    for key, value in server.model.state_dict().items():
        expected = (3 * states[0][key].double() + 5 * states[1][key].double()) / 8
        torch.testing.assert_close(value, expected.float(), rtol=0, atol=1e-7)
    assert not torch.equal(states[0]["head.weight"], states[1]["head.weight"])


# --- failing clients ---------------------------------------------------------------


class RaisingClient(Client):
    def local_update(self, *args, **kwargs):
        raise RuntimeError("QPU offline")


class NaNClient(Client):
    def local_update(self, *args, **kwargs):
        update = super().local_update(*args, **kwargs)
        update.state["head.bias"] = torch.full_like(update.state["head.bias"], float("nan"))
        return update


def test_failing_clients_are_dropped_without_corrupting_the_model():
    x, y = toy_data(12)
    local = LocalTraining("adam", lr=0.05, batch_size=3)
    shards = [(x[:4], y[:4]), (x[4:8], y[4:8]), (x[8:], y[8:])]
    clients = [Client(0, *shards[0]), RaisingClient(1, *shards[1]), NaNClient(2, *shards[2])]
    server = FederatedServer(lstm_builder(), clients, local, seed=1)
    # Reference: the same federation with only the healthy client.
    only = FederatedServer(lstm_builder(), [Client(0, *shards[0])], local, seed=1)
    with pytest.warns(ClientFailureWarning) as record:
        result = server.run_round(1)
    only.run_round(1)
    messages = " ".join(str(w.message) for w in record)
    assert "client 1 dropped (RuntimeError: QPU offline)" in messages and "client 2 dropped" in messages
    assert result.clients_used == [0]
    assert [d["client"] for d in result.dropped] == [1, 2]
    assert "non-finite parameters in head.bias" in result.dropped[1]["reason"]
    assert_same(params(server.model), params(only.model))


def test_all_clients_failing_leaves_the_model_unchanged():
    x, y = toy_data(6)
    local = LocalTraining("adam", lr=0.05, batch_size=3)
    server = FederatedServer(
        lstm_builder(), [RaisingClient(0, x[:3], y[:3]), NaNClient(1, x[3:], y[3:])], local, seed=1,
        evaluate=lambda m: {"test_loss": float(nn.functional.mse_loss(m(x), y).detach())},
    )
    before = params(server.model)
    with pytest.warns(ClientFailureWarning) as record:
        result = server.run_round(1)
    assert "all 2 sampled client(s) failed; global model unchanged" in str(record[-1].message)
    assert_same(params(server.model), before)
    assert result.clients_used == [] and len(result.dropped) == 2 and result.local_train_loss is None
    assert np.isfinite(result.metrics["test_loss"])


# --- runs: config, metrics, resume, CLI -----------------------------------------------


def tiny_cfg(**fed) -> dict:
    return resolve_federated_config(
        {
            "data": {"task": "susy", "events": 120, "steps": 6},
            "model": {"kind": "lstm", "hidden_size": 3},
            "train": {"optimizer": "adam", "lr": 0.05, "batch_size": 8},
            "federated": {"clients": 4, "fraction": 0.5, "rounds": 3, "seed": 2, **fed},
        }
    )


def strip_seconds(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_run_writes_metrics_and_names_dropped_clients(tmp_path, monkeypatch):
    original = Client.local_update

    def flaky(self, worker, global_state, local, seed, round_no):
        if self.client_id == 1 and round_no == 2:
            raise RuntimeError("client 1 crashed")
        return original(self, worker, global_state, local, seed, round_no)

    monkeypatch.setattr(Client, "local_update", flaky)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClientFailureWarning)
        res = run_federated(tiny_cfg(fraction=1.0), tmp_path / "run", quiet=True)
    m = json.loads((tmp_path / "run" / METRICS_FILE).read_text())
    assert m == json.loads(json.dumps(res.metrics))
    assert [r["round"] for r in m["rounds"]] == [1, 2, 3] and m["finished"]
    r2 = m["rounds"][1]
    assert r2["clients"] == [0, 1, 2, 3] and r2["clients_used"] == [0, 2, 3]
    assert r2["dropped"] == [{"client": 1, "reason": "RuntimeError: client 1 crashed"}]
    for key in ("train_loss", "test_loss", "train_accuracy", "test_accuracy", "train_auc", "test_auc", "seconds"):
        assert isinstance(r2[key], float), key
    assert sum(c["num_samples"] for c in m["clients"]) == m["task"]["num_train"] == 96
    assert (tmp_path / "run" / ROUNDS_PLOT).read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / "run" / CONFIG_FILE).is_file()


@pytest.mark.parametrize("optimizer_state", ["reset", "keep"])
def test_resume_after_crash_equals_uninterrupted_run(tmp_path, monkeypatch, optimizer_state):
    cfg = tiny_cfg(optimizer_state=optimizer_state, rounds=4)
    full = run_federated(cfg, tmp_path / "full", quiet=True)

    from dqlstm.federated import server as server_mod

    original = server_mod.FederatedServer.run_round
    calls = {"n": 0}

    def crash_in_round_3(self, round_no):
        if round_no == 3 and calls["n"] == 0:
            calls["n"] += 1
            raise KeyboardInterrupt
        return original(self, round_no)

    monkeypatch.setattr(server_mod.FederatedServer, "run_round", crash_in_round_3)
    with pytest.raises(KeyboardInterrupt):
        run_federated(cfg, tmp_path / "crashed", quiet=True)
    assert json.loads((tmp_path / "crashed" / METRICS_FILE).read_text())["finished"] is False
    resumed = run_federated(cfg, tmp_path / "crashed", resume=True, quiet=True)
    assert resumed.rounds_run == 2
    assert_same(params(resumed.model), params(full.model))
    assert strip_seconds(resumed.metrics["rounds"]) == strip_seconds(full.metrics["rounds"])
    # More rounds on resume are allowed; other changes are not.
    with pytest.raises(ValueError, match=r"federated.partition"):
        run_federated(tiny_cfg(optimizer_state=optimizer_state, rounds=4, partition="interleaved"),
                      tmp_path / "crashed", resume=True, quiet=True)


def test_run_folder_protection(tmp_path):
    cfg = tiny_cfg(rounds=1)
    run_federated(cfg, tmp_path / "r", quiet=True)
    with pytest.raises(FileExistsError, match=r"already holds a finished federated run \(1/1 rounds\)"):
        run_federated(cfg, tmp_path / "r", quiet=True)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        run_federated(cfg, tmp_path / "other", resume=True, quiet=True)
    run_federated(cfg, tmp_path / "r", force=True, quiet=True)


def test_more_clients_than_samples_is_a_clear_error(tmp_path):
    cfg = resolve_federated_config({"data": {"task": "narma5", "length": 30}, "federated": {"clients": 40}})
    with pytest.raises(ValueError, match="40 clients but only 17 training samples"):
        run_federated(cfg, tmp_path / "r", quiet=True)
    assert not (tmp_path / "r").exists()  # a bad run leaves no trace


def test_time_series_task_interleaved(tmp_path):
    cfg = resolve_federated_config(
        {
            "data": {"task": "narma5", "length": 60},
            "model": {"kind": "lstm", "hidden_size": 3},
            "federated": {"clients": 3, "rounds": 2, "partition": "interleaved"},
        }
    )
    m = run_federated(cfg, tmp_path / "r", quiet=True).metrics
    assert [c["num_samples"] for c in m["clients"]] == [13, 12, 12]  # 37 training windows
    assert m["task"]["kind"] == "regression" and m["rounds"][-1]["test_accuracy"] is None
    assert m["rounds"][-1]["train_loss"] < m["initial"]["train_loss"]


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"federated": {"fraction": 0.0}}, r"\[federated\] fraction must be in \(0, 1\], got 0.0"),
        ({"federated": {"fraction": 1.5}}, r"must be in \(0, 1\], got 1.5"),
        ({"federated": {"fracton": 0.5}}, r"unknown key 'fracton' .* did you mean 'fraction'"),
        ({"federatd": {}}, r"unknown section \[federatd\].*did you mean 'federated'"),
        ({"federated": {"partition": "random"}}, r"partition = 'random' is not allowed"),
        ({"data": {"task": "susy", "window": 4}}, r"\[data\] window does not apply to task 'susy'"),
        ({"data": {"task": "narma5", "events": 10}}, r"\[data\] events applies only to tabular tasks"),
        ({"data": {"task": "susy-csv"}}, r"needs data.path"),
        ({"data": {"steps": 4}}, r"must divide the 18 features"),
        ({"train": {"epochs": 3}}, r"unknown key 'epochs' in section \[train\]"),
    ],
)
def test_config_errors(raw, match):
    with pytest.raises(ConfigError, match=match):
        resolve_federated_config(raw)


def test_config_defaults_and_series_resolution():
    cfg = resolve_federated_config({"data": {"task": "narma10"}, "federated": {"seed": 4}})
    assert cfg["data"]["order"] == 10 and cfg["data"]["length"] == 300 and cfg["data"]["seed"] == 4
    cfg = resolve_federated_config({})
    assert cfg["data"] == {"task": "susy", "events": 2000, "test_fraction": 0.2, "steps": 6, "seed": 0}
    assert cfg["federated"]["fraction"] == 1.0 and cfg["train"]["optimizer"] == "rmsprop"
    override = resolve_federated_config({}, {"federated.rounds": 7, "model.mode": None})
    assert override["federated"]["rounds"] == 7
    with pytest.raises(ConfigError, match="command-line overrides"):
        resolve_federated_config({}, {"federated.fraction": 2.0})


def test_cli_federate(tmp_path, capsys):
    from dqlstm.cli.federate import register

    config = tmp_path / "fed.toml"
    config.write_text(
        '[data]\ntask = "susy"\nevents = 80\n[model]\nkind = "lstm"\nhidden_size = 2\n'
        "[federated]\nclients = 2\nrounds = 1\n"
    )
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    out = tmp_path / "out"
    args = parser.parse_args(["federate", str(config), "--out", str(out), "--rounds", "2", "--seed", "3"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "2 clients, 2 rounds" in printed and "test AUC" in printed
    m = json.loads((out / METRICS_FILE).read_text())
    assert m["config"]["federated"]["rounds"] == 2 and m["config"]["federated"]["seed"] == 3
    assert (out / CHECKPOINT_FILE).is_file()
    args = parser.parse_args(["federate", str(config), "--out", str(out), "--mode", "nonsense"])
    with pytest.raises(ConfigError, match="mode = 'nonsense' is not allowed"):
        args.func(args)


def test_cut_exact_clients_match_exact_clients(tmp_path):
    """QLSTM clients whose circuits are cut onto 2-qubit QPUs learn what exact clients learn."""
    models = {}
    for mode in ("exact", "cut-exact"):
        model = {"kind": "qlstm", "hidden_size": 2, "n_qubits": 3, "layers": 1, "mode": mode}
        if mode == "cut-exact":
            model["max_qubits"] = 2
        cfg = resolve_federated_config(
            {
                "data": {"task": "susy", "events": 40, "steps": 9},
                "model": model,
                "train": {"batch_size": 8},
                "federated": {"clients": 2, "rounds": 1, "seed": 1},
            }
        )
        models[mode] = run_federated(cfg, tmp_path / mode, quiet=True)
    assert models["exact"].metrics["cut"] is None
    assert models["cut-exact"].metrics["cut"]["num_cuts"] > 0
    assert models["exact"].metrics["rounds"][0]["test_loss"] != models["exact"].metrics["initial"]["test_loss"]
    a, b = params(models["exact"].model), params(models["cut-exact"].model)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)


def test_report_compares_runs(tmp_path):
    from dqlstm.federated.report import compare_runs

    run = run_federated(tiny_cfg(rounds=2), tmp_path / "a", quiet=True)
    with pytest.raises(ValueError, match="not finished"):
        bad = tmp_path / "bad"
        bad.mkdir()
        (bad / METRICS_FILE).write_text(json.dumps({**run.metrics, "finished": False}))
        compare_runs({"x": bad}, tmp_path / "cmp")
    res = compare_runs({"lstm": tmp_path / "a", "again": tmp_path / "a"}, tmp_path / "cmp")
    table = (tmp_path / "cmp" / "summary.md").read_text().splitlines()
    assert len(table) == 4 and table[2].startswith("| lstm | ") and f"| {run.metrics['num_parameters']} |" in table[2]
    assert f"{run.metrics['final']['test_auc']:.4f}" in table[2]
    rows = (tmp_path / "cmp" / "rounds.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 3  # header + (initial + 2 rounds) per run
    assert (tmp_path / "cmp" / "comparison.png").read_bytes()[:8] == PNG_MAGIC
    assert res.rows[0]["rounds"] == 2
    from dqlstm.cli import main

    assert main(["report", str(tmp_path / "cli"), f"lstm={tmp_path / 'a'}"]) == 0
    assert (tmp_path / "cli" / "summary.md").is_file() and (tmp_path / "cli" / "comparison.png").is_file()
    assert main(["report", str(tmp_path / "cli"), str(tmp_path / "a")]) == 2  # no label: named, no traceback


def test_dqlstm_main_runs_federate(tmp_path, capsys):
    from dqlstm.cli import main

    config = tmp_path / "fed.toml"
    config.write_text('[data]\ntask = "narma5"\nlength = 40\n[model]\nkind = "lstm"\nhidden_size = 2\n'
                      "[federated]\nclients = 2\nrounds = 1\n")
    assert main(["federate", str(config), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert json.loads((tmp_path / "o" / METRICS_FILE).read_text())["finished"]
    config.write_text("[federated]\nfraction = 0\n")
    assert main(["federate", str(config), "--out", str(tmp_path / "p")]) == 2
    assert "[federated] fraction must be in (0, 1]" in capsys.readouterr().err


def test_sampled_federation_reports_the_work_of_every_model(tmp_path):
    """Clients train on the worker model: its shots count too, and match what the pool ran."""
    from dqlstm.cli import main

    config = tmp_path / "fed.toml"
    config.write_text(
        '[data]\ntask = "narma5"\nlength = 20\n[model]\nkind = "qlstm"\nhidden_size = 1\nn_qubits = 4\n'
        'ansatz = "modular"\nmodule_size = 2\nlinks = 1\nlayers = 1\nmode = "sampled"\nshots = 16\n'
        '[federated]\nclients = 2\nrounds = 1\n[qpus]\n[[qpus.devices]]\nname = "a"\ncount = 2\nnum_qubits = 2\n'
    )
    assert main(["federate", str(config), "--out", str(tmp_path / "f"), "--quiet"]) == 0
    cut = json.loads((tmp_path / "f" / METRICS_FILE).read_text())["cut"]
    assert cut["executed"]["num_pubs"] == cut["pool"]["pubs"] > 0
    assert cut["executed"]["total_shots"] == sum(q["shots"] for q in cut["pool"]["qpus"].values())
