"""Input validation at the public boundary of the lesson (``gamaml_helpers``).

Not part of the lesson: a student reads the maths in ``gamaml_helpers.py``; this module makes it
safe to call. Every public lesson function carries ``@checked``: its arguments are validated
here, once, by the function of this module with the same name, which raises ``ValueError``
naming the bad argument and returns the arguments converted (arrays as floats, seeds as
Generators, a missing model inferred). A call made from inside another checked function (the
training loop calling ``maml_meta_gradients``, say) is not validated again: its inputs were.

The primitives (``positive``, ``integer``, ``array``, ...) are public for the widgets.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import threading
from collections.abc import Callable

import numpy as np

from gamaml import variants as V

# ---------------------------------------------------------------------------------------------
# The boundary
# ---------------------------------------------------------------------------------------------

class _State(threading.local):
    inside = False  # a checked function is running in this thread


_state = _State()


def checked(fn: Callable) -> Callable:
    """Validate ``fn``'s arguments with ``VALIDATORS[fn.__qualname__]`` when called from outside.

    The validator gets the bound arguments as attributes of one object, checks and converts
    them in place; ``fn`` then runs with them. Nested calls skip validation.
    """
    signature = inspect.signature(fn)
    name = fn.__qualname__

    @functools.wraps(fn)
    def public(*args, **kwargs):
        if _state.inside:
            return fn(*args, **kwargs)
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = _Arguments(bound.arguments)
        VALIDATORS[name](arguments)
        _state.inside = True
        try:
            return fn(**arguments.__dict__)
        finally:
            _state.inside = False

    return public


class _Arguments:
    """The bound arguments of one call, as attributes a validator can replace."""

    def __init__(self, arguments: dict):
        self.__dict__.update(arguments)


@contextlib.contextmanager
def unchecked():
    """Run a block as if inside a checked function: no validation. For benchmarks that time the
    maths alone; the caller vouches for the inputs."""
    inside = _state.inside
    _state.inside = True
    try:
        yield
    finally:
        _state.inside = inside


def outside(fn: Callable, *args):
    """Call ``fn`` (the caller's own code, a callback) as from outside: checks apply again."""
    inside = _state.inside
    _state.inside = False
    try:
        return fn(*args)
    finally:
        _state.inside = inside


VALIDATORS: dict[str, Callable[[_Arguments], None]] = {}


def validates(name: str):
    """Register the validator of the checked lesson function named ``name``."""
    def register(validator):
        VALIDATORS[name] = validator
        return validator
    return register


def _gh():
    """The lesson module (imported late: it imports this one)."""
    import gamaml_helpers

    return gamaml_helpers

# ---------------------------------------------------------------------------------------------
# Primitives: each returns the value converted, or raises ValueError naming the argument
# ---------------------------------------------------------------------------------------------


def is_real(value) -> bool:
    """True for a real number (Python or numpy int or float); False for a bool or anything else."""
    return isinstance(value, (int, float, np.integer, np.floating)) \
        and not isinstance(value, (bool, np.bool_))


def is_int(value) -> bool:
    """True for a Python or numpy integer, False for a bool or anything else."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def positive(name: str, value: float) -> float:
    """``value`` as a float; it must be a finite number > 0."""
    if not is_real(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def value_range(name: str, value) -> tuple[float, float]:
    """``value`` as a (low, high) pair of finite numbers with low <= high."""
    if not isinstance(value, (tuple, list)) or len(value) != 2 or not all(map(is_real, value)) \
            or not all(map(math.isfinite, value)) or value[0] > value[1]:
        raise ValueError(f"{name} must be a (low, high) pair of finite numbers with low <= high,"
                         f" got {value!r}")
    return float(value[0]), float(value[1])


def integer(name: str, value: int, minimum: int = 1) -> int:
    """``value``; it must be an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def nonnegative(name: str, value: float) -> float:
    """``value`` as a float; it must be a finite number >= 0."""
    if not is_real(value) or not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def fraction(name: str, value: float) -> float:
    """``value`` as a float; it must lie in [0, 1]."""
    if not is_real(value):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return float(value)


def boolean(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def angle(name: str, value: float) -> float:
    if not is_real(value) or not 0 <= value <= 180:
        raise ValueError(f"{name} must be a number of degrees in [0, 180], got {value!r}")
    return float(value)


def array(name: str, value, ndims: tuple[int, ...]) -> np.ndarray:
    """``value`` as a finite float array with one of the allowed numbers of axes."""
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


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a Generator, an int seed or None (fresh)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise ValueError(f"rng must be a numpy.random.Generator, an int seed or None, got {rng!r}")


def task_data(theta, x, y=None, names=("theta", "x", "y"), *, n_params=None, n_inputs=None):
    """Validate ``theta (P,) | (T, P)``, ``x (k, d) | (T, k, d)``, ``y (k,) | (T, k)``.

    ``n_params`` (P) and ``n_inputs`` (d) are the model's, if given; without ``n_inputs``, x
    must have as many features as theta has parameters (the sigmoid unit). ``names`` are the
    caller's argument names, used in the error messages. Returns (theta, x) or (theta, x, y).
    """
    tn, xn, yn = names
    theta = array(tn, theta, (1, 2))
    x = array(xn, x, (2, 3))
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
    y = array(yn, y, (1, 2))
    if y.shape != x.shape[:-1]:
        raise ValueError(f"{yn} must have shape {x.shape[:-1]} to match {xn}, got {y.shape}")
    return theta, x, y


def labels(name: str, y: np.ndarray) -> np.ndarray:
    """Binary cross-entropy takes labels (or soft labels) in [0, 1]."""
    if np.any((y < 0) | (y > 1)):
        raise ValueError(f"{name} must hold labels in [0, 1]")
    return y


def unit_inputs(model, theta, x, y=None, names=("theta", "x", "y")):
    """The sigmoid unit's inputs: d features, d parameters, labels in [0, 1]."""
    checked_data = task_data(theta, x, y, names, n_params=model.n_features)
    if len(checked_data) == 3:
        labels(names[2], checked_data[2])
    return checked_data


def sizes(value) -> tuple[int, ...]:
    """An MLP's ``sizes``: at least two positive integers, the last one 1 (one output)."""
    ok = isinstance(value, (tuple, list)) and len(value) >= 2 and all(
        is_int(n) and n >= 1 for n in value)
    if not ok:
        raise ValueError(f"sizes must be a tuple of at least 2 positive integers (input, "
                         f"hidden..., output), got {value!r}")
    if value[-1] != 1:
        raise ValueError(f"sizes must end with 1 (one output per point), got {value!r}")
    return tuple(int(n) for n in value)


MODEL_METHODS = ("init", "loss", "grad", "loss_and_grad", "grad_and_hvp", "score",
                 "check_inputs")  # and the attribute n_params


def model_for(model, theta: np.ndarray, x_name: str = "x", x=None):
    """The model to use. Given: it must offer the interface. Missing: inferred from the data, a
    ``LogisticUnit`` when theta has one parameter per feature of x; any other shape needs
    ``model=`` (an MLP's theta never has as many entries as its input has features)."""
    if model is None:
        n_inputs = np.shape(x)[-1] if x is not None and np.ndim(x) else None
        if n_inputs is not None and n_inputs != theta.shape[-1]:
            raise ValueError(f"model is needed: theta has {theta.shape[-1]} parameters and "
                             f"{x_name} has {n_inputs} features, which is no LogisticUnit; "
                             f"pass model= (for example gh.MLP(...))")
        return _gh().LogisticUnit(theta.shape[-1])
    missing = [m for m in MODEL_METHODS if not callable(getattr(model, m, None))]
    missing += [] if is_int(getattr(model, "n_params", None)) else ["n_params"]
    if missing:
        raise ValueError(f"model must offer n_params, {', '.join(MODEL_METHODS)}; "
                         f"{type(model).__name__} lacks {', '.join(missing)}")
    return model


def batch_for(model, theta, batch):
    """(model, theta) for a shared ``theta (P,)`` and a TaskBatch whose arrays fit it."""
    theta = array("theta", theta, (1,))
    if not isinstance(batch, _gh().TaskBatch):
        raise ValueError(f"batch must be a TaskBatch, got {type(batch).__name__}")
    model = model_for(model, theta, "batch.x_support", batch.x_support)
    for part in ("support", "query"):
        model.check_inputs(theta, getattr(batch, f"x_{part}"), getattr(batch, f"y_{part}"),
                           ("theta", f"batch.x_{part}", f"batch.y_{part}"))
    return model, theta


def config(value):
    if not isinstance(value, _gh().MetaConfig):
        raise ValueError(f"config must be a LinearConfig or a SineConfig, got "
                         f"{type(value).__name__}")
    return value

# ---------------------------------------------------------------------------------------------
# The validators, one per checked lesson function, in the lesson's order
# ---------------------------------------------------------------------------------------------


@validates("sample_points")
def _(a):
    a.k, a.n_features = integer("k", a.k), integer("n_features", a.n_features)
    a.rng = as_generator(a.rng)


@validates("default_direction")
def _(a):
    a.n_features = integer("n_features", a.n_features)


@validates("minority_direction")
def _(a):
    a.n_features, a.angle = integer("n_features", a.n_features), angle("angle", a.angle)
    if a.n_features == 1 and a.angle not in (0, 180):
        raise ValueError("angle must be 0 or 180 when n_features is 1")


def _draw(a, family: str):
    a.rng = as_generator(a.rng)
    a.n_batches = integer("n_batches", a.n_batches)
    if not isinstance(a.f, getattr(_gh(), family)):
        raise ValueError(f"f must be a {family} (or a config of that family), got "
                         f"{type(a.f).__name__}")


@validates("draw_linear_tasks")
def _(a):
    _draw(a, "LinearTasks")
    if a.direction is not None:
        u = array("direction", a.direction, (1,))
        if u.shape != (a.f.n_features,) or not np.any(u):
            raise ValueError(f"direction must be a non-zero vector of shape "
                             f"({a.f.n_features},), got shape {u.shape}")
        a.direction = u


@validates("draw_sine_tasks")
def _(a):
    _draw(a, "SineTasks")


@validates("sample_tasks")
def _(a):
    a.rng = as_generator(a.rng)
    if a.direction is not None:
        n_features = integer("n_features", a.n_features)
        u = array("direction", a.direction, (1,))
        if u.shape != (n_features,) or not np.any(u):
            raise ValueError(f"direction must be a non-zero vector of shape ({n_features},), "
                             f"got shape {u.shape}")
        a.direction = u


@validates("sample_sine_tasks")
def _(a):
    a.rng = as_generator(a.rng)


@validates("TaskBatch.concatenate")
def _(a):
    batches = list(a.batches) if isinstance(a.batches, (list, tuple)) else []
    if not batches or not all(isinstance(b, _gh().TaskBatch) for b in batches):
        raise ValueError("batches must be a non-empty list of TaskBatch")
    shapes = {(b.x_support.shape[1:], b.x_query.shape[1:]) for b in batches}
    if len(shapes) > 1:
        raise ValueError(f"batches must have equal shots and features, got {sorted(shapes)}")
    a.batches = batches


@validates("sigmoid")
def _(a):
    a.z = array("z", a.z, (0, 1, 2, 3, 4))


def _unit_data(a, with_y=True):
    """theta, x (and y) of the sigmoid unit's functions: d features, d weights."""
    theta = array("theta", a.theta, (1, 2))
    checked_data = task_data(theta, a.x, a.y if with_y else None)
    if with_y:
        a.theta, a.x, a.y = checked_data
        labels("y", a.y)
    else:
        a.theta, a.x = checked_data


for _name in ("bce_loss", "bce_grad", "accuracy"):
    validates(_name)(_unit_data)


@validates("bce_hvp")
def _(a):
    _unit_data(a, with_y=False)
    a.v = array("v", a.v, (1, 2))
    task_data(a.v, a.x, names=("v", "x", "y"))  # v: the same shape rules as theta


@validates("bce_hessian")
def _(a):
    _unit_data(a, with_y=False)


@validates("LogisticUnit.__init__")
def _(a):
    a.n_features = integer("n_features", a.n_features)


@validates("MLP.__init__")
def _(a):
    a.sizes = sizes(a.sizes)
    a.activation = choice("activation", a.activation, V.ACTIVATIONS)


@validates("init_theta")
def _(a):
    a.n_features, a.rng = integer("n_features", a.n_features), as_generator(a.rng)


@validates("inner_update")
def _(a):
    theta = array("theta", a.theta, (1, 2))
    a.model = model_for(a.model, theta, "x", a.x)
    a.theta, a.x, a.y = a.model.check_inputs(theta, a.x, a.y)
    a.alpha, a.steps = positive("alpha", a.alpha), integer("steps", a.steps)


@validates("maml_meta_gradients")
def _(a):
    theta = array("theta", a.theta, (1, 2))
    a.model = model_for(a.model, theta, "x_support", a.x_support)
    a.theta, a.x_support, a.y_support = a.model.check_inputs(
        theta, a.x_support, a.y_support, ("theta", "x_support", "y_support"))
    _, a.x_query, a.y_query = a.model.check_inputs(theta, a.x_query, a.y_query,
                                                   ("theta", "x_query", "y_query"))
    xs, xq = a.x_support, a.x_query
    if xq.ndim != xs.ndim or xq.shape[:-2] != xs.shape[:-2]:
        raise ValueError(f"x_query of shape {xq.shape} does not match x_support of shape "
                         f"{xs.shape} (same tasks and features)")
    a.alpha = positive("alpha", a.alpha)
    a.inner_steps = integer("inner_steps", a.inner_steps)
    a.first_order = boolean("first_order", a.first_order)
    a.with_adapted = boolean("with_adapted", a.with_adapted)


@validates("ga_weights")
def _(a):
    a.updates = array("updates", a.updates, (2,))
    a.normalization = choice("normalization", a.normalization, V.NORMALIZATIONS)


def _rule(a):
    """The settings of an outer rule, as ``outer_direction`` and ``meta_step`` take them."""
    a.method = choice("method", a.method, V.METHODS)
    a.alpha = positive("alpha", a.alpha)
    a.inner_steps = integer("inner_steps", a.inner_steps)
    a.first_order = boolean("first_order", a.first_order)
    a.normalization = choice("normalization", a.normalization, V.NORMALIZATIONS)


@validates("outer_direction")
def _(a):
    a.model, a.theta = batch_for(a.model, a.theta, a.batch)
    _rule(a)


@validates("meta_step")
def _(a):
    a.model, a.theta = batch_for(a.model, a.theta, a.batch)
    _rule(a)
    a.beta = positive("beta", a.beta)


@validates("Adam.__init__")
def _(a):
    a.beta, a.eps = positive("beta", a.beta), positive("eps", a.eps)
    for name in ("b1", "b2"):
        value = getattr(a, name)
        if not is_real(value) or not 0 <= value < 1:
            raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
        setattr(a, name, float(value))


@validates("adapt_and_evaluate")
def _(a):
    a.model, a.theta = batch_for(a.model, a.theta, a.batch)
    a.alpha = positive("alpha", a.alpha)
    a.steps = integer("steps", a.steps, minimum=0)


@validates("make_model")
def _(a):
    config(a.config)


@validates("training_batches")
def _(a):
    config(a.config)


@validates("meta_train")
def _(a):
    c = config(a.config)
    if a.callback is not None and not callable(a.callback):
        raise ValueError("callback must be callable or None")
    if a.model is None:
        with unchecked():  # the config was just checked
            a.model = _gh().make_model(c)
    else:
        a.model = model_for(a.model, np.zeros(getattr(a.model, "n_params", 1)))
    if a.theta0 is not None:
        a.theta0 = array("theta0", a.theta0, (1,)).copy()
        if a.theta0.shape != (a.model.n_params,):
            raise ValueError(f"theta0 must have shape ({a.model.n_params},), got "
                             f"{a.theta0.shape}")
