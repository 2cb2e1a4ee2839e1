"""Notebook 07's checkers (gamaml/exercise_checks/nb07.py): known mistakes named, the one-line
answers that skip the exercise get "not yet", a right answer passes."""

from __future__ import annotations

import numpy as np
import pytest

import gamaml_helpers as gh
from gamaml.exercise_checks.nb07 import (
    check_exercise_four_updates,
    check_exercise_rescaled_ga_direction,
)


@pytest.mark.parametrize("weights, ratio, named", [
    ([0.2, 0.2, 0.2, 0.4], 1.4 / 0.75, "without the sign"),
    ([0.25] * 4, 1.4 / 0.75, "uniform weights"),
    ([0.2, 0.2, -0.2, 0.4], 0.75 / 1.4, "upside down"),
    (None, 1.0, "enter both predictions"),
])
def test_four_updates_names_the_mistakes(run_checker, weights, ratio, named):
    run_checker.not_yet(check_exercise_four_updates, weights, ratio, named=named)


def test_four_updates_accepts_the_right_prediction(run_checker):
    ok, out = run_checker(check_exercise_four_updates, [0.2, 0.2, -0.2, 0.4], 1.4 / 0.75)
    assert ok and out == "✓ correct\n"


def rescaled(updates):
    ga = gh.ga_weights(updates) @ updates
    return ga * np.linalg.norm(updates.mean(axis=0)) / np.linalg.norm(ga)


@pytest.mark.parametrize("fn, named", [
    (lambda u: gh.ga_weights(u) @ u, "not rescaled"),  # the one-line shortcut
    (lambda u: u.mean(axis=0), "the uniform direction"),
    (lambda u: rescaled(u) * len(u), "length of the sum"),
    (lambda u: rescaled(u) / np.linalg.norm(rescaled(u)), "unit length"),
])
def test_rescaled_direction_names_the_mistakes(run_checker, fn, named):
    run_checker.not_yet(check_exercise_rescaled_ga_direction, fn, named=named)


def test_rescaled_direction_accepts_a_right_answer(run_checker):
    ok, _ = run_checker(check_exercise_rescaled_ga_direction, rescaled)
    assert ok


def test_four_updates_reads_fractions(run_checker):
    ok, out = run_checker(check_exercise_four_updates, ["1/5", "1/5", "-1/5", "2/5"], "28/15")
    assert ok and out == "✓ correct\n"
    run_checker.not_yet(check_exercise_four_updates, ["a", 0, 0, 0], 1.0, named="as numbers")
