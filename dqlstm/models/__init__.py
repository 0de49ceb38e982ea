"""Sequence models: the quantum LSTM, its classical baseline and the heads around them.

Models take what they need (QPU widths, a pool to execute on) as arguments;
:mod:`dqlstm.assemble` builds them from a config.
"""

from .classifier import SequenceClassifier
from .distributed import DistributedQLSTM
from .lstm import LSTM
from .qlstm import QLSTM
from .regressor import SequenceRegressor, count_parameters

__all__ = ["DistributedQLSTM", "LSTM", "QLSTM", "SequenceClassifier", "SequenceRegressor", "count_parameters"]
