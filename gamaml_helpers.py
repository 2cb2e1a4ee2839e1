"""Gradient-Agreement MAML from scratch, in numpy: the course's reference implementation.

This module is the course's appendix. It reads top to bottom in the order the course
teaches, and every public function names the notebook section that builds it in the open:

1. Data (notebook 01): the book's sampler, a task family with structure, corrupted tasks;
   and sine-wave regression tasks (Finn et al.'s family).
2. Model (notebook 02): one sigmoid unit, binary cross-entropy, its gradient and Hessian, and
   ``LogisticUnit``, the model object the meta-learning code works with; ``MLP``, a small
   network with hand-written backpropagation and Hessian-vector products, the second model.
3. Meta-learning (notebooks 03 to 06): the inner loop, the exact MAML meta-gradient through
   every inner step, gradient-agreement weights, the MAML / GA / Reptile outer rules, training.
4. Plots (notebooks 03-07): every function draws on a given Axes, from a ``History``.

Appendix A holds the input checks, appendix B the notebooks' exercise checker. The widgets
live next door in ``gamaml_widgets`` (which imports this module, never the reverse).

Shapes used throughout (batched code puts the task axis first):

* ``d`` features, ``T`` tasks, ``k`` support shots, ``q`` query shots, ``P`` parameters.
* One task: ``theta (P,)``, ``x (k, d)``, ``y (k,)``.
* A batch of tasks: ``theta (P,)`` (shared) or ``(T, P)`` (one per task), ``x (T, k, d)``,
  ``y (T, k)``. Model functions return one result per task.

Public functions validate their input and raise ``ValueError`` naming the argument. The
private ``_`` functions they call skip validation; ``meta_train`` uses those in its loop.
Randomness comes only from a passed ``numpy.random.Generator`` or seed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Variant:
    """A method variant: the outer rule it runs and how the course draws and names it."""

    rule: str  # the outer rule (MetaConfig.method): "maml", "ga", "reptile", "ga-reptile", "joint"
    label: str
    color: str  # Okabe-Ito: distinguishable with the common forms of colour blindness
    first_order: bool = False  # for "maml" and "ga" (Reptile is first order by construction)
    normalization: str = "paper"  # GA weights, for "ga" and "ga-reptile" (notebook 04)


# The course's one table of method variants, used by the helper, the widgets, both studies and
# the notebooks. One encoding: a colour is a method, always the same one (a first-order or
# cosine variant of GA shares its family's colour only where noted: FO-GA-MAML is GA-MAML's
# vermillion, drawn hollow or dashed). Clean and corrupted tasks are told apart by marker and
# line style in the method's colour, never by a second palette; everything else (support /
# query, parameter sweeps, single tasks) uses black, greys or a sequential colour map.
VARIANTS = {
    "maml": Variant("maml", "MAML", "#0072B2"),  # blue
    "fomaml": Variant("maml", "FO-MAML", "#56B4E9", first_order=True),  # sky blue
    "ga": Variant("ga", "GA-MAML", "#D55E00"),  # vermillion
    "foga": Variant("ga", "FO-GA-MAML", "#D55E00", first_order=True),  # vermillion, hollow
    "ga-book": Variant("ga", "GA book", "#F0E442", normalization="book"),  # yellow
    "ga-cosine": Variant("ga", "GA cosine*", "#E69F00", normalization="cosine"),  # orange
    "reptile": Variant("reptile", "Reptile", "#CC79A7"),  # reddish purple
    "ga-reptile": Variant("ga-reptile", "GA-Reptile", "#000000"),  # black
    "ga-reptile-cosine": Variant("ga-reptile", "GA-Reptile cosine*", "#E69F00",
                                 normalization="cosine"),  # orange, like GA cosine
    "joint": Variant("joint", "joint", "#009E73"),  # bluish green
}
COLORS = {name: v.color for name, v in VARIANTS.items()}
COLORS["random"] = "#999999"  # grey: the random initialisation, a baseline, not a method
METHOD_LABELS = {name: v.label for name, v in VARIANTS.items()}
TASK_STYLES = {"clean": {"marker": "o", "linestyle": "-"},
               "corrupted": {"marker": "x", "linestyle": "--"}}

METHODS = ("maml", "ga", "reptile", "ga-reptile", "joint")
REPTILE_METHODS = ("reptile", "ga-reptile")
NORMALIZATIONS = ("paper", "book", "cosine")
CORRUPTIONS = ("flip", "random", "outlier")
FAMILIES = ("linear", "sine")  # the sigmoid unit's classification tasks; sine-wave regression
ACTIVATIONS = ("relu", "tanh")
OUTER_RULES = ("sgd", "adam")
OUTLIER_ANGLE = 90.0  # degrees between an outlier task's direction and the shared one
OUTLIER_SCALE = 3.0  # an outlier task's features are this many times larger


# ---------------------------------------------------------------------------------------------
# 1. Data: the book's sampler (nothing to learn) and a task family with structure (notebook 01)
# ---------------------------------------------------------------------------------------------


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Return a ``numpy.random.Generator`` from a Generator, an int seed or None (fresh)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise ValueError(f"rng must be a numpy.random.Generator, an int seed or None, got {rng!r}")


@dataclass(frozen=True)
class SeedStreams:
    """The named, independent random streams of one seed (``seed_streams``)."""

    init: np.random.Generator  # the starting theta
    train: np.random.Generator  # the training meta-batches
    eval: np.random.Generator  # the fixed held-out tasks


def seed_streams(seed: int) -> SeedStreams:
    """One seed's independent random streams, by name: ``init``, ``train`` and ``eval``.

    Each run of ``meta_train`` draws its starting point, its training batches and its held-out
    tasks from these three streams, so that changing one (say, more held-out tasks) leaves the
    others as they were.
    """
    seed = _check_int("seed", seed, minimum=0)
    init, train, evaluation = (np.random.default_rng(s)
                               for s in np.random.SeedSequence(seed).spawn(3))
    return SeedStreams(init=init, train=train, eval=evaluation)


def sample_points(k: int, n_features: int = 50, *, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """The book's sampler (notebook 01, section 1): uniform features, coin-flip labels.

    Kept as the counter-example: no parameter can do better than ln 2 on fresh data.

    Returns
    -------
    x : (k, d) features uniform in [0, 1).
    y : (k,) labels in {0, 1}, each 0 or 1 with probability 1/2.
    """
    k = _check_int("k", k)
    n_features = _check_int("n_features", n_features)
    rng = as_generator(rng)
    x = rng.random((k, n_features))
    y = rng.integers(0, 2, size=k).astype(float)
    return x, y


def default_direction(n_features: int) -> np.ndarray:
    """The family's shared direction (notebook 01, section 7): ``linspace(-1, 1, d)``, unit.

    Its entries sum to 0 (d > 1), so it is orthogonal to ``(1, ..., 1)``: moving every
    parameter by the same amount (the book's scalar bug) cannot find it.
    """
    n_features = _check_int("n_features", n_features)
    if n_features == 1:
        return np.ones(1)
    u = np.linspace(-1.0, 1.0, n_features)
    return u / np.linalg.norm(u)


@dataclass(slots=True)
class TaskBatch:
    """A batch of ``T`` binary classification tasks (notebook 01, section 6).

    Attributes
    ----------
    x_support : (T, k, d)    y_support : (T, k)
    x_query : (T, q, d)      y_query : (T, q)
    corrupted : (T,) bool, True where the task was corrupted (its labels, or an outlier).
    true_theta : (T, d) each task's true weight vector (its boundary is ``x @ w = 0``).
    minority : (T,) bool, True where the task was drawn around the minority direction.
    """

    x_support: np.ndarray
    y_support: np.ndarray
    x_query: np.ndarray
    y_query: np.ndarray
    corrupted: np.ndarray
    true_theta: np.ndarray
    minority: np.ndarray

    @property
    def n_tasks(self) -> int:
        return self.x_support.shape[0]

    def __getitem__(self, index) -> TaskBatch:
        """Select tasks, e.g. ``batch[:3]`` or ``batch[batch.corrupted]``."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        return TaskBatch(*(getattr(self, f)[index] for f in self.__dataclass_fields__))

    @staticmethod
    def concatenate(batches: list[TaskBatch]) -> TaskBatch:
        """Join batches with equal shots and features along the task axis."""
        batches = list(batches) if isinstance(batches, (list, tuple)) else []
        if not batches or not all(isinstance(b, TaskBatch) for b in batches):
            raise ValueError("batches must be a non-empty list of TaskBatch")
        shapes = {(b.x_support.shape[1:], b.x_query.shape[1:]) for b in batches}
        if len(shapes) > 1:
            raise ValueError(f"batches must have equal shots and features, got {sorted(shapes)}")
        return TaskBatch(*(np.concatenate([getattr(b, f) for b in batches])
                           for f in TaskBatch.__dataclass_fields__))


def minority_direction(n_features: int, angle: float) -> np.ndarray:
    """A unit vector at ``angle`` degrees from ``default_direction(d)``, shape (d,) (notebook 05).

    It turns the shared direction towards the first axis (for d = 1, angle must be 0 or 180).
    """
    n_features = _check_int("n_features", n_features)
    if not _is_real(angle) or not 0 <= angle <= 180:
        raise ValueError(f"angle must be a number of degrees in [0, 180], got {angle!r}")
    u = default_direction(n_features)
    v = np.zeros(n_features)
    v[0] = 1.0
    v -= (v @ u) * u
    norm = np.linalg.norm(v)
    if norm < 1e-12:
        if angle not in (0, 180):
            raise ValueError("angle must be 0 or 180 when n_features is 1")
        return u if angle == 0 else -u
    rad = math.radians(angle)
    return math.cos(rad) * u + math.sin(rad) * v / norm


def _outlier_direction(d: int, direction: np.ndarray) -> np.ndarray:
    """A unit vector at ``OUTLIER_ANGLE`` degrees from ``direction`` (d >= 2), shape (d,)."""
    v = np.zeros(d)
    v[np.argmin(np.abs(direction))] = 1.0  # the axis least aligned with the shared direction
    v -= (v @ direction) * direction
    v /= np.linalg.norm(v)
    rad = math.radians(OUTLIER_ANGLE)
    return math.cos(rad) * direction + math.sin(rad) * v


def _random_subset(rng, shape, size):
    """Boolean mask of ``shape`` with exactly ``size`` True per row, at random positions."""
    if size == 0:
        return np.zeros(shape, bool)
    return rng.random(shape).argsort(axis=-1).argsort(axis=-1) < size


def _draw_tasks(rng, n_batches: int, family: MetaConfig, direction: np.ndarray) -> TaskBatch:
    """Draw ``n_batches`` meta-batches of ``family.n_tasks`` tasks with one call per array.

    Returns them stacked: one TaskBatch whose arrays have a leading (n_batches, T) shape
    (``_unstack`` splits it into n_batches batches of T tasks).

    ``family`` supplies the task family's settings (``n_tasks``, ``k_shot``, ``k_query``,
    ``n_features``, ``spread``, ``corrupt_frac``, ``corruption``, ``minority_frac``,
    ``minority_angle``); ``direction`` is the shared unit direction (d,). Drawing many batches
    at once keeps random numbers cheap; ``meta_train`` calls it in chunks. Unvalidated.
    """
    f, d = family, family.n_features
    shape = (n_batches, f.n_tasks)
    n_minority = round(f.minority_frac * f.n_tasks)
    n_corrupt = round(f.corrupt_frac * f.n_tasks)
    minority = _random_subset(rng, shape, n_minority)
    centre = direction
    if n_minority:
        centre = np.where(minority[..., None], minority_direction(d, f.minority_angle), centre)
    outliers = n_corrupt > 0 and f.corruption == "outlier"
    if outliers:  # drawn first: the outlier mask shapes the boundaries and the features
        corrupted = _random_subset(rng, shape, n_corrupt)
        centre = np.where(corrupted[..., None], _outlier_direction(d, direction), centre)
    w = centre + (f.spread / math.sqrt(d)) * rng.standard_normal((*shape, d))
    x = rng.random((*shape, f.k_shot + f.k_query, d))  # uniform in [-1, 1): cheap to draw
    x *= 2.0
    x -= 1.0
    if outliers:
        x = np.where(corrupted[..., None, None], OUTLIER_SCALE * x, x)
    y = (np.matmul(x, w[..., None])[..., 0] > 0).astype(float)
    if not outliers:
        corrupted = _random_subset(rng, shape, n_corrupt)
    if n_corrupt and f.corruption == "flip":
        y = np.where(corrupted[..., None], 1.0 - y, y)
    elif n_corrupt and f.corruption == "random":
        y = np.where(corrupted[..., None], rng.integers(0, 2, size=y.shape).astype(float), y)
    k = f.k_shot
    return TaskBatch(x[..., :k, :], y[..., :k], x[..., k:, :], y[..., k:], corrupted, w, minority)


def _unstack(stack: TaskBatch) -> list[TaskBatch]:
    """Split a stack of meta-batches (arrays with a leading (n_batches, T) shape) into batches."""
    s = stack
    return [TaskBatch(s.x_support[b], s.y_support[b], s.x_query[b], s.y_query[b],
                      s.corrupted[b], s.true_theta[b], s.minority[b])
            for b in range(len(s.corrupted))]


def sample_tasks(
    n_tasks: int,
    k_shot: int,
    *,
    k_query: int | None = None,
    n_features: int = 50,
    spread: float = 1.0,
    corrupt_frac: float = 0.0,
    corruption: str = "flip",
    direction: np.ndarray | None = None,
    rng=None,
) -> TaskBatch:
    """Sample a batch of related tasks that have something to learn (notebook 01, 3-8).

    Task ``i`` has a true weight vector ``w_i = u + spread * z_i / sqrt(d)`` with ``u`` the
    shared unit ``direction`` and ``z_i ~ N(0, I)``: the tasks agree on ``u`` and differ by
    about ``spread`` in norm. Features are centred, uniform in [-1, 1], and labels come
    from the task's own boundary, ``y = 1[x @ w_i > 0]``.

    ``round(corrupt_frac * n_tasks)`` tasks, at random positions, are corrupted:
    ``"flip"`` inverts their labels, ``"random"`` replaces them with coin flips (the book),
    ``"outlier"`` draws their boundary around a direction at ``OUTLIER_ANGLE`` (90) degrees
    to the shared one and scales their features by ``OUTLIER_SCALE`` (3): consistent labels,
    but a different task whose large gradients pull the mean update off course (d >= 2).

    Parameters
    ----------
    n_tasks, k_shot : T tasks with k support points each.
    k_query : q query points per task (default: ``k_shot``).
    n_features : d (2 works, for plots).
    spread : how far tasks stray from the shared direction (>= 0).
    corrupt_frac : fraction of corrupted tasks, in [0, 1].
    corruption : ``"flip"``, ``"random"`` or ``"outlier"``.
    direction : (d,) shared direction (normalised here); default ``default_direction(d)``.
    rng : Generator or int seed.
    """
    # A MetaConfig holds (and validates, naming each argument) the family's settings.
    family = MetaConfig(n_tasks=n_tasks, k_shot=k_shot,
                        k_query=k_shot if k_query is None else k_query, n_features=n_features,
                        spread=spread, corrupt_frac=corrupt_frac, corruption=corruption)
    u = _unit_direction(direction, family.n_features)
    return _unstack(_draw_tasks(as_generator(rng), 1, family, u))[0]


def _draw_sine_tasks(rng, n_batches: int, family: MetaConfig) -> TaskBatch:
    """Draw ``n_batches`` meta-batches of sine-wave tasks, stacked like ``_draw_tasks``.

    Task ``i`` is ``y = A_i sin(x - phi_i)`` with ``A_i`` uniform in ``family.amplitude``,
    ``phi_i`` uniform in ``family.phase`` and x uniform in ``family.x_range``; ``true_theta``
    holds ``(A_i, phi_i)``. Corrupted tasks: ``"flip"`` negates y (the wave shifted by pi),
    ``"random"`` replaces y by noise of the family's scale, independent of x, and
    ``"outlier"`` multiplies the amplitude by ``OUTLIER_SCALE`` (3). Unvalidated.
    """
    f = family
    shape = (n_batches, f.n_tasks)
    n_corrupt = round(f.corrupt_frac * f.n_tasks)
    corrupted = _random_subset(rng, shape, n_corrupt)
    amplitude = rng.uniform(*f.amplitude, size=shape)
    phase = rng.uniform(*f.phase, size=shape)
    x = rng.uniform(*f.x_range, size=(*shape, f.k_shot + f.k_query))
    if n_corrupt and f.corruption == "outlier":
        amplitude = np.where(corrupted, OUTLIER_SCALE * amplitude, amplitude)
    y = amplitude[..., None] * np.sin(x - phase[..., None])
    if n_corrupt and f.corruption == "flip":
        y = np.where(corrupted[..., None], -y, y)
    elif n_corrupt and f.corruption == "random":
        scale = np.mean(f.amplitude) / math.sqrt(2)  # the typical size of a clean wave's y
        y = np.where(corrupted[..., None], scale * rng.standard_normal(y.shape), y)
    k = f.k_shot
    x = x[..., None]  # one input feature
    return TaskBatch(x[..., :k, :], y[..., :k], x[..., k:, :], y[..., k:], corrupted,
                     np.stack([amplitude, phase], axis=-1), np.zeros(shape, bool))


def sample_sine_tasks(n_tasks: int, k_shot: int, *, k_query: int | None = None,
                      amplitude: tuple[float, float] = (0.1, 5.0),
                      phase: tuple[float, float] = (0.0, math.pi),
                      x_range: tuple[float, float] = (-5.0, 5.0), corrupt_frac: float = 0.0,
                      corruption: str = "flip", rng=None) -> TaskBatch:
    """Sample sine-wave regression tasks, ``y = A sin(x - phi)`` (notebook 06).

    Finn et al.'s family: amplitude ``A`` uniform in ``amplitude``, phase uniform in
    ``phase``, inputs uniform in ``x_range``. Returns a TaskBatch with ``x (T, k, 1)``,
    ``y (T, k)`` and ``true_theta (T, 2)`` holding each task's ``(A, phi)``. Corrupted tasks
    (``round(corrupt_frac * T)`` of them): ``"flip"`` negates y, ``"random"`` replaces y by
    noise independent of x, ``"outlier"`` triples the amplitude.
    """
    family = MetaConfig(family="sine", n_tasks=n_tasks, k_shot=k_shot,
                        k_query=k_shot if k_query is None else k_query, amplitude=amplitude,
                        phase=phase, x_range=x_range, corrupt_frac=corrupt_frac,
                        corruption=corruption)
    return _unstack(_draw_sine_tasks(as_generator(rng), 1, family))[0]


def _unit_direction(direction, n_features: int) -> np.ndarray:
    if direction is None:
        return default_direction(n_features)
    u = _check_array("direction", direction, (1,))
    if u.shape != (n_features,) or not np.any(u):
        raise ValueError(f"direction must be a non-zero vector of shape ({n_features},), "
                         f"got shape {u.shape}")
    return u / np.linalg.norm(u)

# ---------------------------------------------------------------------------------------------
# 2. Model: one sigmoid unit, binary cross-entropy, its gradient and Hessian (notebook 02)
# ---------------------------------------------------------------------------------------------


def _logits(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``x @ theta`` per task: theta (d,) or (T, d), x (k, d) or (T, k, d) -> (k,) or (T, k)."""
    if theta.ndim == 1:
        return x @ theta
    return np.matmul(x, theta[..., None])[..., 0]


def _softplus(z: np.ndarray) -> np.ndarray:
    """``log(1 + exp(z))`` without overflow.

    ``np.logaddexp(0, z)`` computes it as ``max(z, 0) + log1p(exp(-|z|))``: ``exp`` only ever
    sees a number <= 0 (it may underflow to 0, which is then the right answer).
    """
    return np.logaddexp(0.0, z)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """``sigmoid(z) = exp(-softplus(-z))``: no overflow, and accurate for large negative z."""
    return np.exp(-_softplus(-z))


def sigmoid(z) -> np.ndarray:
    """Numerically stable logistic function ``1 / (1 + exp(-z))``, any shape (notebook 02, 2)."""
    return _sigmoid(_check_array("z", z, (0, 1, 2, 3, 4)))


def _loss_from_logits(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean BCE over the last axis, from logits: ``softplus(z) - y z``.

    ``-y log p - (1 - y) log(1 - p)`` with ``p = sigmoid(z)`` equals ``softplus(z) - y z``:
    no log(0), no overflow.
    """
    return np.mean(_softplus(z) - y * z, axis=-1)


def _grad(x: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """``x^T (p - y) / k`` per task: x (..., k, d), residual (..., k) -> (..., d)."""
    return np.matmul(residual[..., None, :], x)[..., 0, :] / x.shape[-2]


def _hvp(x: np.ndarray, curvature: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``H v = x^T diag(p (1 - p)) x v / k`` per task, without forming H.

    x (..., k, d), curvature = p (1 - p) (..., k), v (d,) or (..., d) -> (..., d).
    """
    return _grad(x, curvature * _logits(v, x))


def bce_loss(theta, x, y) -> np.ndarray | float:
    """Mean binary cross-entropy of ``sigmoid(x @ theta)`` against ``y``, per task (02, 1).

    theta (d,) | (T, d), x (k, d) | (T, k, d), y (k,) | (T, k) -> float | (T,).
    """
    theta, x, y = _check_model_inputs(theta, x, y)
    z = _logits(theta, x)
    return _loss_from_logits(z, y)[()]


def bce_grad(theta, x, y) -> np.ndarray:
    """Gradient of ``bce_loss``: ``x^T (sigmoid(x theta) - y) / k`` (notebook 02, section 3).

    theta (d,) | (T, d), x (k, d) | (T, k, d), y (k,) | (T, k) -> (d,) | (T, d).
    """
    theta, x, y = _check_model_inputs(theta, x, y)
    return _grad(x, _sigmoid(_logits(theta, x)) - y)


def _curvature(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``p (1 - p)`` per sample, the diagonal weights of the Hessian: (..., k)."""
    p = _sigmoid(_logits(theta, x))
    return p * (1.0 - p)


def bce_hvp(theta, x, v) -> np.ndarray:
    """Hessian-vector product ``H(theta) v`` of ``bce_loss``, without forming H (02, 4).

    ``H = x^T diag(p (1 - p)) x / k`` does not depend on y.
    theta (d,) | (T, d), x (k, d) | (T, k, d), v like theta -> (d,) | (T, d).
    """
    theta, x = _check_model_inputs(theta, x)
    v = _check_array("v", v, (1, 2))
    _check_model_inputs(v, x, names=("v", "x", "y"))  # v: the same shape rules as theta
    return _hvp(x, _curvature(theta, x), v)


def bce_hessian(theta, x) -> np.ndarray:
    """The explicit Hessian of ``bce_loss``, for teaching only (notebook 02, section 4).

    Shape (d, d) or (T, d, d).

    Forming it costs O(k d^2) per task; the training code uses ``bce_hvp`` instead.
    """
    theta, x = _check_model_inputs(theta, x)
    weighted = x * _curvature(theta, x)[..., None]
    return np.swapaxes(weighted, -1, -2) @ x / x.shape[-2]


def accuracy(theta, x, y) -> np.ndarray | float:
    """Fraction of samples with ``(x @ theta >= 0) == y``, per task: float | (T,) (02, 5)."""
    theta, x, y = _check_model_inputs(theta, x, y)
    return np.mean((_logits(theta, x) >= 0) == (y >= 0.5), axis=-1)[()]


class LogisticUnit:
    """The sigmoid unit of notebook 02 as a model for the meta-learning code (notebook 03).

    The meta-learning functions work with any model object that offers these methods, on a
    flat parameter vector ``theta (P,)`` (shared by all tasks) or ``(T, P)`` (one per task) and
    data with a leading task axis (``x (T, k, ...)``, ``y (T, k)``) or none (one task):

    * ``n_params``: P, the number of parameters; ``init(rng) -> (P,)``: a random start;
    * ``loss(theta, x, y) -> (T,)``: the mean loss of each task; ``grad(...) -> (T, P)``;
    * ``loss_and_grad(theta, x, y)``: both, from one forward pass;
    * ``grad_and_hvp(theta, x, y) -> (grad, hvp)``: the gradient, and a function
      ``hvp(v (T, P)) -> (T, P)`` giving the Hessian-vector product at that theta;
    * ``score(theta, x, y) -> (T,)``: what evaluation reports (``score_name``);
    * ``check_inputs(theta, x, y, names)``: validation naming the caller's arguments.

    For this model ``P = d``: the parameters are the unit's weights, one per feature.
    """

    score_name = "accuracy"

    def __init__(self, n_features: int):
        self.n_features = _check_int("n_features", n_features)

    def __repr__(self) -> str:
        return f"LogisticUnit(n_features={self.n_features})"

    @property
    def n_params(self) -> int:
        return self.n_features

    def init(self, rng=None) -> np.ndarray:
        """``theta ~ N(0, I / d)`` of shape (d,): logits of order one."""
        return as_generator(rng).standard_normal(self.n_features) / math.sqrt(self.n_features)

    def loss(self, theta, x, y):
        return _loss_from_logits(_logits(theta, x), y)

    def grad(self, theta, x, y):
        return _grad(x, _sigmoid(_logits(theta, x)) - y)

    def loss_and_grad(self, theta, x, y):
        z = _logits(theta, x)
        s = _softplus(-z)  # one softplus gives both: p = exp(-s), softplus(z) = s + z
        return (s + z - y * z).sum(axis=-1) / z.shape[-1], _grad(x, np.exp(-s) - y)

    def grad_and_hvp(self, theta, x, y):
        p = _sigmoid(_logits(theta, x))
        curvature = p * (1.0 - p)  # the Hessian's diagonal weights at this theta
        return _grad(x, p - y), lambda v: _hvp(x, curvature, v)

    def score(self, theta, x, y):
        return np.mean((_logits(theta, x) >= 0) == (y >= 0.5), axis=-1)

    def check_inputs(self, theta, x, y=None, names=("theta", "x", "y")):
        checked = _check_task_data(theta, x, y, names, n_params=self.n_features)
        if len(checked) == 3 and np.any((checked[2] < 0) | (checked[2] > 1)):
            raise ValueError(f"{names[2]} must hold labels in [0, 1]")
        return checked


class MLP:
    """A fully connected network ``d_in -> hidden ... -> 1`` with squared-error loss.

    ``sizes`` lists the width of every layer, input first and output (1) last: the default
    ``(1, 40, 40, 1)`` is the sinusoid network of the MAML paper. Each hidden layer computes
    ``h = act(h_prev @ W + b)`` with ``act`` "relu" or "tanh"; the output layer is linear.

    The model offers the interface the meta-learning code uses (see ``LogisticUnit``) on a flat
    parameter vector ``theta (P,)`` (shared by all tasks) or ``(T, P)`` (one per task), with
    data ``x (T, k, d_in)``, ``y (T, k)`` or, for one task, ``x (k, d_in)``, ``y (k,)``.
    The loss of a task is the mean squared error ``mean_j (f(x_j) - y_j)^2``; ``score`` reports
    the same number.

    Everything is computed by hand, batched over tasks with ``np.matmul`` (a loop over layers,
    never over tasks or points):

    * ``_forward``: the pre-activations ``z`` of every layer and the layer inputs ``a``;
    * ``_backward``: backpropagation, the gradient ``dL/dtheta``;
    * ``_r_forward`` and ``_r_backward``: Pearlmutter's R-operator, the directional derivative
      ``R{.} = d/dt (.)(theta + t v) at t = 0`` of every forward and backward quantity; the
      R-derivative of the gradient is the Hessian-vector product ``H v``.
    """

    score_name = "mse"

    def __init__(self, sizes=(1, 40, 40, 1), activation: str = "relu"):
        self.sizes = _check_sizes(sizes)
        self.activation = _check_choice("activation", activation, ACTIVATIONS)
        # (start, stop, shape) of each parameter array in theta: W1, b1, W2, b2, ...
        self._layout = []
        start = 0
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            for shape in ((n_in, n_out), (n_out,)):
                stop = start + math.prod(shape)
                self._layout.append((start, stop, shape))
                start = stop

    def __repr__(self) -> str:
        return f"MLP(sizes={self.sizes}, activation={self.activation!r})"

    @property
    def n_params(self) -> int:
        return self._layout[-1][1]

    # -- parameters ---------------------------------------------------------------------------

    def unflatten(self, theta: np.ndarray) -> list[np.ndarray]:
        """``[W1, b1, W2, b2, ...]`` from theta (P,) or (T, P).

        Shapes: W (n_in, n_out) and b (n_out,), with a leading T axis for theta (T, P). The
        arrays are views into theta (no copy): writing to them changes theta.
        """
        lead = theta.shape[:-1]
        return [theta[..., start:stop].reshape(*lead, *shape) for start, stop, shape in
                self._layout]

    def flatten(self, params: list[np.ndarray]) -> np.ndarray:
        """The inverse of ``unflatten``: ``[W1, b1, ...]`` -> theta (P,) or (T, P)."""
        lead = params[1].shape[:-1]  # b1 (..., n_out): the leading (task) axes
        return np.concatenate([p.reshape(*lead, -1) for p in params], axis=-1)

    def init(self, rng=None) -> np.ndarray:
        """A random theta (P,): PyTorch's default for a linear layer, every layer alike.

        Weights and biases ``~ U(-r, r)`` with ``r = 1 / sqrt(n_in)``. Measured on the sine
        tasks (x in [-5, 5]): a He / Glorot start, scaled for inputs of variance 1, made the
        1-64-64-1 ReLU net's 5-step adaptation at learning rate 0.01 diverge on many tasks;
        with this start MAML, Reptile and joint training all adapt stably.
        """
        rng = as_generator(rng)
        params = []
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            r = 1.0 / math.sqrt(n_in)
            params += [rng.uniform(-r, r, (n_in, n_out)), rng.uniform(-r, r, n_out)]
        return self.flatten(params)

    # -- forward pass: prediction and loss ----------------------------------------------------

    def _act(self, z: np.ndarray) -> np.ndarray:
        return np.maximum(z, 0.0) if self.activation == "relu" else np.tanh(z)

    def _act_slopes(self, z: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """First and second derivatives of the activation at z, given a = act(z).

        ReLU: ``1[z > 0]`` and 0 (returned as None, so the term is skipped);
        tanh: ``1 - a^2`` and ``-2 a (1 - a^2)``.
        """
        if self.activation == "relu":
            return (z > 0).astype(z.dtype), None
        slope = 1.0 - a * a
        return slope, -2.0 * a * slope

    def _forward(self, params, x):
        """Inputs ``a`` of every layer (``a[0] = x``) and pre-activations ``z`` of every layer.

        x (T, k, d_in) or (k, d_in); W (n_in, n_out) shared or (T, n_in, n_out) per task.
        ``z[l] = a[l] @ W + b`` has shape (T, k, n_out); ``a[l + 1] = act(z[l])``; the
        prediction is ``z[-1][..., 0]`` (the output layer is linear).
        """
        Ws, bs = params[0::2], params[1::2]
        a, z = [x], []
        for layer in range(len(Ws)):
            z.append(a[layer] @ Ws[layer] + bs[layer][..., None, :])  # b -> (..., 1, n_out)
            if layer < len(Ws) - 1:  # hidden layers only: the output stays linear
                a.append(self._act(z[layer]))
        return a, z

    def predict(self, theta, x) -> np.ndarray:
        """The network's output per point: x (T, k, d_in) -> (T, k), x (k, d_in) -> (k,)."""
        _, z = self._forward(self.unflatten(theta), x)
        return z[-1][..., 0]

    def loss(self, theta, x, y):
        """Mean squared error per task: (T,) (a scalar for unbatched x)."""
        residual = self.predict(theta, x) - y
        return np.mean(residual * residual, axis=-1)

    def score(self, theta, x, y):
        return self.loss(theta, x, y)

    # -- backward pass: the gradient ----------------------------------------------------------

    def _empty(self, lead: tuple[int, ...]) -> tuple[np.ndarray, list[np.ndarray]]:
        """An uninitialised flat array (*lead, P) and its views ``[W1, b1, ...]``: the backward
        passes write each layer's result straight into it (no concatenation afterwards)."""
        flat = np.empty((*lead, self.n_params))
        return flat, self.unflatten(flat)

    def _backward(self, params, a, slopes, residual):
        """Backpropagation: ``delta`` (dL/dz of every layer) and the gradient (T, P).

        With ``L = mean_j r_j^2``, ``r = f - y``: ``dL/df = 2 r / k``. Going down, for the
        layer ``z = a @ W + b``: ``dL/dW = a^T delta`` (summed over the k points by the
        matmul), ``dL/db = sum_j delta``, and ``delta_below = (delta @ W^T) * act'(z_below)``.
        """
        Ws = params[0::2]
        delta = [None] * len(Ws)
        delta[-1] = (2.0 / residual.shape[-1]) * residual[..., None]  # (T, k, 1)
        grad, g = self._empty(delta[-1].shape[:-2])
        gWs, gbs = g[0::2], g[1::2]
        for layer in reversed(range(len(Ws))):
            np.matmul(_transpose(a[layer]), delta[layer], out=gWs[layer])  # (T, n_in, n_out)
            np.sum(delta[layer], axis=-2, out=gbs[layer])  # (T, n_out)
            if layer > 0:
                slope = slopes[layer - 1][0]
                delta[layer - 1] = (delta[layer] @ _transpose(Ws[layer])) * slope
        return delta, grad

    def _forward_backward(self, theta, x, y):
        """One forward and one backward pass; returns what ``grad_and_hvp`` keeps: parameters,
        layer inputs, activation slopes, residuals (T, k), deltas and the gradient (T, P)."""
        params = self.unflatten(theta)
        a, z = self._forward(params, x)
        slopes = [self._act_slopes(zl, al) for zl, al in zip(z[:-1], a[1:], strict=True)]
        residual = z[-1][..., 0] - y
        delta, grad = self._backward(params, a, slopes, residual)
        return params, a, slopes, residual, delta, grad

    def grad(self, theta, x, y):
        """dL/dtheta per task: (T, P) (or (P,) for a shared theta and unbatched x)."""
        return self._forward_backward(theta, x, y)[-1]

    def loss_and_grad(self, theta, x, y):
        *_, residual, _, grad = self._forward_backward(theta, x, y)
        return np.mean(residual * residual, axis=-1), grad

    # -- R-operator: the Hessian-vector product -----------------------------------------------

    def _r_forward(self, params, vparams, a, slopes):
        """``R{z}`` and ``R{a}`` of every layer along v = ``[V1, c1, V2, c2, ...]``.

        From ``z = a @ W + b`` and ``a_next = act(z)``:
        ``R{z} = R{a} @ W + a @ V + c`` and ``R{a_next} = act'(z) * R{z}``. The input does not
        depend on theta, ``R{x} = 0``: ``ra[0]`` is None (a zero we never form).
        """
        Ws, Vs, cs = params[0::2], vparams[0::2], vparams[1::2]
        rz, ra = [], [None]
        for layer in range(len(Ws)):
            rz.append(a[layer] @ Vs[layer] + cs[layer][..., None, :])
            if ra[layer] is not None:
                rz[layer] += ra[layer] @ Ws[layer]
            if layer < len(slopes):  # hidden layers only
                ra.append(slopes[layer][0] * rz[layer])
        return rz, ra

    def _r_backward(self, params, vparams, a, slopes, delta, rz, ra):
        """``R{grad}`` = H v: the R-derivative of every line of ``_backward``, product rule.

        ``R{delta_out} = 2 R{f} / k``; ``R{dL/dW} = a^T R{delta} + R{a}^T delta``;
        ``R{dL/db} = sum_j R{delta}``; and for ``delta_below = (delta @ W^T) * act'(z_below)``:
        ``R{delta_below} = (R{delta} @ W^T + delta @ V^T) * act'(z_below)
        + (delta @ W^T) * act''(z_below) * R{z_below}`` (the last term is 0 for ReLU).
        """
        Ws, Vs = params[0::2], vparams[0::2]
        r_delta = (2.0 / delta[-1].shape[-2]) * rz[-1]  # (T, k, 1)
        hv, h = self._empty(r_delta.shape[:-2])
        hWs, hbs = h[0::2], h[1::2]
        for layer in reversed(range(len(Ws))):
            np.matmul(_transpose(a[layer]), r_delta, out=hWs[layer])  # (T, n_in, n_out)
            if ra[layer] is not None:  # R{x} = 0: no second term in the first layer
                hWs[layer] += _transpose(ra[layer]) @ delta[layer]
            np.sum(r_delta, axis=-2, out=hbs[layer])  # (T, n_out)
            if layer > 0:
                slope, curve = slopes[layer - 1]
                r_back = r_delta @ _transpose(Ws[layer]) + delta[layer] @ _transpose(Vs[layer])
                r_delta = r_back * slope
                if curve is not None:  # tanh: act'' != 0
                    r_delta += (delta[layer] @ _transpose(Ws[layer])) * curve * rz[layer - 1]
        return hv

    def grad_and_hvp(self, theta, x, y):
        """The gradient (T, P) and ``hvp(v) -> H v`` at this theta, for v (T, P) (or (P,)).

        One forward and one backward pass now; each ``hvp`` call then runs one R-forward and
        one R-backward pass on the stored activations, about the cost of two gradients.
        """
        params, a, slopes, _, delta, grad = self._forward_backward(theta, x, y)

        def hvp(v):
            vparams = self.unflatten(np.asarray(v, dtype=float))
            rz, ra = self._r_forward(params, vparams, a, slopes)
            return self._r_backward(params, vparams, a, slopes, delta, rz, ra)

        return grad, hvp

    # -- input checks -------------------------------------------------------------------------

    def check_inputs(self, theta, x, y=None, names=("theta", "x", "y")):
        """Validate ``theta (P,) | (T, P)``, ``x (k, d_in) | (T, k, d_in)``, ``y (k,) | (T, k)``.

        Returns the arrays as floats: (theta, x) or (theta, x, y). ``names`` are the caller's
        argument names, used in the error messages.
        """
        return _check_task_data(theta, x, y, names, n_params=self.n_params,
                                n_inputs=self.sizes[0])


def _transpose(m: np.ndarray) -> np.ndarray:
    """Swap the last two axes (a view): (..., i, j) -> (..., j, i)."""
    return np.swapaxes(m, -1, -2)


def _check_sizes(sizes) -> tuple[int, ...]:
    """``sizes`` as a tuple: at least two positive integers, the last one 1 (one output)."""
    ok = isinstance(sizes, (tuple, list)) and len(sizes) >= 2 and all(
        isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1 for n in sizes)
    if not ok:
        raise ValueError(f"sizes must be a tuple of at least 2 positive integers (input, "
                         f"hidden..., output), got {sizes!r}")
    if sizes[-1] != 1:
        raise ValueError(f"sizes must end with 1 (one output per point), got {sizes!r}")
    return tuple(int(n) for n in sizes)


def init_theta(n_features: int, *, rng=None) -> np.ndarray:
    """A random starting point for the sigmoid unit, ``theta ~ N(0, I / d)`` of shape (d,)."""
    return LogisticUnit(n_features).init(rng)


MODEL_METHODS = ("init", "loss", "grad", "loss_and_grad", "grad_and_hvp", "score",
                 "check_inputs")  # and the attribute n_params


def make_model(config: MetaConfig):
    """The model of a run: the sigmoid unit (linear family) or the MLP (sine family)."""
    if not isinstance(config, MetaConfig):
        raise ValueError(f"config must be a MetaConfig, got {type(config).__name__}")
    if config.family == "sine":
        return MLP(sizes=(1, *config.hidden, 1), activation=config.activation)
    return LogisticUnit(config.n_features)


def _resolve_model(model, n_features: int):
    """The model to use: ``model`` if it offers every method, else a LogisticUnit of d."""
    if model is None:
        return LogisticUnit(n_features)
    missing = [m for m in MODEL_METHODS if not callable(getattr(model, m, None))]
    missing += [] if isinstance(getattr(model, "n_params", None), (int, np.integer)) \
        else ["n_params"]
    if missing:
        raise ValueError(f"model must offer n_params, {', '.join(MODEL_METHODS)}; "
                         f"{type(model).__name__} lacks {', '.join(missing)}")
    return model

# ---------------------------------------------------------------------------------------------
# 3. Meta-learning: inner loop, exact MAML, gradient agreement, Reptile (notebooks 03-07)
# ---------------------------------------------------------------------------------------------


def _validated(model, theta, x, y=None, names=("theta", "x", "y")):
    """(model, theta, x[, y]) checked: the model defaults to a LogisticUnit of theta's size."""
    theta = _check_array(names[0], theta, (1, 2))
    model = _resolve_model(model, theta.shape[-1])
    return (model, *model.check_inputs(theta, x, y, names))


def _adapt(model, theta, x, y, alpha, steps, keep_hvps=False):
    """Run ``steps`` gradient steps per task: adapted theta (T, P) and, if ``keep_hvps``, the
    Hessian-vector product function of every step's starting point (for the exact
    meta-gradient)."""
    hvps = []
    for _ in range(steps):
        if keep_hvps:
            g, hvp = model.grad_and_hvp(theta, x, y)
            hvps.append(hvp)
        else:
            g = model.grad(theta, x, y)
        theta = theta - alpha * g
    return theta, hvps


def inner_update(theta, x, y, alpha: float, *, steps: int = 1, model=None) -> np.ndarray:
    """Adapt theta to each task: ``steps`` steps of ``theta <- theta - alpha grad L_support``.

    Notebook 03, section 1. theta (P,) | (T, P), x (k, d) | (T, k, d), y (k,) | (T, k)
    -> (P,) | (T, P). ``model`` defaults to the sigmoid unit (``LogisticUnit``).
    """
    model, theta, x, y = _validated(model, theta, x, y)
    alpha = _check_positive("alpha", alpha)
    steps = _check_int("steps", steps)
    adapted, _ = _adapt(model, theta, x, y, alpha, steps)
    if adapted.ndim < x.ndim - 1:  # one shared theta and a batch: one row per task
        adapted = np.broadcast_to(adapted, (*x.shape[:-2], adapted.shape[-1])).copy()
    return adapted


def _meta_gradients(model, theta, xs, ys, xq, yq, alpha, steps, first_order):
    """Unvalidated core of MAML: adapted theta (T, P), meta-gradients (T, P), mean query loss.

    The query loss after adaptation, L_q(theta_n), depends on theta through every inner step
    ``theta_{j+1} = theta_j - alpha grad L_s(theta_j)``, whose Jacobian is ``I - alpha H_j``.
    The chain rule gives ``(I - alpha H_0) ... (I - alpha H_{n-1}) grad L_q(theta_n)``,
    evaluated right to left with Hessian-vector products. First order drops the H terms.
    """
    adapted, hvps = _adapt(model, theta, xs, ys, alpha, steps, keep_hvps=not first_order)
    query_loss, g = model.loss_and_grad(adapted, xq, yq)
    for hvp in reversed(hvps):
        g = g - alpha * hvp(g)
    return adapted, g, query_loss.sum() / query_loss.size


def maml_meta_gradients(theta, x_support, y_support, x_query, y_query, alpha: float, *,
                        inner_steps: int = 1, first_order: bool = False,
                        model=None) -> np.ndarray:
    """Per task, the gradient of the query loss after adaptation with respect to theta.

    Notebook 03, section 2. Exact (second order) by default: the chain of
    ``(I - alpha H)`` factors through every inner step, via Hessian-vector products.
    ``first_order=True`` drops them.

    theta (P,) | (T, P), x_support (T, k, d), y_support (T, k), x_query (T, q, d),
    y_query (T, q) -> (T, P). Unbatched (k, d) inputs give (P,).
    """
    model, theta, xs, ys = _validated(model, theta, x_support, y_support,
                                      names=("theta", "x_support", "y_support"))
    _, xq, yq = model.check_inputs(theta, x_query, y_query, ("theta", "x_query", "y_query"))
    if xq.ndim != xs.ndim or xq.shape[:-2] != xs.shape[:-2]:
        raise ValueError(f"x_query of shape {xq.shape} does not match x_support of shape "
                         f"{xs.shape} (same tasks and features)")
    alpha = _check_positive("alpha", alpha)
    inner_steps = _check_int("inner_steps", inner_steps)
    first_order = _check_bool("first_order", first_order)
    _, g, _ = _meta_gradients(model, theta, xs, ys, xq, yq, alpha, inner_steps, first_order)
    if g.ndim < xs.ndim - 1:
        g = np.broadcast_to(g, (*xs.shape[:-2], g.shape[-1])).copy()
    return g


def _ga_weights(updates: np.ndarray, normalization: str = "paper") -> np.ndarray:
    """Unvalidated ``ga_weights``; updates (T, d) -> (T,)."""
    n_tasks = updates.shape[0]
    uniform = np.full(n_tasks, 1.0 / n_tasks)
    scale = np.abs(updates).max()
    if scale == 0:  # every update is zero: all tasks agree trivially
        return uniform
    u = updates / scale  # the weights are scale-invariant; this keeps the dot products finite
    if normalization == "cosine":  # unit rows; a zero update stays zero (it has no direction)
        norms = np.linalg.norm(u, axis=1, keepdims=True)
        u = np.divide(u, norms, out=np.zeros_like(u), where=norms > 0)
    gram = u @ u.T  # gram[i, j] = g_i . g_j
    agreement = gram.sum(axis=1)  # g_i . s, with s = sum_j g_j the batch's summed update
    if normalization == "book":
        return agreement / np.abs(gram).sum()
    total = np.abs(agreement).sum()
    # sum_i g_i . s = |s|^2: every row sum is (numerically) zero only when the updates cancel,
    # judged against the updates' own sizes, sum_i |g_i|^2 (the trace of the Gram matrix)
    if total <= 1e-12 * gram.trace():
        return uniform
    return agreement / total


def ga_weights(updates, *, normalization: str = "paper") -> np.ndarray:
    """Gradient-agreement weights of T task updates ``g_i = theta - theta_i'``.

    ``normalization="paper"`` (Eshratifar et al. 2018, eq. 13, taught in notebook 04):

        w_i = sum_j g_i.g_j / sum_k |sum_j g_k.g_j|,   so  sum_i |w_i| = 1.

    The numerator is ``g_i . s`` with ``s = sum_j g_j``: a task whose update points along the
    batch's summed update gets a large weight, one that points against it a negative weight.

    ``"book"``: the book chapter's denominator ``sum_k sum_j |g_k.g_j|`` (notebook 04, the
    book's deviations); same signs, but ``sum_i |w_i| <= 1``, often much less.
    ``"cosine"``: the paper's formula on unit updates ``g_i / |g_i|`` (agreement in direction
    only). An extension of this course, not in the paper; a zero update stays zero.

    The weights do not change when every update is scaled by the same factor (so alpha
    cancels for one inner step). Degenerate batches fall back to MAML's ``w_i = 1 / T``: every
    update zero (all tasks agree trivially) or, for "paper" and "cosine", updates that cancel
    (``s = 0``, so every row sum is 0 and the batch agrees on no direction).

    updates (T, d) -> (T,).
    """
    updates = _check_array("updates", updates, (2,))
    _check_choice("normalization", normalization, NORMALIZATIONS)
    return _ga_weights(updates, normalization)


def _task_weights(method, theta, adapted, normalization):
    if method in ("ga", "ga-reptile"):
        return _ga_weights(theta - adapted, normalization)
    n_tasks = adapted.shape[0]
    return np.full(n_tasks, 1.0 / n_tasks)


def _step(model, theta, batch: TaskBatch, c: MetaConfig):
    """One unvalidated meta-step with ``c``'s rule: the outer step direction (P,) (plain SGD
    moves ``theta - beta * direction``), the weights (T,), and the mean query loss after
    adaptation, measured at the theta the step starts from."""
    xs, ys, xq, yq = batch.x_support, batch.y_support, batch.x_query, batch.y_query
    if c.method == "joint":  # no inner loop: fit every task's points with one theta
        grads = model.grad(theta, np.concatenate([xs, xq], axis=-2),
                           np.concatenate([ys, yq], axis=-1))
        with np.errstate(all="ignore"):  # bookkeeping only: the step does not use it
            adapted, _ = _adapt(model, theta, xs, ys, c.alpha, c.inner_steps)
            loss = model.loss(adapted, xq, yq).mean()
    elif c.method in REPTILE_METHODS:  # the outer "gradient" is minus the inner-loop update
        adapted, _ = _adapt(model, theta, xs, ys, c.alpha, c.inner_steps)
        grads = theta - adapted
        loss = model.loss(adapted, xq, yq).mean()
    else:
        adapted, grads, loss = _meta_gradients(model, theta, xs, ys, xq, yq, c.alpha,
                                               c.inner_steps, c.first_order)
    weights = _task_weights(c.method, theta, adapted, c.normalization)
    return weights @ grads, weights, loss


class Adam:
    """Adam (Kingma and Ba, 2015) as an outer update, for the MLP of notebook 06.

    ``step(theta, g)`` returns ``theta - beta * m_hat / (sqrt(v_hat) + eps)``, with ``m`` and
    ``v`` running means of the step direction ``g`` and of its square, bias-corrected.
    """

    def __init__(self, beta: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
        self.beta, self.eps = _check_positive("beta", beta), _check_positive("eps", eps)
        for name, value in (("b1", b1), ("b2", b2)):
            if not _is_real(value) or not 0 <= value < 1:
                raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
        self.b1, self.b2 = float(b1), float(b2)
        self.m = self.v = 0.0
        self.t = 0

    def step(self, theta: np.ndarray, g: np.ndarray) -> np.ndarray:
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g
        m_hat = self.m / (1 - self.b1 ** self.t)
        v_hat = self.v / (1 - self.b2 ** self.t)
        return theta - self.beta * m_hat / (np.sqrt(v_hat) + self.eps)


def _validated_batch(model, theta, batch):
    """(model, theta) for a shared ``theta (P,)`` and a TaskBatch whose arrays fit it."""
    theta = _check_array("theta", theta, (1,))
    model = _resolve_model(model, theta.shape[-1])
    if not isinstance(batch, TaskBatch):
        raise ValueError(f"batch must be a TaskBatch, got {type(batch).__name__}")
    for part in ("support", "query"):
        model.check_inputs(theta, getattr(batch, f"x_{part}"), getattr(batch, f"y_{part}"),
                           ("theta", f"batch.x_{part}", f"batch.y_{part}"))
    return model, theta


def meta_step(theta, batch: TaskBatch, *, alpha: float, beta: float, method: str = "maml",
              inner_steps: int = 1, first_order: bool = False, normalization: str = "paper",
              model=None) -> tuple[np.ndarray, np.ndarray]:
    """One meta-update of the shared theta on a batch of tasks (notebooks 03 and 04).

    Every method is a weighted vector update (every parameter gets its own step, no extra 1/T),
    with ``theta_i'`` the result of ``inner_steps`` steps on task i's support set:

    * ``"maml"``:  ``theta <- theta - beta * sum_i (1/T) * meta_gradient_i``;
    * ``"ga"`` (GA-MAML): the same with ``w_i = ga_weights(theta - theta_i', normalization)``;
    * ``"reptile"``:  ``theta <- theta + beta * mean_i (theta_i' - theta)``;
    * ``"ga-reptile"``:  ``theta <- theta + beta * sum_i w_i (theta_i' - theta)``;
    * ``"joint"``: no inner loop, the mean gradient of each task's support and query loss at
      theta itself (the baseline).

    ``first_order`` applies to "maml" and "ga" (Reptile is first order by construction);
    ``normalization`` to "ga" and "ga-reptile".

    theta (P,), batch with T tasks -> (new theta (P,), weights (T,)).
    """
    model, theta = _validated_batch(model, theta, batch)
    rule = MetaConfig(method=method, alpha=alpha, beta=beta, inner_steps=inner_steps,
                      first_order=first_order, normalization=normalization)  # validates them
    direction, weights, _ = _step(model, theta, batch, rule)
    return theta - rule.beta * direction, weights


@dataclass
class Evaluation:
    """Per-task query loss and score before and after adaptation, each of shape (T,).

    The score is ``model.score``: accuracy for the sigmoid unit; for the MLP
    (``score_name == "mse"``) it is the mean squared error again, the same as the loss.
    """

    loss_before: np.ndarray
    accuracy_before: np.ndarray
    loss_after: np.ndarray
    accuracy_after: np.ndarray


def _evaluate(model, theta, batch: TaskBatch, alpha, steps) -> Evaluation:
    xq, yq = batch.x_query, batch.y_query

    def loss_and_score(t):
        return model.loss(t, xq, yq), model.score(t, xq, yq)

    before = loss_and_score(np.broadcast_to(theta, (batch.n_tasks, theta.shape[-1])))
    adapted = _adapt(model, theta, batch.x_support, batch.y_support, alpha, steps)[0]
    after = loss_and_score(adapted) if steps else before
    return Evaluation(*before, *after)


def _score_after(model, theta, batch: TaskBatch, alpha, steps) -> tuple[float, float]:
    """Mean query loss and score after adaptation (what ``meta_train`` records): half the
    work of ``_evaluate``, which also scores the unadapted theta."""
    adapted = _adapt(model, theta, batch.x_support, batch.y_support, alpha, steps)[0] \
        if steps else np.broadcast_to(theta, (batch.n_tasks, theta.shape[-1]))
    return (float(model.loss(adapted, batch.x_query, batch.y_query).mean()),
            float(model.score(adapted, batch.x_query, batch.y_query).mean()))


def adapt_and_evaluate(theta, batch: TaskBatch, alpha: float, *, steps: int = 1,
                       model=None) -> Evaluation:
    """Adapt theta on each task's support set; report query loss and accuracy, per task.

    Notebook 03, section 5. ``steps=0`` means no adaptation (after equals before).
    theta (P,) -> Evaluation of (T,).
    """
    model, theta = _validated_batch(model, theta, batch)
    alpha = _check_positive("alpha", alpha)
    steps = _check_int("steps", steps, minimum=0)
    return _evaluate(model, theta, batch, alpha, steps)


class Diverged(ValueError):
    """Raised by ``meta_train`` when theta stops being finite (beta or alpha too large)."""


@dataclass
class MetaConfig:
    """Everything that defines a meta-training run; ``seed`` makes it reproducible.

    Notebook 03, section 5 (the task family's fields are notebook 01's).
    """

    method: str = "ga"  # "maml", "ga", "reptile", "ga-reptile" or "joint"
    alpha: float = 1.0  # inner (task) learning rate
    beta: float = 1.0  # outer (meta) learning rate
    n_tasks: int = 10  # T, tasks per meta-batch
    k_shot: int = 10  # support points per task
    k_query: int = 10  # query points per task
    n_features: int = 50  # d
    meta_iterations: int = 1000  # meta-updates, one fresh batch of tasks each
    inner_steps: int = 1
    first_order: bool = False
    normalization: str = "paper"  # GA weights: "paper", "book" or "cosine"
    corrupt_frac: float = 0.0
    corruption: str = "flip"  # "flip", "random" or "outlier"
    seed: int = 0
    spread: float = 1.0  # how far each task's boundary strays from the shared direction
    minority_frac: float = 0.0  # fraction of tasks per batch drawn around a second direction
    minority_angle: float = 120.0  # degrees between the majority and minority directions
    eval_every: int = 100  # held-out evaluation interval, in meta-iterations
    eval_tasks: int = 100  # fixed held-out tasks (clean, fresh, majority direction)
    eval_query: int | None = None  # query points per held-out task (None: k_query)
    outer: str = "sgd"  # the outer update: "sgd" (theta - beta * step) or "adam"
    # The task family: "linear" (the sigmoid unit's tasks, n_features...) or "sine" (notebook
    # 06: sine waves, fitted by an MLP with the hidden layers and activation below).
    family: str = "linear"
    amplitude: tuple = (0.1, 5.0)  # sine: amplitude range
    phase: tuple = (0.0, math.pi)  # sine: phase range
    x_range: tuple = (-5.0, 5.0)  # sine: input range
    hidden: tuple = (40, 40)  # sine: hidden layer sizes of the MLP
    activation: str = "relu"  # sine: "relu" or "tanh"

    def __post_init__(self) -> None:
        _check_choice("method", self.method, METHODS)
        _check_choice("family", self.family, FAMILIES)
        _check_choice("outer", self.outer, OUTER_RULES)
        _check_choice("activation", self.activation, ACTIVATIONS)
        for name in ("amplitude", "phase", "x_range"):
            _check_range(name, getattr(self, name))
        if self.amplitude[0] < 0:
            raise ValueError(f"amplitude must be >= 0, got {self.amplitude!r}")
        if not isinstance(self.hidden, tuple) or not self.hidden \
                or not all(_is_int(h) and h >= 1 for h in self.hidden):
            raise ValueError(f"hidden must be a non-empty tuple of positive integers, got "
                             f"{self.hidden!r}")
        _check_choice("normalization", self.normalization, NORMALIZATIONS)
        _check_choice("corruption", self.corruption, CORRUPTIONS)
        _check_outlier_features(self.corruption, self.n_features)
        for name in ("alpha", "beta"):
            _check_positive(name, getattr(self, name))
        for name in ("n_tasks", "k_shot", "k_query", "n_features", "meta_iterations",
                     "inner_steps", "eval_every", "eval_tasks"):
            _check_int(name, getattr(self, name))
        if self.eval_query is not None:
            _check_int("eval_query", self.eval_query)
        _check_int("seed", self.seed, minimum=0)
        _check_fraction("corrupt_frac", self.corrupt_frac)
        _check_fraction("minority_frac", self.minority_frac)
        if not _is_real(self.minority_angle) or not 0 <= self.minority_angle <= 180:
            raise ValueError(f"minority_angle must be a number of degrees in [0, 180], got "
                             f"{self.minority_angle!r}")
        if self.minority_frac > 0:  # the direction must exist (for d = 1: 0 or 180 degrees)
            try:
                minority_direction(self.n_features, self.minority_angle)
            except ValueError as exc:
                raise ValueError(f"minority_angle: {exc}") from None
        _check_bool("first_order", self.first_order)
        _check_nonnegative("spread", self.spread)


@dataclass
class History:
    """What ``meta_train`` recorded. Arrays are pre-allocated; rows past ``iterations_done``
    are NaN.

    query_loss : (n,) mean query loss after adaptation, at the theta of that iteration.
    weights : (n, T) task weights w_i of every meta-step.
    corrupted : (n, T) bool, which tasks of that batch were corrupted.
    minority : (n, T) bool, which tasks of that batch came from the minority direction.
    eval_iterations : (n_eval,) iterations after which the held-out tasks were evaluated.
    eval_accuracy, eval_loss : (n_eval,) held-out query accuracy / loss after adaptation.
    theta : (P,) the current (at the end: final) meta-parameters; theta_init (P,) the start.
    """

    config: MetaConfig
    query_loss: np.ndarray
    weights: np.ndarray
    corrupted: np.ndarray
    minority: np.ndarray
    eval_iterations: np.ndarray
    eval_accuracy: np.ndarray
    eval_loss: np.ndarray
    theta: np.ndarray
    theta_init: np.ndarray
    iterations_done: int = 0
    seconds: float = 0.0


def make_eval_tasks(config: MetaConfig) -> TaskBatch:
    """The fixed held-out tasks of a run: clean, fresh, the same for every method at one seed."""
    if not isinstance(config, MetaConfig):
        raise ValueError(f"config must be a MetaConfig, got {type(config).__name__}")
    k_query = config.k_query if config.eval_query is None else config.eval_query
    if config.family == "sine":
        return sample_sine_tasks(config.eval_tasks, config.k_shot, k_query=k_query,
                                 amplitude=config.amplitude, phase=config.phase,
                                 x_range=config.x_range, rng=seed_streams(config.seed).eval)
    return sample_tasks(config.eval_tasks, config.k_shot, k_query=k_query,
                        n_features=config.n_features, spread=config.spread,
                        rng=seed_streams(config.seed).eval)


CHUNK = 100  # meta-batches drawn per call to the sampler


def _training_chunks(rng, c: MetaConfig):
    """``(first iteration, stacked TaskBatch of the next CHUNK meta-batches)`` in training
    order: the one place where ``meta_train``'s batches are drawn."""
    direction = default_direction(c.n_features)
    for first in range(0, c.meta_iterations, CHUNK):
        n = min(CHUNK, c.meta_iterations - first)
        yield first, (_draw_sine_tasks(rng, n, c) if c.family == "sine"
                      else _draw_tasks(rng, n, c, direction))


def training_batches(config: MetaConfig):
    """The meta-batches ``meta_train(config)`` trains on, one TaskBatch per meta-iteration.

    Notebook 03, section 5 (the meta-training loop in the open). They come from the train
    stream of ``seed_streams(config.seed)``, drawn ``CHUNK`` iterations at a time exactly as
    ``meta_train`` draws them, so a loop over them sees the same tasks as ``meta_train``.
    """
    if not isinstance(config, MetaConfig):
        raise ValueError(f"config must be a MetaConfig, got {type(config).__name__}")
    for _, stack in _training_chunks(seed_streams(config.seed).train, config):
        yield from _unstack(stack)


def meta_train(config: MetaConfig, callback: Callable[[int, History], None] | None = None,
               *, theta0: np.ndarray | None = None, model=None) -> History:
    """Meta-train theta with ``config.method`` for ``config.meta_iterations`` meta-iterations.

    Notebook 03, section 5. Every iteration samples a fresh batch of ``n_tasks`` tasks,
    records the query loss after adaptation and the task weights, and applies one meta-step.
    Every ``eval_every`` iterations (and at the end) the fixed held-out tasks are adapted to
    and scored. ``callback(iteration, history)`` runs after every iteration (counted from 1);
    live plots hook in there. Raises ValueError if theta stops being finite (beta or alpha too
    large). ``model`` defaults to the sigmoid unit with ``config.n_features`` weights.
    """
    if not isinstance(config, MetaConfig):
        raise ValueError(f"config must be a MetaConfig, got {type(config).__name__}")
    if callback is not None and not callable(callback):
        raise ValueError("callback must be callable or None")
    c = config
    model = make_model(c) if model is None else _resolve_model(model, c.n_features)
    streams = seed_streams(c.seed)
    theta = (model.init(streams.init) if theta0 is None
             else _check_array("theta0", theta0, (1,)).copy())
    if theta.shape != (model.n_params,):
        raise ValueError(f"theta0 must have shape ({model.n_params},), got {theta.shape}")
    evals = make_eval_tasks(c)
    last = c.meta_iterations
    eval_iterations = np.array(sorted({*range(c.eval_every, last + 1, c.eval_every), last}))
    per_task = (last, c.n_tasks)
    history = History(
        config=c, query_loss=np.full(last, np.nan), weights=np.full(per_task, np.nan),
        corrupted=np.zeros(per_task, bool), minority=np.zeros(per_task, bool),
        eval_iterations=eval_iterations, eval_accuracy=np.full(len(eval_iterations), np.nan),
        eval_loss=np.full(len(eval_iterations), np.nan), theta=theta, theta_init=theta.copy())
    adam = Adam(c.beta) if c.outer == "adam" else None
    start, n_eval, iteration = time.perf_counter(), 0, 0
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            for first, stack in _training_chunks(streams.train, c):
                history.corrupted[first:first + len(stack.corrupted)] = stack.corrupted
                history.minority[first:first + len(stack.minority)] = stack.minority
                for iteration, batch in enumerate(_unstack(stack), start=first):
                    step, history.weights[iteration], history.query_loss[iteration] = _step(
                        model, theta, batch, c)
                    theta = adam.step(theta, step) if adam else theta - c.beta * step
                    history.theta, history.iterations_done = theta, iteration + 1
                    if not np.isfinite(theta).all():
                        raise FloatingPointError("theta is no longer finite")
                    if iteration + 1 == eval_iterations[n_eval]:
                        with np.errstate(all="ignore"):  # a score, not the training: may be inf
                            history.eval_loss[n_eval], history.eval_accuracy[n_eval] = \
                                _score_after(model, theta, evals, c.alpha, c.inner_steps)
                        n_eval += 1
                    if callback is not None:
                        history.seconds = time.perf_counter() - start
                        with np.errstate(over="warn", invalid="warn", divide="warn"):
                            callback(iteration + 1, history)  # the caller's code: numpy defaults
    except FloatingPointError as exc:
        raise Diverged(f"training diverged at iteration {iteration + 1} ({exc}); lower beta "
                         f"(={c.beta}) or alpha (={c.alpha})") from None
    history.seconds = time.perf_counter() - start
    return history

# ---------------------------------------------------------------------------------------------
# 4. Plots: every function draws on a given Axes, from a History (notebooks 03-07)
# ---------------------------------------------------------------------------------------------

OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#E69F00", "#56B4E9", "#CC79A7", "#F0E442",
             "#000000"]


def use_course_style() -> None:
    """The course's matplotlib style: Okabe-Ito colours, small figures, light grid (all)."""
    import matplotlib as mpl

    mpl.rcParams.update({
        "axes.prop_cycle": mpl.cycler(color=OKABE_ITO),
        "figure.figsize": (7.0, 3.2),
        "figure.dpi": 80,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titlesize": 11,
        "axes.labelsize": 10,
        "legend.fontsize": 9,
        "legend.frameon": False,
    })


def _check_axes_history(ax, history) -> int:
    if not hasattr(ax, "plot"):
        raise ValueError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
    if not isinstance(history, History):
        raise ValueError(f"history must be a History, got {type(history).__name__}")
    return history.iterations_done


def moving_average(values, window: int) -> np.ndarray:
    """Trailing mean over ``window`` values (shorter at the start): (n,) -> (n,)."""
    values = _check_array("values", values, (1,))
    window = _check_int("window", window)
    csum = np.cumsum(np.insert(values, 0, 0.0))
    n = np.arange(1, len(values) + 1)
    lo = np.maximum(n - window, 0)
    return (csum[n] - csum[lo]) / (n - lo)


def plot_loss(ax, history: History, *, label: str | None = None, color: str | None = None,
              window: int = 25):
    """Query loss after adaptation per meta-iteration: raw (faint) and a moving average (03)."""
    done = _check_axes_history(ax, history)
    method = history.config.method
    color = color or COLORS.get(method, OKABE_ITO[0])
    label = label or method.upper()
    lines = []
    if done:
        iters = np.arange(1, done + 1)
        loss = history.query_loss[:done]
        lines += ax.plot(iters, loss, color=color, alpha=0.2, linewidth=0.8)
        lines += ax.plot(iters, moving_average(loss, window), color=color, label=label)
    ax.set(title="Query loss after adaptation", xlabel="meta-iteration",
           ylabel="mean query BCE")
    if ax.get_legend_handles_labels()[0]:  # no legend (and no warning) before any data
        ax.legend(loc="upper right")
    return lines


def plot_weights(ax, history: History, *, max_points: int = 1500, window: int = 25,
                 color: str | None = None):
    """Task weights w_i of every meta-step, clean and corrupted tasks apart (notebook 05, 1).

    Markers are individual weights (thinned to about ``max_points``; clean: small faint
    dots, corrupted: crosses); lines are the mean weight of clean (solid) and of corrupted
    (dashed) tasks per iteration (moving average over ``window`` iterations in which the
    group is present); all in the method's colour (or ``color``). Dotted grey: 1/T, MAML's
    weight.
    """
    done = _check_axes_history(ax, history)
    n_tasks = history.config.n_tasks
    if color is None:
        color = COLORS.get(history.config.method, "#999999")
    else:
        from matplotlib.colors import is_color_like

        if not is_color_like(color):
            raise ValueError(f"color must be a matplotlib colour, got {color!r}")
    artists = [ax.axhline(1.0 / n_tasks, color="#999999", linestyle=":", linewidth=1.2,
                          label="1/T (MAML)")]
    if done:
        w, bad = history.weights[:done], history.corrupted[:done]
        iters = np.broadcast_to(np.arange(1, done + 1)[:, None], w.shape)
        stride = max(1, w.size // max_points)
        for mask, name in ((~bad, "clean"), (bad, "corrupted")):
            if not mask.any():
                continue
            style = TASK_STYLES[name]
            artists.append(ax.scatter(iters[mask][::stride], w[mask][::stride],
                                      s=5 if name == "clean" else 14, marker=style["marker"],
                                      color=color, alpha=0.2 if name == "clean" else 0.45,
                                      linewidths=0 if name == "clean" else 0.7))
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(mask.any(1), np.where(mask, w, 0.0).sum(1) / mask.sum(1), np.nan)
            rows = ~np.isnan(mean)
            artists += ax.plot(iters[rows, 0], moving_average(mean[rows], window),
                               color=color, linestyle=TASK_STYLES[name]["linestyle"],
                               linewidth=2.2, label=f"{name} (mean)",
                               path_effects=[_white_outline()])
    ax.set(title="Task weights $w_i$", xlabel="meta-iteration", ylabel="weight $w_i$")
    lo, hi = ax.get_ylim()  # headroom above the data, so that the legend sits off it
    ax.set_ylim(lo, hi + 0.4 * (hi - lo))
    ax.legend(loc="upper center", ncols=2, fontsize=7, handlelength=2.0, columnspacing=0.8)
    return artists


def _white_outline():
    """A thin white edge around a line, so a mean line stays visible over its own dots."""
    from matplotlib import patheffects

    return patheffects.withStroke(linewidth=3.4, foreground="white")


def plot_eval_accuracy(ax, history: History, *, label: str | None = None,
                       color: str | None = None):
    """Held-out accuracy after adaptation at each evaluation point (notebook 07)."""
    _check_axes_history(ax, history)
    method = history.config.method
    done = ~np.isnan(history.eval_accuracy)
    lines = ax.plot(history.eval_iterations[done], history.eval_accuracy[done], marker="o",
                    color=color or COLORS.get(method, OKABE_ITO[0]), label=label or method.upper())
    ax.set(title="Held-out accuracy after adaptation", xlabel="meta-iteration",
           ylabel="query accuracy")
    ax.legend(loc="best")  # a few points per line: "best" is quick and keeps off them
    return lines



def mean_task_weights(history: History, *, last: int | None = None) -> dict[str, float]:
    """Mean weight ``w_i`` of clean and of corrupted tasks over the ``last`` iterations (05, 07).

    ``last=None`` averages over every iteration done. A group without tasks gets NaN.
    Returns ``{"clean": float, "corrupted": float}``.
    """
    if not isinstance(history, History):
        raise ValueError(f"history must be a History, got {type(history).__name__}")
    done = history.iterations_done
    last = done if last is None else min(_check_int("last", last), done)
    w = history.weights[done - last:done]
    bad = history.corrupted[done - last:done]
    return {name: float(w[mask].mean()) if mask.any() else math.nan
            for name, mask in (("clean", ~bad), ("corrupted", bad))}

# ---------------------------------------------------------------------------------------------
# Appendix A: input checks (one place, so every public function words its errors alike)
# ---------------------------------------------------------------------------------------------


def _is_real(value) -> bool:
    """True for a real number (Python or numpy int or float); False for a bool or anything else."""
    return isinstance(value, (int, float, np.integer, np.floating)) \
        and not isinstance(value, (bool, np.bool_))


def _check_positive(name: str, value: float) -> float:
    """Return ``value`` as a float; it must be a finite number > 0."""
    if not _is_real(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _is_int(value) -> bool:
    """True for a Python or numpy integer, False for a bool or anything else."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_range(name: str, value) -> tuple[float, float]:
    """Return ``value`` as a (low, high) pair of finite numbers with low <= high."""
    if not isinstance(value, (tuple, list)) or len(value) != 2 or not all(map(_is_real, value)) \
            or not all(map(math.isfinite, value)) or value[0] > value[1]:
        raise ValueError(f"{name} must be a (low, high) pair of finite numbers with low <= high,"
                         f" got {value!r}")
    return float(value[0]), float(value[1])


def _check_int(name: str, value: int, minimum: int = 1) -> int:
    """Return ``value``; it must be an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_nonnegative(name: str, value: float) -> float:
    """Return ``value`` as a float; it must be a finite number >= 0."""
    if not _is_real(value) or not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _check_fraction(name: str, value: float) -> float:
    """Return ``value`` as a float; it must lie in [0, 1]."""
    if not _is_real(value):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return float(value)


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def _check_array(name: str, value, ndims: tuple[int, ...]) -> np.ndarray:
    """Return ``value`` as a finite float array with one of the allowed numbers of axes."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array: {exc}") from None
    if arr.ndim not in ndims:
        allowed = " or ".join(map(str, ndims))
        raise ValueError(f"{name} must have {allowed} axes, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _check_task_data(theta, x, y=None, names=("theta", "x", "y"), *, n_params=None,
                     n_inputs=None):
    """Validate ``theta (P,) | (T, P)``, ``x (k, d) | (T, k, d)``, ``y (k,) | (T, k)``.

    ``n_params`` (P) and ``n_inputs`` (d) are the model's, if given; without ``n_inputs``, x
    must have as many features as theta has parameters (the sigmoid unit). ``names`` are the
    caller's argument names, used in the error messages. Returns (theta, x) or (theta, x, y).
    """
    tn, xn, yn = names
    theta = _check_array(tn, theta, (1, 2))
    x = _check_array(xn, x, (2, 3))
    if n_params is not None and theta.shape[-1] != n_params:
        raise ValueError(f"{tn} has {theta.shape[-1]} parameters but the model has {n_params}")
    if n_inputs is None and x.shape[-1] != theta.shape[-1]:
        raise ValueError(f"{xn} has {x.shape[-1]} features but {tn} has {theta.shape[-1]}")
    if n_inputs is not None and x.shape[-1] != n_inputs:
        raise ValueError(f"{xn} has {x.shape[-1]} input features but the model takes "
                         f"{n_inputs}")
    if theta.ndim == 2 and (x.ndim != 3 or x.shape[0] != theta.shape[0]):
        raise ValueError(f"{tn} of shape {theta.shape} needs {xn} of shape (T, k, d) with "
                         f"T={theta.shape[0]}, got {xn} of shape {x.shape}")
    if y is None:
        return theta, x
    y = _check_array(yn, y, (1, 2))
    if y.shape != x.shape[:-1]:
        raise ValueError(f"{yn} must have shape {x.shape[:-1]} to match {xn}, got {y.shape}")
    return theta, x, y


def _check_model_inputs(theta, x, y=None, names=("theta", "x", "y")):
    """The sigmoid unit's inputs: d features, d parameters, labels in [0, 1]."""
    theta = _check_array(names[0], theta, (1, 2))
    return LogisticUnit(theta.shape[-1]).check_inputs(theta, x, y, names)


def _check_outlier_features(corruption: str, n_features: int) -> None:
    if corruption == "outlier" and n_features < 2:
        raise ValueError("corruption='outlier' needs n_features >= 2 (a direction at 90 "
                         "degrees to the shared one)")

# ---------------------------------------------------------------------------------------------
# Appendix B: checking the notebooks' exercises
# ---------------------------------------------------------------------------------------------


def check_exercise(test: Callable[[], str | None]) -> bool:
    """Run one exercise's checks and print the verdict: ``✓ correct`` or ``✗ not yet: <hint>``.

    ``test()`` returns None when the answer is right, or a hint saying what is still wrong.
    An exception raised inside (by the student's code, say) becomes the hint. Returns True
    when correct, so a solution cell can ``assert`` it.
    """
    if not callable(test):
        raise ValueError(f"test must be callable, got {test!r}")
    try:
        hint = test()
    except Exception as exc:  # the student's code may raise anything: report it, do not crash
        hint = f"your code raised {type(exc).__name__}: {exc}"
    print("✓ correct" if hint is None else f"✗ not yet: {hint}")
    return hint is None


def compare_answer(got, expected, *, name: str = "your function", where: str = "",
                   rtol: float = 1e-7, atol: float = 1e-9) -> str | None:
    """The usual hint for a numeric answer: None if ``got`` equals ``expected``, else why not.

    ``name`` is what returned ``got`` (for "... returned None"); ``where`` says for which input,
    e.g. ``" for alpha = 0.1"``, and ends the hint.
    """
    if got is None:
        return f"{name} returned None"
    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return f"{name} should return numbers, got {type(got).__name__}"
    expected = np.asarray(expected, dtype=float)
    if got.shape != expected.shape:
        return f"expected shape {expected.shape}, got {got.shape}{where}"
    if not np.allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True):
        return f"wrong values{where}"
    return None
