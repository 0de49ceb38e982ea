"""Federated averaging of model state dicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

StateDict = Mapping[str, torch.Tensor]


def nonfinite_entries(state: StateDict) -> list[str]:
    """Names of floating-point entries holding NaN or inf."""
    return [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]


def fedavg(states: Sequence[StateDict], weights: Sequence[float]) -> dict[str, torch.Tensor]:
    """``sum_k w_k state_k / sum_k w_k`` per entry (McMahan et al. 2017; ``w_k`` = local sample counts).

    Floating-point entries are accumulated in float64 and cast back to their
    dtype; non-floating entries (counters) must agree across clients and are copied.
    """
    if not states:
        raise ValueError("fedavg needs at least one state dict")
    if len(states) != len(weights):
        raise ValueError(f"{len(states)} state dicts but {len(weights)} weights")
    w = [float(x) for x in weights]
    if any(not x > 0 or x == float("inf") for x in w):
        raise ValueError(f"fedavg weights must be positive and finite, got {w}")
    total = sum(w)
    keys = list(states[0].keys())
    for i, s in enumerate(states[1:], start=1):
        if list(s.keys()) != keys:
            missing = set(keys) ^ set(s.keys())
            raise ValueError(f"state dict {i} has different entries from state dict 0: {sorted(missing)}")
    out: dict[str, torch.Tensor] = {}
    for k in keys:
        ref = states[0][k]
        if any(s[k].shape != ref.shape for s in states):
            raise ValueError(f"entry {k!r} has different shapes across clients")
        if ref.is_floating_point():
            acc = torch.zeros(ref.shape, dtype=torch.float64)
            for s, wk in zip(states, w):
                acc += s[k].detach().to(torch.float64) * (wk / total)
            out[k] = acc.to(ref.dtype)
        else:
            if any(not torch.equal(s[k], ref) for s in states):
                raise ValueError(f"non-floating entry {k!r} differs across clients; cannot average it")
            out[k] = ref.clone()
    return out
