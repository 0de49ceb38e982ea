"""The sampled engine behind the QLSTM's gate circuits (``mode = "sampled"``).

It follows the exact engine's interface: ``prepare(weights (G, P_w))``
returns a callable ``angles (B, P_in) or (G, B, P_in) -> (G, B, n_obs)`` with
gradients for weights and angles, and ``cut_summary()`` reports the cost.
:func:`dqlstm.cutting.modes.make_gate_engine` chooses between the engines.

State. With ``allocation = "adaptive"`` or ``gradient = "spsa"`` the engine
has state a resumed run needs (the classes' adaptive scores, the SPSA
step and draw counters). The engine is an ``nn.Module`` held by the QLSTM, so
that state is in the model's ``state_dict`` (float64 tensors under
``<engine>.sampled_state.*``, produced from the executor when saved and
written back when loaded) and rides in every checkpoint. ``uniform`` with
parameter shift has none: its ``state_dict`` entries are unchanged.

SPSA step. :math:`k` counts training forward passes: ``prepare`` with grad
enabled and weights that require grad (one per optimiser step in
``train_epoch``); evaluation under ``no_grad`` does not count.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from dqlstm.circuits import GateCircuit
from dqlstm.engine.checks import check_angles, check_weights
from dqlstm.engine.observables import z_observables

from .plans import plan_summary

_STATE = "sampled_state."  # state_dict key prefix of the engine's state


class SampledGateEngine(nn.Module):
    """The four gate circuits evaluated as one batch of sampled cut executions.

    Row ``g * B + b`` of the executor's bindings holds sample ``b``'s angles
    and gate ``g``'s weights, so one PUB per sub-experiment carries the whole
    batch of all gates. ``allocation``, ``gradient`` and ``spsa_perturbation``
    go to the :class:`~dqlstm.cutting.sampled.SampledCutExecutor`.
    """

    def __init__(
        self,
        vqc: GateCircuit,
        plan,
        pool=None,
        *,
        shots: int,
        seed: int | None = None,
        allocation: str = "uniform",
        gradient: str = "parameter-shift",
        spsa_perturbation: float = 0.1,
    ):
        super().__init__()
        from .sampled import SampledCutExecutor

        self.vqc = vqc
        self.plan = plan
        self.executor = SampledCutExecutor.from_plan(
            plan,
            vqc.circuit,
            z_observables(vqc.num_qubits),
            pool=pool,
            shots=shots,
            seed=seed,
            allocation=allocation,
            gradient=gradient,
            spsa_perturbation=spsa_perturbation,
        )
        self.stateful = allocation == "adaptive" or gradient == "spsa"
        self.train_steps = 0  # training forward passes begun (the SPSA k of the next one)
        order = {p: i for i, p in enumerate(vqc.circuit.parameters)}
        self._input_cols = torch.tensor([order[p] for p in vqc.inputs if p in order], dtype=torch.long)
        self._weight_cols = torch.tensor([order[p] for p in vqc.weights if p in order], dtype=torch.long)
        self._input_used = [i for i, p in enumerate(vqc.inputs) if p in order]
        self._weight_used = [i for i, p in enumerate(vqc.weights) if p in order]
        self.calls = 0

    def prepare(self, weights: torch.Tensor):
        weights = check_weights(weights, self.vqc.num_weights)
        if torch.is_grad_enabled() and weights.requires_grad:  # a training step: SPSA's k
            self.executor.spsa_step = self.train_steps
            self.train_steps += 1
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
        params = params.index_copy(1, self._input_cols, a.double()).index_copy(
            1, self._weight_cols, w.double()
        )
        self.calls += 1
        return sampled_expectation(self.executor, params).reshape(G, B, -1)

    def cut_summary(self) -> dict[str, Any]:
        summary = {
            "mode": "sampled",
            **plan_summary(self.plan),
            "num_subexperiments": self.executor.num_subexperiments,  # distinct circuits, the ones that run
            "num_subexperiments_listed": self.executor.num_subexperiments_listed,
            "shots_per_subexperiment": self.executor.shots,
            "allocation": self.executor.allocation,
            "gradient": self.executor.gradient,
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

    # -- state in the model's state_dict (adaptive allocation, SPSA) ---------------

    def _state_tensors(self) -> dict[str, torch.Tensor]:
        state = self.executor.state()
        steps = np.array([self.train_steps], dtype=np.float64)
        return {
            "score": torch.as_tensor(state["score"], dtype=torch.float64),
            "spsa": torch.as_tensor(state["spsa"], dtype=torch.float64),
            "train_steps": torch.as_tensor(steps, dtype=torch.float64),
        }

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        if self.stateful:
            for name, value in self._state_tensors().items():
                destination[prefix + _STATE + name] = value

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):
        own = {k[len(prefix + _STATE) :]: k for k in state_dict if k.startswith(prefix + _STATE)}
        if self.stateful:
            expected = self._state_tensors()
            absent = [prefix + _STATE + n for n in expected if n not in own]
            if absent:
                missing_keys.extend(absent)
            else:
                values = {n: state_dict[own[n]].detach().cpu().to(torch.float64).numpy() for n in expected}
                if values["score"].shape != expected["score"].shape:
                    error_msgs.append(
                        f"{prefix + _STATE}score: {values['score'].shape[0]} classes in the checkpoint, "
                        f"{expected['score'].shape[0]} in this model's cut plan"
                    )
                else:
                    self.executor.load_state({"score": values["score"], "spsa": values["spsa"]})
                    self.train_steps = round(float(values["train_steps"][0]))
        elif strict:
            unexpected_keys.extend(own.values())
        rest = {k: v for k, v in state_dict.items() if not k.startswith(prefix + _STATE)}
        super()._load_from_state_dict(
            rest, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
