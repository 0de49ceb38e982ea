"""Sequence-to-one regression head: a recurrent core followed by ``Linear`` on its last hidden state."""

from __future__ import annotations

import torch
from torch import nn

from dqlstm.models.inputs import check_sequence_input


def _param_dtype(module: nn.Module) -> torch.dtype:
    for p in module.parameters():
        return p.dtype
    return torch.get_default_dtype()


class SequenceRegressor(nn.Module):
    """A recurrent ``core`` followed by ``Linear`` on its last hidden state.

    ``core`` follows the LSTM/QLSTM convention (``input_size``/``hidden_size``
    attributes; ``forward(x) -> (outputs, (h_n, c_n))``). ``forward(x)`` maps
    ``(batch, seq, input_size)`` to ``(batch, out_features)``.
    """

    def __init__(self, core: nn.Module, out_features: int) -> None:
        super().__init__()
        for attr in ("input_size", "hidden_size"):
            if not hasattr(core, attr):
                raise ValueError(f"SequenceRegressor core {type(core).__name__} has no {attr!r} attribute")
        if out_features < 1:
            raise ValueError(f"out_features must be >= 1, got {out_features}")
        self.core = core
        self.input_size = int(core.input_size)
        self.out_features = int(out_features)
        # The head matches the core's precision (the exact quantum engine may be float64).
        self.head = nn.Linear(int(core.hidden_size), self.out_features, dtype=_param_dtype(core))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence_input(x, self.input_size, type(self).__name__)
        outputs, (h_n, _) = self.core(x)
        # a core whose cell emits an output apart from h_t (QLSTM cell="6vqc": VQC6's y_t) is read there
        return self.head(outputs[:, -1] if getattr(self.core, "emits_output", False) else h_n)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
