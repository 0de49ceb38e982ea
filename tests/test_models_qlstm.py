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
        {"n_qubits": 4, "ansatz": "chen2020", "layers": 2},
        {"n_qubits": 4, "ansatz": "brick", "layers": 1},
        {"n_qubits": 6, "ansatz": "modular", "layers": 1, "module_size": 3, "links": 1},
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


# ---------------------------------------------------------------- cell="6vqc" (Chen et al. 2020) and init


def z_expectations(vqc, angles: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``<Z_q>`` of every qubit of ``vqc`` bound to one sample's angles and one weight vector, by Statevector."""
    bind = dict(zip(vqc.inputs, angles))
    bind.update(zip(vqc.weights, weights))
    probs = Statevector(vqc.circuit.assign_parameters(bind)).probabilities()
    k = np.arange(len(probs))
    return np.array([(probs * (1 - 2 * ((k >> q) & 1))).sum() for q in range(vqc.num_qubits)])


def reference_6vqc(model: QLSTM, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chen et al. (2020) written out sample by sample: each VQC's <Z> by Statevector, the cell in numpy."""
    H = model.hidden_size
    W = model.vqc_weights.detach().double().numpy()
    R = model.readout_weights.detach().double().numpy()
    sig = lambda v: 1 / (1 + np.exp(-v))
    enc = lambda v: np.stack((np.arctan(v), np.arctan(v * v)), -1).reshape(-1)  # (arctan v_q, arctan v_q^2)
    B, S, _ = x.shape
    xs = x.detach().double().numpy()
    h, c = np.zeros((B, H)), np.zeros((B, H))
    ys = np.zeros((B, S, H))
    for t in range(S):
        for b in range(B):
            v = np.concatenate((xs[b, t], h[b]))
            if model.dressed:
                lin = model.clayer_in
                v = lin.weight.detach().double().numpy() @ v + lin.bias.detach().double().numpy()
            f, i, g, o = (z_expectations(model.vqc, enc(v), W[k])[:H] for k in range(4))
            c[b] = sig(f) * c[b] + sig(i) * np.tanh(g)
            m = sig(o) * np.tanh(c[b])
            h[b] = z_expectations(model.readout_vqc, enc(m), R[0])
            ys[b, t] = z_expectations(model.readout_vqc, enc(m), R[1])
    return ys, h, c


@pytest.mark.parametrize(
    "kw",
    [
        {"input_size": 1, "hidden_size": 3, "n_qubits": 4, "dressed": False},
        {"input_size": 2, "hidden_size": 2, "n_qubits": 3, "dressed": True, "layers": 1},
    ],
)
def test_6vqc_matches_statevector_reference(kw):
    model = QLSTM(cell="6vqc", init="small-normal", seed=5, **kw).double()
    with torch.no_grad():  # weights away from 0 so every circuit matters
        model.vqc_weights.normal_(0, 1.0)
        model.readout_weights.normal_(0, 1.0)
    x = torch.randn(2, 3, kw["input_size"], dtype=torch.float64)
    out, (h, c) = model(x)
    ys, h_ref, c_ref = reference_6vqc(model, x)
    np.testing.assert_allclose(out.detach().numpy(), ys, atol=1e-10)
    np.testing.assert_allclose(h.detach().numpy(), h_ref, atol=1e-10)
    np.testing.assert_allclose(c.detach().numpy(), c_ref, atol=1e-10)
    assert not np.allclose(ys, h_ref[:, None])  # VQC6 is not VQC5


def test_6vqc_gradients_match_finite_differences():
    model = QLSTM(1, 2, n_qubits=3, layers=1, dressed=False, cell="6vqc", seed=2).double()
    x = torch.randn(2, 3, 1, dtype=torch.float64)
    loss = lambda: (model(x)[0] ** 2).sum() + model(x)[1][0].sum()
    loss().backward()
    names = {n for n, _ in model.named_parameters()}
    assert names == {"vqc_weights", "readout_weights"}  # undressed 6vqc: no classical layer in the cell
    eps = 1e-6
    for p in model.parameters():
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
        for idx in [(0, 1), (1, 0), (3, 2), (p.shape[0] - 1, p.shape[1] - 1)]:
            if idx[0] >= p.shape[0]:
                continue
            with torch.no_grad():
                p[idx] += eps
                up = loss().item()
                p[idx] -= 2 * eps
                down = loss().item()
                p[idx] += eps
            assert abs((up - down) / (2 * eps) - p.grad[idx].item()) < 1e-7


def test_6vqc_cut_exact_equals_exact():
    kw = {"n_qubits": 4, "dressed": False, "cell": "6vqc", "seed": 7}
    exact = QLSTM(1, 3, **kw).double()
    cut = QLSTM(1, 3, mode="cut-exact", engine_options={"max_qubits": 2}, **kw).double()
    assert cut.readout_engine.cut_summary()["num_cuts"] > 0  # the 3-qubit VQC5/6 are cut for 2-qubit QPUs too
    x = torch.randn(2, 3, 1, dtype=torch.float64)
    out_e, (h_e, _c_e) = exact(x)
    out_c, (h_c, _c_c) = cut(x)
    torch.testing.assert_close(out_c, out_e, atol=1e-10, rtol=0)
    torch.testing.assert_close(h_c, h_e, atol=1e-10, rtol=0)
    (out_e.sum() + h_e.sum()).backward()
    (out_c.sum() + h_c.sum()).backward()
    for (n, pe), pc in zip(exact.named_parameters(), cut.parameters()):
        torch.testing.assert_close(pc.grad, pe.grad, atol=1e-10, rtol=0, msg=n)
    summary = cut.cut_summary()
    assert summary["circuits"]["readout"]["num_cuts"] == cut.readout_engine.cut_summary()["num_cuts"]
    assert summary["num_cuts"] == cut.engine.cut_summary()["num_cuts"]


def test_6vqc_sampled_runs_both_engines_and_counts_their_shots():
    kw = {"n_qubits": 3, "layers": 1, "dressed": False, "cell": "6vqc", "seed": 1}
    exact = QLSTM(1, 2, **kw)
    sampled = QLSTM(1, 2, mode="sampled", engine_options={"max_qubits": 3, "shots": 20000, "seed": 3}, **kw)
    x = torch.randn(2, 2, 1)
    out = sampled(x)[0]
    assert (out - exact(x)[0]).abs().max() < 0.05  # shot noise ~ 1/sqrt(20000) per <Z>
    out.sum().backward()
    assert sampled.readout_weights.grad.abs().sum() > 0
    summary = sampled.cut_summary()
    gates, readout = summary["circuits"]["gates"], summary["circuits"]["readout"]
    assert readout["executed"]["total_shots"] > 0
    assert (
        summary["executed"]["total_shots"]
        == gates["executed"]["total_shots"] + readout["executed"]["total_shots"]
    )
    assert gates["evaluations"] == readout["evaluations"] == 2  # one call per time step each
    assert summary["evaluations"] == 4


def test_6vqc_state_dict_round_trip():
    a = QLSTM(2, 2, n_qubits=4, cell="6vqc", seed=3)
    assert a.readout_weights.shape == (2, a.readout_vqc.num_weights) and a.readout_vqc.num_qubits == 2
    b = QLSTM(2, 2, n_qubits=4, cell="6vqc", seed=4)
    x = torch.randn(2, 3, 2)
    assert not torch.allclose(a(x)[0], b(x)[0])
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(a(x)[0], b(x)[0])


def test_small_normal_init_has_std_one_hundredth():
    model = QLSTM(1, 5, n_qubits=6, layers=4, cell="6vqc", init="small-normal", seed=0)
    w = torch.cat((model.vqc_weights.flatten(), model.readout_weights.flatten())).double()
    assert w.numel() == 4 * 72 + 2 * 60
    assert abs(w.std().item() - 0.01) < 0.0015 and abs(w.mean().item()) < 0.002
    uniform = QLSTM(1, 5, n_qubits=6, layers=4, seed=0).vqc_weights
    assert uniform.min() >= 0 and uniform.max() < 2 * np.pi and uniform.std() > 1


def test_default_cell_and_init_are_the_previous_model():
    x = torch.randn(2, 4, 1)
    for mode, opts in (("exact", None), ("cut-exact", {"max_qubits": 3})):
        default = QLSTM(1, 3, n_qubits=4, seed=11, mode=mode, engine_options=opts)
        named = QLSTM(1, 3, n_qubits=4, seed=11, mode=mode, engine_options=opts, cell="4vqc", init="uniform")
        assert default.state_dict().keys() == named.state_dict().keys()
        assert "readout_weights" not in default.state_dict()
        for k, v in default.state_dict().items():
            assert torch.equal(v, named.state_dict()[k]), k
        assert torch.equal(default(x)[0], named(x)[0])
        other = QLSTM(1, 3, n_qubits=4, seed=11, mode=mode, engine_options=opts, init="small-normal")
        assert not torch.equal(default(x)[0], other(x)[0])  # init is not ignored


def test_regressor_reads_vqc6_output_for_6vqc():
    from dqlstm.assemble import build_model

    x = torch.randn(3, 4, 1)
    cfg = {
        "kind": "qlstm",
        "hidden_size": 3,
        "n_qubits": 4,
        "dressed": False,
        "cell": "6vqc",
        "init": "small-normal",
    }
    model = build_model(cfg, 1, 1, seed=0)
    assert model.core.cell == "6vqc" and model.core.init == "small-normal"
    outputs, (h_n, _) = model.core(x)
    torch.testing.assert_close(model(x), model.head(outputs[:, -1]))
    assert not torch.allclose(model(x), model.head(h_n))
    four = build_model({"kind": "qlstm", "hidden_size": 3, "n_qubits": 4}, 1, 1, seed=0)
    torch.testing.assert_close(four(x), four.head(four.core(x)[1][0]))


def test_6vqc_impossible_sizes_are_named():
    from dqlstm.assemble import build_core

    with pytest.raises(ValueError, match=r"input_size \+ hidden_size = 6 must equal n_qubits = 4"):
        build_core({"kind": "qlstm", "hidden_size": 5, "n_qubits": 4, "dressed": False, "cell": "6vqc"}, 1)
    with pytest.raises(ValueError, match="hidden_size = 5 must be at most n_qubits = 4"):
        build_core({"kind": "qlstm", "hidden_size": 5, "n_qubits": 4, "cell": "6vqc"}, 1)
    with pytest.raises(ValueError, match="hidden_size = 4 qubits wide"):
        QLSTM(2, 4, n_qubits=6, ansatz="modular", module_size=3, cell="6vqc")
    with pytest.raises(ValueError, match="unknown cell"):
        QLSTM(1, 2, cell="5vqc")
    with pytest.raises(ValueError, match="unknown init"):
        QLSTM(1, 2, init="zeros")
