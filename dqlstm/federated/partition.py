"""Splitting the training samples among clients and sampling clients per round."""

from __future__ import annotations

import math

import numpy as np

from dqlstm.choices import PARTITIONS


def partition_indices(num_samples: int, num_clients: int, scheme: str = "contiguous") -> list[np.ndarray]:
    """Sample indices of each client.

    ``contiguous``: client k gets the k-th of ``num_clients`` consecutive blocks
    (sizes differ by at most one; for time series, a segment of the series).
    ``interleaved``: client k gets samples ``k, k + K, k + 2K, ...``.
    """
    if scheme not in PARTITIONS:
        raise ValueError(f"unknown partition {scheme!r}; expected one of {PARTITIONS}")
    if num_clients < 1:
        raise ValueError(f"number of clients must be >= 1, got {num_clients}")
    if num_clients > num_samples:
        raise ValueError(
            f"{num_clients} clients but only {num_samples} training samples: every client needs at least one"
        )
    idx = np.arange(num_samples)
    if scheme == "contiguous":
        return [part.copy() for part in np.array_split(idx, num_clients)]
    return [idx[k::num_clients].copy() for k in range(num_clients)]


def clients_per_round(num_clients: int, fraction: float) -> int:
    """``max(1, ceil(fraction * K))`` clients take part in a round (McMahan et al. 2017)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction of clients per round must be in (0, 1], got {fraction}")
    return max(1, math.ceil(fraction * num_clients - 1e-9))


def sample_clients(num_clients: int, fraction: float, seed: int, round_no: int) -> list[int]:
    """The sorted client ids of round ``round_no``; a function of ``(seed, round_no)`` only,
    so a resumed run samples exactly what an uninterrupted one does."""
    m = clients_per_round(num_clients, fraction)
    if m == num_clients:
        return list(range(num_clients))
    rng = np.random.default_rng([seed, round_no, 0])
    return sorted(int(k) for k in rng.choice(num_clients, size=m, replace=False))


def client_seed(seed: int, round_no: int, stream: int) -> int:
    """Seed of a client's local shuffling in a round (independent streams per client and round)."""
    return int(np.random.SeedSequence([seed, round_no, stream, 1]).generate_state(1, dtype=np.uint64)[0] >> 1)
