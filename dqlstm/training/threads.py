"""torch's intra-op threads for the span of a run."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def intra_op_threads(threads: int) -> Iterator[None]:
    """torch's intra-op threads for a run (``0``: leave torch's default), restored afterwards.
    Tiny matmuls: extra threads only add sync cost (10x on a busy box), so runs default to 1."""
    before = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
