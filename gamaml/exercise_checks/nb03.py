"""Checkers of notebook 03's exercises (MAML). Not part of the lesson."""

from __future__ import annotations

import numpy as np

from gamaml.exercise_checks._common import named
from gamaml.exercises import check_exercise, compare_answer, forbidding

__all__ = ['check_exercise_two_step_meta_gradients']


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
                return named(hint, got, mistakes)
        return None

    return check_exercise(test)
