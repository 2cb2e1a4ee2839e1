"""Tests of benchmarks/ga_vs_maml.py: its statistics on numbers with known answers, its
tuning rule, its task streams, and a smoke run of the whole study on a tiny budget."""

from __future__ import annotations

import csv
import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "ga_vs_maml.py"


def _load():
    spec = importlib.util.spec_from_file_location("ga_vs_maml", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["ga_vs_maml"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


study = _load()


# ---------------------------------------------------------------------------------------------
# t distribution
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("df", "expected"),
    [(1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622), (19, 2.0930), (30, 2.0423),
     (120, 1.9799)],
)
def test_t_quantile_matches_table(df, expected):
    assert study.t_quantile(0.975, df) == pytest.approx(expected, abs=1e-4)


def test_t_quantile_closed_forms():
    # df = 1 is the Cauchy distribution; df = 2 has t = (2p - 1) / sqrt(2 p (1 - p)).
    for p in (0.6, 0.9, 0.975, 0.995):
        assert study.t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-9)
        assert study.t_quantile(p, 2) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)),
                                                       rel=1e-9)


def test_t_quantile_symmetry_median_and_normal_limit():
    assert study.t_quantile(0.5, 7) == 0.0
    assert study.t_quantile(0.025, 19) == pytest.approx(-study.t_quantile(0.975, 19), rel=1e-12)
    assert study.t_quantile(0.975, 10**7) == pytest.approx(1.959964, abs=1e-6)
    # The series (df <= 10 000) and the expansion (beyond) agree where they meet.
    assert study.t_quantile(0.975, 10_000) == pytest.approx(study.t_quantile(0.975, 10_001),
                                                            abs=1e-6)


def test_t_cdf_inverts_quantile_and_matches_cauchy():
    for df in (1, 2, 3, 8, 25, 99):
        for p in (0.55, 0.8, 0.975):
            assert study.t_cdf(study.t_quantile(p, df), df) == pytest.approx(p, abs=1e-10)
    for t in (-3.0, 0.0, 0.7, 5.0):
        assert study.t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)
    assert study.t_cdf(math.inf, 3) == 1.0
    assert study.t_cdf(-math.inf, 3) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [({"p": 0.0, "df": 3}, "p"), ({"p": 1.0, "df": 3}, "p"), ({"p": math.nan, "df": 3}, "p"),
     ({"p": True, "df": 3}, "p"), ({"p": 0.9, "df": 0}, "df"), ({"p": 0.9, "df": 2.5}, "df")],
)
def test_t_quantile_rejects_bad_input(kwargs, word):
    with pytest.raises(ValueError, match=word):
        study.t_quantile(**kwargs)


def test_t_cdf_rejects_bad_input():
    with pytest.raises(ValueError, match="df"):
        study.t_cdf(1.0, 0)
    with pytest.raises(ValueError, match="t must"):
        study.t_cdf(math.nan, 3)


# ---------------------------------------------------------------------------------------------
# Mean with a t interval, paired differences
# ---------------------------------------------------------------------------------------------


def test_mean_ci_known_answer():
    mean, half = study.mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    # s = sqrt(2.5), n = 5, t_{0.975, 4} = 2.776445
    assert mean == pytest.approx(3.0)
    assert half == pytest.approx(2.776445 * math.sqrt(2.5) / math.sqrt(5), rel=1e-6)
    _, half_90 = study.mean_ci([1.0, 2.0, 3.0, 4.0, 5.0], level=0.90)
    assert half_90 == pytest.approx(2.131847 * math.sqrt(2.5) / math.sqrt(5), rel=1e-6)


def test_mean_ci_of_constant_data_has_zero_width():
    assert study.mean_ci([0.7] * 20) == (pytest.approx(0.7), 0.0)


def test_mean_ci_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    samples = rng.normal(1.0, 2.0, size=(2000, 5))
    covered = [abs(m - 1.0) <= h for m, h in map(study.mean_ci, samples)]
    assert np.mean(covered) == pytest.approx(0.95, abs=0.015)


def test_paired_difference():
    a = np.array([0.71, 0.74, 0.69, 0.80])
    assert study.paired_difference(a, a) == (0.0, 0.0)
    # A constant shift is known exactly, whatever the spread between seeds.
    mean, half = study.paired_difference(a + 0.01, a)
    assert mean == pytest.approx(0.01)
    assert half == pytest.approx(0.0, abs=1e-12)
    # Otherwise it is the interval of the differences.
    b = a - np.array([1.0, 2.0, 3.0, 4.0, 5.0][:4])
    assert study.paired_difference(a, b) == pytest.approx(study.mean_ci([1.0, 2.0, 3.0, 4.0]))


@pytest.mark.parametrize(
    ("values", "word"),
    [([1.0], "at least 2"), ([], "at least 2"), ([1.0, math.nan], "NaN"),
     ([[1.0, 2.0], [3.0, 4.0]], "1-D"), (["a", "b"], "numbers")],
)
def test_mean_ci_rejects_bad_input(values, word):
    with pytest.raises(ValueError, match=word):
        study.mean_ci(values)


def test_interval_functions_reject_bad_level_and_lengths():
    for level in (0.0, 1.0, 95, True):
        with pytest.raises(ValueError, match="level"):
            study.mean_ci([1.0, 2.0], level=level)
    with pytest.raises(ValueError, match="same length"):
        study.paired_difference([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="b contains"):
        study.paired_difference([1.0, 2.0], [1.0, math.inf])


# ---------------------------------------------------------------------------------------------
# Design: tuning rule and task streams
# ---------------------------------------------------------------------------------------------


def _row(method, alpha, beta, acc, loss, diverged=0):
    return {"regime": "clean", "method": method, "alpha": alpha, "beta": beta, "acc_1": acc,
            "loss_1": loss, "diverged": diverged}


def test_select_picks_best_validation_accuracy_and_skips_diverged_points():
    rows = []
    for regime in study.REGIMES:
        for method in study.METHODS:
            rows.append({**_row(method, 1.0, 0.1, 0.70, 0.5), "regime": regime.name})
    rows += [
        _row("ga", 1.0, 1.0, 0.80, 0.4), _row("ga", 1.0, 1.0, 0.70, 0.4),  # mean 0.75
        _row("ga", 3.0, 3.0, 0.99, 0.1), _row("ga", 3.0, 3.0, math.nan, math.nan, diverged=1),
        _row("maml", 0.3, 0.3, 0.70, 0.45),  # ties with (1.0, 0.1) on accuracy, lower loss
    ]
    chosen, scored = study.select(rows)
    assert chosen["clean", "ga"] == (1.0, 1.0)
    assert chosen["clean", "maml"] == (0.3, 0.3)
    assert chosen["flip30", "joint"] == (1.0, 0.1)
    assert sum(r["chosen"] for r in scored) == len(study.REGIMES) * len(study.METHODS)
    diverged = [r for r in scored if r["diverged_runs"]]
    assert len(diverged) == 1 and diverged[0]["chosen"] == 0


def test_select_fails_when_every_point_diverged():
    rows = [_row("ga", 1.0, 1.0, math.nan, math.nan, diverged=1)]
    with pytest.raises(ValueError, match="diverged"):
        study.select(rows)


def test_test_tasks_are_fresh_and_shared_by_methods():
    clean, minority = study.REGIME_BY_NAME["clean"], study.REGIME_BY_NAME["minority30"]
    val = study.make_eval_tasks(clean, "val", 0, 20)["clean"]
    test = study.make_eval_tasks(clean, "test", 0, 20)["clean"]
    again = study.make_eval_tasks(clean, "test", 0, 20)["clean"]
    assert not np.allclose(val.x_support, test.x_support)
    np.testing.assert_array_equal(test.x_query, again.x_query)
    sets = study.make_eval_tasks(minority, "test", 0, 20)
    assert set(sets) == {"majority", "minority"}
    np.testing.assert_array_equal(sets["majority"].x_support, test.x_support)
    # Minority test tasks follow the minority direction: their true weights lean towards it.
    other = study.gh.minority_direction(study.N_FEATURES, minority.minority_angle)
    assert np.mean(sets["minority"].true_theta @ other) > 0.5
    assert np.mean(sets["majority"].true_theta @ other) < 0.0
    mixture = study.make_eval_tasks(minority, "val", 0, 20)["mixture"]
    assert mixture.n_tasks == 20


def test_run_job_is_deterministic_and_reports_ga_weights():
    budget = study.Budget(epochs=30, betas=(1.0,), alphas=(1.0,), val_seeds=1, eval_tasks=10,
                          diag_batches=3)
    job = study.Job("flip30", "ga", 1.0, (1.0,), 4, "test", budget)
    first, second = study.run_job(job), study.run_job(job)
    assert first == second
    (row,) = first
    assert 0.0 < row["w_sum"] <= 1.0 + 1e-12
    assert math.isfinite(row["w_flagged"]) and math.isfinite(row["w_other"])
    assert 0.0 < row["diag_share"] <= 1.0


# ---------------------------------------------------------------------------------------------
# Smoke run of the whole study
# ---------------------------------------------------------------------------------------------


def test_quick_study_writes_tables_and_figure(tmp_path, capsys):
    result = study.main(["--quick", "--seeds", "2", "--epochs", "20", "--workers", "1",
                         "--out", str(tmp_path)])
    paths = result["paths"]
    with paths["raw"].open() as fh:
        raw = list(csv.DictReader(fh))
    columns = ["regime", "eval_set", "method", "seed", "alpha", "beta", "epochs", "diverged",
               "acc_0", "loss_0", "acc_1", "loss_1", "acc_5", "loss_5", *study.DIAGNOSTICS]
    assert list(raw[0]) == columns
    n_sets = len(study.eval_rows())
    assert len(raw) == n_sets * len(study.METHODS) * 2
    for row in raw:
        assert 0.0 <= float(row["acc_1"]) <= 1.0
        assert (row["w_sum"] != "") == (row["method"] in study.GA_METHODS)
    with paths["summary"].open() as fh:
        summary = list(csv.DictReader(fh))
    assert list(summary[0]) == ["regime", "eval_set", "method", "metric", "n", "mean",
                                "half_width", "ci_low", "ci_high"]
    methods = {r["method"] for r in summary}
    assert methods == {*study.METHODS, "ga-maml", "foga-fomaml"}
    text = paths["markdown"].read_text(encoding="utf-8")
    assert "GA − MAML" in text
    for _, _, label in study.eval_rows():
        assert f"| {label} |" in text
    png = paths["figure"].read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) < 300_000
    total = sum(p.stat().st_size for p in paths.values() if p.suffix == ".csv")
    assert total < 200_000
    assert "wall time" in capsys.readouterr().out
