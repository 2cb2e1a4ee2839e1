"""Measuring a starting point: adapt it to each task and score the query sets.

Not part of the lesson (``gamaml_helpers`` adapts with ``inner_update``; this scores the
result): used by the notebooks, the training bookkeeping, the widgets and the studies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gamaml.checks import checked

__all__ = ["Evaluation", "adapt_and_evaluate"]


@dataclass
class Evaluation:
    """Per-task query loss and score (``model.score_name``) before and after adaptation, (T,)
    (notebook 03, section 6)."""

    loss_before: np.ndarray
    score_before: np.ndarray
    loss_after: np.ndarray
    score_after: np.ndarray


@checked
def adapt_and_evaluate(theta, batch, alpha: float, *, steps: int = 1,
                       model=None) -> Evaluation:
    """Adapt theta to each task's support set and score its query set, before and after
    (notebook 03, section 6). ``steps=0``: no adaptation. theta (P,) -> Evaluation of (T,)."""
    from gamaml_helpers import inner_update

    xq, yq = batch.x_query, batch.y_query
    shared = np.broadcast_to(theta, (batch.n_tasks, theta.shape[-1]))
    before = model.loss(shared, xq, yq), model.score(shared, xq, yq)
    if not steps:
        return Evaluation(*before, *before)
    adapted = inner_update(theta, batch.x_support, batch.y_support, alpha, steps=steps,
                           model=model)
    return Evaluation(*before, model.loss(adapted, xq, yq), model.score(adapted, xq, yq))
