"""Identical sub-experiments run once: counts, shots that ran, the merged estimator's algebra.

References: the full listing of qiskit-addon-cutting (every listed sub-experiment
run, no merging) on a sampler whose bits depend only on the PUB's content, a
brute-force variance over pairs of merged terms, and Monte Carlo draws.
"""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from test_sampled_cutting import (
    aer_sampler,
    circuit_2q,
    circuit_4q_gate_cut,
    circuit_4q_wire_and_gate_cut,
    circuit_6q_two_cuts,
)

from backends import circuit_fingerprint
from dqlstm.cutting.dedup import FragmentTerms, MergedQPD, fragment_terms
from dqlstm.cutting.sampled import SampledCutExecutor, run_pubs


class ContentSeededSampler:
    """Each PUB alone, seeded by its content: the same circuit and bindings always give
    the same bits, as an exact expectation would; keeps every PUB submitted."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.calls: list[list] = []

    def run(self, pubs):
        out = []
        for circuit, values, shots in pubs:
            digest = hashlib.sha256(
                f"{self.seed}|{circuit_fingerprint(circuit)}|{shots}|{values.shape}".encode()
                + np.ascontiguousarray(values, dtype=np.float64).tobytes()
            ).digest()
            seed = int.from_bytes(digest[:4], "little") % (2**31 - 1) + 1
            out.append(aer_sampler(seed).run([(circuit, values, shots)]).result()[0])
        self.calls.append(list(pubs))
        return out


class RecordingSampler:
    """Wraps a V2 sampler and counts what it ran."""

    def __init__(self, seed: int) -> None:
        self.sampler = aer_sampler(seed)
        self.calls: list[list] = []

    def run(self, pubs):
        self.calls.append(list(pubs))
        return self.sampler.run(pubs)

    @property
    def shots_run(self) -> int:
        return sum(int(np.prod(v.shape[:-1])) * shots for call in self.calls for _, v, shots in call)


# ---------------------------------------------------------------- counts


@pytest.mark.parametrize(
    "make, labels, observables, listed, distinct",
    [
        (circuit_4q_gate_cut, "AABB", ["ZZZZ"], 6, 5),  # 1 CX cut
        (circuit_6q_two_cuts, "AAABBB", ["ZZZZZZ", "IIZZII"], 36, 25),  # 2 CX cuts
        (circuit_6q_two_cuts, "AAABBB", ["ZZZZZZ", "XIIIIX"], 72, 50),  # 2 groups per fragment
    ],
)
def test_listed_and_distinct_counts(make, labels, observables, listed, distinct):
    ex = SampledCutExecutor(make(), observables, labels, pool=RecordingSampler(0))
    for frag in ex.fragments:
        assert frag.terms.num_listed == listed
        assert frag.terms.num_distinct == distinct == len(frag.subexperiments)
        fps = [circuit_fingerprint(c) for c in frag.subexperiments]
        assert len(set(fps)) == len(fps)  # what runs is pairwise different
    assert ex.num_subexperiments == 2 * distinct
    assert ex.num_subexperiments_listed == 2 * listed
    # predicted from the QPD bases before generating
    assert ex.predicted.total_listed == 2 * listed
    assert ex.predicted.total_distinct == 2 * distinct


def test_fingerprint_classes_respect_names_and_values_not_identity():
    def circ(name: str, angle: float) -> QuantumCircuit:
        qc = QuantumCircuit(1, 1)
        qc.ry(Parameter(name), 0)
        qc.rz(angle, 0)
        qc.measure(0, 0)
        return qc

    circuits = [circ("a", 0.5), circ("a", 0.5), circ("b", 0.5), circ("a", 0.5 + 1e-12)]
    terms = fragment_terms(circuits, num_terms=4, num_groups=1)
    assert terms.term_class.tolist() == [0, 0, 1, 2]
    assert terms.representatives.tolist() == [0, 2, 3]
    # two groups: terms merge only when every group's circuit is equal
    terms = fragment_terms(circuits, num_terms=2, num_groups=2)
    assert terms.term_class.tolist() == [0, 1]
    pairs = [circuits[0], circuits[2], circuits[1], circuits[2]]
    terms = fragment_terms(pairs, num_terms=2, num_groups=2)
    assert terms.term_class.tolist() == [0, 0]
    assert terms.distinct_indices().tolist() == [0, 1]
    assert terms.listed_to_distinct().tolist() == [0, 1, 0, 1]


# ---------------------------------------------------------------- shots that ran


def test_total_shots_are_the_shots_that_ran():
    runner = RecordingSampler(seed=3)
    ex = SampledCutExecutor(circuit_6q_two_cuts(), ["ZZZZZZ", "XIIIIX"], "AAABBB", pool=runner, shots=8)
    values = np.random.default_rng(0).uniform(-np.pi, np.pi, (2, ex.num_parameters))
    out = ex.run(values)
    assert out.cost.total_shots == runner.shots_run == 100 * 2 * 8
    assert out.cost.num_pubs == len(runner.calls[0]) == ex.num_subexperiments == 100
    assert out.cost.num_subexperiments_listed == 144
    jac = ex.jacobian(values, base=out)
    # both fragments own 6 parameters: 2 shifts x 6 x 2 bindings per distinct circuit
    assert len(runner.calls[1]) == 100
    assert jac.cost.total_shots == runner.shots_run - out.cost.total_shots == 100 * 2 * 6 * 2 * 8
    assert ex.total_cost.total_shots == runner.shots_run
    for call in runner.calls:  # no circuit submitted twice in one call
        fps = [circuit_fingerprint(c) for c, _, _ in call]
        assert len(set(fps)) == len(fps)


def test_shifted_run_reruns_only_the_owning_fragments_distinct_circuits():
    """A fragment without parameters is not shifted; the other re-runs its distinct circuits."""
    qc = QuantumCircuit(4)
    qc.h(range(4))
    for q, name in enumerate("abcd"[:2]):
        qc.ry(Parameter(name), q)
    qc.cx(0, 1)
    qc.cx(2, 3)
    qc.cx(1, 2)
    qc.cx(0, 1)
    runner = RecordingSampler(seed=1)
    ex = SampledCutExecutor(qc, ["ZZZZ"], "AABB", pool=runner, shots=16)
    values = np.array([[0.3, -0.2]])
    ex.jacobian(values)
    owner = next(f for f in ex.fragments if f.parameters.size)
    assert len(runner.calls[1]) == len(owner.subexperiments) == 5


# ---------------------------------------------------------------- algebra


@pytest.mark.parametrize(
    "make, labels, observables",
    [
        (circuit_2q, "AB", ["ZZ", "XZ", "ZY", "XI"]),
        (circuit_6q_two_cuts, "AAABBB", ["ZZZZZZ", "XIIIIX", "IIZZII"]),
        (circuit_4q_wire_and_gate_cut, "AABAB", ["ZZZZ", "IXXI"]),
    ],
)
def test_dedup_equals_full_listing_on_content_seeded_sampler(make, labels, observables):
    """Same bits for the same circuit: merged values == values over every listed term."""
    qc = make()
    values = np.random.default_rng(4).uniform(-np.pi, np.pi, (2, qc.num_parameters))
    runs = {}
    for dedup in (True, False):
        runner = ContentSeededSampler(seed=9)
        # few shots: the algebra is checked, not the statistics
        ex = SampledCutExecutor(qc, observables, labels, pool=runner, shots=8, deduplicate=dedup)
        base = ex.run(values)
        jac = ex.jacobian(values, base=base)
        runs[dedup] = (ex, runner, base, jac)
    (ex, runner, base, jac), (ref_ex, ref_runner, ref_base, ref_jac) = runs[True], runs[False]
    assert len(runner.calls[0]) == ex.num_subexperiments < ref_ex.num_subexperiments
    assert len(ref_runner.calls[0]) == ref_ex.num_subexperiments == ex.num_subexperiments_listed
    assert base.cost.total_shots < ref_base.cost.total_shots
    np.testing.assert_allclose(base.values, ref_base.values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(jac.jacobian, ref_jac.jacobian, rtol=0, atol=1e-12)


def _random_table(rng, num_terms, sizes):
    table = np.stack([rng.integers(0, d, num_terms) for d in sizes], axis=1)
    table[: len(sizes)] = 0  # make sure shared classes occur
    return table


def _brute_force_variance(merged: MergedQPD, mu, var):
    r""":math:`\sum_{g,h} C_g C_h (\prod_f E[X_{f,g} X_{f,h}] - \prod_f \mu_{f,g} \mu_{f,h})`."""
    total = 0.0
    c, cls = merged.coefficients, merged.classes
    for g, h in itertools.product(range(len(c)), repeat=2):
        second, first = 1.0, 1.0
        for f in range(cls.shape[1]):
            a, b = cls[g, f], cls[h, f]
            second *= mu[f][a] * mu[f][b] + (var[f][a] if a == b else 0.0)
            first *= mu[f][a] * mu[f][b]
        total += c[g] * c[h] * (second - first)
    return total


def test_merged_coefficients_and_exact_variance():
    rng = np.random.default_rng(7)
    sizes = (3, 4, 2)
    table = _random_table(rng, 30, sizes)
    coeffs = rng.normal(size=30)
    merged = MergedQPD(coeffs, [table[:, f] for f in range(3)])
    # tuples are distinct and carry the summed coefficients
    assert len(np.unique(merged.classes, axis=0)) == merged.num_merged_terms < 30
    for g, row in enumerate(merged.classes):
        same = np.all(table == row, axis=1)
        assert merged.coefficients[g] == pytest.approx(coeffs[same].sum(), abs=1e-14)
    mu = [rng.uniform(-1, 1, d) for d in sizes]
    var = [rng.uniform(0.01, 0.2, d) for d in sizes]
    value, _, exact = merged.variance_sums(mu, var)
    expected_value = sum(c * np.prod([mu[f][d[f]] for f in range(3)]) for c, d in zip(coeffs, table))
    assert value == pytest.approx(expected_value, abs=1e-12)
    assert exact == pytest.approx(_brute_force_variance(merged, mu, var), rel=1e-12)


def test_without_sharing_the_variance_is_the_independent_terms_formula():
    rng = np.random.default_rng(1)
    coeffs = rng.normal(size=6)
    ident = FragmentTerms.identity(6, 1).term_class
    merged = MergedQPD(coeffs, [ident, ident])
    mu = [rng.uniform(-1, 1, (6, 3)) for _ in range(2)]
    var = [rng.uniform(0.0, 0.1, (6, 3)) for _ in range(2)]
    _, unbiased, plain = merged.variance_sums(mu, var)
    (ma, mb), (va, vb) = mu, var
    c2 = coeffs[:, None] ** 2
    independent = np.sum(c2 * ((va + ma**2) * (vb + mb**2) - (ma * mb) ** 2), 0)
    np.testing.assert_allclose(plain, independent, rtol=1e-12)
    # Goodman's unbiased estimate of Var(XY) for each product
    np.testing.assert_allclose(unbiased, np.sum(c2 * (ma**2 * vb + mb**2 * va - va * vb), 0), rtol=1e-12)


def test_variance_estimates_by_monte_carlo():
    """Shared, independent X ~ N(mu, v): the spread of the estimator is the exact variance,
    and the unbiased estimate averages to it (the plug-in one overshoots)."""
    rng = np.random.default_rng(11)
    sizes = (3, 4, 3)
    table = _random_table(rng, 24, sizes)
    coeffs = rng.normal(size=24)
    merged = MergedQPD(coeffs, [table[:, f] for f in range(3)])
    mu = [rng.uniform(-0.5, 0.5, d) for d in sizes]
    var = [rng.uniform(0.05, 0.3, d) for d in sizes]
    exact = merged.variance_sums(mu, var)[2]
    draws = 40_000
    x = [m[:, None] + np.sqrt(v)[:, None] * rng.normal(size=(len(m), draws)) for m, v in zip(mu, var)]
    dof = 20  # unbiased, independent variance estimates
    vhat = [v[:, None] * rng.chisquare(dof, size=(len(v), draws)) / dof for v in var]
    value, unbiased, plug_in = merged.variance_sums(x, vhat)
    assert value.var() == pytest.approx(exact, rel=0.03)
    assert unbiased.mean() == pytest.approx(exact, rel=0.03)
    assert plug_in.mean() > 1.1 * exact
    # treating the shared terms as independent would be wrong here
    independent = sum(
        c**2 * (np.prod([var[f][d[f]] + mu[f][d[f]] ** 2 for f in range(3)])
                - np.prod([mu[f][d[f]] ** 2 for f in range(3)]))
        for c, d in zip(coeffs, table)
    )
    assert abs(independent / exact - 1) > 0.1


def test_run_pubs_still_adapts_both_conventions():
    runner = RecordingSampler(0)
    qc = QuantumCircuit(1, 1)
    qc.measure(0, 0)
    assert len(run_pubs(runner, [(qc, np.zeros((2, 0)), 4)])) == 1
