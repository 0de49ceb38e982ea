"""Damped nonlinear pendulum (the "damped harmonic oscillator" benchmark).

``theta'' = -(b/m) theta' - g sin(theta)``, integrated with scipy's
``solve_ivp`` (DOP853, rtol 1e-10, atol 1e-12) and sampled on a uniform grid
of ``num_points`` in ``[0, t_end]``. The benchmark series is ``theta'``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp


@dataclass(frozen=True)
class OscillatorSolution:
    """Sampled trajectory: times, angle ``theta`` and angular velocity ``omega``."""

    t: np.ndarray
    theta: np.ndarray
    omega: np.ndarray


def damped_oscillator(
    num_points: int = 240,
    t_end: float = 20.0,
    damping: float = 0.15,
    gravity: float = 9.81,
    mass: float = 1.0,
    theta0: float = 0.0,
    omega0: float = 3.0,
    rtol: float = 1e-10,
    atol: float = 1e-12,
) -> OscillatorSolution:
    """Integrate the damped pendulum and sample it at ``num_points`` times."""
    if num_points < 2:
        raise ValueError(f"oscillator needs at least 2 points, got {num_points}")
    if not t_end > 0:
        raise ValueError(f"oscillator t_end must be > 0, got {t_end}")
    if not mass > 0:
        raise ValueError(f"oscillator mass must be > 0, got {mass}")

    def rhs(_t: float, state: np.ndarray) -> list[float]:
        theta, omega = state
        return [omega, -(damping / mass) * omega - gravity * np.sin(theta)]

    t = np.linspace(0.0, t_end, num_points)
    sol = solve_ivp(rhs, (0.0, t_end), [theta0, omega0], method="DOP853", t_eval=t, rtol=rtol, atol=atol)
    if not sol.success:  # pragma: no cover - smooth RHS, should not happen
        raise RuntimeError(f"oscillator integration failed: {sol.message}")
    return OscillatorSolution(t=t, theta=sol.y[0].copy(), omega=sol.y[1].copy())


def oscillator_series(num_points: int = 240, t_end: float = 20.0) -> np.ndarray:
    """The benchmark series ``theta'(t)`` (float64, shape ``(num_points,)``)."""
    return damped_oscillator(num_points=num_points, t_end=t_end).omega
