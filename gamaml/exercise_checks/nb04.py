"""Checkers of notebook 04's exercises (the weights). Not part of the lesson."""

from __future__ import annotations

import numpy as np

from gamaml.exercise_checks._common import named, paper_weights
from gamaml.exercises import check_exercise, compare_answer, forbidding

__all__ = ['check_exercise_ga_weights_loops']


def _known_mistakes(updates: np.ndarray) -> dict[str, np.ndarray]:
    """The wrong weights a student is likely to write, each with its name."""
    gram = updates @ updates.T
    agreement = gram.sum(axis=1)
    others = agreement - np.diag(gram)
    t = len(updates)
    return {
        "the book's denominator: the sum of |g_k . g_j| over all pairs instead of the sum of "
        "|sum_j g_k . g_j| (notebook 04's appendix, (e))": agreement / np.abs(gram).sum(),
        "weights without the self term: the numerator must include g_i . g_i":
            others / np.abs(others).sum() if np.abs(others).sum() else others,
        "weights without the absolute value in the denominator":
            agreement / agreement.sum() if agreement.sum() else agreement,
        "the paper's weights divided by T once more: they are already normalised (appendix, "
        "(b))": paper_weights(updates) / t,
        "uniform weights 1/T: that is MAML, not gradient agreement": np.full(t, 1.0 / t),
    }


def check_exercise_ga_weights_loops(fn):
    """Notebook 04, exercise 1: the paper's weights with explicit loops, on random and
    hand-made updates. Calling ``gh.ga_weights`` inside ``fn`` does not count."""
    import gamaml_helpers

    cases = [np.random.default_rng(s).standard_normal((n, d))
             for s, (n, d) in enumerate([(5, 3), (10, 50), (2, 1)])]
    cases.append(np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0]]))

    def test():
        if fn is gamaml_helpers.ga_weights:
            return "this exercise asks for your own code: gh.ga_weights itself does not count"
        for updates in cases:
            with forbidding(gamaml_helpers, "ga_weights"):
                got = fn(updates)
            where = f" for updates of shape {updates.shape}"
            hint = compare_answer(got, paper_weights(updates), rtol=1e-5, atol=1e-8, where=where)
            if hint is not None:
                return named(hint, got, _known_mistakes(updates))
        return None

    return check_exercise(test)
