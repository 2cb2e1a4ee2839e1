"""Tests of benchmarks/studylib.py, the library both studies share: its statistics on numbers
with known answers, the tuning rule's helpers (scoring, where a choice sits, edge extension, the
round loop) on synthetic validation rows, the job runner in-process, and the report helpers
(cells, Markdown tables, CSV files). Also: neither study defines a copy of the library's names.
"""

from __future__ import annotations

import argparse
import ast
import csv
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))  # where the studies find studylib when they run
import ga_vs_maml  # noqa: E402
import sine_design  # noqa: E402
import sine_report  # noqa: E402
import sine_runs  # noqa: E402
import sine_study  # noqa: E402
import studylib  # noqa: E402

# ---------------------------------------------------------------------------------------------
# The studies use the library, not copies of it
# ---------------------------------------------------------------------------------------------


def _top_level_names(module) -> set[str]:
    """The names a module's source defines at top level (functions, classes, assignments)."""
    names = set()
    for node in ast.parse(Path(module.__file__).read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


# What every study script has, each its own version: its budget, design and protocol, the
# entry points the tests and the command line use.
STUDY_INTERFACE = {"Budget", "DEFAULT_OUT", "FULL", "Job", "METHODS", "QUICK", "SUMMARY_KEY",
                   "figure", "main", "markdown", "parse_args", "print_headline", "run_job",
                   "summarise", "tune", "tuning_jobs"}


SINE = (sine_study, sine_design, sine_runs, sine_report)  # the sine study's four files


@pytest.mark.parametrize("module", [ga_vs_maml, *SINE])
def test_no_study_defines_a_name_of_the_library(module):
    assert not _top_level_names(module) & _top_level_names(studylib)
    assert module.studylib is studylib


def test_the_studies_give_different_things_different_names():
    sine = set().union(*map(_top_level_names, SINE))
    assert _top_level_names(ga_vs_maml) & sine == STUDY_INTERFACE
    for i, first in enumerate(SINE):  # each name of the sine study is defined in one file
        for second in SINE[i + 1:]:
            assert not _top_level_names(first) & _top_level_names(second), (first, second)


def test_the_studies_share_the_statistics_and_the_tuning_rule():
    # Moved from tests/test_sine_study.py, where the sine study reused ga_vs_maml's functions.
    for name in ("mean_ci", "paired_difference", "extend", "choose", "write_csv", "run_jobs"):
        assert getattr(studylib, name).__module__ == "studylib", name
        assert not hasattr(ga_vs_maml, name) and not hasattr(sine_study, name), name
    assert ga_vs_maml.METHODS["maml"].__class__ is studylib.Method
    assert sine_study.METHODS["maml"].__class__ is studylib.Method


# ---------------------------------------------------------------------------------------------
# t distribution
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("df", "expected"),
    [(1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622), (19, 2.0930), (30, 2.0423),
     (120, 1.9799)],
)
def test_t_quantile_matches_table(df, expected):
    assert studylib.t_quantile(0.975, df) == pytest.approx(expected, abs=1e-4)


def test_t_quantile_closed_forms():
    # df = 1 is the Cauchy distribution; df = 2 has t = (2p - 1) / sqrt(2 p (1 - p)).
    for p in (0.6, 0.9, 0.975, 0.995):
        assert studylib.t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-9)
        assert studylib.t_quantile(p, 2) == pytest.approx(
            (2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-9)


def test_t_quantile_symmetry_median_and_normal_limit():
    assert studylib.t_quantile(0.5, 7) == 0.0
    assert studylib.t_quantile(0.025, 19) == pytest.approx(-studylib.t_quantile(0.975, 19),
                                                           rel=1e-12)
    assert studylib.t_quantile(0.975, 10**7) == pytest.approx(1.959964, abs=1e-6)
    # The series (df <= 10 000) and the expansion (beyond) agree where they meet.
    assert studylib.t_quantile(0.975, 10_000) == pytest.approx(
        studylib.t_quantile(0.975, 10_001), abs=1e-6)


def test_t_cdf_inverts_quantile_and_matches_cauchy():
    for df in (1, 2, 3, 8, 25, 99):
        for p in (0.55, 0.8, 0.975):
            assert studylib.t_cdf(studylib.t_quantile(p, df), df) == pytest.approx(p, abs=1e-10)
    for t in (-3.0, 0.0, 0.7, 5.0):
        assert studylib.t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)
    assert studylib.t_cdf(math.inf, 3) == 1.0
    assert studylib.t_cdf(-math.inf, 3) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [({"p": 0.0, "df": 3}, "p"), ({"p": 1.0, "df": 3}, "p"), ({"p": math.nan, "df": 3}, "p"),
     ({"p": True, "df": 3}, "p"), ({"p": 0.9, "df": 0}, "df"), ({"p": 0.9, "df": 2.5}, "df")],
)
def test_t_quantile_rejects_bad_input(kwargs, word):
    with pytest.raises(ValueError, match=word):
        studylib.t_quantile(**kwargs)


def test_t_cdf_rejects_bad_input():
    with pytest.raises(ValueError, match="df"):
        studylib.t_cdf(1.0, 0)
    with pytest.raises(ValueError, match="t must"):
        studylib.t_cdf(math.nan, 3)


# ---------------------------------------------------------------------------------------------
# Mean with a t interval, paired differences
# ---------------------------------------------------------------------------------------------


def test_mean_ci_known_answer():
    mean, half = studylib.mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    # s = sqrt(2.5), n = 5, t_{0.975, 4} = 2.776445
    assert mean == pytest.approx(3.0)
    assert half == pytest.approx(2.776445 * math.sqrt(2.5) / math.sqrt(5), rel=1e-6)
    _, half_90 = studylib.mean_ci([1.0, 2.0, 3.0, 4.0, 5.0], level=0.90)
    assert half_90 == pytest.approx(2.131847 * math.sqrt(2.5) / math.sqrt(5), rel=1e-6)


def test_mean_ci_of_constant_data_has_zero_width():
    assert studylib.mean_ci([0.7] * 20) == (pytest.approx(0.7), 0.0)


def test_mean_ci_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    samples = rng.normal(1.0, 2.0, size=(2000, 5))
    covered = [abs(m - 1.0) <= h for m, h in map(studylib.mean_ci, samples)]
    assert np.mean(covered) == pytest.approx(0.95, abs=0.015)


def test_paired_difference():
    a = np.array([0.71, 0.74, 0.69, 0.80])
    assert studylib.paired_difference(a, a) == (0.0, 0.0)
    # A constant shift is known exactly, whatever the spread between seeds.
    mean, half = studylib.paired_difference(a + 0.01, a)
    assert mean == pytest.approx(0.01)
    assert half == pytest.approx(0.0, abs=1e-12)
    # Otherwise it is the interval of the differences.
    b = a - np.array([1.0, 2.0, 3.0, 4.0, 5.0][:4])
    assert studylib.paired_difference(a, b) == pytest.approx(studylib.mean_ci([1.0, 2.0, 3.0, 4.0]))


@pytest.mark.parametrize(
    ("values", "word"),
    [([1.0], "at least 2"), ([], "at least 2"), ([1.0, math.nan], "NaN"),
     ([[1.0, 2.0], [3.0, 4.0]], "1-D"), (["a", "b"], "numbers")],
)
def test_mean_ci_rejects_bad_input(values, word):
    with pytest.raises(ValueError, match=word):
        studylib.mean_ci(values)


def test_interval_functions_reject_bad_level_and_lengths():
    for level in (0.0, 1.0, 95, True):
        with pytest.raises(ValueError, match="level"):
            studylib.mean_ci([1.0, 2.0], level=level)
    with pytest.raises(ValueError, match="same length"):
        studylib.paired_difference([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="b contains"):
        studylib.paired_difference([1.0, 2.0], [1.0, math.inf])


# ---------------------------------------------------------------------------------------------
# Grids, scoring, the round loop
# ---------------------------------------------------------------------------------------------


def test_log_grid_is_an_exact_one_three_sequence():
    assert [studylib.log_grid(j) for j in range(-3, 4)] == [0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]
    assert [ga_vs_maml.alpha_of(j) for j in range(-3, 4)] == [
        studylib.log_grid(j) for j in range(-3, 4)]


def test_extend_adds_one_value_beyond_each_edge_as_a_full_product():
    def where(alpha, beta):
        return {"alpha": alpha, "beta": beta}

    grid = {("clean", m): ({0, 1}, {-1, 0, 1}) for m in ("maml", "ga", "reptile", "foga")}
    status = {("clean", "maml"): where("interior", "interior"),
              ("clean", "ga"): where("interior", "upper edge"),
              ("clean", "reptile"): where("lower edge", "largest stable"),
              ("clean", "foga"): where("all diverged", "all diverged")}
    points = studylib.extend(grid, status)
    assert points == [("clean", "ga", 0, 2), ("clean", "ga", 1, 2),
                      ("clean", "reptile", -1, -1), ("clean", "reptile", -1, 0),
                      ("clean", "reptile", -1, 1),
                      ("clean", "foga", 0, -2), ("clean", "foga", 1, -2)]
    assert grid["clean", "maml"] == ({0, 1}, {-1, 0, 1})
    assert grid["clean", "ga"] == ({0, 1}, {-1, 0, 1, 2})
    assert grid["clean", "reptile"] == ({-1, 0, 1}, {-1, 0, 1})
    # Both axes at once: the new row, the new column and their corner.
    grid = {("clean", "maml"): ({0}, {0})}
    points = studylib.extend(grid, {("clean", "maml"): where("upper edge", "lower edge")})
    assert sorted(points) == [("clean", "maml", 0, -1), ("clean", "maml", 1, -1),
                              ("clean", "maml", 1, 0)]


def test_intervals_of_finite_values_and_pairs():
    stats = studylib.interval([1.0, 2.0, math.nan, 3.0, 4.0, 5.0])
    assert (stats["mean"], stats["half_width"]) == pytest.approx(studylib.mean_ci([1, 2, 3, 4, 5]))
    assert stats["n"] == 5 and list(stats) == ["n", "mean", "half_width", "ci_low", "ci_high"]
    assert stats["ci_low"] == pytest.approx(stats["mean"] - stats["half_width"])
    one = studylib.interval([math.inf, 2.5])
    assert one["n"] == 1 and one["mean"] == 2.5 and math.isnan(one["half_width"])
    none = studylib.interval([math.nan])
    assert none["n"] == 0 and math.isnan(none["mean"])
    # Pairs with a non-finite side are left out; the rest is paired_difference.
    a, b = [1.0, 2.0, math.nan, 4.5], [0.5, 1.0, 3.0, 4.0]
    stats = studylib.paired_interval(a, b)
    assert stats["n"] == 3
    assert (stats["mean"], stats["half_width"]) == pytest.approx(
        studylib.paired_difference([1.0, 2.0, 4.5], [0.5, 1.0, 4.0]))
    assert studylib.paired_interval([1.0], [0.25])["mean"] == 0.75


def test_seed_pairs_and_index():
    a = {0: {"m": 1.0}, 1: {"m": 2.0}, 3: {"m": 4.0}}
    b = {3: {"m": 0.5}, 0: {"m": 0.25}, 2: {"m": 9.0}}
    assert studylib.seed_pairs(a, b, "m") == ([1.0, 4.0], [0.25, 0.5])
    rows = [{"x": "a", "y": 1, "v": 0.1}, {"x": "b", "y": 2, "v": 0.2}]
    assert studylib.index(rows, ("x", "y")) == {("a", 1): rows[0], ("b", 2): rows[1]}


def test_task_rng_streams_are_separate_and_reproducible():
    assert studylib.task_rng("val", 3).random() == studylib.task_rng("val", 3).random()
    assert studylib.task_rng("val", 3).random() != studylib.task_rng("test", 3).random()
    assert studylib.STREAM == {"val": 1, "test": 2, "diag": 3}


def test_methods_come_from_the_variant_table():
    table = studylib.methods({"ga-reptile": "X", "fomaml": "o"})
    assert list(table) == ["ga-reptile", "fomaml"]
    variant = studylib.gh.VARIANTS["ga-reptile"]
    assert table["ga-reptile"] == studylib.Method(variant.label, "ga-reptile", variant.color, "X",
                                                  False, "paper")
    assert table["ga-reptile"].weighted and not table["fomaml"].weighted
    assert not table["fomaml"].second_order
    assert studylib.methods({"maml": "-"})["maml"].second_order


def _row(group, method, alpha, beta, value, diverged=0):
    return {"g": group, "method": method, "alpha": alpha, "beta": beta, "v": value,
            "diverged": diverged}


def test_score_averages_seeds_orders_points_and_drops_failed_ones():
    rows = [_row("e", "b", 1.0, 0.2, 0.4), _row("e", "b", 1.0, 0.2, 0.6),
            _row("e", "b", 1.0, 0.1, 0.3), _row("e", "a", 3.0, 0.1, 0.5),
            _row("e", "a", 1.0, 0.1, 0.5, diverged=1), _row("e", "a", 1.0, 0.1, 0.7)]
    added_in = {("e", m, a, b): r for m, a, b, r in
                (("b", 1.0, 0.2, 1), ("b", 1.0, 0.1, 0), ("a", 3.0, 0.1, 2), ("a", 1.0, 0.1, 0))}
    scored = studylib.score(rows, "g", added_in, {"val_v": "v"})
    assert [(r["method"], r["alpha"], r["beta"]) for r in scored] == [
        ("a", 1.0, 0.1), ("a", 3.0, 0.1), ("b", 1.0, 0.1), ("b", 1.0, 0.2)]  # by name
    assert list(scored[0]) == ["g", "method", "alpha", "beta", "round", "val_v", "runs",
                               "diverged_runs", "chosen", "alpha_status", "beta_status"]
    assert math.isnan(scored[0]["val_v"]) and scored[0]["diverged_runs"] == 1
    assert scored[3]["val_v"] == pytest.approx(0.5) and scored[3]["runs"] == 2
    assert [r["round"] for r in scored] == [0, 2, 0, 1]
    ordered = studylib.score(rows, "g", added_in, {"val_v": "v"}, order=[("e", "b"), ("e", "a")])
    assert [r["method"] for r in ordered] == ["b", "b", "a", "a"]
    strict = studylib.score(rows, "g", added_in, {"val_v": "v"},
                            failed=lambda r: r["diverged"] or r["v"] > 0.55)
    assert [r["diverged_runs"] for r in strict] == [2, 0, 0, 1]


def test_position_on_one_axis():
    line = [{"beta": b, "diverged_runs": d} for b, d in zip((1, 2, 3, 4), (0, 0, 1, 0),
                                                             strict=True)]
    assert studylib.position(line, line[0]) == "lower edge"
    assert studylib.position(line, line[3]) == "upper edge"
    assert studylib.position(line, line[1]) == "largest stable"
    line[2]["diverged_runs"] = 0
    assert studylib.position(line, line[1]) == "interior"


def test_tune_grid_widens_a_tuned_axis_and_never_a_fixed_one():
    """A peak at beta exponent 2 from a start at {0, 1}: two rounds of extension upwards; alpha
    is fixed (one value) and stays."""
    runs = []

    def run(points):
        runs.append(list(points))
        return [_row(g, m, studylib.log_grid(j), 0.1 * 2.0**k, -(k - 2) ** 2)
                for g, m, j, k in points]

    def score_rows(rows, added_in):
        return studylib.score(rows, "g", added_in, {"val_v": "v"})

    def select(scored):
        return studylib.choose(scored, "g", lambda r: (-r["val_v"], r["beta"]), fixed=("alpha",))

    chosen, status, scored = studylib.tune_grid(
        [("e", "m")], ({0}, {0, 1}), 4, lambda j, k: (studylib.log_grid(j), 0.1 * 2.0**k), run,
        score_rows, select)
    assert chosen["e", "m"] == (1.0, 0.4)
    assert status["e", "m"] == {"alpha": "fixed", "beta": "interior"}
    assert runs == [[("e", "m", 0, 0), ("e", "m", 0, 1)], [("e", "m", 0, 2)], [("e", "m", 0, 3)]]
    assert [(r["beta"], r["round"]) for r in scored] == [(0.1, 0), (0.2, 0), (0.4, 1), (0.8, 2)]
    assert sum(r["chosen"] for r in scored) == 1
    _, status, scored = studylib.tune_grid(
        [("e", "m")], ({0}, {0, 1}), 1, lambda j, k: (1.0, 0.1 * 2.0**k), run, score_rows,
        select)
    assert status["e", "m"]["beta"] == "upper edge" and len(scored) == 3  # rounds ran out


# ---------------------------------------------------------------------------------------------
# The job runner
# ---------------------------------------------------------------------------------------------


def _square(x: int) -> int:
    return x * x


def test_run_jobs_in_process_and_in_a_pool_keep_the_job_order(capsys):
    jobs = [3, 1, 4, 1, 5]
    with studylib.worker_pool(1) as pool:
        assert pool is None
        assert studylib.run_jobs(jobs, pool, "test", _square) == [9, 1, 16, 1, 25]
    started = []

    def record(x):
        started.append(x)
        return x

    assert studylib.run_jobs(jobs, None, "costly first", record, cost=lambda x: x) == jobs
    assert started == [5, 4, 3, 1, 1]
    assert "costly first: 5/5 runs" in capsys.readouterr().err
    with studylib.worker_pool(2) as pool:
        assert studylib.run_jobs(jobs, pool, "pool", _square, cost=_square) == [
            9, 1, 16, 1, 25]


def test_train_returns_none_when_meta_training_diverges():
    config = studylib.gh.LinearConfig(method="maml", n_tasks=2, k_shot=5, k_query=5,
                                    n_features=5, meta_iterations=3, eval_every=3,
                                    eval_tasks=2, seed=0)
    assert isinstance(studylib.train(config), studylib.gh.History)
    assert studylib.train(studylib.gh.LinearConfig(**{**vars(config), "beta": 1e300,
                                                    "alpha": 1e300})) is None


def test_run_options_are_shared(tmp_path):
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    studylib.add_run_options(parser, tmp_path / "default")
    args = parser.parse_args([])
    studylib.check_run_options(parser, args, tmp_path / "default", "x_")
    assert (args.out, args.workers) == (tmp_path / "default", 2)
    args = parser.parse_args(["--quick"])
    studylib.check_run_options(parser, args, tmp_path / "default", "x_")
    assert args.out.name.startswith("x_") and args.out.is_dir()
    args.out.rmdir()
    with pytest.raises(SystemExit):
        studylib.check_run_options(parser, parser.parse_args(["--workers", "0"]), tmp_path, "x_")


# ---------------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------------


def test_cells_bold_only_intervals_that_exclude_zero():
    s = {"a": {"mean": -0.05, "half_width": 0.01, "ci_low": -0.06, "ci_high": -0.04},
         "b": {"mean": -0.05, "half_width": 0.1, "ci_low": -0.15, "ci_high": 0.05},
         "c": {"mean": math.nan, "half_width": math.nan, "ci_low": math.nan,
               "ci_high": math.nan}}
    assert studylib.cell(s, "a", signed=True) == "**-0.050 ± 0.010**"
    assert studylib.cell(s, "b", signed=True) == "-0.050 ± 0.100"
    assert studylib.cell(s, "c") == studylib.cell(s, "missing") == "n/a"


def test_mean_cell_and_status_marks():
    s = {"k": {"mean": 0.12345, "half_width": 0.1}, "nan": {"mean": math.nan}}
    assert studylib.mean_cell(s, "k") == "0.123" and studylib.mean_cell(s, "k", ".2f") == "0.12"
    assert studylib.mean_cell(s, "nan") == studylib.mean_cell(s, "missing") == "n/a"
    assert set(studylib.STATUS_MARK) == {"interior", "largest stable", "upper edge",
                                         "lower edge", "fixed", "all diverged"}


def test_markdown_table():
    assert studylib.markdown_table(["a", "b"], [["1", "2"], ["3", "4"]]) == [
        "| a | b |", "|---|---|", "| 1 | 2 |", "| 3 | 4 |", ""]


def test_write_csv_formats_floats_and_writes_an_empty_file_without_rows(tmp_path):
    path = tmp_path / "x.csv"
    studylib.write_csv(path, [{"name": "a", "alpha": 0.30000000000000004, "beta": 1e-3,
                               "value": 1 / 3, "n": 2, "bad": math.nan},
                              {"name": "b", "alpha": 1.0, "beta": 0.4,
                               "value": np.float64(2.0), "n": 3, "bad": 0.5}], digits=4)
    assert path.read_text() == ("name,alpha,beta,value,n,bad\n"
                                "a,0.3,0.001,0.3333,2,\n"
                                "b,1,0.4,2.0000,3,0.5000\n")
    with path.open() as fh:
        assert [r["name"] for r in csv.DictReader(fh)] == ["a", "b"]
    studylib.write_csv(path, [], digits=4)
    assert path.read_bytes() == b""


def test_the_cache_keeps_finished_runs_so_an_interruption_loses_only_those_in_progress(
        tmp_path):
    source = tmp_path / "code.py"
    source.write_text("version 1")
    cache = studylib.JobCache(tmp_path / "cache", [source])
    calls, interrupt = [], {"at": 4}

    def square(job):
        calls.append(job)
        if job == interrupt["at"]:
            raise KeyboardInterrupt  # the reader pressed Ctrl-C during this run
        return job * job

    with pytest.raises(KeyboardInterrupt):
        studylib.run_jobs([1, 2, 3, 4, 5], None, "first", square, cache=cache)
    assert calls == [1, 2, 3, 4]
    calls.clear()
    interrupt["at"] = None
    assert studylib.run_jobs([1, 2, 3, 4, 5], None, "again", square, cache=cache) == [
        1, 4, 9, 16, 25]
    assert calls == [4, 5]  # only the runs that had not finished
    source.write_text("version 2")  # other code: every run is done again
    changed = studylib.JobCache(tmp_path / "cache", [source])
    assert changed.get(1) is None and cache.get(1) == 1
    assert changed.path(1) != cache.path(1) and cache.path(1) != cache.path(2)


def test_without_a_cache_folder_there_is_no_cache():
    assert studylib.job_cache(None, "sine_study.py") is None


def test_the_cache_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="sources"):
        studylib.JobCache(tmp_path / "cache", [tmp_path / "missing.py"])
    with pytest.raises(ValueError, match="sources"):
        studylib.JobCache(tmp_path / "cache", [])
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ValueError, match="folder"):
        studylib.JobCache(tmp_path / "file", [tmp_path / "file"])
