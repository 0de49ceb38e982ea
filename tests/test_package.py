"""The top-level package: its public names, and an import that stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dqlstm

ROOT = Path(__file__).resolve().parents[1]


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


def test_cli_help_version_and_config_errors_load_neither_torch_nor_qiskit(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\nkind = "lstm"\nn_qubitz = 3\n')
    code = (
        "import sys\nfrom dqlstm.cli import main\n"
        f"codes = [main(['train', {str(bad)!r}]), main(['federate', {str(bad)!r}])]\n"
        "for argv in (['--help'], ['--version']):\n"
        "    try:\n        main(argv)\n    except SystemExit as e:\n        codes.append(e.code)\n"
        "print(codes, any(m in sys.modules for m in ('torch', 'qiskit')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[2, 2, 0, 0] False"
    assert "unknown key 'n_qubitz'" in done.stderr


def test_a_closed_output_pipe_ends_quietly():
    """``dqlstm estimate ... | head``: the reader leaving is no error worth a traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dqlstm", "estimate", "experiments/configs/narma5_lstm.toml", "--json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 141 and err == ""
