"""Qubit-level partitioning: gate cuts only.

Problem. Nodes are *clusters* of qubits that must share a fragment (qubits
joined by an uncuttable gate, e.g. a three-qubit gate or a parameterised
two-qubit gate), with sizes :math:`s_v`. :math:`W_{uv} = \\sum \\log \\gamma^2`
over the gates between clusters. Parts are labelled QPU *slots* with
capacities :math:`c_p`. Find :math:`\\pi: V \\to P` with
:math:`\\sum_{\\pi(v) = p} s_v \\le c_p` minimising the cut weight

.. math::  \\operatorname{cut}(\\pi) = \\tfrac12 \\sum_{u,v} W_{uv} [\\pi(u) \\ne \\pi(v)]
           = \\log \\prod_{\\text{cut gates}} \\gamma^2 .

Two solvers:

* :func:`kl_partition`: greedy growth from random seeds, refined by k-way
  Kernighan-Lin passes (moves and swaps, tentatively applying the best even when
  it is negative, locking moved nodes, and rolling back to the best prefix);
  several restarts.
* :func:`branch_and_bound`: exact over *unlabelled* parts (parts of equal
  capacity are interchangeable, so a node opens at most one new part per
  capacity class), nodes in maximum-adjacency order, bound
  :math:`\\operatorname{cut}_{\\text{assigned}} + \\sum_{u \\text{ free}}
  \\min_p (d^{\\text{assigned}}_u - W_{u,p})`; each free node's edges to the
  assigned nodes are cut except those to the part it joins. Stops after a node
  budget; reports whether the search completed (then the result is optimal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .capacities import Capacities
from .errors import PlanError
from .model import CircuitModel
from .passes import EPS, BestPrefix, best_prefix_passes


@dataclass(frozen=True)
class QubitProblem:
    """Clusters of qubits and the gate-cut weights between them.

    Attributes:
        clusters: qubit groups that must share a fragment.
        sizes: ``len`` of each cluster.
        weights: ``weights[u, v]`` = :math:`\\sum \\log \\gamma^2` of the gates
            between clusters ``u`` and ``v`` (zero diagonal).
        cluster_of: cluster index of every qubit.
    """

    clusters: tuple[tuple[int, ...], ...]
    sizes: np.ndarray
    weights: np.ndarray
    cluster_of: tuple[int, ...]

    def cut_weight(self, part: np.ndarray) -> float:
        """:math:`\\operatorname{cut}(\\pi)` of a cluster -> part assignment."""
        cross = part[:, None] != part[None, :]
        return float(0.5 * self.weights[cross].sum())


def build_qubit_problem(model: CircuitModel, caps: Capacities) -> QubitProblem:
    """Contract qubits joined by uncuttable gates and sum the cut weights between clusters.

    Raises:
        PlanError: a cluster is wider than the largest QPU.
    """
    n = model.num_qubits
    root = list(range(n))

    def find(a: int) -> int:
        while root[a] != a:
            root[a] = root[root[a]]
            a = root[a]
        return a

    for g in model.uncuttable():
        for q in g.qubits[1:]:
            ra, rb = find(g.qubits[0]), find(q)
            if ra != rb:
                root[max(ra, rb)] = min(ra, rb)
    reps = sorted({find(q) for q in range(n)})
    index = {r: i for i, r in enumerate(reps)}
    cluster_of = tuple(index[find(q)] for q in range(n))
    clusters = [[] for _ in reps]
    for q in range(n):
        clusters[cluster_of[q]].append(q)
    sizes = np.array([len(c) for c in clusters], dtype=np.int64)
    largest = caps.largest
    for c, members in enumerate(clusters):
        if len(members) > largest:
            forcing = [g for g in model.uncuttable() if cluster_of[g.qubits[0]] == c]
            shown = "; ".join(f"{g.describe()} ({g.reason})" for g in forcing[:4])
            more = f" and {len(forcing) - 4} more" if len(forcing) > 4 else ""
            raise PlanError(
                f"qubits {tuple(members)} must share one QPU because their gates cannot be cut "
                f"[{shown}{more}], but the largest QPU has {largest} qubits"
            )
    weights = np.zeros((len(clusters), len(clusters)))
    for g in model.interactions:
        if g.cost is None:
            continue
        a, b = cluster_of[g.qubits[0]], cluster_of[g.qubits[1]]
        if a != b:
            weights[a, b] += g.cost.weight
            weights[b, a] += g.cost.weight
    return QubitProblem(tuple(tuple(c) for c in clusters), sizes, weights, cluster_of)


# ---------------------------------------------------------------- heuristics


def _greedy_growth(
    prob: QubitProblem, caps: np.ndarray, rng: np.random.Generator | None
) -> np.ndarray | None:
    """Fill slots one by one, each grown from a seed by the most connected cluster.

    With ``rng`` the seed and ties are randomised (restarts); without it the
    seed is the heaviest free cluster. Returns ``None`` if some cluster fits nowhere.
    """
    n = len(prob.sizes)
    w = prob.weights
    part = np.full(n, -1)
    load = np.zeros(len(caps), dtype=np.int64)
    degree = w.sum(axis=1)
    noise = rng.random(n) * 1e-6 if rng is not None else np.zeros(n)
    for p in range(len(caps)):
        free = np.flatnonzero(part < 0)
        if free.size == 0:
            break
        fits = free[prob.sizes[free] <= caps[p]]
        if fits.size == 0:
            continue
        if rng is not None:
            seed = int(rng.choice(fits))
        else:
            seed = int(fits[np.argmax(degree[fits] + noise[fits])])
        part[seed] = p
        load[p] = prob.sizes[seed]
        conn = w[seed].copy()
        while True:
            free = np.flatnonzero(part < 0)
            free = free[(load[p] + prob.sizes[free] <= caps[p]) & (conn[free] > 0)]
            if free.size == 0:
                break
            best = int(free[np.argmax(conn[free] + 1e-3 * degree[free] + noise[free])])
            part[best] = p
            load[p] += prob.sizes[best]
            conn += w[best]
    # leftovers (no connection to any open part, or no slot left): best fitting part
    for v in np.flatnonzero(part < 0)[np.argsort(-prob.sizes[part < 0], kind="stable")]:
        room = load + prob.sizes[v] <= caps
        if not room.any():
            return None
        used = np.bincount(part[part >= 0], minlength=len(caps)) > 0
        score = np.zeros(len(caps))
        for p in np.flatnonzero(room):
            score[p] = w[v, part == p].sum() + (0.5 if used[p] else 0.0)
        score[~room] = -np.inf
        p = int(np.argmax(score))
        part[v] = p
        load[p] += prob.sizes[v]
    return part


def _kl_refine(
    prob: QubitProblem, caps: np.ndarray, part: np.ndarray, unlimited: bool, patience: int = 8
) -> np.ndarray:
    """k-way Kernighan-Lin: passes of locked best move/swap with rollback to the best prefix.

    A pass ends early after ``patience`` steps without a new best prefix.
    """
    w = prob.weights
    size = prob.sizes
    n, num_parts = len(size), len(caps)
    idx = np.arange(n)

    def run_pass(part: np.ndarray, log: BestPrefix) -> None:
        onehot = np.zeros((n, num_parts))
        onehot[idx, part] = 1.0
        conn = w @ onehot
        load = onehot.T @ size
        locked = np.zeros(n, dtype=bool)
        for _step in range(n):
            own = conn[idx, part]
            move = conn - own[:, None]
            ok = (load[None, :] + size[:, None] <= caps[None, :]) & ~locked[:, None]
            ok[idx, part] = False
            if unlimited:  # empty parts are interchangeable: keep the first only
                empty = np.flatnonzero(load == 0)
                if empty.size > 1:
                    ok[:, empty[1:]] = False
            move = np.where(ok, move, -np.inf)
            mv = int(np.argmax(move))
            mv_gain = move.flat[mv]
            # swap u <-> v: (conn[u,pv]-own[u]) + (conn[v,pu]-own[v]) - 2 W[u,v]
            cpv = conn[:, part]  # cpv[u, v] = conn[u, part[v]]
            swap = (cpv - own[:, None]) + (cpv.T - own[None, :]) - 2.0 * w
            diff = part[:, None] != part[None, :]
            fit_v = load[part][None, :] - size[None, :] + size[:, None] <= caps[part][None, :]
            fit_u = load[part][:, None] - size[:, None] + size[None, :] <= caps[part][:, None]
            sw_ok = diff & fit_u & fit_v & ~locked[:, None] & ~locked[None, :]
            swap = np.where(sw_ok, swap, -np.inf)
            sw = int(np.argmax(swap))
            sw_gain = swap.flat[sw]
            if not np.isfinite(max(mv_gain, sw_gain)):
                return
            if mv_gain >= sw_gain:
                changes = [(mv // num_parts, mv % num_parts)]
                gain = mv_gain
            else:
                u, v = divmod(sw, n)
                changes = [(u, int(part[v])), (v, int(part[u]))]
                gain = sw_gain
            undo = []
            for v_, new in changes:
                old = int(part[v_])
                part[v_] = new
                load[old] -= size[v_]
                load[new] += size[v_]
                conn[:, old] -= w[:, v_]
                conn[:, new] += w[:, v_]
                locked[v_] = True
                undo.append((v_, old))
            if log.record(undo, gain):
                return

    return best_prefix_passes(part.copy(), 2 * n + 5, patience, run_pass)


def _canonical(part: np.ndarray) -> tuple[int, ...]:
    # relabel parts by first appearance so equal partitions compare equal
    seen: dict[int, int] = {}
    return tuple(seen.setdefault(int(p), len(seen)) for p in part)


def kl_partition(
    prob: QubitProblem,
    caps: Capacities,
    *,
    restarts: int,
    rng: np.random.Generator,
    keep: int = 3,
) -> list[tuple[float, np.ndarray]]:
    """Best distinct partitions found by greedy growth + Kernighan-Lin with restarts.

    Returns:
        Up to ``keep`` ``(cut weight, labelled assignment)`` pairs, best first;
        the labels index ``caps.slots(num_clusters)``. Empty if nothing fits.
    """
    slots = np.array(caps.slots(len(prob.sizes)), dtype=np.int64)
    starts = [_greedy_growth(prob, slots, None if r == 0 else rng) for r in range(restarts + 1)]
    return _refined(prob, slots, starts, caps.unlimited, keep)


LADDER_SIZES = 8  # smaller part sizes tried below a single QPU size (bounds the extra time)


def ladder_sizes(prob: QubitProblem, caps: Capacities) -> range:
    """The part sizes below a single QPU size that the smaller-size searches try."""
    return range(max(int(prob.sizes.max()), caps.sizes[0] - LADDER_SIZES), caps.sizes[0])


def kl_smaller_sizes(prob: QubitProblem, caps: Capacities, keep: int = 3) -> list[tuple[float, np.ndarray]]:
    """Partitions into parts smaller than a single QPU size (which fit it too), refined at that size.

    For each of the :data:`LADDER_SIZES` sizes below ``caps.sizes[0]``: deterministic
    growth, Kernighan-Lin at the smaller size, then at the QPU size. Growth at the full
    size can fill a QPU across a cheap boundary (e.g. modules of 3 on 5-qubit QPUs); these
    starts keep the cheap boundaries. Best effort: a better plan for a smaller size found
    by a random restart or by wire refinement is not carried up.
    """
    if not caps.unlimited:
        return []
    slots = np.array(caps.slots(len(prob.sizes)), dtype=np.int64)
    starts = []
    for size in ladder_sizes(prob, caps):
        small = np.minimum(slots, size)
        start = _greedy_growth(prob, small, None)
        starts.append(None if start is None else _kl_refine(prob, small, start, True))
    return _refined(prob, slots, starts, True, keep)


def _refined(prob: QubitProblem, slots: np.ndarray, starts: list, unlimited: bool, keep: int):
    found: dict[tuple[int, ...], tuple[float, np.ndarray]] = {}
    for start in starts:
        if start is None:
            continue
        part = _kl_refine(prob, slots, start, unlimited)
        found.setdefault(_canonical(part), (prob.cut_weight(part), part))
    return sorted(found.values(), key=lambda cp: cp[0])[:keep]


# ---------------------------------------------------------------- exact


@dataclass(frozen=True)
class ExactResult:
    """Outcome of :func:`branch_and_bound`.

    Attributes:
        cost: cut weight of ``part`` (``inf`` if none found).
        part: labelled assignment (labels index ``caps.slots(...)``) or ``None``
            if no assignment better than the bound exists / was found.
        complete: the search space was exhausted, so nothing cheaper exists.
        nodes: search nodes visited.
    """

    cost: float
    part: np.ndarray | None
    complete: bool
    nodes: int


class _Budget(Exception):
    pass


def branch_and_bound(
    prob: QubitProblem, caps: Capacities, *, upper: float = math.inf, node_limit: int = 20000
) -> ExactResult:
    """Exact minimum cut weight below ``upper`` (see module docstring)."""
    n = len(prob.sizes)
    w = prob.weights.tolist()
    size = prob.sizes.tolist()
    classes = caps.classes(n)
    class_cap = [c for c, _ in classes]
    class_left = [k for _, k in classes]
    neighbours = [[u for u in range(n) if w[v][u] > 0] for v in range(n)]

    # maximum-adjacency order: heavy edges get decided near the root
    order: list[int] = []
    attach = [0.0] * n
    degree = [sum(row) for row in w]
    remaining = set(range(n))
    while remaining:
        v = max(remaining, key=lambda u: (attach[u], degree[u], size[u], -u))
        order.append(v)
        remaining.discard(v)
        for u in neighbours[v]:
            attach[u] += w[v][u]
    suffix_size = [0] * (n + 1)
    for d in range(n - 1, -1, -1):
        suffix_size[d] = suffix_size[d + 1] + size[order[d]]

    max_parts = caps.max_fragments(n)
    part_of = [-1] * n
    load: list[int] = []
    cap: list[int] = []
    pclass: list[int] = []
    conn = [[0.0] * max_parts for _ in range(n)]
    dassigned = [0.0] * n
    best_cost = [upper]
    best_part: list[list[int] | None] = [None]
    nodes = [0]

    def free_room() -> int:
        room = sum(c - l for c, l in zip(cap, load))
        for k, left in enumerate(class_left):
            room += class_cap[k] * left
        return room

    def recurse(d: int, cost: float) -> None:
        nodes[0] += 1
        if nodes[0] > node_limit:
            raise _Budget
        if d == n:
            best_cost[0] = cost
            best_part[0] = part_of.copy()
            return
        if free_room() < suffix_size[d]:
            return
        # bound: every free node pays at least its cheapest placement
        bound = cost
        open_cap = max((class_cap[k] for k, left in enumerate(class_left) if left), default=0)
        num_open = len(load)
        for u in order[d + 1 :]:
            da, su = dassigned[u], size[u]
            if da == 0 and su == 1:
                continue
            cheapest = da if open_cap >= su else math.inf
            cu = conn[u]
            for p in range(num_open):
                if load[p] + su <= cap[p] and da - cu[p] < cheapest:
                    cheapest = da - cu[p]
            bound += cheapest
            if bound >= best_cost[0] - EPS:
                return
        v = order[d]
        sv = size[v]
        options: list[tuple[float, int, int]] = []  # (increment, existing part or -1, class)
        for p in range(len(load)):
            if load[p] + sv <= cap[p]:
                options.append((dassigned[v] - conn[v][p], p, pclass[p]))
        for k, left in enumerate(class_left):
            if left and class_cap[k] >= sv:
                options.append((dassigned[v], -1, k))
        options.sort(key=lambda o: (o[0], o[1] < 0))
        for inc, p, k in options:
            if cost + inc >= best_cost[0] - EPS:
                break
            opened = p < 0
            if opened:
                p = len(load)
                load.append(0)
                cap.append(class_cap[k])
                pclass.append(k)
                class_left[k] -= 1
            part_of[v] = p
            load[p] += sv
            for u in neighbours[v]:
                conn[u][p] += w[v][u]
                dassigned[u] += w[v][u]
            try:
                recurse(d + 1, cost + inc)
            finally:
                for u in neighbours[v]:
                    conn[u][p] -= w[v][u]
                    dassigned[u] -= w[v][u]
                load[p] -= sv
                part_of[v] = -1
                if opened:
                    load.pop()
                    cap.pop()
                    pclass.pop()
                    class_left[k] += 1

    complete = True
    try:
        recurse(0, 0.0)
    except _Budget:
        complete = False
    if best_part[0] is None:
        return ExactResult(math.inf, None, complete, nodes[0])
    return ExactResult(best_cost[0], _label_slots(best_part[0], prob.sizes, caps), complete, nodes[0])


def _label_slots(part: list[int], sizes: np.ndarray, caps: Capacities) -> np.ndarray:
    """Map unlabelled parts to slot labels (largest part -> largest slot)."""
    parts = sorted(set(part))
    loads = {p: int(sum(s for q, s in zip(part, sizes) if q == p)) for p in parts}
    slots = caps.slots(len(sizes))
    placed = caps.assign([loads[p] for p in parts]) if not caps.unlimited else list(range(len(parts)))
    if placed is None:  # cannot happen: the search respects capacities
        raise AssertionError("branch and bound produced an infeasible partition")
    if not caps.unlimited:
        # caps.assign indexes the given list; translate to sorted slot indices
        order = sorted(range(len(caps.sizes)), key=lambda j: -caps.sizes[j])
        slot_of_qpu = {j: i for i, j in enumerate(order)}
        placed = [slot_of_qpu[j] for j in placed]
    label = dict(zip(parts, placed))
    out = np.array([label[p] for p in part], dtype=np.int64)
    assert all(
        sum(s for q, s in zip(out, sizes) if q == lab) <= slots[lab] for lab in set(out.tolist())
    )
    return out
