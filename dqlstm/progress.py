"""Progress of long runs: a tqdm bar on a terminal, plain lines in a log, nothing when quiet.

Where stderr is a terminal (:func:`dqlstm.runs.is_tty`) a :class:`Progress`
draws a tqdm bar; otherwise (output redirected to a file, a batch job) it
writes one flushed line per finished step to stderr, never a carriage return,
so a log reads like a log. ``quiet`` silences both.

Shot-based runs spend minutes inside one epoch: :class:`Heartbeat`, called
between mini-batches, reports what the sampled engine executed so far in the
step (there is no total to come: the number of evaluations is not known in
advance), at most every :data:`HEARTBEAT_SECONDS` in a log and
:data:`BAR_HEARTBEAT_SECONDS` on a bar.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from tqdm.auto import tqdm

from dqlstm.runs import is_tty

HEARTBEAT_SECONDS = 30.0  # between in-step lines of a log (tests set 0)
BAR_HEARTBEAT_SECONDS = 1.0  # between postfix refreshes of a bar: cheap, and a terminal wants it live


def count(n: float) -> str:
    """``1,234`` up to 99,999, then ``123.5 k``, ``12.3 M``, ``4.56 G``: a glance, not a ledger."""
    n = float(n)
    if abs(n) < 1e5:
        return f"{n:,.0f}"
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {suffix}" if n / scale < 1000 else f"{n / scale:,.0f} {suffix}"
    return f"{n:,.0f}"  # pragma: no cover


def duration(s: float) -> str:
    """``0.04 s``, ``0.7 s``, ``12 s``, ``3.5 min``, ``1.2 h``."""
    if s < 0.1:
        return f"{s:.2f} s"
    if s < 10:
        return f"{s:.1f} s"
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


class Progress:
    """Steps ``initial+1 .. total`` of a run, shown as a bar (terminal) or lines (log).

    A log line reads ``{label} {i}/{total}: {text}``, e.g. ``epoch 3/100: train ...``.
    """

    def __init__(
        self,
        total: int,
        *,
        label: str,
        desc: str,
        unit: str,
        initial: int = 0,
        quiet: bool = False,
    ) -> None:
        self.total, self.label, self.n = total, label, initial
        tty = is_tty()
        self.lines = not quiet and not tty
        self.bar = None
        if not quiet and tty:
            self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=True)

    @property
    def active(self) -> bool:
        """Whether anything is shown (callers skip the work of a message nobody reads)."""
        return self.lines or self.bar is not None

    def _write(self, index: int, text: str) -> None:
        # sys.stderr looked up per line: pytest's capsys and redirections swap it
        print(f"{self.label} {index}/{self.total}: {text}", file=sys.stderr, flush=True)

    def advance(self, n: int = 1, *, line: str | None = None, postfix: Mapping[str, Any] | str | None = None) -> None:
        """``n`` steps done; the log gets ``line`` (if given), the bar ``postfix``."""
        self.n += n
        if self.bar is not None:
            self.bar.update(n)
            self._postfix(postfix)
        elif self.lines and line is not None:
            self._write(self.n, line)

    def note(self, line: str, postfix: Mapping[str, Any] | str | None = None) -> None:
        """News from inside the step under way (``n + 1``): a log line, or the bar's postfix."""
        if self.bar is not None:
            self._postfix(postfix if postfix is not None else line)
        elif self.lines:
            self._write(self.n + 1, line)

    def show(self, postfix: Mapping[str, Any] | str) -> None:
        """What the step under way is (the bar's postfix only: a log gets the line when it ends)."""
        if self.bar is not None:
            self._postfix(postfix)

    def _postfix(self, postfix: Mapping[str, Any] | str | None) -> None:
        if postfix is None:
            return
        if isinstance(postfix, str):
            self.bar.set_postfix_str(postfix)
        else:
            self.bar.set_postfix(dict(postfix))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def executed(cut: Mapping[str, Any] | None) -> dict[str, int] | None:
    """The ``executed`` counters of a ``cut_info`` (shot-based engines only), else ``None``."""
    if not cut or not isinstance(cut.get("executed"), Mapping):
        return None
    return {k: int(v) for k, v in cut["executed"].items() if isinstance(v, (int, float))}


def qpu_seconds(cut: Mapping[str, Any] | None) -> float | None:
    """The QPUs' busy seconds in a ``cut_info`` with pool statistics (summed over QPUs), else ``None``."""
    pool = cut.get("pool") if cut else None
    if not isinstance(pool, Mapping) or not isinstance(pool.get("qpus"), Mapping):
        return None
    return float(sum(q.get("seconds", 0.0) for q in pool["qpus"].values() if isinstance(q, Mapping)))


def work_text(done: Mapping[str, int]) -> str:
    """``1,234 circuits, 12.3 M shots`` from a difference of ``executed`` counters."""
    return f"{count(done.get('num_circuits', 0))} circuits, {count(done.get('total_shots', 0))} shots"


class Heartbeat:
    """Between mini-batches: what a shot-based engine executed so far in the step under way.

    ``read()`` returns the engine's ``cut_info`` (``None`` or no ``executed``
    counters: not shot-based, and the heartbeat stays silent). Each call costs
    a clock read; the counters are read only once an interval has passed.
    ``planned()`` (optional) gives the step's planned ``num_circuits`` and
    ``total_shots``: a bar then shows done/planned and the QPU seconds so far.
    """

    def __init__(
        self,
        progress: Progress,
        read: Callable[[], Mapping[str, Any] | None],
        planned: Callable[[], Mapping[str, int]] | None = None,
    ) -> None:
        self.progress, self.read, self.planned = progress, read, planned
        self.enabled = progress.active and executed(read()) is not None
        self.start: dict[str, float] = {}
        self.last = time.monotonic()

    def _counters(self) -> dict[str, float]:
        cut = self.read()
        out: dict[str, float] = dict(executed(cut) or {})
        seconds = qpu_seconds(cut)
        if seconds is not None:
            out["qpu_seconds"] = seconds
        return out

    def begin(self) -> None:
        """A step starts: counters from here."""
        if self.enabled:
            self.start = self._counters()
            self.last = time.monotonic()

    def since_begin(self) -> dict[str, float]:
        """Counters since :meth:`begin`: ``executed`` ones, plus ``qpu_seconds`` where a pool reports them."""
        return {k: v - self.start.get(k, 0) for k, v in self._counters().items()}

    def __call__(self) -> None:
        if not self.enabled:
            return
        interval = BAR_HEARTBEAT_SECONDS if self.progress.bar is not None else HEARTBEAT_SECONDS
        if time.monotonic() - self.last < interval:
            return
        self.last = time.monotonic()
        done = self.since_begin()
        unit = self.progress.label.split()[-1]
        circuits, shots = count(done.get("num_circuits", 0)), count(done.get("total_shots", 0))
        postfix = {"circuits": circuits, "shots": shots}
        plan = self.planned() if self.planned is not None else None
        if plan:
            postfix = {"circuits": f"{circuits}/{count(plan.get('num_circuits', 0))}",
                       "shots": f"{shots}/{count(plan.get('total_shots', 0))}"}
        if "qpu_seconds" in done:
            postfix["QPU"] = duration(done["qpu_seconds"])
        self.progress.note(
            f"{circuits} circuits evaluated so far this {unit}, {shots} shots",
            postfix=postfix,
        )
