"""Checkers of notebook 02's exercises (the single-layer network). Not part of the lesson."""

from __future__ import annotations

import contextlib
import functools
import tracemalloc

import numpy as np

from gamaml.exercise_checks._common import as_number, helpers, named, write_first
from gamaml.exercises import (
    _refusing,
    check_exercise,
    check_prediction,
    compare_answer,
    forbidding,
    forbidding_notebook,
    references,
)

__all__ = [
    "check_exercise_hvp_without_hessian",
    "check_exercise_log_sigmoid",
    "check_exercise_one_step_prediction",
    "check_exercise_weighted_bce_grad",
]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -z))


# ---------------------------------------------------------------------------------------------
# Exercise 1: a stable log-sigmoid
# ---------------------------------------------------------------------------------------------

LOGITS = np.array([-800.0, -100.0, -40.0, -3.0, -1e-9, 0.0, 2.5, 40.0, 100.0, 800.0])


def _log_sigmoid(z: np.ndarray) -> np.ndarray:
    """log sigmoid(z) = min(z, 0) - log1p(exp(-|z|)), accurate to the last digits."""
    return np.minimum(z, 0.0) - np.log1p(np.exp(-np.abs(z)))


def _first_failing(fn, z: np.ndarray) -> float | None:
    """The first logit on which ``fn`` raises a floating-point error, alone."""
    for value in z:
        try:
            with np.errstate(over="raise", divide="raise", invalid="raise"):
                fn(np.array([value]))
        except FloatingPointError:
            return float(value)
        except Exception:  # noqa: BLE001 - another error: not the one we locate
            continue
    return None


def _library_log_sigmoids() -> list[tuple[object, str, str]]:
    """np.logaddexp and np.logaddexp2 (and scipy.special's log_expit and expit, if scipy is
    there), each with the message that refuses it: each is a log-sigmoid in one call, the
    exercise's answer from a library."""
    targets = [(np, "logaddexp"), (np, "logaddexp2")]
    try:
        import scipy.special
    except ImportError:  # scipy is optional
        pass
    else:
        targets += [(scipy.special, name) for name in ("log_expit", "expit")
                    if hasattr(scipy.special, name)]
    return [(module, name, f"this exercise asks for your own code: {module.__name__}.{name} is "
                           "a log-sigmoid in one call and does not count")
            for module, name in targets]


@contextlib.contextmanager
def _own_code_only():
    with (forbidding(helpers(), "sigmoid", "bce_loss", "_softplus"),
          forbidding_notebook("my_softplus", "my_bce_terms"),
          _refusing(_library_log_sigmoids())):
        yield


def check_exercise_log_sigmoid(fn):
    """Exercise 1: ``fn(z)`` = log sigmoid(z) for an array of logits, finite and accurate for
    every float (relative error below 1e-9, also where it is tiny, at z = 40 and 100), with
    overflow, division by zero and invalid operations turned into errors. A helper's or a
    library's log-sigmoid (gh.sigmoid, gh.bce_loss, gh's softplus, np.logaddexp, scipy's
    log_expit) does not count."""
    z = LOGITS
    right = _log_sigmoid(z)
    mistakes = {
        "log sigmoid(-z) = log(1 - sigmoid(z)): the sign of z is flipped": _log_sigmoid(-z),
        "-log sigmoid(z), the cross-entropy of a label 1: log sigmoid(z) is never positive":
            -right,
        "-log1p(exp(-|z|)) alone: right for z >= 0 only; for z < 0 add z (min(z, 0) - ...)":
            -np.log1p(np.exp(-np.abs(z))),
    }

    def test():
        library = {f"{module.__name__}.{name}": getattr(module, name)
                   for module, name, _ in _library_log_sigmoids()}
        alias = references(fn, library)
        if alias is not None:
            return (f"your function calls {alias} (under another name): it is a log-sigmoid in "
                    "one call and does not count")
        try:
            with _own_code_only(), np.errstate(over="raise", divide="raise", invalid="raise"):
                got = fn(z.copy())
        except FloatingPointError as exc:
            with _own_code_only():
                where = _first_failing(fn, z)
            at = f" at z = {where:g}" if where is not None else ""
            return (f"your code raised FloatingPointError ({exc}){at}: that is the naive "
                    "log(sigmoid(z)): exp(-z) overflows for z < -709.78, and sigmoid(z) "
                    "underflows to 0 (log 0) already near z = -745; let exp see only -|z|")
        if got is None:
            return "my_log_sigmoid returned None"
        try:
            got = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            return f"my_log_sigmoid should return numbers, got {type(got).__name__}"
        if got.shape != z.shape:
            return f"expected shape {z.shape}, got {got.shape}"
        if not np.all(np.isfinite(got)):
            return f"not finite at z = {z[~np.isfinite(got)][0]:g}"
        close = np.isclose(got, right, rtol=1e-9, atol=0)
        if close.all():
            return None
        i = int(np.argmin(close))
        hint = f"wrong values: yours {got[i]:.6g}, expected {right[i]:.6g} at z = {z[i]:g}"
        for name, wrong in mistakes.items():
            if np.allclose(got, wrong, rtol=1e-6, atol=1e-12):
                return f"{hint}. These are {name}"
        tiny = np.abs(right) < 1e-15
        if np.allclose(got[~tiny], right[~tiny], rtol=1e-9, atol=0) and \
                np.all(np.abs(got[tiny]) <= np.abs(right[tiny]) * 1e-3):
            return (f"{hint}: the tiny value is lost. log(1 + t) rounds 1 + t to 1 for tiny "
                    "t (np.log1p(t) keeps it), and z - softplus(z) cancels, 40 - 40 = 0 "
                    "(simplify for z >= 0 first)")
        return hint

    return check_exercise(test)


# ---------------------------------------------------------------------------------------------
# Exercise 2: the gradient of a weighted loss
# ---------------------------------------------------------------------------------------------


def _weighted_cases():
    gh = helpers()
    rng = np.random.default_rng(2)
    cases = []
    for k, d, weights in ((12, 8, "uniform(0, 3)"), (5, 3, "some zero"), (6, 4, "equal")):
        data = gh.sample_tasks(1, k, n_features=d, rng=rng)
        theta = 2.0 * gh.init_theta(d, rng=rng)
        if weights == "uniform(0, 3)":
            c = rng.uniform(0.0, 3.0, size=k)
        elif weights == "some zero":
            c = np.array([2.0, 0.0, 1.0, 0.0, 5.0])
        else:
            c = np.full(k, 0.5)
        cases.append((theta, data.x_support[0], data.y_support[0], c, weights))
    return cases


def check_exercise_weighted_bce_grad(fn):
    """Exercise 2: ``fn(theta, x, y, c)``, the gradient of sum_n c_n l_n / sum_n c_n for one
    task: x^T (c * (p - y)) / sum(c). Calling gh.bce_grad inside ``fn`` does not count."""
    gh = helpers()

    def test():
        for theta, x, y, c, weights in _weighted_cases():
            k = len(y)
            residual = _sigmoid(x @ theta) - y
            right = x.T @ (c * residual) / c.sum()
            mistakes = {
                "the gradient without the division by sum(c): the weighted mean divides by the "
                "total weight": x.T @ (c * residual),
                "the weighted sum divided by k: the weighted mean divides by sum(c), not by the "
                "number of points": x.T @ (c * residual) / k,
                "the weighted sum divided by k and by sum(c): divide once, by sum(c)":
                    x.T @ (c * residual) / (k * c.sum()),
                "the unweighted gradient: the weights c_n are missing": x.T @ residual / k,
                "the gradient with the wrong sign: (y - p) instead of (p - y)": -right,
                "the weights squared: c_n enters the gradient once": x.T @ (c**2 * residual)
                / c.sum(),
            }
            with (forbidding(gh, "bce_grad"),
                  _refusing([(gh.LogisticUnit, name, "this exercise asks for your own code: "
                              f"gh.LogisticUnit.{name} computes the gradient and does not count")
                             for name in ("loss_and_grad", "grad_and_hvp", "grad")])):
                got = fn(theta.copy(), x.copy(), y.copy(), c.copy())
            hint = compare_answer(got, right, name="weighted_bce_grad", rtol=1e-6, atol=1e-10,
                                  where=f" for k = {k} points with weights {weights}")
            if hint is not None:
                return named(hint, got, mistakes)
        return None

    return check_exercise(test)


# ---------------------------------------------------------------------------------------------
# Exercise 3: a Hessian-vector product without the Hessian
# ---------------------------------------------------------------------------------------------

BIG_D = 2000  # a d x d float matrix here is 32 MB; the product needs a few kB


def _peak_bytes(call) -> tuple[object, int]:
    """``call()``'s result and the peak memory it allocated (numpy reports to tracemalloc)."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        result = call()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        if started:
            tracemalloc.stop()
    return result, peak


def _hvp_cases() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(x, theta, v): single tasks of several sizes, a batch, and two cases large enough that
    a d x d matrix shows in the memory the call allocates."""
    gh = helpers()
    rng = np.random.default_rng(3)
    cases = []
    for t, k, d in ((None, 10, 50), (None, 3, 7), (None, 40, 5), (4, 6, 9), (None, 5, BIG_D),
                    (3, 5, BIG_D // 2)):
        data = gh.sample_tasks(t or 1, k, n_features=d, rng=rng)
        theta = 2.0 * np.stack([gh.init_theta(d, rng=rng) for _ in range(t or 1)])
        v = rng.standard_normal((t or 1, d))
        x = data.x_support
        cases.append((x[0], theta[0], v[0]) if t is None else (x, theta, v))
    return cases


def check_exercise_hvp_without_hessian(fn):
    """Exercise 3: ``fn(theta, x, v)`` = H v with H = x^T diag(p (1 - p)) x / k, for one task
    (theta, v (d,), x (k, d)) and for a batch (theta, v (T, d), x (T, k, d)), without a d x d
    matrix (the cases with d = 2000 and d = 1000 measure the memory the call allocates).
    Calling gh.bce_hvp or gh.bce_hessian (or gh's _hvp) inside ``fn`` does not count."""
    gh = helpers()

    def test():
        for x, theta, v in _hvp_cases():
            k, d = x.shape[-2:]
            p = _sigmoid(np.einsum("...kd,...d->...k", x, theta))
            xv = np.einsum("...kd,...d->...k", x, v)

            def back(r, x=x):  # x^T r per task
                return np.einsum("...kd,...k->...d", x, r)

            right = back(p * (1 - p) * xv) / k
            mistakes = {
                "x^T x v / k without the curvature weights: the sigmoid's derivative "
                "p (1 - p) of every point is missing": back(xv) / k,
                "the weights p instead of p (1 - p): the Hessian weighs each point by the "
                "derivative of the sigmoid, p (1 - p)": back(p * xv) / k,
                "the weights (1 - p) instead of p (1 - p)": back((1 - p) * xv) / k,
                "the product without the 1/k": back(p * (1 - p) * xv),
                "the product divided by d, not by the number of points k": right * k / d,
                "the Hessian at theta = 0 (p = 1/2 everywhere): take p at the theta given":
                    back(0.25 * xv) / k,
            }
            if x.ndim == 3:
                mistakes["the product divided by x.shape[0], which is the number of tasks T "
                          "for a batch: the points are on axis -2"] = right * k / len(x)
            batch = f"a batch of {len(x)} tasks of " if x.ndim == 3 else ""
            where = f" for {batch}k = {k} points in d = {d} dimensions"
            try:
                with forbidding(gh, "bce_hvp", "bce_hessian", "_hvp"):
                    got, peak = _peak_bytes(lambda x=x, theta=theta, v=v: fn(theta.copy(),
                                                                             x.copy(), v.copy()))
            except (ValueError, IndexError) as exc:  # shapes: most often the batch case
                pairing = (": x is (T, k, d) and theta, v are (T, d) here, so x @ theta does "
                           "not pair each task with its own theta; einsum with '...' does (section "
                           "3's my_bce_grad)") if x.ndim == 3 else ""
                return f"your code raised {type(exc).__name__}{where}{pairing} ({exc})"
            hint = compare_answer(got, right, name="my_hvp", rtol=1e-6, atol=1e-10, where=where)
            if hint is not None:
                return named(hint, got, mistakes)
            tasks = len(x) if x.ndim == 3 else 1
            if d >= BIG_D // 2 and peak > tasks * d * d * 8 / 4:
                return (f"right values, but the call allocated {peak / 1e6:.0f} MB{where}: "
                        f"you formed the {d} x {d} Hessian (or another d x d matrix); two "
                        "matrix-vector products per task need only a few kB")
        return None

    return check_exercise(test)


# ---------------------------------------------------------------------------------------------
# Exercise 4: predict, then run (the support loss after one gradient step)
# ---------------------------------------------------------------------------------------------

SMALL_ALPHA, LARGE_ALPHA = 0.1, 2.0
TOLERANCE = 0.003


@functools.lru_cache(maxsize=1)
def _one_step() -> dict[str, float]:
    """Section 1's task and start, redrawn as the notebook draws them (seed 0): the support
    loss and gradient at theta0, and the support loss after one step at the two rates."""
    gh = helpers()
    rng = np.random.default_rng(0)
    task = gh.sample_tasks(1, 10, k_query=1000, rng=rng)
    theta0 = gh.init_theta(50, rng=rng)
    x, y = task.x_support[0], task.y_support[0]
    grad = gh.bce_grad(theta0, x, y)
    loss = float(gh.bce_loss(theta0, x, y))
    squared = float(grad @ grad)
    return {"loss": loss, "grad_norm": float(np.sqrt(squared)),
            "small": float(gh.bce_loss(theta0 - SMALL_ALPHA * grad, x, y)),
            "large": float(gh.bce_loss(theta0 - LARGE_ALPHA * grad, x, y)),
            "first_order_large": loss - LARGE_ALPHA * squared}


def check_exercise_one_step_prediction(loss_after_small_step, large_step_measured_is):
    """Exercise 4: the support loss after one step of size 0.1 predicted from the printed
    0.770 and 0.686 (first order: L - alpha |g|^2), within 0.003 of the run; and whether the
    measured loss after a step of size 2 is "above" or "below" the first-order value. Prints
    the prediction beside the measurement."""
    def test():
        unwritten = write_first({"loss_after_small_step": loss_after_small_step,
                                 "large_step_measured_is": large_step_measured_is})
        if unwritten:
            return unwritten, None
        small = as_number(loss_after_small_step)
        if small is None:
            return "loss_after_small_step should be one number, a loss", None
        side = str(large_step_measured_is).strip().lower()
        if side not in ("above", "below"):
            return "large_step_measured_is should be 'above' or 'below'", None
        return _one_step_verdict(small, side)

    return check_prediction(test)


def _one_step_verdict(small: float, side: str) -> tuple[str | None, str | None]:
    """Exercise 4's (hint, values) for a prediction already read as a number and a side."""
    m = _one_step()
    loss, norm = 0.770, 0.686  # the printed numbers the student works from
    both = (f"alpha = {SMALL_ALPHA}: yours {small:.4f}, measured {m['small']:.4f}; "
            f"alpha = {LARGE_ALPHA:g}: first order {m['first_order_large']:.3f}, "
            f"measured {m['large']:.3f}")
    hints = []
    if abs(small - m["small"]) > TOLERANCE:
        known = [(loss - SMALL_ALPHA * norm, "the first-order change is alpha |g|^2, with the "
                                             "norm squared"),
                 (loss + SMALL_ALPHA * norm**2, "a step along -g lowers the loss: subtract "
                                                "alpha |g|^2"),
                 (loss - norm**2, "that is the first-order value for alpha = 1: multiply |g|^2 "
                                  "by alpha = 0.1"),
                 (loss - SMALL_ALPHA**2 * norm**2, "alpha enters the first-order change once, "
                                                   "not squared"),
                 (loss, "the loss does change after one step: by about alpha |g|^2")]
        why = next((text for value, text in known if abs(small - value) < 0.001),
                   f"more than {TOLERANCE} away")
        hints.append(f"alpha = {SMALL_ALPHA}: {why}")
    truth = "above" if m["large"] > m["first_order_large"] else "below"
    if side != truth:
        hints.append(f"alpha = {LARGE_ALPHA:g}: the measured loss is {truth} the first-order "
                     "value; a convex loss lies above every tangent")
    return (f"{both} ({'; '.join(hints)})", None) if hints else (None, f"{both}, {truth}")
