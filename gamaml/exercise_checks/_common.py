"""What the per-notebook checkers share: the paper's weights as a reference, and naming a
known mistake in a hint. Not part of the lesson."""

from __future__ import annotations

import numpy as np

__all__ = ["named", "paper_weights"]


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
