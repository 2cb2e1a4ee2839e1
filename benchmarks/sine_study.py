"""Sine-wave regression: MAML, Reptile and gradient agreement, measured (issue 10).

    .venv/bin/python benchmarks/sine_study.py            # the study -> benchmarks/results/sine/
    .venv/bin/python benchmarks/sine_study.py --quick    # 2 seeds, tiny budget, temp folder
    .venv/bin/python benchmarks/sine_study.py --experiment corrupted --cache benchmarks/.cache
        # one experiment (and what it needs), finished runs kept and reused after an interruption

Three experiments on Finn et al.'s sine waves ``y = A sin(x - phi)`` with the course's
MLP (``gh.MLP``: ReLU in 1, tanh in 2 and 3), each a function of its ``Experiment`` settings
and of the ``Budget``:

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
  "corrupted" is tuned on corrupted training batches, validated on clean tasks.
* Evaluation: every method is retrained with its values on the test seeds and adapted to
  ``eval_tasks`` fresh test tasks per seed (their own seed stream) with 0, 1, ..., 10 plain
  gradient steps at its inner learning rate on the K support points; the MSE is measured on
  ``eval_query`` query points per task. One seed fixes the initial theta (per network size),
  the training batches and the test tasks for every method, so results pair by seed; the test
  tasks of "ga-paper" and "corrupted" are the same.
* Statistics (``mean_ci``, ``paired_difference`` of ``studylib.py``, shared with
  ``ga_vs_maml.py``): mean over seeds with a 95 % t-interval; paired differences per seed;
  runs with a non-finite MSE left out.

Outputs (in ``--out``): ``raw.csv`` (one row per experiment, method and seed), ``summary.csv``
(tidy: mean and interval per experiment, kind, name and metric), ``tuning.csv`` (every grid
point's validation MSE), ``summary.md``, ``sine.png``, ``protocol.json`` and
``params/<experiment>/<method>_seed<k>.npz`` (``W1, b1, W2, b2, W3, b3`` of the meta-learned
theta). The files depend only on the arguments: running twice gives identical files. Timings
go to stderr only.

The budgets, methods and experiments are in ``sine_design.py``; what the study shares with
``ga_vs_maml.py`` (the statistics, the tuning rule's helpers, the job runner and the report
helpers) is in ``studylib.py``, imported as ``studylib``.
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
from dataclasses import dataclass, fields, replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import studylib  # noqa: E402
from sine_design import (  # noqa: E402
    CORRUPTION_NOTE,
    DIVERGED_MSE,
    EXPERIMENTS,
    FULL,
    HEADLINE_STEPS,
    MAX_STEPS,
    METHODS,
    QUICK,
    Budget,
    Experiment,
    check_design,
    inner_lr,
    outer_lr,
)

import gamaml_helpers as gh  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "sine"

# ---------------------------------------------------------------------------------------------
# One run: meta-train, adapt to fresh tasks, measure
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One meta-training run and its evaluation."""

    experiment: Experiment
    method: str
    alpha: float  # inner learning rate (training and test-time adaptation)
    beta: float  # Adam's learning rate
    seed: int
    role: str  # "val" or "test"
    budget: Budget


def make_config(job: Job) -> gh.SineConfig:
    e, m, b = job.experiment, METHODS[job.method], job.budget
    iterations = e.iterations(b)
    return gh.SineConfig(
        hidden=e.hidden, activation=e.activation, outer="adam",
        amplitude=e.amplitude, phase=e.phase, x_range=e.x_range, corrupt_frac=e.corrupt_frac,
        corruption=e.corruption, normalization=m.normalization, method=m.base,
        first_order=m.first_order, alpha=job.alpha, beta=job.beta, n_tasks=e.n_tasks(b),
        k_shot=e.k_shot, k_query=e.k_shot, inner_steps=e.inner_steps,
        meta_iterations=iterations, eval_every=iterations, eval_tasks=1, seed=job.seed)


def eval_tasks(e: Experiment, role: str, seed: int, n_tasks: int, k_query: int) -> gh.TaskBatch:
    """Fresh, clean validation or test tasks of a seed, from their own stream: the same for
    every method, and for every experiment with the same task family."""
    return gh.sample_sine_tasks(n_tasks, e.k_shot, k_query=k_query, amplitude=e.amplitude,
                                phase=e.phase, x_range=e.x_range,
                                rng=studylib.task_rng(role, seed))


def mse_curve(model, theta: np.ndarray, tasks: gh.TaskBatch, alpha: float,
              steps: int) -> np.ndarray:
    """Mean query MSE after 0, 1, ..., ``steps`` gradient steps on each task's support set.

    The same arithmetic as ``gh.adapt_and_evaluate(theta, tasks, alpha, steps=s)`` for every
    s (checked in the tests), continued step by step instead of restarted for each s.
    Values above ``DIVERGED_MSE`` or non-finite (adaptation blew up) come back as NaN, and so
    do all later ones. theta (P,) -> (steps + 1,).
    """
    out = np.full(steps + 1, np.nan)
    with np.errstate(all="ignore"):
        adapted = np.broadcast_to(theta, (tasks.n_tasks, theta.size))
        for s in range(steps + 1):
            if s:
                adapted = adapted - alpha * model.grad(adapted, tasks.x_support, tasks.y_support)
            value = float(model.loss(adapted, tasks.x_query, tasks.y_query).mean())
            if not value <= DIVERGED_MSE:  # NaN too
                break
            out[s] = value
    return out


MSE_METRICS = tuple(f"mse_{s}" for s in range(MAX_STEPS + 1))
WEIGHT_METRICS = ("w_clean", "w_corrupted", "w_sum")


def run_job(job: Job) -> dict:
    """Train and evaluate one job: ``{"row": ..., "theta": ..., "cpu": s, "wall": s,
    "cpu_train": s, "iterations": int}`` (the times go to stderr only, never into the files).

    Validation rows hold ``val_mse`` (after the protocol's steps); test rows the MSE after
    0..MAX_STEPS steps and, for the GA methods, the mean weights of clean and corrupted tasks
    over training (``gh.mean_task_weights``) and the mean sum of the weights per meta-step.
    """
    cpu, wall = time.process_time(), time.perf_counter()
    e, b = job.experiment, job.budget
    history = studylib.train(make_config(job))
    cpu_train = time.process_time() - cpu
    n_tasks = b.val_tasks if job.role == "val" else b.eval_tasks
    steps = e.protocol_steps if job.role == "val" else MAX_STEPS
    curve = np.full(steps + 1, np.nan)
    if history is not None:
        model = gh.make_model(history.config)
        tasks = eval_tasks(e, job.role, job.seed, n_tasks, b.eval_query)
        curve = mse_curve(model, history.theta, tasks, job.alpha, steps)
    row = {"experiment": e.name, "method": job.method, "seed": job.seed, "alpha": job.alpha,
           "beta": job.beta}
    if job.role == "val":
        row.update(diverged=int(history is None), val_mse=float(curve[-1]))
    else:
        row.update(meta_iterations=e.iterations(b), n_tasks=e.n_tasks(b),
                   diverged=int(history is None))
        row.update(zip(MSE_METRICS, map(float, curve), strict=True))
        weights = dict.fromkeys(WEIGHT_METRICS, math.nan)
        if history is not None and METHODS[job.method].weighted:
            means = gh.mean_task_weights(history)
            weights.update(w_clean=means["clean"], w_corrupted=means["corrupted"],
                           w_sum=float(history.weights.sum(axis=1).mean()))
        row.update(weights)
    theta = None if history is None else history.theta
    return {"row": row, "theta": theta, "cpu": time.process_time() - cpu,
            "wall": time.perf_counter() - wall, "cpu_train": cpu_train,
            "iterations": 0 if history is None else history.iterations_done}


def job_cost(job: Job) -> float:
    """A rough relative cost, to hand the longest jobs to the pool first."""
    e, m = job.experiment, METHODS[job.method]
    per_task = e.inner_steps * (3.0 if m.second_order else 1.0) + 1.0
    return e.iterations(job.budget) * e.n_tasks(job.budget) * per_task * math.prod(e.hidden)


# ---------------------------------------------------------------------------------------------
# Tuning: studylib's edge-extended grids, scored by validation MSE (lower is better)
# ---------------------------------------------------------------------------------------------

Key = tuple[str, str]  # (experiment, method)


def tuning_jobs(points: list[studylib.Point], by_name: dict[str, Experiment],
                budget: Budget) -> list[Job]:
    """Validation runs of grid points, one per validation seed."""
    seeds = [studylib.VAL_SEED_OFFSET + v for v in range(budget.val_seeds)]
    return [Job(by_name[e], m, inner_lr(j), outer_lr(k), seed, "val", budget)
            for e, m, j, k in points for seed in seeds]


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


def tune(experiments: tuple[Experiment, ...], budget: Budget,
         run: studylib.Runner) -> tuple[dict, dict, list[dict]]:
    """Tune every method of every "grid" experiment; ``run`` executes a list of jobs.

    Round 0 runs the starting grid (the product of the inner and outer starting grids); each
    later round adds, for every (experiment, method) whose choice sits at an edge of a tuned
    axis, the next value beyond it, and chooses again, up to ``budget.max_extensions`` rounds
    (``studylib.tune_grid``). Where every point diverged, the smallest (beta, alpha) tried is
    chosen, with status "all diverged". Returns (chosen, status, scored).
    """
    by_name = {e.name: e for e in experiments}
    keys = [(e.name, m) for e in experiments if e.tuning == "grid" for m in e.methods]
    if not keys:
        return {}, {}, []
    fixed = fixed_axes(budget)

    def run_points(points: list[studylib.Point]) -> list[dict]:
        return [result["row"] for result in run(tuning_jobs(points, by_name, budget))]

    chosen, status, scored = studylib.tune_grid(
        keys, (set(budget.inner_lr_exponents), set(budget.outer_lr_exponents)),
        budget.max_extensions, lambda j, k: (inner_lr(j), outer_lr(k)), run_points,
        lambda rows, added_in: score_mse(rows, added_in, keys),
        lambda scored: select_by_mse(scored, fixed))
    for key, where in status.items():  # nothing stable: the most cautious point tried
        if where["beta"] == "all diverged":
            mine = [r for r in scored if (r["experiment"], r["method"]) == key]
            chosen[key] = min((r["beta"], r["alpha"]) for r in mine)[::-1]
            print(f"  warning: every grid point diverged for {key[0]}/{key[1]}; its test runs "
                  f"use the smallest values tried, {chosen[key]}", file=sys.stderr, flush=True)
    return chosen, status, scored


def hyperparameters(experiments: tuple[Experiment, ...], chosen: dict,
                    status: dict) -> dict[Key, dict]:
    """(alpha, beta) of every (experiment, method) and how it was set.

    "fixed": the experiment's own values; "grid": the tuned choice; another experiment's name:
    that experiment's choice for the same method or, if it does not run it, for the method with
    the same update rule (e.g. GA-Reptile cosine takes GA-Reptile's).
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
    by_name = {e.name: e for e in experiments}
    for e in experiments:
        if e.tuning in ("fixed", "grid"):
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
# Statistics: means, paired differences and headroom (studylib's intervals)
# ---------------------------------------------------------------------------------------------


SUMMARY_KEY = ("experiment", "kind", "name", "metric")  # the columns that key a summary row


def summary_row(experiment: str, kind: str, name: str, metric: str, values=None,
                pair=None) -> dict:
    """Mean and 95 % half-width of the finite ``values`` (``studylib.interval``) or of the
    finite pairs ``pair = (a, b)`` (``studylib.paired_interval``, a - b); NaN where there are
    too few."""
    stats = studylib.interval(values) if pair is None else studylib.paired_interval(*pair)
    return {"experiment": experiment, "kind": kind, "name": name, "metric": metric, **stats}


def difference_name(first: str, second: str) -> str:
    """The summary name of the paired difference ``first - second``."""
    return f"{first} - {second}"


def summarise(raw: list[dict], experiments: tuple[Experiment, ...]) -> list[dict]:
    """Tidy summary: rows (experiment, kind, name, metric).

    kind "method": a method's mean; "difference": ``first - second`` per seed (the
    experiment's pairs); "headroom": a method's MSE trained on this experiment's corrupted
    batches minus trained on its clean reference's, per seed (positive: the corruption costs).
    """
    table: dict[Key, dict[int, dict]] = {}
    for row in raw:
        table.setdefault((row["experiment"], row["method"]), {})[row["seed"]] = row
    by_name = {e.name: e for e in experiments}
    out = []

    def paired(key_a: Key, key_b: Key, metric: str) -> tuple[list, list]:
        return studylib.seed_pairs(table[key_a], table[key_b], metric)

    for e in experiments:
        for m in e.methods:
            rows = table[e.name, m]
            for metric in MSE_METRICS + (WEIGHT_METRICS if METHODS[m].weighted else ()):
                out.append(summary_row(e.name, "method", m, metric,
                                       [rows[s][metric] for s in sorted(rows)]))
        for first, second in e.pairs:
            out.extend(summary_row(e.name, "difference", difference_name(first, second), metric,
                                   pair=paired((e.name, first), (e.name, second), metric))
                       for metric in MSE_METRICS)
        if e.clean_reference:
            for m in e.methods:
                if m in by_name[e.clean_reference].methods:
                    out.extend(summary_row(e.name, "headroom", m, metric,
                                           pair=paired((e.name, m), (e.clean_reference, m),
                                                       metric))
                               for metric in MSE_METRICS)
    return out


# ---------------------------------------------------------------------------------------------
# Output files
# ---------------------------------------------------------------------------------------------


def _steps_header(e: Experiment) -> list[str]:
    return [f"{s} step{'s' * (s != 1)}" + (" (protocol)" if s == e.protocol_steps else "")
            for s in HEADLINE_STEPS]


def _range(r: tuple[float, float]) -> str:
    def one(v: float) -> str:
        return {math.pi: "π", 2 * math.pi: "2π"}.get(v, f"{v:g}")

    return f"U[{one(r[0])}, {one(r[1])}]"


def _lr(value: float, where: str) -> str:
    """A learning rate and, if its choice is not interior or fixed, its mark (e.g. "S")."""
    mark = studylib.STATUS_MARK[where]
    return f"{value:g}" + (f" ({mark})" if mark else "")


def mse_table(s: dict, e: Experiment, hyper: dict) -> list[str]:
    """Per method of ``e``: its learning rates and test MSE after the headline steps."""
    paper = dict(e.paper)
    header = ["Method", "inner lr α", "Adam lr β", *_steps_header(e)]
    if paper:
        header.append(f"paper ({e.protocol_steps} steps)")
    rows = []
    for m in e.methods:
        h = hyper[e.name, m]
        row = [METHODS[m].label, _lr(h["alpha"], h["alpha_status"]),
               _lr(h["beta"], h["beta_status"]),
               *(studylib.cell(s, (e.name, "method", m, f"mse_{k}")) for k in HEADLINE_STEPS)]
        if paper:
            row.append(f"{paper[m]:.2f}" if m in paper else "")
        rows.append(row)
    return studylib.markdown_table(header, rows)


def mse_differences(s: dict, e: Experiment, kind: str = "difference") -> list[str]:
    """The paired differences of ``e`` (or, kind "headroom", its headroom) in test MSE."""
    if kind == "difference":
        names = [(difference_name(a, b), f"{METHODS[a].label} − {METHODS[b].label}")
                 for a, b in e.pairs]
    else:
        names = [(m, METHODS[m].label) for m in e.methods
                 if (e.name, "headroom", m, "mse_0") in s]
    return studylib.markdown_table(["Paired difference" if kind == "difference" else "Headroom of",
                           *_steps_header(e)],
                          [[label, *(studylib.cell(s, (e.name, kind, name, f"mse_{k}"), signed=True)
                                     for k in HEADLINE_STEPS)] for name, label in names])


def weights_table(s: dict, e: Experiment) -> list[str]:
    rows = []
    for m in e.methods:
        if not METHODS[m].weighted:
            continue
        get = {metric: s[e.name, "method", m, metric]["mean"] for metric in WEIGHT_METRICS}
        ratio = get["w_corrupted"] / get["w_clean"] if get["w_clean"] else math.nan
        rows.append([METHODS[m].label, studylib.cell(s, (e.name, "method", m, "w_clean")),
                     studylib.cell(s, (e.name, "method", m, "w_corrupted")),
                     f"{ratio:.2f}" if math.isfinite(ratio) else "n/a",
                     studylib.cell(s, (e.name, "method", m, "w_sum"))])
    return studylib.markdown_table(["Method", "mean w, clean tasks", "mean w, corrupted tasks",
                           "corrupted ÷ clean", "Σ_i w_i per meta-step"], rows)


def protocol_text(e: Experiment, budget: Budget) -> str:
    sizes = "-".join(map(str, e.sizes))
    corrupt = (f", {e.corrupt_frac:.0%} of every meta-batch corrupted ({e.corruption})"
               if e.corrupt_frac else "")
    return (f"MLP {sizes} ({e.activation}); amplitude {_range(e.amplitude)}, phase "
            f"{_range(e.phase)}, x {_range(e.x_range)}; K = {e.k_shot} support and "
            f"{e.k_shot} query points in training, {e.inner_steps} inner step"
            f"{'s' * (e.inner_steps != 1)}{corrupt}; {e.iterations(budget)} meta-iterations of "
            f"{e.n_tasks(budget)} tasks, Adam outer update; test: {budget.eval_tasks} fresh "
            f"tasks per seed, {e.k_shot} support and {budget.eval_query} query points, "
            f"0..{MAX_STEPS} steps at the inner learning rate; protocol: {e.protocol_steps} step"
            f"{'s' * (e.protocol_steps != 1)}.")


def tried_lines(experiments, budget: Budget, hyper: dict, scored: list[dict]) -> list[str]:
    """The tuning grid, every point's validation MSE and the chosen values."""
    inner = ", ".join(f"{inner_lr(j):g}" for j in sorted(budget.inner_lr_exponents))
    outer = ", ".join(f"{outer_lr(k):g}" for k in sorted(budget.outer_lr_exponents))
    lines = [
        f"Starting grids: Adam's learning rate β in {{{outer}}}, inner learning rate α in "
        f"{{{inner}}} (a one-value grid is fixed, not tuned). Every point is meta-trained on "
        f"{budget.val_seeds} validation seed(s) (training seeds {studylib.VAL_SEED_OFFSET}, ...) "
        "and "
        f"scored by the mean MSE after the protocol's steps on {budget.val_tasks} fresh "
        "validation tasks per seed (ties: smaller β, then α); a point that diverged on any "
        "validation seed is never chosen. A choice at an edge of a tuned grid gets the next "
        f"value beyond it (log grid, ratio about 3), up to {budget.max_extensions} rounds "
        "(the rule of `ga_vs_maml.py`). Every method of an experiment has the same starting "
        "grid, seeds and rounds. Marks: S = the largest stable value (the next larger one "
        "diverged), E↑ / E↓ = still at the upper / lower edge when the rounds ran out, D = every "
        "point diverged (the smallest values tried were used).", ""]
    for e in experiments:
        if e.tuning == "fixed":
            lines += [f"{e.name}: not tuned, α = {e.alpha:g}, β = {e.beta:g} for every method "
                      "(Finn et al.'s values)." if e.name == "finn" else
                      f"{e.name}: not tuned, α = {e.alpha:g}, β = {e.beta:g}.", ""]
        elif e.tuning != "grid":
            lines += [f"{e.name}: not tuned; each method takes the values chosen in "
                      f"{e.tuning} (" + ", ".join(
                          f"{METHODS[m].label} from {hyper[e.name, m]['source']}"
                          for m in e.methods) + ").", ""]
    chosen_rows = [[e.name, METHODS[m].label, _lr(hyper[e.name, m]["alpha"],
                                                 hyper[e.name, m]["alpha_status"]),
                    _lr(hyper[e.name, m]["beta"], hyper[e.name, m]["beta_status"]),
                    hyper[e.name, m]["source"]] for e in experiments for m in e.methods]
    lines += ["Chosen values (inner learning rate α, Adam's learning rate β):", "",
              *studylib.markdown_table(["Experiment", "Method", "α", "β", "set by"], chosen_rows)]
    rows = []
    for r in scored:
        mse = f"{r['val_mse']:.4f}" if math.isfinite(r["val_mse"]) else \
            f"diverged ({r['diverged_runs']} of {r['runs']})"
        rows.append([r["experiment"], METHODS[r["method"]].label, f"{r['alpha']:g}",
                     f"{r['beta']:g}", str(r["round"]), f"**{mse}**" if r["chosen"] else mse])
    if rows:
        lines += ["Every grid point (chosen in bold; round 0 = the starting grid):", "",
                  *studylib.markdown_table(["Experiment", "Method", "α", "β", "round",
                                   "validation MSE"], rows)]
    return lines


def markdown(summary_rows, experiments, budget: Budget, hyper: dict, scored: list[dict],
             raw: list[dict], command: str) -> str:
    s = studylib.index(summary_rows, SUMMARY_KEY)
    lines = [
        "# Sine-wave regression: MAML, Reptile and gradient agreement", "",
        f"Generated by `benchmarks/sine_study.py` ({budget.seeds} test seeds). Every cell: mean "
        "test MSE over seeds ± half-width of the 95 % t-interval (lower is better). "
        "Differences are paired by seed (same initial theta, training batches and test "
        "tasks), first minus second: negative means the first method fits better; **bold** "
        "when the interval excludes 0. The full protocol is in `protocol.json`, every run in "
        "`raw.csv`.", "",
        f"Reproduce: `{command}`", ""]
    for number, e in enumerate(experiments, start=1):
        lines += [f"## {number}. {e.name}: {e.title}", "", protocol_text(e, budget), "",
                  *mse_table(s, e, hyper)]
        if e.paper:
            lines += [
                "paper: Eshratifar et al. (2018), MSE over 1000 unseen tasks, with the "
                "activation, learning rates, meta-batch size, meta-iterations and number of "
                "seeds unstated; their \"gradient agreement\" row is listed with GA-Reptile "
                "(the paper's sine experiment uses the Reptile variant).", ""]
        if any(METHODS[m].normalization == "cosine" for m in e.methods):
            lines += [studylib.COSINE_NOTE, ""]
        lines += ["Paired differences (MSE):", "", *mse_differences(s, e)]
        if e.clean_reference:
            lines += [
                f"Headroom: a method's test MSE trained with corrupted batches minus trained "
                f"with clean ones ({e.clean_reference}), same seeds and test tasks (positive: "
                "what the corruption costs, the most a reweighting could win back).", "",
                *mse_differences(s, e, kind="headroom"),
                *([CORRUPTION_NOTE, ""] if e.corruption == "outlier" else []),
                "GA weights over training (mean w_i of clean and of corrupted tasks; uniform "
                "weights would give 1/T to both):", "", *weights_table(s, e)]
    lines += ["## What was tried", "", *tried_lines(experiments, budget, hyper, scored)]
    bad = sorted({(r["experiment"], r["method"], r["seed"]) for r in raw
                  if r["diverged"] or not all(math.isfinite(r[m]) for m in MSE_METRICS)})
    text = ", ".join(f"{e}/{m} seed {seed}" for e, m, seed in bad) if bad else "none"
    lines += [f"Test runs that diverged or gave a non-finite MSE (left out of the means and "
              f"differences where non-finite): {text}.", ""]
    return "\n".join(lines)


def protocol(experiments, budget: Budget, hyper: dict, command: str) -> dict:
    """Everything needed to rerun the study, as one JSON-able dict."""
    out = {"command": command, "test_seeds": list(range(budget.seeds)),
           "validation_seeds": [studylib.VAL_SEED_OFFSET + v for v in range(budget.val_seeds)],
           "budget": {f.name: getattr(budget, f.name) for f in fields(Budget)},
           "outer_optimizer": {"name": "adam", "b1": 0.9, "b2": 0.999, "eps": 1e-8},
           "test_task_stream": f"numpy default_rng([{studylib.STREAM['test']}, seed])",
           "validation_task_stream": f"numpy default_rng([{studylib.STREAM['val']}, seed])",
           "experiments": {}}
    for e in experiments:
        out["experiments"][e.name] = {
            "title": e.title, "sizes": list(e.sizes), "activation": e.activation,
            "k_shot": e.k_shot, "k_query_train": e.k_shot, "k_query_eval": budget.eval_query,
            "amplitude": list(e.amplitude), "phase": list(e.phase), "x_range": list(e.x_range),
            "corrupt_frac": e.corrupt_frac,
            "corruption": e.corruption if e.corrupt_frac else None,
            "inner_steps_train": e.inner_steps, "eval_steps": list(range(MAX_STEPS + 1)),
            "protocol_steps": e.protocol_steps, "eval_tasks": budget.eval_tasks,
            "meta_iterations": e.iterations(budget), "meta_batch_size": e.n_tasks(budget),
            "tuning": e.tuning,
            "methods": {m: {"rule": METHODS[m].base, "first_order": METHODS[m].first_order,
                            "normalization": METHODS[m].normalization
                            if METHODS[m].weighted else None,
                            "inner_lr": hyper[e.name, m]["alpha"],
                            "outer_lr": hyper[e.name, m]["beta"],
                            "inner_lr_status": hyper[e.name, m]["alpha_status"],
                            "outer_lr_status": hyper[e.name, m]["beta_status"]}
                        for m in e.methods}}
    return out


def save_params(path: Path, model: gh.MLP, theta: np.ndarray) -> None:
    """``W1, b1, W2, b2, ...`` of theta as an .npz (``np.savez`` is byte-reproducible)."""
    arrays = model.unflatten(theta)
    names = [f"{kind}{i // 2 + 1}" for i, kind in enumerate(["W", "b"] * (len(arrays) // 2))]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{n: np.ascontiguousarray(a) for n, a in zip(names, arrays, strict=True)})


def _band(ax, x, rows: list[dict], colour: str, linestyle: str, label: str) -> None:
    mean = np.array([r["mean"] for r in rows])
    half = np.nan_to_num(np.array([r["half_width"] for r in rows]))
    ax.plot(x, mean, color=colour, ls=linestyle, lw=1.6, marker="o", ms=3, label=label)
    ax.fill_between(x, mean - half, mean + half, color=colour, alpha=0.18, lw=0)


def figure(summary_rows, experiments, path: Path, n_seeds: int) -> None:
    """Top: test MSE vs adaptation steps per method; bottom: paired differences (and headroom)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    s = studylib.index(summary_rows, SUMMARY_KEY)
    steps = np.arange(MAX_STEPS + 1)
    nan = {"mean": math.nan, "half_width": math.nan}

    def series(e, kind, name):
        return [s.get((e.name, kind, name, f"mse_{k}"), nan) for k in steps]

    fig = Figure(figsize=(5.0 * len(experiments), 9.0), dpi=100, layout="constrained")
    axes = fig.subplots(2, len(experiments), squeeze=False)
    for col, e in enumerate(experiments):
        top, bottom = axes[0, col], axes[1, col]
        for m in e.methods:
            spec = METHODS[m]
            _band(top, steps, series(e, "method", m), spec.colour, spec.style, spec.label)
        for m, value in e.paper:
            top.plot([e.protocol_steps], [value], marker="*", ms=13, ls="none",
                     color=METHODS[m].colour, mec="white",
                     label=f"paper: {METHODS[m].label} {value:g}")
        if any(np.isfinite(r["mean"]) and r["mean"] > 0 for m in e.methods
               for r in series(e, "method", m)):  # a log axis needs a positive value
            top.set_yscale("log")
        top.set(title=f"{e.name}: {e.title}", xlabel="adaptation steps on the K = "
                f"{e.k_shot} support points", ylabel="test MSE (log scale)")
        top.axvline(e.protocol_steps, color="#999999", lw=0.8, ls=":")
        for first, second in e.pairs:
            spec = METHODS[first]
            _band(bottom, steps, series(e, "difference", difference_name(first, second)),
                  spec.colour, spec.style, f"{spec.label} − {METHODS[second].label}")
        if e.clean_reference:
            for m in e.methods:
                if (e.name, "headroom", m, "mse_0") in s and not METHODS[m].weighted:
                    _band(bottom, steps, series(e, "headroom", m), METHODS[m].colour, ":",
                          f"{METHODS[m].label} headroom (corrupted − clean)")
        bottom.axhline(0.0, color="black", lw=0.8)
        bottom.set(title="paired differences (same seeds), 95 % bands",
                   xlabel="adaptation steps", ylabel="difference in test MSE")
        bottom.axvline(e.protocol_steps, color="#999999", lw=0.8, ls=":")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
            ax.set_xticks(steps)
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=2, fontsize=8,
                      frameon=False)
    fig.suptitle(f"Sine-wave regression: test MSE after adaptation (mean and 95 % t-band over "
                 f"{n_seeds} seeds)\n{studylib.COSINE_NOTE}", fontsize=11)
    fig.savefig(path, dpi=100, metadata={"Software": None})


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
                                                      by_name[name].clean_reference)
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
                             "(its tuning source, its clean reference); default: all")
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
    stored = studylib.job_cache(cache, "sine_study.py", "sine_design.py")
    context = multiprocessing.get_context("forkserver")  # fresh workers: MALLOC_TOP_PAD_ acts
    with studylib.worker_pool(workers, context, dask_scheduler) as pool:
        print("1/2 tuning", file=sys.stderr, flush=True)

        def run_tuning(jobs: list[Job]) -> list[dict]:
            results = studylib.run_jobs(jobs, pool, "tuning", run_job, job_cost, stored)
            runs.append(("val ", jobs, results))
            return results

        chosen, status, scored = tune(experiments, budget, run_tuning)
        hyper = hyperparameters(experiments, chosen, status)
        print("2/2 evaluation", file=sys.stderr, flush=True)
        jobs = [Job(e, m, hyper[e.name, m]["alpha"], hyper[e.name, m]["beta"], seed, "test",
                    budget) for e in experiments for m in e.methods for seed in seeds]
        results = studylib.run_jobs(jobs, pool, "evaluation", run_job, job_cost, stored)
        runs.append(("test", jobs, results))
    raw = [result["row"] for result in results]
    summary = summarise(raw, experiments)

    paths = {"raw": out / "raw.csv", "summary": out / "summary.csv", "tuning": out / "tuning.csv",
             "markdown": out / "summary.md", "figure": out / "sine.png",
             "protocol": out / "protocol.json"}
    studylib.write_csv(paths["raw"], raw, digits=6)
    studylib.write_csv(paths["summary"], summary, digits=6)
    studylib.write_csv(paths["tuning"], scored, digits=6)  # no tuning: an empty file
    paths["markdown"].write_text(markdown(summary, experiments, budget, hyper, scored, raw,
                                          command), encoding="utf-8")
    paths["protocol"].write_text(json.dumps(protocol(experiments, budget, hyper, command),
                                            indent=2) + "\n", encoding="utf-8")
    figure(summary, experiments, paths["figure"], budget.seeds)
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
