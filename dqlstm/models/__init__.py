"""Sequence models: the quantum LSTM and its classical baseline."""

from .qlstm import QLSTM

__all__ = ["QLSTM"]
