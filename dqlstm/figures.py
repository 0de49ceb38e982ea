"""Saving matplotlib figures without pyplot: the Agg canvas, one DPI, output errors named."""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dqlstm.runs import OutputError


def save_figure(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Render ``fig`` to ``path`` (PNG by suffix), creating its folder; an unwritable path is an
    :class:`OutputError`."""
    path = Path(path)
    FigureCanvasAgg(fig)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
