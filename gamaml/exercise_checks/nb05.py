"""Checkers of notebook 05's exercises (the experiments). Not part of the lesson."""

from __future__ import annotations

import numpy as np

from gamaml.exercise_checks._common import named, paper_weights
from gamaml.exercises import check_exercise, compare_answer, forbidding

__all__ = ['check_exercise_cosine_ga_weights']


def check_exercise_cosine_ga_weights(fn):
    """Notebook 05, exercise 1: the paper's formula on unit-length updates. Calling
    gh.ga_weights inside ``fn`` does not count (it would answer with one keyword)."""
    import gamaml_helpers as gh

    def test():
        if fn is gh.ga_weights:
            return "this exercise asks for your own code: gh.ga_weights does not count"
        for s in range(3):
            updates = (np.random.default_rng(40 + s).standard_normal((8, 5))
                       * np.arange(1, 9)[:, None])
            unit = updates / np.linalg.norm(updates, axis=1, keepdims=True)
            gram = unit @ unit.T
            raw = paper_weights(updates)
            mistakes = {
                "the paper's weights on the raw updates: normalise every row to length 1 first":
                    raw,
                "the paper's weights, normalised afterwards: it is the updates that are "
                "normalised, before the formula": raw / np.abs(raw).max(),
                "the book's denominator on the unit updates": gram.sum(1) / np.abs(gram).sum(),
                "cosines without the self term": (gram.sum(1) - 1) / np.abs(gram.sum(1) - 1).sum(),
            }
            with forbidding(gh, "ga_weights"):
                got = fn(updates)
            hint = compare_answer(got, paper_weights(unit), rtol=1e-5, atol=1e-8)
            if hint is not None:
                return named(hint, got, mistakes)
        return None

    return check_exercise(test)
