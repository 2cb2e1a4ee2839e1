"""Checkers of notebook 06's exercises (sine waves). Not part of the lesson."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from gamaml.exercise_checks._common import as_number, named, write_first
from gamaml.exercises import _refusing, check_exercise, check_prediction, compare_answer, forbidding

__all__ = ['check_exercise_error_curve', 'check_exercise_predict_floor',
           'check_exercise_reptile_direction', 'check_exercise_step_derivative']


def _named_shape(hint: str, got, shapes: dict) -> str:
    """The hint, and what a known wrong shape of ``got`` means, if it is one."""
    if hint.startswith("expected shape"):
        meaning = shapes.get(np.shape(got))
        if meaning:
            return f"{hint}: {meaning}"
    return hint


def _refusing_method(cls, name: str):
    """Within the block, ``net.<name>`` raises for every instance of ``cls`` (the exact product
    an exercise asks to check by differences)."""
    return _refusing([(cls, name, f"this exercise asks for differences: calling net.{name} does "
                                  "not count")])


# ---------------------------------------------------------------------------------------------
# Exercise 1: the error after 0, 1, ..., max_steps steps
# ---------------------------------------------------------------------------------------------


def _curve(net, theta, x_fit, y_fit, x_score, y_score, alpha, rows, sign=1.0):
    """Query MSE (rows, T) after 0 .. rows - 1 steps on (x_fit, y_fit), scored on x_score."""
    adapted = np.broadcast_to(theta, (len(x_fit), theta.size))
    out = []
    for _ in range(rows):
        out.append(net.loss(adapted, x_score, y_score))
        adapted = adapted - sign * alpha * net.grad(adapted, x_fit, y_fit)
    return np.array(out)


def check_exercise_error_curve(fn):
    """Exercise 1: ``fn(net, theta, tasks, alpha, max_steps)`` is the query MSE per task after
    0, 1, ..., max_steps plain steps on the support points, shape (max_steps + 1, T). Calling
    gh.inner_update or gh.adapt_and_evaluate inside ``fn`` does not count."""
    import gamaml_helpers as gh

    def test():
        alpha = 0.05
        for activation, max_steps in (("tanh", 3), ("relu", 2)):
            net = gh.MLP((1, 16, 16, 1), activation)
            theta = net.init(np.random.default_rng(31))
            tasks = gh.sample_sine_tasks(6, 10, k_query=20, rng=np.random.default_rng(32))
            xs, ys, xq, yq = tasks.x_support, tasks.y_support, tasks.x_query, tasks.y_query
            rows = max_steps + 1
            right = _curve(net, theta, xs, ys, xq, yq, alpha, rows)
            mistakes = {
                "the errors on the support points, which the steps fit: score on the query "
                "points": _curve(net, theta, xs, ys, xs, ys, alpha, rows),
                "steps on the query points: adapt on the support points, score on the query "
                "points": _curve(net, theta, xq, yq, xq, yq, alpha, rows),
                "steps uphill: a gradient step is theta - alpha grad L":
                    _curve(net, theta, xs, ys, xq, yq, alpha, rows, sign=-1.0),
                "each row one step late: row s is the error after s steps, and row 0 the "
                "error before any step": _curve(net, theta, xs, ys, xq, yq, alpha, rows + 1)[1:],
                "sums of squared errors: the MSE is their mean over the query points":
                    right * yq.shape[-1],
            }
            shapes = {
                (max_steps, 6): "row 0 is missing, the error after 0 steps (before adaptation)",
                (rows,): "that is averaged over the tasks: keep one column per task",
                (6, rows): "one row per step count, one column per task: transpose it",
            }
            with forbidding(gh, "inner_update", "adapt_and_evaluate", "meta_step",
                            "outer_direction", "maml_meta_gradients"):
                got = fn(net, theta, tasks, alpha, max_steps)
            hint = compare_answer(got, right, name="error_curve", rtol=1e-7, atol=1e-10,
                                  where=f" for max_steps = {max_steps} ({activation})")
            if hint is not None:
                return _named_shape(named(hint, got, mistakes), got, shapes)
        return None

    return check_exercise(test)


# ---------------------------------------------------------------------------------------------
# Exercise 2: Reptile's direction, uniform or weighted
# ---------------------------------------------------------------------------------------------


def check_exercise_reptile_direction(fn):
    """Exercise 2: ``fn(net, theta, batch, alpha, steps, weights=None)`` is
    sum_i w_i (theta - theta_i') with theta_i' after ``steps`` inner steps; w_i = 1/T when
    ``weights`` is None. Calling gh.meta_step or gh.outer_direction does not count."""
    import gamaml_helpers as gh

    net = gh.MLP((1, 16, 16, 1), "tanh")
    theta = net.init(np.random.default_rng(41))
    batch = gh.sample_sine_tasks(5, 10, rng=np.random.default_rng(42))
    alpha = 0.05
    given = np.array([0.35, -0.1, 0.25, 0.2, 0.1])  # sum |w_i| = 1, one task against the rest

    def updates(steps):
        return theta - gh.inner_update(theta, batch.x_support, batch.y_support, alpha,
                                       steps=steps, model=net)

    def test():
        for steps, weights in ((1, None), (3, None), (3, given)):
            g = updates(steps)
            w = np.full(len(g), 1 / len(g)) if weights is None else weights
            right = w @ g
            mistakes = {
                "the direction with the wrong sign: Reptile's is theta - theta_i', the way "
                "back from the adapted parameters": -right,
                "the mean of the adapted parameters theta_i', not of theta - theta_i'":
                    w @ (theta - g),
                "the direction after one inner step: take `steps` of them":
                    w @ updates(1) if steps > 1 else right,
                "the sum over the tasks, not the mean: w_i = 1/T": g.sum(axis=0),
            }
            if weights is not None:
                mistakes = {
                    "the uniform mean: weight task i's update by weights[i]": g.mean(axis=0),
                    "the weighted sum divided by T once more: the weights are the whole "
                    "normalisation (a weighted sum, not a mean)": right / len(g),
                    "the weighted direction with the wrong sign: theta - theta_i', not "
                    "theta_i' - theta": -right,
                }
            shapes = {(len(g),): "one number per task: you averaged over the parameters "
                                 "(axis 1), average over the tasks (axis 0)"}
            with forbidding(gh, "meta_step", "outer_direction"):
                got = (fn(net, theta, batch, alpha, steps) if weights is None
                       else fn(net, theta, batch, alpha, steps, weights))
            where = (f" for steps = {steps}" + ("" if weights is None else
                                                 f" and weights = {weights.tolist()}"))
            hint = compare_answer(got, right, name="reptile_direction", rtol=1e-7,
                                  atol=1e-12, where=where)
            if hint is not None:
                return _named_shape(named(hint, got, mistakes), got, shapes)
        return None

    return check_exercise(test)


# ---------------------------------------------------------------------------------------------
# Exercise 3: MAML's factor (I - alpha H) v, by differences of one inner step
# ---------------------------------------------------------------------------------------------


def _inner_step(net, x, y, alpha):
    """U(theta) = theta - alpha grad L(theta), L the loss on (x, y)."""
    return lambda theta: theta - alpha * net.grad(theta, x, y)


def _central(f, theta, v, eps):
    """(f(theta + eps v) - f(theta - eps v)) / (2 eps)."""
    return (f(theta + eps * v) - f(theta - eps * v)) / (2 * eps)


def check_exercise_step_derivative(fn):
    """Exercise 3: ``fn(net, theta, x, y, v, alpha, eps)`` is the central difference of one inner
    step U(theta) = theta - alpha grad L(theta) along v, (U(theta + eps v) - U(theta - eps v))
    / 2 eps, per task: about (I - alpha H) v. Checked against the R-operator at eps = 1e-6
    (tanh and ReLU) and against the central difference itself at a coarse eps = 1e-2.
    net.grad_and_hvp (the exact product) and gh.maml_meta_gradients do not count."""
    import gamaml_helpers as gh

    alpha = 0.1

    def test():
        for activation, eps in (("tanh", 1e-6), ("relu", 1e-6), ("tanh", 1e-2)):
            net = gh.MLP((1, 12, 12, 1), activation)
            theta = net.init(np.random.default_rng(51))
            tasks = gh.sample_sine_tasks(3, 10, rng=np.random.default_rng(52))
            x, y = tasks.x_support, tasks.y_support
            v = np.random.default_rng(53).standard_normal((3, net.n_params))
            step = _inner_step(net, x, y, alpha)
            right = _central(step, theta, v, eps)
            hv = _central(functools.partial(net.grad, x=x, y=y), theta, v, eps)
            start = np.broadcast_to(theta, v.shape)
            mistakes = {
                "Hv, the difference of the gradients (section 3): one inner step's derivative "
                "is that of theta - alpha grad L, (I - alpha H) v": hv,
                "-alpha Hv: the identity is missing (theta itself moves by eps v)":
                    -alpha * hv,
                "(I + alpha H) v: the sign of the step, theta - alpha grad L": v + alpha * hv,
                "twice the central difference: the two points are 2 eps apart, divide by 2 eps":
                    2 * right,
                "a one-sided difference (U(theta + eps v) - U(theta)) / eps: at eps = 0.01 it "
                "is off by a term of order eps that the central difference cancels":
                    (step(start + eps * v) - step(start)) / eps,
                "the wrong step: theta + eps moves every parameter by eps; move along v, "
                "theta + eps v": _central(step, theta, np.ones_like(v), eps),
            }
            if eps < 1e-3:  # the exact product, off screen: the R-operator of gh.MLP
                _, hvp = net.grad_and_hvp(theta, x, y)
                reference, rtol, atol = v - alpha * hvp(v), 1e-4, 1e-5
            else:  # coarse: only the central difference itself matches
                reference, rtol, atol = right, 1e-7, 1e-9
            with forbidding(gh, "maml_meta_gradients"), _refusing_method(gh.MLP, "grad_and_hvp"):
                got = fn(net, theta, x, y, v, alpha, eps)
            hint = compare_answer(got, reference, name="step_derivative", rtol=rtol, atol=atol,
                                  where=f" for {activation} at eps = {eps:g}")
            if hint is not None:
                return named(hint, got, mistakes)
        return None

    return check_exercise(test)


# ---------------------------------------------------------------------------------------------
# Exercise 4: predict, then run: the error of a start that ignores the points
# ---------------------------------------------------------------------------------------------


def _measured_floor() -> tuple[float, float, float]:
    """Test MSE before adaptation on 4 000 fresh waves of Finn et al.'s family (20 points
    each): of y = 0, of the mean wave -(2 A_bar / pi) cos x and of the study's pretrained
    (joint) network, seed 0."""
    import gamaml_helpers as gh

    rng = np.random.default_rng(606)
    n, k = 4_000, 20
    amplitude = rng.uniform(0.1, 5.0, (n, 1))
    phase = rng.uniform(0.0, np.pi, (n, 1))
    x = rng.uniform(-5.0, 5.0, (n, k))
    y = amplitude * np.sin(x - phase)
    mean_wave = -2 * 2.55 / np.pi * np.cos(x)
    net = gh.MLP((1, 40, 40, 1), "relu")
    root = Path(__file__).resolve().parents[2]  # the course (or the student kit): results/
    path = root / "benchmarks" / "results" / "sine" / "params" / "finn" / "joint_seed0.npz"
    with np.load(path) as arrays:
        theta = net.flatten([arrays[f"{kind}{layer}"] for layer in (1, 2, 3) for kind in "Wb"])
    pretrained = net.predict(theta, x.reshape(-1, 1)).reshape(n, k)
    return (float(np.mean(y**2)), float(np.mean((y - mean_wave) ** 2)),
            float(np.mean((y - pretrained) ** 2)))


def check_exercise_predict_floor(zero, mean_wave):
    """Exercise 4: the predicted test MSE, before adaptation, of y = 0 and of the mean wave on
    Finn et al.'s waves. Right within 10 % of the measured values; prints both."""
    def test():
        unwritten = write_first({"predicted_zero_4": zero, "predicted_mean_wave_4": mean_wave})
        if unwritten:
            return unwritten, None
        numbers = as_number(zero), as_number(mean_wave)
        if None in numbers:
            return f"your predictions should be numbers, got {zero!r} and {mean_wave!r}", None
        return _floor_verdict(*numbers)

    return check_prediction(test)


def _floor_verdict(zero: float, mean_wave: float) -> tuple[str | None, str | None]:
    """Exercise 4's (hint, values) for two predictions already read as numbers."""
    measured_zero, measured_mean, measured_net = _measured_floor()
    both = (f"your predictions {zero:.2f} (y = 0) and {mean_wave:.2f} (mean wave); measured on "
            f"4 000 fresh waves {measured_zero:.2f} and {measured_mean:.2f} (the pretrained "
            f"network before adaptation: {measured_net:.2f})")

    def near(a, b):
        return abs(a - b) <= 0.1 * abs(b)

    mistakes_zero = {
        2.55**2 / 2: "for y = 0 you squared the mean amplitude: the mean of A^2 is "
                     "A_bar^2 + Var(A) = 6.50 + 2.00",
        8.50: "for y = 0 you forgot that sin^2 averages to 1/2 over the phases",
        2.55: "for y = 0 you gave an amplitude, not a mean squared error",
    }
    problems = []
    if not near(zero, measured_zero):
        problems.append(next((text for value, text in mistakes_zero.items()
                              if near(zero, value)), "y = 0 is off by more than 10 %"))
    if not near(mean_wave, measured_mean):
        if abs(mean_wave) < 0.2:
            problems.append("the mean wave fits no single wave: its error is what is left of "
                            "the waves once their average is removed")
        elif near(mean_wave, 1.63):
            problems.append("1.63 is the mean wave's amplitude, not its error")
        elif near(mean_wave, zero):
            problems.append("the mean wave is no better than y = 0 in your prediction: "
                            "subtracting the average removes part of every wave's square")
        else:
            problems.append("the mean wave is off by more than 10 %")
    return (f"{both}; " + "; ".join(problems), None) if problems else (None, both)
