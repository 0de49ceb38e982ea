"""Per-QPU and per-pool statistics (plain dataclasses, ``to_dict()`` for JSON)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class QPUStats:
    """Work done by one QPU: finished jobs, shots (bindings x shots), busy seconds.

    ``failures`` counts failed jobs including ``timeouts`` and the job that
    found the QPU unavailable (``available`` False from then on).
    """

    name: str
    num_qubits: int
    jobs: int = 0
    shots: int = 0
    seconds: float = 0.0
    failures: int = 0
    timeouts: int = 0
    available: bool = True


@dataclass
class PoolStats:
    """Statistics of a pool since creation (or the last ``reset_stats``).

    ``pubs``: PUBs submitted (each ran: there is no result cache, so the
    per-QPU ``shots`` are shots that ran, late results of timed-out jobs
    included). ``retries``: failed or timed-out jobs charged to their PUBs,
    i.e. the sum of the QPUs' ``failures`` (timeouts included) minus those
    that were a QPU becoming unavailable; waiting behind a stalled QPU is
    never charged.
    """

    qpus: dict[str, QPUStats] = field(default_factory=dict)
    pubs: int = 0
    retries: int = 0
    wall_seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    def utilisation(self) -> dict[str, float]:
        """Busy seconds / wall seconds per QPU (0 when nothing ran)."""
        wall = self.wall_seconds
        return {n: (s.seconds / wall if wall > 0 else 0.0) for n, s in self.qpus.items()}
