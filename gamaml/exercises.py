"""Checking the notebooks' exercises: a verdict and a hint, never a traceback.

Not part of the lesson: the notebooks' exercise cells call these through ``gh``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["check_exercise", "compare_answer"]


def check_exercise(test: Callable[[], str | None]) -> bool:
    """Run one exercise's checks and print the verdict: ``✓ correct`` or ``✗ not yet: <hint>``.

    ``test()`` returns None when the answer is right, or a hint saying what is still wrong.
    An exception raised inside (by the student's code, say) becomes the hint. Returns True
    when correct, so a solution cell can ``assert`` it.
    """
    if not callable(test):
        raise ValueError(f"test must be callable, got {test!r}")
    try:
        hint = test()
    except Exception as exc:  # the student's code may raise anything: report it, do not crash
        hint = f"your code raised {type(exc).__name__}: {exc}"
    print("✓ correct" if hint is None else f"✗ not yet: {hint}")
    return hint is None


def compare_answer(got, expected, *, name: str = "your function", where: str = "",
                   rtol: float = 1e-7, atol: float = 1e-9) -> str | None:
    """The usual hint for a numeric answer: None if ``got`` equals ``expected``, else why not.

    ``name`` is what returned ``got`` (for "... returned None"); ``where`` says for which input,
    e.g. ``" for alpha = 0.1"``, and ends the hint.
    """
    if got is None:
        return f"{name} returned None"
    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return f"{name} should return numbers, got {type(got).__name__}"
    expected = np.asarray(expected, dtype=float)
    if got.shape != expected.shape:
        return f"expected shape {expected.shape}, got {got.shape}{where}"
    if not np.allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True):
        return f"wrong values{where}"
    return None
