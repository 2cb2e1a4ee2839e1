"""MAML versus gradient agreement (GA-MAML, GA-Reptile): a fair, reproducible study in one command.

    .venv/bin/python benchmarks/ga_vs_maml.py            # full study -> benchmarks/results/
    .venv/bin/python benchmarks/ga_vs_maml.py --quick    # 2 seeds, tiny budget, temp folder

Methods (9): MAML (second order) and first-order MAML; GA-MAML with the paper's weights
(Eshratifar et al. 2018, eq. 13), second and first order; GA-MAML with the book chapter's
denominator; GA-MAML with the "cosine" weights (the paper's formula on unit-length updates: an
extension of this course, not in the paper); Reptile; GA-Reptile (paper weights); joint
training (no inner loop).

Task families (2): the course's default (d=50, spread 1, 10 shots) and a high-agreement one
(HA: d=5, spread 0.25, 40 shots), where the task updates of a batch point nearly the same way
(mean cosine about 0.8 at the start), so that a task that disagrees stands out.

Regimes (12). Default family: clean; 10 % and 30 % of every batch with flipped labels; 30 %
with random labels (the book's coin flips); 30 % of the tasks from a minority direction 120
degrees away; 30 % outlier tasks (boundary around a direction at 90 degrees to the shared one,
features 3x larger: they misdirect the mean update rather than cancel it); 2, 5 and 20 clean
tasks per batch. HA family: clean, 30 % flipped, 30 % outliers.

Protocol (the same for every method):

1. Tuning. For every regime and method, (alpha, beta) is meta-trained on the validation seeds
   and scored by the query accuracy after one adaptation step on validation tasks (clean; for
   the minority regime a 70/30 majority/minority mixture, like training); the best mean score
   wins (ties: lower loss, then smaller beta and alpha), and a point that diverged on any
   validation seed is never chosen. The grid starts at alpha in {0.3, 1, 3} times beta in
   {0.025, 0.05, 0.1, 0.2, 0.4} (log grids: beta ratio 2; alpha ..., 0.1, 0.3, 1, 3, 10, ...).
   If the choice sits at an edge of either grid, that grid gets one more value beyond the
   edge (run at every value of the other) and the choice is made again, up to
   ``max_extensions`` rounds. Every chosen alpha and beta is then reported as interior, the
   largest stable value (the next larger one diverged), or still at an edge (rounds
   exhausted).
2. Evaluation. Every method is retrained with its chosen values on the test seeds and
   evaluated on fresh, clean test tasks of its family from a separate seed stream: accuracy
   and loss before adaptation and after 1 and 5 steps. One seed fixes the initial theta, the
   training batches and the test tasks, for every method and every regime of a family, so
   results are paired by seed.
3. Statistics: mean over seeds with a t-based 95 % confidence interval; paired differences
   per seed (GA - MAML, FO-GA - FO-MAML, GA book - MAML, GA cosine - MAML, GA-Reptile -
   Reptile) and the headroom of each corrupted regime: MAML trained on its family's clean
   regime minus MAML trained on the corrupted one, on the same clean test tasks (how much the
   corruption costs MAML, i.e. how much a perfect defence could win back).

Outputs (in ``--out``): ``raw.csv`` (one row per regime, evaluation set, method and seed),
``summary.csv`` (tidy: mean and interval per metric; paired differences are named
``first-second``, e.g. ``ga-maml``, ``ga-reptile-reptile``, and the headroom ``headroom``),
``tuning.csv`` (every grid point's validation score, the round that added it, the chosen one
flagged with its status), ``summary.md`` (tables) and ``ga_vs_maml.png``. The files depend
only on the arguments: running twice gives identical files.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import gamaml_helpers as gh

DEFAULT_OUT = Path(__file__).resolve().parent / "results"

# ---------------------------------------------------------------------------------------------
# Statistics: small pure functions (unit-tested in tests/test_study.py)
# ---------------------------------------------------------------------------------------------

_SERIES_MAX_DF = 10_000  # above this, a Cornish-Fisher expansion replaces the exact series


def _check_level(level: float) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float, np.integer, np.floating)) \
            or not 0.0 < level < 1.0:
        raise ValueError(f"level must be a number in (0, 1), got {level!r}")
    return float(level)


def t_cdf(t: float, df: int) -> float:
    """Student-t cumulative distribution ``P(T <= t)`` for an integer ``df >= 1``.

    Uses the exact finite series for integer degrees of freedom, in ``theta = atan(t/sqrt(df))``
    (Abramowitz & Stegun 26.7.3-4): odd df sum odd powers of cos(theta), even df even powers.
    The loop has about df/2 terms.
    """
    if isinstance(df, bool) or not isinstance(df, (int, np.integer)) or df < 1:
        raise ValueError(f"df must be an integer >= 1, got {df!r}")
    if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)) \
            or math.isnan(t):
        raise ValueError(f"t must be a number, got {t!r}")
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    theta = math.atan(t / math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    if df % 2 == 1:
        term = total = math.cos(theta)
        for k in range(1, (df - 3) // 2 + 1):
            term *= cos2 * (2 * k) / (2 * k + 1)
            total += term
        a = 2.0 / math.pi * (theta + (math.sin(theta) * total if df > 1 else 0.0))
    else:
        term = total = 1.0
        for k in range(1, (df - 2) // 2 + 1):
            term *= cos2 * (2 * k - 1) / (2 * k)
            total += term
        a = math.sin(theta) * total
    return 0.5 + 0.5 * a


def _normal_quantile(p: float) -> float:
    """Standard normal quantile by bisection on ``0.5 erfc(-z / sqrt 2)``."""
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if 0.5 * math.erfc(-mid / math.sqrt(2.0)) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t with integer ``df`` (e.g. 2.093 for 0.975 and 19).

    Bisection on ``t_cdf`` (exact series) up to df = 10 000; beyond, the Cornish-Fisher
    expansion around the normal quantile (error far below 1e-6 there).
    """
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) \
            or not 0.0 < p < 1.0:
        raise ValueError(f"p must be a number in (0, 1), got {p!r}")
    if isinstance(df, bool) or not isinstance(df, (int, np.integer)) or df < 1:
        raise ValueError(f"df must be an integer >= 1, got {df!r}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    if p == 0.5:
        return 0.0
    if df > _SERIES_MAX_DF:
        z = _normal_quantile(p)
        g1 = (z**3 + z) / 4
        g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
        g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
        return z + g1 / df + g2 / df**2 + g3 / df**3
    hi = 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    lo = 0.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return 0.5 * (lo + hi)


def _check_sample(name: str, values) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a 1-D array of numbers: {exc}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size < 2:
        raise ValueError(f"{name} needs at least 2 values for an interval, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def mean_ci(values, level: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of its two-sided t confidence interval.

    ``half = t_{(1+level)/2, n-1} * s / sqrt(n)``, with ``s`` the sample standard deviation.
    values (n,), n >= 2, finite -> (mean, half_width); the interval is mean +- half_width.
    """
    arr = _check_sample("values", values)
    level = _check_level(level)
    n = arr.size
    mean = float(arr.mean())
    if np.all(arr == arr[0]):  # exactly zero width (rounding in the mean would leave ~1e-17)
        return float(arr[0]), 0.0
    sd = float(np.sqrt(np.sum((arr - mean) ** 2) / (n - 1)))
    return mean, t_quantile(0.5 + level / 2, n - 1) * sd / math.sqrt(n)


def paired_difference(a, b, level: float = 0.95) -> tuple[float, float]:
    """Mean of ``a - b`` over pairs and the half-width of its t interval.

    a (n,), b (n,): the same units (here: seeds) in the same order -> (mean, half_width).
    """
    a = _check_sample("a", a)
    b = _check_sample("b", b)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same length, got {a.size} and {b.size}")
    return mean_ci(a - b, level)


# ---------------------------------------------------------------------------------------------
# The study's design
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """A task family: features, how far task boundaries stray from the shared direction, shots."""

    name: str
    label: str
    n_features: int
    spread: float
    k_shot: int  # support points per task; training uses as many query points


FAMILIES = {
    "default": Family("default", "default: d=50, spread 1, 10 shots", 50, 1.0, 10),
    "agree": Family("agree", "high agreement (HA): d=5, spread 0.25, 40 shots", 5, 0.25, 40),
}
CLEAN_REGIME = {"default": "clean", "agree": "ha-clean"}  # each family's clean reference


@dataclass(frozen=True)
class Regime:
    """A training task distribution (every setting not named here is MetaConfig's default)."""

    name: str
    label: str
    family: str = "default"
    n_tasks: int = 10
    corrupt_frac: float = 0.0
    corruption: str = "flip"
    minority_frac: float = 0.0
    minority_angle: float = 120.0

    @property
    def fam(self) -> Family:
        return FAMILIES[self.family]

    @property
    def clean_reference(self) -> str | None:
        """The family's clean regime that the headroom compares with (None: clean itself)."""
        if self.corrupt_frac == 0 and self.minority_frac == 0:
            return None
        return CLEAN_REGIME[self.family]

    @property
    def clean_set(self) -> str:
        """The evaluation set of clean, majority-direction test tasks."""
        return "majority" if self.minority_frac else "clean"

    def eval_sets(self, role: str) -> tuple[str, ...]:
        """Validation ("val") or test sets: clean; with a minority, a 70/30 mixture to validate
        on (like training) and majority and minority tasks apart to test on."""
        if self.minority_frac == 0:
            return ("clean",)
        return ("mixture",) if role == "val" else ("majority", "minority")


REGIMES = (
    Regime("clean", "clean, T=10"),
    Regime("flip10", "10% flipped", corrupt_frac=0.1),
    Regime("flip30", "30% flipped", corrupt_frac=0.3),
    Regime("random30", "30% random labels", corrupt_frac=0.3, corruption="random"),
    Regime("minority30", "30% minority at 120°", minority_frac=0.3, minority_angle=120.0),
    Regime("outlier30", "30% outliers", corrupt_frac=0.3, corruption="outlier"),
    Regime("tasks2", "clean, T=2", n_tasks=2),
    Regime("tasks5", "clean, T=5", n_tasks=5),
    Regime("tasks20", "clean, T=20", n_tasks=20),
    Regime("ha-clean", "HA clean", family="agree"),
    Regime("ha-flip30", "HA 30% flipped", family="agree", corrupt_frac=0.3),
    Regime("ha-outlier30", "HA 30% outliers", family="agree", corrupt_frac=0.3,
           corruption="outlier"),
)
REGIME_BY_NAME = {r.name: r for r in REGIMES}


@dataclass(frozen=True)
class Method:
    """A method as ``gh.MetaConfig`` runs it, and how the figure draws it."""

    label: str
    base: str  # MetaConfig.method
    colour: str  # Okabe-Ito, one per method; first-order variants share it, hollow
    marker: str
    first_order: bool = False
    normalization: str = "paper"  # GA weights; used by "ga" and "ga-reptile" only

    @property
    def weighted(self) -> bool:
        """True for the gradient-agreement methods, whose task weights are diagnosed."""
        return self.base in ("ga", "ga-reptile")


# Label, rule and colour come from the course's one table (gh.VARIANTS); the marker is this
# figure's own. First-order variants are drawn hollow.
MARKERS = {"maml": "o", "fomaml": "o", "ga": "s", "foga": "s", "ga-book": "v", "ga-cosine": "^",
           "reptile": "P", "ga-reptile": "X", "joint": "D"}
METHODS = {name: Method(v.label, v.rule, v.color, marker, v.first_order, v.normalization)
           for name, marker in MARKERS.items() for v in [gh.VARIANTS[name]]}
WEIGHTED = tuple(m for m, spec in METHODS.items() if spec.weighted)
PAIRS = (("ga", "maml"), ("foga", "fomaml"), ("ga-book", "maml"), ("ga-cosine", "maml"),
         ("ga-reptile", "reptile"))  # paired differences, first minus second
COSINE_NOTE = ("* cosine: the paper's weights computed on unit-length updates, an extension "
               "of this course, not in the paper.")

EVAL_QUERY = 50  # query points per validation/test task (more than in training: less noise)
VAL_SEED_OFFSET = 1_000_000  # validation runs train with seeds 1e6, 1e6+1, ...
STREAM = {"val": 1, "test": 2, "diag": 3}  # task streams default_rng([STREAM, seed])
STEPS = (0, 1, 5)
BETA_BASE = 0.1  # the beta grid is BETA_BASE * 2**k for integers k


def beta_of(k: int) -> float:
    """Grid point k of the beta grid: ``0.1 * 2**k`` (exact: a power of two times 0.1)."""
    return BETA_BASE * 2.0**k


def alpha_of(j: int) -> float:
    """Grid point j of the alpha grid ..., 0.1, 0.3, 1, 3, 10, 30, ... (j = 0 is 1; ratios 3
    and 10/3 alternate, about sqrt(10) per step)."""
    mantissa, decade = (1.0, 3.0)[j % 2], j // 2
    return mantissa * 10.0**decade if decade >= 0 else mantissa / 10.0**-decade


@dataclass(frozen=True)
class Budget:
    meta_iterations: int
    beta_exponents: tuple[int, ...]  # the starting beta grid, as exponents k of beta_of
    alpha_exponents: tuple[int, ...]  # the starting alpha grid, as exponents j of alpha_of
    val_seeds: int
    eval_tasks: int
    diag_batches: int
    max_extensions: int  # rounds of edge extension of the beta grid


FULL = Budget(meta_iterations=500, beta_exponents=tuple(range(-2, 3)), alpha_exponents=(-1, 0, 1),
              val_seeds=2, eval_tasks=300, diag_batches=20, max_extensions=4)
QUICK = Budget(meta_iterations=60, beta_exponents=(1, 2), alpha_exponents=(0,), val_seeds=1,
               eval_tasks=40, diag_batches=4, max_extensions=1)


@dataclass(frozen=True)
class Job:
    """One meta-training run, evaluated at one or more adaptation step sizes."""

    regime: str
    method: str
    beta: float
    alphas: tuple[float, ...]  # joint training ignores alpha: one run serves every alpha
    seed: int
    role: str  # "val" or "test"
    budget: Budget


# ---------------------------------------------------------------------------------------------
# One run
# ---------------------------------------------------------------------------------------------


def _tasks(regime: Regime, n_tasks: int, k_query: int, rng, **kwargs) -> gh.TaskBatch:
    """``gh.sample_tasks`` with the regime's family settings."""
    fam = regime.fam
    return gh.sample_tasks(n_tasks, fam.k_shot, k_query=k_query, n_features=fam.n_features,
                           spread=fam.spread, rng=rng, **kwargs)


def _minority_tasks(regime: Regime, n_tasks: int, k_query: int, rng) -> gh.TaskBatch:
    other = gh.minority_direction(regime.fam.n_features, regime.minority_angle)
    return _tasks(regime, n_tasks, k_query, rng, direction=other)


def make_eval_tasks(regime: Regime, role: str, seed: int, n_tasks: int) -> dict[str, gh.TaskBatch]:
    """Validation or test tasks of a seed: fresh, clean, from their own stream.

    The clean (majority) tasks of a seed are the same in every regime of a family and for
    every method, so that results pair by seed across methods and regimes.
    """
    rng = np.random.default_rng([STREAM[role], seed])
    majority = _tasks(regime, n_tasks, EVAL_QUERY, rng)
    if regime.minority_frac == 0:
        return {"clean": majority}
    if role == "test":
        return {"majority": majority,
                "minority": _minority_tasks(regime, n_tasks, EVAL_QUERY, rng)}
    n_min = round(regime.minority_frac * n_tasks)
    minority = _minority_tasks(regime, n_min, EVAL_QUERY, rng)
    return {"mixture": gh.TaskBatch.concatenate([majority[: n_tasks - n_min], minority])}


def training_like_batches(regime: Regime, seed: int, n_batches: int) -> gh.TaskBatch:
    """``n_batches`` batches from the training distribution, joined: (n_batches * T) tasks."""
    rng = np.random.default_rng([STREAM["diag"], seed])
    t, k = regime.n_tasks, regime.fam.k_shot
    n_min = round(regime.minority_frac * t)
    parts = []
    for _ in range(n_batches):
        batch = _tasks(regime, t, k, rng, corrupt_frac=regime.corrupt_frac,
                       corruption=regime.corruption)
        if n_min:
            odd = _minority_tasks(regime, n_min, k, rng)
            batch = gh.TaskBatch.concatenate([batch[: t - n_min], odd])
        parts.append(batch)
    return gh.TaskBatch.concatenate(parts)


def agreement_diagnostics(theta: np.ndarray, batches: gh.TaskBatch, n_tasks: int, alpha: float,
                          normalization: str) -> dict[str, float]:
    """How much task updates ``g_i = theta - theta_i'`` agree at ``theta``, batch by batch.

    mean_cos : mean cosine between the updates of two different tasks of a batch.
    diag_share : mean over batches of ``sum_i u_i.u_i / sum_ij |u_i.u_j|``, with ``u_i = g_i``
        ("paper", "book") or ``g_i / |g_i|`` ("cosine"): the share of each task's agreement
        with itself in the Gram matrix the weights come from. Near 1, a weight is mostly the
        task's own squared update length (magnitude, not agreement).
    corr_w_sqnorm : correlation, over all tasks, of the GA weight (``gh.ga_weights`` with
        ``normalization``) with ``|g_i|^2``.
    """
    adapted = gh.inner_update(theta, batches.x_support, batches.y_support, alpha)
    g = (theta - adapted).reshape(-1, n_tasks, theta.size)  # (B, T, d)
    sq = np.einsum("btd,btd->bt", g, g)
    norms = np.sqrt(sq)[..., None]
    unit = np.divide(g, norms, out=np.zeros_like(g), where=norms > 0)
    cos = np.einsum("btd,bsd->bts", unit, unit)
    gram = cos if normalization == "cosine" else np.einsum("btd,bsd->bts", g, g)
    diag = np.trace(gram, axis1=1, axis2=2)
    out = {"diag_share": float(np.mean(diag / np.abs(gram).sum(axis=(1, 2)))),
           "mean_cos": math.nan, "corr_w_sqnorm": math.nan}
    if n_tasks > 1:
        out["mean_cos"] = float(cos[:, ~np.eye(n_tasks, dtype=bool)].mean())
        weights = np.stack([gh.ga_weights(b, normalization=normalization) for b in g])
        if np.ptp(weights) > 0 and np.ptp(sq) > 0:  # else the correlation is undefined
            out["corr_w_sqnorm"] = float(np.corrcoef(weights.ravel(), sq.ravel())[0, 1])
    return out


def weight_diagnostics(history: gh.History) -> dict[str, float]:
    """Task weights over training: their sum, and means on flagged vs other tasks.

    Flagged tasks are the corrupted ones (flipped, random or outlier), or the minority ones in
    the minority regime. ``*_early`` columns cover the first 10 % of the meta-iterations only.
    """
    done = history.iterations_done
    w = history.weights[:done]
    flagged = (history.corrupted | history.minority)[:done]
    early = np.arange(done)[:, None] < max(1, done // 10)
    out = {"w_sum": float(w.sum(axis=1).mean()), "w_abs_sum": float(np.abs(w).sum(axis=1).mean())}
    for name, mask in (("flagged", flagged), ("other", ~flagged)):
        for suffix, part in (("", mask), ("_early", mask & early)):
            out[f"w_{name}{suffix}"] = float(w[part].mean()) if part.any() else math.nan
        out[f"negw_{name}"] = float((w[mask] < 0).mean()) if mask.any() else math.nan
    return out


METRICS = ("acc_0", "acc_1", "acc_5", "loss_0", "loss_1", "loss_5")
DIAGNOSTICS = ("w_sum", "w_abs_sum", "w_flagged", "w_other", "w_flagged_early",
               "w_other_early", "negw_flagged", "negw_other", "diag_share", "cos_init",
               "cos_final", "corr_w_sqnorm")


def train(job: Job) -> gh.History | None:
    """Meta-train the job's configuration; None if it diverged."""
    regime, method = REGIME_BY_NAME[job.regime], METHODS[job.method]
    fam = regime.fam
    config = gh.MetaConfig(
        method=method.base, first_order=method.first_order, normalization=method.normalization,
        alpha=job.alphas[0], beta=job.beta, n_tasks=regime.n_tasks, k_shot=fam.k_shot,
        k_query=fam.k_shot, n_features=fam.n_features, spread=fam.spread,
        meta_iterations=job.budget.meta_iterations, corrupt_frac=regime.corrupt_frac,
        corruption=regime.corruption, seed=job.seed, minority_frac=regime.minority_frac,
        minority_angle=regime.minority_angle, eval_every=job.budget.meta_iterations, eval_tasks=10)
    try:
        return gh.meta_train(config)
    except gh.Diverged:
        return None


def diagnose(job: Job, history: gh.History) -> dict[str, float]:
    """The weight and agreement diagnostics of a GA test run (see the two functions above)."""
    regime, alpha = REGIME_BY_NAME[job.regime], job.alphas[0]
    normalization = METHODS[job.method].normalization
    batches = training_like_batches(regime, job.seed, job.budget.diag_batches)
    init, final = (agreement_diagnostics(theta, batches, regime.n_tasks, alpha, normalization)
                   for theta in (history.theta_init, history.theta))
    return {**weight_diagnostics(history), "diag_share": final["diag_share"],
            "cos_init": init["mean_cos"], "cos_final": final["mean_cos"],
            "corr_w_sqnorm": final["corr_w_sqnorm"]}


def run_job(job: Job) -> list[dict]:
    """Train one configuration and evaluate it: one row per (alpha, evaluation set)."""
    regime = REGIME_BY_NAME[job.regime]
    history = train(job)
    sets = make_eval_tasks(regime, job.role, job.seed, job.budget.eval_tasks)
    diag = dict.fromkeys(DIAGNOSTICS, math.nan)
    if history is not None and job.role == "test" and METHODS[job.method].weighted:
        diag.update(diagnose(job, history))
    rows = []
    for alpha in job.alphas:
        for set_name in regime.eval_sets(job.role):
            row = {"regime": job.regime, "eval_set": set_name, "method": job.method,
                   "seed": job.seed, "alpha": alpha, "beta": job.beta,
                   "meta_iterations": job.budget.meta_iterations, "diverged": int(history is None)}
            for steps in STEPS:
                if history is None:
                    row[f"acc_{steps}"] = row[f"loss_{steps}"] = math.nan
                    continue
                ev = gh.adapt_and_evaluate(history.theta, sets[set_name], alpha, steps=steps)
                row[f"acc_{steps}"] = float(ev.accuracy_after.mean())
                row[f"loss_{steps}"] = float(ev.loss_after.mean())
            rows.append({**row, **diag})
    return rows


Runner = Callable[[list[Job]], list[list[dict]]]


def run_jobs(jobs: list, pool: ProcessPoolExecutor | None, phase: str, run=None,
             cost=None) -> list:
    """Run ``run(job)`` for every job (in the pool, if any), results in job order; progress on
    stderr. ``run`` defaults to this study's ``run_job``; with ``cost(job)`` the most costly
    jobs start first (the sine study's runs differ in length by 10x). Shared by both studies.
    """
    run = run_job if run is None else run
    results: list = [None] * len(jobs)
    start = time.perf_counter()
    step = max(1, len(jobs) // 10)

    def report(done: int) -> None:
        if done % step == 0 or done == len(jobs):
            print(f"  {phase}: {done}/{len(jobs)} runs, {time.perf_counter() - start:.0f} s",
                  file=sys.stderr, flush=True)

    order = list(range(len(jobs))) if cost is None else sorted(
        range(len(jobs)), key=lambda i: -cost(jobs[i]))
    if pool is None:
        for done, i in enumerate(order, start=1):
            results[i] = run(jobs[i])
            report(done)
    else:
        futures = {pool.submit(run, jobs[i]): i for i in order}
        for done, future in enumerate(as_completed(futures), start=1):
            results[futures[future]] = future.result()
            report(done)
    return results


# ---------------------------------------------------------------------------------------------
# Tuning: log grids of alpha and beta, extended past an edge until the choice is inside them
# ---------------------------------------------------------------------------------------------

Point = tuple[str, str, int, int]  # (regime, method, alpha exponent j, beta exponent k)


def tuning_jobs(points: list[Point], budget: Budget) -> list[Job]:
    """Validation runs of grid points, on every validation seed. Joint training ignores alpha
    while training, so one joint run per beta serves all of its alphas."""
    groups: dict[tuple, list[float]] = {}
    for regime, method, j, k in points:
        key = (regime, method, k, None if method == "joint" else j)
        groups.setdefault(key, []).append(alpha_of(j))
    return [Job(regime, method, beta_of(k), tuple(alphas), VAL_SEED_OFFSET + v, "val", budget)
            for (regime, method, k, _), alphas in groups.items()
            for v in range(budget.val_seeds)]


def score(rows: list[dict], added_in: dict[tuple, int]) -> list[dict]:
    """One row per grid point (regime, method, alpha, beta): mean validation score over seeds.

    A point that diverged on any seed has no score. ``added_in[(regime, method, alpha, beta)]``
    is the tuning round that added the point (0: the starting grid).
    """
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["regime"], row["method"], row["alpha"], row["beta"]), []).append(row)
    scored = []
    for key, group in groups.items():
        diverged = sum(r["diverged"] for r in group)
        scored.append({
            **dict(zip(("regime", "method", "alpha", "beta"), key, strict=True)),
            "round": added_in[key],
            "val_acc_1": math.nan if diverged else float(np.mean([r["acc_1"] for r in group])),
            "val_loss_1": math.nan if diverged else float(np.mean([r["loss_1"] for r in group])),
            "runs": len(group), "diverged_runs": diverged, "chosen": 0, "alpha_status": "",
            "beta_status": ""})
    order = {r.name: i for i, r in enumerate(REGIMES)}
    methods = list(METHODS)
    scored.sort(key=lambda r: (order[r["regime"]], methods.index(r["method"]), r["alpha"],
                               r["beta"]))
    return scored


def position(line: list[dict], best: dict) -> str:
    """Where the chosen point sits on one axis (``line``: the points along it, in order).

    "lower edge" / "upper edge": nothing was tried beyond it; "largest stable": the next
    larger value diverged; "interior": stable, scored neighbours on both sides.
    """
    i = line.index(best)
    if i == 0:
        return "lower edge"
    if i == len(line) - 1:
        return "upper edge"
    return "largest stable" if line[i + 1]["diverged_runs"] else "interior"


def choose(scored: list[dict], group: str, rank,
           fixed: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """The tuning choice of both studies: per ``(row[group], row["method"])`` the stable grid
    point with the smallest ``rank(row)`` (a tuple; diverged points never). Returns
    ``{key: (alpha, beta)}`` and ``{key: {"alpha": where, "beta": where}}`` with ``where`` from
    ``position``, "fixed" for the axes in ``fixed`` (one-value grids) or "all diverged" where no
    point is stable. Marks the chosen rows of ``scored`` (``chosen``, ``*_status``).
    """
    keys = list(dict.fromkeys((row[group], row["method"]) for row in scored))
    best: dict[tuple, tuple] = {}
    for row in scored:
        row["chosen"], row["alpha_status"], row["beta_status"] = 0, "", ""
        if row["diverged_runs"]:
            continue
        key = (row[group], row["method"])
        if key not in best or rank(row) < best[key][0]:
            best[key] = (rank(row), row)
    chosen, status = {}, {}
    for key in keys:
        if key not in best:
            status[key] = {"alpha": "all diverged", "beta": "all diverged"}
            continue
        row = best[key][1]
        mine = [r for r in scored if (r[group], r["method"]) == key]
        lines = {"alpha": sorted((r for r in mine if r["beta"] == row["beta"]),
                                 key=lambda r: r["alpha"]),
                 "beta": sorted((r for r in mine if r["alpha"] == row["alpha"]),
                                key=lambda r: r["beta"])}
        status[key] = {axis: "fixed" if axis in fixed else position(lines[axis], row)
                       for axis in ("alpha", "beta")}
        chosen[key] = (row["alpha"], row["beta"])
        row["chosen"] = 1
        row["alpha_status"], row["beta_status"] = status[key]["alpha"], status[key]["beta"]
    return chosen, status


def select(scored: list[dict]) -> tuple[dict, dict]:
    """Choose (alpha, beta) per (regime, method) by the mean validation accuracy after 1 step.

    Ties: lower validation loss, then smaller beta, then smaller alpha. Returns
    ``{(regime, method): (alpha, beta)}`` and ``{(regime, method): {"alpha": position,
    "beta": position}}`` (see ``position``; both "all diverged" where no point is stable).
    Marks the chosen rows of ``scored``.
    """
    return choose(scored, "regime",
                  lambda r: (-r["val_acc_1"], r["val_loss_1"], r["beta"], r["alpha"]))


def _beyond(exponents: set[int], where: str) -> set[int]:
    """The grid exponent one step beyond the edge the choice sits at (none if inside)."""
    if where in ("lower edge", "all diverged"):
        return {min(exponents) - 1}
    return {max(exponents) + 1} if where == "upper edge" else set()


def extend(grid: dict[tuple, tuple[set[int], set[int]]], status: dict) -> list[Point]:
    """Widen the grid of every (regime, method) whose choice sits at an edge; new points.

    ``grid[key] = (alpha exponents, beta exponents)``, always run as a full product: a new
    beta is run at every alpha, a new alpha at every beta. Where every point diverged, the
    grid grows towards smaller beta.
    """
    points: list[Point] = []
    for key, where in status.items():
        js, ks = grid[key]
        new_j = set() if where["alpha"] == "all diverged" else _beyond(js, where["alpha"])
        new_k = _beyond(ks, where["beta"])
        grid[key] = (js | new_j, ks | new_k)
        points += [(*key, j, k) for j in sorted(js | new_j) for k in sorted(ks | new_k)
                   if j in new_j or k in new_k]
    return points


def tune(budget: Budget, run: Runner) -> tuple[dict, dict, list[dict]]:
    """Tune every (regime, method) with edge extension; ``run`` executes a list of jobs.

    Round 0 runs the starting grid; each later round adds, for every (regime, method) whose
    choice sits at an edge of the alpha or the beta grid, the next grid value beyond it, and
    chooses again, up to ``budget.max_extensions`` rounds. Returns (chosen, status, scored).
    """
    start = (set(budget.alpha_exponents), set(budget.beta_exponents))
    grid = {(r.name, m): start for r in REGIMES for m in METHODS}
    points = [(*key, j, k) for key in grid for j in sorted(start[0]) for k in sorted(start[1])]
    rows: list[dict] = []
    added_in: dict[tuple, int] = {}
    for round_ in range(budget.max_extensions + 1):
        added_in.update({(r, m, alpha_of(j), beta_of(k)): round_ for r, m, j, k in points})
        rows += [row for job_rows in run(tuning_jobs(points, budget)) for row in job_rows]
        scored = score(rows, added_in)
        chosen, status = select(scored)
        points = extend(grid, status) if round_ < budget.max_extensions else []
        if not points:
            break
    missing = [f"{r}/{m}" for (r, m), where in status.items() if where["beta"] == "all diverged"]
    if missing:
        raise ValueError(f"every grid point diverged for {', '.join(missing)}: widen the grid")
    return chosen, status, scored


# ---------------------------------------------------------------------------------------------
# Evaluation and summaries
# ---------------------------------------------------------------------------------------------


def evaluation_jobs(chosen: dict, seeds: list[int], budget: Budget) -> list[Job]:
    return [Job(regime.name, method, chosen[regime.name, method][1],
                (chosen[regime.name, method][0],), seed, "test", budget)
            for regime in REGIMES for method in METHODS for seed in seeds]


def eval_rows() -> list[tuple[str, str, str]]:
    """(regime, eval_set, label) for every line of the tables, in order."""
    out = []
    for regime in REGIMES:
        for set_name in regime.eval_sets("test"):
            label = regime.label if set_name == "clean" else f"{regime.label}: {set_name} tasks"
            out.append((regime.name, set_name, label))
    return out


def pair_name(first: str, second: str) -> str:
    return f"{first}-{second}"


def interval_row(regime: str, set_name: str, name: str, metric: str, values) -> dict:
    """A summary row: mean and 95 % half-width of the finite values (diverged runs: NaN)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    mean, half = (mean_ci(values) if values.size >= 2
                  else (float(values.mean()) if values.size else math.nan, math.nan))
    return {"regime": regime, "eval_set": set_name, "method": name, "metric": metric,
            "n": int(values.size), "mean": mean, "half_width": half, "ci_low": mean - half,
            "ci_high": mean + half}


def paired_values(a: dict[int, dict], b: dict[int, dict], metric: str) -> list[float]:
    """``a[seed][metric] - b[seed][metric]`` for every seed in both (rows keyed by seed)."""
    return [a[s][metric] - b[s][metric] for s in sorted(set(a) & set(b))]


def summarise(raw: list[dict]) -> list[dict]:
    """Tidy summary: one row per (regime, eval_set, method / pair / "headroom", metric).

    Pairs are per-seed differences ``first - second`` (PAIRS). The headroom of a corrupted
    regime is MAML on its family's clean regime minus MAML on it, on the same clean test tasks.
    """
    table: dict[tuple, dict[int, dict]] = {}
    for row in raw:
        table.setdefault((row["regime"], row["eval_set"], row["method"]), {})[row["seed"]] = row
    out = []
    for regime_name, set_name, _ in eval_rows():
        regime = REGIME_BY_NAME[regime_name]
        for method, spec in METHODS.items():
            rows = table[regime_name, set_name, method]
            for metric in METRICS + (DIAGNOSTICS if spec.weighted else ()):
                out.append(interval_row(regime_name, set_name, method, metric,
                                        [rows[s][metric] for s in sorted(rows)]))
        for first, second in PAIRS:
            a, b = table[regime_name, set_name, first], table[regime_name, set_name, second]
            out.extend(interval_row(regime_name, set_name, pair_name(first, second), metric,
                                    paired_values(a, b, metric)) for metric in METRICS)
        if regime.clean_reference and set_name == regime.clean_set:
            clean = table[regime.clean_reference, "clean", "maml"]
            here = table[regime_name, set_name, "maml"]
            out.extend(interval_row(regime_name, set_name, "headroom", metric,
                                    paired_values(clean, here, metric)) for metric in METRICS)
    return out


# ---------------------------------------------------------------------------------------------
# Output files
# ---------------------------------------------------------------------------------------------


def _fmt(value, digits: int, short: bool = False) -> str:
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return ""
        return f"{value:g}" if short else f"{value:.{digits}f}"
    return str(value)


def write_csv(path: Path, rows: list[dict], digits: int) -> None:
    """Rows of equal keys; floats with ``digits`` decimals (alpha, beta as given), NaN empty."""
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(list(rows[0]))
        for row in rows:
            writer.writerow([_fmt(v, digits, k in ("alpha", "beta")) for k, v in row.items()])


def index(summary_rows: list[dict]) -> dict[tuple, dict]:
    """Summary rows keyed by (regime, eval_set, method, metric)."""
    return {(r["regime"], r["eval_set"], r["method"], r["metric"]): r for r in summary_rows}


def format_interval(row: dict | None, signed: bool = False, digits: int = 3) -> str:
    """A summary row as ``mean ± half`` (signed: with sign, bold when the interval excludes
    0); "n/a" if there is no row or no finite mean."""
    if row is None or not math.isfinite(row["mean"]):
        return "n/a"
    text = f"{row['mean']:+.{digits}f}" if signed else f"{row['mean']:.{digits}f}"
    if math.isfinite(row["half_width"]):
        text += f" ± {row['half_width']:.{digits}f}"
        if signed and (row["ci_low"] > 0 or row["ci_high"] < 0):
            text = f"**{text}**"
    return text


def _cell(s: dict, regime, set_name, method, metric, signed=False) -> str:
    return format_interval(s.get((regime, set_name, method, metric)), signed)


def _mean(s: dict, regime, set_name, method, metric, fmt: str = ".3f") -> str:
    row = s.get((regime, set_name, method, metric))
    return "n/a" if row is None or not math.isfinite(row["mean"]) else f"{row['mean']:{fmt}}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows), ""]


DIFF_LABELS = ["headroom (MAML clean − MAML)",
               *(f"{METHODS[a].label} − {METHODS[b].label}" for a, b in PAIRS)]


def method_table(s: dict, metric: str) -> list[str]:
    return _table(["Regime (test tasks)", *(m.label for m in METHODS.values())],
                  [[label, *(_cell(s, r, e, m, metric) for m in METHODS)]
                   for r, e, label in eval_rows()])


def difference_table(s: dict, metric: str) -> list[str]:
    names = ["headroom", *(pair_name(a, b) for a, b in PAIRS)]
    return _table(["Regime (test tasks)", *DIFF_LABELS],
                  [[label, *(_cell(s, r, e, n, metric, signed=True) for n in names)]
                   for r, e, label in eval_rows()])


STATUS_MARK = {"interior": "", "largest stable": "S", "upper edge": "E↑", "lower edge": "E↓"}


def choice_text(chosen: dict, status: dict, key: tuple) -> str:
    """``alpha, beta`` with a mark per axis where the choice is not interior, e.g. (β S)."""
    alpha, beta = chosen[key]
    marks = [f"{symbol} {STATUS_MARK[status[key][axis]]}"
             for axis, symbol in (("alpha", "α"), ("beta", "β")) if status[key][axis] != "interior"]
    return f"{alpha:g}, {beta:g}" + (f" ({', '.join(marks)})" if marks else "")


def _grid_range(rows: list[dict], axis: str) -> str:
    values = sorted({r[axis] for r in rows})
    return f"{values[0]:g}–{values[-1]:g}"


def hyperparameter_lines(chosen: dict, status: dict, scored: list[dict],
                         budget: Budget) -> list[str]:
    """The chosen (alpha, beta) per regime and method, where each sits, and the grids tried."""
    lines = _table(["Regime", *(m.label for m in METHODS.values())],
                   [[regime.label, *(choice_text(chosen, status, (regime.name, m))
                                     for m in METHODS)] for regime in REGIMES])
    for axis, symbol in (("alpha", "α"), ("beta", "β")):
        counts = {where: sum(v[axis] == where for v in status.values()) for where in STATUS_MARK}
        lines.append(
            f"{axis} ({symbol}): {counts['interior']} of {len(status)} choices interior (a "
            f"stable, scored value on both sides); {counts['largest stable']} marked S, the "
            "largest stable value (the next larger one diverged on a validation seed); "
            f"{counts['upper edge'] + counts['lower edge']} marked E↑/E↓, still at the upper / "
            f"lower edge after {budget.max_extensions} extension rounds.")
        lines.append("")
    lines += edge_notes(status, scored)
    start = {"alpha": sorted(alpha_of(j) for j in budget.alpha_exponents),
             "beta": sorted(beta_of(k) for k in budget.beta_exponents)}
    wider = []
    for key in status:
        mine = [r for r in scored if (r["regime"], r["method"]) == key]
        if any(sorted({r[axis] for r in mine}) != start[axis] for axis in start):
            wider.append([key[0], METHODS[key[1]].label, _grid_range(mine, "alpha"),
                          _grid_range(mine, "beta")])
    lines += [
        f"Starting grids: alpha {', '.join(f'{a:g}' for a in start['alpha'])}; beta "
        f"{', '.join(f'{b:g}' for b in start['beta'])}. Joint training ignores alpha while "
        "training; its alpha is the test-time step.", "",
        f"<details><summary>Grids widened by the edge extension ({len(wider)} of "
        f"{len(status)})</summary>", "",
        *_table(["Regime", "Method", "alpha tried", "beta tried"], wider), "</details>", ""]
    return lines


def edge_notes(status: dict, scored: list[dict]) -> list[str]:
    """One sentence per choice still at an edge: its validation score and its inner neighbour's."""
    notes = []
    for key, where in status.items():
        mine = [r for r in scored if (r["regime"], r["method"]) == key]
        (row,) = [r for r in mine if r["chosen"]]
        for axis, other in (("alpha", "beta"), ("beta", "alpha")):
            if where[axis] not in ("lower edge", "upper edge"):
                continue
            line = sorted((r for r in mine if r[other] == row[other]), key=lambda r: r[axis])
            note = (f"{key[0]}/{METHODS[key[1]].label}: {axis} {row[axis]:g} at the "
                    f"{where[axis]} scores {row['val_acc_1']:.4f}")
            if len(line) > 1:
                inner = line[1] if where[axis] == "lower edge" else line[-2]
                note += f", {inner[axis]:g} scores {inner['val_acc_1']:.4f}"
            notes.append(note)
    if not notes:
        return []
    text = "Still at an edge (validation accuracy after 1 step): " + "; ".join(notes) + "."
    if any(where["beta"] == "lower edge" for where in status.values()):
        text += (" A beta at the lower edge means the method does best when it barely "
                 "meta-trains: as beta goes to 0, theta stays at its random start.")
    return [text, ""]


def weights_lines(s: dict, chosen: dict) -> list[str]:
    """The GA weights of the test runs and the agreement of the task updates, per regime."""
    rows = []
    for regime in REGIMES:
        set_name = regime.eval_sets("test")[0]
        for m in WEIGHTED:
            beta = chosen[regime.name, m][1]
            args = (regime.name, set_name, m)
            w_sum = s[(*args, "w_sum")]["mean"]
            flagged, other = s[(*args, "w_flagged")]["mean"], s[(*args, "w_other")]["mean"]
            ratio = flagged / other if math.isfinite(flagged) and other != 0 else math.nan
            rows.append([
                regime.label, METHODS[m].label, f"{beta:g}", _cell(s, *args, "w_sum"),
                f"{beta * w_sum:.3f}", _mean(s, *args, "w_abs_sum"),
                f"{_mean(s, *args, 'w_flagged_early')} / {_mean(s, *args, 'w_other_early')}",
                f"{_mean(s, *args, 'w_flagged')} / {_mean(s, *args, 'w_other')}",
                "n/a" if not math.isfinite(ratio) else f"{ratio:.2f}",
                f"{_mean(s, *args, 'negw_flagged')} / {_mean(s, *args, 'negw_other')}",
                f"{_mean(s, *args, 'cos_init')} → {_mean(s, *args, 'cos_final')}",
                _mean(s, *args, "diag_share"), _mean(s, *args, "corr_w_sqnorm", ".2f")])
    intro = (
        "Mean over the test seeds. Σw = mean over meta-steps of sum_i w_i (± 95 % half-width): "
        "the effective meta-step is beta × Σw (MAML and Reptile: Σw = 1). Σ|w| = mean of "
        "sum_i |w_i|: 1 for the paper's and the cosine normalisation (eq. 13 normalises it), "
        "below 1 for the book's. Flagged tasks = corrupted (flipped, random-label, outlier) "
        "tasks, or minority tasks in the minority regime; w flagged / other = their mean "
        "weights over the first 10 % of the meta-iterations and over all of them (MAML gives "
        "every task 1/T), flagged ÷ other the ratio of the second pair; w<0 = share of negative "
        "weights. On fresh training-like batches, with the method's alpha: cos = mean cosine "
        "between two tasks' updates g_i = theta − theta_i' at the initial and the final theta; "
        "diag share = sum_i u_i.u_i / sum_ij |u_i.u_j| at the final theta, u_i = g_i (paper, "
        "book) or g_i/|g_i| (cosine); corr = correlation of w_i (the method's normalisation) "
        "with ‖g_i‖² there (weights driven by update size rather than agreement).")
    return [intro, "", *_table(
        ["Regime", "Method", "beta", "Σw", "beta × Σw", "Σ|w|", "w flagged / other, first 10 %",
         "w flagged / other, all", "flagged ÷ other", "w<0 flagged / other", "cos init → final",
         "diag share", "corr(w, ‖g‖²)"], rows)]


def design_lines(budget: Budget, n_seeds: int) -> list[str]:
    """What was run: families, regimes, methods, tuning and evaluation."""
    families = "; ".join(f.label for f in FAMILIES.values())
    alphas = "{" + ", ".join(f"{alpha_of(j):g}" for j in budget.alpha_exponents) + "}"
    betas = "{" + ", ".join(f"{beta_of(k):g}" for k in budget.beta_exponents) + "}"
    return [
        f"Task families: {families}. One sigmoid unit, T=10 tasks per batch unless stated, "
        "as many query as support points in training, one inner step. Outliers: boundary "
        f"around a direction at {gh.OUTLIER_ANGLE:g}° to the shared one, features "
        f"{gh.OUTLIER_SCALE:g}× larger. Minority: tasks around a direction at 120°.",
        "",
        "Methods: MAML (second order), FO-MAML, GA-MAML with the paper's weights "
        "(w_i = Σ_j g_i.g_j / Σ_k |Σ_j g_k.g_j|, so Σ|w| = 1; second order, and FO-GA-MAML), "
        "GA book (the book chapter's denominator Σ_k Σ_j |g_k.g_j|), GA cosine* (the paper's "
        "formula on unit updates), Reptile (theta + beta · mean_i (theta_i' − theta)), "
        "GA-Reptile (theta + beta · Σ_i w_i (theta_i' − theta), paper weights), joint training. "
        + COSINE_NOTE,
        "",
        f"Tuning: every (regime, method) on {budget.val_seeds} validation seed(s) (own training "
        f"seeds and tasks), on the grid alpha in {alphas} × beta in {betas} (log grids: "
        "beta ratio 2, alpha 0.1, 0.3, 1, 3, 10, ...); a choice at an edge of either grid adds "
        "the next value beyond it (at every value of the other) and is made again, up to "
        f"{budget.max_extensions} rounds. Score: validation accuracy after one step (ties: "
        "lower loss). A point that diverged on a validation seed is never chosen.",
        "",
        f"Evaluation: {n_seeds} test seeds, {budget.meta_iterations} meta-iterations, "
        f"{budget.eval_tasks} fresh clean test tasks of the family per seed with {EVAL_QUERY} "
        "query points, from a separate seed stream. Headroom: MAML trained on the family's "
        "clean regime (T=10) minus MAML trained on the corrupted regime, on the same test "
        "tasks, paired by seed (what a perfect defence against the corruption could win back).",
        "",
    ]


def diverged_lines(raw: list[dict]) -> list[str]:
    bad = sorted({(r["regime"], r["method"], r["seed"]) for r in raw if r["diverged"]})
    text = ", ".join(f"{r}/{m} seed {seed}" for r, m, seed in bad) if bad else "none"
    return [f"Diverged test runs (left out of the means and the paired differences): {text}.",
            ""]


def markdown(summary_rows, chosen, status, scored, raw, n_seeds, budget, command) -> str:
    s = index(summary_rows)
    lines = [
        "# MAML vs gradient agreement (GA-MAML, GA-Reptile)", "",
        f"Generated by `benchmarks/ga_vs_maml.py` ({n_seeds} test seeds, {budget.meta_iterations} "
        "meta-iterations). Every cell: mean over seeds ± half-width of the 95 % t-interval. "
        "Differences are paired by seed (same initial theta, training batches and test tasks); "
        "**bold** when the interval excludes 0.", "",
        f"Reproduce: `{command}`", "",
        *design_lines(budget, n_seeds),
        "## Test accuracy after 1 adaptation step", "", *method_table(s, "acc_1"),
        COSINE_NOTE, "",
        "## Paired differences: accuracy after 1 step", "",
        "Headroom: how much the corruption costs MAML (n/a for clean regimes). The other columns: "
        "first method minus second, per seed.", "",
        *difference_table(s, "acc_1"),
        "## Chosen hyperparameters (alpha, beta)", "",
        *hyperparameter_lines(chosen, status, scored, budget),
        "## GA weights and the agreement of task updates", "", *weights_lines(s, chosen),
    ]
    for metric, title in (("acc_5", "Test accuracy after 5 adaptation steps"),
                          ("loss_1", "Test loss after 1 adaptation step (lower is better)"),
                          ("acc_0", "Test accuracy before adaptation (the meta-learned theta)")):
        lines += [f"## {title}", "", *method_table(s, metric), *difference_table(s, metric)]
    lines += diverged_lines(raw)
    return "\n".join(lines)


def _errorbars(ax, rows: list[dict], y: np.ndarray, spec: Method, label: str) -> None:
    """Means with 95 % error bars; first-order methods get hollow markers."""
    ax.errorbar([q["mean"] for q in rows], y, xerr=[np.nan_to_num(q["half_width"]) for q in rows],
                fmt=spec.marker, color=spec.colour, ms=5, capsize=2, lw=1, label=label,
                mfc="white" if spec.first_order else spec.colour)


def figure(summary_rows, path: Path, n_seeds: int, meta_iterations: int) -> None:
    """Accuracy after 1 step per method (left), paired differences and headroom (right)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    s = index(summary_rows)
    lines = eval_rows()
    fig = Figure(figsize=(13, 10), dpi=100, layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [1, 1]})
    y = np.arange(len(lines))[::-1].astype(float)
    for off, (method, spec) in zip(np.linspace(-0.36, 0.36, len(METHODS)), METHODS.items(),
                                   strict=True):
        _errorbars(left, [s[r, e, method, "acc_1"] for r, e, _ in lines], y - off, spec,
                   spec.label)
    nan = {"mean": math.nan, "half_width": math.nan}
    head = [s.get((r, e, "headroom", "acc_1"), nan)["mean"] for r, e, _ in lines]
    right.barh(y, head, height=0.85, color="#DDDDDD", label=DIFF_LABELS[0])
    for off, (first, second), label in zip(np.linspace(-0.3, 0.3, len(PAIRS)), PAIRS,
                                           DIFF_LABELS[1:], strict=True):
        _errorbars(right, [s[r, e, pair_name(first, second), "acc_1"] for r, e, _ in lines],
                   y - off, METHODS[first], label)
    right.axvline(0.0, color="black", lw=0.8)
    left.set_yticks(y, [label for _, _, label in lines])
    left.set_xlabel("test accuracy after 1 adaptation step")
    left.set_title(f"Accuracy (mean ± 95% CI, {n_seeds} seeds)")
    right.set_xlabel("paired accuracy difference after 1 step (first − second, same seeds)")
    right.set_title("Differences (95% CI); grey bar: headroom")
    for ax in (left, right):
        ax.grid(axis="x", alpha=0.3)
        ax.set_ylim(y[-1] - 0.6, y[0] + 0.6)
        for boundary in y[:-1] - 0.5:
            ax.axhline(boundary, color="#BBBBBB", lw=0.5)
    left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.07), ncols=3, fontsize=9,
                frameon=False)
    right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.07), ncols=2, fontsize=9,
                 frameon=False)
    fig.suptitle(f"MAML vs gradient agreement ({meta_iterations} meta-iterations, alpha and beta "
                 "tuned "
                 f"per method and regime)\n{COSINE_NOTE}", fontsize=11)
    fig.savefig(path, dpi=100, metadata={"Software": None})


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=None,
                        help="number of test seeds (default 20; 2 with --quick)")
    parser.add_argument("--meta_iterations", type=int, default=None,
                        help=f"meta-iterations per run (default {FULL.meta_iterations}; "
                             f"{QUICK.meta_iterations} with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="2 seeds, tiny budget and grid; writes to a temporary folder "
                             "unless --out is given")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    args = parser.parse_args(argv)
    budget = QUICK if args.quick else FULL
    default_seeds = 2 if args.quick else 20
    command = [".venv/bin/python benchmarks/ga_vs_maml.py"] + (["--quick"] if args.quick else [])
    if args.seeds is None:
        args.seeds = default_seeds
    elif args.seeds != default_seeds:
        command.append(f"--seeds {args.seeds}")
    if args.seeds < 2:
        parser.error("--seeds must be >= 2 (a confidence interval needs two values)")
    if args.seeds > VAL_SEED_OFFSET:
        parser.error(f"--seeds must be <= {VAL_SEED_OFFSET}")
    if args.meta_iterations is not None:
        if args.meta_iterations < 1:
            parser.error("--meta_iterations must be >= 1")
        command.append(f"--meta_iterations {args.meta_iterations}")
        budget = Budget(args.meta_iterations,
                        *(getattr(budget, f) for f in Budget.__dataclass_fields__
                                       if f != "meta_iterations"))
    if args.workers < 1:
        parser.error("--workers must be >= 1")
    args.budget, args.command = budget, " ".join(command)
    if args.out is None:
        args.out = Path(tempfile.mkdtemp(prefix="ga_vs_maml_")) if args.quick else DEFAULT_OUT
    return args


def print_headline(summary_rows: list[dict]) -> None:
    s = index(summary_rows)
    print("\naccuracy after 1 step (mean ± 95% half-width); headroom and paired differences:")
    names = ["headroom", *(pair_name(a, b) for a, b in PAIRS)]
    for regime, set_name, label in eval_rows():
        cells = "  ".join(f"{m} {_cell(s, regime, set_name, m, 'acc_1')}" for m in METHODS)
        diffs = "  ".join(f"{n} {_cell(s, regime, set_name, n, 'acc_1', True)}" for n in names)
        print(f"  {label}: {cells}\n      {diffs}".replace("**", ""))


def main(argv: list[str] | None = None) -> dict:
    """Run the study; returns the output paths, the chosen hyperparameters and the summary."""
    args = parse_args(argv)
    budget, seeds, out = args.budget, list(range(args.seeds)), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    print(f"GA vs MAML: {len(REGIMES)} regimes x {len(METHODS)} methods, {len(seeds)} test "
          f"seeds, {budget.meta_iterations} meta-iterations per run, {args.workers} worker(s), "
          f"output {out}", flush=True)
    pool = ProcessPoolExecutor(args.workers) if args.workers > 1 else None
    with pool or contextlib.nullcontext():
        print("1/2 tuning", flush=True)
        chosen, status, scored = tune(budget, lambda jobs: run_jobs(jobs, pool, "tuning"))
        for regime in REGIMES:
            cells = "  ".join(f"{m}={choice_text(chosen, status, (regime.name, m))}"
                              for m in METHODS)
            print(f"  {regime.name:<12} {cells}", flush=True)
        print("2/2 evaluation", flush=True)
        jobs = evaluation_jobs(chosen, seeds, budget)
        raw = [row for rows in run_jobs(jobs, pool, "evaluation") for row in rows]
    summary = summarise(raw)

    paths = {"raw": out / "raw.csv", "summary": out / "summary.csv",
             "tuning": out / "tuning.csv", "markdown": out / "summary.md",
             "figure": out / "ga_vs_maml.png"}
    write_csv(paths["raw"], raw, digits=4)
    write_csv(paths["summary"], summary, digits=5)
    write_csv(paths["tuning"], scored, digits=4)
    text = markdown(summary, chosen, status, scored, raw, len(seeds), budget, args.command)
    paths["markdown"].write_text(text, encoding="utf-8")
    figure(summary, paths["figure"], len(seeds), budget.meta_iterations)

    print_headline(summary)
    print(f"\nwrote {', '.join(str(p) for p in paths.values())}")
    cpu = sum(os.times()[:4])  # this process and its finished workers, user + system
    print(f"wall time {time.perf_counter() - start:.1f} s, CPU time {cpu:.1f} s "
          "(all processes; the wall time grows when other jobs share the cores)")
    return {"paths": paths, "chosen": chosen, "status": status, "summary": summary}


if __name__ == "__main__":
    main()
