"""Assembly: a resolved config becomes a model and the QPU pool it runs on.

The pool is the one resource a run holds. :func:`open_pool` opens it and
closes it on every exit path (normal end, exception, Ctrl-C). Models receive
what they need of it - the QPU widths their circuits are cut for and, in
``sampled`` mode, the pool as executor - and never build infrastructure.
Defaults of ``[model]`` keys come from the config schema, the one place they
are defined.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

from dqlstm.choices import CUT_MODES, MODEL_KINDS
from dqlstm.config import SCHEMA
from dqlstm.models.classifier import SequenceClassifier
from dqlstm.models.regressor import SequenceRegressor

# [model] keys that are engine options of the cutting modes
ENGINE_KEYS = ("max_qubits", "shots", "allocation", "gradient", "spsa_perturbation")


def model_settings(model_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``model_cfg`` with every unset ``[model]`` key filled from the schema's default."""
    filled = {name: key.default for name, key in SCHEMA["model"].items() if key.default is not None}
    filled.update({k: v for k, v in model_cfg.items() if v is not None})
    return filled


def runs_on_qpus(cfg: Mapping[str, Any]) -> bool:
    """Whether the config's model executes on the ``[qpus]`` devices (a QLSTM in a cutting mode)."""
    model = model_settings(cfg.get("model", {}))
    return model["kind"] == "qlstm" and model["mode"] in CUT_MODES and bool((cfg.get("qpus") or {}).get("devices"))


@contextlib.contextmanager
def open_pool(cfg: Mapping[str, Any], seed: int | None = None) -> Iterator[Any]:
    """The ``QPUPool`` of ``cfg["qpus"]`` while the block runs, ``None`` where the model needs none.

    The ``[qpus]`` table is checked in every mode (nothing is built for it in
    ``exact`` mode or for an LSTM); the pool is closed however the block ends.
    A table without its own ``seed`` takes ``seed`` (the run's), so a fixed
    run seed fixes the shots too.
    """
    table = cfg.get("qpus") or {}
    if table:
        from backends.schema import check_pool_config

        check_pool_config(table)
    if not runs_on_qpus(cfg):
        yield None
        return
    from backends import pool_from_config

    if seed is not None and table.get("seed") is None:
        table = {**table, "seed": seed}
    pool = pool_from_config(table)
    try:
        yield pool
    finally:
        pool.close()


def build_core(
    model_cfg: Mapping[str, Any], input_size: int, *, seed: int | None = None, pool: Any = None
) -> nn.Module:
    """The recurrent core (``LSTM`` or ``QLSTM``) described by a ``[model]`` table.

    In a cutting mode with a ``pool`` the circuits are cut for its widest QPU
    (unless ``max_qubits`` is set) and, in ``sampled`` mode, the pool executes
    the sub-experiments. ``sampled`` without a pool runs on a local Aer sampler
    seeded by ``seed``, so a fixed seed reproduces the run.
    """
    m = model_settings(model_cfg)
    kind = m["kind"]
    if kind == "lstm":
        from dqlstm.models.lstm import LSTM

        return LSTM(input_size, int(m["hidden_size"]), num_layers=int(m["num_layers"]))
    if kind != "qlstm":
        raise ValueError(f"unknown model kind {kind!r}; expected one of {MODEL_KINDS}")
    from dqlstm.models.qlstm import QLSTM

    mode = m["mode"]
    options: dict[str, Any] = {}
    if mode in CUT_MODES:
        options = {k: m[k] for k in ENGINE_KEYS if m.get(k) is not None}
        if pool is not None:
            # the pool sends a fragment to any QPU wide enough: fragments up to the widest
            options.setdefault("max_qubits", max(q.num_qubits for q in pool.qpus))
        if mode == "sampled" and pool is not None:
            options["pool"] = pool
        elif mode == "sampled" and seed is not None:
            options["seed"] = seed  # the default sampler: a fixed seed reproduces the run
    return QLSTM(
        input_size,
        int(m["hidden_size"]),
        n_qubits=int(m["n_qubits"]),
        ansatz=m["ansatz"],
        layers=int(m["layers"]),
        dressed=bool(m["dressed"]),
        module_size=int(m["module_size"]),
        links=int(m["links"]),
        mode=mode,
        engine_options=options or None,
        seed=seed,
        cell=m["cell"],
        init=m["init"],
    )


def build_model(
    model_cfg: Mapping[str, Any], input_size: int, output_size: int, *, seed: int | None = None, pool: Any = None
) -> SequenceRegressor:
    """``SequenceRegressor`` around the core named by ``model_cfg["kind"]``."""
    return SequenceRegressor(build_core(model_cfg, input_size, seed=seed, pool=pool), output_size)


def build_classifier(
    model_cfg: Mapping[str, Any], num_features: int, steps: int, *, seed: int | None = None, pool: Any = None
) -> SequenceClassifier:
    """A ``SequenceClassifier`` around the ``[model]`` table's core.

    A ``seed`` fixes every initial parameter: :func:`build_model` seeds only the
    QLSTM core, so the LSTM and the head are drawn from a forked, seeded global
    RNG (the caller's RNG state is left untouched).
    """
    if steps < 1 or num_features % steps:
        raise ValueError(f"{num_features} features cannot be read as {steps} equal time steps")
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        regressor = build_model(model_cfg, num_features // steps, 1, seed=seed, pool=pool)
    return SequenceClassifier(regressor, num_features, steps)
