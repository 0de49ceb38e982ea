r"""Budgets: caps on the shots and QPU seconds a training run may spend (``[budget]``).

Two checks, both against ``spent + work ahead``:

* before anything runs, the estimate of the run's remaining work
  (:mod:`dqlstm.estimate`; for ``max_qpu_seconds`` with its short timing
  calibration) plus what earlier processes spent must fit, else the run is
  refused (:class:`BudgetError`, one line; ``--until-budget`` lets it start
  anyway and stop where the budget ends);
* between units of work (each optimiser step; the test-set evaluation that
  closes an epoch, together with the final predictions after the last
  epoch) the spent cost plus the next unit's estimate must fit, else the run
  stops at that boundary (:class:`BudgetStop`), resumable exactly there.

*Spent* is counted from what ran, summed over the processes of a resumed run:
shots are the QPUs' own counts (``cut.pool.qpus.*.shots``: bindings x shots of
every job that returned, retried PUBs and late results of timed-out jobs
included), QPU seconds the QPUs' busy seconds (``cut.pool.qpus.*.seconds``:
wall time of each returned job on its QPU, as the pool's engine measures it,
i.e. on IBM devices including queueing and the runtime's own overheads; jobs
that failed are not timed). The default local sampler has no pool; a run wraps
it in :class:`MeteredSampler`, which keeps the same statistics.

How exact a cap is: a unit is priced before it runs, so a cap can be passed by
that unit's retries, by the error of the QPU-seconds model, and, with
``allocation = "adaptive"`` and parameter-shift gradients, by the difference
between the priced (weighted, first-step) and the live allocation of the
shifted runs (the estimate flags those counts as approximate).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from dqlstm.progress import duration

BUDGET_EXIT = 3  # exit status of a run stopped by its budget (0 finished, 2 refused or error, 130 Ctrl-C)


def seconds_text(s: float) -> str:
    """Seconds precise enough to compare with a cap (``0.473 s``), minutes and hours as durations."""
    return f"{s:.3g} s" if s < 120 else duration(s)


class BudgetError(ValueError):
    """A run whose estimated work does not fit its budget (refused before anything runs)."""


@dataclass(frozen=True)
class Spent:
    """Shots and QPU seconds that ran."""

    shots: int = 0
    qpu_seconds: float = 0.0

    def __add__(self, other: Spent) -> Spent:
        return Spent(self.shots + other.shots, self.qpu_seconds + other.qpu_seconds)

    @classmethod
    def from_cut(cls, cut: Mapping[str, Any] | None) -> Spent:
        """What a ``cut_info`` (summed over processes by ``add_costs``) says ran: the pool's per-QPU
        shots and busy seconds, else (no pool statistics) the executed shots and no seconds."""
        if not cut:
            return cls()
        pool = cut.get("pool")
        if isinstance(pool, Mapping) and isinstance(pool.get("qpus"), Mapping):
            qpus = [q for q in pool["qpus"].values() if isinstance(q, Mapping)]
            return cls(
                int(sum(q.get("shots", 0) for q in qpus)), float(sum(q.get("seconds", 0.0) for q in qpus))
            )
        executed = cut.get("executed")
        if isinstance(executed, Mapping):
            return cls(int(executed.get("total_shots", 0)), 0.0)
        return cls()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Budget:
    """``[budget]``: ``None`` means no cap."""

    max_shots: int | None = None
    max_qpu_seconds: float | None = None

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> Budget:
        b = cfg.get("budget") or {}
        shots, seconds = b.get("max_shots"), b.get("max_qpu_seconds")
        return cls(None if shots is None else int(shots), None if seconds is None else float(seconds))

    @property
    def active(self) -> bool:
        return self.max_shots is not None or self.max_qpu_seconds is not None

    def exceeded(self, spent: Spent, shots: int, seconds: float) -> tuple[str, str] | None:
        """``(key, text)`` of the first cap ``spent`` plus ``shots``/``seconds`` more would pass, else ``None``."""
        if self.max_shots is not None and spent.shots + shots > self.max_shots:
            return "max_shots", (
                f"[budget] max_shots = {self.max_shots:,}: spent {spent.shots:,} shots, "
                f"{{what}} needs {shots:,} more"
            )
        if self.max_qpu_seconds is not None and spent.qpu_seconds + seconds > self.max_qpu_seconds:
            return "max_qpu_seconds", (
                f"[budget] max_qpu_seconds = {self.max_qpu_seconds:g}: spent {seconds_text(spent.qpu_seconds)} "
                f"of QPU time, {{what}} needs about {seconds_text(seconds)} more"
            )
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def refuse_if_over(budget: Budget, spent: Spent, shots: int, seconds: float, timing_note: str = "") -> None:
    """:class:`BudgetError` (one line: what, estimate vs budget, how to proceed) when the remaining
    work (``shots``, ``seconds``) on top of ``spent`` does not fit."""
    over = budget.exceeded(spent, shots, seconds)
    if over is None:
        return
    key, _ = over
    if key == "max_shots":
        need = f"an estimated {shots + spent.shots:,} shots in all ({spent.shots:,} already spent)"
        have = f"[budget] max_shots = {budget.max_shots:,}"
    else:
        need = (
            f"an estimated {seconds_text(seconds + spent.qpu_seconds)} of QPU time in all "
            f"({seconds_text(spent.qpu_seconds)} already spent{'; ' + timing_note if timing_note else ''})"
        )
        have = f"[budget] max_qpu_seconds = {budget.max_qpu_seconds:g}"
    raise BudgetError(
        f"budget: the run needs {need}, over {have}; raise budget.{key} (config or --{key.replace('_', '-')}), "
        f"lower train.epochs or model.shots, "
        f"or add --until-budget to train until the budget is spent and stop resumably"
    )


class BudgetStop(Exception):
    """The next unit of work would pass the budget: the run stops at this boundary (resumable)."""

    def __init__(self, key: str, text: str, spent: Spent) -> None:
        super().__init__(text)
        self.key, self.text, self.spent = key, text, spent


class Guard:
    """Checks ``spent + next unit <= budget`` between units of work; raises :class:`BudgetStop`.

    ``spent()`` reads what ran so far (all processes of the run); ``price(unit)``
    returns ``(shots, seconds)`` the unit is estimated to need.
    """

    def __init__(self, budget: Budget, spent: Callable[[], Spent]) -> None:
        self.budget, self.spent = budget, spent

    def check(self, shots: int, seconds: float, what: str) -> None:
        if not self.budget.active:
            return
        spent = self.spent()
        over = self.budget.exceeded(spent, shots, seconds)
        if over is not None:
            raise BudgetStop(over[0], over[1].format(what=what), spent)


# -- the default sampler, metered --------------------------------------------------


class MeteredSampler:
    """A sampler (``run(pubs) -> results``) that keeps pool-like statistics: PUBs, shots and busy seconds.

    Wraps the default local sampler of a sampled model without a pool, so its
    ``cut_summary()`` reports ``pool`` statistics (and QPU seconds) as a
    ``QPUPool``'s does. The results are the wrapped sampler's, untouched.
    ``share``: another meter whose statistics this one adds to (the two
    engines of a 6vqc cell, each with its own local sampler, report one pool).
    """

    def __init__(self, inner: Any, name: str, num_qubits: int, share: MeteredSampler | None = None) -> None:
        from backends.stats import PoolStats, QPUStats

        self.inner = inner
        self._stats = (
            share._stats if share is not None else PoolStats(qpus={name: QPUStats(name, num_qubits)})
        )
        self._name = share._name if share is not None else name

    @property
    def stats(self) -> Any:
        from copy import deepcopy

        return deepcopy(self._stats)

    def run(self, pubs: list[Any]) -> Any:
        import numpy as np

        start = time.perf_counter()
        out = self.inner.run(pubs)
        if callable(getattr(out, "result", None)):
            out = out.result()
        seconds = time.perf_counter() - start
        q = self._stats.qpus[self._name]
        q.jobs += len(pubs)
        q.shots += sum(int(np.prod(np.shape(p[1])[:-1], dtype=np.int64)) * int(p[2]) for p in pubs)
        q.seconds += seconds
        self._stats.pubs += len(pubs)
        self._stats.wall_seconds += seconds
        return out


def meter_default_sampler(model: Any) -> bool:
    """Wrap a sampled model's default local sampler in a :class:`MeteredSampler` (not a pool: it keeps
    its own statistics); a 6vqc cell's readout sampler adds to the same statistics. Returns whether a
    sampler was wrapped."""
    core = getattr(model, "core", model)
    executor = getattr(getattr(core, "engine", None), "executor", None)
    if executor is None or getattr(executor, "pool", None) is None or hasattr(executor.pool, "stats"):
        return False
    width = max((c.num_qubits for f in executor.fragments for c in f.subexperiments), default=1)
    executor.pool = meter = MeteredSampler(executor.pool, "local-aer", width)
    readout = getattr(getattr(core, "readout_engine", None), "executor", None)
    if (
        readout is not None
        and getattr(readout, "pool", None) is not None
        and not hasattr(readout.pool, "stats")
    ):
        readout.pool = MeteredSampler(readout.pool, "local-aer", width, share=meter)
    return True


# -- the work ahead ----------------------------------------------------------------


def step_sizes(num_train: int, batch_size: int, batches_done: int = 0) -> list[int]:
    """Sizes of the mini-batches ``train_epoch`` still makes after ``batches_done`` of them."""
    return [min(batch_size, num_train - s) for s in range(batches_done * batch_size, num_train, batch_size)]


def work_ahead(
    price: Any,
    num_train: int,
    num_test: int,
    batch_size: int,
    epochs: int,
    done_epochs: int,
    batches_done: int | None = None,
) -> Any:
    """The estimated :class:`dqlstm.estimate.Level` of what a run still runs on QPUs.

    ``done_epochs`` finished; ``batches_done`` (``None``: the next epoch has not
    started) mini-batches of epoch ``done_epochs + 1``; then the remaining steps,
    each epoch's test-set evaluation, and the final predictions on both parts.
    """
    from dqlstm.estimate import Level

    total = Level()
    epoch = done_epochs
    if batches_done is not None and epoch < epochs:
        for size in step_sizes(num_train, batch_size, batches_done):
            total += price.step(size)
        total += price.forward(num_test)
        epoch += 1
    full = Level()
    for size in step_sizes(num_train, batch_size):
        full += price.step(size)
    full += price.forward(num_test)
    total += full.times(max(epochs - epoch, 0))
    return total + price.forward(num_train) + price.forward(num_test)
