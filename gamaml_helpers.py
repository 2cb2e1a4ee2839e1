"""Gradient-Agreement MAML from scratch, in numpy: the course's appendix.

The lesson, in course order; each function names the notebook section that builds it in the
open, as "(notebook NN, section S)": 1. tasks (01, 06), 2. models (02, 06), 3. meta-learning:
adaptation, the exact MAML meta-gradient, gradient agreement, the outer rules, the loop (03-05).

The machinery lives beside it, in the package ``gamaml``, and is re-exported at the end so that
``gh.<name>`` reaches everything. ``@checked`` marks a public function whose input is validated
at the boundary (``gamaml/checks.py``, a ``ValueError`` naming the argument).

Shapes, task axis first: ``d`` features, ``T`` tasks, ``k`` support and ``q`` query points,
``P`` parameters. One task: ``theta (P,)``, ``x (k, d)``, ``y (k,)``; a batch: ``theta (P,)``
shared or ``(T, P)`` per task, ``x (T, k, d)``, ``y (T, k)``. Randomness comes only from a
passed ``numpy.random.Generator`` or seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gamaml.checks import as_generator, checked
from gamaml.config import LinearConfig, LinearTasks, MetaConfig, SineConfig, SineTasks, make_model
from gamaml.training import Run, seed_streams
from gamaml.variants import GA_METHODS, REPTILE_METHODS

OUTLIER_ANGLE = 90.0  # degrees between an outlier task's direction and the shared one
OUTLIER_SCALE = 3.0  # an outlier task's features (linear) or amplitude (sine) is this much larger

# ---------------------------------------------------------------------------------------------
# 1. Tasks
# ---------------------------------------------------------------------------------------------


@checked
def sample_points(k: int, n_features: int = 50, *, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """The book's sampler: features uniform in [0, 1), coin-flip labels (notebook 01, section 1).

    Kept as the counter-example: no parameter does better than ln 2 on fresh data.
    -> x (k, d), y (k,).
    """
    x = rng.random((k, n_features))
    y = rng.integers(0, 2, size=k).astype(float)
    return x, y


@checked
def default_direction(n_features: int) -> np.ndarray:
    """The family's shared unit direction, ``linspace(-1, 1, d)`` (notebook 01, section 7).

    Its entries sum to 0 (d > 1), so moving every parameter by the same amount (the book's
    scalar bug) cannot find it. -> (d,).
    """
    if n_features == 1:
        return np.ones(1)
    u = np.linspace(-1.0, 1.0, n_features)
    return u / np.linalg.norm(u)


@checked
def minority_direction(n_features: int, angle: float) -> np.ndarray:
    """A unit vector at ``angle`` degrees from the shared direction (notebook 05, section 1).

    It turns ``default_direction(d)`` towards the first axis (d = 1: angle 0 or 180). -> (d,).
    """
    u = default_direction(n_features)
    v = np.zeros(n_features)
    v[0] = 1.0
    v -= (v @ u) * u
    norm = np.linalg.norm(v)
    if norm < 1e-12:
        return u if angle == 0 else -u
    rad = math.radians(angle)
    return math.cos(rad) * u + math.sin(rad) * v / norm


@dataclass(slots=True)
class TaskBatch:
    """A batch of ``T`` tasks (notebook 01, section 6).

    x_support (T, k, d), y_support (T, k), x_query (T, q, d), y_query (T, q);
    corrupted (T,) bool: the task was corrupted; true_theta: each task's truth, (T, d) weights
    (linear) or (T, 2) amplitude and phase (sine); minority (T,) bool: drawn around the
    minority direction. A stack of meta-batches has a leading (n_batches, T) shape instead.
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
    @checked
    def concatenate(batches: list[TaskBatch]) -> TaskBatch:
        """Join batches with equal shots and features along the task axis."""
        return TaskBatch(*(np.concatenate([getattr(b, f) for b in batches])
                           for f in TaskBatch.__dataclass_fields__))

    def unstack(self) -> list[TaskBatch]:
        """A stack of meta-batches, leading shape (n_batches, T), as n_batches batches."""
        return [TaskBatch(self.x_support[b], self.y_support[b], self.x_query[b],
                          self.y_query[b], self.corrupted[b], self.true_theta[b],
                          self.minority[b]) for b in range(len(self.corrupted))]


def _random_subset(rng, shape, size):
    """Boolean mask of ``shape`` with exactly ``size`` True per row, at random positions."""
    if size == 0:
        return np.zeros(shape, bool)
    return rng.random(shape).argsort(axis=-1).argsort(axis=-1) < size


def _outlier_direction(d: int, direction: np.ndarray) -> np.ndarray:
    """A unit vector at ``OUTLIER_ANGLE`` degrees from ``direction`` (d >= 2), shape (d,)."""
    v = np.zeros(d)
    v[np.argmin(np.abs(direction))] = 1.0  # the axis least aligned with the shared direction
    v -= (v @ direction) * direction
    v /= np.linalg.norm(v)
    rad = math.radians(OUTLIER_ANGLE)
    return math.cos(rad) * direction + math.sin(rad) * v


@checked
def draw_linear_tasks(rng, n_batches: int, f: LinearTasks, direction=None) -> TaskBatch:
    """Draw ``n_batches`` meta-batches of the linear family at once (notebook 01, section 6).

    Task i's boundary is ``w_i = c_i + spread z_i / sqrt(d)``, ``z_i ~ N(0, I)``, around the
    shared unit ``direction`` ``c_i = u`` (or the minority direction for minority tasks);
    features are uniform in [-1, 1) and labels ``y = 1[x @ w_i > 0]``. Corrupted tasks:
    ``"flip"`` inverts the labels, ``"random"`` draws coin flips (the book), ``"outlier"``
    turns the boundary by ``OUTLIER_ANGLE`` and scales the features by ``OUTLIER_SCALE``.
    -> a stack with leading shape (n_batches, T). One call per array: random numbers are cheap
    in bulk, so ``meta_train`` draws its batches this way, in chunks.
    """
    d = f.n_features
    direction = default_direction(d) if direction is None else direction / np.linalg.norm(
        direction)
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


@checked
def draw_sine_tasks(rng, n_batches: int, f: SineTasks) -> TaskBatch:
    """Draw ``n_batches`` meta-batches of sine waves at once (notebook 06, section 1).

    Task i is ``y = A_i sin(x - phi_i)``, A, phi and x uniform in their ranges; ``true_theta``
    holds ``(A_i, phi_i)``. Corrupted tasks: ``"flip"`` negates y, ``"random"`` replaces it by
    noise of a clean wave's size, ``"outlier"`` multiplies A by ``OUTLIER_SCALE``.
    """
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


@checked
def sample_tasks(n_tasks: int, k_shot: int, *, k_query: int | None = None,
                 n_features: int = 50, spread: float = 1.0, corrupt_frac: float = 0.0,
                 corruption: str = "flip", direction=None, rng=None) -> TaskBatch:
    """One batch of T linear tasks, k support and q query points each (notebook 01, section 6).

    ``k_query`` defaults to ``k_shot``; ``spread``: how far tasks stray from the shared
    ``direction`` (default ``default_direction(d)``); ``round(corrupt_frac * T)`` tasks are
    corrupted as ``corruption`` says (see ``draw_linear_tasks``).
    """
    family = LinearTasks(n_tasks=n_tasks, k_shot=k_shot,
                         k_query=k_shot if k_query is None else k_query, n_features=n_features,
                         spread=spread, corrupt_frac=corrupt_frac, corruption=corruption)
    return draw_linear_tasks(rng, 1, family, direction).unstack()[0]


@checked
def sample_sine_tasks(n_tasks: int, k_shot: int, *, k_query: int | None = None,
                      amplitude: tuple[float, float] = (0.1, 5.0),
                      phase: tuple[float, float] = (0.0, math.pi),
                      x_range: tuple[float, float] = (-5.0, 5.0), corrupt_frac: float = 0.0,
                      corruption: str = "flip", rng=None) -> TaskBatch:
    """One batch of sine-wave tasks, x (T, k, 1), y (T, k) (notebook 06, section 1).

    Finn et al.'s family by default; see ``draw_sine_tasks``.
    """
    family = SineTasks(n_tasks=n_tasks, k_shot=k_shot,
                       k_query=k_shot if k_query is None else k_query, amplitude=amplitude,
                       phase=phase, x_range=x_range, corrupt_frac=corrupt_frac,
                       corruption=corruption)
    return draw_sine_tasks(rng, 1, family).unstack()[0]

# ---------------------------------------------------------------------------------------------
# 2. Models
# ---------------------------------------------------------------------------------------------


def _logits(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``x @ theta`` per task: theta (d,) or (T, d), x (k, d) or (T, k, d) -> (k,) or (T, k)."""
    if theta.ndim == 1:
        return x @ theta
    return np.matmul(x, theta[..., None])[..., 0]


def _softplus(z: np.ndarray) -> np.ndarray:
    """``log(1 + exp(z))`` as ``max(z, 0) + log1p(exp(-|z|))``: exp never sees a positive z."""
    return np.logaddexp(0.0, z)


@checked
def sigmoid(z) -> np.ndarray:
    """``1 / (1 + exp(-z))`` as ``exp(-softplus(-z))``: no overflow (notebook 02, section 2)."""
    return np.exp(-_softplus(-z))


@checked
def bce_loss(theta, x, y) -> np.ndarray | float:
    """Mean binary cross-entropy per task, ``softplus(z) - y z`` with ``z = x @ theta``: the
    same as ``-y log p - (1 - y) log(1 - p)``, without log(0) (notebook 02, section 2).

    theta (d,) | (T, d), x (k, d) | (T, k, d), y (k,) | (T, k) -> float | (T,).
    """
    z = _logits(theta, x)
    return np.mean(_softplus(z) - y * z, axis=-1)[()]


def _grad(x: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """``x^T r / k`` per task: x (..., k, d), r (..., k) -> (..., d)."""
    return np.matmul(residual[..., None, :], x)[..., 0, :] / x.shape[-2]


@checked
def bce_grad(theta, x, y) -> np.ndarray:
    """``x^T (sigmoid(x theta) - y) / k``, per task (notebook 02, section 3). -> (d,) | (T, d)."""
    return _grad(x, sigmoid(_logits(theta, x)) - y)


def _hvp(x: np.ndarray, curvature: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``x^T diag(p (1 - p)) x v / k`` per task, without forming H."""
    return _grad(x, curvature * _logits(v, x))


@checked
def bce_hvp(theta, x, v) -> np.ndarray:
    """``H v`` with ``H = x^T diag(p (1 - p)) x / k`` (no y in it) (notebook 02, section 4).

    v like theta -> (d,) | (T, d).
    """
    p = sigmoid(_logits(theta, x))
    return _hvp(x, p * (1.0 - p), v)


@checked
def bce_hessian(theta, x) -> np.ndarray:
    """The explicit Hessian, O(k d^2) per task: for teaching (notebook 02, section 4).

    -> (d, d) | (T, d, d). The training code uses ``bce_hvp``.
    """
    p = sigmoid(_logits(theta, x))
    weighted = x * (p * (1.0 - p))[..., None]
    return np.swapaxes(weighted, -1, -2) @ x / x.shape[-2]


@checked
def accuracy(theta, x, y) -> np.ndarray | float:
    """Share of points with ``(x @ theta >= 0) == y``, per task (notebook 02, section 5)."""
    return np.mean((_logits(theta, x) >= 0) == (y >= 0.5), axis=-1)[()]


class LogisticUnit:
    """The sigmoid unit of notebook 02 as a model object (notebook 03, section 1).

    The meta-learning code works with any model that offers, on a flat ``theta`` (P,) shared
    or (T, P) per task, and data with a task axis (``x (T, k, ...)``, ``y (T, k)``):
    ``n_params``; ``init(rng) -> (P,)``; ``loss -> (T,)``; ``grad -> (T, P)``;
    ``loss_and_grad``; ``grad_and_hvp -> (grad, hvp)`` with ``hvp(v (T, P)) -> H v``;
    ``score -> (T,)`` (named by ``score_name``); ``check_inputs`` (validation, for the
    boundary). Here ``P = d``.
    """

    score_name, loss_name = "accuracy", "BCE"

    @checked
    def __init__(self, n_features: int):
        self.n_features = n_features

    def __repr__(self) -> str:
        return f"LogisticUnit(n_features={self.n_features})"

    @property
    def n_params(self) -> int:
        return self.n_features

    def init(self, rng=None) -> np.ndarray:
        """``theta ~ N(0, I / d)``: logits of order one."""
        return as_generator(rng).standard_normal(self.n_features) / math.sqrt(self.n_features)

    def loss(self, theta, x, y):
        return bce_loss(theta, x, y)

    def grad(self, theta, x, y):
        return bce_grad(theta, x, y)

    def loss_and_grad(self, theta, x, y):
        z = _logits(theta, x)
        s = _softplus(-z)  # one softplus gives both: p = exp(-s), softplus(z) = s + z
        return (s + z - y * z).sum(axis=-1) / z.shape[-1], _grad(x, np.exp(-s) - y)

    def grad_and_hvp(self, theta, x, y):
        p = np.exp(-_softplus(-_logits(theta, x)))  # sigmoid, as in ``sigmoid``
        curvature = p * (1.0 - p)  # the Hessian's diagonal weights at this theta
        return _grad(x, p - y), lambda v: _hvp(x, curvature, v)

    def score(self, theta, x, y):
        return accuracy(theta, x, y)

    def check_inputs(self, theta, x, y=None, names=("theta", "x", "y")):
        from gamaml import checks

        return checks.unit_inputs(self, theta, x, y, names)


def init_theta(n_features: int, *, rng=None) -> np.ndarray:
    """A random start for the sigmoid unit, ``N(0, I / d)`` (notebook 02, section 5)."""
    return LogisticUnit(n_features).init(rng)


def _transpose(m: np.ndarray) -> np.ndarray:
    """Swap the last two axes (a view): (..., i, j) -> (..., j, i)."""
    return np.swapaxes(m, -1, -2)


class MLP:
    """A network ``d_in -> hidden ... -> 1``, squared-error loss (notebook 06, sections 2-3).

    ``sizes`` lists every layer's width, input first and output (1) last; the default
    ``(1, 40, 40, 1)`` is the MAML paper's sinusoid network. Hidden layers compute
    ``h = act(h_prev @ W + b)`` ("relu" or "tanh"); the output is linear. The loss of a task is
    ``mean_j (f(x_j) - y_j)^2``; ``score`` reports the same number. The interface is
    ``LogisticUnit``'s. Batched over tasks with ``np.matmul``: a loop over layers only.
    """

    score_name, loss_name = "mse", "MSE"

    @checked
    def __init__(self, sizes=(1, 40, 40, 1), activation: str = "relu"):
        self.sizes, self.activation = sizes, activation
        self._layout = []  # (start, stop, shape) of each array in theta: W1, b1, W2, b2, ...
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

    def unflatten(self, theta: np.ndarray) -> list[np.ndarray]:
        """``[W1, b1, W2, b2, ...]`` (views into theta), with a leading T axis for (T, P)."""
        lead = theta.shape[:-1]
        return [theta[..., start:stop].reshape(*lead, *shape) for start, stop, shape in
                self._layout]

    def flatten(self, params: list[np.ndarray]) -> np.ndarray:
        """The inverse of ``unflatten``: ``[W1, b1, ...]`` -> theta (P,) or (T, P)."""
        lead = params[1].shape[:-1]  # b1 (..., n_out): the leading (task) axes
        return np.concatenate([p.reshape(*lead, -1) for p in params], axis=-1)

    def init(self, rng=None) -> np.ndarray:
        """PyTorch's default start for every layer: W and b ``~ U(-r, r)``, ``r = 1/sqrt(n_in)``.

        Measured on the sine tasks (x in [-5, 5]): a He or Glorot start made the 1-64-64-1 ReLU
        net's 5-step adaptation at 0.01 diverge on many tasks; this one adapts stably.
        """
        rng = as_generator(rng)
        params = []
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            r = 1.0 / math.sqrt(n_in)
            params += [rng.uniform(-r, r, (n_in, n_out)), rng.uniform(-r, r, n_out)]
        return self.flatten(params)

    def _slopes(self, z: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """act'(z) and act''(z) given a = act(z): ReLU ``1[z > 0]`` and 0 (None: skipped);
        tanh ``1 - a^2`` and ``-2 a (1 - a^2)``."""
        if self.activation == "relu":
            return (z > 0).astype(z.dtype), None
        slope = 1.0 - a * a
        return slope, -2.0 * a * slope

    def _forward(self, params, x):
        """Layer inputs ``a`` (``a[0] = x``) and pre-activations ``z[l] = a[l] @ W + b``
        (T, k, n_out); the prediction is ``z[-1][..., 0]``."""
        Ws, bs = params[0::2], params[1::2]
        a, z = [x], []
        for layer in range(len(Ws)):
            z.append(a[layer] @ Ws[layer] + bs[layer][..., None, :])  # b -> (..., 1, n_out)
            if layer < len(Ws) - 1:  # hidden layers only: the output stays linear
                a.append(np.maximum(z[layer], 0.0) if self.activation == "relu"
                         else np.tanh(z[layer]))
        return a, z

    def predict(self, theta, x) -> np.ndarray:
        """The output per point: x (T, k, d_in) -> (T, k), x (k, d_in) -> (k,)."""
        return self._forward(self.unflatten(theta), x)[1][-1][..., 0]

    def loss(self, theta, x, y):
        residual = self.predict(theta, x) - y
        return np.mean(residual * residual, axis=-1)

    def score(self, theta, x, y):
        return self.loss(theta, x, y)

    def _empty(self, lead: tuple[int, ...]) -> tuple[np.ndarray, list[np.ndarray]]:
        """A flat (*lead, P) array and its views ``[W1, b1, ...]``, written layer by layer."""
        flat = np.empty((*lead, self.n_params))
        return flat, self.unflatten(flat)

    def _backward(self, params, a, slopes, residual):
        """Backpropagation: ``dL/df = 2 r / k``; for ``z = a @ W + b``: ``dL/dW = a^T delta``,
        ``dL/db = sum_j delta``, ``delta_below = (delta @ W^T) * act'(z_below)``."""
        Ws = params[0::2]
        delta = [None] * len(Ws)
        delta[-1] = (2.0 / residual.shape[-1]) * residual[..., None]  # (T, k, 1)
        grad, g = self._empty(delta[-1].shape[:-2])
        for layer in reversed(range(len(Ws))):
            np.matmul(_transpose(a[layer]), delta[layer], out=g[2 * layer])  # (T, n_in, n_out)
            np.sum(delta[layer], axis=-2, out=g[2 * layer + 1])  # (T, n_out)
            if layer > 0:
                delta[layer - 1] = (delta[layer] @ _transpose(Ws[layer])) * slopes[layer - 1][0]
        return delta, grad

    def _forward_backward(self, theta, x, y):
        params = self.unflatten(theta)
        a, z = self._forward(params, x)
        slopes = [self._slopes(zl, al) for zl, al in zip(z[:-1], a[1:], strict=True)]
        residual = z[-1][..., 0] - y
        delta, grad = self._backward(params, a, slopes, residual)
        return params, a, slopes, residual, delta, grad

    def grad(self, theta, x, y):
        return self._forward_backward(theta, x, y)[-1]

    def loss_and_grad(self, theta, x, y):
        *_, residual, _, grad = self._forward_backward(theta, x, y)
        return np.mean(residual * residual, axis=-1), grad

    def _r_forward(self, params, vparams, a, slopes):
        """Pearlmutter's R-operator, ``R{.} = d/dt (.)(theta + t v)``, on the forward pass:
        ``R{z} = R{a} @ W + a @ V + c``, ``R{a_next} = act'(z) R{z}``, ``R{x} = 0`` (None)."""
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
        """``R{grad} = H v``, the product rule on every line of ``_backward``:
        ``R{dL/dW} = a^T R{delta} + R{a}^T delta``, and ``R{delta_below} = (R{delta} @ W^T +
        delta @ V^T) * act' + (delta @ W^T) * act'' * R{z_below}`` (act'' = 0 for ReLU)."""
        Ws, Vs = params[0::2], vparams[0::2]
        r_delta = (2.0 / delta[-1].shape[-2]) * rz[-1]  # (T, k, 1)
        hv, h = self._empty(r_delta.shape[:-2])
        for layer in reversed(range(len(Ws))):
            np.matmul(_transpose(a[layer]), r_delta, out=h[2 * layer])  # (T, n_in, n_out)
            if ra[layer] is not None:  # R{x} = 0: no second term in the first layer
                h[2 * layer] += _transpose(ra[layer]) @ delta[layer]
            np.sum(r_delta, axis=-2, out=h[2 * layer + 1])  # (T, n_out)
            if layer > 0:
                slope, curve = slopes[layer - 1]
                r_back = r_delta @ _transpose(Ws[layer]) + delta[layer] @ _transpose(Vs[layer])
                r_delta = r_back * slope
                if curve is not None:  # tanh: act'' != 0
                    r_delta += (delta[layer] @ _transpose(Ws[layer])) * curve * rz[layer - 1]
        return hv

    def grad_and_hvp(self, theta, x, y):
        """The gradient and ``hvp(v) -> H v`` at theta: each call one R-forward and one
        R-backward pass on the stored activations, about two gradients' cost."""
        params, a, slopes, _, delta, grad = self._forward_backward(theta, x, y)

        def hvp(v):
            vparams = self.unflatten(np.asarray(v, dtype=float))
            rz, ra = self._r_forward(params, vparams, a, slopes)
            return self._r_backward(params, vparams, a, slopes, delta, rz, ra)

        return grad, hvp

    def check_inputs(self, theta, x, y=None, names=("theta", "x", "y")):
        from gamaml import checks

        return checks.task_data(theta, x, y, names, n_params=self.n_params,
                                n_inputs=self.sizes[0])


# ---------------------------------------------------------------------------------------------
# 3. Meta-learning
# ---------------------------------------------------------------------------------------------


@checked
def inner_update(theta, x, y, alpha: float, *, steps: int = 1, model=None) -> np.ndarray:
    """Adapt to each task: ``steps`` times ``theta <- theta - alpha grad L_support``
    (notebook 03, section 1). theta (P,) | (T, P), x (T, k, d), y (T, k) -> (T, P).

    ``model`` is inferred only where it is certain: a sigmoid unit when theta has one entry
    per feature of x; an MLP must be passed.
    """
    for _ in range(steps):
        theta = theta - alpha * model.grad(theta, x, y)
    return theta


@checked
def maml_meta_gradients(theta, x_support, y_support, x_query, y_query, alpha: float, *,
                        inner_steps: int = 1, first_order: bool = False, model=None,
                        with_adapted: bool = False):
    """Per task, the gradient of the query loss after adaptation with respect to theta
    (notebook 03, section 2). -> (T, P).

    Each inner step ``theta_{j+1} = theta_j - alpha grad L_s(theta_j)`` has the Jacobian
    ``I - alpha H_j``, so the chain rule gives ``(I - alpha H_0) ... (I - alpha H_{n-1})
    grad L_q(theta_n)``: evaluated right to left with Hessian-vector products, never a Hessian.
    ``first_order=True`` drops the H terms. ``with_adapted=True`` also returns what the outer
    rules reuse: the adapted theta (T, P) and the mean query loss after adaptation.
    """
    adapted, hvps = theta, []
    for _ in range(inner_steps):
        if first_order:
            g = model.grad(adapted, x_support, y_support)
        else:
            g, hvp = model.grad_and_hvp(adapted, x_support, y_support)
            hvps.append(hvp)
        adapted = adapted - alpha * g
    query_loss, meta = model.loss_and_grad(adapted, x_query, y_query)
    for hvp in reversed(hvps):
        meta = meta - alpha * hvp(meta)
    return (meta, adapted, query_loss.sum() / query_loss.size) if with_adapted else meta


@checked
def ga_weights(updates, *, normalization: str = "paper") -> np.ndarray:
    """Gradient-agreement weights of T task updates ``g_i`` (notebook 04, section 1).

    ``"paper"`` (Eshratifar et al. 2018, eq. 13): ``w_i = sum_j g_i.g_j / sum_k |sum_j
    g_k.g_j|``, so ``sum_i |w_i| = 1``. The numerator is ``g_i . s``, ``s = sum_j g_j``: a task
    along the batch's summed update gets a large weight, one against it a negative weight.
    ``"book"``: the book chapter's denominator ``sum_k sum_j |g_k.g_j|`` (notebook 04,
    section 4). ``"cosine"``: the paper's formula on unit updates (this course's extension).
    Scaling every update alike changes nothing. Degenerate batches get MAML's 1/T: every
    update zero, or ("paper", "cosine") updates that cancel (s = 0). updates (T, d) -> (T,).
    """
    n_tasks = updates.shape[0]
    scale = np.abs(updates).max()
    if scale == 0:  # every update is zero: all tasks agree trivially
        return np.full(n_tasks, 1.0 / n_tasks)
    u = updates / scale  # the weights are scale-invariant; this keeps the dot products finite
    if normalization == "cosine":  # unit rows; a zero update stays zero (it has no direction)
        norms = np.linalg.norm(u, axis=1, keepdims=True)
        u = np.divide(u, norms, out=np.zeros_like(u), where=norms > 0)
    gram = u @ u.T  # gram[i, j] = g_i . g_j
    agreement = gram.sum(axis=1)  # g_i . s
    if normalization == "book":
        return agreement / np.abs(gram).sum()
    total = np.abs(agreement).sum()
    # sum_i g_i . s = |s|^2: the row sums are (numerically) all zero only when the updates
    # cancel, judged against the updates' own sizes (the trace of the Gram matrix)
    if total <= 1e-12 * gram.trace():
        return np.full(n_tasks, 1.0 / n_tasks)
    return agreement / total


@checked
def outer_direction(theta, batch: TaskBatch, *, method: str, alpha: float,
                    inner_steps: int = 1, first_order: bool = False,
                    normalization: str = "paper", model=None):
    """One meta-step's direction under an outer rule (notebook 03, section 5; notebook 04,
    section 5): theta moves to ``theta - beta * direction`` (plain step) or Adam's step.

    * "maml": ``direction = sum_i (1/T) meta_gradient_i``; "ga" (GA-MAML): weights
      ``w_i = ga_weights(theta - theta_i')`` instead of 1/T;
    * "reptile": ``direction = mean_i (theta - theta_i')``, minus the mean inner-loop update;
      "ga-reptile": the same with the GA weights;
    * "joint": no inner loop, the mean gradient of each task's support and query loss.

    Each rule is a weighted sum of per-task vectors (every parameter its own step, no extra
    1/T). theta (P,), batch of T tasks -> (direction (P,), weights (T,), mean query loss after
    adaptation at this theta).
    """
    xs, ys, xq, yq = batch.x_support, batch.y_support, batch.x_query, batch.y_query
    if method == "joint":  # fit every task's points with one theta
        grads = model.grad(theta, np.concatenate([xs, xq], axis=-2),
                           np.concatenate([ys, yq], axis=-1))
        with np.errstate(all="ignore"):  # bookkeeping only: the step does not use it
            adapted = inner_update(theta, xs, ys, alpha, steps=inner_steps, model=model)
            loss = model.loss(adapted, xq, yq).mean()
    elif method in REPTILE_METHODS:  # the outer "gradient" is minus the inner-loop update
        adapted = inner_update(theta, xs, ys, alpha, steps=inner_steps, model=model)
        grads = theta - adapted
        loss = model.loss(adapted, xq, yq).mean()
    else:
        grads, adapted, loss = maml_meta_gradients(theta, xs, ys, xq, yq, alpha,
                                                   inner_steps=inner_steps,
                                                   first_order=first_order, model=model,
                                                   with_adapted=True)
    if method in GA_METHODS:
        weights = ga_weights(theta - adapted, normalization=normalization)
    else:
        weights = np.full(adapted.shape[0], 1.0 / adapted.shape[0])
    return weights @ grads, weights, loss


@checked
def meta_step(theta, batch: TaskBatch, *, alpha: float, beta: float, method: str = "maml",
              inner_steps: int = 1, first_order: bool = False, normalization: str = "paper",
              model=None) -> tuple[np.ndarray, np.ndarray]:
    """One plain meta-update, ``theta - beta * direction`` (notebooks 03 and 04, section 5).

    See ``outer_direction`` for the rules. -> (new theta (P,), weights (T,)).
    """
    direction, weights, _ = outer_direction(
        theta, batch, method=method, alpha=alpha, inner_steps=inner_steps,
        first_order=first_order, normalization=normalization, model=model)
    return theta - beta * direction, weights


class Adam:
    """Adam (Kingma and Ba, 2015) as the outer update (notebook 06, section 5).

    ``step(theta, g)`` returns ``theta - beta * m_hat / (sqrt(v_hat) + eps)``, with ``m`` and
    ``v`` running means of the direction ``g`` and of its square, bias-corrected: any rescaling
    of ``g`` divides out.
    """

    @checked
    def __init__(self, beta: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
        self.beta, self.b1, self.b2, self.eps = beta, b1, b2, eps
        self.m = self.v = 0.0
        self.t = 0

    def step(self, theta: np.ndarray, g: np.ndarray) -> np.ndarray:
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g
        m_hat = self.m / (1 - self.b1 ** self.t)
        v_hat = self.v / (1 - self.b2 ** self.t)
        return theta - self.beta * m_hat / (np.sqrt(v_hat) + self.eps)


CHUNK = 100  # meta-batches drawn per call to the sampler


@checked
def training_batches(config: MetaConfig):
    """The meta-batches ``meta_train(config)`` trains on, one per meta-iteration (notebook 03,
    section 5): the train stream of ``seed_streams(config.seed)``, drawn ``CHUNK`` at a time."""
    rng = seed_streams(config.seed).train
    for first in range(0, config.meta_iterations, CHUNK):
        n = min(CHUNK, config.meta_iterations - first)
        stack = (draw_sine_tasks(rng, n, config) if isinstance(config, SineConfig)
                 else draw_linear_tasks(rng, n, config))
        yield from stack.unstack()


@checked
def meta_train(config: MetaConfig, callback=None, *, theta0=None, model=None):
    """Meta-train theta with ``config.method`` for ``config.meta_iterations`` meta-iterations
    (notebook 03, section 5): every iteration takes a fresh batch of tasks and one outer step.

    ``model`` defaults to the config's family's; ``theta0`` to a random start from the seed.
    ``Run`` (the bookkeeping, ``gamaml/training.py``) records the query loss and the weights,
    scores the held-out tasks every ``eval_every`` iterations and calls
    ``callback(iteration, history)``; it raises ``Diverged`` when theta stops being finite.
    Returns the ``History``.
    """
    c = config
    model = make_model(c) if model is None else model
    theta = model.init(seed_streams(c.seed).init) if theta0 is None else theta0
    step = Adam(c.beta).step if c.outer == "adam" else lambda t, d: t - c.beta * d
    rule = dict(method=c.method, alpha=c.alpha, inner_steps=c.inner_steps,
                first_order=c.first_order, normalization=c.normalization, model=model)
    run = Run(c, model, theta, callback)
    with run.watch():
        for batch in training_batches(c):
            direction, weights, loss = outer_direction(theta, batch, **rule)
            theta = step(theta, direction)
            run.record(theta, batch, weights, loss)
    return run.done()

# ---------------------------------------------------------------------------------------------
# The machinery's public names, re-exported so that gh.<name> reaches them (not the lesson)
# ---------------------------------------------------------------------------------------------

from gamaml.config import *  # noqa: F403 -- each module's __all__ lists its public names
from gamaml.evaluation import *  # noqa: F403
from gamaml.exercises import *  # noqa: F403
from gamaml.plots import *  # noqa: F403
from gamaml.training import *  # noqa: F403
from gamaml.variants import *  # noqa: F403
