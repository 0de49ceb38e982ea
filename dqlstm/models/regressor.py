"""Sequence-to-one regression head and the model factory used by training."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

MODEL_KINDS = ("lstm", "qlstm")
ENGINE_OPTION_KEYS = ("max_qubits", "shots")  # [model] keys forwarded to the QLSTM's engine


def check_sequence_input(x: torch.Tensor, input_size: int, who: str = "model") -> None:
    """Raise ``ValueError`` unless ``x`` is a finite ``(batch, seq, input_size)`` tensor."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{who} expects a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 3:
        raise ValueError(f"{who} expects input of shape (batch, seq, features), got {tuple(x.shape)}")
    if x.shape[-1] != input_size:
        raise ValueError(f"{who} expects {input_size} feature(s) per time step, got {x.shape[-1]}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{who} got an empty batch or sequence: shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{who} input contains NaN or inf values")


def _param_dtype(module: nn.Module) -> torch.dtype:
    for p in module.parameters():
        return p.dtype
    return torch.get_default_dtype()


class SequenceRegressor(nn.Module):
    """A recurrent ``core`` followed by ``Linear`` on its last hidden state.

    ``core`` follows the LSTM/QLSTM convention (``input_size``/``hidden_size``
    attributes; ``forward(x) -> (outputs, (h_n, c_n))``). ``forward(x)`` maps
    ``(batch, seq, input_size)`` to ``(batch, out_features)``.
    """

    def __init__(self, core: nn.Module, out_features: int) -> None:
        super().__init__()
        for attr in ("input_size", "hidden_size"):
            if not hasattr(core, attr):
                raise ValueError(f"SequenceRegressor core {type(core).__name__} has no {attr!r} attribute")
        if out_features < 1:
            raise ValueError(f"out_features must be >= 1, got {out_features}")
        self.core = core
        self.input_size = int(core.input_size)
        self.out_features = int(out_features)
        # The head matches the core's precision (the exact quantum engine may be float64).
        self.head = nn.Linear(int(core.hidden_size), self.out_features, dtype=_param_dtype(core))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence_input(x, self.input_size, type(self).__name__)
        _, (h_n, _) = self.core(x)
        return self.head(h_n)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def build_core(
    model_cfg: Mapping[str, Any],
    input_size: int,
    seed: int | None = None,
    qpus: Mapping[str, Any] | None = None,
) -> nn.Module:
    """The recurrent core (``LSTM`` or ``QLSTM``) described by a ``[model]`` table.

    A cutting mode with a ``[qpus]`` table runs on those QPUs: their widths are
    the capacities the circuits are cut for (unless ``max_qubits`` is set) and,
    for ``sampled``, the pool executes the sub-experiments.
    """
    kind = model_cfg.get("kind", "lstm")
    hidden = int(model_cfg.get("hidden_size", 4))
    if kind == "lstm":
        from dqlstm.models.lstm import LSTM

        return LSTM(input_size, hidden, num_layers=int(model_cfg.get("num_layers", 1)))
    if kind == "qlstm":
        from dqlstm.models.qlstm import QLSTM

        mode = model_cfg.get("mode", "exact")
        # The exact engine takes no options; cutting engines get the ones that are set.
        options = {k: model_cfg[k] for k in ENGINE_OPTION_KEYS if model_cfg.get(k) is not None}
        if mode != "exact" and qpus and qpus.get("devices"):
            from backends import pool_from_config

            from dqlstm.models.distributed import qpu_capacities

            pool = pool_from_config(qpus)
            # the pool sends a fragment to any QPU wide enough: fragments up to the widest
            options.setdefault("max_qubits", max(qpu_capacities(pool)))
            if mode == "sampled":
                options["pool"] = pool
            else:
                pool.close()
        return QLSTM(
            input_size,
            hidden,
            n_qubits=int(model_cfg.get("n_qubits", 4)),
            ansatz=model_cfg.get("ansatz", "chen2020"),
            layers=int(model_cfg.get("layers", 2)),
            dressed=bool(model_cfg.get("dressed", True)),
            module_size=int(model_cfg.get("module_size", 3)),
            links=int(model_cfg.get("links", 0)),
            mode=mode,
            engine_options=options if mode != "exact" and options else None,
            seed=seed,
        )
    raise ValueError(f"unknown model kind {kind!r}; expected one of {MODEL_KINDS}")


def build_model(
    model_cfg: Mapping[str, Any],
    input_size: int,
    output_size: int,
    seed: int | None = None,
    qpus: Mapping[str, Any] | None = None,
) -> SequenceRegressor:
    """``SequenceRegressor`` around the core named by ``model_cfg["kind"]``."""
    return SequenceRegressor(build_core(model_cfg, input_size, seed=seed, qpus=qpus), output_size)
