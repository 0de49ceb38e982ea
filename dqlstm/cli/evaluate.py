"""``dqlstm evaluate RUN_DIR [--qpus CONFIG] [--shots N] [--repeats R] [--seed S] [--json] [--out FILE]``.

Deploys a trained QLSTM on QPUs: test MSE from shots with its error bars, the exact test MSE of the same
weights, and the cost. Formulas: :mod:`dqlstm.evaluation`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a trained QLSTM run on QPUs (sampled test MSE, error bars, exact reference, cost)",
        description=(
            "Rebuild the QLSTM of RUN_DIR in sampled mode on the QPUs of --qpus (default: the local ideal "
            "Aer sampler), load its trained weights and evaluate the test set several times: test MSE with "
            "its shot-noise and finite-test-set standard errors, the exact test MSE of the same weights, and "
            "the cost. Writes RUN_DIR/evaluations/<pool>-<shots>shots.json unless --out."
        ),
    )
    parser.add_argument(
        "run_dir", metavar="RUN_DIR", help="a dqlstm train run folder (config.toml, checkpoint.pt)"
    )
    parser.add_argument("--qpus", default=None, metavar="CONFIG", help="TOML file with a [qpus] table")
    parser.add_argument(
        "--shots", type=int, default=None, metavar="N", help="shots per sub-experiment (default: the run's)"
    )
    parser.add_argument(
        "--repeats", type=int, default=None, metavar="R", help="evaluations of the test set (5)"
    )
    parser.add_argument(
        "--seed", type=int, default=None, metavar="S", help="seed of the shots (default: train.seed)"
    )
    parser.add_argument("--json", action="store_true", help="print the evaluation as a JSON object")
    parser.add_argument("--out", default=None, metavar="FILE", help="write the JSON here instead of RUN_DIR")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from dqlstm.evaluation import (
        DEFAULT_REPEATS,
        as_json,
        default_output,
        evaluate_run,
        format_evaluation,
        read_qpus,
        write_evaluation,
    )

    qpus = read_qpus(args.qpus) if args.qpus else None
    if args.shots is not None and args.shots < 1:
        raise ValueError(f"--shots must be a positive number of shots, got {args.shots}")
    name = Path(args.qpus).stem if args.qpus else "local-aer"
    ev = evaluate_run(
        args.run_dir,
        qpus,
        shots=args.shots,
        repeats=DEFAULT_REPEATS if args.repeats is None else args.repeats,
        seed=args.seed,
        pool_name=name,
    )
    path = write_evaluation(ev, args.out or default_output(args.run_dir, ev))
    print(as_json(ev) if args.json else f"{format_evaluation(ev)}\n-> {path}", file=sys.stdout)
    return 0
