"""``dqlstm train [CONFIG] [--epochs N] [--out DIR] [--mode M] [--resume] [--force] [--seed S] [--quiet]
[--until-budget]``.

Exit status: 0 finished, 2 error or refused by ``[budget]``, 3 stopped by ``[budget]`` (resumable),
130 interrupted (Ctrl-C; resumable from the checkpoint: the last finished epoch, or the position inside an
epoch where a budget stop left it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dqlstm.cli import add_run_options, given_overrides, resume_command, resume_hint


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train an LSTM/QLSTM from a TOML config",
        description=(
            "Train the model described by CONFIG and write metrics.json, config.toml, "
            "checkpoint.pt and plots to the output folder."
        ),
        epilog="exit status: 0 finished, 2 error or refused by [budget], 3 stopped by [budget] (resumable), "
        "130 interrupted",
    )
    parser.add_argument(
        "config",
        nargs="?",
        default=None,
        metavar="CONFIG",
        help="TOML config file (default: the packaged NARMA-5 QLSTM config)",
    )
    parser.add_argument("--epochs", type=int, default=None, metavar="N", help="override train.epochs")
    add_run_options(parser, seed_key="train.seed")
    parser.add_argument("--max-shots", type=int, default=None, metavar="N", help="override budget.max_shots")
    parser.add_argument(
        "--max-qpu-seconds", type=float, default=None, metavar="S", help="override budget.max_qpu_seconds"
    )
    parser.add_argument(
        "--until-budget",
        action="store_true",
        help="start even if the estimate passes [budget]; train until the budget is spent, then stop "
        "resumably (exit status 3)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    # Heavy imports (torch, qiskit) only when a run starts: `dqlstm --help` stays fast.
    # Override values are checked by the config schema, like values in the file.
    from dqlstm.config import default_config_path, load_config

    config_path = Path(args.config) if args.config else default_config_path()
    overrides = {
        "train.epochs": args.epochs,
        "train.seed": args.seed,
        "model.mode": args.mode,
        "budget.max_shots": args.max_shots,
        "budget.max_qpu_seconds": args.max_qpu_seconds,
    }
    cfg = load_config(config_path, overrides)
    out = Path(args.out or cfg["run"].get("out") or Path("runs") / config_path.stem)
    def interrupt_hint() -> str:  # a budget stop may have saved a position inside an epoch
        from dqlstm.training.run import saved_position

        overrides = given_overrides(args, ("epochs", "seed", "mode"))
        return resume_hint("train", args.config, out, "epoch", overrides, saved_position(out))

    args.interrupt_hint = interrupt_hint
    from dqlstm.training.run import (
        run_training,  # torch and qiskit load once the config is valid
    )

    result = run_training(
        cfg, out, resume=args.resume, force=args.force, quiet=args.quiet, until_budget=args.until_budget
    )
    if result.stopped == "budget":
        flags = given_overrides(args, ("epochs", "seed", "mode")) + (
            ["--until-budget"] if args.until_budget else []
        )
        again = resume_command("train", args.config, out, flags)
        print(
            f"dqlstm train: {result.message}; raise the budget ([budget] in the config, or --max-shots / "
            f"--max-qpu-seconds) and continue with: {again}",
            file=sys.stderr,
        )
        from dqlstm.budget import BUDGET_EXIT

        return BUDGET_EXIT
    if not args.quiet:
        final = result.metrics["final"]
        epochs = final["epoch"]
        print(
            f"{result.metrics['model']['class']} on {result.data.name}: "
            f"{result.metrics['num_parameters']} parameters, {epochs} epoch{'' if epochs == 1 else 's'}; "
            f"final model on the whole parts: train MSE {final['train_loss']:.3e}, "
            f"test MSE {final['test_loss']:.3e} -> {out}",
            file=sys.stdout,
        )
    return 0
