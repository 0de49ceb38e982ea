"""Argument checks shared by every engine, so each names the problem the same way."""

from __future__ import annotations

import torch


def real_dtype_of(dtype: torch.dtype) -> torch.dtype:
    """``float64`` for ``complex128``, ``float32`` for ``complex64``; anything else is refused."""
    if dtype == torch.complex128:
        return torch.float64
    if dtype == torch.complex64:
        return torch.float32
    raise ValueError(f"dtype must be torch.complex64 or torch.complex128, got {dtype}")


def check_weights(weights: torch.Tensor, num_weights: int) -> torch.Tensor:
    """``(G, num_weights)`` weight sets (a vector is one set)."""
    if weights.ndim == 1:
        weights = weights.unsqueeze(0)
    if weights.ndim != 2 or weights.shape[1] != num_weights:
        raise ValueError(f"weights must have shape (G, {num_weights}), got {tuple(weights.shape)}")
    if weights.shape[0] == 0:
        raise ValueError("weights hold no weight set (G = 0)")
    return weights


def check_angles(angles: torch.Tensor, num_inputs: int, num_sets: int) -> None:
    """``(B, num_inputs)`` shared by every weight set, or ``(G, B, num_inputs)`` one per set."""
    if angles.ndim not in (2, 3) or angles.shape[-1] != num_inputs:
        raise ValueError(
            f"input angles must have shape (B, {num_inputs}) or (G, B, {num_inputs}), "
            f"got {tuple(angles.shape)}"
        )
    if angles.ndim == 3 and angles.shape[0] != num_sets:
        raise ValueError(f"angles carry {angles.shape[0]} weight sets but {num_sets} were given")
    if angles.shape[-2] == 0:
        raise ValueError("input angles hold no samples (B = 0)")
