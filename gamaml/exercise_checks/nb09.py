"""Checkers of notebook 09's exercises (what the evidence says). Not part of the lesson."""

from __future__ import annotations

import numpy as np

from gamaml.exercises import check_exercise, compare_answer

__all__ = ["check_exercise_largest_gap"]


def check_exercise_largest_gap(fn, summary):
    """Exercise 1: ``fn(summary)`` returns (beta, difference) where GA-Reptile − Reptile (test
    MSE after 5 steps, plain step, shared beta) is most negative. ``summary`` maps
    (experiment, kind, name, metric) to (mean, half-width, n), as the notebook reads it."""
    def test():
        rows = {float(name.split("@")[1]): cell[0]
                for (experiment, kind, name, metric), cell in summary.items()
                if (experiment, kind, metric) == ("plain-step", "sweep difference", "mse_5")
                and np.isfinite(cell[0])}
        best = min(rows, key=rows.get)
        got = fn(summary)
        if got is None:
            return "largest_gap returned None"
        if not (isinstance(got, tuple) and len(got) == 2):
            return f"largest_gap must return (beta, difference), got {got!r}"
        if got[0] != best:
            if got[0] == max(rows, key=lambda b: abs(rows[b])):
                return (f"your beta {got[0]!r} has the largest difference in absolute value, "
                        "where GA-Reptile is worse: look for the most negative one")
            if got[0] == max(rows, key=rows.get):
                return (f"your beta {got[0]!r} is where GA-Reptile − Reptile is largest "
                        "(GA worst); lower MSE is better, so look for the most negative")
            return f"your beta {got[0]!r} is not where GA-Reptile − Reptile is most negative"
        return compare_answer(got[1], rows[best], name="your difference", rtol=1e-9)

    return check_exercise(test)
