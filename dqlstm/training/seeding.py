"""Seeding and capturing/restoring every random number generator a run uses."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global RNG and torch's global RNG."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state(shuffle: torch.Generator | None = None) -> dict[str, Any]:
    """Snapshot of the global RNGs (and the shuffle generator) for checkpoints."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if shuffle is not None:
        state["shuffle"] = shuffle.get_state()
    return state


def set_rng_state(state: dict[str, Any], shuffle: torch.Generator | None = None) -> None:
    """Restore a snapshot taken by :func:`rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if shuffle is not None:
        if "shuffle" not in state:
            raise ValueError("checkpoint has no shuffle-generator state to restore")
        shuffle.set_state(state["shuffle"])
