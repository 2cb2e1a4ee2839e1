"""Sine-wave regression: MAML, Reptile and gradient agreement, measured (issues 10 and 17).

    .venv/bin/python benchmarks/sine_study.py            # the study -> benchmarks/results/sine/
    .venv/bin/python benchmarks/sine_study.py --quick    # 2 seeds, tiny budget, temp folder
    .venv/bin/python benchmarks/sine_study.py --experiment corrupted --cache benchmarks/.cache
        # one experiment (and what it needs), finished runs kept and reused after an interruption

Six experiments on Finn et al.'s sine waves ``y = A sin(x - phi)`` with the course's
MLP (``gh.MLP``: ReLU in 1, tanh in the others), each a function of its ``Experiment``
settings and of the ``Budget`` (``sine_design.py``):

1. "finn": Finn, Abbeel, Levine (2017): amplitude U[0.1, 5], phase U[0, pi], x U[-5, 5],
   K = 10, MLP 1-40-40-1, inner lr 0.01, one inner step in training, Adam 1e-3, meta-batch 25;
   joint training ("pretrained"), MAML, FO-MAML and Reptile.
2. "ga-paper": the gradient-agreement paper's sine protocol (Eshratifar, Eigen, Pedram 2018):
   phase U[0, 2 pi], 10 points, 5 inner steps, MLP 1-64-64-1; Reptile, GA-Reptile (the paper's
   weights, eq. 13), MAML and GA-MAML, each with the same tuning budget (below). The paper
   reports MSE 0.13 (Reptile) and 0.08 (gradient agreement) over 1000 unseen tasks and leaves
   the rest unstated (activation, learning rates, meta-batch, meta-iterations, seeds).
3. "corrupted": the ga-paper setting with 30 % of every meta-batch corrupted (``CORRUPTION``);
   Reptile, GA-Reptile, GA-Reptile with ``normalization="cosine"`` (the paper's formula on
   unit-length updates: an extension of this course, not in the paper), each with the learning
   rates tuned for it (for cosine: GA-Reptile's) in "ga-paper", so that the only change is the
   corruption. The headroom of a method is its test MSE trained on corrupted batches minus
   trained on clean ones ("ga-paper"), paired by seed: what the corruption costs, the most any
   reweighting could win back.
4. "plain-step": "ga-paper" for Reptile and GA-Reptile with the paper's own outer rule, the
   plain step ``theta - beta * direction`` (Algorithm 1) instead of Adam, beta swept on a log
   grid; every beta runs on the test seeds, so the two methods are compared both at each
   shared beta and each at its own validated best beta. The inner lr is "ga-paper"'s.
5. "ga-paper-long": "ga-paper"'s Reptile and GA-Reptile (Adam, its tuned values) at the long
   budget (20 000 meta-iterations).
6. "plain-step-long": the plain step at the long budget, each method at its best beta of 4.

Every GA test run also records how much longer its steps are than uniform weights' on the
same batches (``StepRatio`` in ``sine_runs.py``): Adam divides that factor out, a plain step
at a shared beta does not.

Protocol (the same for every method of an experiment):

* Tuning ("grid" experiments): Adam's learning rate (beta) on a log grid ``1e-3 * {..., 0.3,
  1, 3, ...}`` and, if its starting grid has more than one value, the inner learning rate
  (alpha) on ``0.01 * {...}``; every point meta-trained on the validation seeds and scored by
  the mean validation MSE after the experiment's protocol steps on fresh validation tasks
  (ties: smaller beta, then alpha; a point that diverged or gave a non-finite MSE on any
  validation seed is never chosen; if every point did, the smallest values tried are used
  and the method's test runs report what they give). A choice at an edge of a grid gets the
  next value beyond it (run at every value of the other axis) and is made again, up to
  ``max_extensions`` rounds: the rule of ``ga_vs_maml.py``, shared through ``studylib.py``
  (``tune_grid``, ``extend``, ``position``).
  Then an inner lr that is the largest stable value at its beta is bisected towards the value
  that diverged (``refine_rounds`` times). "corrupted" is not tuned: it inherits "ga-paper"'s
  values (tuned on clean batches), so that the corruption is the only change and the headroom
  compares like with like; the long runs inherit the short runs' choices.
* Evaluation: every method is retrained with its values on the test seeds and adapted to
  ``eval_tasks`` fresh test tasks per seed (their own seed stream) with 0, 1, ..., 10 plain
  gradient steps at its inner learning rate on the K support points; the MSE is measured on
  ``eval_query`` query points per task. One seed fixes the initial theta (per network size),
  the training batches and the test tasks for every method, so results pair by seed; the test
  tasks of "ga-paper" and "corrupted" are the same.
* Statistics (``mean_ci``, ``paired_difference`` of ``studylib.py``, shared with
  ``ga_vs_maml.py``): mean over seeds with a 95 % t-interval; paired differences per seed;
  runs with a non-finite MSE left out.

Outputs (in ``--out``): ``raw.csv`` (one row per experiment, method, seed and, in the sweep,
beta), ``summary.csv`` (tidy: mean and interval per experiment, kind, name and metric),
``tuning.csv`` (every grid point's and swept beta's validation MSE), ``summary.md``,
``sine.png`` (experiments 1-3), ``plain-step.png`` (the sweep), ``protocol.json`` (every
experiment, its outer step included) and ``params/<experiment>/<method>_seed<k>.npz`` (``W1,
b1, W2, b2, W3, b3`` of the meta-learned theta; in the sweep, at the method's chosen beta).
The files depend only on the arguments: running twice gives identical files. Timings go to
stderr only.

This file chooses the runs (tuning, sweep, evaluation) and holds the command line; one run is
``sine_runs.py`` (all that ``--cache`` keys a run by, with the design and the course's code),
the report is ``sine_report.py``, the budgets, methods and experiments are ``sine_design.py``;
what the study shares with ``ga_vs_maml.py`` (statistics, the tuning rule's helpers, the job
runner, report helpers) is ``studylib.py``.
"""

from __future__ import annotations

import os

# glibc's malloc hands memory freed at the top of the heap straight back to the OS, so the
# MLP's short-lived arrays (a few hundred KiB, allocated and freed at every meta-step) are
# faulted in again, page by page, each time. A 16 MiB top pad keeps that memory mapped:
# 2-3x faster per meta-iteration on this VM (measured). glibc reads the variable when a
# process starts, so setting it here acts on the worker processes, which start fresh
# ("forkserver" context below) and inherit os.environ; not on this process itself (set it in
# the shell to speed up --workers 1 as well).
os.environ.setdefault("MALLOC_TOP_PAD_", "16777216")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import multiprocessing  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import studylib  # noqa: E402
from sine_design import (  # noqa: E402
    EXPERIMENTS,
    FULL,
    METHODS,
    QUICK,
    Budget,
    Experiment,
    check_design,
    inner_lr,
    outer_lr,
    plain_lr,
)
from sine_report import (  # noqa: E402, F401 -- the report's names, also reached as study.<name>
    SUMMARY_KEY,
    Key,
    at_beta,
    difference_name,
    figure,
    markdown,
    protocol,
    save_params,
    summarise,
    summary_row,
    sweep_betas,
    sweep_figure,
)
from sine_runs import (  # noqa: E402, F401 -- one run, also reached as study.<name>
    MSE_METRICS,
    RATIO_METRICS,
    WEIGHT_METRICS,
    Job,
    StepRatio,
    eval_tasks,
    job_cost,
    make_config,
    mse_curve,
    run_job,
)

import gamaml_helpers as gh  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "sine"

# ---------------------------------------------------------------------------------------------
# Tuning: studylib's edge-extended grids, scored by validation MSE (lower is better)
# ---------------------------------------------------------------------------------------------



Value = tuple[str, str, float, float]  # (experiment, method, alpha, beta)


def value_jobs(points: list[Value], by_name: dict[str, Experiment], budget: Budget,
               role: str = "val") -> list[Job]:
    """Runs of (experiment, method, alpha, beta) points: one per validation seed ("val") or
    per test seed ("test")."""
    seeds = ([studylib.VAL_SEED_OFFSET + v for v in range(budget.val_seeds)] if role == "val"
             else list(range(budget.seeds)))
    return [Job(by_name[e], m, alpha, beta, seed, role, budget)
            for e, m, alpha, beta in points for seed in seeds]


def tuning_jobs(points: list[studylib.Point], by_name: dict[str, Experiment],
                budget: Budget) -> list[Job]:
    """Validation runs of grid points (exponents), one per validation seed."""
    return value_jobs([(e, m, inner_lr(j), outer_lr(k)) for e, m, j, k in points], by_name,
                      budget)


def _unscorable(row: dict) -> bool:
    return bool(row["diverged"]) or not math.isfinite(row["val_mse"])


def score_mse(rows: list[dict], added_in: dict[tuple, int],
              order: list[Key] | None = None) -> list[dict]:
    """One row per grid point (experiment, method, alpha, beta): the mean validation MSE over
    the validation seeds; NaN (never chosen) if any seed diverged or gave a non-finite MSE.
    ``added_in[(experiment, method, alpha, beta)]`` is the round that added the point. Sorted
    by ``order`` of (experiment, method) (default: by name), then alpha, then beta
    (``studylib.score``)."""
    return studylib.score(rows, "experiment", added_in, {"val_mse": "val_mse"}, order, _unscorable)


def select_by_mse(scored: list[dict], fixed: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """Choose (alpha, beta) per (experiment, method): the lowest mean validation MSE (ties:
    smaller beta, then smaller alpha); diverged points never.

    Returns ``{key: (alpha, beta)}`` and ``{key: {"alpha": where, "beta": where}}``, ``where``
    as in ``studylib.position`` ("interior", "largest stable", "lower edge", "upper edge"),
    "fixed" for the axes in ``fixed`` (a one-value grid), "all diverged" where no point is
    stable. Marks the chosen rows of ``scored``.
    """
    return studylib.choose(scored, "experiment", lambda r: (r["val_mse"], r["beta"], r["alpha"]),
                           fixed)


def fixed_axes(budget: Budget) -> tuple[str, ...]:
    """The axes with a one-value starting grid: not tuned, never extended."""
    return tuple(axis for axis, grid in (("alpha", budget.inner_lr_exponents),
                                         ("beta", budget.outer_lr_exponents)) if len(grid) == 1)


def bisection_points(scored: list[dict], chosen: dict, status: dict) -> list[Value]:
    """For every choice whose inner lr is the largest stable value tried at its beta (the next
    larger one diverged): the geometric midpoint of the two, to 3 significant digits."""
    points = []
    for key, where in status.items():
        if where["alpha"] != "largest stable":
            continue
        alpha, beta = chosen[key]
        larger = min(r["alpha"] for r in scored if (r["experiment"], r["method"]) == key
                     and r["beta"] == beta and r["alpha"] > alpha)
        middle = _midpoint(alpha, larger)
        if alpha < middle < larger:
            points.append((*key, middle, beta))
    return points


def tune(experiments: tuple[Experiment, ...], budget: Budget,
         run: studylib.Runner) -> tuple[dict, dict, list[dict]]:
    """Tune every method of every "grid" experiment; ``run`` executes a list of jobs.

    Round 0 runs the starting grid (the product of the inner and outer starting grids); each
    later round adds, for every (experiment, method) whose choice sits at an edge of a tuned
    axis, the next value beyond it, and chooses again, up to ``budget.max_extensions`` rounds
    (``studylib.tune_grid``). Then, up to ``budget.refine_rounds`` times, an inner lr that is
    the largest stable value at its beta is bisected towards the value that diverged (the
    geometric midpoint, ``bisection_points``) and the choice made again over every point: the
    stability edge, not the coarse grid, bounds the inner lr. Where every point diverged, the
    smallest (beta, alpha) tried is chosen, with status "all diverged". Returns (chosen,
    status, scored).
    """
    by_name = {e.name: e for e in experiments}
    keys = [(e.name, m) for e in experiments if e.tuning == "grid" for m in e.methods]
    if not keys:
        return {}, {}, []
    fixed = fixed_axes(budget)
    rows: list[dict] = []

    def run_points(points: list[studylib.Point]) -> list[dict]:
        new = [result["row"] for result in run(tuning_jobs(points, by_name, budget))]
        rows.extend(new)
        return new

    chosen, status, scored = studylib.tune_grid(
        keys, (set(budget.inner_lr_exponents), set(budget.outer_lr_exponents)),
        budget.max_extensions, lambda j, k: (inner_lr(j), outer_lr(k)), run_points,
        lambda rows, added_in: score_mse(rows, added_in, keys),
        lambda scored: select_by_mse(scored, fixed))
    added_in = {(r["experiment"], r["method"], r["alpha"], r["beta"]): r["round"]
                for r in scored}
    for refine in range(budget.refine_rounds):
        points = bisection_points(scored, chosen, status) if "alpha" not in fixed else []
        if not points:
            break
        rows += [result["row"] for result in run(value_jobs(points, by_name, budget))]
        added_in.update(dict.fromkeys(points, budget.max_extensions + 1 + refine))
        scored = score_mse(rows, added_in, keys)
        chosen, status = select_by_mse(scored, fixed)
    for key, where in status.items():  # nothing stable: the most cautious point tried
        if where["beta"] == "all diverged":
            mine = [r for r in scored if (r["experiment"], r["method"]) == key]
            chosen[key] = min((r["beta"], r["alpha"]) for r in mine)[::-1]
            print(f"  warning: every grid point diverged for {key[0]}/{key[1]}; its test runs "
                  f"use the smallest values tried, {chosen[key]}", file=sys.stderr, flush=True)
    return chosen, status, scored


def _midpoint(low: float, high: float) -> float:
    """The geometric midpoint of two learning rates, to 3 significant digits."""
    return float(f"{math.sqrt(low * high):.3g}")


def sweep(experiments: tuple[Experiment, ...], budget: Budget, alphas: dict[Key, float],
          run: studylib.Runner) -> tuple[dict, dict, list[dict], list[dict]]:
    """The plain step's beta sweep of every "sweep" experiment: every beta is run on the
    validation seeds and on the test seeds (the comparison at each shared beta is itself a
    result), at the inner lr ``alphas[(e.alpha_from, method)]``.

    Each method's own best beta is the one with the lowest mean validation MSE (ties: the
    smaller; never one that diverged on a validation seed). While a method's best sits at an
    edge of the betas tried, the next beta beyond it is added, up to ``budget.max_extensions``
    rounds; then, up to ``budget.refine_rounds`` times, a best beta that is the largest stable
    one is bisected towards the beta that diverged (geometric midpoint), as ``tune`` does for
    the inner lr. Every new beta is run for every method of the experiment, so the comparison
    at each shared beta stays complete. Returns (chosen, status, scored validation rows, test
    rows of every beta).
    """
    by_name = {e.name: e for e in experiments}
    chosen, status, scored, tests = {}, {}, [], []
    for e in (e for e in experiments if e.tuning == "sweep"):
        picked, where, mine, rows = _sweep_one(e, by_name, budget, alphas, run)
        chosen.update(picked)
        status.update(where)
        scored += mine
        tests += rows
    return chosen, status, scored, tests


def _sweep_one(e: Experiment, by_name: dict[str, Experiment], budget: Budget,
               alphas: dict[Key, float], run: studylib.Runner) -> tuple:
    """``sweep`` for one experiment: (chosen, status, scored validation rows, test rows)."""
    keys = [(e.name, m) for m in e.methods]
    rows: list[dict] = []
    tests: list[dict] = []
    added_in: dict[tuple, int] = {}
    exponents = set(budget.plain_lr_exponents)
    betas = {plain_lr(k) for k in exponents}

    def run_betas(new: set[float], round_: int) -> tuple[list[dict], dict, dict]:
        points = [(e.name, m, alphas[e.alpha_from, m], b) for m in e.methods
                  for b in sorted(new)]
        jobs = value_jobs(points, by_name, budget) + value_jobs(points, by_name, budget,
                                                                 "test")
        results = run(jobs)
        for job, result in zip(jobs, results, strict=True):
            (rows if job.role == "val" else tests).append(result["row"])
        added_in.update(dict.fromkeys(points, round_))
        mine = score_mse(rows, added_in, keys)
        picked, where = select_by_mse(mine, ("alpha",))
        for key, w in where.items():  # nothing stable: the smallest beta tried
            if w["beta"] == "all diverged":
                picked[key] = (alphas[e.alpha_from, key[1]], min(r["beta"] for r in rows))
        return mine, picked, where

    mine, picked, where = run_betas(betas, 0)
    for round_ in range(1, budget.max_extensions + 1):
        edges = {w["beta"] for w in where.values()}
        new = ({max(exponents) + 1} if "upper edge" in edges else set()) | (
            {min(exponents) - 1} if edges & {"lower edge", "all diverged"} else set())
        if not new:
            break
        exponents |= new
        mine, picked, where = run_betas({plain_lr(k) for k in new}, round_)
    for refine in range(budget.refine_rounds):
        new = set()
        for key, w in where.items():
            if w["beta"] == "largest stable":
                best = picked[key][1]
                larger = min(r["beta"] for r in mine
                             if (r["experiment"], r["method"]) == key and r["beta"] > best)
                middle = _midpoint(best, larger)
                if best < middle < larger:
                    new.add(middle)
        if not new:
            break
        mine, picked, where = run_betas(new, budget.max_extensions + 1 + refine)
    return picked, where, mine, tests


def hyperparameters(experiments: tuple[Experiment, ...], chosen: dict,
                    status: dict) -> dict[Key, dict]:
    """(alpha, beta) of every (experiment, method) and how it was set.

    "fixed": the experiment's own values; "grid": the tuned choice; "sweep": the inner lr of
    ``alpha_from`` and the beta chosen in the sweep; another experiment's name: that
    experiment's choice for the same method or, if it does not run it, for the method with the
    same update rule (e.g. GA-Reptile cosine takes GA-Reptile's).
    """
    out: dict[Key, dict] = {}
    for e in experiments:  # "fixed" and "grid" first, inheritors after
        for m in e.methods:
            if e.tuning == "fixed":
                out[e.name, m] = {"alpha": e.alpha, "beta": e.beta, "alpha_status": "fixed",
                                  "beta_status": "fixed", "source": "fixed"}
            elif e.tuning == "grid":
                (alpha, beta), where = chosen[e.name, m], status[e.name, m]
                out[e.name, m] = {"alpha": alpha, "beta": beta, "alpha_status": where["alpha"],
                                  "beta_status": where["beta"], "source": "tuned"}
    for e in experiments:
        if e.tuning == "sweep":
            for m in e.methods:
                source = out[e.alpha_from, m]
                out[e.name, m] = {"alpha": source["alpha"], "beta": chosen[e.name, m][1],
                                  "alpha_status": source["alpha_status"],
                                  "beta_status": status[e.name, m]["beta"],
                                  "source": f"swept (α from {e.alpha_from}/{m})"}
    by_name = {e.name: e for e in experiments}
    for e in experiments:
        if e.tuning in ("fixed", "grid", "sweep"):
            continue
        source = by_name[e.tuning]
        for m in e.methods:
            spec = METHODS[m]
            twins = [m] if m in source.methods else [
                s for s in source.methods
                if (METHODS[s].base, METHODS[s].first_order) == (spec.base, spec.first_order)]
            if not twins or (source.name, twins[0]) not in out:
                raise ValueError(f"experiment {e.name}: {source.name} has no values for {m}")
            out[e.name, m] = {**out[source.name, twins[0]],
                              "source": f"{source.name}/{twins[0]}"}
    return out


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def with_dependencies(names: list[str] | None) -> tuple[Experiment, ...]:
    """The experiments named (all for None) and those they need: the experiment whose tuned
    values they use and the one they measure headroom against, in the study's order."""
    by_name = {e.name: e for e in EXPERIMENTS}
    wanted = set(by_name) if names is None else set(names)
    if wanted - set(by_name):
        raise ValueError(f"names must be experiments of the study {sorted(by_name)}, got "
                         f"{sorted(wanted - set(by_name))}")
    while True:
        needed = {ref for name in wanted for ref in (by_name[name].tuning,
                                                      by_name[name].clean_reference,
                                                      by_name[name].alpha_from)
                  if ref in by_name} - wanted
        if not needed:
            return tuple(e for e in EXPERIMENTS if e.name in wanted)
        wanted |= needed


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="2 seeds, tiny budget; writes to a temporary folder unless --out")
    parser.add_argument("--seeds", type=int, default=None,
                        help=f"test seeds (default {FULL.seeds}; {QUICK.seeds} with --quick)")
    parser.add_argument("--experiment", action="append", default=None, metavar="NAME",
                        choices=[e.name for e in EXPERIMENTS],
                        help="run only this experiment (repeat for more) and those it needs "
                             "(its tuning source, its clean reference, the source of its inner "
                             "lr); default: all")
    studylib.add_run_options(parser, DEFAULT_OUT)
    args = parser.parse_args(argv)
    budget = QUICK if args.quick else FULL
    command = [".venv/bin/python benchmarks/sine_study.py"] + (["--quick"] if args.quick else [])
    args.experiments = with_dependencies(args.experiment)
    if len(args.experiments) < len(EXPERIMENTS):
        command += [f"--experiment {e.name}" for e in args.experiments]
    if args.seeds is not None:
        if not 2 <= args.seeds <= studylib.VAL_SEED_OFFSET:
            parser.error(f"--seeds must be in 2..{studylib.VAL_SEED_OFFSET} "
                         "(an interval needs two)")
        if args.seeds != budget.seeds:
            command.append(f"--seeds {args.seeds}")
            budget = replace(budget, seeds=args.seeds)
    studylib.check_run_options(parser, args, DEFAULT_OUT, "sine_study_")
    args.budget, args.command = budget, " ".join(command)
    return args


def timing_lines(jobs: list[Job], results: list[dict], phase: str) -> list[str]:
    """Per experiment and method: mean CPU and wall seconds per run, CPU milliseconds per
    meta-iteration (runs that finished) and CPU seconds of the evaluation (stderr only)."""
    groups: dict[Key, list[dict]] = {}
    for job, result in zip(jobs, results, strict=True):
        groups.setdefault((job.experiment.name, job.method), []).append(result)
    lines = []
    for (e, m), rs in groups.items():
        done = [r for r in rs if r["iterations"]]
        per_it = (f"{1e3 * np.mean([r['cpu_train'] / r['iterations'] for r in done]):6.2f}"
                  if done else "   n/a")
        lines.append(
            f"  {phase} {e:<10} {m:<18} {len(rs):3d} runs ({len(rs) - len(done)} diverged): "
            f"{np.mean([r['cpu'] for r in rs]):6.2f} s CPU, {np.mean([r['wall'] for r in rs]):6.2f}"
            f" s wall per run; training {per_it} ms CPU per meta-iteration, evaluation "
            f"{np.mean([r['cpu'] - r['cpu_train'] for r in rs]):5.2f} s CPU")
    return lines


def run_study(budget: Budget, out: Path, workers: int = 2,
              experiments: tuple[Experiment, ...] = EXPERIMENTS,
              command: str = ".venv/bin/python benchmarks/sine_study.py",
              dask_scheduler: str | None = None, cache: Path | None = None) -> dict:
    """Tune, evaluate and write every file; returns the paths, the summary and more."""
    check_design(experiments)
    out.mkdir(parents=True, exist_ok=True)
    start, seeds = time.perf_counter(), range(budget.seeds)
    print(f"sine study: {len(experiments)} experiments, {budget.seeds} test seeds, "
          f"{studylib.where(workers, dask_scheduler)}, output {out}", file=sys.stderr,
          flush=True)
    runs: list[tuple[str, list[Job], list[dict]]] = []  # (phase, jobs, results): timings
    stored = studylib.job_cache(cache, "sine_runs.py", "sine_design.py")
    context = multiprocessing.get_context("forkserver")  # fresh workers: MALLOC_TOP_PAD_ acts
    with studylib.worker_pool(workers, context, dask_scheduler) as pool:
        def runner(phase: str, label: str):
            def run(jobs: list[Job]) -> list[dict]:
                results = studylib.run_jobs(jobs, pool, phase, run_job, job_cost, stored)
                runs.append((label, jobs, results))
                return results
            return run

        print("1/3 tuning", file=sys.stderr, flush=True)
        chosen, status, scored = tune(experiments, budget, runner("tuning", "val "))
        tuned = tuple(e for e in experiments if e.tuning in ("fixed", "grid"))
        alphas = {key: h["alpha"] for key, h in hyperparameters(tuned, chosen, status).items()}
        print("2/3 the plain step's beta sweep", file=sys.stderr, flush=True)
        swept, sweep_status, sweep_scored, sweep_rows = sweep(
            experiments, budget, alphas, runner("sweep", "sweep"))
        hyper = hyperparameters(experiments, {**chosen, **swept}, {**status, **sweep_status})
        scored += sweep_scored
        print("3/3 evaluation", file=sys.stderr, flush=True)
        jobs = [Job(e, m, hyper[e.name, m]["alpha"], hyper[e.name, m]["beta"], seed, "test",
                    budget) for e in experiments for m in e.methods for seed in seeds]
        todo = [job for job in jobs if job.experiment.tuning != "sweep"]
        done = dict(zip(todo, runner("evaluation", "test")(todo), strict=True))
        for phase, phase_jobs, phase_results in runs:  # the sweep's runs at the chosen betas
            if phase == "sweep":
                done.update((job, r) for job, r in zip(phase_jobs, phase_results, strict=True)
                            if job.role == "test")
        results = [done[job] for job in jobs]
    by_experiment = {e.name: [] for e in experiments}
    for row in [r["row"] for r in results if r["row"]["experiment"] not in
                {e.name for e in experiments if e.tuning == "sweep"}] + sweep_rows:
        by_experiment[row["experiment"]].append(row)
    raw = [row for rows in by_experiment.values() for row in rows]
    summary = summarise(raw, experiments, hyper)

    paths = {"raw": out / "raw.csv", "summary": out / "summary.csv", "tuning": out / "tuning.csv",
             "markdown": out / "summary.md", "figure": out / "sine.png",
             "protocol": out / "protocol.json"}
    studylib.write_csv(paths["raw"], raw, digits=6)
    studylib.write_csv(paths["summary"], summary, digits=6)
    studylib.write_csv(paths["tuning"], scored, digits=6)  # no tuning: an empty file
    paths["markdown"].write_text(markdown(summary, experiments, budget, hyper, scored, raw,
                                          command), encoding="utf-8")
    paths["protocol"].write_text(json.dumps(protocol(experiments, budget, hyper, command, raw),
                                            indent=2) + "\n", encoding="utf-8")
    figure(summary, tuple(e for e in experiments if e.size != "long" and e.tuning != "sweep"),
           paths["figure"], budget.seeds)
    for e in (e for e in experiments if e.tuning == "sweep"):
        paths[f"figure {e.name}"] = out / f"{e.name}.png"
        sweep_figure(summary, e, sweep_betas(raw, e), hyper, paths[f"figure {e.name}"],
                     budget.seeds)
    params = []
    for job, result in zip(jobs, results, strict=True):
        if job.seed < budget.param_seeds and result["theta"] is not None:
            path = out / "params" / job.experiment.name / f"{job.method}_seed{job.seed}.npz"
            save_params(path, gh.MLP(job.experiment.sizes, job.experiment.activation),
                        result["theta"])
            params.append(path)

    print_headline(summary, experiments)
    print(f"\nwrote {', '.join(str(p) for p in paths.values())} and {len(params)} parameter "
          f"files in {out / 'params'}")
    print("per-run times (for sizing the budget):", file=sys.stderr)
    for phase, phase_jobs, phase_results in runs:
        print("\n".join(timing_lines(phase_jobs, phase_results, phase)), file=sys.stderr)
    print("per experiment (every run it needed, validation included; with W workers the wall "
          "time is about CPU / W):", file=sys.stderr)
    for e in experiments:
        mine = [r for _, phase_jobs, rr in runs for job, r in zip(phase_jobs, rr, strict=True)
                if job.experiment.name == e.name]
        print(f"  {e.name:<16} {len(mine):4d} runs, {sum(r['cpu'] for r in mine):7.0f} s CPU",
              file=sys.stderr)
    cpu = time.process_time() + sum(r["cpu"] for _, _, rr in runs for r in rr)
    print(f"elapsed {time.perf_counter() - start:.1f} s wall, {cpu:.1f} s CPU (this process and "
          "every run)", file=sys.stderr, flush=True)
    thetas = {(job.experiment.name, job.method, job.seed): result["theta"]
              for job, result in zip(jobs, results, strict=True)}
    return {"paths": paths, "params": params, "hyper": hyper, "summary": summary, "raw": raw,
            "scored": scored, "thetas": thetas}


def print_headline(summary_rows: list[dict], experiments) -> None:
    s = studylib.index(summary_rows, SUMMARY_KEY)
    print("\ntest MSE after the protocol's steps (mean ± 95% half-width), paired differences:")
    for e in experiments:
        k = e.protocol_steps
        metric = f"mse_{k}"
        cells = "  ".join(f"{m} {studylib.cell(s, (e.name, 'method', m, metric))}"
                          for m in e.methods)
        names = [difference_name(a, b) for a, b in e.pairs]
        diffs = "  ".join(f"{n} {studylib.cell(s, (e.name, 'difference', n, metric), True)}"
                          for n in names)
        print(f"  {e.name} ({k} steps): {cells}\n      {diffs}".replace("**", ""))


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    return run_study(args.budget, Path(args.out), args.workers, args.experiments, args.command,
                     args.dask_scheduler, args.cache)


if __name__ == "__main__":
    main()
