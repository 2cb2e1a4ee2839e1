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

What this study shares with ``sine_study.py`` (the statistics, the tuning rule's helpers, the job
runner and the report helpers) is in ``studylib.py``, imported as ``studylib``.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import studylib

import gamaml_helpers as gh

DEFAULT_OUT = Path(__file__).resolve().parent / "results"

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
    """A training task distribution (every setting not named here is gh.LinearConfig's default)."""

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


# Label, rule and colour come from the course's one table (gh.VARIANTS); the marker is this
# figure's own. First-order variants are drawn hollow.
MARKERS = {"maml": "o", "fomaml": "o", "ga": "s", "foga": "s", "ga-book": "v", "ga-cosine": "^",
           "reptile": "P", "ga-reptile": "X", "joint": "D"}
METHODS = studylib.methods(MARKERS)
WEIGHTED = tuple(m for m, spec in METHODS.items() if spec.weighted)
PAIRS = (("ga", "maml"), ("foga", "fomaml"), ("ga-book", "maml"), ("ga-cosine", "maml"),
         ("ga-reptile", "reptile"))  # paired differences, first minus second
EVAL_QUERY = 50  # query points per validation/test task (more than in training: less noise)
STEPS = (0, 1, 5)
BETA_BASE = 0.1  # the beta grid is BETA_BASE * 2**k for integers k


def beta_of(k: int) -> float:
    """Grid point k of the beta grid: ``0.1 * 2**k`` (exact: a power of two times 0.1)."""
    return BETA_BASE * 2.0**k


def alpha_of(j: int) -> float:
    """Grid point j of the alpha grid ..., 0.1, 0.3, 1, 3, 10, 30, ... (``log_grid``)."""
    return studylib.log_grid(j)


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
    rng = studylib.task_rng(role, seed)
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
    rng = studylib.task_rng("diag", seed)
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
        # Undefined when either side is constant. Weights equal up to roundoff count as
        # constant: with T = 2 the cosine weights are 1/2 each, and the correlation of their
        # last-bit noise with |g|^2 would be noise that differs from one CPU to another.
        if np.ptp(weights) > 1e-9 * np.abs(weights).max() and np.ptp(sq) > 0:
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


def meta_config(job: Job) -> gh.LinearConfig:
    """The job's configuration: its regime's family and tasks, its method, alpha and beta."""
    regime, method = REGIME_BY_NAME[job.regime], METHODS[job.method]
    fam = regime.fam
    return gh.LinearConfig(
        method=method.base, first_order=method.first_order, normalization=method.normalization,
        alpha=job.alphas[0], beta=job.beta, n_tasks=regime.n_tasks, k_shot=fam.k_shot,
        k_query=fam.k_shot, n_features=fam.n_features, spread=fam.spread,
        meta_iterations=job.budget.meta_iterations, corrupt_frac=regime.corrupt_frac,
        corruption=regime.corruption, seed=job.seed, minority_frac=regime.minority_frac,
        minority_angle=regime.minority_angle, eval_every=job.budget.meta_iterations, eval_tasks=10)


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
    history = studylib.train(meta_config(job))
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
                row[f"acc_{steps}"] = float(ev.score_after.mean())
                row[f"loss_{steps}"] = float(ev.loss_after.mean())
            rows.append({**row, **diag})
    return rows


# ---------------------------------------------------------------------------------------------
# Tuning: studylib's edge-extended grids, scored by validation accuracy after one step
# ---------------------------------------------------------------------------------------------

KEYS = [(r.name, m) for r in REGIMES for m in METHODS]  # (regime, method): tuned, in this order


def tuning_jobs(points: list[studylib.Point], budget: Budget) -> list[Job]:
    """Validation runs of grid points, on every validation seed. Joint training ignores alpha
    while training, so one joint run per beta serves all of its alphas."""
    groups: dict[tuple, list[float]] = {}
    for regime, method, j, k in points:
        key = (regime, method, k, None if method == "joint" else j)
        groups.setdefault(key, []).append(alpha_of(j))
    seeds = [studylib.VAL_SEED_OFFSET + v for v in range(budget.val_seeds)]
    return [Job(regime, method, beta_of(k), tuple(alphas), seed, "val", budget)
            for (regime, method, k, _), alphas in groups.items() for seed in seeds]


def score_accuracy(rows: list[dict], added_in: dict[tuple, int]) -> list[dict]:
    """One row per grid point (regime, method, alpha, beta): mean validation accuracy and loss
    after one step over the seeds (``studylib.score``).

    A point that diverged on any seed has no score. ``added_in[(regime, method, alpha, beta)]``
    is the tuning round that added the point (0: the starting grid).
    """
    columns = {"val_acc_1": "acc_1", "val_loss_1": "loss_1"}
    return studylib.score(rows, "regime", added_in, columns, order=KEYS)


def select_by_accuracy(scored: list[dict]) -> tuple[dict, dict]:
    """Choose (alpha, beta) per (regime, method) by the mean validation accuracy after 1 step.

    Ties: lower validation loss, then smaller beta, then smaller alpha. Returns
    ``{(regime, method): (alpha, beta)}`` and ``{(regime, method): {"alpha": position,
    "beta": position}}`` (see ``studylib.position``; both "all diverged" where no point is
    stable). Marks the chosen rows of ``scored``.
    """
    return studylib.choose(scored, "regime",
                  lambda r: (-r["val_acc_1"], r["val_loss_1"], r["beta"], r["alpha"]))


def tune(budget: Budget, run: studylib.Runner) -> tuple[dict, dict, list[dict]]:
    """Tune every (regime, method) with edge extension; ``run`` executes a list of jobs.

    Round 0 runs the starting grid; each later round adds, for every (regime, method) whose
    choice sits at an edge of the alpha or the beta grid, the next grid value beyond it, and
    chooses again, up to ``budget.max_extensions`` rounds (``studylib.tune_grid``). Returns
    (chosen, status, scored); fails if every point of a (regime, method) diverged.
    """
    def run_points(points: list[studylib.Point]) -> list[dict]:
        return [row for job_rows in run(tuning_jobs(points, budget)) for row in job_rows]

    chosen, status, scored = studylib.tune_grid(
        KEYS, (set(budget.alpha_exponents), set(budget.beta_exponents)), budget.max_extensions,
        lambda j, k: (alpha_of(j), beta_of(k)), run_points, score_accuracy, select_by_accuracy)
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
    """The summary name of the paired difference ``first - second``, e.g. ``ga-maml``."""
    return f"{first}-{second}"


SUMMARY_KEY = ("regime", "eval_set", "method", "metric")  # the columns that key a summary row


def interval_row(regime: str, set_name: str, name: str, metric: str, stats: dict) -> dict:
    """A summary row: its key and ``stats``, the mean and 95 % half-width of the finite values
    (``studylib.interval``) or paired differences (``studylib.paired_interval``)."""
    return {"regime": regime, "eval_set": set_name, "method": name, "metric": metric, **stats}


def paired_stats(a: dict[int, dict], b: dict[int, dict], metric: str) -> dict:
    """The paired differences ``a - b`` of ``metric`` over the seeds in both (rows keyed by
    seed): ``studylib.paired_interval`` of ``studylib.seed_pairs``."""
    return studylib.paired_interval(*studylib.seed_pairs(a, b, metric))


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
                values = [rows[s][metric] for s in sorted(rows)]
                out.append(interval_row(regime_name, set_name, method, metric,
                                        studylib.interval(values)))
        for first, second in PAIRS:
            a, b = table[regime_name, set_name, first], table[regime_name, set_name, second]
            out.extend(interval_row(regime_name, set_name, pair_name(first, second), metric,
                                    paired_stats(a, b, metric)) for metric in METRICS)
        if regime.clean_reference and set_name == regime.clean_set:
            clean = table[regime.clean_reference, "clean", "maml"]
            here = table[regime_name, set_name, "maml"]
            out.extend(interval_row(regime_name, set_name, "headroom", metric,
                                    paired_stats(clean, here, metric)) for metric in METRICS)
    return out


# ---------------------------------------------------------------------------------------------
# Output files
# ---------------------------------------------------------------------------------------------


DIFF_LABELS = ["headroom (MAML clean − MAML)",
               *(f"{METHODS[a].label} − {METHODS[b].label}" for a, b in PAIRS)]


def regime_table(s: dict, metric: str) -> list[str]:
    """Per regime (test tasks) and method: the mean and interval of ``metric``."""
    return studylib.markdown_table(["Regime (test tasks)", *(m.label for m in METHODS.values())],
                          [[label, *(studylib.cell(s, (r, e, m, metric)) for m in METHODS)]
                           for r, e, label in eval_rows()])


def regime_differences(s: dict, metric: str) -> list[str]:
    """Per regime (test tasks): the headroom and the paired differences of ``metric``."""
    names = ["headroom", *(pair_name(a, b) for a, b in PAIRS)]
    return studylib.markdown_table(["Regime (test tasks)", *DIFF_LABELS],
                          [[label, *(studylib.cell(s, (r, e, n, metric), signed=True)
                                     for n in names)]
                           for r, e, label in eval_rows()])


def choice_text(chosen: dict, status: dict, key: tuple) -> str:
    """``alpha, beta`` with a mark per axis where the choice is not interior, e.g. (β S)."""
    alpha, beta = chosen[key]
    marks = [f"{symbol} {studylib.STATUS_MARK[status[key][axis]]}"
             for axis, symbol in (("alpha", "α"), ("beta", "β")) if status[key][axis] != "interior"]
    return f"{alpha:g}, {beta:g}" + (f" ({', '.join(marks)})" if marks else "")


def _grid_range(rows: list[dict], axis: str) -> str:
    values = sorted({r[axis] for r in rows})
    return f"{values[0]:g}–{values[-1]:g}"


def hyperparameter_lines(chosen: dict, status: dict, scored: list[dict],
                         budget: Budget) -> list[str]:
    """The chosen (alpha, beta) per regime and method, where each sits, and the grids tried."""
    lines = studylib.markdown_table(["Regime", *(m.label for m in METHODS.values())],
                           [[regime.label, *(choice_text(chosen, status, (regime.name, m))
                                             for m in METHODS)] for regime in REGIMES])
    for axis, symbol in (("alpha", "α"), ("beta", "β")):
        counts = {where: sum(v[axis] == where for v in status.values())
                  for where in studylib.STATUS_MARK}
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
        *studylib.markdown_table(["Regime", "Method", "alpha tried", "beta tried"], wider),
        "</details>", ""]
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


def _means(s: dict, key: tuple, *metrics: str, sep: str = " / ") -> str:
    """The means of ``metrics`` of one (regime, eval_set, method), 3 decimals, joined."""
    return sep.join(studylib.mean_cell(s, (*key, metric)) for metric in metrics)


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
                regime.label, METHODS[m].label, f"{beta:g}", studylib.cell(s, (*args, "w_sum")),
                f"{beta * w_sum:.3f}", _means(s, args, "w_abs_sum"),
                _means(s, args, "w_flagged_early", "w_other_early"),
                _means(s, args, "w_flagged", "w_other"),
                "n/a" if not math.isfinite(ratio) else f"{ratio:.2f}",
                _means(s, args, "negw_flagged", "negw_other"),
                _means(s, args, "cos_init", "cos_final", sep=" → "),
                _means(s, args, "diag_share"),
                studylib.mean_cell(s, (*args, "corr_w_sqnorm"), ".2f")])
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
    return [intro, "", *studylib.markdown_table(
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
        + studylib.COSINE_NOTE,
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
    s = studylib.index(summary_rows, SUMMARY_KEY)
    lines = [
        "# MAML vs gradient agreement (GA-MAML, GA-Reptile)", "",
        f"Generated by `benchmarks/ga_vs_maml.py` ({n_seeds} test seeds, {budget.meta_iterations} "
        "meta-iterations). Every cell: mean over seeds ± half-width of the 95 % t-interval. "
        "Differences are paired by seed (same initial theta, training batches and test tasks); "
        "**bold** when the interval excludes 0.", "",
        f"Reproduce: `{command}`", "",
        *design_lines(budget, n_seeds),
        "## Test accuracy after 1 adaptation step", "", *regime_table(s, "acc_1"),
        studylib.COSINE_NOTE, "",
        "## Paired differences: accuracy after 1 step", "",
        "Headroom: how much the corruption costs MAML (n/a for clean regimes). The other columns: "
        "first method minus second, per seed.", "",
        *regime_differences(s, "acc_1"),
        "## Chosen hyperparameters (alpha, beta)", "",
        *hyperparameter_lines(chosen, status, scored, budget),
        "## GA weights and the agreement of task updates", "", *weights_lines(s, chosen),
    ]
    for metric, title in (("acc_5", "Test accuracy after 5 adaptation steps"),
                          ("loss_1", "Test loss after 1 adaptation step (lower is better)"),
                          ("acc_0", "Test accuracy before adaptation (the meta-learned theta)")):
        lines += [f"## {title}", "", *regime_table(s, metric), *regime_differences(s, metric)]
    lines += diverged_lines(raw)
    return "\n".join(lines)


def _errorbars(ax, rows: list[dict], y: np.ndarray, spec: studylib.Method, label: str) -> None:
    """Means with 95 % error bars; first-order methods get hollow markers."""
    ax.errorbar([q["mean"] for q in rows], y, xerr=[np.nan_to_num(q["half_width"]) for q in rows],
                fmt=spec.style, color=spec.colour, ms=5, capsize=2, lw=1, label=label,
                mfc="white" if spec.first_order else spec.colour)


def figure(summary_rows, path: Path, n_seeds: int, meta_iterations: int) -> None:
    """Accuracy after 1 step per method (left), paired differences and headroom (right)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    s = studylib.index(summary_rows, SUMMARY_KEY)
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
                 f"per method and regime)\n{studylib.COSINE_NOTE}", fontsize=11)
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
    studylib.add_run_options(parser, DEFAULT_OUT)
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
    if args.seeds > studylib.VAL_SEED_OFFSET:
        parser.error(f"--seeds must be <= {studylib.VAL_SEED_OFFSET}")
    if args.meta_iterations is not None:
        if args.meta_iterations < 1:
            parser.error("--meta_iterations must be >= 1")
        command.append(f"--meta_iterations {args.meta_iterations}")
        budget = Budget(args.meta_iterations,
                        *(getattr(budget, f) for f in Budget.__dataclass_fields__
                                       if f != "meta_iterations"))
    studylib.check_run_options(parser, args, DEFAULT_OUT, "ga_vs_maml_")
    args.budget, args.command = budget, " ".join(command)
    return args


def print_headline(summary_rows: list[dict]) -> None:
    s = studylib.index(summary_rows, SUMMARY_KEY)
    print("\naccuracy after 1 step (mean ± 95% half-width); headroom and paired differences:")
    names = ["headroom", *(pair_name(a, b) for a, b in PAIRS)]
    for regime, set_name, label in eval_rows():
        cells = "  ".join(f"{m} {studylib.cell(s, (regime, set_name, m, 'acc_1'))}"
                          for m in METHODS)
        diffs = "  ".join(f"{n} {studylib.cell(s, (regime, set_name, n, 'acc_1'), True)}"
                          for n in names)
        print(f"  {label}: {cells}\n      {diffs}".replace("**", ""))


def main(argv: list[str] | None = None) -> dict:
    """Run the study; returns the output paths, the chosen hyperparameters and the summary."""
    args = parse_args(argv)
    budget, seeds, out = args.budget, list(range(args.seeds)), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    print(f"GA vs MAML: {len(REGIMES)} regimes x {len(METHODS)} methods, {len(seeds)} test "
          f"seeds, {budget.meta_iterations} meta-iterations per run, "
          f"{studylib.where(args.workers, args.dask_scheduler)}, "
          f"output {out}", flush=True)
    stored = studylib.job_cache(args.cache, "ga_vs_maml.py")
    with studylib.worker_pool(args.workers, dask_scheduler=args.dask_scheduler) as pool:
        print("1/2 tuning", flush=True)
        chosen, status, scored = tune(
            budget, lambda jobs: studylib.run_jobs(jobs, pool, "tuning", run_job, cache=stored))
        for regime in REGIMES:
            cells = "  ".join(f"{m}={choice_text(chosen, status, (regime.name, m))}"
                              for m in METHODS)
            print(f"  {regime.name:<12} {cells}", flush=True)
        print("2/2 evaluation", flush=True)
        jobs = evaluation_jobs(chosen, seeds, budget)
        raw = [row for rows in studylib.run_jobs(jobs, pool, "evaluation", run_job, cache=stored)
               for row in rows]
    summary = summarise(raw)

    paths = {"raw": out / "raw.csv", "summary": out / "summary.csv",
             "tuning": out / "tuning.csv", "markdown": out / "summary.md",
             "figure": out / "ga_vs_maml.png"}
    studylib.write_csv(paths["raw"], raw, digits=4)
    studylib.write_csv(paths["summary"], summary, digits=5)
    studylib.write_csv(paths["tuning"], scored, digits=4)
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
