r"""Shot allocation across the distinct sub-experiments of a sampled cut estimate.

Every distinct sub-experiment circuit :math:`u = (f, d, k)` (fragment :math:`f`,
class :math:`d` of QPD terms, observable group :math:`k`; :mod:`.dedup`) runs
:math:`n_u` shots per binding, with the total :math:`N = S U` of ``uniform``
(:math:`S` = ``shots``, :math:`U` distinct circuits) kept fixed.

Variance. The estimator :math:`Y = \sum_g C_g \prod_f X_{f,d(g,f)}` is
multilinear in the class estimates :math:`X_u`; to first order in the shot
noise :math:`\varepsilon_u` (the exact form is in :mod:`.dedup`; the higher
orders are :math:`O(1/n^2)`),

.. math::
    \mathrm{Var}\,Y \approx \sum_u A_u^2 \frac{\sigma_u^2}{n_u},
    \qquad A_{f,d} = \sum_{g:\, d(g,f) = d} C_g \prod_{f' \ne f} \mu_{f',d(g,f')},

with :math:`\sigma_u^2 = 1 - \mu_u^2` the single-shot variance of the
:math:`\pm 1` outcome. The means of the other fragments are unknown before the
run but :math:`|\mu| \le 1`, so :math:`|A_{f,d}| \le w_{f,d} = \sum_{g \ni
(f,d)} |C_g|`, the *class weight* (sum of :math:`|C_g|` over the merged terms
that use the class). Minimising :math:`\sum_u w_u^2 \sigma_u^2 / n_u` subject
to :math:`\sum_u n_u = N` (Lagrange, or Cauchy-Schwarz) gives Neyman's
allocation

.. math::
    n_u = N \frac{w_u \sigma_u}{\sum_{u'} w_{u'} \sigma_{u'}}, \qquad
    \mathrm{Var}\,Y \le \frac{(\sum_u w_u \sigma_u)^2}{N},

against :math:`\frac{U}{N} \sum_u w_u^2 \sigma_u^2` for ``uniform``; the ratio
is at most 1 by Cauchy-Schwarz and equal only when all :math:`w_u \sigma_u`
agree.

* ``uniform``: :math:`n_u = S`.
* ``weighted``: :math:`n_u \propto w_u` (the optimum when every
  :math:`\sigma_u` is equal; :math:`\sigma_u \le 1` is unknown before running).
* ``adaptive``: the same optimum for the first-order variance itself,
  summed over the bindings and Pauli terms of the latest forward run:
  :math:`n_u \propto \hat s_{f,d}` with

  .. math::
      \hat s_{f,d}^2 = \operatorname{mean}_{b,t} \hat A_{f,d,b,t}^2\, \hat\sigma_{f,d,b,t}^2,
      \qquad \hat\sigma^2 = \tfrac{n}{n-1}(1 - \hat\mu^2),

  :math:`\hat A` the sensitivities :math:`\partial Y/\partial X_{f,d}` at the
  estimated means (:meth:`.dedup.MergedQPD.sensitivities`); with the bound
  :math:`|A| = w` this is :math:`w_{f,d}\hat\sigma_{f,d}`. Until a forward run
  reported it (first step) ``adaptive`` is ``weighted``. The score is shrunk
  towards the worst case by one pseudo-shot, :math:`\tilde s^2 = (M \hat s^2 +
  w^2)/(M+1)` with :math:`M` the shots (x bindings) it rests on, so a class
  that showed no spread by chance is not starved for ever. Shots depend only
  on earlier runs, so the estimator stays unbiased given them.

Floor and rounding. Each circuit gets at least :data:`MIN_SHOTS` = 2 shots (an
unbiased variance :math:`\hat v = (1-\hat\mu^2)/(n-1)` needs :math:`n \ge 2`;
a circuit of zero weight gets exactly the floor): the continuous optimum is
water-filled, :math:`n_u = \max(2, \lambda w_u)` with :math:`\lambda` fixing
the total, then rounded by largest remainder (ties to the earlier circuit), so
:math:`\sum_u n_u = N` exactly. Shots are one integer per PUB (Qiskit V2), so a
circuit has the same count for every binding of a batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dqlstm.choices import ALLOCATIONS, MAX_SHOTS

from .dedup import MergedQPD

__all__ = ["ALLOCATIONS", "MIN_SHOTS", "ShotAllocator", "allocate", "check_allocation", "class_weights"]

MIN_SHOTS = 2  # per circuit and binding: the variance estimate needs two shots


def check_allocation(allocation: object) -> str:
    """``allocation`` if it is one of :data:`ALLOCATIONS`, else a ``ValueError`` naming them."""
    if allocation not in ALLOCATIONS:
        raise ValueError(f"unknown allocation {allocation!r}; choose one of {', '.join(ALLOCATIONS)}")
    return str(allocation)


def class_weights(merged: MergedQPD, fragment: int) -> np.ndarray:
    r"""``(D_f,)`` weights :math:`w_{f,d} = \sum_{g:\, d(g,f) = d} |C_g|` of one fragment's classes."""
    classes = merged.classes[:, fragment]
    return np.bincount(classes, weights=np.abs(merged.coefficients), minlength=int(classes.max()) + 1)


def allocate(total: int, weights: np.ndarray, floor: int = MIN_SHOTS) -> np.ndarray:
    r"""Integers :math:`n_u \ge` ``floor`` summing to ``total``, proportional to ``weights`` above the floor.

    Water-filling: :math:`x_u = \max(\text{floor}, \lambda w_u)` with
    :math:`\sum_u x_u = \text{total}`, then largest-remainder rounding. All
    weights zero: as equal as the total allows.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.size == 0:
        raise ValueError("need a non-empty 1-d array of weights")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"weights must be finite and non-negative, got {w}")
    total = int(total)
    if total < floor * w.size:
        raise ValueError(
            f"{total:,} shots cannot give each of {w.size:,} sub-experiments the floor of {floor} shots"
        )
    if not np.any(w > 0):
        w = np.ones_like(w)
    fixed = w <= 0
    while True:
        free = ~fixed
        lam = (total - floor * np.count_nonzero(fixed)) / w[free].sum()
        low = free & (lam * w < floor)
        if not np.any(low):
            break
        fixed |= low
    x = np.where(fixed, float(floor), lam * w)
    n = np.floor(x).astype(np.int64)
    n = np.maximum(n, floor)
    short = total - int(n.sum())
    if short > 0:
        order = np.argsort(-(x - np.floor(x)), kind="stable")  # largest remainder first, ties by index
        n[order[:short]] += 1
    elif short < 0:  # rounding never overshoots; guards float error in lam
        order = np.argsort(x - np.floor(x), kind="stable")
        for i in order:
            if short == 0:
                break
            if n[i] > floor:
                n[i] -= 1
                short += 1
    return n


class ShotAllocator:
    r"""Shots per distinct circuit of one executor, for ``uniform``, ``weighted`` or ``adaptive``.

    Args:
        allocation: the rule (module docstring).
        shots: :math:`S`, shots per circuit under ``uniform``; the total is
            :math:`S U`.
        weights: per distinct circuit, in PUB order, the class weight
            :math:`w_u`.
        classes: per distinct circuit, the index of its class among all
            fragments' classes (circuits of one class share a score).

    Attributes:
        score: ``(n_classes,)`` adaptive scores :math:`\hat s_{f,d}`, NaN
            until a forward run reported them.
    """

    def __init__(self, allocation: str, shots: int, weights: np.ndarray, classes: np.ndarray) -> None:
        self.allocation = check_allocation(allocation)
        self.shots = int(shots)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.classes = np.asarray(classes, dtype=np.int64)
        if self.weights.shape != self.classes.shape:
            raise ValueError("one weight and one class per circuit")
        num_classes = int(self.classes.max()) + 1 if self.classes.size else 0
        self._class_weight = np.zeros(num_classes)
        self._class_weight[self.classes] = self.weights
        self.score = np.full(num_classes, np.nan)
        self.set_shots(shots)

    def set_shots(self, shots: int) -> None:
        """Change :math:`S` (the total :math:`S U` follows)."""
        if self.allocation != "uniform" and shots < MIN_SHOTS:
            raise ValueError(
                f"allocation {self.allocation!r} needs shots >= {MIN_SHOTS} per sub-experiment (every "
                f"sub-experiment gets at least {MIN_SHOTS} to estimate its variance), got {shots}"
            )
        self.shots = int(shots)
        self._fixed = None if self.allocation == "adaptive" else self._compute(self.weights)

    @property
    def num_circuits(self) -> int:
        return len(self.weights)

    @property
    def total(self) -> int:
        return self.shots * self.num_circuits

    def shots_per_circuit(self) -> np.ndarray:
        """``(U,)`` shots of each distinct circuit for the next run (sums to :math:`S U`)."""
        if self._fixed is not None:
            return self._fixed
        if np.any(np.isnan(self.score)):
            return self._compute(self.weights)  # no estimate yet: weighted
        return self._compute(self.score[self.classes])

    def _compute(self, weights: np.ndarray) -> np.ndarray:
        if self.allocation == "uniform":
            return np.full(self.num_circuits, self.shots, dtype=np.int64)
        shots = allocate(self.total, weights)
        if shots.max() > MAX_SHOTS:
            raise ValueError(
                f"allocation {self.allocation!r} gives one sub-experiment {int(shots.max()):,} shots, above the "
                f"maximum {MAX_SHOTS:,} per PUB and binding; use fewer shots"
            )
        return shots

    def observe(
        self, sensitivities: Sequence[np.ndarray], means: Sequence[np.ndarray], shots: Sequence[float]
    ) -> None:
        r"""Update the adaptive score of every class from a forward run (``adaptive`` only).

        Args:
            sensitivities: per class, :math:`\hat A` ``(*batch, n_terms)``.
            means: per class, its estimates :math:`\hat\mu`, same shape.
            shots: per class, its shots per binding.
        """
        if self.allocation != "adaptive":
            return
        if not len(sensitivities) == len(means) == len(shots) == len(self.score):
            raise ValueError(f"{len(means)} classes observed, expected {len(self.score)}")
        for c, (a, m, n) in enumerate(zip(sensitivities, means, shots)):
            n = float(n)
            a, m = np.asarray(a, dtype=np.float64), np.asarray(m, dtype=np.float64)
            single = np.clip((1.0 - m**2) * (n / (n - 1.0)), 0.0, 1.0) if n > 1 else np.ones_like(m)
            support = n * (m.size // m.shape[-1] if m.ndim else 1)  # shots x bindings
            bound = self._class_weight[c] ** 2  # one pseudo-shot at the worst case |A| = w, sigma = 1
            self.score[c] = np.sqrt((support * float(np.mean(a**2 * single)) + bound) / (support + 1.0))

    def state(self) -> np.ndarray:
        """The adaptive state (``score``), a copy."""
        return self.score.copy()

    def load_state(self, score: np.ndarray) -> None:
        score = np.asarray(score, dtype=np.float64).reshape(-1)
        if score.shape != self.score.shape:
            raise ValueError(f"allocation state has {score.size} classes, this executor {self.score.size}")
        self.score = score.copy()
