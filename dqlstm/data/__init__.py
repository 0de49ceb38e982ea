"""Benchmark series (NARMA-n with its input, damped oscillator), warm-up, scaling, windows, splits."""

from dqlstm.choices import NARMA_INPUTS, SCALE_FITS, TASKS, task_order
from dqlstm.data.dataset import (
    ValidationSplit,
    WindowedSeries,
    generate_series,
    generate_task,
    load_dataset,
    prepare_series,
)
from dqlstm.data.narma import narma_input, narma_series
from dqlstm.data.oscillator import (
    OscillatorSolution,
    damped_oscillator,
    oscillator_series,
)
from dqlstm.data.windows import (
    MinMaxScaler,
    check_finite,
    num_train_windows,
    sliding_windows,
)

__all__ = [
    "NARMA_INPUTS",
    "SCALE_FITS",
    "TASKS",
    "MinMaxScaler",
    "OscillatorSolution",
    "ValidationSplit",
    "WindowedSeries",
    "check_finite",
    "damped_oscillator",
    "generate_series",
    "generate_task",
    "load_dataset",
    "narma_input",
    "narma_series",
    "num_train_windows",
    "oscillator_series",
    "prepare_series",
    "sliding_windows",
    "task_order",
]
