"""Checkers of notebook 04's exercises (the weights). Not part of the lesson."""

from __future__ import annotations

import numpy as np

from gamaml.exercise_checks._common import named, paper_weights
from gamaml.exercises import (
    check_exercise,
    check_prediction,
    compare_answer,
    forbidding,
    forbidding_notebook,
    loop_depth,
)

__all__ = ['check_exercise_ga_weights_loops', 'check_exercise_odd_one_out',
           'check_exercise_two_step_weights']


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
            with forbidding(gamaml_helpers, "ga_weights"), forbidding_notebook("my_ga_weights"):
                got = fn(updates.copy())  # a copy: the reference below uses the original
            where = f" for updates of shape {updates.shape}"
            hint = compare_answer(got, paper_weights(updates), rtol=1e-5, atol=1e-8, where=where)
            if hint is not None:
                return named(hint, got, _known_mistakes(updates))
        if (loop_depth(fn) or 0) < 2:
            return ("ga_weights_loops needs two nested Python loops over the tasks, one dot "
                    "product at a time: the vectorised form is section 1's")
        return None

    return check_exercise(test)


def _numbers(values) -> str:
    return "[" + ", ".join(f"{v:.3f}" for v in values) + "]"


def _two_step_updates(theta, batch, alpha, *, second_at=None, sign=-1.0):
    """theta - theta_2 after two inner steps on the support sets (or a known mistake)."""
    import gamaml_helpers as gh

    xs, ys = batch.x_support, batch.y_support
    t0 = np.broadcast_to(theta, (batch.n_tasks, theta.size))
    g0 = gh.bce_grad(t0, xs, ys)
    t1 = t0 + sign * alpha * g0
    g1 = gh.bce_grad(t0 if second_at == "theta" else t1, xs, ys)
    return alpha * (g0 + g1)


def check_exercise_two_step_weights(fn):
    """Notebook 04, exercise 2: the GA weights after two inner steps, the steps written out
    with gh.bce_grad. Calling gh.inner_update (or a helper that adapts) inside ``fn`` does not
    count."""
    import gamaml_helpers as gh

    batch = gh.sample_tasks(6, 10, n_features=20, rng=np.random.default_rng(31))
    theta = gh.init_theta(20, rng=np.random.default_rng(32))

    def test():
        if fn is gh.inner_update or fn is gh.ga_weights:
            return "this exercise asks for your own function of (theta, batch, alpha)"
        for a in (0.1, 1.0, 3.0):
            updates = _two_step_updates(theta, batch, a)
            xs, ys = batch.x_support, batch.y_support
            one_step = gh.bce_grad(np.broadcast_to(theta, (batch.n_tasks, theta.size)), xs, ys)
            adapted = theta - updates
            mistakes = {
                "the one-step weights: the second gradient belongs at theta_1 = theta - "
                "alpha grad L^s(theta), not at theta (with both at theta, alpha cancels)":
                    paper_weights(one_step),
                "the weights of the second step alone: the update theta - theta_2 holds both "
                "steps": paper_weights(gh.bce_grad(theta - a * one_step, xs, ys)),
                "an inner step uphill: theta_1 = theta - alpha grad L^s(theta), with a minus":
                    paper_weights(_two_step_updates(theta, batch, a, sign=1.0)),
                "the weights of the adapted parameters theta_2, not of the updates "
                "theta - theta_2": paper_weights(adapted),
                "the book's denominator (exercise 1)":
                    (updates @ updates.T).sum(1) / np.abs(updates @ updates.T).sum(),
            }
            with forbidding(gh, "inner_update", "maml_meta_gradients", "meta_step",
                            "outer_direction"):
                got = fn(theta, batch, a)
            hint = compare_answer(got, paper_weights(updates), rtol=1e-6, atol=1e-9,
                                  where=f" at alpha = {a:g}")
            if hint is not None:
                return named(hint, got, mistakes)
        return None

    return check_exercise(test)


def check_exercise_odd_one_out(predicted):
    """Notebook 04, exercise 3: the predicted weights of the updates g, g, -3g."""
    g = np.random.default_rng(43).standard_normal(5)
    right = paper_weights(np.array([g, g, -3 * g]))
    mistakes = {
        "the weights of g, g, -g: the third update is three times longer, and length counts":
            np.array([1, 1, -1]) / 3,
        "the right sizes with the signs reversed: w_i has the sign of g_i . s, and here "
        "s = g + g - 3g = -g": -right,
        "weights without their signs: the absolute values belong in the denominator only":
            np.abs(right),
        "weights scaled so that they sum to 1: eq. 13 makes their absolute values sum to 1":
            right / right.sum(),
        "MAML's uniform weights": np.full(3, 1 / 3),
    }

    def test():
        if predicted is None:
            return "write your prediction into `predicted` first, then run the cell", None
        try:
            got = np.asarray(predicted, dtype=float)
        except (TypeError, ValueError):
            got = None
        if got is None or got.shape != (3,):
            return "predicted should be three numbers, [w_1, w_2, w_3]", None
        values = f"you predicted {_numbers(got)}, the formula gives {_numbers(right)}"
        if np.allclose(got, right, rtol=0, atol=0.01):
            return None, values
        for name, wrong in mistakes.items():
            if np.allclose(got, wrong, rtol=0, atol=0.01):
                return f"{values}. Yours are {name}", None
        return f"{values} (within 0.01 counts)", None

    return check_prediction(test)
