r"""Torch autograd for the ``sampled`` mode.

``values = sampled_expectation(executor, params)`` runs
:meth:`SampledCutExecutor.run` in the forward pass. The backward pass computes
the fragment-local parameter-shift Jacobian :math:`J_{bop} = \partial v_{bo} /
\partial \theta_{bp}` (reusing the forward run's fragment results) and returns
the vector-Jacobian product :math:`g_{bp} = \sum_o \bar v_{bo} J_{bop}`.

The Jacobian is a shot estimate: ``loss.backward()`` yields an unbiased,
noisy gradient (``gradient="spsa"``: the SPSA estimate, :mod:`.spsa`).
Second derivatives are not supported.

Adaptive shot allocation learns from differentiated forward runs only (grad
enabled and ``params`` requiring grad): evaluation under ``no_grad`` leaves
the allocation as training left it, so predictions made before a checkpoint
do not change what a resumed run does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .sampled import SampledCutExecutor, SampledJacobian, SampledValues

__all__ = ["SampledExpectation", "sampled_expectation"]


class SampledExpectation(torch.autograd.Function):
    """``(B, P)`` parameters -> ``(B, n_observables)`` sampled expectation values."""

    @staticmethod
    def forward(
        ctx: Any, params: torch.Tensor, executor: SampledCutExecutor, adapt: bool = True
    ) -> torch.Tensor:
        values = params.detach().cpu().to(torch.float64).numpy()
        result = executor.run(values, adapt=adapt)
        ctx.executor = executor
        ctx.result = result
        # integer bindings still give real values (a cast to int would truncate them)
        dtype = params.dtype if params.is_floating_point() else torch.float64
        return torch.as_tensor(result.values, dtype=dtype, device=params.device)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:
        if not ctx.needs_input_grad[0]:
            return None, None, None
        result: SampledValues = ctx.result
        jac: SampledJacobian = ctx.executor.jacobian(result.parameter_values, base=result)
        ctx.jacobian = jac
        g = grad_output.detach().cpu().to(torch.float64).numpy()
        vjp = np.einsum("bo,bop->bp", g, jac.jacobian)
        return torch.as_tensor(vjp, dtype=grad_output.dtype, device=grad_output.device), None, None


def sampled_expectation(executor: SampledCutExecutor, params: torch.Tensor) -> torch.Tensor:
    """Differentiable sampled expectation values.

    Args:
        executor: the cut circuit's :class:`SampledCutExecutor`.
        params: ``(B, P)`` or ``(P,)`` tensor, columns in ``circuit.parameters`` order.

    Returns:
        ``(B, n_observables)`` (or ``(n_observables,)``) values; gradients by the
        fragment-local parameter-shift rule. The run's standard errors and cost
        are in ``executor.last_values``.
    """
    if not isinstance(params, torch.Tensor):
        raise ValueError(f"params must be a torch.Tensor, got {type(params).__name__}")
    adapt = torch.is_grad_enabled() and params.requires_grad  # adaptive allocation learns from training only
    if params.dim() == 1:
        return SampledExpectation.apply(params.unsqueeze(0), executor, adapt).squeeze(0)
    return SampledExpectation.apply(params, executor, adapt)
