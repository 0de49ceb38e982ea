"""Training loop, run folder, metrics.json format, checkpoints and resume."""

from __future__ import annotations

import json
import re
import sys

import pytest
import torch
from torch import nn

from dqlstm.config import resolve_config
from dqlstm.models.regressor import count_parameters
from dqlstm.training import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    LOSS_PLOT,
    METRICS_FILE,
    PREDICTIONS_PLOT,
    evaluate,
    make_optimizer,
    run_training,
    train_epoch,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def tiny_cfg(kind: str = "lstm", epochs: int = 3, **train) -> dict:
    """A short NARMA-5 series (60 points: 37 train / 19 test windows)."""
    model = {"kind": kind, "hidden_size": 3}
    if kind == "qlstm":
        model.update(n_qubits=3, layers=1)
    return resolve_config(
        {
            "data": {"task": "narma5", "length": 60},
            "model": model,
            "train": {"epochs": epochs, "batch_size": 10, **train},
        }
    )


def state_equal(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# --- inner loop --------------------------------------------------------------


class Recorder(nn.Module):
    """Linear model that remembers which samples it saw."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(1, 1)
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x[:, 0, 0].detach().clone())
        return self.lin(x[:, -1])


def test_epoch_visits_each_sample_once_in_seeded_order():
    x = torch.arange(23.0).reshape(23, 1, 1)
    y = torch.zeros(23, 1)
    orders = []
    for _ in range(2):
        model = Recorder()
        opt = make_optimizer("adam", model.parameters(), 0.01)
        train_epoch(model, opt, x, y, batch_size=5, generator=torch.Generator().manual_seed(11))
        assert [len(s) for s in model.seen] == [5, 5, 5, 5, 3]
        seen = torch.cat(model.seen)
        assert sorted(seen.tolist()) == list(range(23))
        orders.append(seen)
    assert torch.equal(orders[0], orders[1])
    assert not torch.equal(orders[0], torch.arange(23.0))  # actually shuffled


def test_epoch_loss_is_the_batch_weighted_mse():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 1))
    x, y = torch.randn(23, 4, 1), torch.randn(23, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # frozen: epoch loss == full-set MSE
    loss = train_epoch(model, opt, x, y, batch_size=5, generator=torch.Generator().manual_seed(0))
    assert loss == pytest.approx(evaluate(model, x, y), rel=1e-6)


class _Stop(Exception):
    pass


def test_an_epoch_stopped_between_steps_continues_where_it_stopped():
    # stop before step 3 of 5, continue from the saved position (state copied, as a checkpoint does):
    # same samples in the same order, same loss, same weights as the epoch straight through
    from dqlstm.training.loop import EpochPosition

    x, y = torch.randn(23, 2, 1, generator=torch.Generator().manual_seed(1)), torch.randn(23, 1)
    runs = []
    for stop_at in (None, 2):
        torch.manual_seed(0)
        model = Recorder()
        opt = make_optimizer("adam", model.parameters(), 0.05)
        gen = torch.Generator().manual_seed(11)
        pos = EpochPosition.start(23, gen)

        def before(p, stop_at=stop_at):
            if p.batches_done == stop_at:
                raise _Stop

        try:
            loss = train_epoch(model, opt, x, y, 5, gen, position=pos, before_batch=before)
        except _Stop:
            assert pos.batches_done == 2 and len(model.seen) == 2
            pos = EpochPosition.from_state(pos.state())
            loss = train_epoch(model, opt, x, y, 5, torch.Generator().manual_seed(99), position=pos)
        runs.append((loss, torch.cat(model.seen), model))
    (a, seen_a, model_a), (b, seen_b, model_b) = runs
    assert a == b and torch.equal(seen_a, seen_b) and state_equal(model_a, model_b)
    with pytest.raises(ValueError, match="order has 23 samples, the training set 4"):
        train_epoch(model_a, opt, x[:4], y[:4], 5, gen, position=EpochPosition.start(23, gen))


def test_a_sampled_runs_bar_shows_done_of_planned_circuits_and_qpu_seconds(tmp_path, capsys, monkeypatch):
    import dqlstm.progress

    monkeypatch.setattr(dqlstm.progress, "is_tty", lambda: True)
    monkeypatch.setattr(dqlstm.progress, "BAR_HEARTBEAT_SECONDS", 0.0)
    cfg = resolve_config({
        "data": {"task": "narma5", "length": 10},
        "model": {"kind": "qlstm", "hidden_size": 1, "n_qubits": 4, "ansatz": "modular", "module_size": 2,
                  "links": 1, "layers": 1, "mode": "sampled", "shots": 20},
        "train": {"epochs": 1, "batch_size": 2},
    })
    run_training(cfg, tmp_path / "run")
    err = capsys.readouterr().err
    # 2 steps of 6,720 circuits and the evaluation's 320 (counted as dqlstm estimate counts them)
    done = [int(m.replace(",", "")) for m in re.findall(r"circuits=([\d,]+)/13,760", err)]
    assert done and done[0] == 6720 and "QPU=" in err


def test_nan_loss_and_unknown_optimizer_raise():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 1))
    with torch.no_grad():
        model[1].bias.fill_(float("nan"))
    opt = make_optimizer("rmsprop", model.parameters(), 0.01)
    assert isinstance(opt, torch.optim.RMSprop) and opt.param_groups[0]["lr"] == 0.01
    with pytest.raises(FloatingPointError, match="NaN"):
        train_epoch(model, opt, torch.zeros(4, 4, 1), torch.zeros(4, 1), 2, torch.Generator())
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        make_optimizer("sgd", model.parameters(), 0.1)


# --- run folder --------------------------------------------------------------


def test_metrics_json_format_and_run_files(tmp_path):
    out = tmp_path / "run"
    cfg = tiny_cfg(epochs=3)
    result = run_training(cfg, out, quiet=True)
    metrics = json.loads((out / METRICS_FILE).read_text())
    assert metrics == json.loads(json.dumps(result.metrics))
    assert {"epochs", "num_parameters", "config", "cut"} <= metrics.keys()
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2, 3]
    for row in metrics["epochs"]:
        assert {"epoch", "train_loss", "test_loss", "seconds"} <= row.keys()
        assert all(isinstance(row[k], float) and row[k] >= 0 for k in ("train_loss", "test_loss", "seconds"))
    assert metrics["num_parameters"] == count_parameters(result.model) == 4 * (3 * 4 + 6) + 4
    assert metrics["cut"] is None
    assert metrics["config"] == {**cfg, "run": {"out": str(out)}}
    assert metrics["finished"] is True
    assert metrics["final"]["test_loss"] == pytest.approx(metrics["epochs"][-1]["test_loss"])
    assert metrics["data"]["num_train"] == 37 and metrics["data"]["num_test"] == 19
    assert tomllib.loads((out / CONFIG_FILE).read_text()) == metrics["config"]
    for plot in (PREDICTIONS_PLOT, LOSS_PLOT):
        assert (out / plot).read_bytes()[:8] == PNG_MAGIC
    ckpt = torch.load(out / CHECKPOINT_FILE, weights_only=False)
    assert ckpt["epoch"] == 3 and {"model", "optimizer", "rng", "metrics", "config"} <= ckpt.keys()
    assert torch.get_num_threads() >= 1


def test_training_reduces_the_loss(tmp_path):
    result = run_training(tiny_cfg(epochs=15), tmp_path / "run", quiet=True)
    rows = result.metrics["epochs"]
    assert rows[-1]["train_loss"] < 0.5 * rows[0]["train_loss"]


def test_same_seed_same_run_other_seed_other_run(tmp_path):
    a = run_training(tiny_cfg(seed=5), tmp_path / "a", quiet=True)
    b = run_training(tiny_cfg(seed=5), tmp_path / "b", quiet=True)
    c = run_training(tiny_cfg(seed=6), tmp_path / "c", quiet=True)
    losses = lambda r: [(e["train_loss"], e["test_loss"]) for e in r.metrics["epochs"]]  # noqa: E731
    assert losses(a) == losses(b) and state_equal(a.model, b.model)
    assert losses(a) != losses(c)


def resume_matches_uninterrupted(tmp_path, kind: str, total: int, first: int) -> None:
    full = run_training(tiny_cfg(kind, epochs=total), tmp_path / "full", quiet=True)
    part = tmp_path / "part"
    run_training(tiny_cfg(kind, epochs=first), part, quiet=True)
    # Disturb the global RNGs in between: resume must restore them.
    torch.rand(100)
    resumed = run_training(tiny_cfg(kind, epochs=total), part, resume=True, quiet=True)
    assert resumed.epochs_run == total - first
    strip = lambda r: [(e["epoch"], e["train_loss"], e["test_loss"]) for e in r.metrics["epochs"]]  # noqa: E731
    assert strip(resumed) == strip(full)
    assert state_equal(resumed.model, full.model)
    assert resumed.metrics["final"] == full.metrics["final"]
    on_disk = json.loads((part / METRICS_FILE).read_text())
    assert len(on_disk["epochs"]) == total and on_disk["config"]["train"]["epochs"] == total


def test_resume_equals_uninterrupted_lstm(tmp_path):
    resume_matches_uninterrupted(tmp_path, "lstm", total=4, first=2)


def test_resume_equals_uninterrupted_qlstm(tmp_path):
    pytest.importorskip("dqlstm.models.qlstm")
    resume_matches_uninterrupted(tmp_path, "qlstm", total=2, first=1)


def test_a_run_of_the_other_kind_or_an_unreadable_one_is_named_and_force_clears_it(tmp_path):
    out = tmp_path / "fed"
    out.mkdir()
    (out / METRICS_FILE).write_text(json.dumps({"rounds": [{}], "finished": True, "config": {"federated": {"rounds": 1}}}))
    (out / "rounds.png").write_bytes(b"png")
    with pytest.raises(FileExistsError, match=r"a finished federated run \(1/1 rounds\)"):
        run_training(tiny_cfg(epochs=1), out, quiet=True)
    run_training(tiny_cfg(epochs=1), out, force=True, quiet=True)
    assert not (out / "rounds.png").exists()  # the old run's files go, whatever its kind
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / METRICS_FILE).write_bytes(b"\xff\xfe not json")
    with pytest.raises(FileExistsError, match="unreadable metrics.json"):
        run_training(tiny_cfg(epochs=1), bad, quiet=True)
    run_training(tiny_cfg(epochs=1), bad, force=True, quiet=True)


def test_overwrite_protection_and_resume_errors(tmp_path):
    out = tmp_path / "run"
    run_training(tiny_cfg(epochs=1), out, quiet=True)
    with pytest.raises(FileExistsError, match=r"already holds a finished run \(1/1 epochs\).*--force"):
        run_training(tiny_cfg(epochs=1), out, quiet=True)
    with pytest.raises(ValueError, match="contradict"):
        run_training(tiny_cfg(epochs=1), out, resume=True, force=True, quiet=True)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        run_training(tiny_cfg(epochs=1), tmp_path / "empty", resume=True, quiet=True)
    with pytest.raises(ValueError, match=r"config differs.*train.lr: 0.01 -> 0.02"):
        run_training(tiny_cfg(epochs=2, lr=0.02), out, resume=True, quiet=True)
    # A config that fails before training leaves the old run untouched, even with --force.
    broken = tiny_cfg(epochs=1)
    broken["data"]["train_fraction"] = 0.01
    with pytest.raises(ValueError, match="empty train set"):
        run_training(broken, out, force=True, quiet=True)
    assert json.loads((out / METRICS_FILE).read_text())["finished"] is True
    # --force replaces the run; the replacement is a fresh run.
    (out / "notes.txt").write_text("kept")
    again = run_training(tiny_cfg(epochs=2), out, force=True, quiet=True)
    assert [e["epoch"] for e in again.metrics["epochs"]] == [1, 2]
    assert (out / "notes.txt").read_text() == "kept"  # only run files are removed
    # Resuming a finished run trains nothing and keeps the history.
    same = run_training(tiny_cfg(epochs=2), out, resume=True, quiet=True)
    assert same.epochs_run == 0 and len(same.metrics["epochs"]) == 2
    with pytest.raises(ValueError, match="cannot resume to fewer"):
        run_training(tiny_cfg(epochs=1), out, resume=True, quiet=True)


def test_cut_info_comes_from_the_engine_plan():
    from types import SimpleNamespace

    from dqlstm.cost import cut_info

    plan = SimpleNamespace(to_dict=lambda: {"num_cuts": 2, "sampling_overhead": 81.0})
    core = SimpleNamespace(engine=SimpleNamespace(plan=plan))
    assert cut_info(SimpleNamespace(core=core)) == {"num_cuts": 2, "sampling_overhead": 81.0}
    assert cut_info(SimpleNamespace(core=SimpleNamespace(cut_summary=lambda: {"fragments": 2}))) == {"fragments": 2}
    assert cut_info(SimpleNamespace(core=SimpleNamespace(engine=SimpleNamespace()))) is None
