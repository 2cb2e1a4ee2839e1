"""Notebook 06's checkers (gamaml/exercise_checks/nb06.py): the one-line answers that skip the
exercise get "not yet", every known mistake is named, a right answer passes."""

from __future__ import annotations

import numpy as np
import pytest

import gamaml_helpers as gh
from gamaml.exercise_checks.nb06 import (
    check_exercise_error_curve,
    check_exercise_predict_floor,
    check_exercise_reptile_direction,
    check_exercise_step_derivative,
)

# Exercise 1: the error curve ------------------------------------------------------------------


def curve(net, theta, tasks, alpha, max_steps, *, fit="support", score="query", sign=1.0,
          extra=0):
    """The error curve, or one of its known mistakes."""
    x_fit, y_fit = getattr(tasks, f"x_{fit}"), getattr(tasks, f"y_{fit}")
    x_score, y_score = getattr(tasks, f"x_{score}"), getattr(tasks, f"y_{score}")
    adapted = np.broadcast_to(theta, (tasks.n_tasks, theta.size))
    rows = []
    for _ in range(max_steps + 1 + extra):
        rows.append(net.loss(adapted, x_score, y_score))
        adapted = adapted - sign * alpha * net.grad(adapted, x_fit, y_fit)
    return np.array(rows[extra:])


@pytest.mark.parametrize("fn, named", [
    # the one-line shortcuts: the helpers that adapt and score
    (lambda n, t, b, a, m: np.array([gh.adapt_and_evaluate(t, b, a, steps=s, model=n).loss_after
                                     for s in range(m + 1)]),
     "calling gh.adapt_and_evaluate does not count"),
    (lambda n, t, b, a, m: np.array([n.loss(gh.inner_update(t, b.x_support, b.y_support, a,
                                                            steps=s, model=n),
                                            b.x_query, b.y_query) for s in range(m + 1)]),
     "calling gh.inner_update does not count"),
    (lambda *a: curve(*a, score="support"), "the errors on the support points"),
    (lambda *a: curve(*a, fit="query"), "steps on the query points"),
    (lambda *a: curve(*a, sign=-1.0), "steps uphill"),
    (lambda *a: curve(*a, extra=1), "each row one step late"),
    (lambda n, t, b, a, m: curve(n, t, b, a, m) * b.y_query.shape[-1], "sums of squared errors"),
    (lambda *a: curve(*a)[1:], "row 0 is missing"),
    (lambda *a: curve(*a).mean(axis=1), "averaged over the tasks"),
    (lambda *a: curve(*a).T, "transpose it"),
    (lambda *a: None, "error_curve returned None"),
])
def test_error_curve_refuses_shortcuts_and_names_mistakes(run_checker, fn, named):
    run_checker.not_yet(check_exercise_error_curve, fn, named=named)


def test_error_curve_accepts_a_right_answer(run_checker):
    ok, out = run_checker(check_exercise_error_curve, curve)
    assert ok and out == "✓ correct\n"
    assert gh.inner_update.__name__ == "inner_update"  # the helpers are back afterwards
    assert gh.adapt_and_evaluate.__name__ == "adapt_and_evaluate"


# Exercise 2: Reptile's direction --------------------------------------------------------------


def displacements(net, theta, batch, alpha, steps):
    return theta - gh.inner_update(theta, batch.x_support, batch.y_support, alpha, steps=steps,
                                   model=net)


def reptile(net, theta, batch, alpha, steps, weights=None):
    g = displacements(net, theta, batch, alpha, steps)
    return g.mean(axis=0) if weights is None else weights @ g


@pytest.mark.parametrize("fn, named", [
    # the one-line shortcuts: the helpers that take the meta-step
    (lambda n, t, b, a, s, weights=None: gh.outer_direction(t, b, method="reptile", alpha=a,
                                                            inner_steps=s, model=n)[0],
     "calling gh.outer_direction does not count"),
    (lambda n, t, b, a, s, weights=None: t - gh.meta_step(t, b, alpha=a, beta=1.0,
                                                          method="reptile", inner_steps=s,
                                                          model=n)[0],
     "calling gh.meta_step does not count"),
    (lambda *a, **k: -reptile(*a, **k), "the wrong sign"),
    (lambda n, t, b, a, s, weights=None: displacements(n, t, b, a, s).mean(axis=1),
     "average over the tasks (axis 0)"),
    (lambda n, t, b, a, s, weights=None: (t - displacements(n, t, b, a, s)).mean(axis=0),
     "the mean of the adapted parameters"),
    (lambda n, t, b, a, s, weights=None: displacements(n, t, b, a, s).sum(axis=0),
     "the sum over the tasks, not the mean"),
    (lambda n, t, b, a, s, weights=None: reptile(n, t, b, a, 1, weights),
     "the direction after one inner step"),
    (lambda n, t, b, a, s, weights=None: reptile(n, t, b, a, s), "the uniform mean"),
    (lambda n, t, b, a, s, weights=None: (
        reptile(n, t, b, a, s) if weights is None
        else (weights[:, None] * displacements(n, t, b, a, s)).mean(axis=0)),
     "divided by T once more"),
    (lambda n, t, b, a, s, weights=None: (
        reptile(n, t, b, a, s) if weights is None else -reptile(n, t, b, a, s, weights)),
     "the weighted direction with the wrong sign"),
])
def test_reptile_direction_refuses_shortcuts_and_names_mistakes(run_checker, fn, named):
    run_checker.not_yet(check_exercise_reptile_direction, fn, named=named)


def test_reptile_direction_accepts_a_right_answer(run_checker):
    ok, out = run_checker(check_exercise_reptile_direction, reptile)
    assert ok and out == "✓ correct\n"


# Exercise 3: (I - alpha H) v by differences -----------------------------------------------------


def step_derivative(net, theta, x, y, v, alpha, eps, *, direction=None, divide=2.0,
                    one_sided=False):
    def step(t):
        return t - alpha * net.grad(t, x, y)
    d = v if direction is None else direction(v)
    low = np.broadcast_to(theta, v.shape) if one_sided else theta - eps * d
    return (step(theta + eps * d) - step(low)) / ((1.0 if one_sided else divide) * eps)


def hv_by_differences(net, theta, x, y, v, eps):
    return (net.grad(theta + eps * v, x, y) - net.grad(theta - eps * v, x, y)) / (2 * eps)


@pytest.mark.parametrize("fn, named", [
    # the one-line shortcut: the exact product of the R-operator
    (lambda n, t, x, y, v, a, e: v - a * n.grad_and_hvp(t, x, y)[1](v),
     "calling net.grad_and_hvp does not count"),
    (lambda n, t, x, y, v, a, e: hv_by_differences(n, t, x, y, v, e), "Hv, the difference of"),
    (lambda n, t, x, y, v, a, e: -a * hv_by_differences(n, t, x, y, v, e),
     "the identity is missing"),
    (lambda n, t, x, y, v, a, e: v + a * hv_by_differences(n, t, x, y, v, e),
     "the sign of the step"),
    (lambda *a: step_derivative(*a, one_sided=True), "a one-sided difference"),
    (lambda *a: step_derivative(*a, divide=1.0), "divide by 2 eps"),
    (lambda *a: step_derivative(*a, direction=np.ones_like), "the wrong step"),
])
def test_step_derivative_refuses_the_exact_product_and_names_mistakes(run_checker, fn, named):
    run_checker.not_yet(check_exercise_step_derivative, fn, named=named)


def test_step_derivative_accepts_a_central_difference(run_checker):
    ok, out = run_checker(check_exercise_step_derivative, step_derivative)
    assert ok and out == "✓ correct\n"

    def with_inner_update(net, theta, x, y, v, alpha, eps):
        return (gh.inner_update(theta + eps * v, x, y, alpha, model=net)
                - gh.inner_update(theta - eps * v, x, y, alpha, model=net)) / (2 * eps)

    assert run_checker(check_exercise_step_derivative, with_inner_update)[0]
    net = gh.MLP((1, 4, 1), "tanh")  # the exact product is back afterwards
    assert callable(net.grad_and_hvp(net.init(np.random.default_rng(0)),
                                     np.zeros((1, 2, 1)), np.zeros((1, 2)))[1])


# Exercise 4: predict, then run ------------------------------------------------------------------


@pytest.mark.parametrize("zero, mean_wave, named", [
    (None, 3.0, "write both predictions first"),
    (2.55**2 / 2, 3.0, "you squared the mean amplitude"),
    (8.5, 3.0, "sin^2 averages to 1/2"),
    (2.55, 3.0, "an amplitude, not a mean squared error"),
    (4.25, 0.0, "the mean wave fits no single wave"),
    (4.25, 1.63, "the mean wave's amplitude, not its error"),
    (4.25, 4.2, "no better than y = 0"),
    (4.25, 2.0, "the mean wave is off by more than 10 %"),
])
def test_predict_floor_names_the_mistakes(run_checker, zero, mean_wave, named):
    run_checker.not_yet(check_exercise_predict_floor, zero, mean_wave, named=named)


def test_predict_floor_prints_the_measured_values(run_checker):
    ok, out = run_checker(check_exercise_predict_floor, 3.25, 3.0)
    assert not ok and "measured on 4 000 fresh waves 4.27 and 3.04" in out
    ok, out = run_checker(check_exercise_predict_floor, 4.25, 2.92)
    assert ok and out.startswith("✓ correct: your predictions 4.25 (y = 0) and 2.92")
    assert "the pretrained network before adaptation: 3.04" in out
