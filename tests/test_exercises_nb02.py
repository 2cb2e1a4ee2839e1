"""Notebook 02's checkers (gamaml/exercise_checks/nb02.py): the helper one-liners (gh.bce_grad,
gh.bce_hvp, gh.bce_hessian, a helper's or a library's log-sigmoid) get "not yet", the known
mistakes are named, a right answer passes."""

from __future__ import annotations

import numpy as np
import pytest

import gamaml_helpers as gh
from gamaml.exercise_checks.nb02 import (
    check_exercise_hvp_without_hessian,
    check_exercise_log_sigmoid,
    check_exercise_one_step_prediction,
    check_exercise_weighted_bce_grad,
)


def sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0, e) / (1.0 + e)


def softplus(z):
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


# Exercise 1: a stable log-sigmoid ----------------------------------------------------------------


def log_sigmoid(z):
    return np.minimum(z, 0.0) - np.log1p(np.exp(-np.abs(z)))


@pytest.mark.parametrize("fn, named", [
    # a helper's or a library's log-sigmoid in one line
    (lambda z: -gh.bce_loss(np.ones((len(z), 1)), z.reshape(-1, 1, 1), np.ones((len(z), 1))),
     "gh.bce_loss does not count"),
    (lambda z: np.log(gh.sigmoid(z)), "gh.sigmoid does not count"),
    (lambda z: z - gh._softplus(z), "gh._softplus does not count"),
    (lambda z: -np.logaddexp(0.0, -z), "numpy.logaddexp"),
    # the known mistakes
    (lambda z: np.log(1.0 / (1.0 + np.exp(-z))), "naive log(sigmoid(z))"),  # overflow
    (lambda z: np.log(sigmoid(z)), "naive log(sigmoid(z))"),  # log 0 at z = -800
    (lambda z: z - softplus(z), "40 - 40 = 0"),
    (lambda z: np.minimum(z, 0.0) - np.log(1.0 + np.exp(-np.abs(z))), "np.log1p"),
    (lambda z: -np.log1p(np.exp(-np.abs(z))), "right for z >= 0 only"),
    (lambda z: -log_sigmoid(z), "never positive"),
    (lambda z: log_sigmoid(-z), "the sign of z is flipped"),
    (lambda z: None, "returned None"),
    (lambda z: log_sigmoid(z)[:-1], "expected shape"),
])
def test_log_sigmoid_refuses_shortcuts_and_names_mistakes(run_checker, fn, named):
    assert named in run_checker.not_yet(check_exercise_log_sigmoid, fn)


def test_log_sigmoid_accepts_a_right_answer(run_checker):
    assert run_checker(check_exercise_log_sigmoid, log_sigmoid) == (True, "✓ correct\n")
    assert run_checker(check_exercise_log_sigmoid, lambda z: -softplus(-z))[0]


def test_log_sigmoid_restores_what_it_refuses(capsys):
    check_exercise_log_sigmoid(lambda z: np.logaddexp(0.0, z) + gh.sigmoid(z))
    capsys.readouterr()
    assert np.logaddexp(0.0, 0.0) == np.log(2) and gh.sigmoid(np.zeros(1))[0] == 0.5


# Exercise 2: the gradient of a weighted loss --------------------------------------------------


def residual(theta, x, y):
    return sigmoid(x @ theta) - y


def weighted_grad(theta, x, y, c):
    return x.T @ (c * residual(theta, x, y)) / c.sum()


@pytest.mark.parametrize("fn, named", [
    (lambda t, x, y, c: gh.bce_grad(t, x, y), "gh.bce_grad does not count"),  # the shortcut
    (lambda t, x, y, c: x.T @ residual(t, x, y) / len(y), "the weights c_n are missing"),
    (lambda t, x, y, c: x.T @ (c * residual(t, x, y)) / len(y), "divided by k"),
    (lambda t, x, y, c: x.T @ (c * residual(t, x, y)), "without the division by sum(c)"),
    (lambda t, x, y, c: x.T @ (c * residual(t, x, y)) / (len(y) * c.sum()), "divide once"),
    (lambda t, x, y, c: -weighted_grad(t, x, y, c), "wrong sign"),
    (lambda t, x, y, c: x.T @ (c**2 * residual(t, x, y)) / c.sum(), "squared"),
    (lambda t, x, y, c: None, "returned None"),
])
def test_weighted_grad_refuses_shortcuts_and_names_mistakes(run_checker, fn, named):
    assert named in run_checker.not_yet(check_exercise_weighted_bce_grad, fn)


def test_weighted_grad_accepts_a_right_answer(run_checker):
    assert run_checker(check_exercise_weighted_bce_grad, weighted_grad) == \
        (True, "✓ correct\n")


# Exercise 3: a Hessian-vector product without the Hessian --------------------------------------


def logits(theta, x):
    return np.einsum("...kd,...d->...k", x, theta)


def hvp(theta, x, v):
    p = sigmoid(logits(theta, x))
    return np.einsum("...kd,...k->...d", x, p * (1 - p) * logits(v, x)) / x.shape[-2]


def hessian_times(theta, x, v):
    p = sigmoid(logits(theta, x))
    hessian = np.einsum("...kd,...k,...ke->...de", x, p * (1 - p), x) / x.shape[-2]
    return np.einsum("...de,...e->...d", hessian, v)


def single_task_only(theta, x, v):
    p = sigmoid(x @ theta)
    return x.T @ (p * (1 - p) * (x @ v)) / len(x)


@pytest.mark.parametrize("fn, named", [
    (lambda t, x, v: gh.bce_hvp(t, x, v), "gh.bce_hvp does not count"),  # the shortcuts
    (lambda t, x, v: gh.bce_hessian(t, x) @ v, "gh.bce_hessian does not count"),
    (lambda t, x, v: gh._hvp(x, sigmoid(logits(t, x)) * (1 - sigmoid(logits(t, x))), v),
     "gh._hvp"),
    (hessian_times, "you formed the 2000 x 2000 Hessian"),
    (lambda t, x, v: hessian_times(t, x, v) if x.shape[-1] == 1000 else hvp(t, x, v),
     "you formed the 1000 x 1000 Hessian"),  # the batch of three in d = 1000
    (single_task_only, "a batch of 4 tasks"),  # x @ theta fails for (T, k, d) and (T, d)
    (lambda t, x, v: np.einsum("...kd,...k->...d", x, logits(v, x)) / x.shape[-2],
     "p (1 - p) of every point is missing"),
    (lambda t, x, v: np.einsum("...kd,...k->...d", x, sigmoid(logits(t, x)) * logits(v, x))
     / x.shape[-2], "the weights p instead"),
    (lambda t, x, v: hvp(t, x, v) * x.shape[-2], "without the 1/k"),
    (lambda t, x, v: hvp(t, x, v) * x.shape[-2] / x.shape[-1], "divided by d"),
    (lambda t, x, v: hvp(t, x, v) * x.shape[-2] / x.shape[0], "x.shape[0]"),  # wrong axis
    (lambda t, x, v: np.einsum("...kd,...k->...d", x, 0.25 * logits(v, x)) / x.shape[-2],
     "the Hessian at theta = 0"),
])
def test_hvp_refuses_shortcuts_and_names_mistakes(run_checker, fn, named):
    assert named in run_checker.not_yet(check_exercise_hvp_without_hessian, fn)


def test_hvp_accepts_a_right_answer(run_checker):
    assert run_checker(check_exercise_hvp_without_hessian, hvp) == (True, "✓ correct\n")


# Exercise 4: predict, then run ----------------------------------------------------------------

FIRST_ORDER = 0.770 - 0.1 * 0.686**2  # from the numbers sections 1 and 3 print


def test_the_checker_redraws_the_notebooks_task():
    """The prediction is made from the printed 0.770 and 0.686: the checker's task is that one."""
    from gamaml.exercise_checks.nb02 import _one_step
    measured = _one_step()
    assert f"{measured['loss']:.3f}" == "0.770" and f"{measured['grad_norm']:.3f}" == "0.686"


def test_the_first_order_prediction_passes_and_prints_both(run_checker):
    ok, out = run_checker(check_exercise_one_step_prediction, FIRST_ORDER, "above")
    assert ok and out == ("✓ correct: alpha = 0.1: yours 0.7229, measured 0.7244; alpha = 2: "
                          "first order -0.171, measured 0.235, above\n")


@pytest.mark.parametrize("small, side, named", [
    (None, None, "write both predictions first"),
    (FIRST_ORDER, "below", "a convex loss lies above every tangent"),
    (0.770 - 0.1 * 0.686, "above", "with the norm squared"),
    (0.770 + 0.1 * 0.686**2, "above", "a step along -g lowers the loss"),
    (0.770 - 0.686**2, "above", "the first-order value for alpha = 1"),
    (0.770 - 0.01 * 0.686**2, "above", "not squared"),
    (0.770, "above", "the loss does change"),
    (FIRST_ORDER, "higher", "'above' or 'below'"),
    ("about 0.72", "above", "one number"),
])
def test_wrong_predictions_get_not_yet_and_a_reason(run_checker, small, side, named):
    assert named in run_checker.not_yet(check_exercise_one_step_prediction, small, side)


def test_a_prediction_written_as_text_is_read_as_a_number(run_checker):
    ok, out = run_checker(check_exercise_one_step_prediction, "0.723", " Above")
    assert ok and "yours 0.7230" in out
