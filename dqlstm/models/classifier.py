"""Binary classifier head for tabular events read as a short sequence.

An event's ``F`` features are fed to the recurrent core as ``steps`` time steps
of ``F / steps`` features each, in column order. For the SUSY layout the
default 6 x 3 puts each physics object's triple on one step (lepton 1
pT/eta/phi, lepton 2 pT/eta/phi, MET/MET-phi/MET-rel, then the derived
quantities), so a 3-feature QLSTM input fits a 4-qubit circuit.
"""

from __future__ import annotations

import torch
from torch import nn

from dqlstm.models.regressor import SequenceRegressor


class SequenceClassifier(nn.Module):
    """``(batch, num_features)`` -> ``(batch, 1)`` logits through a ``SequenceRegressor``.

    The regressor (recurrent core + Linear on the last hidden state, one output)
    gives the logit; ``torch.sigmoid`` of it is the signal probability.
    """

    def __init__(self, regressor: SequenceRegressor, num_features: int, steps: int) -> None:
        super().__init__()
        if steps < 1 or num_features % steps:
            raise ValueError(f"{num_features} features cannot be read as {steps} equal time steps")
        if regressor.out_features != 1:
            raise ValueError(f"a binary classifier needs one output (the logit), got {regressor.out_features}")
        if regressor.input_size * steps != num_features:
            raise ValueError(
                f"core takes {regressor.input_size} feature(s) per step; {steps} steps need "
                f"{num_features // steps} for {num_features} features"
            )
        self.regressor = regressor
        self.num_features = int(num_features)
        self.steps = int(steps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__} expects (batch, {self.num_features}), got {tuple(x.shape)}")
        return self.regressor(x.reshape(x.shape[0], self.steps, self.num_features // self.steps))

    def extra_repr(self) -> str:
        return f"num_features={self.num_features}, steps={self.steps}"
