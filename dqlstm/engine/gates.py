"""Gate matrices as batched torch tensors, in qiskit's conventions.

Every builder takes real angle tensors of any shape ``S`` and returns a complex
tensor ``S + (2**k, 2**k)`` in qiskit's little-endian order (the instruction's
first qubit is the least significant bit), so the result equals
``qiskit.quantum_info.Operator(gate)`` for every batch element.
"""

from __future__ import annotations

from typing import Callable

import torch

GateBuilder = Callable[[list[torch.Tensor], torch.dtype], torch.Tensor]


def _mat2(a, b, c, d) -> torch.Tensor:
    # one stack keeps the autograd graph short: these run for every gate of every step
    return torch.stack((a, b, c, d), -1).unflatten(-1, (2, 2))


def _cs(theta: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    cs = torch.stack((torch.cos(theta / 2), torch.sin(theta / 2))).to(dtype)
    return cs[0], cs[1]


def _phase(theta: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return torch.polar(torch.ones_like(theta), theta).to(dtype)


def rx(p: list[torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    c, s = _cs(p[0], dtype)
    return _mat2(c, -1j * s, -1j * s, c)


def ry(p: list[torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    c, s = _cs(p[0], dtype)
    return _mat2(c, -s, s, c)


def rz(p: list[torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    e = _phase(p[0] / 2, dtype)
    return torch.diag_embed(torch.stack((e.conj(), e), -1))


def phase(p: list[torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    e = _phase(p[0], dtype)
    return _mat2(torch.ones_like(e), torch.zeros_like(e), torch.zeros_like(e), e)


def u(p: list[torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    theta, phi, lam = p
    c, s = _cs(theta, dtype)
    return _mat2(c, -_phase(lam, dtype) * s, _phase(phi, dtype) * s, _phase(phi + lam, dtype) * c)


def rzz(p: list[torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    e = _phase(p[0] / 2, dtype)
    return torch.diag_embed(torch.stack((e.conj(), e, e, e.conj()), -1))


def _two_qubit_rotation(pauli: torch.Tensor) -> GateBuilder:
    # exp(-i theta/2 P) = cos(theta/2) I - i sin(theta/2) P
    def build(p: list[torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
        c, s = _cs(p[0], dtype)
        eye = torch.eye(4, dtype=dtype)
        return c[..., None, None] * eye - 1j * s[..., None, None] * pauli.to(dtype)

    return build


_X = torch.tensor([[0, 1], [1, 0]], dtype=torch.complex128)
_Y = torch.tensor([[0, -1j], [1j, 0]], dtype=torch.complex128)


def _controlled(target: GateBuilder) -> GateBuilder:
    # control = first instruction qubit (least significant bit)
    def build(p: list[torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
        m = target(p, dtype)
        one, zero = torch.ones_like(m[..., 0, 0]), torch.zeros_like(m[..., 0, 0])
        rows = (
            (one, zero, zero, zero),
            (zero, m[..., 0, 0], zero, m[..., 0, 1]),
            (zero, zero, one, zero),
            (zero, m[..., 1, 0], zero, m[..., 1, 1]),
        )
        return torch.stack([torch.stack(r, -1) for r in rows], -2)

    return build


PARAMETERISED: dict[str, tuple[int, int, GateBuilder]] = {
    # name: (num_qubits, num_params, builder)
    "rx": (1, 1, rx),
    "ry": (1, 1, ry),
    "rz": (1, 1, rz),
    "p": (1, 1, phase),
    "u1": (1, 1, phase),
    "u": (1, 3, u),
    "u3": (1, 3, u),
    "rzz": (2, 1, rzz),
    "rxx": (2, 1, _two_qubit_rotation(torch.kron(_X, _X))),
    "ryy": (2, 1, _two_qubit_rotation(torch.kron(_Y, _Y))),
    "crx": (2, 1, _controlled(rx)),
    "cry": (2, 1, _controlled(ry)),
    "crz": (2, 1, _controlled(rz)),
    "cp": (2, 1, _controlled(phase)),
}
