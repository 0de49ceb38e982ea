"""Data: NARMA against a plain-Python recurrence, oscillator against physics and
other integrators, scaling, windows, split and seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp, trapezoid

from dqlstm.data import (
    MinMaxScaler,
    damped_oscillator,
    load_dataset,
    narma_input,
    narma_series,
    num_train_windows,
    oscillator_series,
    prepare_series,
    sliding_windows,
)


def reference_narma(n: int, u: list[float]) -> list[float]:
    """NARMA-n written as y(t) from y(t-1), ..., y(t-n) with plain lists."""
    y = [0.0] * len(u)
    for t in range(n, len(u)):
        past = sum(y[t - k] for k in range(1, n + 1))
        y[t] = 0.3 * y[t - 1] + 0.05 * y[t - 1] * past + 1.5 * u[t - n] * u[t - 1] + 0.1
    return y


def reference_sine_input(T: int) -> list[float]:
    return [
        0.1
        * (
            math.sin(2 * math.pi * 2.11 * t / T)
            * math.sin(2 * math.pi * 3.73 * t / T)
            * math.sin(2 * math.pi * 4.11 * t / T)
            + 1
        )
        for t in range(T)
    ]


# --- NARMA -------------------------------------------------------------------


def test_sine_input_matches_formula():
    np.testing.assert_allclose(narma_input(300, "sine"), reference_sine_input(300), rtol=0, atol=1e-15)


@pytest.mark.parametrize("order", [1, 2, 5, 10])
def test_narma_sine_matches_reference_recurrence(order):
    u = reference_sine_input(300)
    np.testing.assert_allclose(narma_series(order, 300), reference_narma(order, u), rtol=1e-13, atol=1e-15)


def test_narma_first_driven_value():
    u = narma_input(300)
    y = narma_series(5, 300)
    assert np.all(y[:5] == 0.0)
    assert y[5] == pytest.approx(1.5 * u[0] * u[4] + 0.1, abs=1e-15)


def test_narma_random_input_matches_reference_and_is_seeded():
    u = narma_input(300, "random", seed=7)
    assert u.min() >= 0.0 and u.max() <= 0.5
    np.testing.assert_array_equal(u, narma_input(300, "random", seed=7))
    assert not np.array_equal(u, narma_input(300, "random", seed=8))
    y = narma_series(10, 300, input="random", seed=7)
    np.testing.assert_allclose(y, reference_narma(10, list(u)), rtol=1e-13, atol=1e-15)


def test_narma_divergence_and_bad_arguments_raise():
    with pytest.raises(ValueError, match="diverged"):
        narma_series(5, 300, u=np.full(300, 5.0))
    with pytest.raises(ValueError, match="order"):
        narma_series(0, 300)
    with pytest.raises(ValueError, match="length"):
        narma_series(10, 10)
    with pytest.raises(ValueError, match="unknown NARMA input"):
        narma_input(300, "gaussian")


# --- oscillator --------------------------------------------------------------


def test_oscillator_grid_and_initial_conditions():
    sol = damped_oscillator()
    assert sol.t.shape == (240,) and sol.t[0] == 0.0 and sol.t[-1] == 20.0
    assert sol.theta[0] == 0.0 and sol.omega[0] == 3.0
    np.testing.assert_array_equal(oscillator_series(), sol.omega)


def test_oscillator_matches_other_integrator():
    g, b = 9.81, 0.15
    t = np.linspace(0, 20, 240)
    ref = solve_ivp(
        lambda _t, s: [s[1], -b * s[1] - g * np.sin(s[0])],
        (0, 20),
        [0.0, 3.0],
        method="Radau",
        t_eval=t,
        rtol=1e-11,
        atol=1e-12,
    )
    np.testing.assert_allclose(oscillator_series(), ref.y[1], atol=1e-6)


def test_oscillator_energy_decays_by_the_damping_work():
    # E = omega^2/2 + g (1 - cos theta); dE/dt = -(b/m) omega^2.
    sol = damped_oscillator(num_points=4001)
    energy = 0.5 * sol.omega**2 + 9.81 * (1 - np.cos(sol.theta))
    assert energy[0] == pytest.approx(4.5)
    assert np.all(np.diff(energy) <= 1e-9)
    dissipated = 0.15 * trapezoid(sol.omega**2, sol.t)
    assert energy[0] - energy[-1] == pytest.approx(dissipated, rel=1e-4)
    assert energy[-1] < 0.1 * energy[0]  # 20 s at b=0.15 removes most of it


# --- scaling, windows, split -------------------------------------------------


def test_minmax_scaler_maps_to_unit_interval_and_inverts():
    values = np.array([3.0, -1.0, 7.0, 2.5])
    scaler = MinMaxScaler.fit(values)
    scaled = scaler.transform(values)
    assert scaled.min() == -1.0 and scaled.max() == 1.0
    np.testing.assert_allclose(scaled, (values + 1) / 8 * 2 - 1)
    np.testing.assert_allclose(scaler.inverse_transform(scaled), values)
    with pytest.raises(ValueError, match="constant"):
        MinMaxScaler.fit(np.ones(5))


def test_sliding_windows_layout():
    s = np.arange(10.0)
    x, y = sliding_windows(s, 4)
    assert x.shape == (6, 4, 1) and y.shape == (6, 1)
    for i in range(6):
        np.testing.assert_array_equal(x[i, :, 0], s[i : i + 4])
        assert y[i, 0] == s[i + 4]


@pytest.mark.parametrize(
    ("cfg", "n_train", "n_test"),
    [
        ({"task": "narma5"}, 198, 98),  # "one NARMA-5 epoch (198 windows)"
        ({"task": "narma10"}, 198, 98),
        ({"task": "oscillator"}, 158, 78),
        ({"task": "narma5", "window": 8}, 195, 97),
    ],
)
def test_window_counts(cfg, n_train, n_test):
    data = load_dataset(cfg)
    assert (data.num_train, data.num_test) == (n_train, n_test)
    assert data.x_train.shape == (n_train, cfg.get("window", 4), 1)
    assert data.y_test.shape == (n_test, 1)


def test_split_is_chronological_and_scaled_on_whole_series():
    data = load_dataset({"task": "narma5", "scale": "all"})
    assert data.scaled.min() == -1.0 and data.scaled.max() == 1.0
    np.testing.assert_allclose(data.scaler.inverse_transform(data.scaled), narma_series(5, 300), atol=1e-15)
    targets = np.concatenate([data.y_train[:, 0], data.y_test[:, 0]])
    np.testing.assert_array_equal(targets, data.scaled[4:])
    train_idx, test_idx = data.target_indices()
    np.testing.assert_array_equal(data.scaled[train_idx], data.y_train[:, 0])
    np.testing.assert_array_equal(data.scaled[test_idx], data.y_test[:, 0])
    # The first test input window starts right after the first training one ends.
    np.testing.assert_array_equal(data.x_test[0, :, 0], data.scaled[198:202])


def test_train_only_scaling_uses_no_test_values():
    series = np.concatenate([np.linspace(0, 1, 80), np.linspace(1, 3, 20)])
    data = prepare_series(series, window=4, train_fraction=0.5, scale="train")
    n_seen = data.num_train + 4
    assert data.scaler.data_min == series[:n_seen].min()
    assert data.scaler.data_max == series[:n_seen].max()
    assert data.y_test.max() > 1.0  # test values beyond the training range stay unclipped


def test_num_train_windows_is_floor():
    assert num_train_windows(296, 0.67) == 198
    assert num_train_windows(100, 0.5) == 50
    with pytest.raises(ValueError, match="train_fraction"):
        num_train_windows(100, 1.0)


def test_bad_series_raise_clear_errors():
    s = np.linspace(0, 1, 50)
    with pytest.raises(ValueError, match="window of 50 points is too long for a series of 50"):
        prepare_series(s, window=50)
    bad = s.copy()
    bad[7] = np.nan
    with pytest.raises(ValueError, match=r"non-finite.*index 7"):
        prepare_series(bad)
    bad[7] = np.inf
    with pytest.raises(ValueError, match="NaN/inf"):
        sliding_windows(bad, 4)
    with pytest.raises(ValueError, match="empty train"):
        prepare_series(s, window=4, train_fraction=0.01)
    with pytest.raises(ValueError, match="unknown scale"):
        prepare_series(s, scale="test")
    with pytest.raises(ValueError, match="window must be >= 1"):
        sliding_windows(s, 0)


def test_dataset_is_reproducible_with_seed():
    cfg = {"task": "narma", "order": 10, "input": "random", "seed": 3}
    a, b = load_dataset(cfg), load_dataset(cfg)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    c = load_dataset({**cfg, "seed": 4})
    assert not np.array_equal(a.raw, c.raw)
    # The sine input ignores the seed.
    np.testing.assert_array_equal(
        load_dataset({"task": "narma5", "seed": 1}).raw, load_dataset({"task": "narma5", "seed": 2}).raw
    )


# --- training-only scaling, warm-up, the NARMA input as a feature, validation ----


def test_default_scaling_is_fitted_on_the_training_part():
    data = load_dataset({"task": "narma10", "input": "random", "seed": 11, "warmup": 20})
    n_seen = data.num_train + data.window
    assert data.scaler.data_min == data.raw[:n_seen].min()
    assert data.scaler.data_max == data.raw[:n_seen].max()
    assert data.raw[n_seen:].max() > data.scaler.data_max  # this seed's test part leaves the training range
    assert data.y_test.max() > 1.0
    everything = load_dataset(
        {"task": "narma10", "input": "random", "seed": 11, "warmup": 20, "scale": "all"}
    )
    assert everything.scaler.data_max == data.raw.max()


@pytest.mark.parametrize("with_input", [False, True])
def test_changing_test_values_changes_no_scaler_and_no_training_array(with_input):
    rng = np.random.default_rng(0)
    y, u = rng.normal(size=120), rng.uniform(size=120)
    kwargs = {"window": 5, "train_fraction": 0.6, "warmup": 7}
    base = prepare_series(y, u=u if with_input else None, **kwargs)
    # Series index of the first value no training window or target touches: y after the last training
    # target, u after the last training window's input (u at the last training target time is unseen too).
    first_y = kwargs["warmup"] + base.num_train + base.window
    y2, u2 = y.copy(), u.copy()
    y2[first_y:] = 50 * rng.normal(size=y2.size - first_y)
    u2[first_y - 1 :] = 50 + rng.uniform(size=u2.size - first_y + 1)
    changed = prepare_series(y2, u=u2 if with_input else None, **kwargs)
    assert changed.scaler == base.scaler and changed.u_scaler == base.u_scaler
    np.testing.assert_array_equal(changed.x_train, base.x_train)
    np.testing.assert_array_equal(changed.y_train, base.y_train)
    assert not np.array_equal(changed.y_test, base.y_test)
    if with_input:
        assert not np.array_equal(changed.x_test[..., 1], base.x_test[..., 1])
    # One more training-range value does move the scaler: the test above can fail.
    y3 = y.copy()
    y3[first_y - 1] = 50.0
    assert prepare_series(y3, u=u if with_input else None, **kwargs).scaler != base.scaler


def test_warmup_drops_the_leading_points():
    full = narma_series(5, 300)
    data = load_dataset({"task": "narma5", "warmup": 5})
    np.testing.assert_array_equal(data.raw, full[5:])
    assert data.raw[0] != 0.0 and data.warmup == 5
    assert data.num_train + data.num_test == 295 - 4
    np.testing.assert_array_equal(data.scaler.inverse_transform(data.x_train[0, :, 0]), full[5:9])
    # Target indices refer to the kept series.
    train_idx, _ = data.target_indices()
    np.testing.assert_allclose(data.scaler.inverse_transform(data.y_train[:, 0]), data.raw[train_idx])
    with pytest.raises(ValueError, match=r"warmup=295 leaves 5 of 300 points.*at least window \+ 2 = 6"):
        load_dataset({"task": "narma5", "warmup": 295})
    with pytest.raises(ValueError, match="warmup must be >= 0"):
        prepare_series(full, warmup=-1)


def test_input_feature_is_the_scaled_input_at_the_window_times():
    cfg = {"task": "narma5", "input": "random", "seed": 3, "features": "y+u", "window": 6, "warmup": 50}
    data = load_dataset(cfg)
    u = narma_input(300, "random", seed=3)[50:]
    assert data.num_features == 2 and data.x_train.shape == (data.num_train, 6, 2)
    np.testing.assert_array_equal(data.u_raw, u)
    fit = MinMaxScaler.fit(u[: data.num_train + 6 - 1])  # the inputs the training windows hold
    assert data.u_scaler == fit
    x = np.concatenate([data.x_train, data.x_test])
    for i in (0, 1, data.num_train - 1, data.num_train, x.shape[0] - 1):
        np.testing.assert_allclose(x[i, :, 1], fit.transform(u[i : i + 6]), rtol=0, atol=1e-15)
        np.testing.assert_array_equal(x[i, :, 0], data.scaled[i : i + 6])
    assert load_dataset({**cfg, "features": "y"}).num_features == 1


@pytest.mark.parametrize(("order", "window"), [(5, 5), (5, 8), (10, 10)])
def test_each_window_holds_what_narma_needs_for_its_target(order, window):
    # y(t+1) = 0.3 y(t) + 0.05 y(t) sum_{i<n} y(t-i) + 1.5 u(t-n+1) u(t) + 0.1 from the window alone.
    data = load_dataset(
        {"task": "narma", "order": order, "input": "random", "seed": 2, "features": "y+u", "window": window,
         "warmup": 30}
    )  # fmt: skip
    x = np.concatenate([data.x_train, data.x_test])
    y = data.scaler.inverse_transform(x[:, :, 0])
    u = data.u_scaler.inverse_transform(x[:, :, 1])
    predicted = (
        0.3 * y[:, -1] + 0.05 * y[:, -1] * y[:, -order:].sum(axis=1) + 1.5 * u[:, -order] * u[:, -1] + 0.1
    )
    target = data.scaler.inverse_transform(np.concatenate([data.y_train, data.y_test])[:, 0])
    np.testing.assert_allclose(predicted, target, rtol=1e-12, atol=1e-14)


def test_input_feature_errors_name_the_problem():
    with pytest.raises(ValueError, match="needs a NARMA task.*'oscillator'"):
        load_dataset({"task": "oscillator", "features": "y+u"})
    with pytest.raises(ValueError, match=r"window >= the NARMA order 10 .*got window = 4"):
        load_dataset({"task": "narma10", "features": "y+u"})
    with pytest.raises(ValueError, match="unknown data.features"):
        load_dataset({"task": "narma5", "features": "u"})
    with pytest.raises(ValueError, match="input u has 10 points but the series has 50"):
        prepare_series(np.linspace(0, 1, 50), u=np.ones(10))


def test_validation_split_is_the_last_part_of_the_training_windows():
    data = load_dataset({"task": "narma5", "validation_fraction": 0.25})
    split = data.validation_split()
    assert data.num_validation() == 49  # floor(0.25 * 198)
    assert split.x_fit.shape[0] == 149 and split.x_val.shape[0] == 49
    np.testing.assert_array_equal(np.concatenate([split.x_fit, split.x_val]), data.x_train)
    np.testing.assert_array_equal(np.concatenate([split.y_fit, split.y_val]), data.y_train)
    assert load_dataset({"task": "narma5"}).num_validation() == 39  # default 0.2
    with pytest.raises(ValueError, match="validation_fraction=0.0 .*empty validation part"):
        load_dataset({"task": "narma5", "validation_fraction": 0.0}).validation_split()
    with pytest.raises(ValueError, match="validation_fraction must be in"):
        load_dataset({"task": "narma5", "validation_fraction": 1.0})


@pytest.mark.parametrize("kind", ["lstm", "qlstm"])
def test_models_read_the_input_feature(kind):
    torch = pytest.importorskip("torch")
    from dqlstm.assemble import build_model

    y = narma_series(5, 120, input="random", seed=0)
    u = narma_input(120, "random", seed=0)
    other_u = narma_input(120, "random", seed=1)
    kwargs = {"window": 5, "warmup": 20}
    a = prepare_series(y, u=u, **kwargs)
    b = prepare_series(y, u=other_u, **kwargs)
    np.testing.assert_array_equal(a.x_train[..., 0], b.x_train[..., 0])
    model = build_model({"kind": kind, "hidden_size": 2, "n_qubits": 4}, input_size=a.num_features, output_size=1,
                        seed=0)  # fmt: skip
    with torch.no_grad():
        xa = torch.as_tensor(a.x_train[:4], dtype=torch.float32)
        xb = torch.as_tensor(b.x_train[:4], dtype=torch.float32)
        out_a, again, out_b = model(xa), model(xa), model(xb)
    torch.testing.assert_close(out_a, again)
    assert (out_a - out_b).abs().max() > 1e-4


@pytest.mark.parametrize("task", ["narma5", "narma10", "oscillator"])
def test_shipped_series_scale_the_same_either_way(task):
    # Their extremes (NARMA's warm-up zeros, the oscillator's first swing) lie in the training part, so
    # results run with scale="all" stay valid under the new default.
    assert (
        load_dataset({"task": task, "scale": "train"}).scaler
        == load_dataset({"task": task, "scale": "all"}).scaler
    )
