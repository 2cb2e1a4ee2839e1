"""Checking the notebooks' exercises: a verdict and a hint, never a traceback.

Not part of the lesson: the notebooks' exercise cells call these through ``gh``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np

__all__ = ["Verdict", "check_exercise", "check_prediction", "compare_answer", "forbidding"]


class Verdict:
    """A checker's result: true when the answer is right. It shows nothing when it is the last
    value of a notebook cell (the checker has already printed its line), so a scaffold's call
    prints one clear line and no ``True``/``False``; ``assert`` it in a solution."""

    def __init__(self, ok: bool):
        self.ok = bool(ok)

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return f"Verdict({self.ok})"

    def _ipython_display_(self) -> None:  # IPython calls this instead of showing the repr
        pass


def check_exercise(test: Callable[[], str | None]) -> Verdict:
    """Run one exercise's checks and print the verdict: ``✓ correct`` or ``✗ not yet: <hint>``.

    ``test()`` returns None when the answer is right, or a hint saying what is still wrong.
    An exception raised inside (by the student's code, say) becomes the hint. Returns a
    ``Verdict``, true when correct, so a solution cell can ``assert`` it.
    """
    if not callable(test):
        raise ValueError(f"test must be callable, got {test!r}")
    return check_prediction(lambda: (test(), None))


def check_prediction(test: Callable[[], tuple[str | None, str | None]]) -> Verdict:
    """``check_exercise`` for a predict-then-run exercise, whose one line can quote the values:
    ``✓ correct: <values>`` (``✓ correct`` when there are none) or ``✗ not yet: <hint>``.

    ``test()`` returns ``(hint, values)``: ``hint`` None when the prediction is right, else what
    is off (quoting the prediction and the measurement itself); ``values`` the text shown after
    ``✓ correct``, the prediction beside what was measured. An exception raised inside becomes
    the hint. Returns a ``Verdict``, true when correct.
    """
    if not callable(test):
        raise ValueError(f"test must be callable, got {test!r}")
    try:
        hint, values = test()
    except Exception as exc:  # the student's code may raise anything: report it, do not crash
        hint, values = f"your code raised {type(exc).__name__}: {exc}", None
    print(f"✗ not yet: {hint}" if hint is not None else
          f"✓ correct: {values}" if values else "✓ correct")
    return Verdict(hint is None)


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
    close = np.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    if not close.all():
        first = np.unravel_index(np.argmin(close), close.shape)
        index = tuple(int(i) for i in first)
        at = f" at index {index[0] if len(index) == 1 else index}" if got.ndim else ""
        return (f"wrong values{where}: yours {got[first]:.6g}, expected {expected[first]:.6g}"
                f"{at}")
    return None


@contextlib.contextmanager
def forbidding(module, *names: str):
    """Within the block, ``module.<name>`` raises for every ``names``: an exercise that asks for
    the student's own code cannot be answered by calling the helper it is checked against."""
    missing = [name for name in names if not callable(getattr(module, name, None))]
    if not names or missing:
        raise ValueError(f"names must be functions of {getattr(module, '__name__', module)}, "
                         f"got {missing or 'none'}")
    with _refusing([(module, name, f"this exercise asks for your own code: calling gh.{name} "
                                   "does not count") for name in names]):
        yield


@contextlib.contextmanager
def _refusing(targets):
    """Within the block, ``owner.<name>`` raises ``RuntimeError(message)`` for every
    ``(owner, name, message)`` of ``targets``, and is restored afterwards: ``forbidding``'s
    machinery, which the checkers also use to refuse a library's function or a class's method."""
    targets = list(targets)
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in targets]

    def refuse(message):
        def call(*args, **kwargs):
            raise RuntimeError(message)
        return call

    try:
        for owner, name, message in targets:
            setattr(owner, name, refuse(message))
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)
