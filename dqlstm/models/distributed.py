"""Distributed QLSTM: the QLSTM whose gate circuits run cut across a set of QPUs.

With the ``modular`` ansatz and ``links=0`` every module is its own QPU and
nothing is cut (Liu, Chen et al. 2025); with ``links > 0``, or any ansatz
wider than the QPUs, the partitioner plans the cuts and the gate circuits are
evaluated by ``cut-exact`` (exact contraction) or ``sampled`` (shots on the
pool) (:mod:`dqlstm.cutting.modes`).
"""

from __future__ import annotations

from typing import Any, Sequence

from dqlstm.cutting.modes import CUT_MODES, check_mode, check_shots

from .qlstm import QLSTM


def qpu_capacities(qpus: Any) -> list[int]:
    """Capacities of a ``QPUPool``, a list of QPUs, or a list of ints / one int."""
    members = [qpus] if isinstance(qpus, int) else getattr(qpus, "qpus", qpus)
    try:
        caps = [getattr(q, "num_qubits", q) for q in members]
    except TypeError:
        caps = None
    if caps is None or not all(isinstance(c, int) and not isinstance(c, bool) for c in caps):
        raise ValueError(f"qpus must be a QPUPool, a list of QPUs or of capacities (ints), got {qpus!r}")
    if not caps or min(caps) < 1:
        raise ValueError(f"QPU capacities must be positive, got {caps}")
    return caps


class DistributedQLSTM(QLSTM):
    """A :class:`QLSTM` evaluated on ``qpus`` through circuit cutting.

    Args:
        input_size, hidden_size: as for :class:`QLSTM`.
        qpus: a ``backends.QPUPool`` (required for ``sampled``), or QPU
            capacities (an int or a list) for ``cut-exact``.
        n_qubits: total width of each gate circuit (default ``module_size * number of QPUs``).
        mode: ``cut-exact`` or ``sampled``.
        shots: shots per sub-experiment (``sampled``).
        other keywords: as for :class:`QLSTM` (``ansatz`` defaults to ``modular``).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        qpus: Any,
        n_qubits: int | None = None,
        ansatz: str = "modular",
        layers: int = 2,
        module_size: int = 3,
        links: int = 0,
        mode: str = "cut-exact",
        shots: int | None = None,
        dressed: bool = True,
        seed: int | None = None,
    ):
        check_mode(mode, CUT_MODES, "DistributedQLSTM mode")
        caps: Sequence[int] = qpu_capacities(qpus)
        # a pool runs any number of fragments on any QPU wide enough; a list of
        # capacities means one fragment per listed QPU, side by side
        is_pool = hasattr(qpus, "run")
        options: dict[str, Any] = {"max_qubits": max(caps) if is_pool or len(caps) == 1 else list(caps)}
        if mode == "sampled":
            if not is_pool:
                raise ValueError("mode 'sampled' needs a QPU pool (backends.QPUPool), not capacities")
            options["pool"] = qpus
            if shots is not None:
                options["shots"] = check_shots(shots)
        elif shots is not None:
            raise ValueError("shots only apply to mode 'sampled'")
        super().__init__(
            input_size,
            hidden_size,
            n_qubits=n_qubits if n_qubits is not None else module_size * len(caps),
            ansatz=ansatz,
            layers=layers,
            dressed=dressed,
            module_size=module_size,
            links=links,
            mode=mode,
            engine_options=options,
            seed=seed,
        )
        self.qpus = qpus

    def cut_summary(self) -> dict[str, Any]:
        return self.engine.cut_summary()
