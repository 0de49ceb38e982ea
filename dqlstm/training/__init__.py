"""Training: optimiser, epoch loop, the training run (its folder: :mod:`dqlstm.runs`), plots."""

from dqlstm.training.loop import evaluate, make_optimizer, predict, train_epoch
from dqlstm.runs import CHECKPOINT_FILE, CONFIG_FILE, LOSS_PLOT, METRICS_FILE, PREDICTIONS_PLOT
from dqlstm.training.run import RunResult, run_training
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
