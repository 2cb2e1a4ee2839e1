"""The one-line shortcuts a student-style audit of the kit found, each now answered "not yet".

The audit built the student kit and tried ~150 shortcuts; these are the ones that had passed:
a helper reached through a saved reference or a ``functools.partial`` (``forbidding`` now
refuses the function itself), the lesson's own function from an earlier cell (now refused by
``forbidding_notebook``, or by the structure the exercise asks for), a library function left
off the list, an input overwritten before the checker read it, and values typed in from a
hint that showed them.
"""

from __future__ import annotations

import functools
import sys

import numpy as np
import pytest

import gamaml_helpers as gh

SAVED = {name: getattr(gh, name) for name in
         ("accuracy", "bce_grad", "ga_weights", "inner_update", "maml_meta_gradients")}


@pytest.fixture
def notebook(monkeypatch):
    """Put functions into the kernel's namespace, as a notebook's earlier cells do."""
    def define(**functions):
        for name, function in functions.items():
            monkeypatch.setattr(sys.modules["__main__"], name, function, raising=False)
    return define


def test_01_a_saved_accuracy_and_a_loop_over_boundaries(run_checker):
    from gamaml.exercise_checks.nb01 import check_exercise_disagreement

    accuracy = SAVED["accuracy"]

    def loop(w, x):
        return np.array([[1 - accuracy(wj, x, (x @ wi > 0).astype(float)) for wj in w]
                         for wi in w])

    run_checker.not_yet(check_exercise_disagreement, loop, named="calling gh.accuracy")

    def plain_loop(w, x):
        labels = [(x @ wi > 0) for wi in w]
        return np.array([[np.mean(a != b) for b in labels] for a in labels])

    run_checker.not_yet(check_exercise_disagreement, plain_loop, named="Python loop")


def test_02_library_log_sigmoids_and_saved_helpers(run_checker):
    from gamaml.exercise_checks.nb02 import (
        check_exercise_hvp_without_hessian,
        check_exercise_log_sigmoid,
        check_exercise_weighted_bce_grad,
    )

    run_checker.not_yet(check_exercise_log_sigmoid,
                        lambda z: -np.logaddexp2(0, -z / np.log(2)) * np.log(2),
                        named="logaddexp2")
    bce_grad = SAVED["bce_grad"]

    def weighted(theta, x, y, c):
        per_point = bce_grad(np.tile(theta, (len(y), 1)), x[:, None], y[:, None])
        return c @ per_point / c.sum()

    run_checker.not_yet(check_exercise_weighted_bce_grad, weighted, named="gh.bce_grad")
    hvp = gh._hvp  # private, and refused all the same

    def my_hvp(theta, x, v):
        p = gh.sigmoid(np.einsum("...kd,...d->...k", x, theta))
        return hvp(x, p * (1 - p), v)

    run_checker.not_yet(check_exercise_hvp_without_hessian, my_hvp, named="does not count")


def test_03_the_notebook_s_own_meta_gradients_and_a_saved_helper(run_checker, notebook):
    from gamaml.exercise_checks.nb03 import (
        check_exercise_first_order_gap,
        check_exercise_two_step_meta_gradients,
    )

    def my_maml_meta_gradients(theta, batch, alpha, steps=1, first_order=False):
        return SAVED["maml_meta_gradients"](theta, batch.x_support, batch.y_support,
                                            batch.x_query, batch.y_query, alpha,
                                            inner_steps=steps, first_order=first_order)

    notebook(my_maml_meta_gradients=my_maml_meta_gradients)
    run_checker.not_yet(check_exercise_two_step_meta_gradients,
                        lambda t, b, a: my_maml_meta_gradients(t, b, a, steps=2),
                        named="the notebook's own my_maml_meta_gradients")
    saved = SAVED["maml_meta_gradients"]
    run_checker.not_yet(check_exercise_two_step_meta_gradients,
                        lambda t, b, a: saved(t, b.x_support, b.y_support, b.x_query,
                                              b.y_query, a, inner_steps=2),
                        named="calling gh.maml_meta_gradients")
    run_checker.not_yet(check_exercise_first_order_gap,
                        lambda t, b, a, s: saved(t, b.x_support, b.y_support, b.x_query,
                                                 b.y_query, a, inner_steps=s, first_order=True),
                        lambda t, b, a, s: 0.0, named="calling gh.maml_meta_gradients")


def test_04_vectorised_partial_and_overwritten_inputs(run_checker, notebook):
    from gamaml.exercise_checks.nb04 import (
        check_exercise_ga_weights_loops,
        check_exercise_two_step_weights,
    )

    def my_ga_weights(updates):
        agreement = (updates @ updates.T).sum(axis=1)
        return agreement / np.abs(agreement).sum()

    run_checker.not_yet(check_exercise_ga_weights_loops, my_ga_weights, named="nested")
    notebook(my_ga_weights=my_ga_weights)
    run_checker.not_yet(check_exercise_ga_weights_loops,
                        lambda u: [my_ga_weights(u) for _ in [0] for _ in [0]][0],
                        named="the notebook's own my_ga_weights")
    run_checker.not_yet(check_exercise_ga_weights_loops, functools.partial(gh.ga_weights),
                        named="calling gh.ga_weights")

    def overwrite(updates):
        updates[...] = 1.0
        return np.full(len(updates), 1 / len(updates))

    run_checker.not_yet(check_exercise_ga_weights_loops, overwrite, named="wrong values")
    inner_update = SAVED["inner_update"]

    def two_step(theta, batch, alpha):
        adapted = inner_update(theta, batch.x_support, batch.y_support, alpha, steps=2)
        return gh.ga_weights(np.broadcast_to(theta, adapted.shape) - adapted)

    run_checker.not_yet(check_exercise_two_step_weights, two_step,
                        named="calling gh.inner_update")


def test_05_cosine_weights_through_a_partial(run_checker):
    from gamaml.exercise_checks.nb05 import check_exercise_cosine_ga_weights

    run_checker.not_yet(check_exercise_cosine_ga_weights,
                        functools.partial(gh.ga_weights, normalization="cosine"),
                        named="calling gh.ga_weights")


def test_06_the_adapted_parameters_from_the_meta_gradient(run_checker):
    from gamaml.exercise_checks.nb06 import check_exercise_error_curve

    def error_curve(net, theta, tasks, alpha, max_steps):
        rows = []
        for s in range(max_steps + 1):
            adapted = (np.broadcast_to(theta, (tasks.n_tasks, theta.size)) if s == 0 else
                       gh.maml_meta_gradients(theta, tasks.x_support, tasks.y_support,
                                              tasks.x_query, tasks.y_query, alpha,
                                              inner_steps=s, first_order=True,
                                              with_adapted=True, model=net)[1])
            rows.append(net.loss(adapted, tasks.x_query, tasks.y_query))
        return np.array(rows)

    run_checker.not_yet(check_exercise_error_curve, error_curve,
                        named="calling gh.maml_meta_gradients")


def test_08_09_values_typed_in_from_a_hint(run_checker):
    """A hint of an answer that does not depend on an input must not show the answer, and a
    typed-in answer must fail on another input."""
    from gamaml.exercise_checks.nb08 import check_exercise_four_seeds
    from gamaml.exercise_checks.nb09 import check_exercise_largest_gap

    out = run_checker.not_yet(check_exercise_four_seeds, [0.0, 0.0, 0.0, 0.0], 0.0)
    assert "expected" not in out
    summary = {("plain-step", "sweep difference", f"ga-reptile - reptile @ {b}", "mse_5"):
               (d, 0.1, 10) for b, d in ((0.01, -0.5), (0.1, -0.1), (1.0, 0.9))}
    out = run_checker.not_yet(check_exercise_largest_gap, lambda s: (0.01, -0.49), summary)
    assert "-0.5" not in out
    run_checker.not_yet(check_exercise_largest_gap, lambda s: (0.01, -0.5), summary,
                        named="do not type it in")

    def reads(data):  # reads the summary; gives beta as the string of its name
        rows = {name.split("@ ")[1]: cell[0] for (e, k, name, m), cell in data.items()}
        beta = min(rows, key=rows.get)
        return beta, rows[beta]

    ok, out = run_checker(check_exercise_largest_gap, reads, summary)
    assert ok, out  # a beta given as "0.01" is read as the number it names


def test_02_the_lesson_s_own_softplus(run_checker, notebook):
    from gamaml.exercise_checks.nb02 import check_exercise_log_sigmoid

    def my_softplus(z):
        return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))

    notebook(my_softplus=my_softplus)
    run_checker.not_yet(check_exercise_log_sigmoid, lambda z: -my_softplus(-z),
                        named="the notebook's own my_softplus")


# The second audit: deeper ways round, each now "not yet" -------------------------------------


def test_the_wrapped_original_and_a_copy_of_a_helper_are_refused(run_checker):
    import types

    from gamaml.exercise_checks.nb03 import check_exercise_two_step_meta_gradients
    from gamaml.exercise_checks.nb05 import check_exercise_cosine_ga_weights

    run_checker.not_yet(check_exercise_cosine_ga_weights,
                        lambda u: gh.ga_weights.__wrapped__(u, normalization="cosine"),
                        named="calling gh.ga_weights")
    f = gh.maml_meta_gradients
    copy = types.FunctionType(f.__code__, f.__globals__, closure=f.__closure__)
    inner = f.__wrapped__
    inner_copy = types.FunctionType(inner.__code__, inner.__globals__)
    for fake in (copy, inner_copy):
        run_checker.not_yet(
            check_exercise_two_step_meta_gradients,
            lambda t, b, a, fake=fake: fake(t, b.x_support, b.y_support, b.x_query, b.y_query,
                                            a, inner_steps=2, first_order=False,
                                            with_adapted=False, model=gh.LogisticUnit(t.size)),
            named="calling gh.maml_meta_gradients")
    gh.ga_weights(np.eye(2)), gh.maml_meta_gradients  # restored: still callable
    assert copy.__code__ is f.__code__


def _pairs_loop(w, x):
    labels = [(x @ wi > 0) for wi in w]
    return np.array([[np.mean(a != b) for b in labels] for a in labels])


def test_loops_the_source_does_not_show_still_count(run_checker):
    from gamaml.exercise_checks.nb01 import check_exercise_disagreement
    from gamaml.exercise_checks.nb04 import check_exercise_ga_weights_loops

    namespace: dict = {"np": np}
    exec("def disagreement(w, x):\n"
         "    labels = [(x @ wi > 0) for wi in w]\n"
         "    return np.array([[np.mean(a != b) for b in labels] for a in labels])", namespace)

    class Callable:
        def __call__(self, w, x):
            return _pairs_loop(w, x)

    def by_map(w, x):
        labels = np.array(list(map(lambda wi: x @ wi > 0, w)))
        return (labels[:, None, :] != labels[None, :, :]).mean(axis=2)

    def calls_a_helper(w, x):
        return _pairs_loop(w, x)

    for fn in (namespace["disagreement"], Callable(), by_map, calls_a_helper):
        run_checker.not_yet(check_exercise_disagreement, fn, named="Python loop")
    exec("def ga_weights_loops(u):\n    a = (u @ u.T).sum(1)\n    return a / abs(a).sum()",
         namespace)

    def vectorised(u):
        a = (u @ u.T).sum(1)
        return a / abs(a).sum()

    for fn in (namespace["ga_weights_loops"], functools.partial(vectorised)):
        run_checker.not_yet(check_exercise_ga_weights_loops, fn, named="nested")


def test_02_numpy_s_log_sigmoid_under_another_name_and_the_model_s_gradient(run_checker):
    from numpy import logaddexp

    from gamaml.exercise_checks.nb02 import (
        check_exercise_log_sigmoid,
        check_exercise_weighted_bce_grad,
    )

    run_checker.not_yet(check_exercise_log_sigmoid, lambda z: -logaddexp(0.0, -z),
                        named="under another name")

    def weighted(theta, x, y, c):
        unit = gh.LogisticUnit(theta.size)
        grads = unit.loss_and_grad(np.tile(theta, (len(y), 1)), x[:, None], y[:, None])[1]
        return c @ grads / c.sum()

    run_checker.not_yet(check_exercise_weighted_bce_grad, weighted,
                        named="LogisticUnit.loss_and_grad")


def test_answers_read_off_the_hints_fail_the_hidden_case(run_checker):
    from gamaml.exercise_checks.nb01 import (
        check_exercise_best_constant_loss,
        check_exercise_spread_from_labels,
    )
    from gamaml.exercise_checks.nb03 import check_exercise_paired_difference

    def entropy(m):
        return 0.0 if m in (0, 1) else -(m * np.log(m) + (1 - m) * np.log(1 - m))

    shown = {round(m, 6): entropy(m) for m in (0.25, 0.8, 0.0, 1.0)}
    noisy = gh.sample_tasks(1, 2000, corrupt_frac=1.0, corruption="random",
                            rng=np.random.default_rng(3)).y_support[0]
    shown[round(noisy.mean(), 6)] = entropy(noisy.mean())
    out = run_checker.not_yet(check_exercise_best_constant_loss,
                              lambda y: shown.get(round(float(y.mean()), 6), 0.0),
                              named="for labels with mean 0.300")
    assert "expected" not in out
    out = run_checker.not_yet(check_exercise_spread_from_labels,
                              lambda b: {50: 0.491844, 20: 1.3954984}.get(b.x_query.shape[-1],
                                                                          1.0))
    assert "expected" not in out
    table = {3.0: [-0.006, -0.005, -0.017, -0.008, -0.01], 1.0: [0.0, -0.009, -0.009]}

    def typed(spread, seeds):
        d = np.array(table.get(spread, np.zeros(len(seeds))))
        return {"differences": d, "mean": d.mean(),
                "half_width": d.std(ddof=1) / np.sqrt(len(d)) * {5: 2.776, 3: 4.303}[len(d)]}

    out = run_checker.not_yet(check_exercise_paired_difference, typed)
    assert "expected" not in out and "same seed" not in out
