"""Sequence models: the quantum LSTM, its classical baseline and the regression head."""

from .distributed import DistributedQLSTM
from .lstm import LSTM
from .qlstm import QLSTM
from .regressor import SequenceRegressor, build_model, count_parameters

__all__ = ["DistributedQLSTM", "LSTM", "QLSTM", "SequenceRegressor", "build_model", "count_parameters"]
