"""Config: schema errors, defaults and derived values, shipped configs, writing back."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from dqlstm.config import (
    SCHEMA,
    ConfigError,
    default_config_path,
    dump_config,
    load_config,
    resolve_config,
    to_toml,
)
from dqlstm.assemble import build_model
from dqlstm.models.regressor import count_parameters

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
SHIPPED = [
    REPO / "experiments" / "configs" / f"{task}_{kind}.toml"
    for task in ("narma5", "narma10", "oscillator")
    for kind in ("lstm", "qlstm")
]
TRAIN_CONFIGS = sorted((REPO / "experiments" / "configs").glob("narma*.toml")) + sorted(
    (REPO / "experiments" / "configs").glob("oscillator*.toml")
)


def test_defaults_fill_every_schema_key():
    cfg = resolve_config({})
    for section, keys in SCHEMA.items():
        for name, key in keys.items():
            if key.default is not None and (section, name) != ("model", "num_layers"):  # LSTM only
                assert cfg[section][name] == key.default
    assert "num_layers" not in cfg["model"] and resolve_config({"model": {"kind": "lstm"}})["model"] == {
        "kind": "lstm", "hidden_size": 5, "num_layers": 1}
    assert cfg["data"]["order"] == 5 and cfg["data"]["length"] == 300
    assert cfg["data"]["seed"] == cfg["train"]["seed"]
    assert cfg["qpus"] == {} and "out" not in cfg["run"]


def test_task_specific_derivations():
    osc = resolve_config({"data": {"task": "oscillator"}})["data"]
    assert osc["length"] == 240 and "order" not in osc
    assert resolve_config({"data": {"task": "narma", "order": 7}})["data"]["order"] == 7
    assert resolve_config({"data": {"task": "narma10"}})["data"]["order"] == 10
    assert resolve_config({"data": {"seed": 9}, "train": {"seed": 1}})["data"]["seed"] == 9


def test_unknown_key_names_section_allowed_keys_and_suggestion():
    with pytest.raises(ConfigError) as err:
        resolve_config({"train": {"learning_rate": 0.1}}, source="my.toml")
    msg = str(err.value)
    assert "my.toml" in msg and "'learning_rate'" in msg and "[train]" in msg
    assert "allowed keys: ['optimizer', 'lr', 'epochs', 'batch_size', 'seed', 'threads']" in msg
    with pytest.raises(ConfigError, match="did you mean 'window'"):
        resolve_config({"data": {"windw": 3}})
    with pytest.raises(ConfigError, match=r"unknown section \[modle\].*did you mean 'model'"):
        resolve_config({"modle": {}})


@pytest.mark.parametrize(
    ("raw", "pattern"),
    [
        ({"train": {"epochs": 2.5}}, r"\[train\] epochs must be an integer, got float 2.5"),
        ({"train": {"epochs": True}}, r"epochs must be an integer, got bool"),
        ({"train": {"lr": "0.01"}}, r"lr must be a number, got str"),
        ({"model": {"dressed": 1}}, r"dressed must be a boolean"),
        ({"model": {"mode": "cut_exact"}}, r"choose one of \['exact', 'cut-exact', 'sampled'\]; did you mean 'cut-exact'"),
        ({"model": {"kind": "gru"}}, r"kind = 'gru' is not allowed"),
        ({"train": {"lr": -1.0}}, r"lr must be > 0"),
        ({"train": {"lr": float("nan")}}, r"lr must be finite"),
        ({"data": {"train_fraction": 1.0}}, r"strictly between 0 and 1"),
        ({"data": {"task": "narma"}}, r"needs data.order"),
        ({"data": {"task": "narma5", "order": 10}}, r"implies order 5"),
        ({"data": {"task": "oscillator", "order": 3}}, r"only applies to NARMA"),
        ({"data": {"window": 300}}, r"window = 300 is too long for a series of length 300"),
        ({"data": 3}, r"\[data\] must be a table"),
    ],
)
def test_invalid_values(raw, pattern):
    with pytest.raises(ConfigError, match=pattern):
        resolve_config(raw)


def test_int_is_accepted_for_float():
    cfg = resolve_config({"train": {"lr": 1}})
    assert cfg["train"]["lr"] == 1.0 and isinstance(cfg["train"]["lr"], float)


def test_overrides_are_validated_and_none_skipped():
    cfg = resolve_config({}, {"train.epochs": 3, "train.seed": None, "model.mode": "cut-exact"})
    assert cfg["train"]["epochs"] == 3 and cfg["train"]["seed"] == 0 and cfg["model"]["mode"] == "cut-exact"
    with pytest.raises(ConfigError, match="command-line overrides"):
        resolve_config({}, {"train.epochs": "many"})


def test_qpus_are_kept_and_config_round_trips_through_toml_and_json(tmp_path):
    raw = {
        "model": {"kind": "lstm"},
        "qpus": {"seed": 3, "retries": 2, "devices": [
            {"kind": "ibm", "name": "fake \"brisbane\"", "backend": "FakeBrisbane", "count": 2, "local_noise": True},
            {"kind": "aer", "name": "a", "num_qubits": 2, "noise": {"depolarizing_1q": 1e-3, "readout": 0.01}},
        ]},
        "run": {"out": "runs/x y"},
    }
    cfg = resolve_config(raw)
    assert cfg["qpus"] == raw["qpus"]
    assert tomllib.loads(to_toml(cfg)) == cfg
    assert resolve_config(tomllib.loads(to_toml(cfg))) == cfg
    dump_config(cfg, tmp_path / "c.json")
    assert json.loads((tmp_path / "c.json").read_text()) == cfg
    dump_config(cfg, tmp_path / "c.toml")
    assert load_config(tmp_path / "c.toml") == cfg
    with pytest.raises(ConfigError, match=".toml or .json"):
        dump_config(cfg, tmp_path / "c.yaml")


def test_keys_that_do_not_apply_to_the_model_are_named():
    with pytest.raises(ConfigError, match=r"\[model\] mode does not apply to kind = 'lstm'"):
        resolve_config({"model": {"kind": "lstm"}}, {"model.mode": "cut-exact"})
    with pytest.raises(ConfigError, match="n_qubits, layers do not apply to kind = 'lstm'"):
        resolve_config({"model": {"kind": "lstm", "n_qubits": 4, "layers": 2}})
    with pytest.raises(ConfigError, match="num_layers does not apply to kind = 'qlstm'"):
        resolve_config({"model": {"kind": "qlstm", "num_layers": 2}})
    with pytest.raises(ConfigError, match="shots does not apply to mode = 'cut-exact'"):
        resolve_config({"model": {"mode": "cut-exact", "shots": 100}})
    with pytest.raises(ConfigError, match="shots must be between 1 and 1e"):
        resolve_config({"model": {"mode": "sampled", "shots": 10**12}})
    assert resolve_config({"model": {"mode": "sampled", "shots": 100}})["model"]["shots"] == 100
    assert resolve_config({"model": {"mode": "sampled"}})["model"]["shots"] == 1000  # written down for resumes
    assert "shots" not in resolve_config({"model": {"mode": "cut-exact"}})["model"]


def test_qpus_table_is_checked_in_every_mode():
    bad = {"devices": [{"kind": "quantinuum", "name": "q", "num_qubits": -3}]}
    for model in ({"mode": "exact"}, {"kind": "lstm"}, {"mode": "cut-exact"}):
        with pytest.raises(ConfigError, match="unknown kind 'quantinuum'"):
            resolve_config({"model": model, "qpus": bad})
    with pytest.raises(ConfigError, match="num_qubits must be positive, got -3"):
        resolve_config({"qpus": {"devices": [{"kind": "aer", "name": "q", "num_qubits": -3}]}})
    with pytest.raises(ConfigError, match="unknown keys"):
        resolve_config({"qpus": {"devices": [{"name": "q", "num_qubits": 2}], "sheep": 1}})
    good = [{"name": "q", "num_qubits": 2}]
    for table, problem in (({"seed": "x"}, "seed must be an integer"), ({"timeout": -5}, "timeout must be a number > 0"),
                           ({"retries": 1.5}, "retries must be an integer"), ({"backoff": -1}, "backoff must be")):
        with pytest.raises(ConfigError, match=problem):
            resolve_config({"model": {"kind": "lstm"}, "qpus": {**table, "devices": good}})
    with pytest.raises(ConfigError, match="unknown noise keys \\['bogus'\\]"):
        resolve_config({"model": {"kind": "lstm"}, "qpus": {"devices": [{**good[0], "noise": {"bogus": 1}}]}})


def test_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[data\ntask = 1\n")
    with pytest.raises(ConfigError, match=r"bad.toml: invalid TOML"):
        load_config(bad)


def test_shipped_configs_load_and_compare_at_similar_size():
    names = {p.stem for p in SHIPPED}
    assert names == {f"{t}_{k}" for t in ("narma5", "narma10", "oscillator") for k in ("lstm", "qlstm")}
    counts = {}
    for path in SHIPPED:
        cfg = load_config(path)
        assert cfg["train"]["epochs"] == 100 and cfg["train"]["optimizer"] == "rmsprop"
        assert cfg["train"]["lr"] == 0.01 and cfg["data"]["window"] == 4
        if cfg["model"]["kind"] == "qlstm":
            assert cfg["model"]["n_qubits"] == 4 and cfg["model"]["ansatz"] == "chen2020"
            assert cfg["model"]["layers"] == 2
        try:
            counts[path.stem] = count_parameters(build_model(cfg["model"], 1, 1))
        except ImportError:  # QLSTM not available in this checkout
            pass
    if "narma5_qlstm" in counts:
        ratio = counts["narma5_qlstm"] / counts["narma5_lstm"]
        assert 0.8 < ratio < 1.25, counts


@pytest.mark.parametrize("path", TRAIN_CONFIGS, ids=[p.stem for p in TRAIN_CONFIGS])
def test_every_training_config_loads(path):
    cfg = load_config(path)
    assert cfg["model"]["kind"] in ("lstm", "qlstm")


def test_packaged_default_is_narma5_qlstm():
    path = default_config_path()
    assert path.is_file()
    assert load_config(path) == load_config(REPO / "experiments" / "configs" / "narma5_qlstm.toml")


@pytest.mark.parametrize(
    "data, pattern",
    [
        ({"task": "oscillator", "features": "y+u"}, "feeds the NARMA input u; task 'oscillator' has none"),
        ({"task": "narma10", "features": "y+u", "window": 5}, r"needs window >= the NARMA order 10"),
        ({"task": "narma5", "warmup": 296}, r"warmup = 296 leaves 4 of 300 points"),
    ],
)
def test_data_set_up_errors_name_the_problem(data, pattern):
    with pytest.raises(ConfigError, match=pattern):
        resolve_config({"data": data})


def test_sampled_only_keys_and_budget():
    sampled = resolve_config({"model": {"mode": "sampled"}})["model"]
    assert (sampled["shots"], sampled["allocation"], sampled["gradient"]) == (1000, "uniform", "parameter-shift")
    exact = resolve_config({})
    assert "allocation" not in exact["model"] and exact["budget"] == {}
    with pytest.raises(ConfigError, match=r"allocation, gradient do not apply to mode = 'cut-exact'"):
        resolve_config({"model": {"mode": "cut-exact", "allocation": "weighted", "gradient": "spsa"}})
    with pytest.raises(ConfigError, match=r"\[budget\] max_shots must be > 0"):
        resolve_config({"budget": {"max_shots": 0}})
    assert resolve_config({"budget": {"max_qpu_seconds": 60}})["budget"] == {"max_qpu_seconds": 60.0}


def test_a_mode_override_drops_the_files_sampling_settings():
    raw = {"model": {"mode": "sampled", "shots": 128, "allocation": "weighted"}}
    assert "shots" not in resolve_config(raw, {"model.mode": "cut-exact"})["model"]
    with pytest.raises(ConfigError, match="shots does not apply"):  # unless the command line names them too
        resolve_config(raw, {"model.mode": "cut-exact", "model.shots": 64})
    assert resolve_config(raw, {"model.mode": "sampled"})["model"]["shots"] == 128
