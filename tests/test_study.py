"""Tests of benchmarks/ga_vs_maml.py: its tuning rule and the edge extension of the alpha and
beta grids (with a stand-in for the worker pool), its paired differences and headroom on
synthetic numbers, its task streams and diagnostics, and a smoke run of the whole study on a tiny
budget, twice (the files must be identical). The statistics and the helpers it shares with the
sine study are tested in tests/test_studylib.py."""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))  # where the study finds studylib when it runs
import ga_vs_maml as study  # noqa: E402
import studylib  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Tuning: the selection rule, where the choice sits, the rounds of extension
# ---------------------------------------------------------------------------------------------


def _val_row(alpha, beta, acc, loss=0.5, diverged=0, regime="clean", method="maml"):
    return {"regime": regime, "method": method, "alpha": alpha, "beta": beta,
            "acc_1": math.nan if diverged else acc, "loss_1": math.nan if diverged else loss,
            "diverged": diverged}


def _select(rows):
    added_in = {(r["regime"], r["method"], r["alpha"], r["beta"]): 0 for r in rows}
    scored = study.score_accuracy(rows, added_in)
    chosen, status = study.select_by_accuracy(scored)
    return chosen, status, scored


def test_grids_are_exact_logarithmic_sequences():
    assert [study.beta_of(k) for k in range(-2, 3)] == [0.025, 0.05, 0.1, 0.2, 0.4]
    assert [study.alpha_of(j) for j in range(-3, 4)] == [0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]
    # The extension of both grids (studylib.extend) is tested in tests/test_studylib.py.


@pytest.mark.parametrize(
    ("accs", "diverged", "expected_beta", "expected_status"),
    [((0.70, 0.80, 0.75), (0, 0, 0), 0.1, "interior"),
     ((0.70, 0.80, 0.99), (0, 0, 1), 0.1, "largest stable"),  # a diverged point never wins
     ((0.70, 0.75, 0.80), (0, 0, 0), 0.2, "upper edge"),
     ((0.80, 0.75, 0.70), (0, 0, 0), 0.05, "lower edge")],
)
def test_select_reports_where_the_chosen_beta_sits(accs, diverged, expected_beta,
                                                   expected_status):
    rows = [_val_row(1.0, beta, acc, diverged=bad)
            for beta, acc, bad in zip((0.05, 0.1, 0.2), accs, diverged, strict=True)]
    rows.append(_val_row(1.0, 0.1, 0.60))  # a second seed of the middle point: mean lowered
    rows[1]["acc_1"] = 2 * accs[1] - 0.60  # ... and restored: the mean is accs[1]
    chosen, status, scored = _select(rows)
    assert chosen["clean", "maml"] == (1.0, expected_beta)
    assert status["clean", "maml"]["beta"] == expected_status
    (row,) = [r for r in scored if r["chosen"]]
    assert row["beta"] == expected_beta and row["beta_status"] == expected_status
    assert [r["runs"] for r in scored] == [1, 2, 1]


def test_select_breaks_ties_by_loss_then_smaller_beta_and_alpha():
    rows = [_val_row(1.0, 0.05, 0.5), _val_row(1.0, 0.1, 0.8, loss=0.4),
            _val_row(1.0, 0.2, 0.8, loss=0.3), _val_row(1.0, 0.4, 0.5)]
    assert _select(rows)[0]["clean", "maml"] == (1.0, 0.2)  # same accuracy, lower loss
    rows = [_val_row(a, b, 0.8 if (a, b) in {(3.0, 0.1), (1.0, 0.2)} else 0.5)
            for a in (1.0, 3.0) for b in (0.05, 0.1, 0.2, 0.4)]
    assert _select(rows)[0]["clean", "maml"] == (3.0, 0.1)  # exact tie: smaller beta
    rows = [_val_row(a, 0.1, 0.8 if a > 0.5 else 0.5) for a in (0.3, 1.0, 3.0)]
    assert _select(rows)[0]["clean", "maml"] == (1.0, 0.1)  # then smaller alpha


def test_select_reports_both_axes_along_the_chosen_point():
    # A 3 x 3 grid; the best point is alpha 3 (top of the alpha grid), beta 0.2, and at
    # alpha 3 the next beta diverged (at alpha 1 it did not: only the chosen alpha's line counts).
    rows = [_val_row(a, b, 0.6) for a in (0.3, 1.0) for b in (0.1, 0.2, 0.4)]
    rows += [_val_row(3.0, 0.1, 0.7), _val_row(3.0, 0.2, 0.9), _val_row(3.0, 0.4, 0, diverged=1)]
    chosen, status, scored = _select(rows)
    assert chosen["clean", "maml"] == (3.0, 0.2)
    assert status["clean", "maml"] == {"alpha": "upper edge", "beta": "largest stable"}
    (row,) = [r for r in scored if r["chosen"]]
    assert (row["alpha_status"], row["beta_status"]) == ("upper edge", "largest stable")
    assert study.choice_text(chosen, status, ("clean", "maml")) == "3, 0.2 (α E↑, β S)"
    rows[4]["acc_1"] = 0.95  # now alpha 1, beta 0.2 wins: interior on both axes
    chosen, status, _ = _select(rows)
    assert chosen["clean", "maml"] == (1.0, 0.2)
    assert status["clean", "maml"] == {"alpha": "interior", "beta": "interior"}
    assert study.choice_text(chosen, status, ("clean", "maml")) == "1, 0.2"


def test_edge_notes_quote_the_edge_and_its_inner_neighbour():
    rows = [_val_row(a, b, 0.9 - b - 0.01 * a) for a in (1.0, 3.0) for b in (0.05, 0.1, 0.2)]
    chosen, status, scored = _select(rows)
    assert chosen["clean", "maml"] == (1.0, 0.05)
    (text, _) = study.edge_notes(status, scored)
    assert "clean/MAML: alpha 1 at the lower edge scores 0.8400, 3 scores 0.8200" in text
    assert "beta 0.05 at the lower edge scores 0.8400, 0.1 scores 0.7900" in text
    assert "barely meta-trains" in text
    rows = [_val_row(1.0, b, 0.5 + (b == 0.1)) for b in (0.05, 0.1, 0.2)]  # one alpha
    assert study.edge_notes(*_select(rows)[1:]) == [
        "Still at an edge (validation accuracy after 1 step): clean/MAML: alpha 1 at the "
        "lower edge scores 1.5000.", ""]


def test_select_flags_a_method_whose_every_point_diverged():
    rows = [_val_row(1.0, 0.1, 0.7), _val_row(1.0, 0.1, 0, diverged=1, method="ga")]
    chosen, status, _ = _select(rows)
    assert ("clean", "ga") not in chosen
    assert status["clean", "ga"] == {"alpha": "all diverged", "beta": "all diverged"}


def test_tuning_jobs_share_one_joint_run_between_alphas():
    budget = _budget()
    points = [("clean", "maml", j, 0) for j in (-1, 0)] + [("clean", "joint", j, 0)
                                                          for j in (-1, 0)]
    jobs = study.tuning_jobs(points, budget)
    assert [(j.method, j.alphas, j.seed) for j in jobs] == [
        ("maml", (0.3,), 1_000_000), ("maml", (0.3,), 1_000_001),
        ("maml", (1.0,), 1_000_000), ("maml", (1.0,), 1_000_001),
        ("joint", (0.3, 1.0), 1_000_000), ("joint", (0.3, 1.0), 1_000_001)]
    assert {j.beta for j in jobs} == {0.1} and {j.role for j in jobs} == {"val"}


def _fake_runner(peaks: dict, unstable_above: float = math.inf, calls: list | None = None):
    """A stand-in for the worker pool: validation accuracy peaks at (alpha, beta) =
    ``peaks.get(method, (1, 0.1))``, falls off with the squared log distance, and training
    diverges for beta above ``unstable_above``."""

    def run(jobs):
        if calls is not None:
            calls.append(len(jobs))
        out = []
        for job in jobs:
            peak_alpha, peak_beta = peaks.get(job.method, (1.0, 0.1))
            diverged = int(job.beta > unstable_above)
            rows = []
            for alpha in job.alphas:
                for set_name in study.REGIME_BY_NAME[job.regime].eval_sets("val"):
                    acc = (0.9 - 0.01 * math.log2(job.beta / peak_beta) ** 2
                           - 0.1 * math.log10(alpha / peak_alpha) ** 2)
                    rows.append({**_val_row(alpha, job.beta, acc, diverged=diverged,
                                            regime=job.regime, method=job.method),
                                 "eval_set": set_name, "seed": job.seed})
            out.append(rows)
        return out

    return run


def _budget(alphas=(-1, 0, 1), betas=(0, 1), max_extensions=6):
    return study.Budget(meta_iterations=10, beta_exponents=betas, alpha_exponents=alphas,
                        val_seeds=2,
                        eval_tasks=5, diag_batches=2, max_extensions=max_extensions)


def test_tune_extends_the_grids_until_the_choice_is_interior():
    calls = []
    peaks = {"maml": (10.0, study.beta_of(4)), "reptile": (0.1, study.beta_of(-4))}
    chosen, status, scored = study.tune(_budget(), _fake_runner(peaks, calls=calls))
    assert chosen["clean", "maml"] == (10.0, study.beta_of(4))
    assert chosen["outlier30", "reptile"] == (0.1, study.beta_of(-4))
    assert chosen["ha-flip30", "ga"] == (1.0, study.beta_of(0))  # peak at k=0: one step down
    assert all(v == {"alpha": "interior", "beta": "interior"} for v in status.values())
    rounds = {(r["alpha"], r["beta"]): r["round"] for r in scored
              if (r["regime"], r["method"]) == ("clean", "maml")}
    # beta: 0.1, 0.2 at the start, then one more per round up to beta_of(5);
    # alpha: 3 was the edge, so 10 came in round 1 and 30 in round 2 (for every beta so far).
    assert sorted({b for _, b in rounds}) == [study.beta_of(k) for k in range(6)]
    assert sorted({a for a, _ in rounds}) == [0.3, 1.0, 3.0, 10.0, 30.0]
    assert len(rounds) == 5 * 6  # a full product
    assert [rounds[1.0, study.beta_of(k)] for k in range(6)] == [0, 0, 1, 2, 3, 4]
    assert rounds[10.0, study.beta_of(0)] == 1 and rounds[30.0, study.beta_of(2)] == 2
    reptile = {(r["alpha"], r["beta"]): r["round"] for r in scored
               if (r["regime"], r["method"]) == ("clean", "reptile")}
    assert min(b for _, b in reptile) == study.beta_of(-5)
    assert min(a for a, _ in reptile) == study.alpha_of(-3)
    # Round 0: every alpha and seed per beta; joint: one run per beta and seed serves all alphas.
    assert calls[0] == len(study.REGIMES) * (
        (len(study.METHODS) - 1) * 2 * 3 * 2 + 2 * 2)
    assert calls[-1] == len(study.REGIMES) * 5 * 2  # only reptile: a beta at each of 5 alphas
    assert sum(r["chosen"] for r in scored) == len(study.REGIMES) * len(study.METHODS)


def test_tune_stops_at_the_largest_stable_beta_or_the_round_limit():
    run = _fake_runner({"maml": (1.0, study.beta_of(6))}, unstable_above=study.beta_of(2))
    chosen, status, scored = study.tune(_budget(), run)
    assert chosen["clean", "maml"] == (1.0, study.beta_of(2))
    assert status["clean", "maml"] == {"alpha": "interior", "beta": "largest stable"}
    assert max(r["beta"] for r in scored if r["method"] == "maml") == study.beta_of(3)
    run = _fake_runner({"maml": (1.0, study.beta_of(6))})
    chosen, status, _ = study.tune(_budget(max_extensions=1), run)
    assert chosen["clean", "maml"][1] == study.beta_of(2)
    assert status["clean", "maml"]["beta"] == "upper edge"


def test_tune_fails_when_every_point_diverges():
    with pytest.raises(ValueError, match="diverged"):
        study.tune(_budget(max_extensions=1), _fake_runner({}, unstable_above=0.0))


# ---------------------------------------------------------------------------------------------
# Summaries: paired differences and headroom on synthetic numbers
# ---------------------------------------------------------------------------------------------


def _synthetic_raw(n_seeds=5, diverged=()):
    """Raw rows for every table line, method and seed: acc_1 = a per-(regime, method) base
    plus a per-seed offset shared by everything (so pairs cancel it)."""
    rows = []
    for r_index, (regime, set_name, _) in enumerate(study.eval_rows()):
        for m_index, (method, spec) in enumerate(study.METHODS.items()):
            for seed in range(n_seeds):
                bad = (regime, method, seed) in diverged
                value = math.nan if bad else 0.5 + 0.01 * r_index + 0.001 * m_index \
                    + 0.02 * seed + 0.0001 * seed**2 * (method == "ga")
                row = {"regime": regime, "eval_set": set_name, "method": method, "seed": seed,
                       "diverged": int(bad)}
                row.update(dict.fromkeys(study.METRICS, value))
                row.update(dict.fromkeys(study.DIAGNOSTICS, 0.1 if spec.weighted else math.nan))
                rows.append(row)
    return rows


def test_summarise_pairs_and_headroom_on_synthetic_numbers():
    raw = _synthetic_raw()
    s = studylib.index(study.summarise(raw), study.SUMMARY_KEY)
    base = {(r, e): i for i, (r, e, _) in enumerate(study.eval_rows())}
    m_index = {m: i for i, m in enumerate(study.METHODS)}
    # GA-Reptile - Reptile: a constant shift, known exactly.
    row = s["flip30", "clean", "ga-reptile-reptile", "acc_1"]
    shift = 0.001 * (m_index["ga-reptile"] - m_index["reptile"])
    assert row["mean"] == pytest.approx(shift) and row["half_width"] == pytest.approx(0, abs=1e-12)
    # GA - MAML: the interval of the per-seed differences.
    diffs = [0.001 * (m_index["ga"] - m_index["maml"]) + 0.0001 * seed**2 for seed in range(5)]
    row = s["tasks5", "clean", "ga-maml", "acc_1"]
    assert (row["mean"], row["half_width"]) == pytest.approx(studylib.mean_ci(diffs))
    # Headroom: MAML on the family's clean regime minus MAML here, paired by seed.
    for regime, set_name, clean in (("flip30", "clean", "clean"),
                                    ("minority30", "majority", "clean"),
                                    ("ha-outlier30", "clean", "ha-clean")):
        expected = 0.01 * (base[clean, "clean"] - base[regime, set_name])
        row = s[regime, set_name, "headroom", "acc_1"]
        assert row["mean"] == pytest.approx(expected) and row["n"] == 5
    for regime, set_name in (("clean", "clean"), ("tasks2", "clean"), ("ha-clean", "clean"),
                             ("minority30", "minority")):
        assert (regime, set_name, "headroom", "acc_1") not in s
    # Diagnostics only for the GA methods; every pair for every table line.
    assert ("clean", "clean", "ga-book", "w_sum") in s
    assert ("clean", "clean", "reptile", "w_sum") not in s
    names = {key[2] for key in s}
    assert names == {*study.METHODS, "headroom",
                     *(study.pair_name(a, b) for a, b in study.PAIRS)}


def test_summarise_leaves_diverged_seeds_out_of_means_and_pairs():
    raw = _synthetic_raw(diverged={("flip30", "ga", 2), ("flip30", "maml", 4)})
    s = studylib.index(study.summarise(raw), study.SUMMARY_KEY)
    assert s["flip30", "clean", "ga", "acc_1"]["n"] == 4
    assert s["flip30", "clean", "ga-maml", "acc_1"]["n"] == 3
    assert s["flip30", "clean", "headroom", "acc_1"]["n"] == 4
    assert s["flip30", "clean", "ga-book-maml", "acc_1"]["n"] == 4
    text = study.diverged_lines(raw)[0]
    assert "flip30/ga seed 2" in text and "flip30/maml seed 4" in text


# ---------------------------------------------------------------------------------------------
# Task streams, diagnostics, one run
# ---------------------------------------------------------------------------------------------


def test_test_tasks_are_fresh_and_shared_within_a_family():
    reg = study.REGIME_BY_NAME
    val = study.make_eval_tasks(reg["clean"], "val", 0, 20)["clean"]
    test = study.make_eval_tasks(reg["clean"], "test", 0, 20)["clean"]
    assert not np.allclose(val.x_support, test.x_support)
    for name in ("flip30", "outlier30", "tasks2"):
        again = study.make_eval_tasks(reg[name], "test", 0, 20)["clean"]
        np.testing.assert_array_equal(again.x_query, test.x_query)
    assert not np.any(test.corrupted)
    sets = study.make_eval_tasks(reg["minority30"], "test", 0, 20)
    assert set(sets) == {"majority", "minority"}
    np.testing.assert_array_equal(sets["majority"].x_support, test.x_support)
    other = study.gh.minority_direction(50, 120.0)
    assert np.mean(sets["minority"].true_theta @ other) > 0.5
    assert np.mean(sets["majority"].true_theta @ other) < 0.0
    assert study.make_eval_tasks(reg["minority30"], "val", 0, 20)["mixture"].n_tasks == 20
    ha = study.make_eval_tasks(reg["ha-clean"], "test", 0, 20)["clean"]
    assert ha.x_support.shape == (20, 40, 5) and ha.x_query.shape == (20, study.EVAL_QUERY, 5)
    np.testing.assert_array_equal(
        study.make_eval_tasks(reg["ha-outlier30"], "test", 0, 20)["clean"].x_support,
        ha.x_support)


def test_training_like_batches_follow_the_regime():
    reg = study.REGIME_BY_NAME["ha-outlier30"]
    batches = study.training_like_batches(reg, 3, 4)
    assert batches.n_tasks == 40 and batches.x_support.shape[1:] == (40, 5)
    assert batches.corrupted.reshape(4, 10).sum(axis=1).tolist() == [3, 3, 3, 3]
    scale = np.abs(batches.x_support).max(axis=(1, 2))
    assert np.all(scale[batches.corrupted] > 1.0) and np.all(scale[~batches.corrupted] <= 1.0)


def test_agreement_diagnostics_of_identical_tasks():
    """T copies of one task: every update is the same, so cos = 1, the diagonal is 1/T of the
    Gram matrix, and every weight is 1/T (no correlation with the update size)."""
    task = study.gh.sample_tasks(1, 10, n_features=6, rng=0)
    batches = study.gh.TaskBatch.concatenate([task] * 8)
    theta = study.gh.init_theta(6, rng=1)
    for normalization in study.gh.NORMALIZATIONS:
        out = study.agreement_diagnostics(theta, batches, 4, 1.0, normalization)
        assert out["mean_cos"] == pytest.approx(1.0)
        assert out["diag_share"] == pytest.approx(0.25)
        assert math.isnan(out["corr_w_sqnorm"])


def test_no_correlation_with_weights_that_differ_only_by_roundoff():
    """With two tasks the cosine weights are 1/2 each, up to the last bit: their correlation
    with the update sizes is noise that changes from one CPU to another, so it is not reported.
    The paper's weights of the same tasks do differ, and do correlate."""
    batches = study.gh.sample_tasks(40, 10, n_features=6, rng=0)
    theta = study.gh.init_theta(6, rng=1)
    cosine = study.agreement_diagnostics(theta, batches, 2, 1.0, "cosine")
    assert math.isnan(cosine["corr_w_sqnorm"])
    paper = study.agreement_diagnostics(theta, batches, 2, 1.0, "paper")
    assert paper["corr_w_sqnorm"] > 0.5


def test_run_job_is_deterministic_and_reports_each_normalisation():
    budget = study.Budget(meta_iterations=30, beta_exponents=(0,), alpha_exponents=(0,),
                          val_seeds=1,
                          eval_tasks=10, diag_batches=3, max_extensions=0)
    rows = {}
    for method in ("ga", "ga-book", "ga-cosine", "ga-reptile"):
        job = study.Job("outlier30", method, 0.4, (1.0,), 4, "test", budget)
        first = study.run_job(job)
        assert first == study.run_job(job)
        (rows[method],) = first
    for method in ("ga", "ga-cosine", "ga-reptile"):  # the paper's eq. 13: sum |w| = 1
        assert rows[method]["w_abs_sum"] == pytest.approx(1.0)
        assert rows[method]["w_sum"] <= 1.0 + 1e-12
    assert rows["ga-book"]["w_abs_sum"] < 0.9  # the book's denominator: sum |w| < 1
    for row in rows.values():
        assert math.isfinite(row["w_flagged"]) and math.isfinite(row["w_other"])
        assert 0.0 < row["diag_share"] <= 1.0
    # Outliers' updates are 3x longer: under the paper's weights they outweigh clean tasks.
    assert rows["ga"]["w_flagged"] > rows["ga"]["w_other"]
    val = study.run_job(study.Job("outlier30", "ga", 0.4, (1.0,), 4, "val", budget))
    assert math.isnan(val[0]["w_sum"])  # diagnostics only in test runs


# ---------------------------------------------------------------------------------------------
# Smoke run of the whole study
# ---------------------------------------------------------------------------------------------


def test_quick_study_writes_identical_tables_and_figure_twice(tmp_path, capsys):
    argv = ["--quick", "--seeds", "2", "--meta_iterations", "20", "--workers", "1"]
    result = study.main([*argv, "--out", str(tmp_path / "a")])
    paths = result["paths"]
    with paths["raw"].open() as fh:
        raw = list(csv.DictReader(fh))
    columns = ["regime", "eval_set", "method", "seed", "alpha", "beta", "meta_iterations",
               "diverged",
               "acc_0", "loss_0", "acc_1", "loss_1", "acc_5", "loss_5", *study.DIAGNOSTICS]
    assert list(raw[0]) == columns
    assert len(raw) == len(study.eval_rows()) * len(study.METHODS) * 2
    for row in raw:
        assert row["diverged"] == "1" or 0.0 <= float(row["acc_1"]) <= 1.0
        assert (row["w_sum"] != "") == (study.METHODS[row["method"]].weighted
                                        and row["diverged"] == "0")
    with paths["summary"].open() as fh:
        summary = list(csv.DictReader(fh))
    assert list(summary[0]) == ["regime", "eval_set", "method", "metric", "n", "mean",
                                "half_width", "ci_low", "ci_high"]
    assert {r["method"] for r in summary} == {
        *study.METHODS, "headroom", *(study.pair_name(a, b) for a, b in study.PAIRS)}
    with paths["tuning"].open() as fh:
        tuning = list(csv.DictReader(fh))
    chosen = [r for r in tuning if r["chosen"] == "1"]
    assert len(chosen) == len(study.REGIMES) * len(study.METHODS)
    for axis in ("alpha_status", "beta_status"):
        assert {r[axis] for r in chosen} <= set(studylib.STATUS_MARK)
    text = paths["markdown"].read_text(encoding="utf-8")
    for heading in ("Paired differences", "Chosen hyperparameters", "GA weights", "headroom",
                    "not in the paper"):
        assert heading in text
    for _, _, label in study.eval_rows():
        assert f"| {label} |" in text
    png = paths["figure"].read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) < 400_000
    assert "wall time" in capsys.readouterr().out
    again = study.main([*argv, "--out", str(tmp_path / "b")])["paths"]
    for name, path in paths.items():
        assert path.read_bytes() == again[name].read_bytes(), name


def test_parse_args_rejects_bad_arguments_and_records_the_command():
    for argv in (["--seeds", "1"], ["--meta_iterations", "0"], ["--workers", "0"]):
        with pytest.raises(SystemExit):
            study.parse_args(argv)
    args = study.parse_args(["--quick", "--meta_iterations", "7", "--out", "x"])
    assert args.budget.meta_iterations == 7
    assert args.budget.alpha_exponents == study.QUICK.alpha_exponents
    assert args.command == ".venv/bin/python benchmarks/ga_vs_maml.py --quick --meta_iterations 7"
    assert study.parse_args(["--out", "x"]).command == ".venv/bin/python benchmarks/ga_vs_maml.py"
