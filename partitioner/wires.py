"""Segment level: wire cuts on top of a qubit partition.

A solution gives every qubit a *timeline*: the fragment (part) of each of its
events (the multi-qubit gates on it, in order). A change of part between two
consecutive events is a wire cut placed just before the later gate (a
qiskit-addon-cutting ``Move`` to a fresh qubit, :math:`\\gamma^2 = 16`). Each
maximal run of equal parts becomes one qubit of that fragment, so

.. math::  \\text{width}(p) = \\#\\{\\text{runs in part } p\\}, \\qquad
           \\text{cost} = \\sum_{\\text{gates across parts}} \\log \\gamma^2_g
                        + \\#\\text{changes} \\cdot \\log 16 .

:func:`refine_wires` is a local search whose move re-plans the whole timeline
of one qubit with the others fixed: the best of all timelines with at most
three runs (every part for one run; every part pair and split for two; every
part triple and split pair for three), subject to the slack the other qubits
leave in each part. With prefix sums :math:`S_p(t) = \\sum_{j<t} c_p(j)` of
the per-event costs :math:`c_p(j)` (weight of the gate at event ``j`` if its
partner is not in ``p``) the three-run optimum is

.. math::  \\min_{p_1 \\ne p_2 \\ne p_3,\\, 0<s<t<m}
           [S_{p_1}(s) - S_{p_2}(s)] + [S_{p_2}(t) - S_{p_3}(t) + S_{p_3}(m)] + 2 \\log 16,

a running minimum over ``s`` followed by a minimum over ``t``: one numpy pass
per qubit. This is what finds "a qubit that talks to one group early and
another late".
"""

from __future__ import annotations

import math

import numpy as np

from .model import CircuitModel
from .passes import EPS

Timeline = np.ndarray  # parts of one qubit's events (length max(1, #events))


def timelines_from_qubits(model: CircuitModel, part_of_qubit: np.ndarray) -> list[Timeline]:
    """Constant timelines: every qubit wholly in its part (no wire cuts)."""
    return [
        np.full(max(1, len(model.events[q])), int(part_of_qubit[q]), dtype=np.int64)
        for q in range(model.num_qubits)
    ]


def event_part(model: CircuitModel, seq: list[Timeline], gid: int, k: int) -> int:
    """Part of the ``k``-th qubit of interaction ``gid``."""
    q = model.interactions[gid].qubits[k]
    return int(seq[q][model.positions[gid][k]])


def total_cost(model: CircuitModel, seq: list[Timeline], wire_weight: float) -> float:
    """Exact :math:`\\log \\gamma^2` of the plan (``inf`` if an uncuttable gate spans parts)."""
    cost = 0.0
    for gid, g in enumerate(model.interactions):
        parts = {event_part(model, seq, gid, k) for k in range(len(g.qubits))}
        if len(parts) > 1:
            if g.cost is None or len(g.qubits) != 2:
                return math.inf
            cost += g.cost.weight
    changes = sum(int(np.count_nonzero(t[1:] != t[:-1])) for t in seq)
    return cost + changes * wire_weight


def runs(t: Timeline) -> list[tuple[int, int, int]]:
    """``(first event, end event, part)`` of each run of a timeline."""
    out = []
    start = 0
    for j in range(1, len(t) + 1):
        if j == len(t) or t[j] != t[start]:
            out.append((start, j, int(t[start])))
            start = j
    return out


def widths(seq: list[Timeline], num_parts: int) -> np.ndarray:
    """Qubits each part needs: its number of runs."""
    w = np.zeros(num_parts, dtype=np.int64)
    for t in seq:
        for _, _, p in runs(t):
            w[p] += 1
    return w


def _event_costs(
    model: CircuitModel, seq: list[Timeline], q: int, cand: np.ndarray, big: float
) -> np.ndarray:
    """``c[i, j]``: cost of event ``j`` of qubit ``q`` if it sits in part ``cand[i]``.

    Uncuttable gates whose other qubits sit elsewhere cost ``big`` (checked
    exactly afterwards).
    """
    ev = model.events[q]
    c = np.zeros((len(cand), len(ev)))
    for j, gid in enumerate(ev):
        g = model.interactions[gid]
        others = [event_part(model, seq, gid, k) for k in range(len(g.qubits)) if g.qubits[k] != q]
        w = big if (g.cost is None or len(g.qubits) != 2) else g.cost.weight
        for p_other in set(others):
            c[:, j] += np.where(cand != p_other, w, 0.0)
    return c


def _best_timeline(
    c: np.ndarray, slack: np.ndarray, wire: float, max_runs: int
) -> tuple[float, list[tuple[int, int]]]:
    """Cheapest timeline with at most ``max_runs`` runs.

    Args:
        c: ``(k, m)`` event costs per candidate part.
        slack: free qubits per candidate part (the qubit itself removed).
        wire: weight of one wire cut.

    Returns:
        ``(cost, [(start event, candidate index), ...])``.
    """
    k, m = c.shape
    s = np.zeros((k, m + 1))
    np.cumsum(c, axis=1, out=s[:, 1:])
    total = s[:, m]
    one = np.where(slack >= 1, total, np.inf)
    i1 = int(np.argmin(one))
    best = (float(one[i1]), [(0, i1)])
    if max_runs < 2 or m < 2:
        return best
    ok = slack >= 1
    distinct = ~np.eye(k, dtype=bool)
    # two runs: [0, t) in p1, [t, m) in p2, t in 1..m-1
    two = s[:, None, 1:m] - s[None, :, 1:m] + total[None, :, None] + wire
    mask2 = (ok[:, None] & ok[None, :] & distinct)[:, :, None]
    two = np.where(mask2, two, np.inf)
    i2 = int(np.argmin(two))
    if two.flat[i2] < best[0] - EPS:
        p1, p2, t = np.unravel_index(i2, two.shape)
        best = (float(two.flat[i2]), [(0, int(p1)), (int(t) + 1, int(p2))])
    if max_runs < 3 or m < 3:
        return best
    # three runs: [0,s) p1, [s,t) p2, [t,m) p3 with 1 <= s < t <= m-1
    a = s[:, None, :] - s[None, :, :]  # a[p1,p2,x] = S_p1(x) - S_p2(x)
    a[:, :, 0] = np.inf
    a[:, :, m - 1 :] = np.inf
    amin = np.minimum.accumulate(a, axis=2)  # amin[..., x] = min_{s<=x} a[..., s]
    b = s[:, None, :] - s[None, :, :] + total[None, :, None]  # b[p2,p3,t]
    tt = np.arange(2, m)
    three = amin[:, :, None, tt - 1] + b[None, :, :, tt] + 2 * wire
    same13 = np.eye(k, dtype=bool)[:, None, :]
    cap13 = np.where(same13, (slack >= 2)[:, None, None], ok[:, None, None] & ok[None, None, :])
    mask3 = cap13 & distinct[:, :, None] & distinct[None, :, :] & ok[None, :, None]
    three = np.where(mask3[..., None], three, np.inf)
    i3 = int(np.argmin(three))
    if three.flat[i3] < best[0] - EPS:
        p1, p2, p3, ti = np.unravel_index(i3, three.shape)
        t = int(tt[ti])
        s_best = int(np.argmin(a[p1, p2, :t]))
        best = (float(three.flat[i3]), [(0, int(p1)), (s_best, int(p2)), (t, int(p3))])
    return best


def refine_wires(
    model: CircuitModel,
    seq: list[Timeline],
    slots: np.ndarray,
    *,
    wire_weight: float,
    rng: np.random.Generator,
    max_runs: int = 3,
    max_sweeps: int = 8,
) -> list[Timeline]:
    """Improve timelines one qubit at a time until no move helps (see module docstring)."""
    seq = [t.copy() for t in seq]
    num_parts = len(slots)
    gate_total = sum(g.weight for g in model.interactions if g.cost is not None)
    big = 10.0 * (gate_total + wire_weight * (len(model.interactions) + 1)) + 100.0
    width = widths(seq, num_parts)
    movable = [q for q in range(model.num_qubits) if model.events[q]]
    for _ in range(max_sweeps):
        improved = False
        for q in rng.permutation(movable):
            q = int(q)
            cur = seq[q]
            cur_runs = runs(cur)
            own = np.zeros(num_parts, dtype=np.int64)
            for _, _, p in cur_runs:
                own[p] += 1
            base = width - own
            used = np.flatnonzero(base > 0)
            empty = np.flatnonzero(base == 0)
            extra = empty[np.argmax(slots[empty])] if empty.size else None
            cand = set(used.tolist()) | {p for _, _, p in cur_runs}
            if extra is not None:
                cand.add(int(extra))
            cand_arr = np.array(sorted(cand), dtype=np.int64)
            c = _event_costs(model, seq, q, cand_arr, big)
            slack = slots[cand_arr] - base[cand_arr]
            pos = {int(p): i for i, p in enumerate(cand_arr)}
            cur_cost = float(c[[pos[int(p)] for p in cur], np.arange(len(cur))].sum())
            cur_cost += wire_weight * (len(cur_runs) - 1)
            new_cost, plan = _best_timeline(c, slack, wire_weight, max_runs)
            if new_cost < cur_cost - EPS:
                new = np.empty_like(cur)
                bounds = [start for start, _ in plan] + [len(cur)]
                for (start, ci), end in zip(plan, bounds[1:]):
                    new[start:end] = cand_arr[ci]
                seq[q] = new
                width = base.copy()
                for _, _, p in runs(new):
                    width[p] += 1
                improved = True
        if not improved:
            break
    return seq


def part_links(model: CircuitModel, seq: list[Timeline], num_parts: int, wire_weight: float) -> np.ndarray:
    """``L[a, b]``: weight of the gate and wire cuts between parts ``a`` and ``b``."""
    links = np.zeros((num_parts, num_parts))
    for gid, g in enumerate(model.interactions):
        if g.cost is None or len(g.qubits) != 2:
            continue
        a, b = event_part(model, seq, gid, 0), event_part(model, seq, gid, 1)
        if a != b:
            links[a, b] += g.cost.weight
            links[b, a] += g.cost.weight
    for t in seq:
        for x, y in zip(t[:-1], t[1:]):
            if x != y:
                links[x, y] += wire_weight
                links[y, x] += wire_weight
    return links


def merge_candidates(
    model: CircuitModel, seq: list[Timeline], slots: np.ndarray, wire_weight: float
) -> list[tuple[float, int, int]]:
    """Pairs of parts that fit together in one slot, most linked first.

    Merging parts ``b`` into ``a`` uncuts every gate and wire between them, so
    it never costs more; unlinked pairs are neutral but make room elsewhere.

    Returns:
        ``(link weight, a, b)`` with ``b`` to be relabelled ``a``.
    """
    num_parts = len(slots)
    width = widths(seq, num_parts)
    links = part_links(model, seq, num_parts, wire_weight)
    used = np.flatnonzero(width > 0)
    out = []
    for i, a in enumerate(used):
        for b in used[i + 1 :]:
            # merged runs of one qubit that meet across an a|b wire cut count once
            if width[a] + width[b] <= max(slots[a], slots[b]):
                keep, drop = (a, b) if slots[a] >= slots[b] else (b, a)
                out.append((float(links[a, b]), int(keep), int(drop)))
    out.sort(key=lambda c: (-c[0], width[c[1]] + width[c[2]]))
    return out
