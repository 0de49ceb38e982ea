"""``dqlstm estimate CONFIG [--json] [--epochs N]``: what a training run will cost on QPUs, before running it.

Counting formulas and the QPU-seconds model: :mod:`dqlstm.estimate`.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "estimate",
        help="price a training run (circuits, PUBs, shots, QPU seconds) before running it",
        description=(
            "Count the QPU work of training CONFIG - per optimiser step, per epoch and for the whole "
            "run, in total and per QPU of the pool - without running any circuit (simulated QPUs run "
            "a short timing calibration)."
        ),
    )
    parser.add_argument("config", metavar="CONFIG", help="TOML training config (as for dqlstm train)")
    parser.add_argument("--epochs", type=int, default=None, metavar="N", help="override train.epochs")
    parser.add_argument("--json", action="store_true", help="print the estimate as a JSON object")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from dqlstm.estimate import estimate_config, format_estimate  # torch/qiskit load only here

    est = estimate_config(args.config, args.epochs)
    print(json.dumps(est.to_dict(), indent=2) if args.json else format_estimate(est), file=sys.stdout)
    return 0
