"""Splitting the training samples among clients and sampling clients per round."""

from __future__ import annotations

import math

import numpy as np

from dqlstm.choices import PARTITIONS

MAX_DRAWS = 1000  # label-skew: redraws allowed before giving up on every client getting a sample


def partition_indices(
    num_samples: int,
    num_clients: int,
    scheme: str = "contiguous",
    *,
    labels: np.ndarray | None = None,
    alpha: float | None = None,
    seed: int = 0,
) -> list[np.ndarray]:
    """Sample indices of each client (every sample in exactly one shard, each shard sorted).

    ``contiguous``: client k gets the k-th of ``num_clients`` consecutive blocks
    (sizes differ by at most one; for time series, a segment of the series).
    ``interleaved``: client k gets samples ``k, k + K, k + 2K, ...``.
    ``label-skew``: non-i.i.d. shards by class (Hsu, Qi, Brown 2019): for every
    class ``c`` draw ``p_c ~ Dirichlet(alpha 1_K)`` and give client ``k`` a
    ``p_{c,k}`` share of the class's shuffled samples. Small ``alpha`` skews the
    clients' label proportions strongly; ``alpha -> inf`` tends to i.i.d. shards.
    Needs ``labels`` (one class value per sample) and ``alpha``; ``seed`` fixes
    the draw. Draws leaving a client empty are redrawn from the same stream.
    """
    if scheme not in PARTITIONS:
        raise ValueError(f"unknown partition {scheme!r}; expected one of {PARTITIONS}")
    if num_clients < 1:
        raise ValueError(f"number of clients must be >= 1, got {num_clients}")
    if num_clients > num_samples:
        raise ValueError(
            f"{num_clients} clients but only {num_samples} training samples: every client needs at least one"
        )
    if scheme == "label-skew":
        return _label_skew(num_samples, num_clients, labels, alpha, seed)
    if labels is not None or alpha is not None:
        raise ValueError(f"labels and alpha apply to the label-skew partition only, not {scheme!r}")
    idx = np.arange(num_samples)
    if scheme == "contiguous":
        return [part.copy() for part in np.array_split(idx, num_clients)]
    return [idx[k::num_clients].copy() for k in range(num_clients)]


def _label_skew(
    num_samples: int, num_clients: int, labels: np.ndarray | None, alpha: float | None, seed: int
) -> list[np.ndarray]:
    if labels is None or alpha is None:
        raise ValueError("the label-skew partition needs the class labels and a Dirichlet alpha")
    y = np.asarray(labels).ravel()
    if y.shape[0] != num_samples:
        raise ValueError(f"label-skew: {y.shape[0]} labels for {num_samples} samples")
    if not np.isfinite(y.astype(np.float64)).all():
        raise ValueError("label-skew: labels contain NaN or inf")
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"label-skew: alpha must be positive and finite, got {alpha}")
    classes = np.unique(y)
    if classes.size > 64:
        raise ValueError(
            f"label-skew: {classes.size} distinct labels; it needs class labels, not a regression target"
        )
    rng = np.random.default_rng([seed, 2])
    members = [np.flatnonzero(y == c) for c in classes]
    for _ in range(MAX_DRAWS):
        shards: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
        for idx in members:
            p = rng.dirichlet(np.full(num_clients, float(alpha)))
            cuts = np.floor(np.cumsum(p)[:-1] * idx.size).astype(np.int64)
            for k, part in enumerate(np.split(rng.permutation(idx), cuts)):
                shards[k].append(part)
        out = [np.sort(np.concatenate(parts)) for parts in shards]
        if all(part.size > 0 for part in out):
            return out
    raise ValueError(
        f"label-skew: no Dirichlet(alpha={alpha}) draw in {MAX_DRAWS} gave every one of {num_clients} clients "
        f"a sample; use fewer clients or a larger alpha"
    )


def label_fractions(shards: list[np.ndarray], labels: np.ndarray) -> list[float]:
    """Fraction of label-1 samples in each shard (binary labels)."""
    y = np.asarray(labels).ravel()
    return [float(np.mean(y[s] == 1)) for s in shards]


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
