"""Training: optimiser, epoch loop, per-run output folder, checkpoints, plots."""

from dqlstm.training.loop import evaluate, make_optimizer, predict, train_epoch
from dqlstm.training.run import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    LOSS_PLOT,
    METRICS_FILE,
    PREDICTIONS_PLOT,
    RunResult,
    run_training,
)
from dqlstm.training.seeding import rng_state, seed_everything, set_rng_state

__all__ = [
    "CHECKPOINT_FILE",
    "CONFIG_FILE",
    "LOSS_PLOT",
    "METRICS_FILE",
    "PREDICTIONS_PLOT",
    "RunResult",
    "evaluate",
    "make_optimizer",
    "predict",
    "rng_state",
    "run_training",
    "seed_everything",
    "set_rng_state",
    "train_epoch",
]
