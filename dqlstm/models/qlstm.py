"""Quantum LSTM: the four affine maps of an LSTM cell replaced by VQCs.

Chen, Yoo, Fang (2020): with ``v_t = [x_t, h_{t-1}]``

    y_t = L_in(v_t)                              (dressed; identity when pure)
    f_t = sigmoid(L_out(<Z>_forget(y_t)))
    i_t = sigmoid(L_out(<Z>_input(y_t)))
    g_t = tanh(L_out(<Z>_cell(y_t)))
    o_t = sigmoid(L_out(<Z>_output(y_t)))
    c_t = f_t * c_{t-1} + i_t * g_t,   h_t = o_t * tanh(c_t)

The four gate circuits share one structure (one :class:`GateCircuit`) and
have their own weights, stacked as a ``(4, num_weights)`` parameter so one
engine call evaluates all four gates for the whole batch.
"""

from __future__ import annotations

import torch
from torch import nn

from dqlstm.circuits import build_vqc
from dqlstm.cutting.modes import check_mode, make_gate_engine

GATES = ("forget", "input", "cell", "output")


class QLSTM(nn.Module):
    """Quantum LSTM layer with ``torch.nn.LSTM(batch_first=True)`` semantics.

    Args:
        input_size: features per time step.
        hidden_size: size of ``h_t`` and ``c_t``.
        n_qubits: width of each gate circuit.
        ansatz: ``chen2020`` | ``brick`` | ``modular``.
        layers: variational layers per gate circuit.
        dressed: a Linear maps ``[x_t, h_{t-1}]`` to the qubits' values; with
            ``dressed=False`` they are fed to the qubits directly, so
            ``input_size + hidden_size`` must equal ``n_qubits``.
        module_size, links: ``modular`` ansatz only.
        mode: ``exact`` | ``cut-exact`` | ``sampled`` (:mod:`dqlstm.cutting.modes`).
        engine_options: passed to the engine of ``mode`` (e.g. ``max_qubits``, ``pool``, ``shots``).
        seed: seeds every initial parameter (the global RNG is left untouched).
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
    ):
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        check_mode(mode)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.n_qubits = n_qubits
        self.dressed = dressed
        self.mode = mode
        self.vqc = build_vqc(ansatz, n_qubits, layers, module_size=module_size, links=links)
        concat = input_size + hidden_size
        if not dressed and concat != n_qubits:
            raise ValueError(
                f"dressed=False feeds [x_t, h_(t-1)] to the qubits directly: input_size + hidden_size "
                f"= {concat} must equal n_qubits = {n_qubits}"
            )
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:  # a seed fixes every initial parameter, classical ones included
                torch.manual_seed(seed)
            self.clayer_in = nn.Linear(concat, n_qubits) if dressed else nn.Identity()
            self.clayer_out = nn.Linear(n_qubits, hidden_size)
            init = torch.stack([self.vqc.init_weights() for _ in GATES]).to(torch.get_default_dtype())
        self.vqc_weights = nn.Parameter(init)
        self.engine = make_gate_engine(self.vqc, mode, **(engine_options or {}))

    def cut_summary(self) -> dict | None:
        """Cut cost of the gate circuits (``None`` in ``exact`` mode: nothing is cut)."""
        summary = getattr(self.engine, "cut_summary", None)
        return summary() if summary else None

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, hidden_size={self.hidden_size}, n_qubits={self.n_qubits}, "
            f"ansatz={self.vqc.ansatz}, layers={self.vqc.layers}, dressed={self.dressed}, mode={self.mode}"
        )

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``x (batch, seq, input_size)`` -> ``(outputs (batch, seq, hidden), (h_n, c_n))``."""
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
        outputs = []
        for t in range(S):
            y = self.clayer_in(torch.cat((x[:, t], h), dim=1))
            z = gates(self.vqc.encode(y)).to(x.dtype)  # (4, B, n_qubits)
            pre = self.clayer_out(z)
            act = torch.sigmoid(pre)
            f, i, o = act[0], act[1], act[3]
            g = torch.tanh(pre[2])
            c = torch.addcmul(f * c, i, g)
            h = o * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs, dim=1), (h, c)

