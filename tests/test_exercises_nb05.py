"""Notebook 05's exercises, checked off screen (gamaml/exercise_checks/nb05.py): the one-line
shortcuts of issue 19 (or their equivalents for the rewritten exercises) get "not yet", each
known mistake is named, a right answer passes."""

from __future__ import annotations

import numpy as np
import pytest

import gamaml_helpers as gh
from gamaml.exercise_checks.nb05 import (
    check_exercise_cosine_ga_weights,
    check_exercise_flipped_majority,
    check_exercise_negative_clean,
)

# ---------------------------------------------------------------------------------------------
# Exercise 1: cosine weights (its named mistakes: tests/test_exercises.py)
# ---------------------------------------------------------------------------------------------


def test_exercise_1_refuses_the_keyword(run_checker):
    run_checker.not_yet(check_exercise_cosine_ga_weights,
                        lambda u: gh.ga_weights(u, normalization="cosine"))  # issue 19's shortcut
    run_checker.not_yet(check_exercise_cosine_ga_weights, gh.ga_weights)


# ---------------------------------------------------------------------------------------------
# Exercise 2: the clean tasks with a negative weight, on the checker's own batches
# ---------------------------------------------------------------------------------------------


def negative(theta, *, keep="clean", corrupt_frac=0.3, normalization="paper", of="updates",
             relabel=False, first=0):
    """(seed, i) pairs of tasks with a negative weight, right or with one known mistake."""
    pairs = []
    for seed in range(100):
        b = gh.sample_tasks(10, 10, corrupt_frac=corrupt_frac, rng=seed)
        if relabel:  # issue 19's shortcut: call every task clean
            b.corrupted = np.zeros_like(b.corrupted)
        adapted = gh.inner_update(theta, b.x_support, b.y_support, 1.0)
        w = gh.ga_weights(adapted if of == "adapted" else theta - adapted,
                          normalization=normalization)
        group = {"clean": ~b.corrupted, "flipped": b.corrupted, "all": np.ones(10, bool)}[keep]
        pairs += [(seed, int(i) + first) for i in np.flatnonzero((w < 0) & group)]
    return pairs


def relabel_one(theta):
    """Relabel a flipped task with a negative weight as clean, and return it (issue 19)."""
    for seed in range(100):
        b = gh.sample_tasks(10, 10, corrupt_frac=0.3, rng=seed)
        w = gh.ga_weights(theta - gh.inner_update(theta, b.x_support, b.y_support, 1.0))
        for i in np.flatnonzero((w < 0) & b.corrupted):
            b.corrupted[i] = False
            return [(seed, int(i))]
    return []


@pytest.mark.parametrize("shortcut", [
    lambda theta: negative(theta, relabel=True),
    relabel_one,
    lambda theta: gh.sample_tasks(10, 10, corrupt_frac=0.3, rng=0),   # the old answer: a batch
    lambda theta: [(8, 4), (11, 4), (14, 2)],                        # pairs that do not depend on
])                                                                   # theta
def test_exercise_2_refuses_relabelling_and_the_old_answer(shortcut, run_checker):
    run_checker.not_yet(check_exercise_negative_clean, shortcut)


@pytest.mark.parametrize(("kwargs", "named"), [
    (dict(relabel=True), "flipped ones included"),
    (dict(keep="all"), "flipped ones included"),
    (dict(keep="flipped"), "the flipped tasks with a negative weight"),
    (dict(corrupt_frac=0.0), "without corrupt_frac=0.3"),
    (dict(normalization="cosine"), "the cosine weights"),
    (dict(first=1), "counted from 1"),
])
def test_exercise_2_names_the_known_mistakes(kwargs, named, run_checker):
    out = run_checker.not_yet(check_exercise_negative_clean,
                              lambda theta: negative(theta, **kwargs))
    assert "at the random start your list has" in out and named in out


def test_exercise_2_accepts_the_clean_tasks_and_counts_them(run_checker):
    assert run_checker(check_exercise_negative_clean, negative) == (
        True, "✓ correct: clean tasks with a negative weight: 9 at the random start, 17 at the "
              "trained GA start (of 700); flipped tasks with one: 15 and 0 (of 300)\n")
    assert run_checker(check_exercise_negative_clean,
                       lambda theta: set(negative(theta)))[0]  # any container


def test_exercise_2_says_an_empty_list_is_empty(run_checker):
    out = run_checker.not_yet(check_exercise_negative_clean,
                              lambda theta: negative(theta, of="adapted"))  # none negative
    assert "at the random start your list has 0 pairs, expected 9: (8, 4) is missing" in out


def test_exercise_2_reports_the_students_exception(run_checker):
    out = run_checker.not_yet(check_exercise_negative_clean, lambda theta: runs)  # noqa: F821
    assert "NameError" in out


# ---------------------------------------------------------------------------------------------
# Exercise 3: predict, then run: 5 and 7 flipped tasks in 10
# ---------------------------------------------------------------------------------------------

RIGHT = dict(predicted_half=(0.1, 0.1), predicted_majority=(0.1169, 0.0924),
             predicted_ga_wins=True)


@pytest.mark.parametrize(("change", "named"), [
    (dict(predicted_majority=(0.0924, 0.1169)), "swapped: with 7 flipped in 10 the clean"),
    (dict(predicted_majority=(0.1, 0.1)), "MAML's 1/T"),
    (dict(predicted_half=(0.0924, 0.1169)), "section 1's, with 3 flipped in 10"),
    (dict(predicted_half=(0.09, 0.13)), "within 0.01 counts"),
    (dict(predicted_ga_wins=False), "you predicted that GA loses; measured GA-MAML 0.446"),
    (dict(predicted_ga_wins="yes"), "True or False"),
    (dict(predicted_half=None), "write your three predictions first"),
    (dict(predicted_majority=0.1), "two numbers, (clean, flipped)"),
])
def test_exercise_3_names_the_known_mistakes(change, named, run_checker):
    run_checker.not_yet(check_exercise_flipped_majority, **{**RIGHT, **change}, named=named)


def test_exercise_3_quotes_the_prediction_and_the_measurement(run_checker):
    out = run_checker.not_yet(check_exercise_flipped_majority,
                              **{**RIGHT, "predicted_half": (0.2, 0.0)})
    assert "you predicted clean 0.200, flipped 0.000; measured 0.100 and 0.100" in out


def test_exercise_3_accepts_predictions_within_0_01(run_checker):
    ok, out = run_checker(check_exercise_flipped_majority, **RIGHT)
    assert ok and out.startswith("✓ correct: mean weights (clean, flipped) measured 0.100, "
                                 "0.100 with 5 flipped in 10 and 0.117, 0.092 with 7; GA-MAML "
                                 "0.446, MAML 0.398")
    assert run_checker(check_exercise_flipped_majority, (0.105, 0.095), [0.11, 0.1],
                       np.bool_(True))[0]
