"""Exact torch engines for the gate circuits."""

from .exact import ExactEngine, PreparedCircuit
from .observables import as_observables

__all__ = ["ExactEngine", "PreparedCircuit", "as_observables"]
