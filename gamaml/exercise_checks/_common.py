"""What the per-notebook checkers share: the lesson module imported late, the paper's weights as
a reference, naming a known mistake in a hint, and reading a prediction. Not part of the
lesson."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__ = ["as_number", "helpers", "named", "paper_weights", "write_first"]


def helpers():
    """The lesson module, ``gamaml_helpers``, imported when a checker runs rather than when a
    notebook imports its checkers."""
    import gamaml_helpers

    return gamaml_helpers


def paper_weights(updates: np.ndarray) -> np.ndarray:
    """Eq. 13 of Eshratifar et al., from the Gram matrix (the reference, off screen)."""
    agreement = (updates @ updates.T).sum(axis=1)
    return agreement / np.abs(agreement).sum()


def named(hint: str, got, mistakes: dict) -> str:
    """The hint, and the name of the known mistake ``got`` matches, if any."""
    if "wrong values" in hint:
        try:
            got = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            return hint
        for name, wrong in mistakes.items():
            if got.shape == np.shape(wrong) and np.allclose(got, wrong, rtol=1e-5, atol=1e-8):
                return f"{hint}. These are {name}"
    return hint


def write_first(predictions: dict, ask: str = "write both predictions") -> str | None:
    """The hint of a predict-then-run checker while a prediction is still None, naming them all
    (``predictions`` maps the notebook's names to the values): "<ask> first (a and b), then run
    the cell". None once every one is written."""
    if all(value is not None for value in predictions.values()):
        return None
    names = list(predictions)
    listed = " and ".join(names) if len(names) == 2 else ", ".join(names)
    return f"{ask} first ({listed}), then run the cell"


def as_number(value, *, finite: bool = False) -> float | None:
    """A prediction as one float (``float(value)``; a string may be a fraction, "1/5"), or
    None if it is not a number (or, with ``finite``, not a finite one)."""
    try:
        number = float(Fraction(value.strip()) if isinstance(value, str) else value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if not finite or np.isfinite(number) else None
