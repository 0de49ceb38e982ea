"""Command line: ``dqlstm <command> ...``.

Each command lives in its own module ``dqlstm.cli.<name>`` exposing
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
``run(args) -> int``. Modules are imported lazily so ``dqlstm --help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import shlex
import sys
from pathlib import Path

COMMANDS: tuple[str, ...] = (
    "train",
    "plan",
    "compare",
    "sweep",
    "federate",
    "report",
    "estimate",
    "evaluate",
)


class UserError(Exception):
    """A problem with what the user asked for; printed without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dqlstm",
        description="Train quantum LSTMs whose circuits are cut onto small QPUs.",
    )
    from dqlstm import __version__  # a plain string: no torch, no qiskit

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
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
        "--mode",
        default=None,
        metavar="M",
        help="override model.mode: exact, cut-exact or sampled (QLSTM engine)",
    )
    parser.add_argument("--seed", type=int, default=None, metavar="S", help=f"override {seed_key}")
    parser.add_argument("--resume", action="store_true", help="continue the run in the output folder")
    parser.add_argument("--force", action="store_true", help="overwrite an existing run in the output folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def given_overrides(args: argparse.Namespace, names: tuple[str, ...]) -> list[str]:
    """The ``--name value`` options the user gave (a resumed run must be given them again)."""
    out: list[str] = []
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            out += [f"--{name}", str(value)]
    return out


def _user_errors() -> tuple[type[BaseException], ...]:
    from backends.errors import BackendError  # no credentials, no capable QPU, ...
    from dqlstm.runs import OutputError  # the output folder cannot be written

    return (UserError, ValueError, FileNotFoundError, FileExistsError, KeyError, BackendError, OutputError)


def resume_command(command: str, config: str | None, out: Path, overrides: list[str] = ()) -> str:
    """``dqlstm COMMAND [CONFIG] [overrides] --out OUT --resume``, quoted for a shell."""
    return shlex.join(
        ["dqlstm", command, *([config] if config else []), *overrides, "--out", str(out), "--resume"]
    )


def resume_hint(
    command: str,
    config: str | None,
    out: Path,
    unit: str,
    overrides: list[str] = (),
    holds: str | None = None,
) -> str:
    """The one line printed on Ctrl-C: what was saved and how to continue (with the overrides given).
    ``holds``: what the checkpoint holds when not the last finished ``unit`` (a budget stop inside one)."""
    checkpoint = out / "checkpoint.pt"
    if not checkpoint.is_file():
        return f"interrupted before the first {unit} finished; nothing saved in {out}"
    again = resume_command(command, config, out, overrides)
    holds = holds or f"the last finished {unit}"
    return f"interrupted; checkpoint {checkpoint} holds {holds}; continue with: {again}"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from dqlstm.provenance import record_command

    record_command(["dqlstm", *(sys.argv[1:] if argv is None else argv)])
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit flush
        return status
    except KeyboardInterrupt:
        hint = getattr(args, "interrupt_hint", None)
        print(f"dqlstm {args.command}: {hint() if hint else 'interrupted'}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (``dqlstm estimate ... | head``): stop quietly, as Unix tools do
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:
        # a file the command reads or writes (results, CSV, plots) is the user's location: one line
        file_error = isinstance(exc, OSError) and exc.filename is not None
        if not (file_error or isinstance(exc, _user_errors())):
            raise
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        if file_error:
            msg = f"cannot use {exc.filename}: {exc.strerror or type(exc).__name__}"
        print(f"dqlstm {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
