"""``CutEstimator``: expectation values of a wide circuit through its cut plan.

One object per circuit template: the plan (partitioner) is made once, the
fragments (``cut-exact``) or sub-experiments (``sampled``) once, and every
call re-binds the ``(B, P)`` parameter values (columns in
``circuit.parameters`` order, qiskit's sorted order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from qiskit.circuit import QuantumCircuit

from dqlstm.choices import DEFAULT_SHOTS
from dqlstm.engine.observables import as_observables

from .guard import (
    DEFAULT_MAX_SUBEXPERIMENTS,
    DEFAULT_MAX_TOTAL_SHOTS,
    check_parameter_values,
    check_shots,
)
from .modes import CUT_MODES, check_mode
from .plans import plan_summary, resolve_plan

__all__ = ["METHODS", "CutEstimator", "CutResult", "check_parameter_values"]

METHODS = CUT_MODES


@dataclass(frozen=True)
class CutResult:
    """Values of one :meth:`CutEstimator.estimate` call and what they cost.

    Attributes:
        values: ``(B, n_observables)`` expectation values.
        stderr: standard errors (zeros for ``cut-exact``).
        cost: plan figures (cuts, sampling overhead, sub-experiments) plus, for
            ``sampled``, shots and circuits executed. ``num_subexperiments``
            counts the distinct circuits that run, ``num_subexperiments_listed``
            what qiskit-addon-cutting listed.
    """

    values: np.ndarray
    stderr: np.ndarray
    cost: dict[str, Any] = field(default_factory=dict)


class CutEstimator:
    """Expectation values of ``circuit`` for ``observables``, computed by cutting.

    Args:
        circuit: parameterised circuit wider than the QPUs (no measurements).
        observables: SparsePauliOp, Pauli string, or a list of them (one value each).
        max_qubits: QPU capacity or list of capacities (used to plan the cuts).
        method: ``cut-exact`` (fragments simulated exactly, contracted over the
            cuts) or ``sampled`` (qiskit-addon-cutting sub-experiments with shots).
        pool: ``sampled`` only: a ``backends.QPUPool`` or a Qiskit V2 sampler
            (default: local Aer sampler).
        shots: ``sampled`` only: shots per sub-experiment and binding (default :data:`~dqlstm.cutting.guard.DEFAULT_SHOTS`).
        plan: a ready ``CutPlan`` instead of ``max_qubits``.
        seed: ``sampled`` only: seed of the default sampler.
        max_subexperiments, max_total_shots: ``sampled`` only: plans listing
            more sub-experiments, or needing more shots per binding, are refused
            before anything is generated (see :class:`SampledCutExecutor`).
    """

    def __init__(
        self,
        circuit: QuantumCircuit,
        observables,
        max_qubits: int | Sequence[int] | None = None,
        method: str = "cut-exact",
        pool=None,
        shots: int | None = None,
        *,
        plan=None,
        seed: int | None = None,
        max_subexperiments: int | None = DEFAULT_MAX_SUBEXPERIMENTS,
        max_total_shots: int | None = DEFAULT_MAX_TOTAL_SHOTS,
    ):
        check_mode(method, METHODS, "method")
        if not isinstance(circuit, QuantumCircuit):
            raise ValueError(f"circuit must be a qiskit QuantumCircuit, got {type(circuit).__name__}")
        if shots is not None:
            check_shots(shots)
        if method == "cut-exact" and (pool is not None or shots is not None):
            raise ValueError("pool and shots only apply to method='sampled'")
        self.observables = as_observables(observables, circuit.num_qubits)
        self.plan = plan = resolve_plan(circuit, plan, max_qubits, "CutEstimator")
        self.circuit = circuit
        self.method = method
        self.parameters = tuple(circuit.parameters)
        if method == "cut-exact":
            from .cut_exact import CutExactEngine

            self._exact = CutExactEngine(circuit, self.parameters, [], self.observables, plan=plan)
            self._executor = None
        else:
            from .sampled import SampledCutExecutor

            self._exact = None
            self._executor = SampledCutExecutor.from_plan(
                plan,
                circuit,
                self.observables,
                pool=pool,
                shots=shots or DEFAULT_SHOTS,
                seed=seed,
                max_subexperiments=max_subexperiments,
                max_total_shots=max_total_shots,
            )

    @property
    def num_observables(self) -> int:
        return len(self.observables)

    def plan_cost(self) -> dict[str, Any]:
        """The plan's cost; ``sampled`` counts the distinct sub-experiments that run."""
        cost = {**plan_summary(self.plan), "mode": self.method}
        if self._executor is not None:
            cost["num_subexperiments"] = self._executor.num_subexperiments
            cost["num_subexperiments_listed"] = self._executor.num_subexperiments_listed
        return cost

    @property
    def shots(self) -> int | None:
        """``sampled``: shots per sub-experiment and binding of the next calls (``None`` for cut-exact).
        Settable: the plan and sub-experiments stay, only the shots change."""
        return None if self._executor is None else self._executor.shots

    @shots.setter
    def shots(self, shots: int) -> None:
        if self._executor is None:
            raise ValueError("shots only apply to method='sampled'")
        self._executor.shots = check_shots(shots)

    def estimate(self, parameter_values) -> CutResult:
        """Values, standard errors and cost for ``(B, P)`` bindings."""
        values = check_parameter_values(parameter_values, len(self.parameters))
        if self._exact is not None:
            with torch.no_grad():
                out = self._exact(torch.from_numpy(values), torch.zeros(1, 0, dtype=torch.float64))[0]
            v = out.numpy()
            return CutResult(v, np.zeros_like(v), self.plan_cost())
        res = self._executor.run(values)
        cost = {**self.plan_cost(), **_cost_dict(res.cost)}
        return CutResult(res.values, res.stderr, cost)

    def run(self, parameter_values) -> np.ndarray:
        """``(B, P)`` parameter values -> ``(B, n_observables)`` expectation values."""
        return self.estimate(parameter_values).values

    def torch(self, parameters: torch.Tensor) -> torch.Tensor:
        """Differentiable values ``(B, n_observables)`` for a ``(B, P)`` tensor.

        ``cut-exact``: torch autograd through the fragment contraction;
        ``sampled``: fragment-local parameter-shift rule. Floating inputs keep
        their dtype; integer (or bool) inputs give float64 values, since
        expectation values are not integers. Complex inputs are refused.
        """
        if not isinstance(parameters, torch.Tensor):
            raise ValueError(f"parameters must be a torch.Tensor, got {type(parameters).__name__}")
        if parameters.is_complex():
            raise ValueError("parameters are complex; rotation angles must be real numbers")
        check_parameter_values(
            parameters.detach().cpu().to(torch.float64).numpy(), len(self.parameters)
        )
        dtype = parameters.dtype if parameters.is_floating_point() else torch.float64
        p = parameters if parameters.ndim == 2 else parameters[None, :]
        p = p if p.is_floating_point() else p.to(torch.float64)
        if self._exact is not None:
            out = self._exact(p, torch.zeros(1, 0, dtype=torch.float64))[0]
        else:
            from .torch_sampled import sampled_expectation

            out = sampled_expectation(self._executor, p)
        return out.to(dtype) if parameters.ndim == 2 else out[0].to(dtype)


def _cost_dict(cost) -> dict[str, Any]:
    return {
        "shots_per_subexperiment": cost.shots_per_subexperiment,
        "num_subexperiments_listed": cost.num_subexperiments_listed,
        "num_pubs": cost.num_pubs,
        "num_circuits_executed": cost.num_circuits_executed,
        "total_shots": cost.total_shots,
    }
