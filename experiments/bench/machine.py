"""What every benchmark records about the machine it ran on, and how it writes JSON.

The load average matters here: on a shared 2-core machine a busy neighbour
changes timings severalfold, so every result carries the load it ran under.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

# Benchmarks write to runs/bench by default (git-ignored); the committed files in
# experiments/results change only when named: --out experiments/results/bench_<name>.json
RESULTS = Path(__file__).resolve().parents[2] / "runs" / "bench"


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
    except ImportError:  # benchmarks of backends/partitioner need no torch
        pass
    return info


def write_json(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` plus ``machine`` info as indented JSON, creating folders, and say where."""
    from dqlstm.runs import write_json as write  # the project's one JSON writer (atomic)

    from dqlstm.provenance import provenance

    path = write(path, {"provenance": provenance(), **payload, "machine": machine_info()})
    print(f"wrote {path}")
    return path
