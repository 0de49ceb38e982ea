"""Cutting engines behind the QLSTM's gate circuits (``mode`` = cut-exact | sampled).

Both follow the exact engine's interface: ``prepare(weights (G, P_w))``
returns a callable ``angles (B, P_in) or (G, B, P_in) -> (G, B, n_obs)`` with
gradients for weights and angles, and ``cut_summary()`` reports the cost.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from dqlstm.circuits import GateCircuit
from dqlstm.engine.checks import check_angles, check_weights
from dqlstm.engine.observables import z_observables

from .cut_exact import CutExactEngine
from .plans import plan_summary, resolve_plan


class SampledGateEngine:
    """The four gate circuits evaluated as one batch of sampled cut executions.

    Row ``g * B + b`` of the executor's bindings holds sample ``b``'s angles
    and gate ``g``'s weights, so one PUB per sub-experiment carries the whole
    batch of all gates.
    """

    def __init__(self, vqc: GateCircuit, plan, pool=None, shots: int = 1000, seed: int | None = None):
        from .sampled import SampledCutExecutor

        self.vqc = vqc
        self.plan = plan
        self.executor = SampledCutExecutor.from_plan(
            plan, vqc.circuit, z_observables(vqc.num_qubits), pool=pool, shots=shots, seed=seed
        )
        order = {p: i for i, p in enumerate(vqc.circuit.parameters)}
        self._input_cols = torch.tensor([order[p] for p in vqc.inputs if p in order], dtype=torch.long)
        self._weight_cols = torch.tensor([order[p] for p in vqc.weights if p in order], dtype=torch.long)
        self._input_used = [i for i, p in enumerate(vqc.inputs) if p in order]
        self._weight_used = [i for i, p in enumerate(vqc.weights) if p in order]
        self.calls = 0

    def prepare(self, weights: torch.Tensor):
        weights = check_weights(weights, self.vqc.num_weights)
        return lambda angles: self(angles, weights)

    def __call__(self, angles: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        from .torch_sampled import sampled_expectation

        weights = check_weights(weights, self.vqc.num_weights)
        G = weights.shape[0]
        check_angles(angles, self.vqc.num_inputs, G)
        B = angles.shape[-2]
        a = angles.expand(G, B, angles.shape[-1]).reshape(G * B, -1)[:, self._input_used]
        w = weights[:, None, self._weight_used].expand(G, B, len(self._weight_used)).reshape(G * B, -1)
        P = len(self.vqc.circuit.parameters)
        params = torch.zeros(G * B, P, dtype=torch.float64)
        params = params.index_copy(1, self._input_cols, a.double()).index_copy(1, self._weight_cols, w.double())
        self.calls += 1
        return sampled_expectation(self.executor, params).reshape(G, B, -1)

    def cut_summary(self) -> dict[str, Any]:
        summary = {
            "mode": "sampled",
            **plan_summary(self.plan),
            "num_subexperiments": self.executor.num_subexperiments,
            "shots_per_subexperiment": self.executor.shots,
            "evaluations": self.calls,
            # forward runs and parameter-shift runs executed so far
            "executed": {
                "num_pubs": self.executor.total_cost.num_pubs,
                "num_circuits": self.executor.total_cost.num_circuits_executed,
                "total_shots": self.executor.total_cost.total_shots,
            },
        }
        stats = getattr(self.executor.pool, "stats", None)  # a QPUPool reports per-QPU work
        if stats is not None and hasattr(stats, "to_dict"):
            summary["pool"] = stats.to_dict()
        return summary


def gate_engine_for_mode(
    vqc: GateCircuit,
    mode: str,
    *,
    max_qubits: int | Sequence[int] | None = None,
    plan=None,
    pool=None,
    shots: int | None = None,
    seed: int | None = None,
):
    """Engine of ``mode`` for a gate circuit; the plan is made for ``max_qubits`` if not given."""
    if plan is None and max_qubits is None and vqc.ansatz == "modular":
        max_qubits = max(len(m) for m in vqc.modules)  # the modular ansatz names its QPUs: one per module
    if shots is not None and (not isinstance(shots, int) or shots <= 0):
        raise ValueError(f"shots must be a positive integer, got {shots!r}")
    plan = resolve_plan(vqc.circuit, plan, max_qubits, f"mode {mode!r} with the {vqc.ansatz} ansatz")
    if mode == "cut-exact":
        if pool is not None or shots is not None:
            raise ValueError("pool and shots only apply to mode 'sampled'")
        return CutExactEngine(vqc.circuit, vqc.inputs, vqc.weights, plan=plan)
    if mode == "sampled":
        return SampledGateEngine(vqc, plan, pool=pool, seed=seed, **({"shots": shots} if shots else {}))
    raise ValueError(f"unknown cutting mode {mode!r}; choose cut-exact or sampled")
