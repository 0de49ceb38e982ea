"""Classical LSTM baseline with the QLSTM's interface."""

from __future__ import annotations

import torch
from torch import nn

from dqlstm.models.inputs import check_sequence_input

State = tuple[torch.Tensor, torch.Tensor]


class LSTM(nn.Module):
    """``torch.nn.LSTM`` (batch first) behind the QLSTM call convention.

    ``forward(x (batch, seq, input_size), state=None)`` returns
    ``(outputs (batch, seq, hidden_size), (h_n, c_n))`` with ``h_n``/``c_n`` of
    shape ``(batch, hidden_size)`` (the top layer's). ``state`` is ``(h_0, c_0)``
    of shape ``(batch, hidden_size)``, or ``(num_layers, batch, hidden_size)``
    to set every layer; zeros when ``None``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1) -> None:
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if int(value) != value or value < 1:
                raise ValueError(f"LSTM {name} must be a positive integer, got {value!r}")
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.lstm = nn.LSTM(self.input_size, self.hidden_size, self.num_layers, batch_first=True)

    def _layer_state(self, t: torch.Tensor, batch: int, what: str) -> torch.Tensor:
        if t.dim() == 2 and self.num_layers == 1:
            t = t.unsqueeze(0)
        expected = (self.num_layers, batch, self.hidden_size)
        if tuple(t.shape) != expected:
            shapes = f"({batch}, {self.hidden_size})" if self.num_layers == 1 else str(expected)
            raise ValueError(f"LSTM {what} must have shape {shapes}, got {tuple(t.shape)}")
        return t.contiguous()

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        check_sequence_input(x, self.input_size, "LSTM")
        if state is not None:
            h0, c0 = state
            batch = x.shape[0]
            state = (self._layer_state(h0, batch, "h_0"), self._layer_state(c0, batch, "c_0"))
        outputs, (h_n, c_n) = self.lstm(x, state)
        return outputs, (h_n[-1], c_n[-1])

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, hidden_size={self.hidden_size}, num_layers={self.num_layers}"
