"""``plan_cuts``: the cheapest cut plan whose fragments fit the QPUs.

Pipeline (each stage only ever lowers :math:`\\log \\prod \\gamma^2`):

1. :func:`~partitioner.model.build_model` validates the circuit and weighs
   every two-qubit gate with qiskit-addon-cutting's QPD overhead.
2. Qubits joined by uncuttable gates are contracted into clusters.
3. Gate cuts: greedy growth + k-way Kernighan-Lin with restarts; then, while
   the cluster count is at most ``exact_limit``, branch and bound seeded with
   that cost (exact when it finishes within ``node_limit`` nodes). For a single
   QPU size, partitions into smaller parts (which fit too) are searched as well
   and kept where cheaper, so that a larger QPU rarely gets a costlier plan.
4. Wire cuts: each of the best few qubit partitions is refined on the
   time-expanded circuit (Fiduccia-Mattheyses moves of run prefixes/suffixes,
   :mod:`partitioner.segments`) and by re-planning single qubits' timelines
   with up to three runs (:mod:`partitioner.wires`), alternately.
5. Perturbation: merge two parts that fit one QPU (never more expensive,
   sometimes the room a wire cut needs) and search again.
6. Optionally (``compare_find_cuts=True``) qiskit-addon-cutting's
   ``find_cuts`` runs on the same input and wins if it is cheaper.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
from qiskit.circuit import QuantumCircuit

from .assemble import assemble_plan
from .capacities import Capacities
from .costs import wire_cut_cost
from .errors import PlanError
from .model import build_model
from .passes import EPS
from .plan import CutPlan
from .qubit_search import (
    branch_and_bound,
    build_qubit_problem,
    kl_partition,
    kl_smaller_sizes,
    ladder_sizes,
)
from .segments import build_event_graph, fm_refine
from .wires import merge_candidates, refine_wires, timelines_from_qubits, total_cost, widths


def plan_cuts(
    circuit: QuantumCircuit,
    max_qubits: int | Sequence[int],
    *,
    wire_cuts: bool = True,
    exact_limit: int = 32,
    node_limit: int = 1000,
    restarts: int = 4,
    seed: int | None = 0,
    compare_find_cuts: bool = False,
    merges: int = 3,
) -> CutPlan:
    """Plan gate and wire cuts so that every fragment fits a QPU, minimising overhead.

    Args:
        circuit: unitary circuit (parameters allowed; trainable parameters on
            two-qubit gates make those gates uncuttable).
        max_qubits: one QPU size (any number of such QPUs) or a list of QPU
            sizes (each hosting at most one fragment).
        wire_cuts: also consider wire cuts (``Move``, overhead 16).
        exact_limit: run branch and bound when the circuit has at most this
            many qubit clusters.
        node_limit: branch-and-bound node budget.
        restarts: randomised Kernighan-Lin restarts besides the deterministic start.
        seed: seed of the restarts (the result is deterministic for a seed).
        merges: rounds of the merge perturbation (merge two parts that fit one
            QPU, search again, keep if cheaper).
        compare_find_cuts: also run qiskit-addon-cutting's ``find_cuts`` (slow)
            and return its plan if it is cheaper (int ``max_qubits`` only).

    Returns:
        The cheapest :class:`CutPlan` found.

    Raises:
        PlanError: no plan exists; the message names what does not fit.
        ValueError: invalid ``max_qubits``.
    """
    t0 = time.perf_counter()
    caps = Capacities.parse(max_qubits)
    model = build_model(circuit)
    n = model.num_qubits
    if not caps.unlimited and sum(caps.sizes) < n:
        raise PlanError(
            f"the QPUs {list(caps.sizes)} hold {sum(caps.sizes)} qubits in total but the "
            f"circuit has {n} qubits (cuts never reduce the qubit count)"
        )
    prob = build_qubit_problem(model, caps)
    rng = np.random.default_rng(seed)
    candidates = kl_partition(prob, caps, restarts=restarts, rng=rng, keep=3)
    t_kl = time.perf_counter()
    upper = candidates[0][0] if candidates else math.inf
    gate_optimal = False
    stats: dict = {"clusters": int(len(prob.sizes)), "kl_cost": upper if math.isfinite(upper) else None}
    if len(prob.sizes) <= exact_limit or not candidates:
        exact = branch_and_bound(
            prob, caps, upper=upper, node_limit=node_limit if candidates else 50 * node_limit
        )
        stats.update(bb_nodes=exact.nodes, bb_complete=exact.complete)
        if exact.part is not None:
            candidates.insert(0, (exact.cost, exact.part))
        gate_optimal = exact.complete
        if not candidates:
            sizes = sorted(prob.sizes.tolist(), reverse=True)
            what = "qubit groups" if max(sizes) > 1 else "qubits"
            raise PlanError(
                f"no assignment of {what} of sizes {sizes} (qubits joined by uncuttable gates "
                f"must share a QPU) fits the QPUs {list(caps.sizes)}"
                + ("" if exact.complete else " (search budget exhausted)")
            )
    # partitions into smaller parts fit a single QPU size too; they join (separately, below)
    # only where cheaper, so they can never make the plan worse
    smaller = _smaller_size_candidates(prob, caps, candidates, stats, node_limit)
    t_exact = time.perf_counter()

    wire = wire_cut_cost().weight
    # labelled QPU slots; with one int capacity, room for a part per wire segment
    if caps.unlimited:
        slots = np.full(2 * n, caps.sizes[0], dtype=np.int64)
    else:
        slots = np.array(caps.slots(n), dtype=np.int64)
    events = build_event_graph(model, wire) if wire_cuts else None

    def local_search(seq: list, rng: np.random.Generator) -> tuple[list, float]:
        if not wire_cuts:
            return seq, total_cost(model, seq, wire)
        # alternate the two neighbourhoods; stop as soon as one finds nothing
        # (the other has just converged on the same timelines)
        seq = fm_refine(events, seq, slots, unlimited=caps.unlimited, wire_weight=wire, rng=rng)
        total = total_cost(model, seq, wire)
        for step in range(6):
            if step % 2 == 0:
                new = refine_wires(model, seq, slots, wire_weight=wire, rng=rng)
            else:
                new = fm_refine(events, seq, slots, unlimited=caps.unlimited, wire_weight=wire, rng=rng)
            new_total = total_cost(model, new, wire)
            if new_total > total - EPS:
                break
            seq, total = new, new_total
        return seq, total

    def key(seq: list, total: float) -> tuple:
        # cheapest first, then fewer wire cuts
        return (round(total * 1e6), sum(int(np.count_nonzero(t[1:] != t[:-1])) for t in seq))

    def search(starts: list, rng: np.random.Generator) -> tuple[list | None, tuple | None]:
        best_seq, best_key = None, None
        for cost, part in starts:
            seq, total = local_search(timelines_from_qubits(model, part[list(prob.cluster_of)]), rng)
            if best_key is None or key(seq, total) < best_key:
                best_seq, best_key = seq, key(seq, total)
        # perturb: merge parts that fit together (never costs more), then search again
        for _ in range(merges if wire_cuts else 0):
            improved = False
            for _link, keep, drop in merge_candidates(model, best_seq, slots, wire)[:2]:
                merged = [np.where(t == drop, keep, t) for t in best_seq]
                if np.any(widths(merged, len(slots)) > slots):
                    continue
                seq, total = local_search(merged, rng)
                if key(seq, total) < best_key:
                    best_seq, best_key, improved = seq, key(seq, total), True
                    break
            if not improved:
                break
        return best_seq, best_key

    best_seq, best_key = search(candidates[:3], rng)
    if smaller:  # own generator: the main search above runs exactly as without them
        seq, k = search(smaller, np.random.default_rng(None if seed is None else seed + 1))
        stats["smaller_sizes"]["used"] = k < best_key
        if k < best_key:
            best_seq, best_key = seq, k
    assert best_seq is not None
    w = widths(best_seq, len(slots))
    assert np.all(w <= slots), "search produced an overfull part"
    t_wire = time.perf_counter()
    stats.update(
        seconds=t_wire - t0,
        seconds_kl=t_kl - t0,
        seconds_exact=t_exact - t_kl,
        seconds_wires=t_wire - t_exact,
    )
    method = "kl" + ("+bb" if "bb_nodes" in stats else "") + ("+wires" if wire_cuts else "")
    plan = assemble_plan(
        model, caps, best_seq, method=method, gate_optimal=gate_optimal, stats=stats
    )
    if compare_find_cuts:
        from .baseline import find_cuts_plan  # slow, imported on demand

        if not caps.unlimited:
            raise ValueError("compare_find_cuts needs a single int max_qubits")
        other = find_cuts_plan(circuit, caps.sizes[0], seed=seed)
        if other.log_overhead < plan.log_overhead - EPS:
            return other
    return plan


def _smaller_size_candidates(prob, caps: Capacities, candidates: list, stats: dict, node_limit: int) -> list:
    """Partitions into parts smaller than a single QPU size that cost less than ``candidates``.

    Kernighan-Lin from every size of :func:`ladder_sizes`; and when the
    exact search at the QPU size ran out of budget, branch and bound at smaller sizes from
    the next one down, until one completes (no smaller size can beat an optimum for a
    larger one). Best effort: a cheaper smaller-size plan found by a random restart or by
    wire refinement is not carried up.
    """
    if not caps.unlimited or not candidates:
        return []
    best = candidates[0][0]
    found = kl_smaller_sizes(prob, caps)
    sizes = ladder_sizes(prob, caps)
    info = {"sizes": [sizes.start, sizes.stop - 1], "bb_nodes": 0, "bb_complete_at": None}
    if stats.get("bb_complete") is False:
        for size in reversed(sizes):
            exact = branch_and_bound(prob, Capacities.parse(size), upper=best, node_limit=node_limit)
            info["bb_nodes"] += exact.nodes
            if exact.part is not None:
                found.append((exact.cost, exact.part))
            if exact.complete:
                info["bb_complete_at"] = size
                break
    cheaper = sorted((cp for cp in found if cp[0] < best - EPS), key=lambda cp: cp[0])[:2]
    info["used"] = False
    stats["smaller_sizes"] = info
    return cheaper
