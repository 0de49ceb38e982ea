"""The input check every sequence model shares."""

from __future__ import annotations

import torch


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
