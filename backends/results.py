"""Helpers on sampler results (one PUB result holds a whole batch of bindings)."""

from __future__ import annotations

from qiskit.primitives import DataBin, PrimitiveResult, SamplerPubResult


def select_binding(result: SamplerPubResult, index: int | tuple[int, ...]) -> SamplerPubResult:
    """The result of binding ``index`` alone (bit arrays of shape ``()``).

    qiskit-addon-cutting's ``reconstruct_expectation_values`` expects one
    binding per PUB; a pool result carries ``B`` of them.
    """
    arrays = {name: result.data[name][index] for name in result.data}
    shape = next(iter(arrays.values())).shape if arrays else ()
    return SamplerPubResult(DataBin(**arrays, shape=shape), metadata=dict(result.metadata))


def binding_results(results: list[SamplerPubResult], index: int | tuple[int, ...]) -> PrimitiveResult:
    """``PrimitiveResult`` of one binding across PUBs (the form reconstruction takes)."""
    return PrimitiveResult([select_binding(r, index) for r in results])
