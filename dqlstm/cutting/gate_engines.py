"""The sampled engine behind the QLSTM's gate circuits (``mode = "sampled"``).

It follows the exact engine's interface: ``prepare(weights (G, P_w))``
returns a callable ``angles (B, P_in) or (G, B, P_in) -> (G, B, n_obs)`` with
gradients for weights and angles, and ``cut_summary()`` reports the cost.
:func:`dqlstm.cutting.modes.make_gate_engine` chooses between the engines.
"""

from __future__ import annotations

from typing import Any

import torch

from dqlstm.circuits import GateCircuit
from dqlstm.engine.checks import check_angles, check_weights
from dqlstm.engine.observables import z_observables

from .plans import plan_summary


class SampledGateEngine:
    """The four gate circuits evaluated as one batch of sampled cut executions.

    Row ``g * B + b`` of the executor's bindings holds sample ``b``'s angles
    and gate ``g``'s weights, so one PUB per sub-experiment carries the whole
    batch of all gates.
    """

    def __init__(self, vqc: GateCircuit, plan, pool=None, *, shots: int, seed: int | None = None):
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
            "num_subexperiments": self.executor.num_subexperiments,  # distinct circuits, the ones that run
            "num_subexperiments_listed": self.executor.num_subexperiments_listed,
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
