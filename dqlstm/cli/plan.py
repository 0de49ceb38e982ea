"""``dqlstm plan --qubits N --max-qubits C [C ...] [--ansatz A] [--layers L] [--links K] [--json]``.

Other options: ``--module-size Q`` (modular ansatz), ``--no-wire-cuts``.

Builds one gate circuit of the ansatz and prints the cut plan that fits it
onto QPUs of the given sizes: a table, or the ``CutPlan`` as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "plan",
        help="plan the circuit cuts that fit an ansatz onto small QPUs",
        description=(
            "Build the gate circuit of an ansatz and print where to cut it (gate and wire "
            "cuts) so that every fragment fits a QPU, with the sampling overhead."
        ),
    )
    parser.add_argument("--qubits", type=int, required=True, metavar="N", help="circuit width")
    parser.add_argument(
        "--max-qubits",
        type=int,
        nargs="+",
        required=True,
        metavar="C",
        help="QPU size; one value = any number of such QPUs, several = one QPU each",
    )
    parser.add_argument("--ansatz", default="modular", metavar="A",
                        help="chen2020, brick or modular (default: modular)")
    parser.add_argument("--layers", type=int, default=2, metavar="L", help="variational layers (default: 2)")
    parser.add_argument("--module-size", type=int, default=3, metavar="Q",
                        help="qubits per module, modular only (default: 3)")
    parser.add_argument("--links", type=int, default=0, metavar="K",
                        help="inter-module CNOTs per layer, modular only (default: 0)")
    parser.add_argument("--no-wire-cuts", action="store_true", help="cut gates only")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.set_defaults(func=run)
    return parser


def _circuit(args: argparse.Namespace):
    from dqlstm.circuits import build_vqc

    kwargs = {}
    if args.ansatz == "modular":
        kwargs = {"module_size": args.module_size, "links": args.links}
    elif args.links:
        raise ValueError(f"--links only applies to the modular ansatz, not {args.ansatz!r}")
    return build_vqc(args.ansatz, n_qubits=args.qubits, layers=args.layers, **kwargs).circuit


def format_plan(plan) -> str:
    """Human-readable summary of a ``CutPlan``."""
    caps = plan.max_qubits
    lines = [
        f"{plan.num_qubits} qubits on QPUs of {caps if isinstance(caps, int) else list(caps)} qubits: "
        f"{plan.num_fragments} fragments, {plan.num_gate_cuts} gate cuts, "
        f"{plan.num_wire_cuts} wire cuts",
        f"sampling overhead {plan.sampling_overhead:.6g}, "
        f"{plan.num_subexperiments} subexperiments (exact, one observable group)",
        "",
        f"{'fragment':>8}  {'width':>5}  {'QPU':>5}  qubits",
    ]
    for i, f in enumerate(plan.fragments):
        qpu = f"{f.capacity}" if f.qpu is None else f"#{f.qpu}:{f.capacity}"
        lines.append(f"{i:>8}  {f.width:>5}  {qpu:>5}  {', '.join(map(str, f.qubits))}")
    if plan.cuts:
        lines += ["", f"{'cut':>8}  {'kind':>5}  {'instr':>5}  {'gate':<6} {'qubits':<9} "
                      f"{'overhead':>8}  fragments"]
        for i, c in enumerate(plan.cuts):
            qs = ",".join(map(str, c.qubits))
            lines.append(
                f"{i:>8}  {c.kind:>5}  {c.index:>5}  {c.operation:<6} {qs:<9} {c.overhead:>8.4g}  "
                f"{c.fragments[0]} -> {c.fragments[1]}"
            )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from partitioner import plan_cuts

    circuit = _circuit(args)
    caps = args.max_qubits[0] if len(args.max_qubits) == 1 else list(args.max_qubits)
    plan = plan_cuts(circuit, caps, wire_cuts=not args.no_wire_cuts)
    if args.json:
        json.dump(plan.to_dict(), sys.stdout, indent=2)
        print()
    else:
        print(format_plan(plan))
    return 0
