"""The names a config chooses from, and the shot limits: light, so the CLI answers at once.

Every module that implements one of these choices imports its list from here,
so a name is defined once and ``dqlstm.config`` can check a file without
loading torch or qiskit.
"""

from __future__ import annotations

TASKS = ("narma5", "narma10", "narma", "oscillator")  # dqlstm.data
SCALE_FITS = ("all", "train")  # what the MinMax scaler is fitted on
DEFAULT_LENGTH = {"narma": 300, "oscillator": 240}
NARMA_INPUTS = ("sine", "random")
TABULAR_TASKS = (
    "susy",
    "susy-csv",
)  # federated: generated SUSY-like events | the UCI CSV layout from data.path
SUSY_FEATURES = 18  # features of a SUSY event

ANSATZE = ("chen2020", "brick", "modular")  # dqlstm.circuits
MODEL_KINDS = ("lstm", "qlstm")  # dqlstm.models
MODES = ("exact", "cut-exact", "sampled")  # dqlstm.cutting.modes
CUT_MODES = ("cut-exact", "sampled")
OPTIMIZERS = ("rmsprop", "adam")
FEATURES = ("y", "y+u")  # per time step: the series only | the series and the NARMA input u(t)
CELLS = (
    "4vqc",
    "6vqc",
)  # QLSTM cell: four gate VQCs | Chen et al. (2020): four gates + VQC5 -> h_t + VQC6 -> output
INITS = ("uniform", "small-normal")  # QLSTM weights: U[0, 2 pi) | 0.01 * N(0, 1) (Chen et al. 2020)
ALLOCATIONS = ("uniform", "weighted", "adaptive")  # shots across the QPD terms of an estimate
GRADIENTS = ("parameter-shift", "spsa")  # sampled mode's gradient estimator
PARTITIONS = ("contiguous", "interleaved", "label-skew")  # federated client shards (label-skew: Dirichlet)
OPTIMIZER_STATES = (
    "reset",
    "keep",
)  # federated: a fresh local optimiser every round | each client keeps its own

DEFAULT_SHOTS = 1000  # shots per sub-experiment and binding when a sampled run names none
MAX_SHOTS = 10**8  # per sub-experiment and binding: beyond this a typo, not a plan


def task_order(task: str, order: int | None = None) -> int | None:
    """NARMA order implied by ``task`` (``None`` for non-NARMA tasks)."""
    if task not in TASKS:
        raise ValueError(f"unknown data task {task!r}; expected one of {TASKS}")
    if task == "oscillator":
        if order is not None:
            raise ValueError("data.order only applies to NARMA tasks, not 'oscillator'")
        return None
    if task == "narma":
        if order is None:
            raise ValueError("data.task = 'narma' needs data.order (e.g. order = 5)")
        return int(order)
    implied = int(task[len("narma") :])
    if order is not None and int(order) != implied:
        raise ValueError(f"data.task = {task!r} implies order {implied}, but data.order = {order}")
    return implied
