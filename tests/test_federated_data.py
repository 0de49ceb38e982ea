"""SUSY CSV loader, SUSY-like generator, standardisation, AUC, classifier head."""

from __future__ import annotations

import gzip
import itertools

import numpy as np
import pytest
import torch

from dqlstm.data.susy import (
    GENERATED_FEATURES,
    NUM_FEATURES,
    SUSY_FEATURES,
    Standardizer,
    TabularData,
    generate_susy_like,
    load_susy_csv,
    split_standardize,
)
from dqlstm.federated.metrics import accuracy, roc_auc
from dqlstm.assemble import build_classifier
from dqlstm.models.classifier import SequenceClassifier
from dqlstm.models.regressor import SequenceRegressor, count_parameters
from dqlstm.models.lstm import LSTM


def _rows(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.integers(0, 2, n).astype(float), rng.normal(size=(n, NUM_FEATURES))])


def _write_csv(path, arr: np.ndarray) -> None:
    path.write_text("\n".join(",".join(f"{v:.18e}" for v in row) for row in arr) + "\n")


# --- CSV loader ----------------------------------------------------------------


def test_csv_round_trip_plain_and_gz(tmp_path):
    arr = _rows(7)
    plain = tmp_path / "SUSY.csv"
    _write_csv(plain, arr)
    data = load_susy_csv(plain)
    np.testing.assert_array_equal(data.y, arr[:, 0])
    np.testing.assert_allclose(data.x, arr[:, 1:], rtol=1e-15)
    assert data.feature_names == SUSY_FEATURES and data.num_events == 7
    gz = tmp_path / "SUSY.csv.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write(plain.read_text())
    np.testing.assert_array_equal(load_susy_csv(gz).x, data.x)
    assert load_susy_csv(plain, max_rows=3).num_events == 3


def test_csv_wrong_column_count_names_row(tmp_path):
    arr = _rows(4)
    path = tmp_path / "bad.csv"
    lines = [",".join(str(v) for v in row) for row in arr]
    lines[2] = ",".join(lines[2].split(",")[:-1])  # row 3 lost a feature
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"row 3 has 18 columns; the SUSY layout has 19"):
        load_susy_csv(path)


def test_csv_non_numeric_cell_names_row_and_column(tmp_path):
    lines = [",".join(str(v) for v in row) for row in _rows(5)]
    cells = lines[3].split(",")
    cells[4] = "abc"  # column 5 = feature lepton2_pt
    lines[3] = ",".join(cells)
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines))
    with pytest.raises(ValueError, match=r"row 4, column 5 \(feature lepton2_pt\) is not a number: 'abc'"):
        load_susy_csv(path)


def test_csv_header_label_and_empty_errors(tmp_path):
    header = tmp_path / "header.csv"
    header.write_text("label," + ",".join(SUSY_FEATURES) + "\n" + ",".join(["1"] * 19) + "\n")
    with pytest.raises(ValueError, match=r"row 1, column 1 \(label\) is not a number"):
        load_susy_csv(header)
    label = tmp_path / "label.csv"
    label.write_text(",".join(["2"] + ["0.5"] * 18) + "\n")
    with pytest.raises(ValueError, match=r"row 1, column 1 \(label\) must be 0 or 1"):
        load_susy_csv(label)
    nan = tmp_path / "nan.csv"
    nan.write_text(",".join(["1"] + ["0.5"] * 17 + ["nan"]) + "\n")
    with pytest.raises(ValueError, match=r"column 19 .* not finite"):
        load_susy_csv(nan)
    empty = tmp_path / "empty.csv"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="no events"):
        load_susy_csv(empty)
    with pytest.raises(FileNotFoundError, match="SUSY CSV not found"):
        load_susy_csv(tmp_path / "missing.csv")


# --- generator and standardisation ---------------------------------------------


def test_generator_is_seeded_balanced_and_finite():
    a = generate_susy_like(401, seed=3)
    b = generate_susy_like(401, seed=3)
    c = generate_susy_like(401, seed=4)
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)
    assert a.x.shape == (401, NUM_FEATURES) and a.feature_names == GENERATED_FEATURES
    assert int(a.y.sum()) == 200 and np.isfinite(a.x).all()
    assert 0 < a.y[:50].mean() < 1  # shuffled, not signal-then-background


def test_generator_kinematics():
    d = generate_susy_like(2000, seed=1)
    col = {n: d.x[:, i] for i, n in enumerate(d.feature_names)}
    assert (col["lepton1_pt"] >= col["lepton2_pt"]).all()  # ordered by pT
    assert (np.abs(col["lepton1_phi"]) <= np.pi).all() and (col["dphi_ll"] <= np.pi + 1e-12).all()
    assert (col["met_rel"] <= col["met"] + 1e-9).all() and (col["mt2"] >= 0).all()
    # W -> l nu: dilepton mass of background is bounded by kinematics only loosely; signal has
    # heavy invisible neutralinos, so missing energy separates the classes.
    assert roc_auc(col["met"], d.y) > 0.6 and roc_auc(col["sqrt_s_min"], d.y) > 0.6


def test_split_standardize_fits_on_train_only():
    d = generate_susy_like(200, seed=0)
    s = split_standardize(d, 0.25)
    assert (s.num_train, s.num_test) == (150, 50)
    np.testing.assert_allclose(s.x_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(s.x_train.std(axis=0), 1, rtol=1e-12)
    np.testing.assert_allclose(s.x_test, (d.x[150:] - d.x[:150].mean(0)) / d.x[:150].std(0), rtol=1e-12)
    with pytest.raises(ValueError, match="test_fraction must be in"):
        split_standardize(d, 1.0)
    with pytest.raises(ValueError, match="feature b is constant"):
        Standardizer.fit(np.c_[np.arange(4.0), np.ones(4)], ("a", "b"))
    with pytest.raises(ValueError, match="x must be"):
        TabularData("t", np.zeros((3, 2)), np.zeros(4), ("a", "b"))


# --- AUC and accuracy ------------------------------------------------------------


def _auc_brute(scores: np.ndarray, labels: np.ndarray) -> float:
    pos, neg = scores[labels == 1], scores[labels == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (pos.size * neg.size)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_matches_pair_count_with_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 120).astype(float)
    scores = np.round(rng.normal(size=120) + labels, 1)  # rounding makes many ties
    assert len(np.unique(scores)) < 120
    assert roc_auc(scores, labels) == pytest.approx(_auc_brute(scores, labels), abs=1e-12)


def test_auc_edge_cases_and_accuracy():
    y = np.array([0, 0, 1, 1.0])
    assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), y) == 1.0
    assert roc_auc(np.array([0.9, 0.8, 0.2, 0.1]), y) == 0.0
    assert roc_auc(np.zeros(4), y) == 0.5
    with pytest.raises(ValueError, match="needs both classes"):
        roc_auc(np.arange(3.0), np.ones(3))
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        roc_auc(np.arange(3.0), np.array([0, 1, 2.0]))
    assert accuracy(np.array([-1.0, 2.0, 0.5, -0.1]), y) == 0.5


# --- classifier head ----------------------------------------------------------------


def test_classifier_reads_events_as_sequences():
    torch.manual_seed(0)
    reg = SequenceRegressor(LSTM(3, 5), 1)
    clf = SequenceClassifier(reg, 18, 6)
    x = torch.randn(7, 18)
    out = clf(x)
    assert out.shape == (7, 1)
    # Same as feeding the regressor the (7, 6, 3) sequence: step t = features 3t..3t+2.
    seq = torch.stack([x[:, 3 * t : 3 * t + 3] for t in range(6)], dim=1)
    torch.testing.assert_close(out, reg(seq), rtol=0, atol=0)
    # LSTM: 4 gates x hidden x (input + hidden) weights + 2 x 4 x hidden biases, head hidden + 1.
    assert count_parameters(clf) == 4 * 5 * (3 + 5) + 2 * 4 * 5 + 5 + 1
    with pytest.raises(ValueError, match=r"expects \(batch, 18\)"):
        clf(torch.randn(7, 6, 3))
    with pytest.raises(ValueError, match="cannot be read as 4 equal time steps"):
        SequenceClassifier(reg, 18, 4)
    with pytest.raises(ValueError, match="core takes 3 feature"):
        SequenceClassifier(reg, 18, 3)


def test_build_classifier_both_kinds():
    lstm = build_classifier({"kind": "lstm", "hidden_size": 4}, 18, 6, seed=0)
    q = build_classifier({"kind": "qlstm", "hidden_size": 3, "n_qubits": 3, "layers": 1}, 18, 9, seed=0)
    assert type(q.regressor.core).__name__ == "QLSTM" and q.regressor.input_size == 2
    assert lstm(torch.randn(2, 18)).shape == (2, 1)
    x = torch.randn(2, 18, dtype=next(q.parameters()).dtype)
    assert q(x).shape == (2, 1)
    q2 = build_classifier({"kind": "qlstm", "hidden_size": 3, "n_qubits": 3, "layers": 1}, 18, 9, seed=0)
    torch.testing.assert_close(q(x), q2(x), rtol=0, atol=0)  # seeded
