"""Checkers of the notebooks' exercises that live outside the notebooks, so that no expected
value or reference expression is on a student's screen. Not part of the lesson.

Each checker prints one line, ``✓ correct`` or ``✗ not yet: <what is wrong>``, and returns a
``Verdict`` that shows nothing in the notebook (``assert`` it in a solution). Where the
exercise has a well-known wrong answer, the hint names it.
"""

from __future__ import annotations

import numpy as np

from gamaml.exercises import check_exercise, compare_answer, forbidding

__all__ = ["check_exercise_cosine_ga_weights", "check_exercise_ga_weights_loops",
           "check_exercise_two_step_meta_gradients"]


def _paper(updates: np.ndarray) -> np.ndarray:
    """Eq. 13 of Eshratifar et al., from the Gram matrix (the reference, off screen)."""
    agreement = (updates @ updates.T).sum(axis=1)
    return agreement / np.abs(agreement).sum()


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
        "(b))": _paper(updates) / t,
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
            hint = compare_answer(got, _paper(updates), rtol=1e-5, atol=1e-8, where=where)
            if hint is None:
                continue
            if "wrong values" in hint:
                for name, wrong in _known_mistakes(updates).items():
                    if np.allclose(np.asarray(got, dtype=float), wrong, rtol=1e-5, atol=1e-8):
                        return f"{hint}. These are {name}"
            return hint
        return None

    return check_exercise(test)


def _named(hint: str, got, mistakes: dict) -> str:
    """The hint, and the name of the known mistake ``got`` matches, if any."""
    if "wrong values" in hint:
        got = np.asarray(got, dtype=float)
        for name, wrong in mistakes.items():
            if got.shape == np.shape(wrong) and np.allclose(got, wrong, rtol=1e-5, atol=1e-8):
                return f"{hint}. These are {name}"
    return hint


def check_exercise_two_step_meta_gradients(fn):
    """Notebook 03, exercise 1: the meta-gradient through two inner steps, (I - alpha H_0)
    (I - alpha H_1) grad L^q(theta_2), with H_j at theta_j. Calling gh.maml_meta_gradients
    (or gh.meta_step / gh.outer_direction) inside ``fn`` does not count."""
    import gamaml_helpers as gh

    def test():
        if fn is gh.maml_meta_gradients:
            return "this exercise asks for your own code: gh.maml_meta_gradients does not count"
        for a in (0.5, 2.0):
            b = gh.sample_tasks(6, 8, k_query=5, n_features=7, rng=np.random.default_rng(11))
            t = gh.init_theta(7, rng=np.random.default_rng(12))
            xs, ys = b.x_support, b.y_support
            expected = gh.maml_meta_gradients(t, xs, ys, b.x_query, b.y_query, a, inner_steps=2)
            t0 = np.broadcast_to(t, (b.n_tasks, t.size))
            t1 = t0 - a * gh.bce_grad(t0, xs, ys)
            t2 = t1 - a * gh.bce_grad(t1, xs, ys)
            g = gh.bce_grad(t2, b.x_query, b.y_query)

            def factor(at, v, a=a, xs=xs):  # (I - alpha H(at)) v, H of the support loss
                return v - a * gh.bce_hvp(at, xs, v)

            mistakes = {
                "the first-order gradient: the (I - alpha H) factors are missing": g,
                "the factors in the wrong order: apply (I - alpha H_1) first, then "
                "(I - alpha H_0), right to left": factor(t1, factor(t0, g)),
                "both Hessians at the starting point: H_1 is the Hessian at theta_1, "
                "not at theta": factor(t0, factor(t0, g)),
                "the Hessians at the wrong points (theta_1 and theta_2): H_j belongs to theta_j":
                    factor(t1, factor(t2, g)),
                "only one factor: two inner steps give two (I - alpha H) factors":
                    factor(t0, g),
            }
            with forbidding(gh, "maml_meta_gradients", "meta_step", "outer_direction"):
                got = fn(t, b, a)
            hint = compare_answer(got, expected, rtol=1e-7, atol=1e-10, where=f" at alpha = {a}")
            if hint is not None:
                return _named(hint, got, mistakes)
        return None

    return check_exercise(test)


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
            mistakes = {
                "the paper's weights on the raw updates: normalise every row to length 1 first":
                    _paper(updates),
                "the paper's weights, normalised afterwards: it is the updates that are "
                "normalised, before the formula": _paper(updates) / np.abs(_paper(updates)).max(),
                "the book's denominator on the unit updates": gram.sum(1) / np.abs(gram).sum(),
                "cosines without the self term": (gram.sum(1) - 1) / np.abs(gram.sum(1) - 1).sum(),
            }
            with forbidding(gh, "ga_weights"):
                got = fn(updates)
            hint = compare_answer(got, _paper(unit), rtol=1e-5, atol=1e-8)
            if hint is not None:
                return _named(hint, got, mistakes)
        return None

    return check_exercise(test)
