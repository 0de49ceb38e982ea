"""Classical LSTM baseline, SequenceRegressor and the model factory."""

from __future__ import annotations

import pytest
import torch

from dqlstm.models.lstm import LSTM
from dqlstm.assemble import build_model
from dqlstm.models.regressor import SequenceRegressor, count_parameters


def manual_lstm(cell: torch.nn.LSTM, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
    """The LSTM equations step by step from torch's weights (gate order i, f, g, o)."""
    W, U = cell.weight_ih_l0, cell.weight_hh_l0
    b = cell.bias_ih_l0 + cell.bias_hh_l0
    outs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ W.T + h @ U.T + b
        i, f, g, o = z.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outs.append(h)
    return torch.stack(outs, 1), h, c


def test_lstm_matches_the_cell_equations():
    torch.manual_seed(0)
    model = LSTM(2, 3)
    x = torch.randn(5, 4, 2)
    h0, c0 = torch.randn(5, 3), torch.randn(5, 3)
    outputs, (h_n, c_n) = model(x, (h0, c0))
    ref_out, ref_h, ref_c = manual_lstm(model.lstm, x, h0, c0)
    assert outputs.shape == (5, 4, 3) and h_n.shape == (5, 3) and c_n.shape == (5, 3)
    torch.testing.assert_close(outputs, ref_out)
    torch.testing.assert_close(h_n, ref_h)
    torch.testing.assert_close(c_n, ref_c)


def test_lstm_state_carries_across_calls():
    torch.manual_seed(1)
    model = LSTM(1, 4)
    x = torch.randn(3, 6, 1)
    full, (h_full, c_full) = model(x)
    first, state = model(x[:, :2])
    second, (h_n, c_n) = model(x[:, 2:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), full)
    torch.testing.assert_close(h_n, h_full)
    torch.testing.assert_close(c_n, c_full)


def test_multilayer_lstm_returns_top_layer_state():
    torch.manual_seed(2)
    model = LSTM(1, 3, num_layers=2)
    x = torch.randn(2, 5, 1)
    outputs, (h_n, _) = model(x)
    torch.testing.assert_close(h_n, outputs[:, -1])
    with pytest.raises(ValueError, match=r"h_0 must have shape \(2, 2, 3\)"):
        model(x, (torch.zeros(2, 3), torch.zeros(2, 3)))


def test_lstm_input_errors():
    model = LSTM(1, 3)
    with pytest.raises(ValueError, match="expects 1 feature.*got 2"):
        model(torch.zeros(2, 4, 2))
    with pytest.raises(ValueError, match=r"\(batch, seq, features\)"):
        model(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="NaN"):
        model(torch.tensor([[[0.0], [float("nan")]]]))
    with pytest.raises(ValueError, match=r"h_0 must have shape \(2, 3\)"):
        model(torch.zeros(2, 4, 1), (torch.zeros(3, 3), torch.zeros(2, 3)))
    with pytest.raises(ValueError, match="hidden_size"):
        LSTM(1, 0)


@pytest.mark.parametrize("hidden", [1, 4, 5])
def test_regressor_parameter_count(hidden):
    # LSTM: 4 gates x (W_ih, W_hh, two biases); head: hidden weights + 1 bias.
    model = build_model({"kind": "lstm", "hidden_size": hidden}, input_size=1, output_size=1)
    assert count_parameters(model) == 4 * (hidden * (1 + hidden) + 2 * hidden) + hidden + 1


def test_regressor_predicts_from_last_hidden_state():
    torch.manual_seed(3)
    model = build_model({"kind": "lstm", "hidden_size": 4}, input_size=1, output_size=2)
    x = torch.randn(7, 4, 1)
    y = model(x)
    assert y.shape == (7, 2)
    outputs, _ = model.core(x)
    torch.testing.assert_close(y, outputs[:, -1] @ model.head.weight.T + model.head.bias)
    y.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_regressor_validates_input():
    model = build_model({"kind": "lstm", "hidden_size": 2}, input_size=3, output_size=1)
    with pytest.raises(ValueError, match="SequenceRegressor expects 3 feature.*got 1"):
        model(torch.zeros(2, 4, 1))
    with pytest.raises(ValueError, match="NaN or inf"):
        model(torch.full((2, 4, 3), float("inf")))
    with pytest.raises(ValueError, match="unknown model kind 'gru'"):
        build_model({"kind": "gru"}, 1, 1)
    with pytest.raises(ValueError, match="Linear has no 'input_size' attribute"):
        SequenceRegressor(torch.nn.Linear(2, 2), 1)


def test_qlstm_through_the_factory():
    pytest.importorskip("dqlstm.models.qlstm")
    torch.manual_seed(4)
    cfg = {"kind": "qlstm", "hidden_size": 3, "n_qubits": 4, "ansatz": "chen2020", "layers": 1}
    model = build_model(cfg, input_size=1, output_size=1, seed=0)
    assert type(model.core).__name__ == "QLSTM"
    x = torch.rand(5, 4, 1) * 2 - 1
    y = model(x)
    assert y.shape == (5, 1)
    y.sum().backward()
    assert model.core.vqc_weights.grad is not None and model.core.vqc_weights.grad.abs().sum() > 0
    # Same seed, same initial weights (resume and seeds depend on it).
    again = build_model(cfg, input_size=1, output_size=1, seed=0)
    torch.testing.assert_close(again.core.vqc_weights, model.core.vqc_weights)
    with pytest.raises(ValueError, match="expects 1 feature.*got 2"):
        model(torch.zeros(2, 4, 2))


def test_engine_options_reach_the_qlstm_only_for_cutting_modes(monkeypatch):
    qlstm_module = pytest.importorskip("dqlstm.models.qlstm")
    calls = []

    class FakeQLSTM(LSTM):
        def __init__(self, input_size, hidden_size, **kwargs):
            super().__init__(input_size, hidden_size)
            calls.append(kwargs)

    monkeypatch.setattr(qlstm_module, "QLSTM", FakeQLSTM)
    base = {"kind": "qlstm", "hidden_size": 2, "max_qubits": 2, "shots": 100}
    build_model({**base, "mode": "exact"}, 1, 1, seed=3)
    build_model({**base, "mode": "cut-exact"}, 1, 1)
    build_model({"kind": "qlstm", "mode": "sampled"}, 1, 1)
    assert calls[0]["engine_options"] is None and calls[0]["seed"] == 3 and calls[0]["mode"] == "exact"
    assert calls[1]["engine_options"] == {"max_qubits": 2, "shots": 100}
    assert calls[2]["engine_options"] is None
