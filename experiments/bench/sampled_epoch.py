"""Benchmark one shot-based training epoch: the earlier path against the current one, in one run.

The model and data of ``experiments/configs/narma5_distributed_sampled.toml``
(NARMA-5, 30 points, a 4-qubit modular QLSTM with one CX cut per gate
circuit on two 2-qubit Aer QPUs, 128 shots, fragment-local parameter shift)
train one epoch twice from the same initial weights:

- ``earlier``: what the project did before: every listed sub-experiment is
  submitted (no merging of identical ones) and Aer simulates each shot
  (``shots_method = "per-shot"``);
- ``current``: identical sub-experiments merged, shots drawn from each
  sub-experiment's exact distribution.

Prints seconds per epoch, circuits and shots executed, and the speed-up;
writes ``runs/bench/bench_sampled_epoch.json`` (the committed file:
``--out experiments/results/bench_sampled_epoch.json``).

    python experiments/bench/sampled_epoch.py [--epochs 1] [--out PATH]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script from anywhere in the checkout
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from dqlstm.assemble import build_model, open_pool  # noqa: E402
from dqlstm.config import load_config  # noqa: E402
from dqlstm.cutting.sampled import SampledCutExecutor  # noqa: E402
from dqlstm.data.dataset import load_dataset  # noqa: E402
from dqlstm.engine.observables import z_observables  # noqa: E402
from dqlstm.training.loop import make_optimizer, train_epoch  # noqa: E402
from dqlstm.training.seeding import seed_everything  # noqa: E402
from machine import RESULTS, write_json  # noqa: E402

CONFIG = ROOT / "experiments" / "configs" / "narma5_distributed_sampled.toml"


def run_epochs(cfg: dict, earlier: bool, epochs: int) -> dict:
    """Train ``epochs`` epochs on the config's pool; the earlier path or the current one."""
    cfg = {**cfg, "qpus": {**cfg["qpus"], "devices": [
        {**d, "shots_method": "per-shot" if earlier else "exact"} for d in cfg["qpus"]["devices"]]}}
    seed = int(cfg["train"]["seed"])
    seed_everything(seed)
    data = load_dataset(cfg["data"])
    with open_pool(cfg, seed) as pool:
        model = build_model(cfg["model"], 1, 1, seed=seed, pool=pool)
        engine = model.core.engine
        if earlier:  # every listed sub-experiment, as before merging
            engine.executor = SampledCutExecutor.from_plan(
                engine.plan, engine.vqc.circuit, z_observables(engine.vqc.num_qubits),
                pool=pool, shots=engine.executor.shots, deduplicate=False,
            )
        x, y, _, _ = data.tensors(next(model.parameters()).dtype)
        optimizer = make_optimizer(cfg["train"]["optimizer"], model.parameters(), float(cfg["train"]["lr"]))
        shuffle = torch.Generator().manual_seed(seed)
        start = time.perf_counter()
        losses = [train_epoch(model, optimizer, x, y, int(cfg["train"]["batch_size"]), shuffle) for _ in range(epochs)]
        seconds = time.perf_counter() - start
        cost = engine.executor.total_cost
    return {
        "path": "earlier" if earlier else "current",
        "seconds_per_epoch": seconds / epochs,
        "train_loss": losses,
        "sub_experiments_per_evaluation": engine.executor.num_subexperiments,
        "circuits_executed": cost.num_circuits_executed,
        "shots_executed": cost.total_shots,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_sampled_epoch.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cfg = load_config(CONFIG)
    rows = [run_epochs(cfg, earlier, args.epochs) for earlier in (True, False)]
    earlier, current = rows
    speedup = earlier["seconds_per_epoch"] / current["seconds_per_epoch"]
    print(f"{'path':8} {'s/epoch':>9} {'sub-exp':>8} {'circuits':>10} {'shots':>12}")
    for r in rows:
        print(f"{r['path']:8} {r['seconds_per_epoch']:9.2f} {r['sub_experiments_per_evaluation']:8d} "
              f"{r['circuits_executed']:10d} {r['shots_executed']:12d}")
    print(f"speed-up of the current path: {speedup:.1f}x "
          f"({earlier['shots_executed'] / current['shots_executed']:.2f}x of it from running fewer shots)")
    write_json(args.out, {
        "benchmark": "one sampled NARMA-5 training epoch: earlier path (every listed sub-experiment, "
                     "per-shot Aer) vs current (merged sub-experiments, exact-distribution shots)",
        "config": str(CONFIG.relative_to(ROOT)), "epochs": args.epochs, "rows": rows, "speedup": speedup,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
