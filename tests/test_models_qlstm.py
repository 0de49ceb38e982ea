"""QLSTM: the cell equations against a straightforward qiskit Statevector implementation."""

import numpy as np
import pytest
import torch
from qiskit.quantum_info import Statevector

from dqlstm.models import QLSTM


def reference_forward(model: QLSTM, x: torch.Tensor) -> np.ndarray:
    """Per-sample, per-gate Statevector evaluation of the same cell."""
    vqc = model.vqc
    W = model.vqc_weights.detach().double().numpy()
    lin_in, lin_out = model.clayer_in, model.clayer_out
    B, S, _ = x.shape
    h = np.zeros((B, model.hidden_size))
    c = np.zeros((B, model.hidden_size))
    outs = []
    sig = lambda v: 1 / (1 + np.exp(-v))
    for t in range(S):
        v = torch.cat((x[:, t].double(), torch.tensor(h)), 1)
        y = lin_in.double()(v) if model.dressed else v
        angles = vqc.encode(y).detach().numpy()
        z = np.zeros((4, B, vqc.num_qubits))
        for g in range(4):
            for b in range(B):
                bind = dict(zip(vqc.inputs, angles[b]))
                bind.update(zip(vqc.weights, W[g]))
                sv = Statevector(vqc.circuit.assign_parameters(bind))
                probs = sv.probabilities()
                k = np.arange(len(probs))
                z[g, b] = [(probs * (1 - 2 * ((k >> q) & 1))).sum() for q in range(vqc.num_qubits)]
        pre = lin_out.double()(torch.tensor(z)).detach().numpy()
        f, i, o, gg = sig(pre[0]), sig(pre[1]), sig(pre[3]), np.tanh(pre[2])
        c = f * c + i * gg
        h = o * np.tanh(c)
        outs.append(h)
    model.float()
    return np.stack(outs, 1)


@pytest.mark.parametrize(
    "kw",
    [
        dict(n_qubits=4, ansatz="chen2020", layers=2),
        dict(n_qubits=4, ansatz="brick", layers=1),
        dict(n_qubits=6, ansatz="modular", layers=1, module_size=3, links=1),
    ],
)
def test_qlstm_matches_statevector_cell(kw):
    model = QLSTM(2, 3, seed=0, **kw)
    x = torch.randn(3, 4, 2)
    out, (h, c) = model(x)
    assert out.shape == (3, 4, 3) and h.shape == (3, 3) and c.shape == (3, 3)
    np.testing.assert_allclose(out.detach().numpy(), reference_forward(model, x), atol=1e-5)


def test_pure_qlstm_feeds_qubits_directly():
    model = QLSTM(1, 3, n_qubits=4, dressed=False, seed=1)
    x = torch.randn(2, 3, 1)
    np.testing.assert_allclose(model(x)[0].detach().numpy(), reference_forward(model, x), atol=1e-5)
    with pytest.raises(ValueError, match="must equal n_qubits"):
        QLSTM(1, 4, n_qubits=4, dressed=False)


def test_parameters_registered_and_state_dict_round_trip():
    a = QLSTM(1, 4, n_qubits=4, seed=3)
    names = {n for n, _ in a.named_parameters()}
    assert {"vqc_weights", "clayer_in.weight", "clayer_out.weight"} <= names
    assert a.vqc_weights.shape == (4, 24)
    b = QLSTM(1, 4, n_qubits=4, seed=4)
    x = torch.randn(2, 4, 1)
    assert not torch.allclose(a(x)[0], b(x)[0])
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(a(x)[0], b(x)[0])


def test_gradients_reach_every_parameter_and_match_finite_differences():
    model = QLSTM(1, 2, n_qubits=3, layers=1, seed=0).double()
    x = torch.randn(2, 3, 1, dtype=torch.float64)
    model(x)[0].sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    w = model.vqc_weights
    g = w.grad[1, 2].item()
    eps = 1e-6
    with torch.no_grad():
        w[1, 2] += eps
        up = model(x)[0].sum().item()
        w[1, 2] -= 2 * eps
        down = model(x)[0].sum().item()
    assert abs((up - down) / (2 * eps) - g) < 1e-7


def test_initial_state_is_used():
    model = QLSTM(1, 2, n_qubits=3, seed=0)
    x = torch.randn(2, 3, 1)
    out0 = model(x)[0]
    out1 = model(x, (torch.ones(2, 2), torch.ones(2, 2)))[0]
    assert not torch.allclose(out0, out1)


def test_bad_input_is_named():
    model = QLSTM(2, 3, n_qubits=4)
    with pytest.raises(ValueError, match="built for 2 features"):
        model(torch.zeros(1, 4, 3))
    with pytest.raises(ValueError, match="batch, seq, features"):
        model(torch.zeros(4, 2))
    x = torch.zeros(1, 4, 2)
    x[0, 1, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model(x)
    with pytest.raises(ValueError, match="unknown ansatz"):
        QLSTM(1, 2, ansatz="nope")
    with pytest.raises(ValueError, match="unknown mode"):
        QLSTM(1, 2, mode="fast")
