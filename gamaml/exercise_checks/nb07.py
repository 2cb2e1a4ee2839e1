"""Checkers of notebook 07's exercises (one learning rate for two methods). Not part of the
lesson."""

from __future__ import annotations

import numpy as np

from gamaml.exercise_checks._common import as_number, named, paper_weights, write_first
from gamaml.exercises import check_exercise, compare_answer

__all__ = ["check_exercise_four_updates", "check_exercise_rescaled_ga_direction"]


def _ratio(updates: np.ndarray, weights: np.ndarray) -> float:
    """|sum_i w_i u_i| / |mean_i u_i|."""
    return float(np.linalg.norm(weights @ updates) / np.linalg.norm(updates.mean(axis=0)))


def check_exercise_four_updates(weights, ratio):
    """Exercise 1: the predicted weights of g, g, -g, 2g (eq. 13) and the GA step's length over
    the uniform step's."""
    updates = np.array([1.0, 1.0, -1.0, 2.0])[:, None] * np.array([0.6, 0.8])
    right = paper_weights(updates)
    gram = updates @ updates.T
    mistakes = {
        "weights proportional to the lengths, without the sign of the agreement: the third "
        "task's numerator g_3 . (g_1 + ... + g_4) is negative": np.abs(right),
        "the book's denominator (the sum of |g_i . g_j| over all pairs)":
            gram.sum(1) / np.abs(gram).sum(),
        "uniform weights 1/4: that is the plain average, not eq. 13": np.full(4, 0.25),
    }

    def test():
        unwritten = write_first({"my_weights": weights, "my_ratio": ratio},
                                "enter both predictions")
        if unwritten:
            return unwritten
        got = [as_number(w) for w in np.atleast_1d(np.asarray(weights, dtype=object))]
        if None in got:
            return "enter the weights as numbers or fractions, e.g. [0.25, '1/4', ...]"
        hint = compare_answer(got, right, name="your weights", rtol=1e-3, atol=1e-3)
        if hint is not None:
            return named(hint, got, mistakes)
        if as_number(ratio) is None:
            return "enter the ratio as a number or a fraction, e.g. 1.5 or '3/2'"
        hint = compare_answer(as_number(ratio), _ratio(updates, right), name="your ratio",
                              rtol=1e-3, atol=1e-3)
        if hint is not None and "wrong values" in hint:
            if np.isclose(as_number(ratio), 1 / _ratio(updates, right), rtol=1e-3):
                return f"{hint}: that is the uniform step over the GA step, upside down"
        return hint

    return check_exercise(test)


def check_exercise_rescaled_ga_direction(fn):
    """Exercise 2: the GA direction sum_i w_i g_i rescaled to the length of (1/T) sum_i g_i,
    on random batches and one whose uniform direction is short."""
    rng = np.random.default_rng(71)
    batches = [rng.standard_normal((5, 12)) * rng.uniform(0.1, 5.0, (5, 1)) for _ in range(3)]
    batches.append(np.array([[1.0, 0.0], [-1.0, 0.1], [0.0, 2.0]]))

    def test():
        for i, updates in enumerate(batches):
            ga = paper_weights(updates) @ updates
            mean = updates.mean(axis=0)
            right = ga * np.linalg.norm(mean) / np.linalg.norm(ga)
            mistakes = {
                "the GA direction rescaled to the length of the sum, not of the mean: T times "
                "too long": right * len(updates),
                "the GA direction itself, not rescaled": ga,
                "the uniform direction, not GA's": mean,
                "the GA direction with unit length: rescale it to the uniform step's length":
                    ga / np.linalg.norm(ga),
            }
            got = fn(updates)
            hint = compare_answer(got, right, name="rescaled_ga_direction",
                                  where=f" for batch {i}")
            if hint is not None:
                return named(hint, got, mistakes)
        return None

    return check_exercise(test)
