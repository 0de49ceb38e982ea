"""QPU capacities: one size for as many QPUs as needed, or a fixed heterogeneous list.

``max_qubits=C`` (an int) means any number of QPUs of ``C`` qubits each.
``max_qubits=[c_1, ..., c_m]`` means exactly these QPUs, each hosting at most
one fragment (fragments of one plan run side by side, as on modular hardware).
Fragments of widths :math:`w_1 \\ge \\dots \\ge w_k` fit such a list iff
:math:`k \\le m` and :math:`w_i \\le c_{(i)}` with the capacities sorted in
decreasing order (matching largest to largest is optimal by an exchange
argument).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Capacities:
    """Parsed ``max_qubits``.

    Attributes:
        sizes: the QPU sizes in the order given (one entry for an int).
        unlimited: ``True`` when given an int: any number of QPUs of ``sizes[0]``.
    """

    sizes: tuple[int, ...]
    unlimited: bool

    @classmethod
    def parse(cls, max_qubits: int | Sequence[int]) -> Capacities:
        """Validate ``max_qubits`` (an int or a non-empty sequence of positive ints)."""
        if isinstance(max_qubits, (int, np.integer)) and not isinstance(max_qubits, bool):
            if max_qubits < 1:
                raise ValueError(f"max_qubits must be a positive integer, got {max_qubits}")
            return cls((int(max_qubits),), True)
        if isinstance(max_qubits, (str, bytes)) or not isinstance(max_qubits, Sequence):
            raise ValueError(
                f"max_qubits must be an int or a list of ints, got {type(max_qubits).__name__}"
            )
        sizes = list(max_qubits)
        if not sizes:
            raise ValueError("max_qubits is an empty list: give at least one QPU capacity")
        for c in sizes:
            if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 1:
                raise ValueError(f"QPU capacities must be positive integers, got {c!r}")
        return cls(tuple(int(c) for c in sizes), False)

    @property
    def largest(self) -> int:
        """Width of the largest QPU."""
        return max(self.sizes)

    def max_fragments(self, num_qubits: int) -> int:
        """Most fragments a plan may have (a fragment holds at least one qubit)."""
        return num_qubits if self.unlimited else min(num_qubits, len(self.sizes))

    def total(self, num_qubits: int) -> int:
        """Qubits available in all QPUs a plan may use."""
        return self.sizes[0] * num_qubits if self.unlimited else sum(self.sizes)

    def classes(self, num_qubits: int) -> list[tuple[int, int]]:
        """``(capacity, count)`` pairs, largest capacity first."""
        if self.unlimited:
            return [(self.sizes[0], num_qubits)]
        return sorted(Counter(self.sizes).items(), reverse=True)

    def slots(self, num_qubits: int) -> list[int]:
        """One capacity per QPU a plan may use, largest first."""
        return [c for c, k in self.classes(num_qubits) for _ in range(k)]

    def assign(self, widths: Sequence[int]) -> list[int | None] | None:
        """Place fragments of ``widths`` on distinct QPUs.

        Returns:
            For each fragment, the index of its QPU in the given list (``None``
            for an int capacity), or ``None`` if the fragments do not fit.
        """
        if self.unlimited:
            ok = all(w <= self.sizes[0] for w in widths)
            return [None] * len(widths) if ok else None
        if len(widths) > len(self.sizes):
            return None
        frag_order = sorted(range(len(widths)), key=lambda i: -widths[i])
        qpu_order = sorted(range(len(self.sizes)), key=lambda j: -self.sizes[j])
        out: list[int | None] = [None] * len(widths)
        for i, j in zip(frag_order, qpu_order):
            if widths[i] > self.sizes[j]:
                return None
            out[i] = j
        return out

    def to_json(self) -> int | list[int]:
        """The capacities as given: an int or a list."""
        return self.sizes[0] if self.unlimited else list(self.sizes)
