"""``dqlstm sweep [CONFIG] [--quick] [--results DIR] [--no-timing] [--quiet]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_CONFIG = Path("experiments/configs/sweep.toml")


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "sweep",
        help="cut cost (fragments, cuts, sampling overhead, sub-experiments, shots, wall time) vs qubit count",
        description=(
            "Plan every ansatz family x depth x width x QPU capacity of CONFIG with the partitioner "
            "(cuts, sampling overhead, distinct sub-experiments, shots for a target standard error with "
            "uniform allocation), time cut-exact (exact contraction) and sampled (shots) forward+backward "
            "on the [timing] subset, measure the sampled estimator's error against Statevector over "
            "repetitions on the [shots] cases, and write sweep.csv, shots.csv, sweep.json, sweep.md and "
            "plots to --results."
        ),
    )
    parser.add_argument("config", nargs="?", default=str(DEFAULT_CONFIG), metavar="CONFIG",
                        help=f"sweep TOML (default: {DEFAULT_CONFIG})")
    parser.add_argument("--quick", action="store_true", help="the config's [quick] reduction (about 1 min on 2 cores)")
    parser.add_argument("--results", default=None, metavar="DIR",
                        help="output folder (default: runs/sweep/<sweep name>; "
                             "the committed tables: experiments/results/sweep/<sweep name>)")
    parser.add_argument("--no-timing", action="store_true", help="plans only: no wall-time, error or [shots] measurements")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from dqlstm.studies.sweep import load_sweep_spec, run_sweep

    spec = load_sweep_spec(args.config, quick=args.quick, timing=False if args.no_timing else None)
    # a run folder by default: committed results change only when --results names them
    results = Path(args.results or Path("runs/sweep") / spec.name)
    result = run_sweep(spec, results, quiet=args.quiet)
    if not args.quiet:
        print(f"{spec.name}: {len(result.rows)} plans ({len(result.skipped)} combinations skipped) "
              f"in {result.seconds:.0f} s -> {results}", file=sys.stdout)
    return 0
