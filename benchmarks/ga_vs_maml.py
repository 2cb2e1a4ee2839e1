"""MAML versus gradient-agreement MAML: a fair, reproducible comparison in one command.

    .venv/bin/python benchmarks/ga_vs_maml.py            # full study -> benchmarks/results/
    .venv/bin/python benchmarks/ga_vs_maml.py --quick    # 2 seeds, tiny budget, temp folder

Five methods: MAML (second order), first-order MAML, GA-MAML (second and first order) and
joint training (no inner loop). Eight training regimes: clean tasks; 10 % and 30 % of every
batch with flipped labels; 30 % with random labels (the book's coin flips); 30 % of the tasks
from a minority direction 120 degrees away from the majority; 2, 5 and 20 clean tasks per batch.

Protocol (the same for every method):

1. Tuning. For every regime and method, each (alpha, beta) of a small grid is meta-trained
   on the validation seeds and scored by the query accuracy after one adaptation step on
   validation tasks (clean; for the minority regime a 70/30 majority/minority mixture, like
   training). The best mean score is chosen (ties: lower loss, then smaller beta and alpha).
   A grid point that diverges on any validation seed is never chosen.
2. Evaluation. Every method is retrained with its chosen values on the test seeds and
   evaluated on fresh test tasks drawn from a separate seed stream: accuracy and loss before
   adaptation and after 1 and 5 steps. One seed fixes the initial theta, the training
   batches and the test tasks, so methods are compared per seed (paired differences).
3. Statistics: mean over seeds with a t-based 95 % confidence interval; paired differences
   GA - MAML and FO-GA - FO-MAML per seed, with the same interval.

Outputs (in ``--out``): ``raw.csv`` (one row per regime, evaluation set, method and seed),
``summary.csv`` (tidy: mean and interval per metric), ``tuning.csv`` (every grid point's
validation score, the chosen one flagged), ``summary.md`` (tables) and ``ga_vs_maml.png``.
The files depend only on the arguments: running twice gives identical files.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import tempfile
import time
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
class Regime:
    """A training task distribution (every other setting is MetaConfig's default)."""

    name: str
    label: str
    n_tasks: int = 10
    corrupt_frac: float = 0.0
    corruption: str = "flip"
    minority_frac: float = 0.0
    minority_angle: float = 120.0

    def eval_sets(self, role: str) -> tuple[str, ...]:
        if self.minority_frac == 0:
            return ("clean",)
        return ("mixture",) if role == "val" else ("majority", "minority")


REGIMES = (
    Regime("clean", "clean, T=10"),
    Regime("flip10", "10% flipped", corrupt_frac=0.1),
    Regime("flip30", "30% flipped", corrupt_frac=0.3),
    Regime("random30", "30% random labels", corrupt_frac=0.3, corruption="random"),
    Regime("minority30", "30% minority at 120°", minority_frac=0.3, minority_angle=120.0),
    Regime("tasks2", "clean, T=2", n_tasks=2),
    Regime("tasks5", "clean, T=5", n_tasks=5),
    Regime("tasks20", "clean, T=20", n_tasks=20),
)
REGIME_BY_NAME = {r.name: r for r in REGIMES}

# name -> (MetaConfig.method, first_order)
METHODS = {
    "maml": ("maml", False),
    "fomaml": ("maml", True),
    "ga": ("ga", False),
    "foga": ("ga", True),
    "joint": ("joint", False),
}
LABELS = {"maml": "MAML", "fomaml": "FO-MAML", "ga": "GA-MAML", "foga": "FO-GA-MAML",
          "joint": "Joint"}
STYLE = {  # Okabe-Ito colours from gh.COLORS; first-order variants get hollow markers
    "maml": (gh.COLORS["maml"], "o", True),
    "fomaml": (gh.COLORS["fomaml"], "o", False),
    "ga": (gh.COLORS["ga"], "s", True),
    "foga": (gh.COLORS["corrupted"], "s", False),  # Okabe-Ito orange
    "joint": (gh.COLORS["joint"], "D", True),
}
PAIRS = (("ga", "maml"), ("foga", "fomaml"))  # paired differences, first minus second

K_SHOT = 10  # support points per task (training and evaluation)
EVAL_QUERY = 50  # query points per validation/test task (more than in training: less noise)
N_FEATURES = 50
VAL_SEED_OFFSET = 1_000_000  # validation runs train with seeds 1e6, 1e6+1, ...
STREAM = {"val": 1, "test": 2, "diag": 3}  # task streams default_rng([STREAM, seed])
STEPS = (0, 1, 5)


@dataclass(frozen=True)
class Budget:
    epochs: int
    betas: tuple[float, ...]
    alphas: tuple[float, ...]
    val_seeds: int
    eval_tasks: int
    diag_batches: int


FULL = Budget(epochs=500, betas=(0.03, 0.1, 0.3, 1.0), alphas=(0.3, 1.0, 3.0),
              val_seeds=2, eval_tasks=300, diag_batches=20)
QUICK = Budget(epochs=60, betas=(0.3, 1.0), alphas=(1.0,), val_seeds=1, eval_tasks=40,
               diag_batches=4)


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


def make_eval_tasks(regime: Regime, role: str, seed: int, n_tasks: int) -> dict[str, gh.TaskBatch]:
    """Validation or test tasks of a seed: fresh, clean, from their own stream.

    The clean (majority) tasks of a seed are the same in every regime and for every method.
    """
    rng = np.random.default_rng([STREAM[role], seed])
    majority = gh.sample_tasks(n_tasks, K_SHOT, k_query=EVAL_QUERY, n_features=N_FEATURES,
                               rng=rng)
    if regime.minority_frac == 0:
        return {"clean": majority}
    other = gh.minority_direction(N_FEATURES, regime.minority_angle)
    if role == "test":
        minority = gh.sample_tasks(n_tasks, K_SHOT, k_query=EVAL_QUERY, n_features=N_FEATURES,
                                   direction=other, rng=rng)
        return {"majority": majority, "minority": minority}
    n_min = round(regime.minority_frac * n_tasks)
    minority = gh.sample_tasks(n_min, K_SHOT, k_query=EVAL_QUERY, n_features=N_FEATURES,
                               direction=other, rng=rng)
    return {"mixture": gh.TaskBatch.concatenate([majority[: n_tasks - n_min], minority])}


def training_like_batches(regime: Regime, seed: int, n_batches: int) -> gh.TaskBatch:
    """``n_batches`` batches from the training distribution, joined: (n_batches * T) tasks."""
    rng = np.random.default_rng([STREAM["diag"], seed])
    t = regime.n_tasks
    n_min = round(regime.minority_frac * t)
    other = gh.minority_direction(N_FEATURES, regime.minority_angle)
    parts = []
    for _ in range(n_batches):
        batch = gh.sample_tasks(t, K_SHOT, k_query=K_SHOT, n_features=N_FEATURES,
                                corrupt_frac=regime.corrupt_frac, corruption=regime.corruption,
                                rng=rng)
        if n_min:
            odd = gh.sample_tasks(n_min, K_SHOT, k_query=K_SHOT, n_features=N_FEATURES,
                                  direction=other, rng=rng)
            batch = gh.TaskBatch.concatenate([batch[: t - n_min], odd])
        parts.append(batch)
    return gh.TaskBatch.concatenate(parts)


def agreement_diagnostics(theta: np.ndarray, batches: gh.TaskBatch, n_tasks: int,
                          alpha: float) -> dict[str, float]:
    """How much task updates agree at ``theta``, on batches of ``n_tasks`` tasks.

    diag_share : mean over batches of ``sum_i |g_i.g_i| / sum_ij |g_i.g_j|``: near 1, each
        GA weight is mostly the task's own squared update norm (magnitude, not agreement).
    mean_cos : mean cosine between the updates of two different tasks of a batch.
    corr_w_sqnorm : correlation, over all tasks, of the GA weight with ``|g_i|^2``.
    """
    adapted = gh.inner_update(theta, batches.x_support, batches.y_support, alpha)
    g = (theta - adapted).reshape(-1, n_tasks, theta.size)  # (B, T, d)
    gram = np.einsum("btd,bsd->bts", g, g)
    abs_sum = np.abs(gram).sum(axis=(1, 2))
    diag = np.abs(np.diagonal(gram, axis1=1, axis2=2)).sum(axis=1)
    out = {"diag_share": float(np.mean(diag / abs_sum)), "mean_cos": math.nan,
           "corr_w_sqnorm": math.nan}
    if n_tasks > 1:
        norms = np.sqrt(np.diagonal(gram, axis1=1, axis2=2))
        cos = gram / (norms[:, :, None] * norms[:, None, :])
        off = ~np.eye(n_tasks, dtype=bool)
        out["mean_cos"] = float(cos[:, off].mean())
        weights = gram.sum(axis=2) / abs_sum[:, None]  # GA weights, batched
        sq = np.diagonal(gram, axis1=1, axis2=2).ravel()
        if np.std(weights) > 0 and np.std(sq) > 0:
            out["corr_w_sqnorm"] = float(np.corrcoef(weights.ravel(), sq)[0, 1])
    return out


def weight_diagnostics(history: gh.History) -> dict[str, float]:
    """Task weights over training: their sum, and means on flagged vs other tasks.

    Flagged tasks are the corrupted ones, or the minority ones in the minority regime.
    ``*_early`` columns cover the first 10 % of the meta-iterations only.
    """
    done = history.epochs_done
    w = history.weights[:done]
    flagged = (history.corrupted | history.minority)[:done]
    early = np.arange(done)[:, None] < max(1, done // 10)
    out = {"w_sum": float(w.sum(axis=1).mean())}
    for name, mask in (("flagged", flagged), ("other", ~flagged)):
        for suffix, part in (("", mask), ("_early", mask & early)):
            out[f"w_{name}{suffix}"] = float(w[part].mean()) if part.any() else math.nan
        out[f"negw_{name}"] = float((w[mask] < 0).mean()) if mask.any() else math.nan
    return out


METRICS = ("acc_0", "acc_1", "acc_5", "loss_0", "loss_1", "loss_5")
DIAGNOSTICS = ("w_sum", "w_flagged", "w_other", "w_flagged_early", "w_other_early",
               "negw_flagged", "negw_other", "diag_share", "cos_init", "cos_final",
               "corr_w_sqnorm")
GA_METHODS = ("ga", "foga")  # the methods whose weights are diagnosed


def run_job(job: Job) -> list[dict]:
    """Train one configuration and evaluate it: one row per (alpha, evaluation set)."""
    regime = REGIME_BY_NAME[job.regime]
    base, first_order = METHODS[job.method]
    b = job.budget
    config = gh.MetaConfig(
        method=base, first_order=first_order, alpha=job.alphas[0], beta=job.beta,
        n_tasks=regime.n_tasks, k_shot=K_SHOT, k_query=K_SHOT, n_features=N_FEATURES,
        epochs=b.epochs, corrupt_frac=regime.corrupt_frac, corruption=regime.corruption,
        seed=job.seed, minority_frac=regime.minority_frac, minority_angle=regime.minority_angle,
        eval_every=b.epochs, eval_tasks=10)
    try:
        history = gh.meta_train(config)
    except ValueError as exc:
        if "diverged" not in str(exc):
            raise
        history = None
    sets = make_eval_tasks(regime, job.role, job.seed, b.eval_tasks)
    diag = dict.fromkeys(DIAGNOSTICS, math.nan)
    if history is not None and job.role == "test" and job.method in GA_METHODS:
        diag.update(weight_diagnostics(history))
        batches = training_like_batches(regime, job.seed, b.diag_batches)
        final = agreement_diagnostics(history.theta, batches, regime.n_tasks, job.alphas[0])
        init = agreement_diagnostics(history.theta_init, batches, regime.n_tasks, job.alphas[0])
        diag.update(diag_share=final["diag_share"], cos_init=init["mean_cos"],
                    cos_final=final["mean_cos"], corr_w_sqnorm=final["corr_w_sqnorm"])
    rows = []
    for alpha in job.alphas:
        for set_name in regime.eval_sets(job.role):
            row = {"regime": job.regime, "eval_set": set_name, "method": job.method,
                   "seed": job.seed, "alpha": alpha, "beta": job.beta, "epochs": b.epochs,
                   "diverged": int(history is None)}
            for steps in STEPS:
                if history is None:
                    row[f"acc_{steps}"] = row[f"loss_{steps}"] = math.nan
                    continue
                ev = gh.adapt_and_evaluate(history.theta, sets[set_name], alpha, steps=steps)
                row[f"acc_{steps}"] = float(ev.accuracy_after.mean())
                row[f"loss_{steps}"] = float(ev.loss_after.mean())
            row.update(diag)
            rows.append(row)
    return rows


def run_jobs(jobs: list[Job], workers: int, phase: str) -> list[list[dict]]:
    """Run jobs (in parallel if workers > 1); results in job order. Progress on stderr."""
    results: list[list[dict] | None] = [None] * len(jobs)
    start = time.perf_counter()
    step = max(1, len(jobs) // 20)

    def report(done: int) -> None:
        if done % step == 0 or done == len(jobs):
            print(f"  {phase}: {done}/{len(jobs)} runs, {time.perf_counter() - start:.0f} s",
                  file=sys.stderr, flush=True)

    if workers == 1:
        for i, job in enumerate(jobs):
            results[i] = run_job(job)
            report(i + 1)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(run_job, job): i for i, job in enumerate(jobs)}
            for done, future in enumerate(as_completed(futures), start=1):
                results[futures[future]] = future.result()
                report(done)
    return results  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Tuning, evaluation, summaries
# ---------------------------------------------------------------------------------------------


def tuning_jobs(budget: Budget) -> list[Job]:
    jobs = []
    for regime in REGIMES:
        for method in METHODS:
            for beta in budget.betas:
                for v in range(budget.val_seeds):
                    seed = VAL_SEED_OFFSET + v
                    if method == "joint":
                        jobs.append(Job(regime.name, method, beta, budget.alphas, seed, "val",
                                        budget))
                    else:
                        jobs.extend(Job(regime.name, method, beta, (alpha,), seed, "val", budget)
                                    for alpha in budget.alphas)
    return jobs


def select(tuning_rows: list[dict]) -> tuple[dict, list[dict]]:
    """Choose (alpha, beta) per (regime, method) by the mean validation accuracy after 1 step.

    Returns {(regime, method): (alpha, beta)} and one scored row per grid point.
    """
    groups: dict[tuple, list[dict]] = {}
    for row in tuning_rows:
        groups.setdefault((row["regime"], row["method"], row["alpha"], row["beta"]), []).append(row)
    scored = []
    for (regime, method, alpha, beta), rows in groups.items():
        diverged = sum(r["diverged"] for r in rows)
        acc = math.nan if diverged else float(np.mean([r["acc_1"] for r in rows]))
        loss = math.nan if diverged else float(np.mean([r["loss_1"] for r in rows]))
        scored.append({"regime": regime, "method": method, "alpha": alpha, "beta": beta,
                       "val_acc_1": acc, "val_loss_1": loss, "runs": len(rows),
                       "diverged_runs": diverged, "chosen": 0})
    chosen = {}
    for row in sorted(scored, key=lambda r: (r["regime"], r["method"])):
        if row["diverged_runs"]:
            continue
        key = (row["regime"], row["method"])
        rank = (-row["val_acc_1"], row["val_loss_1"], row["beta"], row["alpha"])
        if key not in chosen or rank < chosen[key][0]:
            chosen[key] = (rank, row)
    for _, row in chosen.values():
        row["chosen"] = 1
    order = {r.name: i for i, r in enumerate(REGIMES)}
    methods = list(METHODS)
    scored.sort(key=lambda r: (order[r["regime"]], methods.index(r["method"]), r["alpha"],
                               r["beta"]))
    missing = [f"{r}/{m}" for r in order for m in METHODS if (r, m) not in chosen]
    if missing:
        raise ValueError(f"every grid point diverged for {', '.join(missing)}: widen the grid")
    return {k: (row["alpha"], row["beta"]) for k, (_, row) in chosen.items()}, scored


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


def summarise(raw: list[dict]) -> list[dict]:
    """Tidy summary: one row per (regime, eval_set, method or pair, metric)."""
    table: dict[tuple, dict[int, dict]] = {}
    for row in raw:
        table.setdefault((row["regime"], row["eval_set"], row["method"]), {})[row["seed"]] = row
    out = []

    def add(regime, set_name, name, metric, values):
        values = np.asarray(values, dtype=float)
        values = values[np.isfinite(values)]
        mean, half = (mean_ci(values) if values.size >= 2
                      else (float(values.mean()) if values.size else math.nan, math.nan))
        out.append({"regime": regime, "eval_set": set_name, "method": name, "metric": metric,
                    "n": int(values.size), "mean": mean, "half_width": half,
                    "ci_low": mean - half, "ci_high": mean + half})

    for regime, set_name, _ in eval_rows():
        for method in METHODS:
            rows = table[regime, set_name, method]
            for metric in METRICS + (DIAGNOSTICS if method in GA_METHODS else ()):
                add(regime, set_name, method, metric, [rows[s][metric] for s in sorted(rows)])
        for first, second in PAIRS:
            a, b = table[regime, set_name, first], table[regime, set_name, second]
            seeds = sorted(set(a) & set(b))
            for metric in METRICS:
                add(regime, set_name, f"{first}-{second}", metric,
                    [a[s][metric] - b[s][metric] for s in seeds])
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


def _cell(summary: dict, regime, set_name, method, metric, signed=False) -> str:
    row = summary[regime, set_name, method, metric]
    if not math.isfinite(row["mean"]):
        return "n/a"
    text = f"{row['mean']:+.3f}" if signed else f"{row['mean']:.3f}"
    if math.isfinite(row["half_width"]):
        text += f" ± {row['half_width']:.3f}"
    if signed and math.isfinite(row["half_width"]) and (row["ci_low"] > 0 or row["ci_high"] < 0):
        text = f"**{text}**"
    return text


def markdown(summary_rows, chosen, seeds, budget, command: str) -> str:
    s = {(r["regime"], r["eval_set"], r["method"], r["metric"]): r for r in summary_rows}
    n_seeds = len(seeds)
    pairs = [f"{a}-{b}" for a, b in PAIRS]
    lines = [
        "# MAML vs gradient-agreement MAML",
        "",
        f"Generated by `benchmarks/ga_vs_maml.py` ({n_seeds} test seeds, {budget.epochs} "
        f"meta-iterations). Every cell: mean over seeds ± half-width of "
        "the 95 % t-interval. Differences are paired by seed (same initial theta, training "
        "batches and test tasks); **bold** when the interval excludes 0.",
        "",
        f"Reproduce: `{command}`",
        "",
        f"Tasks: d={N_FEATURES}, {K_SHOT} support points, {K_SHOT} query points in training; "
        f"{budget.eval_tasks} fresh test tasks per seed with {EVAL_QUERY} query points, clean, "
        "from a separate seed stream. Hyperparameters tuned per regime and method on "
        f"{budget.val_seeds} validation seed(s) (own training seeds and tasks): beta in "
        f"{list(budget.betas)}, alpha in {list(budget.alphas)}, by validation accuracy after "
        "one step.",
        "",
    ]

    def table(metric: str, title: str) -> None:
        header = ["Regime (test tasks)", *(LABELS[m] for m in METHODS),
                  "GA − MAML", "FO-GA − FO-MAML"]
        lines.extend([f"## {title}", "", "| " + " | ".join(header) + " |",
                      "|" + "---|" * len(header)])
        for regime, set_name, label in eval_rows():
            cells = [_cell(s, regime, set_name, m, metric) for m in METHODS]
            cells += [_cell(s, regime, set_name, p, metric, signed=True) for p in pairs]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")

    table("acc_1", "Test accuracy after 1 adaptation step")
    table("acc_5", "Test accuracy after 5 adaptation steps")
    table("loss_1", "Test loss after 1 adaptation step (lower is better)")
    table("acc_0", "Test accuracy before adaptation (the meta-learned theta itself)")

    lines.extend(["## Chosen hyperparameters (alpha, beta)", "",
                  "| Regime | " + " | ".join(LABELS[m] for m in METHODS) + " |",
                  "|" + "---|" * (len(METHODS) + 1)])
    for regime in REGIMES:
        cells = [f"{chosen[regime.name, m][0]:g}, {chosen[regime.name, m][1]:g}" for m in METHODS]
        lines.append(f"| {regime.label} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Joint training ignores alpha while training; its alpha is the test-time step.")
    lines.append("")

    lines.extend([
        "## GA weights in the test runs (mean over seeds)", "",
        "Σw = mean over meta-steps of sum_i w_i (MAML: 1; ± the 95 % half-width over seeds): "
        "the effective meta step is beta × Σw. Flagged tasks = corrupted tasks, or minority "
        "tasks in the minority regime; w flagged / other = their mean weights, over the first "
        "10 % of the meta-iterations and over all of them (MAML gives every task 1/T); "
        "w<0 = fraction of negative weights. On fresh training-like batches: cos = mean cosine "
        "between two tasks' updates g_i = theta - theta_i' at the initial and the final theta; "
        "diag share = sum_i g_i.g_i / sum_ij |g_i.g_j| at the final theta; corr = correlation "
        "of w_i with ‖g_i‖² there (weights driven by update size rather than agreement).",
        "",
        "| Regime | Method | beta | Σw | beta × Σw | w flagged / other, first 10 % "
        "| w flagged / other, all | w<0 flagged / other | cos init → final | diag share "
        "| corr(w, ‖g‖²) |",
        "|" + "---|" * 11])

    def mean(regime, set_name, m, metric, fmt=".3f"):
        value = s[regime, set_name, m, metric]["mean"]
        return "n/a" if not math.isfinite(value) else f"{value:{fmt}}"

    for regime in REGIMES:
        set_name = regime.eval_sets("test")[0]
        for m in GA_METHODS:
            beta = chosen[regime.name, m][1]
            wsum = s[regime.name, set_name, m, "w_sum"]["mean"]
            args = (regime.name, set_name, m)
            cells = [
                _cell(s, *args, "w_sum"), f"{beta * wsum:.3f}",
                f"{mean(*args, 'w_flagged_early')} / {mean(*args, 'w_other_early')}",
                f"{mean(*args, 'w_flagged')} / {mean(*args, 'w_other')}",
                f"{mean(*args, 'negw_flagged')} / {mean(*args, 'negw_other')}",
                f"{mean(*args, 'cos_init')} → {mean(*args, 'cos_final')}",
                mean(*args, "diag_share"), mean(*args, "corr_w_sqnorm", ".2f"),
            ]
            lines.append(f"| {regime.label} | {LABELS[m]} | {beta:g} | " + " | ".join(cells)
                         + " |")
    lines.append("")
    return "\n".join(lines)


def figure(summary_rows, path: Path, n_seeds: int, epochs: int) -> None:
    """One figure: accuracy after 1 step per method (left), paired differences (right)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend
    from matplotlib.ticker import MaxNLocator

    s = {(r["regime"], r["eval_set"], r["method"], r["metric"]): r for r in summary_rows}
    lines = eval_rows()
    fig = Figure(figsize=(11, 6.2), dpi=100, layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 2]})
    y = np.arange(len(lines))[::-1].astype(float)
    offsets = np.linspace(-0.3, 0.3, len(METHODS))
    for off, method in zip(offsets, METHODS, strict=True):
        colour, marker, filled = STYLE[method]
        rows = [s[r, e, method, "acc_1"] for r, e, _ in lines]
        left.errorbar([q["mean"] for q in rows], y + off,
                      xerr=[np.nan_to_num(q["half_width"]) for q in rows], fmt=marker,
                      color=colour, mfc=colour if filled else "white", ms=5, capsize=2,
                      label=LABELS[method])
    left.set_yticks(y, [label for _, _, label in lines])
    left.set_xlabel("test accuracy after 1 adaptation step")
    left.set_title(f"Accuracy (mean ± 95% CI, {n_seeds} seeds)")
    left.legend(loc="lower left", fontsize=8)
    left.grid(axis="x", alpha=0.3)
    for off, (first, second) in zip((-0.15, 0.15), PAIRS, strict=True):
        colour, marker, filled = STYLE[first]
        rows = [s[r, e, f"{first}-{second}", "acc_1"] for r, e, _ in lines]
        right.errorbar([q["mean"] for q in rows], y + off,
                       xerr=[np.nan_to_num(q["half_width"]) for q in rows], fmt=marker,
                       color=colour, mfc=colour if filled else "white", ms=5, capsize=2,
                       label=f"{LABELS[first]} − {LABELS[second]}")
    right.axvline(0.0, color="black", lw=0.8)
    right.xaxis.set_major_locator(MaxNLocator(nbins=5, symmetric=True))
    right.set_xlabel("paired accuracy difference after 1 step")
    right.set_title("GA − MAML, same seeds (95% CI)")
    right.legend(loc="upper right", fontsize=8)
    right.grid(axis="x", alpha=0.3)
    fig.suptitle(f"MAML vs gradient-agreement MAML ({epochs} meta-iterations, per-method tuned "
                 "alpha and beta)")
    fig.savefig(path, dpi=100, metadata={"Software": None})


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=None,
                        help="number of test seeds (default 20; 2 with --quick)")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"meta-iterations per run (default {FULL.epochs}; "
                             f"{QUICK.epochs} with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="2 seeds, tiny budget and grid; writes to a temporary folder "
                             "unless --out is given")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    args = parser.parse_args(argv)
    budget = QUICK if args.quick else FULL
    args.seeds = (2 if args.quick else 20) if args.seeds is None else args.seeds
    if args.seeds < 2:
        parser.error("--seeds must be >= 2 (a confidence interval needs two values)")
    if args.seeds > VAL_SEED_OFFSET:
        parser.error(f"--seeds must be <= {VAL_SEED_OFFSET}")
    epochs = budget.epochs if args.epochs is None else args.epochs
    if epochs < 1:
        parser.error("--epochs must be >= 1")
    if args.workers < 1:
        parser.error("--workers must be >= 1")
    args.budget = Budget(epochs, budget.betas, budget.alphas, budget.val_seeds,
                         budget.eval_tasks, budget.diag_batches)
    if args.out is None:
        args.out = Path(tempfile.mkdtemp(prefix="ga_vs_maml_")) if args.quick else DEFAULT_OUT
    return args


def main(argv: list[str] | None = None) -> dict:
    """Run the study; returns paths and the chosen hyperparameters."""
    args = parse_args(argv)
    budget, seeds = args.budget, list(range(args.seeds))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    print(f"GA vs MAML: {len(REGIMES)} regimes x {len(METHODS)} methods, {len(seeds)} test seeds, "
          f"{budget.epochs} meta-iterations per run, {args.workers} worker(s), output {out}",
          flush=True)

    jobs = tuning_jobs(budget)
    print(f"1/2 tuning: beta in {list(budget.betas)}, alpha in {list(budget.alphas)}, "
          f"{budget.val_seeds} validation seed(s): {len(jobs)} runs", flush=True)
    tuning_rows = [row for rows in run_jobs(jobs, args.workers, "tuning") for row in rows]
    chosen, scored = select(tuning_rows)
    print("chosen (alpha, beta) per regime:", flush=True)
    for regime in REGIMES:
        cells = "  ".join(f"{m}={chosen[regime.name, m][0]:g},{chosen[regime.name, m][1]:g}"
                          for m in METHODS)
        print(f"  {regime.name:<11} {cells}", flush=True)

    jobs = evaluation_jobs(chosen, seeds, budget)
    print(f"2/2 evaluation: {len(jobs)} runs", flush=True)
    raw = [row for rows in run_jobs(jobs, args.workers, "evaluation") for row in rows]
    summary = summarise(raw)

    paths = {"raw": out / "raw.csv", "summary": out / "summary.csv",
             "tuning": out / "tuning.csv", "markdown": out / "summary.md",
             "figure": out / "ga_vs_maml.png"}
    write_csv(paths["raw"], raw, digits=4)
    write_csv(paths["summary"], summary, digits=5)
    write_csv(paths["tuning"], scored, digits=4)
    command = ".venv/bin/python benchmarks/ga_vs_maml.py" + "".join(
        f" {flag}" for flag in ("--quick",) if args.quick) + (
        f" --seeds {args.seeds}" if args.seeds != (2 if args.quick else 20) else "") + (
        f" --epochs {budget.epochs}" if args.epochs is not None else "")
    text = markdown(summary, chosen, seeds, budget, command)
    paths["markdown"].write_text(text + "\n", encoding="utf-8")
    figure(summary, paths["figure"], len(seeds), budget.epochs)

    s = {(r["regime"], r["eval_set"], r["method"], r["metric"]): r for r in summary}
    print("\naccuracy after 1 step (mean ± 95% half-width); paired GA - MAML:")
    for regime, set_name, label in eval_rows():
        cells = "  ".join(f"{m} {_cell(s, regime, set_name, m, 'acc_1')}" for m in METHODS)
        diffs = "  ".join(f"{p} {_cell(s, regime, set_name, p, 'acc_1', True)}"
                          for p in (f"{a}-{b}" for a, b in PAIRS))
        print(f"  {label}: {cells}\n      {diffs}".replace("**", ""))
    print(f"\nwrote {', '.join(str(p) for p in paths.values())}")
    cpu = sum(os.times()[:4])  # this process and its finished workers, user + system
    print(f"wall time {time.perf_counter() - start:.1f} s, CPU time {cpu:.1f} s "
          "(all processes; the wall time grows when other jobs share the cores)")
    return {"paths": paths, "chosen": chosen, "summary": summary}


if __name__ == "__main__":
    main()
