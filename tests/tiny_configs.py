"""Tiny training configs the CLI tests share (seconds to train)."""

from __future__ import annotations

from pathlib import Path


def lstm_toml(epochs: int = 3) -> str:
    """A classical LSTM on a 40-point NARMA-5 series."""
    return f'[data]\ntask = "narma5"\nlength = 40\n\n[model]\nkind = "lstm"\nhidden_size = 2\n\n' \
           f"[train]\nepochs = {epochs}\nbatch_size = 10\n"


def sampled_toml(epochs: int = 2) -> str:
    """The 4-qubit modular QLSTM with 1 cut link in sampled mode (20 shots) on a 10-point series."""
    return (
        '[data]\ntask = "narma5"\nlength = 10\n\n'
        '[model]\nkind = "qlstm"\nhidden_size = 1\nn_qubits = 4\nansatz = "modular"\nmodule_size = 2\n'
        'links = 1\nlayers = 1\nmode = "sampled"\nshots = 20\n\n'
        f"[train]\nepochs = {epochs}\nbatch_size = 4\n"
    )


def write_config(folder: Path, text: str, name: str = "c.toml") -> str:
    path = folder / name
    path.write_text(text)
    return str(path)
