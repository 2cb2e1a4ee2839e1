"""Checkers of notebook 09's exercises (what the evidence says). Not part of the lesson."""

from __future__ import annotations

import numpy as np

from gamaml.exercises import check_exercise, compare_answer

__all__ = ["check_exercise_largest_gap"]


def check_exercise_largest_gap(fn, summary):
    """Exercise 1: ``fn(summary)`` returns (beta, difference) where GA-Reptile − Reptile (test
    MSE after 5 steps, plain step, shared beta) is most negative. ``summary`` maps
    (experiment, kind, name, metric) to (mean, half-width, n), as the notebook reads it."""
    def sweep(data):
        return {float(name.split("@")[1]): cell[0]
                for (experiment, kind, name, metric), cell in data.items()
                if (experiment, kind, metric) == ("plain-step", "sweep difference", "mse_5")
                and np.isfinite(cell[0])}

    def mirrored(data):
        """The summary with the sweep's differences in reverse order of beta: an answer that
        reads the summary follows them, a typed-in one does not."""
        rows = sweep(data)
        betas = sorted(rows)
        moved = dict(zip(betas, [rows[b] for b in reversed(betas)], strict=True))
        return {key: ((moved[float(key[2].split("@")[1])],) + tuple(cell[1:])
                      if key[0] == "plain-step" and key[1] == "sweep difference"
                      and key[3] == "mse_5" and np.isfinite(cell[0]) else cell)
                for key, cell in data.items()}

    def check(data):
        rows = sweep(data)
        best = min(rows, key=rows.get)
        got = fn(dict(data))
        if got is None:
            return "largest_gap returned None"
        if not (isinstance(got, tuple) and len(got) == 2):
            return f"largest_gap must return (beta, difference), got {got!r}"
        try:
            beta = float(got[0])
        except (TypeError, ValueError):
            return f"your beta {got[0]!r} should be a number"
        if beta != best:
            if beta == max(rows, key=lambda b: abs(rows[b])):
                return (f"your beta {got[0]!r} has the largest difference in absolute value, "
                        "where GA-Reptile is worse: look for the most negative one")
            if beta == max(rows, key=rows.get):
                return (f"your beta {got[0]!r} is where GA-Reptile − Reptile is largest "
                        "(GA worst); lower MSE is better, so look for the most negative")
            return f"your beta {got[0]!r} is not where GA-Reptile − Reptile is most negative"
        return compare_answer(got[1], rows[best], name="your difference", rtol=1e-9,
                              show_expected=False)

    def test():
        hint = check(summary)
        if hint is None and check(mirrored(summary)) is not None:
            return ("largest_gap gives the right answer for this summary but not for another "
                    "one: read the answer from the summary it is given, do not type it in")
        return hint

    return check_exercise(test)
