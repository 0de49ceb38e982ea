"""Exceptions raised by the backends package (one hierarchy, clear names)."""

from __future__ import annotations


class BackendError(Exception):
    """Base class of every error raised by :mod:`backends`."""


class BackendConfigError(BackendError, ValueError):
    """A QPU or pool was configured with an unknown name or a bad value."""


class IBMCredentialsError(BackendError):
    """No IBM Quantum account could be found (nothing saved, no env variables)."""


class JobFailedError(BackendError):
    """A job failed on a QPU; the pool may retry it (on this or another QPU)."""


class QPUUnavailableError(BackendError):
    """The QPU is gone (closed, disconnected); the pool stops sending it work."""


class NoCapableQPUError(BackendError):
    """No (remaining) QPU is wide enough for a PUB."""

    def __init__(self, width: int, widest: int | None, detail: str = "") -> None:
        self.width = width
        self.widest = widest
        widest_txt = "no QPU is left" if widest is None else f"the widest QPU has {widest} qubits"
        msg = f"no QPU can run a {width}-qubit circuit: {widest_txt}"
        super().__init__(msg + (f" ({detail})" if detail else ""))


class PoolExecutionError(BackendError):
    """A PUB still failed after all retries on all eligible QPUs."""
