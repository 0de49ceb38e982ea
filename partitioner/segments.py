"""Wire cuts as graph partitioning of the time-expanded circuit.

Each *event* (a qubit taking part in a multi-qubit gate) is a node. A gate
joins the events of its qubits with weight :math:`\\log \\gamma^2_g`;
consecutive events of one qubit are joined by a *wire edge* of weight
:math:`\\log 16`. Cutting an edge is then exactly a gate cut or a wire cut, so
a part assignment of the events costs the plain weighted edge cut

.. math::  \\operatorname{cut} = \\sum_{\\text{gate edges cut}} \\log \\gamma^2_g
             + \\sum_{\\text{wire edges cut}} \\log 16 .

Only the capacity is not additive: a part holds one qubit per *run* of a
qubit's events, :math:`\\text{width}(p) = |p| - \\#\\{\\text{wire edges inside } p\\}`.
Moving event ``c`` (wire neighbours ``c-1``, ``c+1``) from part ``a`` to ``b``
changes the widths by

.. math::  \\Delta_a = -1 + [c{-}1 \\in a] + [c{+}1 \\in a], \\qquad
           \\Delta_b = +1 - [c{-}1 \\in b] - [c{+}1 \\in b].

:func:`fm_refine` runs Fiduccia-Mattheyses passes on this graph: repeatedly
apply the feasible single-event move of largest gain (even if negative), lock
the event, and keep the best prefix of the pass. Uphill steps let it move a
whole qubit tail into another part (the first move opens the wire cut, the
following ones shift it), which single greedy moves cannot.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from .model import CircuitModel
from .passes import BestPrefix, best_prefix_passes
from .wires import Timeline


@dataclass(frozen=True)
class EventGraph:
    """Time-expanded circuit.

    Attributes:
        qubit: qubit of every event.
        first: index of the first event of every qubit (``-1`` if it has none).
        prev, next: wire neighbours of every event (``-1`` at the ends).
        weights: ``(E, E)`` symmetric edge weights (gate and wire edges).
        frozen: events of uncuttable gates (never moved here).
        idle: qubits without events (each occupies one qubit of its part).
        active: qubits with events, in event order.
        qubit_weights: ``(A, A)`` gate weights between active qubits.
    """

    qubit: np.ndarray
    first: np.ndarray
    prev: np.ndarray
    next: np.ndarray
    weights: np.ndarray
    frozen: np.ndarray
    idle: tuple[int, ...]
    active: np.ndarray
    qubit_weights: np.ndarray


def build_event_graph(model: CircuitModel, wire_weight: float) -> EventGraph:
    """Event nodes, gate edges and wire edges of ``model``."""
    first = np.full(model.num_qubits, -1, dtype=np.int64)
    qubit: list[int] = []
    for q, ev in enumerate(model.events):
        if ev:
            first[q] = len(qubit)
            qubit.extend([q] * len(ev))
    e = len(qubit)
    qarr = np.array(qubit, dtype=np.int64)
    prev = np.full(e, -1, dtype=np.int64)
    nxt = np.full(e, -1, dtype=np.int64)
    w = np.zeros((e, e))
    for q, ev in enumerate(model.events):
        for j in range(1, len(ev)):
            a = first[q] + j
            prev[a], nxt[a - 1] = a - 1, a
            w[a - 1, a] = w[a, a - 1] = wire_weight
    frozen = np.zeros(e, dtype=bool)
    for gid, g in enumerate(model.interactions):
        nodes = [first[q] + model.positions[gid][k] for k, q in enumerate(g.qubits)]
        if g.cost is None or len(g.qubits) != 2:
            frozen[nodes] = True
            continue
        a, b = nodes
        w[a, b] += g.cost.weight
        w[b, a] += g.cost.weight
    idle = tuple(q for q in range(model.num_qubits) if first[q] < 0)
    active = np.flatnonzero(first >= 0)
    slot = {int(q): i for i, q in enumerate(active)}
    wq = np.zeros((len(active), len(active)))
    for g in model.interactions:
        if g.cost is not None and len(g.qubits) == 2:
            a, b = slot[g.qubits[0]], slot[g.qubits[1]]
            wq[a, b] += g.cost.weight
            wq[b, a] += g.cost.weight
    return EventGraph(qarr, first, prev, nxt, w, frozen, idle, active, wq)


def to_events(graph: EventGraph, seq: list[Timeline]) -> np.ndarray:
    """Part of every event."""
    out = np.empty(len(graph.qubit), dtype=np.int64)
    for q, t in enumerate(seq):
        if graph.first[q] >= 0:
            out[graph.first[q] : graph.first[q] + len(t)] = t
    return out


def to_timelines(graph: EventGraph, part: np.ndarray, seq: list[Timeline]) -> list[Timeline]:
    """Timelines with the event parts of ``part`` (idle qubits keep theirs)."""
    out = []
    for q, t in enumerate(seq):
        if graph.first[q] >= 0:
            out.append(part[graph.first[q] : graph.first[q] + len(t)].copy())
        else:
            out.append(t.copy())
    return out


def _widths(graph: EventGraph, part: np.ndarray, idle_parts: np.ndarray, num_parts: int) -> np.ndarray:
    width = np.bincount(part, minlength=num_parts).astype(np.int64)
    inside = (graph.prev >= 0) & (part[np.maximum(graph.prev, 0)] == part)
    width -= np.bincount(part[inside], minlength=num_parts)
    width += np.bincount(idle_parts, minlength=num_parts)
    return width


def _run_bounds(graph: EventGraph, part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last event of the run containing every event."""
    e = len(part)
    same_prev = (graph.prev >= 0) & (part[np.maximum(graph.prev, 0)] == part)
    same_next = (graph.next >= 0) & (part[np.maximum(graph.next, 0)] == part)
    idx = np.arange(e)
    start = np.maximum.accumulate(np.where(same_prev, 0, idx))
    end = np.minimum.accumulate(np.where(same_next, e - 1, idx)[::-1])[::-1]
    return start, end


def fm_refine(
    graph: EventGraph,
    seq: list[Timeline],
    slots: np.ndarray,
    *,
    unlimited: bool,
    wire_weight: float,
    rng: np.random.Generator,
    max_passes: int = 6,
    patience: int = 10,
) -> list[Timeline]:
    r"""Fiduccia-Mattheyses on the event graph with run-prefix/suffix moves.

    A move sends the prefix ``[start(c), c]`` or the suffix ``[c, end(c)]`` of
    the run containing event ``c`` to another part; with ``D[c, b] =
    conn[c, b] - conn[c, part(c)]`` the gain of sending a set ``S`` of
    consecutive events of one run is

    .. math::  \sum_{c \in S} D[c, b] + 2 \log 16 \, (|S| - 1),

    the second term restoring the wire edges inside ``S`` that stay uncut.
    Whole runs are moves too, so whole qubits move in one step; two qubits
    without wire cuts may also swap parts (gain: both moves minus twice the
    gates between them, widths unchanged). Each pass
    applies the best feasible move (even if negative), locks its events, and
    keeps the best prefix of the pass.

    Args:
        seq: starting timelines (parts index ``slots``).
        slots: capacity of every part label.
        unlimited: part labels of equal capacity are interchangeable, so only
            one empty part is offered as a destination.
        patience: end a pass after this many moves without a new best prefix.
    """
    e = len(graph.qubit)
    if e == 0:
        return [t.copy() for t in seq]
    if unlimited:
        # equal slots: work on the used labels plus two empty ones (keeps arrays small)
        used = sorted({int(p) for t in seq for p in t})
        spare = [p for p in range(len(slots)) if p not in set(used)][:2]
        labels = np.array(used + spare, dtype=np.int64)
        local = {int(p): i for i, p in enumerate(labels)}
        seq_local = [np.array([local[int(p)] for p in t], dtype=np.int64) for t in seq]
        out = _fm(graph, seq_local, slots[labels], unlimited, wire_weight, rng, max_passes, patience)
        return [labels[t] for t in out]
    return _fm(graph, seq, slots, unlimited, wire_weight, rng, max_passes, patience)


def _fm(
    graph: EventGraph,
    seq: list[Timeline],
    slots: np.ndarray,
    unlimited: bool,
    wire_weight: float,
    rng: np.random.Generator,
    max_passes: int,
    patience: int,
) -> list[Timeline]:
    e = len(graph.qubit)
    num_parts = len(slots)
    w = graph.weights
    part = to_events(graph, seq)
    idle_parts = np.array([int(seq[q][0]) for q in graph.idle], dtype=np.int64)
    idx = np.arange(e)
    parts = np.arange(num_parts)
    firsts = graph.first[graph.active]
    counts = np.diff(np.append(firsts, e))

    def run_pass(part: np.ndarray, log: BestPrefix) -> None:
        onehot = np.zeros((e, num_parts))
        onehot[idx, part] = 1.0
        conn = w @ onehot
        width = _widths(graph, part, idle_parts, num_parts)
        locked = graph.frozen.copy()
        tiebreak = rng.random((2 * e, num_parts)) * 1e-7
        while True:
            start, end = _run_bounds(graph, part)
            d = conn - conn[idx, part][:, None]
            pref = np.zeros((e + 1, num_parts))
            np.cumsum(d, axis=0, out=pref[1:])
            lk = np.zeros(e + 1, dtype=np.int64)
            np.cumsum(locked, out=lk[1:])
            pp = np.where(graph.prev >= 0, part[np.maximum(graph.prev, 0)], -1)
            pn = np.where(graph.next >= 0, part[np.maximum(graph.next, 0)], -1)
            # suffix [c, end(c)] and prefix [start(c), c]
            lo = np.concatenate([idx, start])
            hi = np.concatenate([end, idx])
            gain = pref[hi + 1] - pref[lo] + (2 * wire_weight * (hi - lo))[:, None]
            whole = (lo == start[lo]) & (hi == end[hi])
            own = part[lo]
            before = np.where(lo == start[lo], pp[lo], -1)  # neighbour joining in b
            after = np.where(hi == end[hi], pn[hi], -1)
            d_to = 1 - (before[:, None] == parts) - (after[:, None] == parts)
            d_from = np.where(whole, -1, 0)
            d_from = d_from + np.where(~whole & (lo != start[lo]) & (hi != end[hi]), 1, 0)
            ok = width[None, :] + d_to <= slots[None, :]
            ok &= (width[own] + d_from <= slots[own])[:, None]
            ok &= (lk[hi + 1] - lk[lo] == 0)[:, None]
            ok[np.arange(2 * e), own] = False
            if unlimited:
                empty = np.flatnonzero(width == 0)
                if empty.size > 1:
                    ok[:, empty[1:]] = False
            score = np.where(ok, gain + tiebreak, -np.inf)
            best = int(np.argmax(score))
            # swaps of qubits that sit wholly in one part
            fa = firsts
            la = firsts + counts - 1
            unsplit = (end[fa] == la) & (lk[la + 1] - lk[fa] == 0)
            qpart = part[fa]
            cq = np.add.reduceat(conn, fa, axis=0)
            gq = cq - cq[np.arange(len(fa)), qpart][:, None] + (2 * wire_weight * (counts - 1))[:, None]
            swap = gq[:, qpart] + gq[:, qpart].T - 2 * graph.qubit_weights
            swap_ok = unsplit[:, None] & unsplit[None, :] & (qpart[:, None] != qpart[None, :])
            swap = np.where(swap_ok, swap, -np.inf)
            sw = int(np.argmax(swap))
            if not np.isfinite(max(score.flat[best], swap.flat[sw])):
                return
            if swap.flat[sw] > score.flat[best]:
                u, v = divmod(sw, len(fa))
                step_gain = float(swap.flat[sw])
                pieces_ = [(np.arange(fa[u], la[u] + 1), int(qpart[v])),
                           (np.arange(fa[v], la[v] + 1), int(qpart[u]))]
            else:
                m, b = divmod(best, num_parts)
                width[int(own[m])] += d_from[m]
                width[b] += d_to[m, b]
                step_gain = float(gain[m, b])
                pieces_ = [(np.arange(lo[m], hi[m] + 1), b)]
            undo = []
            for moved, b in pieces_:
                a = int(part[moved[0]])
                part[moved] = b
                delta = w[:, moved].sum(axis=1)
                conn[:, a] -= delta
                conn[:, b] += delta
                locked[moved] = True
                undo.append((moved, a))
            if log.record(undo, step_gain):
                return

    best_prefix_passes(part, max_passes, patience, run_pass)
    return to_timelines(graph, part, seq)


def time_expanded_graph(circuit_or_model, wire_weight: float | None = None) -> nx.Graph:
    """The event graph as ``networkx``: the graph whose weighted cut is the plan cost.

    Nodes are ``(qubit, j)`` for the ``j``-th multi-qubit gate on ``qubit``
    (attribute ``index``: its instruction index). Edges carry ``kind``
    (``"gate"`` or ``"wire"``), ``weight`` (:math:`\\log \\gamma^2`; ``inf``
    for uncuttable gates) and, for gates, ``index``. Assigning every node to a
    fragment, the summed weight of the edges between fragments is the log
    sampling overhead of the corresponding gate and wire cuts.
    """
    from .costs import wire_cut_cost
    from .model import CircuitModel, build_model

    model = circuit_or_model if isinstance(circuit_or_model, CircuitModel) else build_model(circuit_or_model)
    wire = wire_cut_cost().weight if wire_weight is None else wire_weight
    graph = nx.Graph()
    for q, ev in enumerate(model.events):
        for j, gid in enumerate(ev):
            graph.add_node((q, j), index=model.interactions[gid].index)
            if j:
                graph.add_edge((q, j - 1), (q, j), kind="wire", weight=wire)
    for gid, g in enumerate(model.interactions):
        nodes = [(q, model.positions[gid][k]) for k, q in enumerate(g.qubits)]
        weight = g.weight if len(g.qubits) == 2 else float("inf")
        for a, b in ((a, b) for i, a in enumerate(nodes) for b in nodes[i + 1 :]):
            graph.add_edge(a, b, kind="gate", weight=weight, index=g.index)
    return graph
