"""Checkers of notebook 03's exercises (MAML). Not part of the lesson."""

from __future__ import annotations

import numpy as np

from gamaml.exercise_checks._common import named
from gamaml.exercises import (
    check_exercise,
    check_prediction,
    compare_answer,
    forbidding,
    forbidding_notebook,
    loop_depth,
)

__all__ = ['check_exercise_two_step_meta_gradients', 'check_exercise_first_order_gap',
           'check_exercise_predict_two_step_ratio', 'check_exercise_paired_difference']


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
            with (forbidding(gh, "maml_meta_gradients", "meta_step", "outer_direction"),
                  forbidding_notebook("my_maml_meta_gradients")):
                got = fn(t, b, a)
            hint = compare_answer(got, expected, rtol=1e-7, atol=1e-10, where=f" at alpha = {a}")
            if hint is not None:
                return named(hint, got, mistakes)
        if loop_depth(fn) != 0:
            return ("two_step_meta_gradients has a Python loop: write the two steps and the two "
                    "factors out, one line each")
        return None

    return check_exercise(test)


def _first_order_reference(gh, theta, batch, alpha, steps):
    """The first-order MAML gradient: `steps` inner steps, then the query gradient there."""
    adapted = gh.inner_update(theta, batch.x_support, batch.y_support, alpha, steps=steps)
    return gh.bce_grad(adapted, batch.x_query, batch.y_query)


def _relative_gaps(exact, first):
    """Per task, |g_exact - g_first| / |g_exact|, (T,)."""
    return np.linalg.norm(exact - first, axis=1) / np.linalg.norm(exact, axis=1)


def check_exercise_first_order_gap(gradients_fn, gap_fn):
    """Notebook 03, exercise 2: (a) the first-order MAML gradients after ``steps`` inner steps,
    (b) the mean over tasks of |g_exact - g_first| / |g_exact|, for one and two steps.
    Calling gh.maml_meta_gradients (or gh.meta_step / gh.outer_direction) inside
    ``gradients_fn`` does not count; ``gap_fn`` may take g_exact from it."""
    import gamaml_helpers as gh

    b = gh.sample_tasks(8, 10, n_features=20, rng=np.random.default_rng(21))
    t = gh.init_theta(20, rng=np.random.default_rng(22))
    xs, ys, xq, yq = b.x_support, b.y_support, b.x_query, b.y_query
    cases = [(steps, a) for steps in (1, 2) for a in (0.3, 1.0, 3.0)]

    def gradients_test():
        for steps, a in cases:
            first = _first_order_reference(gh, t, b, a, steps)
            exact = gh.maml_meta_gradients(t, xs, ys, xq, yq, a, inner_steps=steps)
            adapted = gh.inner_update(t, xs, ys, a, steps=steps)
            mistakes = {
                "the query gradient at theta, with no inner step: first-order MAML adapts "
                "first, then takes the query gradient at the adapted parameters":
                    gh.bce_grad(np.broadcast_to(t, (b.n_tasks, t.size)), xq, yq),
                "the support gradient at the adapted parameters: the outer gradient is the "
                "query set's": gh.bce_grad(adapted, xs, ys),
                "the exact meta-gradient: first order drops the (I - alpha H) factors": exact,
            }
            if steps > 1:
                mistakes["the gradient after one inner step: adapt `steps` times"] = \
                    _first_order_reference(gh, t, b, a, 1)
            with (forbidding(gh, "maml_meta_gradients", "meta_step", "outer_direction"),
                  forbidding_notebook("my_maml_meta_gradients")):
                got = gradients_fn(t, b, a, steps)
            hint = compare_answer(got, first, name="first_order_gradients", rtol=1e-7,
                                  atol=1e-10, where=f" from first_order_gradients at alpha = "
                                                    f"{a}, steps = {steps}")
            if hint is not None:
                return named(hint, got, mistakes)
        return None

    def gap_test():
        for steps, a in cases:
            first = _first_order_reference(gh, t, b, a, steps)
            exact = gh.maml_meta_gradients(t, xs, ys, xq, yq, a, inner_steps=steps)
            diff = np.linalg.norm(exact - first, axis=1)
            no_step = gh.bce_grad(np.broadcast_to(t, (b.n_tasks, t.size)), xq, yq)
            mistakes = {
                "section 4's ratio, with |g_first| in the denominator: the relative gap "
                "divides by |g_exact|": np.mean(diff / np.linalg.norm(first, axis=1)),
                "the gap of the tasks' mean gradients (a norm of means, as in section 3): "
                "take each task's relative gap, then the mean over tasks":
                    np.linalg.norm(exact.mean(0) - first.mean(0))
                    / np.linalg.norm(exact.mean(0)),
                "a ratio of means, mean |g_exact - g_first| / mean |g_exact|: divide task by "
                "task, then average": diff.mean() / np.linalg.norm(exact, axis=1).mean(),
                "the absolute gap: divide each task's |g_exact - g_first| by its |g_exact|":
                    diff.mean(),
                "the gap to the query gradient at theta (no inner step)":
                    _relative_gaps(exact, no_step).mean(),
            }
            if steps > 1:
                mistakes["the gap for one inner step: pass `steps` on to both gradients"] = \
                    _relative_gaps(gh.maml_meta_gradients(t, xs, ys, xq, yq, a),
                                   _first_order_reference(gh, t, b, a, 1)).mean()
            got = gap_fn(t, b, a, steps)
            hint = compare_answer(got, _relative_gaps(exact, first).mean(),
                                  name="first_order_gap", rtol=1e-6, atol=1e-10,
                                  where=f" from first_order_gap at alpha = {a}, steps = {steps}")
            if hint is not None:
                return named(hint, got, mistakes)
        return None

    return check_exercise(lambda: gradients_test() or gap_test())


def _section_1():
    """Section 1's batch and random start (seed 0, T = K = 10, d = 50), rebuilt off screen."""
    import gamaml_helpers as gh

    rng = np.random.default_rng(0)
    batch = gh.sample_tasks(10, 10, k_query=10, n_features=50, rng=rng)
    return batch, gh.init_theta(50, rng=rng)


def _dropped_ratio(theta, batch, alpha, steps):
    """Section 4's measure: mean over tasks of |g_exact - g_first| / |g_first|."""
    import gamaml_helpers as gh

    data = (batch.x_support, batch.y_support, batch.x_query, batch.y_query, alpha)
    exact = gh.maml_meta_gradients(theta, *data, inner_steps=steps)
    first = gh.maml_meta_gradients(theta, *data, inner_steps=steps, first_order=True)
    return float(np.mean(np.linalg.norm(exact - first, axis=1) / np.linalg.norm(first, axis=1)))


def check_exercise_predict_two_step_ratio(predicted_small, predicted_large, *,
                                          tolerance=0.2):
    """Notebook 03, exercise 3 (predict, then run): section 4's ratio |g_exact - g_first| /
    |g_first| with TWO inner steps, at alpha = 0.1 and alpha = 3, on section 1's batch and
    start. A prediction within ``tolerance`` (relative) of the run counts. Prints one line with
    both predictions, both measured values and the one-step values of section 4."""
    def test():
        predictions = {"predicted_ratio_small": predicted_small,
                       "predicted_ratio_large": predicted_large}
        missing = [name for name, value in predictions.items()
                   if isinstance(value, bool) or not isinstance(value, int | float | np.number)
                   or not np.isfinite(value)]
        if missing:
            return f"write your predictions first, as numbers ({', '.join(missing)})", None
        return _two_step_ratio_verdict(predicted_small, predicted_large, tolerance)

    return check_prediction(test)


def _two_step_ratio_verdict(predicted_small, predicted_large, tolerance):
    """Exercise 3's (hint, values) for two predictions already known to be numbers."""
    batch, theta = _section_1()
    one = [_dropped_ratio(theta, batch, a, 1) for a in (0.1, 3.0)]
    two = [_dropped_ratio(theta, batch, a, 2) for a in (0.1, 3.0)]
    said = (f"two inner steps, alpha = 0.1: yours {float(predicted_small):.3g}, measured "
            f"{two[0]:.3f}; alpha = 3: yours {float(predicted_large):.3g}, measured {two[1]:.3f} "
            f"(one step, section 4: {one[0]:.3f} and {one[1]:.3f})")
    off = [abs(p - r) > tolerance * r for p, r in zip((predicted_small, predicted_large), two,
                                                     strict=True)]
    if not any(off):
        return None, said
    why = []
    if off[0] and abs(predicted_small - one[0]) <= tolerance * one[0]:
        why.append("at alpha = 0.1 you kept one step's value, but two steps drop two terms")
    if off[1] and predicted_large > one[1] * (1 + tolerance):
        why.append("at alpha = 3 the dropped terms do not simply add up")
    wrong = " and ".join(name for name, o in zip(("alpha = 0.1", "alpha = 3"), off, strict=True)
                         if o)
    return (f"{said}. Off by more than {tolerance * 100:.0f} % at {wrong}"
            + (f" ({'; '.join(why)})" if why else "") + ": now say why, in the cell below"), None


_T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
          9: 2.262, 10: 2.228, 11: 2.201}  # 95 % quantiles of Student's t, by degrees of freedom
_paired_runs_cache: dict = {}


def _paired_runs(spread, seeds):
    """Per method and seed, the held-out query accuracy after 0 and 1 adaptation steps and the
    query loss after one step (200 meta-iterations), computed once per (spread, seeds)."""
    import gamaml_helpers as gh

    key = (float(spread), tuple(seeds))
    if key not in _paired_runs_cache:
        runs = {}
        for method in ("joint", "maml"):
            rows = []
            for seed in seeds:
                config = gh.LinearConfig(method=method, spread=spread, meta_iterations=200,
                                         seed=seed)
                e = gh.adapt_and_evaluate(gh.meta_train(config).theta,
                                          gh.make_eval_tasks(config), config.alpha)
                rows.append((e.score_before.mean(), e.score_after.mean(), e.loss_after.mean()))
            runs[method] = np.array(rows)  # (n_seeds, 3)
        _paired_runs_cache[key] = runs
    return _paired_runs_cache[key]


def check_exercise_paired_difference(fn):
    """Notebook 03, exercise 4: MAML - joint training, accuracy after one step on each run's
    held-out tasks, paired by seed, with a 95 % t-interval: ``fn(spread, seeds)`` returns
    ``{"differences": (n,), "mean": float, "half_width": float}``. Tried at spread 3 with
    seeds 0-4, at spread 1 with seeds 0-2, then at a spread and seeds the hints do not show
    (so a table of the first two answers does not pass); the hints name the unpaired
    interval, 1.96, one standard error, the wrong degrees of freedom, the reversed sign."""

    keys = ("differences", "mean", "half_width")

    def test():
        for spread, seeds, shown in ((3.0, (0, 1, 2, 3, 4), True), (1.0, (0, 1, 2), True),
                                     (2.0, (5, 6, 7), False)):  # the last: a hidden check
            runs = _paired_runs(spread, seeds)
            joint, maml = runs["joint"], runs["maml"]
            n = len(seeds)
            d = maml[:, 1] - joint[:, 1]
            sd, t = d.std(ddof=1), _T_975[n - 1]
            got = fn(spread, seeds)
            call = f"paired_difference({spread:g}, {seeds})"
            if not isinstance(got, dict) or not set(keys) <= set(got):
                return f"{call} should return a dict with the keys 'differences', 'mean' " \
                       f"and 'half_width', got {type(got).__name__}"
            where = f" for spread = {spread:g}, seeds {seeds}"
            hint = compare_answer(got["differences"], d, name=f"{call}['differences']",
                                  rtol=1e-9, atol=1e-9, where=where, show_expected=shown)
            if hint is not None:
                mistakes = {
                    "joint - MAML: the sign is reversed, the difference is MAML - joint": -d,
                    "accuracies before adaptation: score after one step (score_after)":
                        maml[:, 0] - joint[:, 0],
                    "query losses, not accuracies": maml[:, 2] - joint[:, 2],
                }
                if d[0] != 0:  # else the same as zeros left in as a placeholder
                    mistakes["the same seed for every run: train both methods at each seed "
                             "in turn"] = np.full(n, d[0])
                return named(hint, got["differences"], mistakes)
            hint = compare_answer(got["mean"], d.mean(), name=f"{call}['mean']", rtol=1e-9,
                                  atol=1e-9, where=f" (the mean difference){where}",
                                  show_expected=shown)
            if hint is not None:
                return hint
            se = sd / np.sqrt(n)
            hint = compare_answer(got["half_width"], t * se, name=f"{call}['half_width']",
                                  rtol=1e-4, atol=1e-9, where=f" (the 95 % half-width){where}",
                                  show_expected=shown)
            if hint is not None:
                return named(hint, got["half_width"], {
                    "unpaired: the two methods' standard errors combined. Both are scored on "
                    "the same tasks at each seed, so use the spread of the per-seed "
                    "differences": t * np.sqrt((joint[:, 1].var(ddof=1)
                                                + maml[:, 1].var(ddof=1)) / n),
                    "one standard error: a 95 % interval is T_975[n - 1] standard errors "
                    "either side": se,
                    "the normal quantile 1.96: with n seeds use Student's t with n - 1 degrees "
                    "of freedom, T_975[n - 1]": 1.96 * se,
                    "Student's t with n degrees of freedom: use n - 1": _T_975[n] * se,
                    "the standard deviation of the differences: the standard error divides it "
                    "by sqrt(n)": t * sd,
                    "a standard deviation with ddof=0: use ddof=1": t * d.std() / np.sqrt(n),
                })
        return None

    return check_exercise(test)
