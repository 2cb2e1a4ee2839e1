"""Notebook 01's checkers (gamaml/exercise_checks/nb01.py): the one-line shortcuts of issue 19
(or their equivalents for the rewritten exercises) get "not yet", the known mistakes are named,
a right answer passes."""

from __future__ import annotations

import numpy as np
import pytest

import gamaml_helpers as gh
from gamaml.exercise_checks.nb01 import (
    check_exercise_best_constant_loss,
    check_exercise_disagreement,
    check_exercise_shared_direction_prediction,
    check_exercise_spread_from_labels,
)

# Exercise 1: where two boundaries disagree -------------------------------------------------


def disagreement(w, x):
    labels = (x @ w.T > 0).astype(float)  # (n, T)
    return (labels.T @ (1 - labels) + (1 - labels).T @ labels) / len(x)


def angle_estimate(w, x):
    unit = w / np.linalg.norm(w, axis=1, keepdims=True)
    return np.arccos(np.clip(unit @ unit.T, -1, 1)) / np.pi


@pytest.mark.parametrize("fn, named", [
    (lambda w, x: (x @ w.T > 0).astype(float), "expected shape"),  # issue 19's shortcut, batched
    (lambda w, x: 1 - gh.accuracy(w[:, None, :], np.broadcast_to(x, (len(w), *x.shape)),
                                  (x @ w.T > 0).T[None].astype(float)), "gh.accuracy"),
    (lambda w, x: 1 - disagreement(w, x), "agree"),
    (lambda w, x: disagreement(w, x) * len(x), "counts of points"),
    (angle_estimate, "angle estimate"),
    (lambda w, x: None, "returned None"),
])
def test_disagreement_refuses_shortcuts_and_names_mistakes(run_checker, fn, named):
    assert named in run_checker.not_yet(check_exercise_disagreement, fn)


def test_disagreement_accepts_a_right_answer(run_checker):
    assert run_checker(check_exercise_disagreement, disagreement) == (True, "✓ correct\n")


# Exercise 2: predict, then run ----------------------------------------------------------------

CLEAN = 1 - np.degrees(np.arccos(1 / np.sqrt(1.25))) / 180  # the angle formula at spread 0.5


def test_prediction_from_the_angle_formula_passes_and_prints_both(run_checker):
    ok, out = run_checker(check_exercise_shared_direction_prediction, CLEAN, 1 - CLEAN, 0.5)
    assert ok and out.startswith("✓ correct: clean: yours 0.852, measured 0.85")
    assert "flipped: yours 0.148, measured 0.14" in out and "random: yours 0.500" in out


@pytest.mark.parametrize("clean, flipped, random, named", [
    (None, None, None, "write your predictions first (predict_clean, predict_flipped"),
    (CLEAN, CLEAN, 0.5, "inverts every label"),
    (CLEAN, 0.5, 0.5, "flipped labels are not random"),
    (1 / np.sqrt(1.25), 1 - CLEAN, 0.5, "cosine"),
    (0.75, 0.25, 0.5, "spread 1"),
    (CLEAN, 1 - CLEAN, CLEAN, "about half"),
    (CLEAN, 1 - CLEAN, "half", "one number"),
    (85.2, 14.8, 50, "not a percentage"),
])
def test_wrong_predictions_get_not_yet_and_a_reason(run_checker, clean, flipped, random, named):
    assert named in run_checker.not_yet(check_exercise_shared_direction_prediction,
                                        clean, flipped, random)


# Exercise 3: the best constant prediction ------------------------------------------------------


def entropy(y):
    mean = float(np.mean(y))
    return -sum(q * np.log(q) for q in (mean, 1 - mean) if q > 0)


def naive_entropy(y):
    mean = np.mean(y)
    return -(mean * np.log(mean) + (1 - mean) * np.log(1 - mean))


@pytest.mark.parametrize("fn, named", [
    (naive_entropy, "0 * log 0"),  # nan for all-one labels
    (lambda y: np.log(2), "ln 2 for every set"),
    (lambda y: np.mean(y), "the mean label"),
    (lambda y: entropy(y) / np.log(2), "in bits"),
    (lambda y: -entropy(y), "wrong sign"),
    (lambda y: None, "returned None"),
])
def test_best_constant_loss_names_the_mistakes(run_checker, fn, named):
    assert named in run_checker.not_yet(check_exercise_best_constant_loss, fn)


def test_best_constant_loss_accepts_the_entropy(run_checker):
    assert run_checker(check_exercise_best_constant_loss, entropy) == (True, "✓ correct\n")


def test_a_fine_grid_search_passes_too(run_checker):
    grid = np.linspace(1e-9, 1 - 1e-9, 100_001)

    def search(y):
        m = np.mean(y)
        return np.min(-(m * np.log(grid) + (1 - m) * np.log(1 - grid)))

    assert run_checker(check_exercise_best_constant_loss, search)[0]


# Exercise 4: the spread, read off the labels --------------------------------------------------


def accuracy_of_u(x, y):
    u = gh.default_direction(x.shape[-1])
    return np.mean((x @ u >= 0) == (y == 1), axis=-1)


def spread(batch):
    return np.tan(np.pi * (1 - accuracy_of_u(batch.x_query, batch.y_query).mean()))


@pytest.mark.parametrize("fn, named", [
    (lambda b: gh.accuracy(b.true_theta, b.x_support, b.y_support), "true_theta is hidden"),
    (lambda b: gh.accuracy(gh.default_direction(b.x_query.shape[-1]), b.x_query,
                           b.y_query).mean(), "the accuracy of u, not the spread"),
    (lambda b: np.linalg.norm(b.true_theta - gh.default_direction(b.x_query.shape[-1]),
                              axis=1).mean(), "true_theta is hidden"),
    (lambda b: np.tan(np.pi * accuracy_of_u(b.x_query, b.y_query).mean()), "negative spread"),
    (lambda b: np.cos(np.pi * (1 - accuracy_of_u(b.x_query, b.y_query).mean())), "solve it"),
    (lambda b: np.tan(180 * (1 - accuracy_of_u(b.x_query, b.y_query).mean())), "degrees"),
    (lambda b: np.mean(np.tan(np.pi * (1 - accuracy_of_u(b.x_query, b.y_query)))), "pool"),
    (lambda b: np.tan(np.pi * (1 - accuracy_of_u(b.x_support, b.y_support).mean())),
     "support points"),
    (lambda b: np.pi * (1 - accuracy_of_u(b.x_query, b.y_query).mean()),
     "the angle, not the spread"),
])
def test_spread_refuses_shortcuts_and_names_mistakes(run_checker, fn, named):
    assert named in run_checker.not_yet(check_exercise_spread_from_labels, fn)


def test_spread_from_labels_accepts_a_right_answer(run_checker):
    assert run_checker(check_exercise_spread_from_labels, spread) == (True, "✓ correct\n")
