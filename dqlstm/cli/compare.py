"""``dqlstm compare CONFIG... [--quick] [--out DIR] [--results DIR] [--tasks T..] [--seeds S..] [--epochs N] [--variants L..] [--workers N] [--quiet]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "compare",
        help="naive baselines vs classical LSTM vs centralised vs distributed QLSTM, many seeds and tasks",
        description=(
            "Run every task x model variant x seed of each study CONFIG (one training run each, "
            "in its own folder under --out), compute the naive baselines on the same data, and write "
            "markdown + CSV tables (means with bootstrap intervals, paired ratios, equivalence tests) "
            "and PNG plots to --results."
        ),
    )
    parser.add_argument(
        "configs", nargs="+", metavar="CONFIG", help="study TOML (experiments/configs/compare_*.toml)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="the config's [quick] reduction (about 1 min on 2 cores)"
    )
    parser.add_argument(
        "--out", default=None, metavar="DIR", help="folder of the runs (default: runs/compare/<study name>)"
    )
    parser.add_argument(
        "--results",
        default=None,
        metavar="DIR",
        help="folder of the table and plots (default: runs/compare/<study name>/results; "
        "the committed tables: experiments/results/compare/<study name>)",
    )
    parser.add_argument("--tasks", nargs="+", default=None, metavar="T", help="override the study's tasks")
    parser.add_argument("--seeds", nargs="+", type=int, default=None, metavar="S", help="override the seeds")
    parser.add_argument("--epochs", type=int, default=None, metavar="N", help="override the epochs per run")
    parser.add_argument(
        "--variants", nargs="+", default=None, metavar="LABEL", help="run only these variants"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="train N runs at once in separate processes (default 1; 2 on a 2-core machine)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from dqlstm.studies.compare import load_compare_spec, run_compare

    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {args.epochs}")
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    specs = [
        load_compare_spec(
            path,
            quick=args.quick,
            tasks=args.tasks,
            seeds=args.seeds,
            epochs=args.epochs,
            variants=args.variants,
        )
        for path in args.configs  # all specs checked before the first run starts
    ]
    if len(specs) > 1 and (args.out or args.results):
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"study names must differ when several configs share --out/--results: {names}")
    for spec in specs:
        out = (
            Path(args.out) / spec.name
            if args.out and len(specs) > 1
            else Path(args.out or Path("runs/compare") / spec.name)
        )
        # default next to the runs: committed results change only when --results names them
        results = (
            Path(args.results) / spec.name
            if args.results and len(specs) > 1
            else Path(args.results or out / "results")
        )
        result = run_compare(spec, out, results, quiet=args.quiet, workers=args.workers)
        if not args.quiet:
            print(
                f"{spec.name}: {len(result.runs)} runs -> {out}; table and plots -> {results}",
                file=sys.stdout,
            )
    return 0
