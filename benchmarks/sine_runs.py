"""One run of the sine study: meta-train, adapt to fresh tasks, measure (``run_job``).

What a job computes, apart from how jobs are chosen (``sine_study.py``) and reported
(``sine_report.py``): ``--cache`` keys a finished run by this file, the design and the course's
code, so that the report can change without running anything again.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import studylib
from sine_design import DIVERGED_MSE, MAX_STEPS, METHODS, Budget, Experiment

import gamaml_helpers as gh

# ---------------------------------------------------------------------------------------------
# One run: meta-train, adapt to fresh tasks, measure
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One meta-training run and its evaluation."""

    experiment: Experiment
    method: str
    alpha: float  # inner learning rate (training and test-time adaptation)
    beta: float  # the outer learning rate (Adam's, or the plain step's)
    seed: int
    role: str  # "val" or "test"
    budget: Budget


def make_config(job: Job) -> gh.SineConfig:
    e, m, b = job.experiment, METHODS[job.method], job.budget
    iterations = e.iterations(b)
    return gh.SineConfig(
        hidden=e.hidden, activation=e.activation, outer=e.outer,
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
RATIO_METRICS = ("step_ratio", "step_ratio_end")
UNIFORM_TWIN = {"ga": "maml", "ga-reptile": "reptile"}  # a GA rule and the same rule with 1/T


class StepRatio:
    """The callback of a GA run: every ``every`` meta-iterations, the length of the GA
    direction divided by the length of the uniform (1/T) direction of the same rule, both at
    the current theta on the batch the next meta-step trains on (``gh.training_batches``
    replays the run's own batches). Under Adam the ratio divides out; under a plain step at a
    shared beta it is how much longer GA's steps are."""

    def __init__(self, config: gh.SineConfig, every: int):
        self.batches = gh.training_batches(config)
        next(self.batches)  # the first meta-step's batch, used before the first callback
        self.every, self.ratios, self.method = every, [], config.method
        self.rule = dict(alpha=config.alpha, inner_steps=config.inner_steps,
                         first_order=config.first_order, normalization=config.normalization,
                         model=gh.make_model(config))

    def __call__(self, iteration: int, history: gh.History) -> None:
        batch = next(self.batches, None)  # the batch of iteration + 1 (none after the last)
        if batch is None or iteration % self.every:
            return
        ga, _, _ = gh.outer_direction(history.theta, batch, method=self.method, **self.rule)
        uniform, _, _ = gh.outer_direction(history.theta, batch,
                                           method=UNIFORM_TWIN[self.method], **self.rule)
        self.ratios.append(float(np.linalg.norm(ga) / np.linalg.norm(uniform)))

    def summary(self) -> dict:
        """Median ratio over the whole training and over its last quarter (NaN if none)."""
        r = np.asarray(self.ratios, dtype=float)
        if not r.size:
            return dict.fromkeys(RATIO_METRICS, math.nan)
        return {"step_ratio": float(np.median(r)),
                "step_ratio_end": float(np.median(r[-max(1, r.size // 4):]))}


def run_job(job: Job) -> dict:
    """Train and evaluate one job: ``{"row": ..., "theta": ..., "cpu": s, "wall": s,
    "cpu_train": s, "iterations": int}`` (the times go to stderr only, never into the files).

    Validation rows hold ``val_mse`` (after the protocol's steps); test rows the MSE after
    0..MAX_STEPS steps and, for the GA methods, the mean weights of clean and corrupted tasks
    over training (``gh.mean_task_weights``), the mean sum of the weights per meta-step and the
    GA step-length ratio (``StepRatio``).
    """
    cpu, wall = time.process_time(), time.perf_counter()
    e, b = job.experiment, job.budget
    config = make_config(job)
    ratio = StepRatio(config, b.ratio_every) if (
        job.role == "test" and METHODS[job.method].weighted) else None
    history = studylib.train(config, ratio)
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
        weights = dict.fromkeys(WEIGHT_METRICS + RATIO_METRICS, math.nan)
        if history is not None and METHODS[job.method].weighted:
            means = gh.mean_task_weights(history)
            weights.update(w_clean=means["clean"], w_corrupted=means["corrupted"],
                           w_sum=float(history.weights.sum(axis=1).mean()), **ratio.summary())
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
