"""``dqlstm plan``: parser, table and JSON output, user errors."""

from __future__ import annotations

import argparse
import json

import pytest

from dqlstm.cli.plan import register
from partitioner import PlanError


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dqlstm")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    return parser.parse_args(argv)


def test_json_plan_of_the_modular_ansatz(capsys):
    args = parse(["plan", "--qubits", "9", "--max-qubits", "3", "--links", "1", "--layers", "2", "--json"])
    assert args.func(args) == 0
    data = json.loads(capsys.readouterr().out)
    # 3 modules, one link per neighbouring pair and layer
    assert data["num_cuts"] == 4 and data["num_fragments"] == 3
    assert data["sampling_overhead"] == pytest.approx(9.0**4)
    assert data["fragment_widths"] == [3, 3, 3]
    assert all(c["kind"] == "gate" and c["operation"] == "cx" for c in data["cuts"])


def test_table_with_heterogeneous_qpus(capsys):
    args = parse(["plan", "--qubits", "6", "--max-qubits", "4", "2", "--ansatz", "brick", "--layers", "1"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "6 qubits on QPUs of [4, 2] qubits: 2 fragments, 1 gate cuts, 0 wire cuts" in out
    assert "sampling overhead 9," in out
    assert "#0:4" in out and "#1:2" in out


def test_no_cut_needed(capsys):
    args = parse(["plan", "--qubits", "6", "--max-qubits", "3", "--json"])
    args.func(args)
    data = json.loads(capsys.readouterr().out)
    assert data["num_cuts"] == 0 and data["num_fragments"] == 2


def test_user_errors():
    args = parse(["plan", "--qubits", "6", "--max-qubits", "2", "2"])
    with pytest.raises(PlanError, match=r"hold 4 qubits.*6 qubits"):
        args.func(args)
    args = parse(["plan", "--qubits", "6", "--max-qubits", "3", "--ansatz", "brick", "--links", "1"])
    with pytest.raises(ValueError, match="--links only applies"):
        args.func(args)
    args = parse(["plan", "--qubits", "7", "--max-qubits", "3"])  # module size 3 does not divide 7
    with pytest.raises(ValueError, match="divide"):
        args.func(args)


def test_main_entry_point_when_registered(capsys):
    from dqlstm import cli

    if "plan" not in cli.COMMANDS:
        pytest.skip("the lead registers 'plan' in dqlstm.cli.COMMANDS")
    assert cli.main(["plan", "--qubits", "6", "--max-qubits", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["num_fragments"] == 2
    assert cli.main(["plan", "--qubits", "6", "--max-qubits", "2", "2"]) == 2
    assert "hold 4 qubits" in capsys.readouterr().err
