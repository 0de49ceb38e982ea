"""Thread-safe LRU cache of PUB results keyed by (PUB content, seed)."""

from __future__ import annotations

import threading
from collections import OrderedDict

from qiskit.primitives import SamplerPubResult


class ResultCache:
    """In-memory LRU; ``maxsize=0`` disables caching."""

    def __init__(self, maxsize: int = 4096) -> None:
        if maxsize < 0:
            raise ValueError(f"cache maxsize must be >= 0, got {maxsize}")
        self.maxsize = maxsize
        self._items: OrderedDict[tuple[str, int], SamplerPubResult] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int]) -> SamplerPubResult | None:
        with self._lock:
            result = self._items.get(key)
            if result is not None:
                self._items.move_to_end(key)
            return result

    def put(self, key: tuple[str, int], result: SamplerPubResult) -> None:
        if self.maxsize == 0:
            return
        with self._lock:
            self._items[key] = result
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
