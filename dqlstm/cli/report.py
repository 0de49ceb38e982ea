"""``dqlstm report OUT_DIR LABEL=RUN_DIR [LABEL=RUN_DIR ...]``: federated runs side by side."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "report",
        help="compare federated runs: markdown table, per-round CSV and a PNG",
        description=(
            "Read the metrics.json of each federated run folder and write summary.md, rounds.csv and "
            "comparison.png to OUT_DIR; the table is also printed."
        ),
    )
    parser.add_argument("out", metavar="OUT_DIR", help="folder for the table, CSV and plot")
    parser.add_argument("runs", nargs="+", metavar="LABEL=RUN_DIR", help="a label and a `dqlstm federate` run folder")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from dqlstm.federated.report import compare_runs

    bad = [r for r in args.runs if "=" not in r or not r.split("=", 1)[0] or not r.split("=", 1)[1]]
    if bad:
        raise ValueError(f"runs must be given as LABEL=RUN_DIR, got {bad}")
    result = compare_runs(dict(r.split("=", 1) for r in args.runs), Path(args.out))
    print((result.out_dir / "summary.md").read_text(), end="", file=sys.stdout)
    return 0
