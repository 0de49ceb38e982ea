"""dqlstm: quantum LSTMs whose gate circuits are cut onto small modular QPUs.

>>> from dqlstm import QLSTM, LSTM, CutEstimator, CutEstimatorV2, plan_cuts

The names load on first use, so ``import dqlstm`` (and the ``dqlstm`` CLI's
start-up) stays free of torch and qiskit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dqlstm.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "QLSTM": "dqlstm.models",
    "LSTM": "dqlstm.models",
    "DistributedQLSTM": "dqlstm.models",
    "CutEstimator": "dqlstm.cutting",
    "CutEstimatorV2": "dqlstm.cutting",
    "plan_cuts": "partitioner",
}
__all__ = ["CutEstimator", "CutEstimatorV2", "DistributedQLSTM", "LSTM", "QLSTM", "__version__", "plan_cuts"]

if TYPE_CHECKING:  # for type checkers and the import-graph test
    from dqlstm.cutting import CutEstimator, CutEstimatorV2
    from dqlstm.models import LSTM, QLSTM, DistributedQLSTM
    from partitioner import plan_cuts

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
