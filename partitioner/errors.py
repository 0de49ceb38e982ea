"""Errors raised by the partitioner."""

from __future__ import annotations


class PlanError(ValueError):
    """No cut plan exists for this circuit and these QPU capacities.

    The message names what does not fit (an instruction, a qubit group, the
    capacities). A ``ValueError`` so command lines print it as a user error.
    """
