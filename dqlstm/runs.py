"""The run folder: the one owner of what a training or federated run writes.

A folder holds ``metrics.json`` (rewritten after every epoch or round),
``config.toml`` (the resolved config), ``checkpoint.pt`` (rewritten after
every epoch or round) and, once finished, PNG plots. :class:`RunFolder`
checks the folder before anything is built (an existing run is neither
overwritten without ``force`` nor resumed from another config), touches it
only once data and model are built (a bad config leaves no trace), and writes
every file atomically. Every failure of the output location (a file in the
way, a read-only folder, a full disk) is an :class:`OutputError` naming the
path.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dqlstm.config import to_toml

METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.toml"
CHECKPOINT_FILE = "checkpoint.pt"
PREDICTIONS_PLOT = "predictions.png"
LOSS_PLOT = "loss.png"
ROUNDS_PLOT = "rounds.png"
# every file a run of either kind writes: --force clears them all, whichever kind was there
RUN_FILES = (METRICS_FILE, CONFIG_FILE, CHECKPOINT_FILE, PREDICTIONS_PLOT, LOSS_PLOT, ROUNDS_PLOT)


class OutputError(Exception):
    """The output location cannot take the run's files (not a folder, read-only, disk full)."""


def _output_error(path: Path, exc: OSError) -> OutputError:
    reason = exc.strerror or type(exc).__name__
    return OutputError(f"cannot write {path}: {reason}")


def write_atomic(path: Path, write: Callable[[Path], Any]) -> None:
    """``write(tmp)`` then rename onto ``path``: readers never see a half-written file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise _output_error(path, exc) from None


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    return str(value)


def write_json(path: str | Path, obj: Any, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON atomically, creating parent folders; return the path."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _output_error(path.parent, exc) from None
    text = json.dumps(obj, indent=indent, default=_json_default) + "\n"
    write_atomic(path, lambda p: p.write_text(text))
    return path


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any], resumable: Sequence[str]) -> list[str]:
    """``section.key: old -> new`` for every key that differs and may not change on resume."""
    diffs = []
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section, {}), new.get(section, {})
        for key in sorted(set(a) | set(b)):
            if f"{section}.{key}" not in resumable and a.get(key) != b.get(key):
                diffs.append(f"{section}.{key}: {a.get(key)!r} -> {b.get(key)!r}")
    return diffs


def describe_existing_run(out: Path) -> str | None:
    """The run already in ``out`` (``None`` if there is none): a training run counts
    epochs, a federated one rounds."""
    metrics_path = out / METRICS_FILE
    if metrics_path.is_file():
        try:
            m = json.loads(metrics_path.read_text())
            config = m.get("config", {})
            if "rounds" in m:
                kind, unit, done = "federated run", "rounds", len(m["rounds"])
                total = config.get("federated", {}).get("rounds", "?")
            else:
                kind, unit, done = "run", "epochs", len(m.get("epochs", []))
                total = config.get("train", {}).get("epochs", "?")
            state = "a finished" if m.get("finished") else "an unfinished"
            return f"{state} {kind} ({done}/{total} {unit})"
        except (ValueError, OSError, AttributeError, TypeError):  # ValueError: bad JSON or bytes
            return f"a run (unreadable {METRICS_FILE})"
    if (out / CHECKPOINT_FILE).is_file():
        return "a run checkpoint"
    return None


class RunFolder:
    """The output folder of one run.

    Args:
        path: the folder.
        checkpoint_format: tag stored in (and required of) the checkpoint.
        resumable: dotted config keys that may differ on resume (the length
            of the run, e.g. ``train.epochs``, and ``run.out``).
    """

    def __init__(self, path: str | Path, checkpoint_format: int | str, resumable: Sequence[str]) -> None:
        self.path = Path(path)
        self.checkpoint_format = checkpoint_format
        self.resumable = tuple(resumable)
        self._clear = False

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT_FILE

    def open(self, cfg: Mapping[str, Any], *, resume: bool, force: bool) -> dict[str, Any] | None:
        """Check that the folder can take this run, before anything is built.

        Returns the checkpoint when resuming (``None`` otherwise). Raises
        ``ValueError`` for contradicting flags or a changed config,
        ``FileExistsError`` for an existing run without ``force``,
        ``FileNotFoundError`` when there is nothing to resume, and
        :class:`OutputError` when the path cannot be a folder.
        """
        out = self.path
        if resume and force:
            raise ValueError("--resume and --force contradict each other: resume keeps the run, force replaces it")
        for parent in (out, *out.parents):
            if parent.exists():
                if not parent.is_dir():
                    raise OutputError(f"cannot write {out}: {parent} exists and is not a folder")
                break
        if resume:
            if not self.checkpoint_path.is_file():
                raise FileNotFoundError(f"nothing to resume: {self.checkpoint_path} does not exist")
            return self._load_checkpoint(cfg)
        existing = describe_existing_run(out) if out.is_dir() else None
        if existing is not None:
            if not force:
                raise FileExistsError(
                    f"{out} already holds {existing}; use --resume to continue it, "
                    f"--force to overwrite it, or --out to choose another folder"
                )
            self._clear = True
        return None

    def _load_checkpoint(self, cfg: Mapping[str, Any]) -> dict[str, Any]:
        import torch

        try:
            # Our own file; it holds NumPy RNG state, which weights_only refuses.
            ckpt = torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)
        except OSError as exc:
            raise OutputError(f"cannot read {self.checkpoint_path}: {exc.strerror or exc}") from None
        except Exception as exc:  # a truncated or foreign file: torch/pickle raise many kinds
            raise ValueError(f"{self.checkpoint_path} is not a readable checkpoint ({type(exc).__name__})") from None
        if not isinstance(ckpt, dict) or ckpt.get("format") != self.checkpoint_format:
            found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
            raise ValueError(
                f"{self.checkpoint_path}: checkpoint format {found!r}, expected {self.checkpoint_format!r} "
                "(a checkpoint of another kind of run?)"
            )
        diffs = config_differences(ckpt["config"], cfg, self.resumable)
        if diffs:
            raise ValueError(
                f"cannot resume {self.path}: the config differs from the checkpoint's in "
                + "; ".join(diffs)
                + f" (only {self.resumable[0]} may change on resume)"
            )
        return ckpt

    def prepare(self, cfg: Mapping[str, Any]) -> None:
        """Data and model are built: clear an overwritten run's files, create the folder, write the config."""
        try:
            if self._clear:
                for name in RUN_FILES:  # only the files a run writes: anything else the user put there stays
                    (self.path / name).unlink(missing_ok=True)
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _output_error(self.path, exc) from None
        text = to_toml(cfg)
        write_atomic(self.path / CONFIG_FILE, lambda p: p.write_text(text))

    def save(self, state: Mapping[str, Any], metrics: Mapping[str, Any]) -> None:
        """The checkpoint (with ``format`` added), then ``metrics.json``."""
        import torch  # here, not at import: the CLI names config errors without loading torch

        payload = {"format": self.checkpoint_format, **state}
        write_atomic(self.checkpoint_path, lambda p: torch.save(payload, p))
        self.write_metrics(metrics)

    def write_metrics(self, metrics: Mapping[str, Any]) -> None:
        write_json(self.path / METRICS_FILE, metrics)


def is_tty() -> bool:
    """Whether progress goes to a terminal (bars) or a log (lines)."""
    return hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
