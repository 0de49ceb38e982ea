"""NARMA-n benchmark series.

``y(t+1) = 0.3 y(t) + 0.05 y(t) sum_{i=0}^{n-1} y(t-i) + 1.5 u(t-n+1) u(t) + 0.1``

with ``y(t) = 0`` for ``t < n`` (the first value that depends on the input is
``y(n)``), driven by either the deterministic input of Chen et al. (2020)

``u(t) = 0.1 [sin(2 pi 2.11 t/T) sin(2 pi 3.73 t/T) sin(2 pi 4.11 t/T) + 1]``

or a seeded random input ``u ~ U[0, 0.5]``.
"""

from __future__ import annotations

import numpy as np

from dqlstm.choices import NARMA_INPUTS

_ALPHA, _BETA, _GAMMA, _DELTA = 0.3, 0.05, 1.5, 0.1


def narma_input(length: int, kind: str = "sine", seed: int | None = None) -> np.ndarray:
    """The driving input ``u(t)``, ``t = 0..length-1``.

    ``kind="sine"`` is deterministic (``seed`` is ignored); ``kind="random"``
    draws ``U[0, 0.5]`` from ``numpy.random.default_rng(seed)``.
    """
    if length < 1:
        raise ValueError(f"NARMA input length must be >= 1, got {length}")
    if kind == "sine":
        t = np.arange(length, dtype=np.float64)
        T = float(length)
        return 0.1 * (
            np.sin(2 * np.pi * 2.11 * t / T)
            * np.sin(2 * np.pi * 3.73 * t / T)
            * np.sin(2 * np.pi * 4.11 * t / T)
            + 1.0
        )
    if kind == "random":
        return np.random.default_rng(seed).uniform(0.0, 0.5, size=length)
    raise ValueError(f"unknown NARMA input {kind!r}; expected one of {NARMA_INPUTS}")


def narma_series(
    order: int,
    length: int = 300,
    input: str = "sine",  # noqa: A002 - mirrors the config key
    seed: int | None = None,
    u: np.ndarray | None = None,
) -> np.ndarray:
    """NARMA-``order`` output ``y(t)``, ``t = 0..length-1`` (float64).

    Pass ``u`` to drive the system with a given input instead of ``input``/``seed``.
    Raises ``ValueError`` if the recurrence diverges (possible for random
    input and large orders).
    """
    if order < 1:
        raise ValueError(f"NARMA order must be >= 1, got {order}")
    if length <= order:
        raise ValueError(f"NARMA-{order} needs length > {order} points, got {length}")
    if u is None:
        u = narma_input(length, input, seed)
    u = np.asarray(u, dtype=np.float64)
    if u.shape != (length,):
        raise ValueError(f"NARMA input must have shape ({length},), got {u.shape}")
    y = np.zeros(length, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(order - 1, length - 1):
            y[t + 1] = (
                _ALPHA * y[t]
                + _BETA * y[t] * y[t - order + 1 : t + 1].sum()
                + _GAMMA * u[t - order + 1] * u[t]
                + _DELTA
            )
    if not np.all(np.isfinite(y)):
        first = int(np.argmax(~np.isfinite(y)))
        raise ValueError(f"NARMA-{order} series diverged at t={first} (input {input!r}, seed {seed})")
    return y
