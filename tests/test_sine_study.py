"""Tests of benchmarks/sine_study.py and its design (benchmarks/sine_design.py): its tuning rule
(with a stand-in for the worker pool), its paired differences and headroom on synthetic numbers,
its adaptation curve against ``gh.adapt_and_evaluate``, and a ``--quick`` run, twice (in the
pool and in-process): every file is written, the saved parameters rebuild theta, and the two
runs give identical files. What it shares with ga_vs_maml.py is tested in
tests/test_studylib.py."""

from __future__ import annotations

import csv
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import gamaml_helpers as gh

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))  # where the study finds studylib when it runs
import sine_design  # noqa: E402
import sine_study as study  # noqa: E402
import studylib  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Design, grids and command line
# ---------------------------------------------------------------------------------------------


def test_statistics_and_tuning_rule_are_studylib_s():
    # The sine study keeps no copy: it calls studylib's (tests/test_studylib.py tests them).
    assert study.studylib is studylib
    for name in ("mean_ci", "paired_difference", "extend", "choose", "write_csv", "run_jobs"):
        assert getattr(studylib, name).__module__ == "studylib", name
        assert not hasattr(study, name), name


def test_the_design_is_sine_design_s():
    for name in ("EXPERIMENTS", "Experiment", "Budget", "FULL", "QUICK", "METHODS",
                 "check_design", "inner_lr", "outer_lr"):
        assert getattr(study, name) is getattr(sine_design, name), name


def test_grids_are_round_log_grids():
    assert [study.outer_lr(k) for k in (-2, -1, 0, 1, 2)] == [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]
    assert [study.inner_lr(j) for j in (-1, 0, 1)] == [0.003, 0.01, 0.03]


def test_design_is_the_briefs():
    by_name = {e.name: e for e in study.EXPERIMENTS}
    finn, paper, corrupted = by_name["finn"], by_name["ga-paper"], by_name["corrupted"]
    assert finn.sizes == (1, 40, 40, 1) and finn.phase == (0.0, math.pi)
    assert (finn.inner_steps, finn.alpha, finn.beta, finn.tuning) == (1, 0.01, 1e-3, "fixed")
    assert set(finn.methods) == {"joint", "maml", "fomaml", "reptile"}
    assert paper.sizes == (1, 64, 64, 1) and paper.phase == (0.0, 2 * math.pi)
    assert paper.inner_steps == paper.protocol_steps == 5 and paper.k_shot == 10
    assert dict(paper.paper) == {"reptile": 0.13, "ga-reptile": 0.08}
    assert corrupted.corrupt_frac == 0.3 and corrupted.clean_reference == "ga-paper"
    assert study.METHODS["ga-reptile-cosine"].normalization == "cosine"
    for e in study.EXPERIMENTS:
        assert e.protocol_steps in sine_design.HEADLINE_STEPS
    study.check_design(study.EXPERIMENTS)


def test_check_design_rejects_pairs_of_methods_not_run():
    bad = study.Experiment("x", "x", ("maml",), (("ga", "maml"),), hidden=(4,),
                           phase=(0.0, 1.0), inner_steps=1, protocol_steps=1, size="paper",
                           tuning="grid")
    with pytest.raises(ValueError, match="pair methods not run"):
        study.check_design((bad,))
    with pytest.raises(ValueError, match="tuning"):
        study.check_design((replace(bad, pairs=(), tuning="nowhere"),))


def test_parse_args_rejects_bad_arguments_and_records_the_command():
    for argv in (["--seeds", "1"], ["--workers", "0"]):
        with pytest.raises(SystemExit):
            study.parse_args(argv)
    args = study.parse_args(["--quick", "--seeds", "3", "--out", "x"])
    assert args.budget == replace(study.QUICK, seeds=3)
    assert args.command == ".venv/bin/python benchmarks/sine_study.py --quick --seeds 3"
    assert study.parse_args(["--out", "x"]).budget == study.FULL


# ---------------------------------------------------------------------------------------------
# Tuning: selection and edge extension on synthetic validation scores
# ---------------------------------------------------------------------------------------------


def _point(alpha, beta, mse, method="maml", diverged=0):
    return {"experiment": "e", "method": method, "alpha": alpha, "beta": beta, "round": 0,
            "val_mse": math.nan if diverged else mse, "runs": 2, "diverged_runs": diverged,
            "chosen": 0, "alpha_status": "", "beta_status": ""}


def test_select_takes_the_lowest_mse_and_says_where_it_sits():
    scored = [_point(0.01, b, mse) for b, mse in ((1e-3, 0.5), (3e-3, 0.2), (1e-2, 0.3))]
    scored += [_point(0.01, b, mse, "ga", diverged=int(b == 1e-2))
               for b, mse in ((1e-3, 0.5), (3e-3, 0.2), (1e-2, 0.1))]
    scored += [_point(0.01, b, 0.4, "reptile") for b in (1e-3, 3e-3)]  # a tie: smaller beta
    scored += [_point(0.01, b, 0.1, "fomaml", diverged=1) for b in (1e-3, 3e-3)]
    chosen, status = study.select_by_mse(scored, fixed=("alpha",))
    assert chosen["e", "maml"] == (0.01, 3e-3)
    assert status["e", "maml"] == {"alpha": "fixed", "beta": "interior"}
    assert chosen["e", "ga"] == (0.01, 3e-3)  # 1e-2 scores lower but diverged on a seed
    assert status["e", "ga"]["beta"] == "largest stable"
    assert chosen["e", "reptile"] == (0.01, 1e-3)
    assert status["e", "reptile"]["beta"] == "lower edge"
    assert ("e", "fomaml") not in chosen
    assert status["e", "fomaml"] == {"alpha": "all diverged", "beta": "all diverged"}
    assert sum(r["chosen"] for r in scored) == 3
    chosen, status = study.select_by_mse(scored[:3])
    assert status["e", "maml"]["alpha"] == "lower edge"  # one alpha, not declared fixed


def _fake_runner(peaks: dict, calls: list | None = None, unstable_above: float = math.inf):
    """Validation MSE with its minimum at (alpha, beta) = ``peaks[method]``, growing with the
    squared log distance; a run diverges for beta above ``unstable_above``."""

    def run(jobs):
        if calls is not None:
            calls.append(len(jobs))
        out = []
        for job in jobs:
            alpha, beta = peaks.get(job.method, (0.01, 1e-3))
            mse = (0.1 + math.log10(job.beta / beta) ** 2 + math.log10(job.alpha / alpha) ** 2
                   + 0.001 * (job.seed - studylib.VAL_SEED_OFFSET))
            diverged = int(job.beta > unstable_above)
            out.append({"row": {"experiment": job.experiment.name, "method": job.method,
                                "seed": job.seed, "alpha": job.alpha, "beta": job.beta,
                                "diverged": diverged,
                                "val_mse": math.nan if diverged else mse}})
        return out

    return run


def _budget(inner=(0,), outer=(0, 1), max_extensions=4):
    return replace(study.QUICK, inner_lr_exponents=inner, outer_lr_exponents=outer,
                         max_extensions=max_extensions, val_seeds=2)


def test_tune_extends_the_grid_until_the_choice_is_interior():
    calls = []
    peaks = {"reptile": (0.01, 1e-2), "maml": (0.01, 3e-4)}
    chosen, status, scored = study.tune(study.EXPERIMENTS, _budget(),
                                        _fake_runner(peaks, calls))
    assert chosen["ga-paper", "reptile"] == (0.01, 1e-2)
    assert chosen["ga-paper", "maml"] == (0.01, 3e-4)
    assert ("corrupted", "reptile") not in chosen  # inherits ga-paper's values, not tuned
    assert chosen["ga-paper", "ga"] == (0.01, 1e-3)  # the default peak: one step down
    assert all(s == {"alpha": "fixed", "beta": "interior"} for s in status.values())
    assert {key for key in status} == {(e.name, m) for e in study.EXPERIMENTS
                                       if e.tuning == "grid" for m in e.methods}
    reptile = {r["beta"]: r["round"] for r in scored
               if (r["experiment"], r["method"]) == ("ga-paper", "reptile")}
    assert reptile == {1e-3: 0, 3e-3: 0, 1e-2: 1, 3e-2: 2}  # the inner lr never moves
    assert {r["alpha"] for r in scored} == {0.01}
    n_keys = len(status)
    assert calls[0] == n_keys * 2 * 2  # two betas, two validation seeds
    assert sum(r["chosen"] for r in scored) == n_keys
    order = [(r["experiment"], r["method"]) for r in scored]
    assert order.index(("ga-paper", "reptile")) < order.index(("ga-paper", "maml"))


def test_tune_moves_a_tuned_inner_rate_and_survives_a_method_that_always_diverges():
    peaks = {"ga": (0.03, 1e-3)}
    run = _fake_runner(peaks, unstable_above=2e-3)
    chosen, status, _ = study.tune(study.EXPERIMENTS, _budget(inner=(-1, 0), outer=(0, 1)), run)
    assert chosen["ga-paper", "ga"] == (0.03, 1e-3)
    assert status["ga-paper", "ga"] == {"alpha": "interior", "beta": "largest stable"}
    chosen, status, _ = study.tune(study.EXPERIMENTS, _budget(max_extensions=1),
                                   _fake_runner({}, unstable_above=0.0))
    assert status["ga-paper", "maml"]["beta"] == "all diverged"
    assert chosen["ga-paper", "maml"] == (0.01, 3e-4)  # the smallest values tried


# the experiments that neither are the plain step's sweep nor take its choices
NOT_SWEPT = tuple(e for e in study.EXPERIMENTS if "plain-step" not in (e.tuning, e.alpha_from)
                  and e.tuning != "sweep")
SWEEP = next(e for e in study.EXPERIMENTS if e.tuning == "sweep")


def test_tune_bisects_an_inner_rate_towards_the_value_that_diverged():
    def run(jobs):  # diverges for alpha above 0.06; the MSE falls with alpha up to there
        return [{"row": {"experiment": j.experiment.name, "method": j.method, "seed": j.seed,
                         "alpha": j.alpha, "beta": j.beta, "diverged": int(j.alpha > 0.06),
                         "val_mse": math.nan if j.alpha > 0.06 else 1.0 - j.alpha
                         + math.log10(j.beta / 1e-3) ** 2}} for j in jobs]

    budget = replace(_budget(inner=(0, 1, 2), outer=(-1, 0, 1), max_extensions=0),
                     refine_rounds=2)
    chosen, status, scored = study.tune(NOT_SWEPT, budget, run)
    # grid 0.01, 0.03, 0.1 (diverged): 0.03 is the largest stable value; bisection tries
    # sqrt(0.03 * 0.1) = 0.0548 (stable, better), then sqrt(0.0548 * 0.1) = 0.074 (diverged)
    alphas = {r["alpha"]: r["round"] for r in scored
              if (r["experiment"], r["method"]) == ("ga-paper", "reptile")}
    assert alphas == {0.01: 0, 0.03: 0, 0.1: 0, 0.0548: 1, 0.074: 2}
    assert chosen["ga-paper", "reptile"] == (0.0548, 1e-3)
    assert status["ga-paper", "reptile"]["alpha"] == "largest stable"
    points = study.bisection_points(scored, chosen, status)
    assert ("ga-paper", "reptile", 0.0637, 1e-3) in points  # what a third round would try


def test_sweep_runs_every_beta_on_both_seed_sets_and_extends_for_every_method():
    calls = []
    peaks = {"reptile": (0.01, 3.0), "ga-reptile": (0.01, 0.1)}
    budget = replace(_budget(), plain_lr_exponents=(-1, 0, 1), max_extensions=3, seeds=3)

    def run(jobs):
        calls.append(sorted({(j.role, j.beta) for j in jobs}))
        rows = _fake_runner(peaks)(jobs)
        for job, r in zip(jobs, rows, strict=True):
            if job.role == "test":
                r["row"] = {**r["row"], "mse_5": r["row"].pop("val_mse")}
        return rows

    chosen, status, scored, tests = study.sweep(study.EXPERIMENTS, budget,
                                                {("ga-paper", m): 0.02 for m in SWEEP.methods},
                                                run)
    assert chosen["plain-step", "reptile"] == (0.02, 3.0)
    assert chosen["plain-step", "ga-reptile"] == (0.02, 0.1)
    assert status["plain-step", "ga-reptile"] == {"alpha": "fixed", "beta": "interior"}
    # 0.03, 0.1, 0.3, then 1 and 3 (Reptile's best at the edge), then 10: every method
    betas = {r["beta"] for r in scored if r["method"] == "ga-reptile"}
    assert betas == {0.03, 0.1, 0.3, 1.0, 3.0, 10.0}
    assert len(calls) == 4 and calls[1] == [("test", 1.0), ("val", 1.0)]
    assert len(tests) == 3 * len(betas) * 2 and {r["alpha"] for r in tests} == {0.02}


def test_hyperparameters_fixed_tuned_and_inherited():
    inherit = replace(study.EXPERIMENTS[2], name="inherit", tuning="ga-paper",
                            clean_reference=None)
    experiments = (*NOT_SWEPT, inherit)
    chosen, status, _ = study.tune(experiments, _budget(), _fake_runner({"ga-reptile": (
        0.01, 3e-3)}))
    hyper = study.hyperparameters(experiments, chosen, status)
    assert hyper["finn", "joint"]["alpha"] == 0.01 and hyper["finn", "joint"]["beta"] == 1e-3
    assert hyper["finn", "maml"]["source"] == "fixed"
    assert hyper["ga-paper", "ga-reptile"]["beta"] == 3e-3
    assert hyper["inherit", "ga-reptile-cosine"]["beta"] == 3e-3
    assert hyper["inherit", "ga-reptile-cosine"]["source"] == "ga-paper/ga-reptile"
    assert ("inherit", "ga-reptile") not in chosen  # inheritors are not tuned
    swept = {("plain-step", "reptile"): (0.01, 0.3), ("plain-step", "ga-reptile"): (0.01, 0.1)}
    where = dict.fromkeys(swept, {"alpha": "fixed", "beta": "interior"})
    hyper = study.hyperparameters(study.EXPERIMENTS, {**chosen, **swept}, {**status, **where})
    assert hyper["plain-step", "ga-reptile"]["beta"] == 0.1
    assert hyper["plain-step", "ga-reptile"]["alpha"] == hyper["ga-paper", "ga-reptile"]["alpha"]
    assert hyper["plain-step-long", "reptile"]["beta"] == 0.3
    assert hyper["ga-paper-long", "ga-reptile"]["beta"] == 3e-3


# ---------------------------------------------------------------------------------------------
# Statistics on synthetic numbers
# ---------------------------------------------------------------------------------------------


def _synthetic_raw(n_seeds=5, nan=(), experiments=NOT_SWEPT, betas=(1e-3,)):
    """Test rows: mse_k = a per-(experiment, method) base + a per-seed offset shared by every
    method (so that pairs cancel it) + k / 100 (+ beta); ``nan`` lists (experiment, method,
    seed)."""
    rows = []
    for e_index, e in enumerate(experiments):
        for m_index, m in enumerate(e.methods):
            for seed, beta in ((seed, beta) for beta in betas for seed in range(n_seeds)):
                row = {"experiment": e.name, "method": m, "seed": seed, "diverged": 0,
                       "beta": beta}
                for k, metric in enumerate(study.MSE_METRICS):
                    value = 1.0 + 0.1 * e_index + 0.01 * m_index + 0.05 * seed + k / 100 \
                        + 0.001 * seed**2 * (m == "ga") + beta * (m == "ga-reptile")
                    row[metric] = math.nan if (e.name, m, seed) in nan else value
                weighted = study.METHODS[m].weighted
                row.update(w_clean=0.1 if weighted else math.nan,
                           w_corrupted=0.2 if weighted else math.nan,
                           w_sum=1.0 if weighted else math.nan,
                           step_ratio=2.0 + beta if weighted else math.nan,
                           step_ratio_end=3.0 if weighted else math.nan)
                rows.append(row)
    return rows


def test_summarise_means_pairs_and_headroom():
    raw = _synthetic_raw()
    s = studylib.index(study.summarise(raw, NOT_SWEPT, _hyper(NOT_SWEPT)), study.SUMMARY_KEY)
    values = [1.0 + 0.1 + 0.01 * 0 + 0.05 * seed + 0.05 for seed in range(5)]
    row = s["ga-paper", "method", "reptile", "mse_5"]
    assert (row["mean"], row["half_width"]) == pytest.approx(studylib.mean_ci(values))
    assert row["n"] == 5 and row["ci_low"] == pytest.approx(row["mean"] - row["half_width"])
    # GA-Reptile - Reptile: a constant shift (the seed offsets cancel), zero width.
    row = s["ga-paper", "difference", "ga-reptile - reptile", "mse_1"]
    assert row["mean"] == pytest.approx(0.011) and row["half_width"] == pytest.approx(0, abs=1e-12)
    # GA-MAML - MAML: the interval of the per-seed differences.
    diffs = [0.01 + 0.001 * seed**2 for seed in range(5)]
    row = s["ga-paper", "difference", "ga - maml", "mse_0"]
    assert (row["mean"], row["half_width"]) == pytest.approx(studylib.mean_ci(diffs))
    # Headroom: corrupted-trained minus clean-trained, same method, same seeds.
    order = {e.name: {m: i for i, m in enumerate(e.methods)} for e in NOT_SWEPT}
    for m in ("reptile", "ga-reptile"):
        expected = 0.1 + 0.01 * (order["corrupted"][m] - order["ga-paper"][m])
        assert s["corrupted", "headroom", m, "mse_5"]["mean"] == pytest.approx(expected)
    assert ("corrupted", "headroom", "ga-reptile-cosine", "mse_5") not in s  # no clean twin
    assert not any(key[1] == "headroom" for key in s if key[0] != "corrupted")
    # GA weights only for the weighted methods.
    assert s["corrupted", "method", "ga-reptile", "w_corrupted"]["mean"] == pytest.approx(0.2)
    assert ("corrupted", "method", "reptile", "w_clean") not in s
    names = {key[2] for key in s if key[:2] == ("finn", "difference")}
    assert names == {"fomaml - maml", "reptile - maml", "joint - maml"}
    assert s["ga-paper", "method", "ga", "step_ratio"]["mean"] == pytest.approx(2.001)
    assert not any(key[1].startswith("sweep") for key in s)


def _hyper(experiments, beta=1e-3):
    return {(e.name, m): {"beta": beta} for e in experiments for m in e.methods}


def test_summarise_a_sweep_at_every_beta_and_at_the_chosen_one():
    raw = _synthetic_raw(experiments=(SWEEP,), betas=(0.1, 0.3))
    hyper = {(SWEEP.name, "reptile"): {"beta": 0.3}, (SWEEP.name, "ga-reptile"): {"beta": 0.1}}
    s = studylib.index(study.summarise(raw, (SWEEP,), hyper), study.SUMMARY_KEY)
    # at each shared beta: GA-Reptile - Reptile = 0.01 + beta
    for beta in (0.1, 0.3):
        row = s[SWEEP.name, "sweep difference", study.at_beta("ga-reptile - reptile", beta),
                "mse_5"]
        assert row["mean"] == pytest.approx(0.01 + beta) and row["n"] == 5
        row = s[SWEEP.name, "sweep", study.at_beta("ga-reptile", beta), "step_ratio"]
        assert row["mean"] == pytest.approx(2.0 + beta)
    # each at its own beta: GA-Reptile at 0.1, Reptile at 0.3, paired by seed: 0.01 + 0.1
    row = s[SWEEP.name, "difference", "ga-reptile - reptile", "mse_5"]
    assert row["mean"] == pytest.approx(0.11)
    assert study.sweep_betas(raw, SWEEP) == [0.1, 0.3]
    assert study.sweep_betas(raw, study.EXPERIMENTS[0]) == []


def test_summarise_leaves_non_finite_values_out_of_means_and_pairs():
    raw = _synthetic_raw(nan={("ga-paper", "ga", 2), ("ga-paper", "maml", 4),
                              ("corrupted", "reptile", 0)})
    s = studylib.index(study.summarise(raw, NOT_SWEPT, _hyper(NOT_SWEPT)), study.SUMMARY_KEY)
    assert s["ga-paper", "method", "ga", "mse_1"]["n"] == 4
    assert s["ga-paper", "difference", "ga - maml", "mse_1"]["n"] == 3
    assert s["corrupted", "headroom", "reptile", "mse_1"]["n"] == 4  # seed 0 left out
    one = study.summary_row("e", "method", "m", "mse_0", [1.0, math.nan])
    assert one["mean"] == 1.0 and math.isnan(one["half_width"]) and one["n"] == 1
    none = study.summary_row("e", "difference", "a - b", "mse_0", pair=([math.nan], [1.0]))
    assert none["n"] == 0 and math.isnan(none["mean"])


# ---------------------------------------------------------------------------------------------
# The adaptation curve
# ---------------------------------------------------------------------------------------------


def test_mse_curve_is_adapt_and_evaluate_step_by_step():
    model = gh.MLP((1, 8, 8, 1))
    theta = model.init(np.random.default_rng(0))
    tasks = gh.sample_sine_tasks(7, 10, k_query=13, rng=1)
    curve = study.mse_curve(model, theta, tasks, 0.01, 10)
    assert curve.shape == (11,)
    for steps in (0, 1, 5, 10):
        ev = gh.adapt_and_evaluate(theta, tasks, 0.01, steps=steps, model=model)
        np.testing.assert_allclose(curve[steps], ev.loss_after.mean(), rtol=1e-13)
    blown = study.mse_curve(model, theta, tasks, 10.0, 5)  # a step far too large
    assert blown[0] == curve[0] and np.all(np.isnan(blown[1:]))  # above DIVERGED_MSE: NaN


def test_test_tasks_are_shared_by_experiments_of_one_family():
    by_name = {e.name: e for e in study.EXPERIMENTS}
    paper = study.eval_tasks(by_name["ga-paper"], "test", 3, 20, 15)
    again = study.eval_tasks(by_name["corrupted"], "test", 3, 20, 15)
    np.testing.assert_array_equal(paper.x_query, again.x_query)
    np.testing.assert_array_equal(paper.y_support, again.y_support)
    val = study.eval_tasks(by_name["ga-paper"], "val", 3, 20, 15)
    assert not np.allclose(val.x_support, paper.x_support)
    assert paper.x_query.shape == (20, 15, 1) and not paper.corrupted.any()


# ---------------------------------------------------------------------------------------------
# A --quick run, twice
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    base = tmp_path_factory.mktemp("sine_study")
    first = study.main(["--quick", "--out", str(base / "a")])  # 2 worker processes
    second = study.main(["--quick", "--out", str(base / "b"), "--workers", "1"])  # in-process
    return base, first, second


def _read_csv(path: Path) -> list[dict]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_quick_run_writes_every_file(quick):
    base, result, _ = quick
    out = base / "a"
    for name in ("raw.csv", "summary.csv", "summary.md", "sine.png", "protocol.json",
                 "tuning.csv"):
        assert (out / name).is_file(), name
    raw = _read_csv(out / "raw.csv")
    assert list(raw[0])[:8] == ["experiment", "method", "seed", "alpha", "beta",
                                "meta_iterations", "n_tasks", "diverged"]
    assert {"mse_0", "mse_1", "mse_5", "mse_10", "w_clean", "w_corrupted"} <= set(raw[0])
    betas = json.loads((out / "protocol.json").read_text())["experiments"]["plain-step"][
        "betas_swept"]
    assert len(betas) >= len(study.QUICK.plain_lr_exponents)
    assert len(raw) == study.QUICK.seeds * sum(
        len(e.methods) * (len(betas) if e.tuning == "sweep" else 1) for e in study.EXPERIMENTS)
    for row in raw:
        weighted = study.METHODS[row["method"]].weighted and row["diverged"] == "0"
        assert (row["w_clean"] != "") == weighted
        assert (row["step_ratio"] != "") == weighted
        if weighted:
            assert 0.0 < float(row["step_ratio"]) < 100.0
    corrupted = [r for r in raw if r["experiment"] == "corrupted" and r["w_corrupted"]]
    assert corrupted and all(float(r["w_corrupted"]) != 0 for r in corrupted)
    summary = _read_csv(out / "summary.csv")
    assert list(summary[0]) == ["experiment", "kind", "name", "metric", "n", "mean",
                                "half_width", "ci_low", "ci_high"]
    assert {r["kind"] for r in summary} == {"method", "difference", "headroom", "sweep",
                                            "sweep difference"}
    text = (out / "summary.md").read_text(encoding="utf-8")
    for needle in ("## 1. finn", "## 2. ga-paper", "## 3. corrupted", "## What was tried",
                   "| paper (5 steps) |", "| 0.13 |", "| 0.08 |", "Headroom",
                   "not in the paper", "Chosen values", "Why outliers", "GA-Reptile − Reptile",
                   "GA-MAML − MAML", "## 4. plain-step", "At one shared β", "plain-step β",
                   "## The budget and the outer step", "## How long GA's steps are",
                   "## 6. plain-step-long", "is bisected"):
        assert needle in text, needle
    protocol = json.loads((out / "protocol.json").read_text(encoding="utf-8"))
    assert protocol["test_seeds"] == [0, 1]
    paper = protocol["experiments"]["ga-paper"]
    assert paper["sizes"] == [1, 64, 64, 1] and paper["protocol_steps"] == 5
    assert paper["eval_steps"] == list(range(11)) and paper["k_shot"] == 10
    for key in ("activation", "amplitude", "phase", "x_range", "eval_tasks", "meta_iterations",
                "meta_batch_size"):
        assert key in paper, key
    assert protocol["experiments"]["finn"]["methods"]["maml"]["inner_lr"] == 0.01
    assert paper["outer_step"]["name"] == "adam"
    plain = protocol["experiments"]["plain-step-long"]
    assert plain["outer_step"]["rule"] == "theta <- theta - beta * direction"
    assert plain["meta_iterations"] == study.QUICK.long_iterations
    for name in ("sine.png", "plain-step.png"):
        png = (out / name).read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) < 600_000
    assert set(result["paths"]) >= {"raw", "summary", "markdown", "figure", "protocol"}


def test_quick_run_saves_parameters_that_rebuild_theta(quick):
    base, result, _ = quick
    saved = 0
    for e in study.EXPERIMENTS:
        model = gh.MLP(e.sizes, e.activation)
        for m in e.methods:
            theta = result["thetas"][e.name, m, 0]
            path = base / "a" / "params" / e.name / f"{m}_seed0.npz"
            if theta is None:  # diverged in training: nothing to save
                assert not path.exists()
                continue
            with np.load(path) as data:
                assert data.files == ["W1", "b1", "W2", "b2", "W3", "b3"]
                arrays = [data[name] for name in data.files]
            shapes = [(1, e.hidden[0]), (e.hidden[0],), (e.hidden[0], e.hidden[1]),
                      (e.hidden[1],), (e.hidden[1], 1), (1,)]
            assert [a.shape for a in arrays] == shapes
            np.testing.assert_array_equal(model.flatten(arrays), theta)
            saved += 1
    assert saved == len(result["params"]) > 0
    assert not (base / "a" / "params" / "finn" / "maml_seed1.npz").exists()  # seed 0 only


def test_quick_run_gives_identical_files_twice(quick):
    base, _, _ = quick
    first = sorted(p.relative_to(base / "a") for p in (base / "a").rglob("*") if p.is_file())
    second = sorted(p.relative_to(base / "b") for p in (base / "b").rglob("*") if p.is_file())
    assert first == second and len(first) > 6
    for rel in first:  # the PNG too: matplotlib embeds no date or version here
        assert (base / "a" / rel).read_bytes() == (base / "b" / rel).read_bytes(), rel


def test_an_experiment_runs_with_what_it_needs():
    names = [e.name for e in study.with_dependencies(["corrupted"])]
    assert names == ["ga-paper", "corrupted"]  # its tuning source and clean reference
    assert [e.name for e in study.with_dependencies(["finn"])] == ["finn"]
    names = [e.name for e in study.with_dependencies(["plain-step-long"])]
    assert names == ["ga-paper", "plain-step", "plain-step-long"]
    assert study.with_dependencies(None) == study.EXPERIMENTS
    args = study.parse_args(["--quick", "--experiment", "corrupted", "--out", "x"])
    assert [e.name for e in args.experiments] == ["ga-paper", "corrupted"]
    assert args.command.endswith("--experiment ga-paper --experiment corrupted")
    assert study.parse_args(["--quick", "--out", "x"]).command.endswith("--quick")
    with pytest.raises(SystemExit):
        study.parse_args(["--experiment", "nope"])
    with pytest.raises(ValueError, match="names"):
        study.with_dependencies(["nope"])


def test_step_ratio_compares_ga_and_uniform_steps_on_the_next_batch():
    config = gh.SineConfig(hidden=(8,), activation="tanh", method="ga-reptile", outer="sgd",
                           alpha=0.02, beta=0.1, n_tasks=4, inner_steps=2, meta_iterations=12,
                           eval_every=12, eval_tasks=2, seed=5)
    thetas = {}
    ratio = study.StepRatio(config, every=4)

    def callback(iteration, history):
        thetas[iteration] = history.theta.copy()
        ratio(iteration, history)

    gh.meta_train(config, callback)
    batches = list(gh.training_batches(config))
    model = gh.make_model(config)
    expected = []
    for iteration in (4, 8):  # not 12: the last iteration has no next batch
        theta, batch = thetas[iteration], batches[iteration]  # the batch of iteration + 1
        updates = theta - gh.inner_update(theta, batch.x_support, batch.y_support, 0.02,
                                          steps=2, model=model)
        w = gh.ga_weights(updates)
        expected.append(np.linalg.norm(w @ updates) / np.linalg.norm(updates.mean(axis=0)))
    np.testing.assert_allclose(ratio.ratios, expected, rtol=1e-12)
    summary = ratio.summary()
    assert summary["step_ratio"] == pytest.approx(np.median(expected))
    assert summary["step_ratio_end"] == pytest.approx(expected[-1])
    assert all(math.isnan(v) for v in study.StepRatio(config, 100).summary().values())


def test_sweep_bisects_a_best_beta_that_is_the_largest_stable_one():
    def run(jobs):  # the MSE falls with beta; a run diverges above beta = 0.5
        out = []
        for j in jobs:
            bad = j.beta > 0.5
            mse = math.nan if bad else 1.0 - j.beta
            row = {"experiment": j.experiment.name, "method": j.method, "seed": j.seed,
                   "alpha": j.alpha, "beta": j.beta, "diverged": int(bad)}
            row.update(val_mse=mse) if j.role == "val" else row.update(mse_5=mse)
            out.append({"row": row})
        return out

    budget = replace(_budget(), plain_lr_exponents=(-1, 0, 1, 2), max_extensions=1,
                     refine_rounds=2)
    chosen, status, scored, tests = study.sweep(study.EXPERIMENTS, budget,
                                                {("ga-paper", m): 0.02 for m in SWEEP.methods},
                                                run)
    # 0.03, 0.1, 0.3 stable, 1 diverged: bisect to sqrt(0.3) = 0.548 (diverged), then to
    # sqrt(0.3 * 0.548) = 0.405 (stable, the new best)
    assert chosen["plain-step", "reptile"] == (0.02, 0.405)
    assert status["plain-step", "reptile"]["beta"] == "largest stable"
    rounds = {r["beta"]: r["round"] for r in scored if r["method"] == "ga-reptile"}
    assert rounds == {0.03: 0, 0.1: 0, 0.3: 0, 1.0: 0, 0.548: 2, 0.405: 3}
    assert {r["beta"] for r in tests} == set(rounds)  # every beta on the test seeds too
