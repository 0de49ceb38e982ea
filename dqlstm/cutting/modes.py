"""One dispatcher for the three ways a gate circuit is evaluated: ``exact``, ``cut-exact``, ``sampled``.

Every model (``QLSTM``, ``DistributedQLSTM``) and the config schema take the
mode names, the engine options each mode accepts and the defaults from here,
so a mode, an option or a default is defined once.

Shot defaults and limits are :mod:`dqlstm.cutting.guard`'s (re-exported here).

Every engine has ``prepare(weights (G, P_w)) -> callable(angles) -> (G, B, n_obs)``
with torch autograd flowing to both weights and angles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dqlstm.choices import CUT_MODES, DEFAULT_SHOTS, MAX_SHOTS, MODES

from .guard import check_shots

ENGINE_OPTIONS: dict[str, tuple[str, ...]] = {
    "exact": ("dtype", "unitary_max_qubits"),
    "cut-exact": ("max_qubits", "plan"),
    "sampled": ("max_qubits", "plan", "pool", "shots", "seed", "allocation", "gradient", "spsa_perturbation"),
}
__all__ = [
    "CUT_MODES",
    "DEFAULT_SHOTS",
    "ENGINE_OPTIONS",
    "MAX_SHOTS",
    "MODES",
    "check_engine_options",
    "check_mode",
    "check_shots",
    "make_gate_engine",
]


def check_mode(mode: Any, allowed: Sequence[str] = MODES, who: str = "mode") -> str:
    """``mode`` if it is one of ``allowed``, else a ``ValueError`` naming the choices."""
    if mode not in allowed:
        raise ValueError(f"unknown {who} {mode!r}; choose one of {', '.join(allowed)}")
    return mode


def check_engine_options(mode: str, options: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming every option ``mode`` does not take."""
    check_mode(mode)
    unknown = sorted(set(options) - set(ENGINE_OPTIONS[mode]))
    if unknown:
        raise ValueError(
            f"mode {mode!r} takes the engine options {', '.join(ENGINE_OPTIONS[mode])}; "
            f"{', '.join(unknown)} {'does' if len(unknown) == 1 else 'do'} not apply to it"
        )


def make_gate_engine(vqc: Any, mode: str = "exact", **options: Any):
    """The engine of ``mode`` for a ``GateCircuit``.

    ``cut-exact``/``sampled`` plan the cuts for ``max_qubits`` unless a ``plan``
    is given; the modular ansatz defaults to one QPU per module. ``sampled``
    runs on ``pool`` (default: a local Aer sampler seeded by ``seed``) with
    ``shots`` per sub-experiment and binding (default :data:`DEFAULT_SHOTS`),
    spread by ``allocation`` (default ``uniform``), with gradients by
    ``gradient`` (default ``parameter-shift``; ``spsa`` perturbs by
    ``spsa_perturbation``, default 0.1).
    """
    check_engine_options(mode, options)
    if mode == "exact":
        from dqlstm.engine import ExactEngine

        return ExactEngine(vqc.circuit, vqc.inputs, vqc.weights, **options)
    from .plans import resolve_plan

    plan, max_qubits = options.get("plan"), options.get("max_qubits")
    if plan is None and max_qubits is None and vqc.ansatz == "modular":
        max_qubits = max(len(m) for m in vqc.modules)  # the modular ansatz names its QPUs: one per module
    plan = resolve_plan(vqc.circuit, plan, max_qubits, f"mode {mode!r} with the {vqc.ansatz} ansatz")
    if mode == "cut-exact":
        from .cut_exact import CutExactEngine

        return CutExactEngine(vqc.circuit, vqc.inputs, vqc.weights, plan=plan)
    from .gate_engines import SampledGateEngine

    shots = check_shots(options["shots"]) if options.get("shots") is not None else DEFAULT_SHOTS
    extra = {
        k: options[k] for k in ("allocation", "gradient", "spsa_perturbation") if options.get(k) is not None
    }
    return SampledGateEngine(
        vqc, plan, pool=options.get("pool"), shots=shots, seed=options.get("seed"), **extra
    )
