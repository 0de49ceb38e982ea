"""Quantum LSTM: the affine maps of an LSTM cell replaced by VQCs.

With ``v_t = [x_t, h_{t-1}]`` and ``u_t = L_in(v_t)`` (``dressed``; ``u_t = v_t`` otherwise,
then ``input_size + hidden_size = n_qubits``), ``<Z>_k(u)`` the vector of single-qubit
``<Z_q>`` of gate circuit ``k`` with encoding angles ``(arctan u, arctan u^2)`` (chen2020):

``cell="4vqc"`` (default; a dressed cell, as common PennyLane QLSTMs)::

    f_t = sigmoid(L_out(<Z>_1(u_t))),  i_t = sigmoid(L_out(<Z>_2(u_t)))
    g_t = tanh(L_out(<Z>_3(u_t))),     o_t = sigmoid(L_out(<Z>_4(u_t)))
    c_t = f_t * c_{t-1} + i_t * g_t,   h_t = o_t * tanh(c_t)          (output: h_t)

``cell="6vqc"`` (Chen, Yoo, Fang 2020, arXiv:2009.01783, Fig. 5 / eqs. for VQC1-6)::

    f_t = sigmoid(<Z>_1(u_t)[:H]),  i_t = sigmoid(<Z>_2(u_t)[:H])
    g_t = tanh(<Z>_3(u_t)[:H]),     o_t = sigmoid(<Z>_4(u_t)[:H])
    c_t = f_t * c_{t-1} + i_t * g_t
    h_t = <Z>_5(o_t * tanh(c_t)),   y_t = <Z>_6(o_t * tanh(c_t))      (output: y_t)

``H = hidden_size``. VQC1-4 are ``n_qubits`` wide; VQC5 and VQC6 take the
``H``-wide ``o_t * tanh(c_t)`` directly as their data, so they are ``H`` qubits
wide (same ansatz and layers) and return ``H`` values: ``h_t`` and ``y_t``
are the circuits' expectation values, with no classical layer inside the cell.
Departures from the paper, stated: (1) Chen et al. read all ``n_qubits``
``<Z_q>`` of VQC1-4 as the gate values; here the first ``H`` qubits are read
so that ``c_t`` and ``h_t`` have the width that feeds back into ``v_{t+1}``
(with ``dressed=False``, ``n_qubits = input_size + H`` > ``H``, so the paper's
sizes cannot all hold at once); ``H <= n_qubits`` is required. (2) The model
wrapper (:class:`~dqlstm.models.regressor.SequenceRegressor`) maps the last
``y_T`` to the prediction with its ``Linear`` head, the only classical layer
of an undressed 6vqc model. ``forward`` returns the ``y_t`` sequence as its
outputs and ``emits_output = True`` tells the wrapper to read it.

``init="uniform"`` draws VQC weights from U[0, 2 pi); ``"small-normal"`` from
``0.01 * N(0, 1)`` as Chen et al. The gate circuits share one structure (one
:class:`GateCircuit`) with their own weights, stacked as ``(4, num_weights)``
so one engine call evaluates the four gates for the whole batch; VQC5/VQC6
likewise as ``(2, num_weights)`` through a second engine of the same mode.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dqlstm.choices import CELLS, INITS
from dqlstm.circuits import GateCircuit, build_vqc
from dqlstm.cost import add_costs
from dqlstm.cutting.modes import check_mode, make_gate_engine

GATES = ("forget", "input", "cell", "output")
READOUTS = ("hidden", "output")  # VQC5 -> h_t, VQC6 -> y_t (cell="6vqc")


def _init_weights(vqc: GateCircuit, count: int, init: str) -> torch.Tensor:
    if init == "uniform":
        w = torch.stack([vqc.init_weights() for _ in range(count)])
    else:  # small-normal
        w = 0.01 * torch.randn(count, vqc.num_weights, dtype=torch.float64)
    return w.to(torch.get_default_dtype())


class QLSTM(nn.Module):
    """Quantum LSTM layer with ``torch.nn.LSTM(batch_first=True)`` semantics.

    Args:
        input_size: features per time step.
        hidden_size: size of ``h_t`` and ``c_t``.
        n_qubits: width of each gate circuit.
        ansatz: ``chen2020`` | ``brick`` | ``modular``.
        layers: variational layers per circuit.
        dressed: a Linear maps ``[x_t, h_{t-1}]`` to the qubits' values; with
            ``dressed=False`` they are fed to the qubits directly, so
            ``input_size + hidden_size`` must equal ``n_qubits``.
        module_size, links: ``modular`` ansatz only.
        mode: ``exact`` | ``cut-exact`` | ``sampled`` (:mod:`dqlstm.cutting.modes`).
        engine_options: passed to the engine of ``mode`` (e.g. ``max_qubits``, ``pool``, ``shots``).
        seed: seeds every initial parameter (the global RNG is left untouched).
        cell: ``4vqc`` (dressed gates) | ``6vqc`` (Chen et al. 2020: VQC5/VQC6 give ``h_t``/``y_t``).
        init: ``uniform`` (U[0, 2 pi)) | ``small-normal`` (0.01 N(0, 1)) VQC weights.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        n_qubits: int = 4,
        ansatz: str = "chen2020",
        layers: int = 2,
        dressed: bool = True,
        module_size: int = 3,
        links: int = 0,
        mode: str = "exact",
        engine_options: dict | None = None,
        seed: int | None = None,
        cell: str = "4vqc",
        init: str = "uniform",
    ):
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        check_mode(mode)
        check_mode(cell, CELLS, "cell")
        check_mode(init, INITS, "init")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.n_qubits = n_qubits
        self.dressed = dressed
        self.mode = mode
        self.cell = cell
        self.init = init
        self.emits_output = cell == "6vqc"  # the wrapper reads y_t (outputs), not h_t
        self.vqc = build_vqc(ansatz, n_qubits, layers, module_size=module_size, links=links)
        concat = input_size + hidden_size
        if not dressed and concat != n_qubits:
            raise ValueError(
                f"dressed=False feeds [x_t, h_(t-1)] to the qubits directly: input_size + hidden_size "
                f"= {concat} must equal n_qubits = {n_qubits}"
            )
        if cell == "6vqc" and hidden_size > n_qubits:
            raise ValueError(
                f"cell='6vqc' reads the gates f, i, g, o from the first hidden_size qubits: hidden_size = "
                f"{hidden_size} must be at most n_qubits = {n_qubits}"
            )
        self.readout_vqc: GateCircuit | None = None
        if cell == "6vqc":
            try:
                self.readout_vqc = build_vqc(
                    ansatz, hidden_size, layers, module_size=module_size, links=links, name="readout"
                )
            except ValueError as err:
                raise ValueError(
                    f"cell='6vqc': VQC5/VQC6 take o_t * tanh(c_t), so they are hidden_size = {hidden_size} "
                    f"qubits wide: {err}"
                ) from err
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:  # a seed fixes every initial parameter, classical ones included
                torch.manual_seed(seed)
            self.clayer_in = nn.Linear(concat, n_qubits) if dressed else nn.Identity()
            # draw order kept as before 6vqc existed, so a seed gives the same 4vqc model
            self.clayer_out = nn.Linear(n_qubits, hidden_size) if cell == "4vqc" else None
            gate_init = _init_weights(self.vqc, len(GATES), init)
            readout_init = (
                _init_weights(self.readout_vqc, len(READOUTS), init) if self.readout_vqc is not None else None
            )
        self.vqc_weights = nn.Parameter(gate_init)
        self.readout_weights = nn.Parameter(readout_init) if readout_init is not None else None
        options = dict(engine_options or {})
        self.engine = make_gate_engine(self.vqc, mode, **options)
        self.readout_engine = None
        if self.readout_vqc is not None:
            self.readout_engine = make_gate_engine(self.readout_vqc, mode, **_readout_options(mode, options))

    def cut_summary(self) -> dict | None:
        """Cut cost of every circuit (``None`` in ``exact`` mode: nothing is cut).

        For ``6vqc`` the top level is the gate circuits' plan with the counters
        (``evaluations``, ``executed``) of VQC1-4 and VQC5/6 summed; each
        circuit's own figures are under ``circuits``.
        """
        summary = getattr(self.engine, "cut_summary", None)
        if not summary:
            return None
        gates = summary()
        if self.readout_engine is None:
            return gates
        readout = self.readout_engine.cut_summary()
        total = add_costs(readout, gates, keys=("evaluations", "executed"))
        total["circuits"] = {"gates": gates, "readout": readout}
        return total

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, hidden_size={self.hidden_size}, n_qubits={self.n_qubits}, "
            f"ansatz={self.vqc.ansatz}, layers={self.vqc.layers}, dressed={self.dressed}, mode={self.mode}, "
            f"cell={self.cell}, init={self.init}"
        )

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``x (batch, seq, input_size)`` -> ``(outputs (batch, seq, hidden), (h_n, c_n))``.

        ``outputs`` are ``h_t`` (4vqc) or the VQC6 outputs ``y_t`` (6vqc).
        """
        if x.ndim != 3:
            raise ValueError(f"QLSTM expects input of shape (batch, seq, features), got {tuple(x.shape)}")
        B, S, F = x.shape
        if F != self.input_size:
            raise ValueError(f"QLSTM was built for {self.input_size} features per step, got {F}")
        if S == 0:
            raise ValueError("QLSTM input has an empty sequence (seq = 0)")
        if not torch.isfinite(x).all():
            raise ValueError("QLSTM input contains NaN or infinite values")
        if x.dtype != self.vqc_weights.dtype:
            raise ValueError(
                f"QLSTM input is {x.dtype} but the model is {self.vqc_weights.dtype}; "
                f"convert one of them (e.g. model.to({x.dtype}))"
            )
        if state is None:
            h = x.new_zeros(B, self.hidden_size)
            c = x.new_zeros(B, self.hidden_size)
        else:
            h, c = state
            if tuple(h.shape) != (B, self.hidden_size) or tuple(c.shape) != (B, self.hidden_size):
                raise ValueError(
                    f"QLSTM state (h, c) must both have shape ({B}, {self.hidden_size}), "
                    f"got {tuple(h.shape)} and {tuple(c.shape)}"
                )
        gates = self.engine.prepare(self.vqc_weights)  # block unitaries once per sequence
        readout = (
            self.readout_engine.prepare(self.readout_weights) if self.readout_engine is not None else None
        )
        outputs = []
        for t in range(S):
            u = self.clayer_in(torch.cat((x[:, t], h), dim=1))
            z = gates(self.vqc.encode(u)).to(x.dtype)  # (4, B, n_qubits)
            pre = self.clayer_out(z) if self.clayer_out is not None else z[..., : self.hidden_size]
            act = torch.sigmoid(pre)
            f, i, o = act[0], act[1], act[3]
            g = torch.tanh(pre[2])
            c = torch.addcmul(f * c, i, g)
            if readout is None:
                h = o * torch.tanh(c)
                outputs.append(h)
            else:
                r = readout(self.readout_vqc.encode(o * torch.tanh(c))).to(x.dtype)  # (2, B, hidden)
                h = r[0]
                outputs.append(r[1])
        return torch.stack(outputs, dim=1), (h, c)


def _readout_options(mode: str, options: dict[str, Any]) -> dict[str, Any]:
    """Engine options for VQC5/VQC6: a cut ``plan`` is made for the gate circuit, so the narrower
    readout circuit is planned for ``max_qubits``; a local sampler gets its own seed stream."""
    out = dict(options)
    if "plan" in out:
        if out.get("max_qubits") is None:
            raise ValueError(
                "cell='6vqc' in a cutting mode: an explicit cut plan fits only the gate circuits; "
                "give max_qubits too so VQC5/VQC6 can be planned"
            )
        del out["plan"]
    if mode == "sampled" and out.get("seed") is not None:
        out["seed"] = int(out["seed"]) + 1  # independent shots from the gate circuits' sampler
    return out
