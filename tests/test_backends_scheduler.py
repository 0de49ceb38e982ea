"""Scheduling rules in isolation."""

from __future__ import annotations

from backends.scheduler import choose_qpu, task_priority


def test_only_wide_enough_qpus_are_chosen() -> None:
    widths = [2, 3, 6]
    assert choose_qpu(5, [0, 1, 2], widths, [0, 0, 0], [1, 1, 1], set()) == 2
    assert choose_qpu(5, [0, 1], widths, [0, 0, 0], [1, 1, 1], set()) is None


def test_least_loaded_then_narrowest() -> None:
    widths = [4, 4, 8]
    assert choose_qpu(2, [0, 1, 2], widths, [5.0, 1.0, 1.0], [1, 1, 1], set()) == 1
    assert choose_qpu(2, [0, 1, 2], widths, [0.0, 0.0, 0.0], [1, 1, 1], set()) == 0


def test_reroutes_away_from_failed_qpu_when_possible() -> None:
    widths = [4, 4]
    assert choose_qpu(2, [0, 1], widths, [0, 9], [1, 1], {0}) == 1
    assert choose_qpu(2, [0], widths, [0, 9], [1, 1], {0}) == 0  # only option: retry there


def test_priority_places_constrained_and_costly_work_first() -> None:
    widths = [3, 3, 6]
    keys = {
        "wide": task_priority(5, 1.0, 3, widths),
        "big": task_priority(2, 9.0, 1, widths),
        "small": task_priority(2, 1.0, 0, widths),
    }
    assert sorted(keys, key=keys.get) == ["wide", "big", "small"]
