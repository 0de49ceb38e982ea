"""The top-level package: its public names, and an import that stays light."""

from __future__ import annotations

import subprocess
import sys

import dqlstm


def test_public_names_resolve():
    from dqlstm import LSTM, QLSTM, CutEstimator, CutEstimatorV2, DistributedQLSTM, plan_cuts
    from dqlstm.cutting import CutEstimator as cutting_estimator
    from dqlstm.models import QLSTM as models_qlstm
    from partitioner import plan_cuts as partitioner_plan_cuts

    assert QLSTM is models_qlstm and CutEstimator is cutting_estimator and plan_cuts is partitioner_plan_cuts
    assert {LSTM, DistributedQLSTM, CutEstimatorV2} and set(dqlstm.__all__) <= set(dir(dqlstm))


def test_import_dqlstm_loads_neither_torch_nor_qiskit():
    code = "import sys, dqlstm; print(any(m in sys.modules for m in ('torch', 'qiskit', 'qiskit_aer')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
