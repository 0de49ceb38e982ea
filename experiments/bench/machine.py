"""What every benchmark records about the machine it ran on, and how it writes JSON.

The load average matters here: on a shared 2-core machine a busy neighbour
changes timings severalfold, so every result carries the load it ran under.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[1] / "results"  # experiments/results, whatever the cwd


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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**payload, "machine": machine_info()}, indent=2) + "\n")
    print(f"wrote {path}")
    return path
