"""What defines a run: a task family's settings and the training's, one config per family.

Not part of the lesson (``gamaml_helpers`` uses these as plain records). Each class validates
itself on construction and raises ``ValueError`` naming the field. A field that means nothing
for a family does not exist on its config: a sine run has no ``n_features`` or
``minority_frac``, a linear run no ``amplitude`` or ``hidden``. Defaults are the family's own:
the linear family's are notebook 03's, the sine family's Finn et al.'s (2017).

* ``LinearTasks``, ``SineTasks``: a task family (what ``sample_tasks`` and ``sample_sine_tasks``
  draw from).
* ``MetaConfig``: the training settings every run has (method, learning rates, iterations,
  evaluation, seed); not made directly.
* ``LinearConfig``, ``SineConfig``: a whole run, training settings plus a family's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gamaml import checks as C
from gamaml import variants as V
from gamaml.checks import checked

__all__ = ["LinearTasks", "SineTasks", "MetaConfig", "LinearConfig", "SineConfig", "make_model"]


@dataclass
class _Tasks:
    """What every task family has: meta-batch size, shots, corruption."""

    n_tasks: int = 10  # T, tasks per meta-batch
    k_shot: int = 10  # support points per task
    k_query: int = 10  # query points per task
    corrupt_frac: float = 0.0  # share of corrupted tasks per batch
    corruption: str = "flip"  # "flip", "random" or "outlier"

    def _check_tasks(self) -> None:
        for name in ("n_tasks", "k_shot", "k_query"):
            C.integer(name, getattr(self, name))
        C.fraction("corrupt_frac", self.corrupt_frac)
        C.choice("corruption", self.corruption, V.CORRUPTIONS)


@dataclass
class LinearTasks(_Tasks):
    """The sigmoid unit's family (notebook 01): boundaries around a shared direction."""

    n_features: int = 50  # d
    spread: float = 1.0  # how far each task's boundary strays from the shared direction
    minority_frac: float = 0.0  # share of tasks per batch drawn around a second direction
    minority_angle: float = 120.0  # degrees between the majority and minority directions

    family = "linear"

    def __post_init__(self) -> None:
        self._check_linear()

    def _check_linear(self) -> None:
        self._check_tasks()
        C.integer("n_features", self.n_features)
        if self.corruption == "outlier" and self.n_features < 2:
            raise ValueError("corruption='outlier' needs n_features >= 2 (a direction at 90 "
                             "degrees to the shared one)")
        C.nonnegative("spread", self.spread)
        C.fraction("minority_frac", self.minority_frac)
        C.angle("minority_angle", self.minority_angle)
        if self.minority_frac > 0 and self.n_features == 1 \
                and self.minority_angle not in (0, 180):
            raise ValueError("minority_angle: angle must be 0 or 180 when n_features is 1")


@dataclass
class SineTasks(_Tasks):
    """Finn et al.'s sine waves (notebook 06), ``y = A sin(x - phi)``."""

    amplitude: tuple = (0.1, 5.0)  # range of A
    phase: tuple = (0.0, math.pi)  # range of phi
    x_range: tuple = (-5.0, 5.0)  # range of the inputs

    family = "sine"

    def __post_init__(self) -> None:
        self._check_sine()

    def _check_sine(self) -> None:
        self._check_tasks()
        for name in ("amplitude", "phase", "x_range"):
            C.value_range(name, getattr(self, name))
        if self.amplitude[0] < 0:
            raise ValueError(f"amplitude must be >= 0, got {self.amplitude!r}")


@dataclass
class MetaConfig:
    """The training settings of a run (notebook 03, section 5); ``seed`` makes it reproducible.

    Not made directly: ``LinearConfig`` and ``SineConfig`` add a task family's settings.
    """

    method: str = "ga"  # "maml", "ga", "reptile", "ga-reptile" or "joint"
    alpha: float = 1.0  # inner (task) learning rate
    beta: float = 1.0  # outer (meta) learning rate
    meta_iterations: int = 1000  # meta-updates, one fresh batch of tasks each
    inner_steps: int = 1
    first_order: bool = False
    normalization: str = "paper"  # GA weights: "paper", "book" or "cosine"
    outer: str = "sgd"  # the outer update: "sgd" (theta - beta * step) or "adam"
    seed: int = 0
    eval_every: int = 100  # held-out evaluation interval, in meta-iterations
    eval_tasks: int = 100  # fixed held-out tasks (clean, fresh)
    eval_query: int | None = None  # query points per held-out task (None: k_query)

    def __post_init__(self) -> None:
        raise ValueError("make a LinearConfig or a SineConfig (a MetaConfig has no task family)")

    def _check_training(self) -> None:
        C.choice("method", self.method, V.METHODS)
        C.choice("outer", self.outer, V.OUTER_RULES)
        C.choice("normalization", self.normalization, V.NORMALIZATIONS)
        for name in ("alpha", "beta"):
            C.positive(name, getattr(self, name))
        for name in ("meta_iterations", "inner_steps", "eval_every", "eval_tasks"):
            C.integer(name, getattr(self, name))
        if self.eval_query is not None:
            C.integer("eval_query", self.eval_query)
        C.integer("seed", self.seed, minimum=0)
        C.boolean("first_order", self.first_order)


@dataclass
class LinearConfig(MetaConfig, LinearTasks):
    """A run on the linear family with the sigmoid unit (notebooks 03-05, 07)."""

    def __post_init__(self) -> None:
        self._check_training()
        self._check_linear()


@dataclass
class SineConfig(MetaConfig, SineTasks):
    """A run on sine waves with an MLP (notebook 06); defaults: Finn et al.'s regression setup
    (MAML, ReLU 40-40, one inner step at 0.01, Adam at 1e-3, 25 tasks of K = 10 points)."""

    method: str = "maml"
    alpha: float = 0.01
    beta: float = 1e-3
    outer: str = "adam"
    n_tasks: int = 25
    hidden: tuple = (40, 40)  # hidden layer sizes of the MLP
    activation: str = "relu"  # "relu" or "tanh"

    def __post_init__(self) -> None:
        self._check_training()
        self._check_sine()
        C.choice("activation", self.activation, V.ACTIVATIONS)
        if not isinstance(self.hidden, tuple) or not self.hidden \
                or not all(C.is_int(h) and h >= 1 for h in self.hidden):
            raise ValueError(f"hidden must be a non-empty tuple of positive integers, got "
                             f"{self.hidden!r}")


@checked
def make_model(config: MetaConfig):
    """The model of a run: the sigmoid unit (linear family) or the MLP (sine family)."""
    import gamaml_helpers as gh

    if isinstance(config, SineConfig):
        return gh.MLP(sizes=(1, *config.hidden, 1), activation=config.activation)
    return gh.LogisticUnit(config.n_features)
