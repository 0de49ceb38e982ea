"""Turn timelines (a part per qubit event) into a :class:`CutPlan`.

Fragments are the connected pieces of each part: wire segments joined by the
uncut gates between them. A part holding two pieces that never interact is
split (they are independent subcircuits), unless a capacity list has too few
QPUs to give each piece its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .capacities import Capacities
from .costs import wire_cut_cost
from .model import CircuitModel
from .plan import Cut, CutPlan, Fragment
from .wires import Timeline, event_part, runs


class _UnionFind:
    def __init__(self, items: Sequence[tuple[int, int]]) -> None:
        self.root = {i: i for i in items}

    def find(self, a: tuple[int, int]) -> tuple[int, int]:
        while self.root[a] != a:
            self.root[a] = self.root[self.root[a]]
            a = self.root[a]
        return a

    def union(self, a: tuple[int, int], b: tuple[int, int]) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.root[max(ra, rb)] = min(ra, rb)


def _run_index(t: Timeline) -> np.ndarray:
    """Run number of every event of a timeline."""
    out = np.zeros(len(t), dtype=np.int64)
    if len(t) > 1:
        out[1:] = np.cumsum(t[1:] != t[:-1])
    return out


def pieces(model: CircuitModel, seq: list[Timeline]) -> dict[tuple[int, int], tuple[int, int]]:
    """Connected piece (a representative run) of every run ``(qubit, run number)``.

    Two runs are connected when an uncut gate (all its qubits in one part)
    acts on both.
    """
    run_of = [_run_index(t) for t in seq]
    nodes = [(q, r) for q in range(model.num_qubits) for r in range(int(run_of[q][-1]) + 1)]
    uf = _UnionFind(nodes)
    for gid, g in enumerate(model.interactions):
        parts = {event_part(model, seq, gid, k) for k in range(len(g.qubits))}
        if len(parts) == 1:
            first = None
            for k, q in enumerate(g.qubits):
                node = (q, int(run_of[q][model.positions[gid][k]]))
                if first is None:
                    first = node
                else:
                    uf.union(first, node)
    return {node: uf.find(node) for node in nodes}


def assemble_plan(
    model: CircuitModel,
    caps: Capacities,
    seq: list[Timeline],
    *,
    method: str,
    gate_optimal: bool,
    stats: dict[str, Any],
) -> CutPlan:
    """Build the plan of timelines ``seq`` (parts are arbitrary labels).

    Raises:
        AssertionError: the timelines do not fit ``caps`` (a search bug).
    """
    piece_of = pieces(model, seq)
    part_of_node = {}
    for q, t in enumerate(seq):
        for r, (_, _, p) in enumerate(runs(t)):
            part_of_node[(q, r)] = p
    # groups = fragments; start from whole parts, split into pieces when possible
    by_part: dict[int, list[tuple[int, int]]] = {}
    for node, p in part_of_node.items():
        by_part.setdefault(p, []).append(node)
    groups: list[list[tuple[int, int]]] = []
    for p in sorted(by_part):
        split: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for node in by_part[p]:
            split.setdefault(piece_of[node], []).append(node)
        candidate = groups + list(split.values()) + [
            by_part[p2] for p2 in sorted(by_part) if p2 > p
        ]
        if caps.assign([len(g) for g in candidate]) is not None:
            groups.extend(split.values())
        else:
            groups.append(by_part[p])
    groups = [sorted(g) for g in groups]
    groups.sort(key=lambda g: g[0])
    qpus = caps.assign([len(g) for g in groups])
    if qpus is None:
        raise AssertionError(f"fragment widths {[len(g) for g in groups]} do not fit {caps}")
    frag_of = {node: f for f, g in enumerate(groups) for node in g}
    fragments = tuple(
        Fragment(
            qubits=tuple(sorted({q for q, _ in g})),
            width=len(g),
            capacity=caps.sizes[0] if caps.unlimited else caps.sizes[qpus[f]],
            qpu=qpus[f],
        )
        for f, g in enumerate(groups)
    )
    run_of = [_run_index(t) for t in seq]
    cuts: list[Cut] = []
    for gid, g in enumerate(model.interactions):
        if len({event_part(model, seq, gid, k) for k in range(len(g.qubits))}) > 1:
            assert g.cost is not None and len(g.qubits) == 2, "uncuttable gate across parts"
            ends = tuple(
                frag_of[(q, int(run_of[q][model.positions[gid][k]]))] for k, q in enumerate(g.qubits)
            )
            cuts.append(Cut("gate", g.index, g.qubits, g.name, g.cost.overhead, g.cost.num_terms, ends))
    wire = wire_cut_cost()
    for q, t in enumerate(seq):
        rs = runs(t)
        for r in range(1, len(rs)):
            g = model.interactions[model.events[q][rs[r][0]]]
            cuts.append(
                Cut("wire", g.index, (q,), g.name, wire.overhead, wire.num_terms,
                    (frag_of[(q, r - 1)], frag_of[(q, r)]))
            )
    cuts.sort(key=lambda c: (c.index, c.kind != "wire", c.qubits))
    segments = tuple(
        tuple(frag_of[(q, r)] for r in range(len(runs(t)))) for q, t in enumerate(seq)
    )
    return CutPlan(
        num_qubits=model.num_qubits,
        max_qubits=caps.sizes[0] if caps.unlimited else tuple(caps.sizes),
        fragments=fragments,
        cuts=tuple(cuts),
        segments=segments,
        method=method,
        gate_optimal=gate_optimal,
        stats=stats,
    )


def timelines_from_cuts(
    model: CircuitModel, gate_cuts: Sequence[int], wire_cuts: Sequence[tuple[int, int]]
) -> list[Timeline]:
    """Timelines whose parts are the connected pieces left by the given cuts.

    Args:
        gate_cuts: instruction indices of cut gates.
        wire_cuts: ``(instruction index, qubit)``: the wire of ``qubit`` is cut
            just before that instruction.
    """
    cut_gate = set(gate_cuts)
    seq: list[Timeline] = []
    for q in range(model.num_qubits):
        ev = model.events[q]
        t = np.zeros(max(1, len(ev)), dtype=np.int64)
        for index, wq in wire_cuts:
            if wq == q:
                # the segment starts at the first event at or after the cut
                later = [j for j, gid in enumerate(ev) if model.interactions[gid].index >= index]
                if later and later[0] > 0:
                    t[later[0]:] += 1
        seq.append(t)
    # label runs, then join the runs linked by uncut gates
    run_of = [_run_index(t) for t in seq]
    nodes = [(q, r) for q in range(model.num_qubits) for r in range(int(run_of[q][-1]) + 1)]
    uf = _UnionFind(nodes)
    for gid, g in enumerate(model.interactions):
        if g.index in cut_gate:
            continue
        ends = [(q, int(run_of[q][model.positions[gid][k]])) for k, q in enumerate(g.qubits)]
        for node in ends[1:]:
            uf.union(ends[0], node)
    label: dict[tuple[int, int], int] = {}
    out = []
    for q in range(model.num_qubits):
        out.append(np.array(
            [label.setdefault(uf.find((q, int(r))), len(label)) for r in run_of[q]], dtype=np.int64
        ))
    return out
