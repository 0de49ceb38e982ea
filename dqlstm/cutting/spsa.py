r"""Simultaneous-perturbation (SPSA) Jacobians for the ``sampled`` mode.

For a binding :math:`\theta \in \mathbb{R}^P` and a Rademacher direction
:math:`\Delta \in \{-1, +1\}^P` (independent fair signs),

.. math::
    \hat J = \frac{f(\theta + c_k \Delta) - f(\theta - c_k \Delta)}{2 c_k}\, \Delta^T,
    \qquad c_k = \frac{c}{(k+1)^{\gamma}}, \quad \gamma = 0.101,

(Spall 1998: :math:`\gamma = 0.101` is his standard choice; :math:`c` is the
config's ``spsa_perturbation``, :math:`k` the optimiser step counted from 0).
Two evaluations of the cut circuit per binding and step, whatever :math:`P`.

Bias. Taylor-expanding :math:`f(\theta \pm c\Delta)` and averaging over
:math:`\Delta` (only index pairings survive, :math:`E[\Delta\Delta^T] = I`),

.. math::
    E\,\hat J_p = \partial_p f + \frac{c_k^2}{6}\Big(\partial_p^3 f
    + 3 \sum_{q \ne p} \partial_q^2 \partial_p f\Big) + O(c_k^4),

an :math:`O(c_k^2)` bias that shrinks only slowly with :math:`k`
(:math:`c_k^2 \propto k^{-0.202}`): a smaller ``spsa_perturbation`` lowers it
and raises the shot noise. For the circuits here (one rotation per
parameter) :math:`\partial_p^3 f = -\partial_p f`. The variance has a
direction part :math:`\sum_{q \ne p} (\partial_q f)^2` per component (no
parameter-shift estimate has it) and a shot part :math:`(\mathrm{Var} f^+ +
\mathrm{Var} f^-)/(4 c_k^2)`; the reported standard error is the shot part
only (the direction part cannot be estimated from one draw).

Gain. Spall's :math:`a_k = a / (k + 1 + A)^{0.602}` step size is not applied
here: the estimate is a gradient for the torch optimiser, whose learning rate
(and its schedule, if any) plays that role.

Reproducibility. :math:`\Delta` of a call is drawn from a generator seeded by
the pool seed, the number of SPSA Jacobians drawn before and the bindings'
content (SHA-256), like the shots' seeds (:func:`backends.pool.draw_seed`);
both counters are engine state saved in the model's ``state_dict``, so a
resumed run draws what an uninterrupted one would.
"""

from __future__ import annotations

import hashlib

import numpy as np

from dqlstm.choices import GRADIENTS

__all__ = ["GRADIENTS", "SPSA_GAMMA", "check_gradient", "check_perturbation", "perturbation", "rademacher"]

SPSA_GAMMA = 0.101


def check_gradient(gradient: object) -> str:
    """``gradient`` if it is one of :data:`GRADIENTS`, else a ``ValueError`` naming them."""
    if gradient not in GRADIENTS:
        raise ValueError(f"unknown gradient {gradient!r}; choose one of {', '.join(GRADIENTS)}")
    return str(gradient)


def check_perturbation(c: object) -> float:
    """A finite positive SPSA perturbation :math:`c` (radians)."""
    if isinstance(c, bool) or not isinstance(c, (int, float, np.integer, np.floating)):
        raise ValueError(f"spsa_perturbation must be a positive number, got {c!r}")
    if not (np.isfinite(c) and c > 0):
        raise ValueError(f"spsa_perturbation must be a positive finite number, got {c!r}")
    return float(c)


def perturbation(c: float, step: int) -> float:
    r""":math:`c_k = c / (k+1)^{0.101}` for optimiser step :math:`k \ge 0`."""
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    return float(c) / (step + 1) ** SPSA_GAMMA


def rademacher(seed: int, draw: int, values: np.ndarray) -> np.ndarray:
    """``(B, P)`` fair random signs for the bindings ``values``, fixed by ``seed``, ``draw`` and their content."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    digest = hashlib.sha256(
        f"{int(seed)}|spsa|{int(draw)}|{values.shape}|".encode() + values.tobytes()
    ).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:16], "little"))
    return 1.0 - 2.0 * rng.integers(0, 2, size=values.shape).astype(np.float64)
