"""Where a result came from: the command and the git commit that made it."""

from __future__ import annotations

import datetime
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
_command: list[str] | None = None  # set by the CLI: what the user typed, whoever called main()


def record_command(argv: list[str]) -> None:
    """Remember the command line a result will name (``dqlstm`` plus its arguments)."""
    global _command
    _command = list(argv)


def git_commit(root: Path = _ROOT) -> str | None:
    """The checked-out commit (with ``-dirty`` when tracked files changed), ``None`` outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True,
            timeout=10,
        )
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _program(first: str) -> list[str]:
    """How the user started the program: ``dqlstm``, ``python -m dqlstm.x`` or ``python path/x.py``."""
    path = Path(first)
    if first.endswith(("__main__.py", "/dqlstm")) or first == "dqlstm":
        return ["dqlstm"]
    if path.suffix == ".py" and path.is_absolute():
        try:
            relative = path.resolve().relative_to(_ROOT)
        except ValueError:
            return ["python", first]
        if relative.parts[0] == "dqlstm":  # run as python -m dqlstm.<module>
            return ["python", "-m", ".".join(relative.with_suffix("").parts)]
        return ["python", str(relative)]
    return ["python", first] if path.suffix == ".py" else [first]


def provenance() -> dict[str, Any]:
    """``command`` (as typed), ``git_commit`` and ``created`` (UTC) for a result file."""
    argv = list(_command) if _command is not None else list(sys.argv)
    if argv:
        argv[:1] = _program(argv[0])
    return {
        "command": shlex.join(argv),
        "git_commit": _COMMIT_AT_START,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def provenance_note(record: dict[str, Any] | None = None) -> str:
    """A markdown line naming the command and commit (appended to result tables)."""
    p = record or provenance()
    return f"\nMade by `{p['command']}` at commit `{p['git_commit'] or 'unknown'}` ({p['created']}).\n"


# The tree as the process found it: a study that rewrites committed result files
# must not call its own commit "dirty".
_COMMIT_AT_START = git_commit()
