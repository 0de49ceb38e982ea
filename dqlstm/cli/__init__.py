"""Command line: ``dqlstm <command> ...``.

Each command lives in its own module ``dqlstm.cli.<name>`` exposing
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
``run(args) -> int``. Modules are imported lazily so ``dqlstm --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: tuple[str, ...] = ("train", "plan", "compare", "sweep", "federate")


class UserError(Exception):
    """A problem with what the user asked for; printed without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dqlstm",
        description="Train quantum LSTMs whose circuits are cut onto small QPUs.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"dqlstm.cli.{name}").register(sub)
    return parser


def add_run_options(parser: argparse.ArgumentParser, seed_key: str) -> None:
    """Options every command that writes a run folder shares (train, federate)."""
    parser.add_argument(
        "--out", default=None, metavar="DIR", help="output folder (default: run.out, else runs/<config stem>)"
    )
    parser.add_argument(
        "--mode", default=None, metavar="M", help="override model.mode: exact, cut-exact or sampled (QLSTM engine)"
    )
    parser.add_argument("--seed", type=int, default=None, metavar="S", help=f"override {seed_key}")
    parser.add_argument("--resume", action="store_true", help="continue the run in the output folder")
    parser.add_argument("--force", action="store_true", help="overwrite an existing run in the output folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def _user_errors() -> tuple[type[BaseException], ...]:
    from backends.errors import BackendError  # no credentials, no capable QPU, ...

    return (UserError, ValueError, FileNotFoundError, FileExistsError, KeyError, BackendError)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except Exception as exc:
        if not isinstance(exc, _user_errors()):
            raise
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"dqlstm {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
