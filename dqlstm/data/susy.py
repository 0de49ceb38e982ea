"""SUSY-style tabular classification data: the UCI CSV layout and a toy generator.

The UCI SUSY file (Baldi, Sadowski, Whiteson 2014) has no header; each row is
``label, f_1, ..., f_18`` with label 1 = signal (chargino pair -> W W + 2
neutralinos -> l l + missing energy) and 0 = background (W W -> l nu l nu).
:func:`load_susy_csv` reads that layout when a user has the file locally.

:func:`generate_susy_like` is a small, seeded toy Monte Carlo in the same
layout, shipped for tests and demos (nothing is downloaded): both classes are
real two-body decay chains with Lorentz boosts, so the classes differ only
through kinematics (heavier parents, massive invisible particles in signal).
Its first 8 columns are the SUSY low-level features; its last 10 are derived
quantities in the spirit of the SUSY high-level ones (see ``GENERATED_FEATURES``).
"""

from __future__ import annotations

import csv
import gzip
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dqlstm.choices import SUSY_FEATURES

NUM_FEATURES = SUSY_FEATURES

# The UCI SUSY columns after the label.
SUSY_FEATURES = (
    "lepton1_pt", "lepton1_eta", "lepton1_phi", "lepton2_pt", "lepton2_eta", "lepton2_phi",
    "met", "met_phi", "met_rel", "axial_met", "m_r", "m_tr_2", "r", "mt2", "s_r",
    "m_delta_r", "dphi_r_b", "cos_theta_r1",
)  # fmt: skip

# The generator's columns: the same 8 low-level ones, then its own derived ones.
GENERATED_FEATURES = SUSY_FEATURES[:8] + (
    "met_rel",  # MET, or MET * sin(dphi) if a lepton is within pi/2 of it
    "axial_met",  # -MET projected on the dilepton transverse direction
    "m_r",  # razor mass sqrt((E1 + E2)^2 - (pz1 + pz2)^2)
    "m_tr",  # razor transverse mass
    "r",  # m_tr / m_r
    "mt2",  # stransverse mass (grid minimisation, massless invisibles)
    "sqrt_s_min",  # minimal partonic energy sqrt(m_vis^2 + pt_vis^2) + MET
    "m_ll",  # dilepton invariant mass
    "dphi_ll",  # |phi_1 - phi_2| wrapped to [0, pi]
    "cos_theta_ll",  # |tanh(delta eta / 2)|, boost-invariant production angle
)

M_W = 80.4  # GeV


@dataclass(frozen=True)
class TabularData:
    """Events ``x (N, num_features)`` with binary labels ``y (N,)``, both float64."""

    name: str
    x: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.x.ndim != 2 or self.y.shape != (self.x.shape[0],):
            raise ValueError(f"{self.name}: x must be (N, F) and y (N,), got {self.x.shape} and {self.y.shape}")
        if len(self.feature_names) != self.x.shape[1]:
            raise ValueError(f"{self.name}: {len(self.feature_names)} feature names for {self.x.shape[1]} columns")

    @property
    def num_events(self) -> int:
        return int(self.x.shape[0])


@dataclass(frozen=True)
class Standardizer:
    """Per-feature ``(x - mean) / std``, fitted on the training events only."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, names: tuple[str, ...] | None = None) -> "Standardizer":
        if x.shape[0] < 2:
            raise ValueError(f"cannot standardise on {x.shape[0]} event(s); need at least 2")
        mean, std = x.mean(axis=0), x.std(axis=0)
        flat = np.flatnonzero(std == 0)
        if flat.size:
            col = int(flat[0])
            label = names[col] if names else f"column {col}"
            raise ValueError(f"feature {label} is constant on the training events; cannot standardise it")
        return cls(mean, std)

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.std


@dataclass(frozen=True)
class TabularSplit:
    """Standardised train/test events (scaler fitted on train)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    scaler: Standardizer
    feature_names: tuple[str, ...]

    @property
    def num_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def num_test(self) -> int:
        return int(self.x_test.shape[0])


def split_standardize(data: TabularData, test_fraction: float) -> TabularSplit:
    """First ``1 - test_fraction`` of the events train, the rest test; standardise on train."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n_test = int(round(test_fraction * data.num_events))
    n_train = data.num_events - n_test
    if n_test == 0 or n_train < 2:
        raise ValueError(
            f"{data.name}: {data.num_events} events with test_fraction={test_fraction} give "
            f"{n_train} train / {n_test} test events; need >= 2 train and >= 1 test"
        )
    scaler = Standardizer.fit(data.x[:n_train], data.feature_names)
    return TabularSplit(
        name=data.name,
        x_train=scaler.transform(data.x[:n_train]),
        y_train=data.y[:n_train].copy(),
        x_test=scaler.transform(data.x[n_train:]),
        y_test=data.y[n_train:].copy(),
        scaler=scaler,
        feature_names=data.feature_names,
    )


# --- the UCI CSV layout --------------------------------------------------------


def load_susy_csv(path: str | Path, max_rows: int | None = None) -> TabularData:
    """Read ``label, 18 features`` rows (no header; ``.gz`` is decompressed).

    Errors name the file, the 1-based row and column: wrong column count,
    non-numeric or non-finite cells, labels other than 0/1, an empty file.
    ``max_rows`` reads only the first rows (the full file has 5M).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"SUSY CSV not found: {p}")
    if max_rows is not None and max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    opener = gzip.open if p.suffix == ".gz" else open
    rows: list[list[float]] = []
    with opener(p, "rt", newline="") as fh:
        for row_no, row in enumerate(csv.reader(fh), start=1):
            if max_rows is not None and len(rows) >= max_rows:
                break
            if not row or all(not c.strip() for c in row):
                continue  # blank line (e.g. trailing newline)
            if len(row) != NUM_FEATURES + 1:
                raise ValueError(
                    f"{p}: row {row_no} has {len(row)} columns; the SUSY layout has "
                    f"{NUM_FEATURES + 1} (label + {NUM_FEATURES} features, no header)"
                )
            values = []
            for col_no, cell in enumerate(row, start=1):
                what = "label" if col_no == 1 else f"feature {SUSY_FEATURES[col_no - 2]}"
                try:
                    v = float(cell)
                except ValueError:
                    raise ValueError(
                        f"{p}: row {row_no}, column {col_no} ({what}) is not a number: {cell.strip()!r}"
                    ) from None
                if not math.isfinite(v):
                    raise ValueError(f"{p}: row {row_no}, column {col_no} ({what}) is not finite: {cell.strip()!r}")
                values.append(v)
            if values[0] not in (0.0, 1.0):
                raise ValueError(f"{p}: row {row_no}, column 1 (label) must be 0 or 1, got {row[0].strip()!r}")
            rows.append(values)
    if not rows:
        raise ValueError(f"{p}: no events (empty file)")
    arr = np.asarray(rows, dtype=np.float64)
    return TabularData(f"susy-csv:{p.name}", arr[:, 1:], arr[:, 0], SUSY_FEATURES)


# --- toy Monte Carlo -----------------------------------------------------------


def _boost(p: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Lorentz-boost four-vectors ``p (N, 4) = (E, px, py, pz)`` by velocities ``beta (N, 3)``."""
    b2 = np.sum(beta**2, axis=1)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = np.sum(beta * p[:, 1:], axis=1)
    # gamma^2 / (1 + gamma) = (gamma - 1) / b2, finite at b2 = 0
    g2 = gamma**2 / (1.0 + gamma)
    e = gamma * (p[:, 0] + bp)
    vec = p[:, 1:] + (g2 * bp + gamma * p[:, 0])[:, None] * beta
    return np.column_stack([e, vec])


def _isotropic(rng: np.random.Generator, n: int) -> np.ndarray:
    cos = rng.uniform(-1.0, 1.0, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    sin = np.sqrt(1.0 - cos**2)
    return np.column_stack([sin * np.cos(phi), sin * np.sin(phi), cos])


def _two_body(
    rng: np.random.Generator, parent: np.ndarray, m_parent: float, m1: float, m2: float
) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic decay ``parent -> 1 + 2`` (rest frame), boosted to the parent's frame of reference."""
    n = parent.shape[0]
    pstar = math.sqrt((m_parent**2 - (m1 + m2) ** 2) * (m_parent**2 - (m1 - m2) ** 2)) / (2 * m_parent)
    d = _isotropic(rng, n) * pstar
    d1 = np.column_stack([np.full(n, math.sqrt(pstar**2 + m1**2)), d])
    d2 = np.column_stack([np.full(n, math.sqrt(pstar**2 + m2**2)), -d])
    beta = parent[:, 1:] / parent[:, :1]
    return _boost(d1, beta), _boost(d2, beta)


def _pair(rng: np.random.Generator, n: int, mass: float, excess: float) -> tuple[np.ndarray, np.ndarray]:
    """Pair production of two ``mass`` particles: sqrt(s) above threshold, system pT and rapidity."""
    sqrt_s = 2 * mass + rng.exponential(excess, n)
    p = np.sqrt(sqrt_s**2 / 4 - mass**2)
    d = _isotropic(rng, n) * p[:, None]
    e = sqrt_s / 2
    a = np.column_stack([e, d])
    b = np.column_stack([e, -d])
    # The system recoils against initial-state radiation and moves along the beam.
    pt_sys = rng.exponential(15.0, n)
    phi_sys = rng.uniform(-np.pi, np.pi, n)
    mt_sys = np.sqrt(sqrt_s**2 + pt_sys**2)
    y_sys = rng.normal(0.0, 1.0, n)
    sys_p = np.column_stack(
        [mt_sys * np.cosh(y_sys), pt_sys * np.cos(phi_sys), pt_sys * np.sin(phi_sys), mt_sys * np.sinh(y_sys)]
    )
    beta = sys_p[:, 1:] / sys_p[:, :1]
    return _boost(a, beta), _boost(b, beta)


def _wrap(phi: np.ndarray) -> np.ndarray:
    return (phi + np.pi) % (2 * np.pi) - np.pi


def _mt2_grid(l1: np.ndarray, l2: np.ndarray, met: np.ndarray, steps: int = 21) -> np.ndarray:
    """min over splits ``q1 + q2 = MET`` of max(mT(l1, q1), mT(l2, q2)), massless, on a grid."""
    scale = np.linalg.norm(met, axis=1) + 1e-9
    a = np.linspace(-1.5, 2.5, steps)
    u = met / scale[:, None]
    v = np.column_stack([-u[:, 1], u[:, 0]])
    best = np.full(met.shape[0], np.inf)
    pt1, pt2 = np.linalg.norm(l1, axis=1), np.linalg.norm(l2, axis=1)
    for s in a:
        for t in a - 0.5:
            q1 = (s * u + t * v) * scale[:, None]
            q2 = met - q1
            q1n, q2n = np.linalg.norm(q1, axis=1), np.linalg.norm(q2, axis=1)
            mt1 = 2 * (pt1 * q1n - np.sum(l1 * q1, axis=1))
            mt2 = 2 * (pt2 * q2n - np.sum(l2 * q2, axis=1))
            best = np.minimum(best, np.maximum(mt1, mt2))
    return np.sqrt(np.maximum(best, 0.0))


def _features(l1: np.ndarray, l2: np.ndarray, met_xy: np.ndarray) -> np.ndarray:
    """The 18 generated features from two massless leptons ``(E, px, py, pz)`` and the MET vector."""
    # Leading lepton first.
    swap = np.hypot(l2[:, 1], l2[:, 2]) > np.hypot(l1[:, 1], l1[:, 2])
    l1, l2 = np.where(swap[:, None], l2, l1), np.where(swap[:, None], l1, l2)
    cols = []
    for lep in (l1, l2):
        pt = np.hypot(lep[:, 1], lep[:, 2])
        cols += [pt, np.arcsinh(lep[:, 3] / pt), np.arctan2(lep[:, 2], lep[:, 1])]
    met = np.hypot(met_xy[:, 0], met_xy[:, 1])
    met_phi = np.arctan2(met_xy[:, 1], met_xy[:, 0])
    cols += [met, met_phi]
    dphi_near = np.minimum(np.abs(_wrap(met_phi - cols[2])), np.abs(_wrap(met_phi - cols[5])))
    met_rel = np.where(dphi_near >= np.pi / 2, met, met * np.sin(dphi_near))
    ll = l1 + l2
    phi_ll = np.arctan2(ll[:, 2], ll[:, 1])
    axial = -met * np.cos(_wrap(met_phi - phi_ll))
    m_r = np.sqrt(np.maximum(ll[:, 0] ** 2 - ll[:, 3] ** 2, 0.0))
    pt_sum = cols[0] + cols[3]
    m_tr = np.sqrt(np.maximum((met * pt_sum - np.sum(met_xy * ll[:, 1:3], axis=1)) / 2, 0.0))
    m_ll = np.sqrt(np.maximum(ll[:, 0] ** 2 - np.sum(ll[:, 1:] ** 2, axis=1), 0.0))
    sqrt_s_min = np.sqrt(m_ll**2 + np.sum(ll[:, 1:3] ** 2, axis=1)) + met
    dphi_ll = np.abs(_wrap(cols[2] - cols[5]))
    cos_ll = np.abs(np.tanh((cols[1] - cols[4]) / 2))
    mt2 = _mt2_grid(l1[:, 1:3], l2[:, 1:3], met_xy)
    cols += [met_rel, axial, m_r, m_tr, m_tr / m_r, mt2, sqrt_s_min, m_ll, dphi_ll, cos_ll]
    return np.column_stack(cols)


def _events(rng: np.random.Generator, n: int, signal: bool) -> np.ndarray:
    if signal:
        # chargino (300 GeV) pair -> W + neutralino (100 GeV) each, W -> l nu.
        m_c, m_n = 300.0, 100.0
        c1, c2 = _pair(rng, n, m_c, 60.0)
        (w1, x1), (w2, x2) = _two_body(rng, c1, m_c, M_W, m_n), _two_body(rng, c2, m_c, M_W, m_n)
        (l1, n1), (l2, n2) = _two_body(rng, w1, M_W, 0.0, 0.0), _two_body(rng, w2, M_W, 0.0, 0.0)
        invisible = n1 + n2 + x1 + x2
    else:
        w1, w2 = _pair(rng, n, M_W, 40.0)
        (l1, n1), (l2, n2) = _two_body(rng, w1, M_W, 0.0, 0.0), _two_body(rng, w2, M_W, 0.0, 0.0)
        invisible = n1 + n2
    # Detector: 3% lepton energy resolution, MET smeared by 8 GeV per component.
    l1 = l1 * (1 + 0.03 * rng.standard_normal(n))[:, None]
    l2 = l2 * (1 + 0.03 * rng.standard_normal(n))[:, None]
    met_xy = invisible[:, 1:3] + rng.normal(0.0, 8.0, (n, 2))
    return _features(l1, l2, met_xy)


def generate_susy_like(num_events: int = 2000, seed: int = 0) -> TabularData:
    """``num_events`` toy events (half signal, half background; odd counts get one more
    background event), shuffled, in the SUSY layout. Deterministic in ``seed``."""
    if not isinstance(num_events, (int, np.integer)) or num_events < 2:
        raise ValueError(f"num_events must be an integer >= 2 (one per class at least), got {num_events!r}")
    rng = np.random.default_rng(seed)
    n_sig = num_events // 2
    n_bkg = num_events - n_sig
    x = np.concatenate([_events(rng, n_sig, True), _events(rng, n_bkg, False)])
    y = np.concatenate([np.ones(n_sig), np.zeros(n_bkg)])
    order = rng.permutation(num_events)
    return TabularData("susy-like", x[order], y[order], GENERATED_FEATURES)
