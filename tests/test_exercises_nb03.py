"""Notebook 03's checkers (gamaml/exercise_checks/nb03.py): the one-line shortcuts of issue 19
(or their equivalents for the rewritten exercises) get "not yet", the known mistakes are named,
a right answer passes. Exercise 1's checker is tested in tests/test_exercises.py."""

from __future__ import annotations

import numpy as np
import pytest

import gamaml_helpers as gh
from gamaml.exercise_checks.nb03 import (
    check_exercise_first_order_gap,
    check_exercise_paired_difference,
    check_exercise_predict_two_step_ratio,
    check_exercise_two_step_meta_gradients,
)


def test_the_two_step_checker_still_prints_one_line(run_checker):
    assert "returned None" in run_checker.not_yet(check_exercise_two_step_meta_gradients,
                                                  lambda t, b, a: None)


# Exercise 2: first-order gradients and the relative gap ---------------------------------------


def exact(theta, batch, alpha, steps=1):
    return gh.maml_meta_gradients(theta, batch.x_support, batch.y_support, batch.x_query,
                                  batch.y_query, alpha, inner_steps=steps)


def first_order(theta, batch, alpha, steps=1):
    adapted = gh.inner_update(theta, batch.x_support, batch.y_support, alpha, steps=steps)
    return gh.bce_grad(adapted, batch.x_query, batch.y_query)


def norms(g):
    return np.linalg.norm(g, axis=1)


def gap(theta, batch, alpha, steps=1):
    e, f = exact(theta, batch, alpha, steps), first_order(theta, batch, alpha, steps)
    return np.mean(norms(e - f) / norms(e))


CASE = (gh.init_theta(6, rng=np.random.default_rng(1)),
        gh.sample_tasks(3, 5, n_features=6, rng=np.random.default_rng(2)), 0.7)


def at_theta(theta, batch, alpha, steps=1):
    return gh.bce_grad(np.broadcast_to(theta, (batch.n_tasks, theta.size)), batch.x_query,
                       batch.y_query)


@pytest.mark.parametrize("fn, named", [
    (lambda t, b, a, s=1: gh.maml_meta_gradients(  # issue 19's shortcut for part (a)
        t, b.x_support, b.y_support, b.x_query, b.y_query, a, inner_steps=s, first_order=True),
     "calling gh.maml_meta_gradients does not count"),
    (at_theta, "the query gradient at theta, with no inner step"),
    (lambda t, b, a, s=1: first_order(t, b, a, 1), "the gradient after one inner step"),
    (lambda t, b, a, s=1: gh.bce_grad(
        gh.inner_update(t, b.x_support, b.y_support, a, steps=s), b.x_support, b.y_support),
     "the support gradient at the adapted parameters"),
    (lambda t, b, a, s=1: gh.meta_step(t, b, method="maml", alpha=a, inner_steps=s),
     "calling gh.meta_step does not count"),
    (lambda t, b, a, s=1: None, "first_order_gradients returned None"),
])
def test_first_order_gradients_refuse_the_helper_and_name_mistakes(run_checker, fn, named):
    assert named in run_checker.not_yet(check_exercise_first_order_gap, fn, gap)


def exact_by_hand(theta, batch, alpha, steps=1):
    """The exact meta-gradient without the helper: the inner loop, then (I - alpha H_j)."""
    points = [np.broadcast_to(theta, (batch.n_tasks, theta.size))]
    for _ in range(steps):
        points.append(points[-1] - alpha * gh.bce_grad(points[-1], batch.x_support,
                                                       batch.y_support))
    v = gh.bce_grad(points[-1], batch.x_query, batch.y_query)
    for point in reversed(points[:-1]):
        v = v - alpha * gh.bce_hvp(point, batch.x_support, v)
    return v


def test_first_order_gradients_exact_meta_gradient_is_named(run_checker):
    np.testing.assert_allclose(exact_by_hand(*CASE, steps=2), exact(*CASE, steps=2))
    out = run_checker.not_yet(check_exercise_first_order_gap, exact_by_hand, gap)
    assert "the exact meta-gradient: first order drops the (I - alpha H) factors" in out


@pytest.mark.parametrize("fn, named", [
    (lambda t, b, a, s=1: np.mean(norms(exact(t, b, a, s) - first_order(t, b, a, s))
                                  / norms(first_order(t, b, a, s))),
     "|g_first| in the denominator"),
    (lambda t, b, a, s=1: np.linalg.norm(exact(t, b, a, s).mean(0) - first_order(t, b, a, s)
                                         .mean(0)) / np.linalg.norm(exact(t, b, a, s).mean(0)),
     "a norm of means"),
    (lambda t, b, a, s=1: np.mean(norms(exact(t, b, a, s) - first_order(t, b, a, s)))
     / np.mean(norms(exact(t, b, a, s))), "a ratio of means"),
    (lambda t, b, a, s=1: np.mean(norms(exact(t, b, a, s) - first_order(t, b, a, s))),
     "the absolute gap"),
    (lambda t, b, a, s=1: np.mean(norms(exact(t, b, a, s) - at_theta(t, b, a))
                                  / norms(exact(t, b, a, s))), "no inner step"),
    (lambda t, b, a, s=1: gap(t, b, a, 1), "the gap for one inner step"),
])
def test_the_gap_names_the_known_mistakes(run_checker, fn, named):
    assert named in run_checker.not_yet(check_exercise_first_order_gap, first_order, fn)


def test_the_gap_accepts_a_right_answer_and_the_helper_is_back(run_checker):
    assert run_checker(check_exercise_first_order_gap, first_order, gap) == (
        True, "✓ correct\n")
    assert callable(gh.maml_meta_gradients) and gh.maml_meta_gradients.__name__ != "call"


# Exercise 3: predict, then run --------------------------------------------------------------


def test_the_prediction_waits_for_numbers(run_checker):
    assert "write your predictions first" in run_checker.not_yet(
        check_exercise_predict_two_step_ratio, None, None)
    assert "predicted_ratio_large" in run_checker.not_yet(
        check_exercise_predict_two_step_ratio, 0.03, "0.5")


def test_the_prediction_prints_both_values_and_names_the_naive_guesses(run_checker):
    out = run_checker.not_yet(check_exercise_predict_two_step_ratio, 0.015, 1.03)  # "as one step",
    assert "yours 0.015, measured 0.030" in out and "yours 1.03, measured 0.469" in out  # "x2"
    assert "you kept one step's value" in out and "do not simply add up" in out
    assert "(one step, section 4: 0.015 and 0.517)" in out


def test_a_good_prediction_passes_and_shows_the_measured_values(run_checker):
    ok, out = run_checker(check_exercise_predict_two_step_ratio, 0.03, 0.5)
    assert ok and out.startswith("✓ correct: ") and "measured 0.469" in out


# Exercise 4: MAML against joint training, paired over seeds ----------------------------------

T_975 = {2: 4.303, 3: 3.182, 4: 2.776}


def accuracies(spread, seeds, steps=1, what="score_after"):
    out = {}
    for method in ("joint", "maml"):
        values = []
        for seed in seeds:
            config = gh.LinearConfig(method=method, spread=spread, meta_iterations=200,
                                     seed=seed)
            e = gh.adapt_and_evaluate(gh.meta_train(config).theta, gh.make_eval_tasks(config),
                                      config.alpha, steps=steps)
            values.append(getattr(e, what).mean())
        out[method] = np.array(values)
    return out


def paired(spread, seeds, half=None, sign=1.0, **kwargs):
    acc = accuracies(spread, seeds, **kwargs)
    d = sign * (acc["maml"] - acc["joint"])
    n = len(d)
    if half is None:
        half = T_975[n - 1] * d.std(ddof=1) / np.sqrt(n)
    else:
        half = half(acc, d, n)
    return {"differences": d, "mean": d.mean(), "half_width": half}


def one_seed(spread, seeds=None):
    """Issue 19's shortcut: the old checker's loop, one seed, two accuracies."""
    return {m: v[0] for m, v in accuracies(spread, (0,)).items()}


@pytest.mark.parametrize("fn, named", [
    (one_seed, "should return a dict with the keys 'differences', 'mean' and 'half_width'"),
    (lambda s, seeds: paired(s, (0,), half=lambda a, d, n: 0.0), "expected shape (5,), got (1,)"),
    (lambda s, seeds: paired(s, seeds, sign=-1.0), "the sign is reversed"),
    (lambda s, seeds: paired(s, seeds, steps=0, what="score_before"),
     "accuracies before adaptation"),
    (lambda s, seeds: paired(s, seeds, what="loss_after"), "query losses, not accuracies"),
    (lambda s, seeds: paired(s, seeds, half=lambda a, d, n: T_975[n - 1] * np.sqrt(
        (a["joint"].var(ddof=1) + a["maml"].var(ddof=1)) / n)), "unpaired"),
    (lambda s, seeds: paired(s, seeds, half=lambda a, d, n: 1.96 * d.std(ddof=1) / np.sqrt(n)),
     "the normal quantile 1.96"),
    (lambda s, seeds: paired(s, seeds, half=lambda a, d, n: d.std(ddof=1) / np.sqrt(n)),
     "one standard error"),
    (lambda s, seeds: paired(s, seeds, half=lambda a, d, n: T_975[n - 1] * d.std(ddof=1)),
     "divides it by sqrt(n)"),
    (lambda s, seeds: paired(s, seeds, half=lambda a, d, n: T_975[n - 1] * d.std()
                             / np.sqrt(n)), "ddof=0"),
    (lambda s, seeds: paired(s, seeds, half=lambda a, d, n: 2.571 * d.std(ddof=1) / np.sqrt(n)),
     "Student's t with n degrees of freedom"),
    (lambda s, seeds: None, "got NoneType"),
])
def test_the_paired_difference_refuses_one_seed_and_names_mistakes(run_checker, fn, named):
    assert named in run_checker.not_yet(check_exercise_paired_difference, fn)


def test_the_paired_difference_accepts_a_right_answer(run_checker):
    assert run_checker(check_exercise_paired_difference, paired) == (True, "✓ correct\n")
