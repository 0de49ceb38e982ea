"""Circuit cutting: the ``cut-exact`` and ``sampled`` engines and the ``CutEstimator``.

>>> from dqlstm.cutting import CutEstimator
>>> est = CutEstimator(circuit, observables, max_qubits=4, method="cut-exact")
>>> est.run(parameter_values)          # (B, P) -> (B, n_observables)
"""

from .cut_exact import CutExactEngine
from .estimator import METHODS, CutEstimator, CutResult
from .gate_engines import gate_engine_for_mode

__all__ = ["METHODS", "CutEstimator", "CutExactEngine", "CutResult", "gate_engine_for_mode"]
