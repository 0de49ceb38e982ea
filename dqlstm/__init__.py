"""dqlstm: quantum LSTMs whose gate circuits are cut onto small modular QPUs."""

__version__ = "0.1.0"
