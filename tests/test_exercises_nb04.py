"""Notebook 04's exercises, checked off screen (gamaml/exercise_checks/nb04.py): the one-line
shortcuts of issue 19 (or their equivalents for the rewritten exercises) get "not yet", each
known mistake is named, a right answer passes."""

from __future__ import annotations

import numpy as np
import pytest

import gamaml_helpers as gh
from gamaml.exercise_checks.nb04 import (
    check_exercise_ga_weights_loops,
    check_exercise_odd_one_out,
    check_exercise_two_step_weights,
)

# ---------------------------------------------------------------------------------------------
# Exercise 1: the weights with explicit loops (its named mistakes: tests/test_exercises.py)
# ---------------------------------------------------------------------------------------------


def test_exercise_1_refuses_the_helper(run_checker):
    run_checker.not_yet(check_exercise_ga_weights_loops, gh.ga_weights)  # issue 19's shortcut
    run_checker.not_yet(check_exercise_ga_weights_loops, lambda u: gh.ga_weights(u))


# ---------------------------------------------------------------------------------------------
# Exercise 2: the weights after two inner steps, written out
# ---------------------------------------------------------------------------------------------


def weights_after(theta, batch, alpha, steps):
    """Section 3's function (cell 13): issue 19's shortcut `ga_weights_after = weights_after`."""
    adapted = gh.inner_update(theta, batch.x_support, batch.y_support, alpha, steps=steps)
    return gh.ga_weights(theta - adapted)


def two_steps(theta, batch, alpha, *, second_at="theta_1", sign=-1.0, of="updates",
              normalization="paper"):
    """The two-step weights, right or with one known mistake."""
    xs, ys = batch.x_support, batch.y_support
    g0 = gh.bce_grad(theta, xs, ys)
    theta_1 = theta + sign * alpha * g0
    g1 = gh.bce_grad(theta if second_at == "theta" else theta_1, xs, ys)
    theta_2 = theta - alpha * (g0 + g1)
    updates = {"updates": theta - theta_2, "adapted": theta_2, "second": alpha * g1,
               "first": alpha * g0}[of]
    return gh.ga_weights(updates, normalization=normalization)


@pytest.mark.parametrize("shortcut", [
    weights_after,                                          # the one-line shortcut
    lambda t, b, a: weights_after(t, b, a, 2),
    lambda t, b, a: gh.ga_weights(t - gh.inner_update(t, b.x_support, b.y_support, a,
                                                      steps=2)),
    lambda t, b, a: gh.ga_weights(t - gh.maml_meta_gradients(
        t, b.x_support, b.y_support, b.x_query, b.y_query, a, inner_steps=2,
        with_adapted=True)[1]),
    gh.inner_update,
])
def test_exercise_2_refuses_the_shortcuts(shortcut, run_checker):
    run_checker.not_yet(check_exercise_two_step_weights, shortcut)


@pytest.mark.parametrize(("kwargs", "named"), [
    (dict(second_at="theta"), "the one-step weights"),
    (dict(of="first"), "the one-step weights"),
    (dict(of="second"), "the second step alone"),
    (dict(sign=1.0), "an inner step uphill"),
    (dict(of="adapted"), "the adapted parameters"),
    (dict(normalization="book"), "the book's denominator"),
])
def test_exercise_2_names_the_known_mistakes(kwargs, named, run_checker):
    out = run_checker.not_yet(check_exercise_two_step_weights,
                              lambda t, b, a: two_steps(t, b, a, **kwargs))
    assert "wrong values at alpha = 0.1: yours " in out and named in out


def test_exercise_2_accepts_two_steps_written_out(run_checker):
    assert run_checker(check_exercise_two_step_weights, two_steps) == (True, "✓ correct\n")
    assert gh.inner_update is not None and gh.inner_update.__name__ == "inner_update"


# ---------------------------------------------------------------------------------------------
# Exercise 3: predict the weights of g, g, -3g
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("predicted", "named"), [
    ([1 / 3, 1 / 3, -1 / 3], "the weights of g, g, -g"),
    ([0.2, 0.2, -0.6], "the signs reversed"),
    ([0.2, 0.2, 0.6], "without their signs"),
    ([-1.0, -1.0, 3.0], "sum to 1"),
    ([1 / 3, 1 / 3, 1 / 3], "MAML's uniform weights"),
    ([0.1, 0.2, -0.6], "within 0.01 counts"),
])
def test_exercise_3_names_the_known_mistakes_and_quotes_both(predicted, named, run_checker):
    out = run_checker.not_yet(check_exercise_odd_one_out, predicted)
    assert "the formula gives [-0.200, -0.200, 0.600]" in out and named in out


@pytest.mark.parametrize("predicted", [None, "abc", [0.2, 0.2], [[0.2], [0.2], [0.6]]])
def test_exercise_3_asks_for_three_numbers(predicted, run_checker):
    out = run_checker.not_yet(check_exercise_odd_one_out, predicted)
    assert "predicted" in out


def test_exercise_3_accepts_a_prediction_within_0_01_and_prints_both(run_checker):
    assert run_checker(check_exercise_odd_one_out, [-0.2, -0.205, 0.6]) == (
        True, "✓ correct: you predicted [-0.200, -0.205, 0.600], the formula gives "
              "[-0.200, -0.200, 0.600]\n")
    assert run_checker(check_exercise_odd_one_out, np.array([-1, -1, 3]) / 5)[0]
