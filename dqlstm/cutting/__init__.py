"""Circuit cutting: the ``cut-exact`` and ``sampled`` engines and the ``CutEstimator``.

>>> from dqlstm.cutting import CutEstimator
>>> est = CutEstimator(circuit, observables, max_qubits=4, method="cut-exact")
>>> est.run(parameter_values)          # (B, P) -> (B, n_observables)
"""

from .cut_exact import CutExactEngine
from .estimator import METHODS, CutEstimator, CutResult
from .gate_engines import SampledGateEngine
from .modes import CUT_MODES, DEFAULT_SHOTS, MODES, make_gate_engine
from .primitive import CutEstimatorV2
from .reconstruct import CutReconstructor
from .sampled import ExecutionCost, SampledCutExecutor, SampledJacobian, SampledValues, run_pubs
from .torch_sampled import sampled_expectation

__all__ = [
    "CUT_MODES",
    "DEFAULT_SHOTS",
    "MODES",
    "METHODS",
    "CutEstimator",
    "CutEstimatorV2",
    "CutExactEngine",
    "CutReconstructor",
    "CutResult",
    "ExecutionCost",
    "SampledCutExecutor",
    "SampledGateEngine",
    "SampledJacobian",
    "SampledValues",
    "make_gate_engine",
    "run_pubs",
    "sampled_expectation",
]
