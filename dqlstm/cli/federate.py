"""``dqlstm federate CONFIG [--rounds N] [--out DIR] [--mode M] [--seed S] [--resume] [--force] [--quiet]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dqlstm.cli import add_run_options, given_overrides, resume_hint


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "federate",
        help="FedAvg of LSTM/QLSTM clients from a TOML config",
        description=(
            "Train the model described by CONFIG with federated averaging over clients that each hold "
            "a shard of the training data; write metrics.json, config.toml, checkpoint.pt and rounds.png "
            "to the output folder."
        ),
    )
    parser.add_argument("config", metavar="CONFIG", help="TOML config file ([data], [model], [train], [federated])")
    parser.add_argument("--rounds", type=int, default=None, metavar="N", help="override federated.rounds")
    add_run_options(parser, seed_key="federated.seed")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    # Heavy imports (torch, qiskit) only when a run starts: `dqlstm --help` stays fast.
    from dqlstm.federated.config import load_federated_config

    config_path = Path(args.config)
    overrides = {"federated.rounds": args.rounds, "federated.seed": args.seed, "model.mode": args.mode}
    cfg = load_federated_config(config_path, overrides)
    out = Path(args.out or cfg["run"].get("out") or Path("runs") / config_path.stem)
    args.interrupt_hint = lambda: resume_hint("federate", args.config, out, "round", given_overrides(args, ("rounds", "seed", "mode")))
    from dqlstm.federated.run import run_federated  # torch and qiskit load once the config is valid

    result = run_federated(cfg, out, resume=args.resume, force=args.force, quiet=args.quiet)
    if not args.quiet:
        m = result.metrics
        final = m["final"]
        extra = ""
        if final.get("test_accuracy") is not None:
            extra = f", test accuracy {final['test_accuracy']:.4f}, test AUC {final['test_auc']:.4f}"
        print(
            f"FedAvg {m['model']['kind']} on {result.task.name}: {m['num_parameters']} parameters, "
            f"{len(m['clients'])} clients, {final['round']} rounds, test loss {final['test_loss']:.4g}{extra} -> {out}",
            file=sys.stdout,
        )
    return 0
