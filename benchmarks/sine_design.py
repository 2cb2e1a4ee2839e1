"""The design of the sine study (``sine_study.py``): its budgets, methods and experiments.

What is run, apart from how it is run: the settings and the budget of the study, the methods
(labels, rules and colours from ``gh.VARIANTS``, line styles of the figure), the
experiments (``EXPERIMENTS``; what they are and why is in ``sine_study.py``'s docstring) and
their learning-rate grids. ``sine_study.py`` imports it from its own folder, like ``studylib``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import studylib

# ---------------------------------------------------------------------------------------------
# Settings: the budget (decided by the lead from the research runs) and the design
# ---------------------------------------------------------------------------------------------

OUTER_LR_BASE = 1e-3  # Adam's learning rate grid: OUTER_LR_BASE * log_grid(j), j = 0 is 1e-3
PLAIN_LR_BASE = 0.1  # the plain step's beta sweep: PLAIN_LR_BASE * log_grid(j), j = 0 is 0.1
INNER_LR_BASE = 0.01  # the inner learning rate grid: INNER_LR_BASE * log_grid(j)
CORRUPT_FRAC = 0.3
# The corruption of "corrupted", and why (CORRUPTION_NOTE goes into summary.md). Measured in a
# pilot (4 seeds, 1000 meta-iterations, beta 3e-3, not tuned; PyTorch-style init): headroom
# after 5 steps with "outlier" +0.23 +- 0.14 (Reptile), +1.54 +- 0.63 (MAML), and the paper's
# weights gave outlier tasks 5.2x a clean task's weight; with "random" -0.01 +- 0.15 (Reptile),
# +0.16 +- 0.12 (MAML), noise tasks getting 0.54x.
CORRUPTION = "outlier"
CORRUPTION_NOTE = (
    "Why outliers: a corrupted task's amplitude is tripled, so its targets, and so its "
    "inner-loop update, are about 3 times larger than a clean task's. With uniform weights the "
    "corrupted 30 % dominate the batch's summed update and pull the initialisation towards "
    "large-amplitude waves (the headroom measures what that costs), and the paper's weights, "
    "w_i ∝ g_i · Σ_j g_j, grow with the length of a task's update, so they favour exactly these "
    "tasks. Random labels (noise independent of x) have updates of ordinary length in random "
    "directions, which largely cancel in the sum; in a pilot run (see CORRUPTION in the "
    "script) they cost Reptile nothing measurable. Flipped labels are no corruption at all "
    "with phases uniform on [0, 2π]: −A sin(x − φ) = A sin(x − (φ − π)), a wave of the same "
    "family.")
MAX_STEPS = 10  # test-time adaptation steps 0..MAX_STEPS
# An MSE above this counts as diverged (NaN): predicting 0 gives about 4.2 on these waves, so
# anything this large means the adaptation blew up (means of 1e100s would swamp the statistics).
DIVERGED_MSE = 1e6
HEADLINE_STEPS = (0, 1, 5, 10)
PAPER_NUMBERS = (("reptile", 0.13), ("ga-reptile", 0.08))  # GA paper, sine, MSE (5 steps)


@dataclass(frozen=True)
class Budget:
    """Everything that sets the cost of the study (the design is ``EXPERIMENTS``)."""

    seeds: int  # test seeds 0..seeds-1, shared by every experiment and method (pairs)
    finn_iterations: int  # meta-iterations of "finn"
    finn_tasks: int  # its meta-batch size (Finn et al.: 25)
    paper_iterations: int  # meta-iterations of "ga-paper" and "corrupted" (equal: headroom)
    paper_tasks: int  # their meta-batch size
    long_iterations: int  # meta-iterations of the long runs ("ga-paper-long", "plain-step-long")
    long_tasks: int  # their meta-batch size
    outer_lr_exponents: tuple[int, ...]  # starting grid of Adam's lr: OUTER_LR_BASE*log_grid(j)
    inner_lr_exponents: tuple[int, ...]  # starting grid of the inner lr (one value: not tuned)
    plain_lr_exponents: tuple[int, ...]  # the plain step's beta sweep: plain_lr(j)
    max_extensions: int  # rounds of edge extension (tuning grid and beta sweep)
    refine_rounds: int  # bisections of an inner lr that is the largest stable grid value
    val_seeds: int  # validation runs train with seeds VAL_SEED_OFFSET + 0, 1, ...
    val_tasks: int  # validation tasks per validation seed
    eval_tasks: int  # fresh test tasks per test seed
    eval_query: int  # query points per validation and test task
    param_seeds: int  # parameters saved for seeds 0..param_seeds-1
    ratio_every: int  # GA runs: the step-length ratio is measured every ratio_every iterations


# Cost model (CPU milliseconds per meta-iteration, measured in the study's own runs on this
# 2-core VM with MALLOC_TOP_PAD_): "finn" (T = 25, one step, 40-40) joint 1.4, MAML 1.7,
# FO-MAML 1.0, Reptile 0.7; "ga-paper" and "corrupted" (T = 5, five steps, 64-64 tanh)
# Reptile 2.0, GA-Reptile 2.0-2.6, MAML 4.8, GA-MAML 5.2; evaluation 1 s ("finn") and 3 s
# (the others) per run (1000 tasks x 11 step counts x 50 query points). Tuning ("ga-paper"
# only, one validation seed, a 2 x 2 grid plus one round of edge extension) ran 36 runs.
# With finn_iterations 3000 and paper_iterations 4000 the whole study took 908 s of wall time
# (1721 s CPU), a little over the 15-minute limit; the values below cut both by about 15 %.
# What the budget costs in quality (Finn et al. train 70 000 meta-iterations, the research
# runs for this study 8000-10 000) is discussed in notebook 06.
FULL = Budget(seeds=10, finn_iterations=2500, finn_tasks=25, paper_iterations=3500,
              paper_tasks=5, long_iterations=20000, long_tasks=5, outer_lr_exponents=(0, 1),
              inner_lr_exponents=(0, 1), plain_lr_exponents=(-2, -1, 0, 1, 2, 3),
              max_extensions=1, refine_rounds=2, val_seeds=2, val_tasks=200, eval_tasks=1000,
              eval_query=50, param_seeds=1, ratio_every=25)
QUICK = Budget(seeds=2, finn_iterations=20, finn_tasks=5, paper_iterations=20, paper_tasks=5,
               long_iterations=40, long_tasks=5, outer_lr_exponents=(0, 1),
               inner_lr_exponents=(0,), plain_lr_exponents=(-1, 0, 1), max_extensions=1,
               refine_rounds=1, val_seeds=2, val_tasks=20, eval_tasks=40, eval_query=20,
               param_seeds=1, ratio_every=5)


# Label, rule and colour come from the course's one table (gh.VARIANTS); the line style is
# this figure's own.
LINESTYLES = {"joint": "-", "maml": "-", "fomaml": "-", "ga": "-", "foga": "--", "reptile": "-",
              "ga-reptile": "-", "ga-reptile-cosine": "-."}
METHODS = studylib.methods(LINESTYLES)


@dataclass(frozen=True)
class Experiment:
    """One experiment: a task family, a network, a training protocol and its methods."""

    name: str
    title: str
    methods: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]  # paired differences, first minus second
    hidden: tuple[int, ...]
    phase: tuple[float, float]
    inner_steps: int  # inner steps in training
    protocol_steps: int  # test-time steps of validation and of the headline
    size: str  # "finn", "paper" or "long": which Budget fields set meta-iterations and batch
    # "fixed" (alpha, beta below), "grid" (alpha and Adam's beta), "sweep" (the plain step's
    # beta swept, every value run on the test seeds too; alpha from ``alpha_from``), or an
    # experiment's name (its choices)
    tuning: str
    outer: str = "adam"  # the outer step: "adam" or "sgd" (the paper's plain step)
    alpha_from: str | None = None  # "sweep": the experiment whose tuned inner lr it takes
    alpha: float = 0.01  # inner lr when fixed
    beta: float = 1e-3  # Adam's lr when fixed
    amplitude: tuple[float, float] = (0.1, 5.0)
    x_range: tuple[float, float] = (-5.0, 5.0)
    k_shot: int = 10  # support (and, in training, query) points per task
    activation: str = "relu"
    corrupt_frac: float = 0.0
    corruption: str = "flip"
    clean_reference: str | None = None  # the experiment trained on clean tasks (headroom)
    paper: tuple[tuple[str, float], ...] = ()  # the paper's MSE per method

    def iterations(self, budget: Budget) -> int:
        return getattr(budget, f"{self.size}_iterations")

    def n_tasks(self, budget: Budget) -> int:
        return getattr(budget, f"{self.size}_tasks")

    @property
    def sizes(self) -> tuple[int, ...]:
        return (1, *self.hidden, 1)


REPTILE_PAIR = ("reptile", "ga-reptile")  # the paper's sine comparison, in every new experiment
EXPERIMENTS = (
    Experiment("finn", "Finn et al.'s setup", ("joint", "maml", "fomaml", "reptile"),
               (("fomaml", "maml"), ("reptile", "maml"), ("joint", "maml")), hidden=(40, 40),
               phase=(0.0, math.pi), inner_steps=1, protocol_steps=1, size="finn",
               tuning="fixed"),
    Experiment("ga-paper", "The GA paper's protocol",
               ("reptile", "ga-reptile", "maml", "ga"),
               (("ga-reptile", "reptile"), ("ga", "maml")), hidden=(64, 64),
               phase=(0.0, 2 * math.pi), inner_steps=5, protocol_steps=5, size="paper",
               tuning="grid", activation="tanh", paper=PAPER_NUMBERS),
    Experiment("corrupted", f"{CORRUPT_FRAC:.0%} {CORRUPTION} tasks per meta-batch",
               ("reptile", "ga-reptile", "ga-reptile-cosine"),
               (("ga-reptile", "reptile"), ("ga-reptile-cosine", "reptile")),
               hidden=(64, 64), phase=(0.0, 2 * math.pi), inner_steps=5, protocol_steps=5,
               size="paper", tuning="ga-paper", activation="tanh", corrupt_frac=CORRUPT_FRAC,
               corruption=CORRUPTION, clean_reference="ga-paper"),
    Experiment("plain-step", "The paper's plain outer step, β swept", REPTILE_PAIR,
               (("ga-reptile", "reptile"),), hidden=(64, 64), phase=(0.0, 2 * math.pi),
               inner_steps=5, protocol_steps=5, size="paper", tuning="sweep", outer="sgd",
               alpha_from="ga-paper", activation="tanh", paper=PAPER_NUMBERS),
    Experiment("ga-paper-long", "The GA paper's protocol, long budget (Adam)", REPTILE_PAIR,
               (("ga-reptile", "reptile"),), hidden=(64, 64), phase=(0.0, 2 * math.pi),
               inner_steps=5, protocol_steps=5, size="long", tuning="ga-paper",
               activation="tanh", paper=PAPER_NUMBERS),
    Experiment("plain-step-long", "The paper's plain step, long budget, each method's best β",
               REPTILE_PAIR, (("ga-reptile", "reptile"),), hidden=(64, 64),
               phase=(0.0, 2 * math.pi), inner_steps=5, protocol_steps=5, size="long",
               tuning="plain-step", outer="sgd", activation="tanh", paper=PAPER_NUMBERS),
)
# The rows of the summary's "budget and outer step" table: (outer step, short run, long run).
BUDGET_PAIRS = (("Adam", "ga-paper", "ga-paper-long"),
                ("plain step, each method's best β", "plain-step", "plain-step-long"))


def check_design(experiments: tuple[Experiment, ...]) -> None:
    """Reject designs the study cannot run: unknown methods, pairs or references."""
    names = {e.name for e in experiments}
    for e in experiments:
        unknown = [m for m in e.methods if m not in METHODS]
        missing = [m for pair in e.pairs for m in pair if m not in e.methods]
        if unknown or missing or len(set(e.methods)) != len(e.methods):
            raise ValueError(f"experiment {e.name}: unknown methods {unknown}, pair methods not "
                             f"run {missing}, or a method listed twice")
        if e.tuning not in ("fixed", "grid", "sweep") and e.tuning not in names:
            raise ValueError(f"experiment {e.name}: tuning must be 'fixed', 'grid', 'sweep' or "
                             f"an experiment's name, got {e.tuning!r}")
        if (e.tuning == "sweep") != (e.alpha_from is not None) or (
                e.alpha_from is not None and e.alpha_from not in names):
            raise ValueError(f"experiment {e.name}: a 'sweep' needs alpha_from, an experiment "
                             "of the study, and only a sweep has one")
        if e.tuning == "sweep" and e.outer != "sgd":
            raise ValueError(f"experiment {e.name}: only the plain step (outer 'sgd') is swept")
        if e.outer not in ("adam", "sgd"):
            raise ValueError(f"experiment {e.name}: outer must be 'adam' or 'sgd'")
        if e.clean_reference is not None and e.clean_reference not in names:
            raise ValueError(f"experiment {e.name}: unknown clean_reference")
        if not 0 <= e.protocol_steps <= MAX_STEPS:
            raise ValueError(f"experiment {e.name}: protocol_steps must be in 0..{MAX_STEPS}")


def inner_lr(j: int) -> float:
    """Grid point j of the inner learning rate: 0.01 * (..., 0.3, 1, 3, ...), j = 0 is 0.01."""
    return float(f"{INNER_LR_BASE * studylib.log_grid(j):.6g}")


def plain_lr(k: int) -> float:
    """Point k of the plain step's beta sweep: 0.1 * (..., 0.3, 1, 3, ...), k = 0 is 0.1."""
    return float(f"{PLAIN_LR_BASE * studylib.log_grid(k):.6g}")


def outer_lr(k: int) -> float:
    """Grid point k of Adam's learning rate: 1e-3 * (..., 0.3, 1, 3, ...), k = 0 is 1e-3."""
    return float(f"{OUTER_LR_BASE * studylib.log_grid(k):.6g}")
