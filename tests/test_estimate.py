"""``dqlstm estimate``: the counted QPU work equals what a run executes, exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_configs import sampled_toml, write_config

from dqlstm.cli import main
from dqlstm.estimate import batch_sizes, estimate_config

SAMPLED_TWO_EPOCHS = sampled_toml(epochs=2)


POOL = """
[qpus]
engine = "local"
seed = 3

[[qpus.devices]]
kind = "aer"
name = "aer"
count = 2
num_qubits = 2
"""

EXACT = SAMPLED_TWO_EPOCHS.replace('mode = "sampled"', 'mode = "exact"').replace("shots = 20\n", "")


def executed(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())["cut"]["executed"]


def estimated(capsys, config: str, epochs: int) -> dict:
    assert main(["estimate", config, "--json", "--epochs", str(epochs)]) == 0
    return json.loads(capsys.readouterr().out)


def assert_same_work(est: dict, run: dict) -> None:
    total = est["total"]
    assert (total["pubs"], total["circuits"], total["shots"]) == (
        run["num_pubs"],
        run["num_circuits"],
        run["total_shots"],
    )


@pytest.mark.parametrize("epochs, pool", [(1, ""), (2, POOL)], ids=["1-epoch-local-sampler", "2-epochs-pool"])
def test_estimate_equals_what_the_run_executed(tmp_path, capsys, epochs, pool):
    config = write_config(tmp_path, SAMPLED_TWO_EPOCHS + pool)
    est = estimated(capsys, config, epochs)
    out = tmp_path / "run"
    assert main(["train", config, "--epochs", str(epochs), "--out", str(out), "--quiet"]) == 0
    assert_same_work(est, executed(out))
    per_qpu = est["total"]["per_qpu"]
    assert sum(q["circuits"] for q in per_qpu.values()) == est["total"]["circuits"]
    if pool:
        assert set(per_qpu) == {"aer0", "aer1"} and all(q["pubs"] > 0 for q in per_qpu.values())


def test_epochs_scale_and_the_final_predictions_count_once(tmp_path):
    config = write_config(tmp_path, SAMPLED_TWO_EPOCHS)
    one, three = (estimate_config(config, e) for e in (1, 3))
    final = one.total.total.circuits - one.per_epoch.total.circuits  # predict on train and test
    assert final > 0
    assert three.total.total.circuits == 3 * one.per_epoch.total.circuits + final
    assert one.total.total.shots == 20 * one.total.total.circuits
    assert one.total.total.qpu_seconds > 0


def test_json_has_the_levels_and_their_figures(tmp_path, capsys):
    est = estimated(capsys, write_config(tmp_path, SAMPLED_TWO_EPOCHS), 1)
    for level in ("per_step", "per_epoch", "total"):
        assert {"circuits", "shots", "qpu_seconds", "pubs", "per_qpu"} <= set(est[level])
    assert est["on_qpus"] and est["workload"]["seq"] == 4


def test_table_names_the_levels(tmp_path, capsys):
    assert main(["estimate", write_config(tmp_path, SAMPLED_TWO_EPOCHS)]) == 0
    text = capsys.readouterr().out
    assert all(word in text for word in ("step", "epoch", "run", "calibrated on this machine"))


def test_exact_mode_reports_no_qpu_work(tmp_path, capsys):
    est = estimated(capsys, write_config(tmp_path, EXACT), 2)
    assert not est["on_qpus"] and "nothing runs on QPUs" in est["note"]
    for level in ("per_step", "per_epoch", "total"):
        assert (est[level]["circuits"], est[level]["shots"], est[level]["qpu_seconds"]) == (0, 0, 0.0)


def test_cut_exact_reports_the_plan(tmp_path, capsys):
    est = estimated(
        capsys,
        write_config(
            tmp_path, SAMPLED_TWO_EPOCHS.replace('"sampled"', '"cut-exact"').replace("shots = 20\n", "")
        ),
        1,
    )
    assert not est["on_qpus"] and est["total"]["circuits"] == 0 and est["plan"]["num_subexperiments"] > 0


def test_missing_config_is_one_line_and_status_2(tmp_path, capsys):
    assert main(["estimate", str(tmp_path / "nope.toml")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not found" in err and "Traceback" not in err


def test_study_specs_are_refused_in_one_line(tmp_path, capsys):
    assert main(["estimate", write_config(tmp_path, "[sweep]\nqubits = [4]\n")]) == 2
    assert "not a training config" in capsys.readouterr().err


def test_batch_sizes_include_the_smaller_last_batch():
    assert batch_sizes(10, 4) == {4: 2, 2: 1}
    assert batch_sizes(8, 4) == {4: 2}
    assert batch_sizes(3, 4) == {3: 1}


def test_counts_without_timing_equal_the_timed_ones_and_price_any_batch(tmp_path):
    from dqlstm.config import load_config
    from dqlstm.estimate import estimate

    cfg = load_config(write_config(tmp_path, SAMPLED_TWO_EPOCHS + POOL))
    timed, counted = estimate(cfg), estimate(cfg, timing=False)
    for a, b in ((timed.total, counted.total), (timed.per_epoch, counted.per_epoch)):
        assert (a.total.pubs, a.total.circuits, a.total.shots) == (
            b.total.pubs,
            b.total.circuits,
            b.total.shots,
        )
    assert counted.total.total.qpu_seconds == 0 and timed.total.total.qpu_seconds > 0
    assert set(counted.total.per_qpu) == {"aer0", "aer1"}
    # a step is linear in the batch: B bindings per gate circuit and sub-experiment
    price = counted.pricer
    assert price.step(3).total.circuits == 3 * price.step(1).total.circuits
    assert price.step(4).total.shots == counted.per_step.total.shots


# -- the sampled options: allocation, SPSA, the 6vqc cell ----------------------------------

ONE_EPOCH = sampled_toml(epochs=1)
SHOTS = "shots = 20\n"


def with_model(text: str, **keys: str) -> str:
    """``text`` with ``[model]`` keys added after ``shots``."""
    return text.replace(SHOTS, SHOTS + "".join(f'{k} = "{v}"\n' for k, v in keys.items()))


# brick on 4 qubits cut for 3-qubit QPUs: two fragments owning 6 and 2 parameters, whose classes the
# weighted allocation gives 101 and 99 shots a binding (not 100 and 100): parameter-shift shots differ
# from 20 x circuits there
BRICK = ONE_EPOCH.replace(
    'ansatz = "modular"\nmodule_size = 2\nlinks = 1\n', 'ansatz = "brick"\nmax_qubits = 3\n'
)
# 6vqc: the readout circuits VQC5/VQC6 are hidden_size = 4 qubits wide, modular (2 modules, 1 cut) too
SIX = ONE_EPOCH.replace("hidden_size = 1", "hidden_size = 4")

SAMPLED_OPTIONS = {
    "spsa-uniform": (with_model(ONE_EPOCH, gradient="spsa"), True),
    "parameter-shift-weighted": (with_model(BRICK, allocation="weighted"), True),
    "spsa-adaptive": (with_model(ONE_EPOCH, allocation="adaptive", gradient="spsa"), True),
    "parameter-shift-adaptive": (with_model(BRICK, allocation="adaptive"), False),  # shots approximate
    "6vqc-parameter-shift": (with_model(SIX, cell="6vqc"), True),
    "6vqc-spsa-weighted": (with_model(SIX, cell="6vqc", gradient="spsa", allocation="weighted"), True),
}


@pytest.mark.parametrize("name", list(SAMPLED_OPTIONS))
def test_estimate_equals_the_run_for_the_sampled_options(tmp_path, capsys, name):
    text, exact_shots = SAMPLED_OPTIONS[name]
    config = write_config(tmp_path, text)
    est = estimated(capsys, config, 1)
    out = tmp_path / "run"
    assert main(["train", config, "--out", str(out), "--quiet"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    run, total = m["cut"]["executed"], est["total"]
    assert (total["pubs"], total["circuits"]) == (run["num_pubs"], run["num_circuits"])
    if exact_shots:
        assert total["shots"] == run["total_shots"]
    else:  # priced at the first step's allocation; the live one moves shots, the total stays near
        assert total["shots"] == pytest.approx(run["total_shots"], rel=0.25)
    adaptive = "adaptive" in name
    assert est["approximate"] == adaptive and bool(est["approximate_why"]) == adaptive
    if adaptive:
        assert ("parameter-shift" in " ".join(est["approximate_why"])) == ("parameter-shift" in name)
    # what the QPUs ran (both engines' samplers of a 6vqc cell metered) is what the estimate priced
    assert m["cut"]["pool"]["qpus"]["local-aer"]["shots"] == run["total_shots"]
    if "6vqc" in name:
        assert len(est["plan"]["readout_fragments"]) == 2
    if name == "parameter-shift-weighted":  # weighted moved shots between fragments of unequal P_f
        assert total["shots"] != 20 * total["circuits"]


def test_text_says_why_adaptive_is_approximate(tmp_path, capsys):
    assert main(["estimate", write_config(tmp_path, with_model(BRICK, allocation="adaptive"))]) == 0
    text = capsys.readouterr().out
    assert "counts approximate" in text and "approximate: adaptive allocation" in text


def test_spsa_prices_every_circuit_twice_per_row_whatever_the_parameters(tmp_path):
    """Closed forms: an SPSA backward call is 2 forward calls' worth (every fragment, P_f = 0 ones too);
    a parameter-shift one runs ``R sum_f 2 P_f n_f`` circuits with each circuit's own shots."""
    from dqlstm.config import load_config
    from dqlstm.estimate import call_pubs, estimate

    for text in (with_model(BRICK, gradient="spsa"), with_model(BRICK, allocation="weighted")):
        price = estimate(load_config(write_config(tmp_path, text)), timing=False).pricer
        ((executor, gates),) = price.engines
        fwd, back = price.call(3, False).total, price.call(3, True).total
        rows, u = gates * 3, executor.num_subexperiments
        assert (fwd.pubs, fwd.circuits, fwd.shots) == (u, rows * u, rows * 20 * u)
        shots = executor.circuit_shots()
        if executor.gradient == "spsa":
            assert (back.pubs, back.circuits, back.shots) == (u, 2 * rows * u, 2 * rows * 20 * u)
        else:
            frags = [f for f in executor.fragments if f.parameters.size]
            assert back.pubs == sum(len(f.subexperiments) for f in frags)
            assert back.circuits == rows * sum(2 * f.parameters.size * len(f.subexperiments) for f in frags)
            assert back.shots == rows * sum(2 * f.parameters.size * int(shots[f.label].sum()) for f in frags)
        assert sum(p.bindings * p.shots for p in call_pubs(executor, rows, True)) == back.shots


def test_calibration_never_prices_circuits_at_zero_seconds():
    """A machine whose noise hides the per-circuit time (here: every run takes the same time) still
    gets a positive per-circuit cost, the floor ``t_large / (2 large)``."""
    import time

    from dqlstm.estimate import calibrate

    def flat(pubs):  # no time per binding at all
        time.sleep(0.002)

    from types import SimpleNamespace

    a, c = calibrate(flat, [SimpleNamespace(num_parameters=1)], 10, (1, 40), repeats=2)
    assert c > 0 and a >= 0
    # the model reproduces at least half the large PUB's measured time
    assert a + c * 40 >= 0.002 / 2
