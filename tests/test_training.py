"""meta_step, adapt_and_evaluate and meta_train: the update rules, reproducibility, the
bookkeeping of History, and that meta-training actually learns on the course's task family."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gamaml_helpers as gh

ALPHA, BETA = 0.8, 0.3


def parts(batch: gh.TaskBatch):
    return batch.x_support, batch.y_support, batch.x_query, batch.y_query


@pytest.fixture
def theta0() -> np.ndarray:
    return gh.init_theta(5, rng=11)


# ---------------------------------------------------------------------------------------------
# meta_step
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("inner_steps, first_order", [(1, False), (1, True), (3, False)])
def test_maml_step_is_theta_minus_beta_times_mean_meta_gradient(batch, theta0, inner_steps,
                                                                first_order):
    new, weights = gh.meta_step(theta0, batch, alpha=ALPHA, beta=BETA, method="maml",
                                inner_steps=inner_steps, first_order=first_order)
    grads = gh.maml_meta_gradients(theta0, *parts(batch), ALPHA, inner_steps=inner_steps,
                                   first_order=first_order)
    np.testing.assert_array_equal(weights, np.full(batch.n_tasks, 1 / batch.n_tasks))
    np.testing.assert_allclose(new, theta0 - BETA * grads.mean(axis=0), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("normalization", gh.NORMALIZATIONS)
@pytest.mark.parametrize("inner_steps, first_order", [(1, False), (1, True), (2, False)])
def test_ga_step_uses_ga_weights_of_the_inner_updates_without_dividing_by_t(
        batch, theta0, inner_steps, first_order, normalization):
    xs, ys, xq, yq = parts(batch)
    new, weights = gh.meta_step(theta0, batch, alpha=ALPHA, beta=BETA, method="ga",
                                inner_steps=inner_steps, first_order=first_order,
                                normalization=normalization)
    adapted = gh.inner_update(theta0, xs, ys, ALPHA, steps=inner_steps)
    expected_w = gh.ga_weights(theta0 - adapted, normalization=normalization)
    grads = gh.maml_meta_gradients(theta0, xs, ys, xq, yq, ALPHA, inner_steps=inner_steps,
                                   first_order=first_order)
    np.testing.assert_allclose(weights, expected_w, rtol=1e-12, atol=1e-15)
    expected = theta0 - BETA * np.sum(expected_w[:, None] * grads, axis=0)
    np.testing.assert_allclose(new, expected, rtol=1e-12, atol=1e-15)
    # The book's extra division by T would be a different update: the check can tell.
    assert not np.allclose(new, theta0 - BETA * (expected_w @ grads) / batch.n_tasks)


def test_ga_step_defaults_to_the_paper_normalization(batch, theta0):
    default = gh.meta_step(theta0, batch, alpha=ALPHA, beta=BETA, method="ga")
    paper = gh.meta_step(theta0, batch, alpha=ALPHA, beta=BETA, method="ga",
                         normalization="paper")
    book = gh.meta_step(theta0, batch, alpha=ALPHA, beta=BETA, method="ga", normalization="book")
    for a, b in zip(default, paper, strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.abs(default[1]).sum() == pytest.approx(1.0, rel=1e-12)
    assert not np.allclose(default[0], book[0])


def loop_reptile(theta, batch, alpha, beta, inner_steps, *, ga=False, normalization="paper"):
    """Reptile and GA-Reptile written out task by task with single-task calls.

    theta_i' = inner_steps steps of gradient descent on task i's support set;
    Reptile: theta + beta * mean_i (theta_i' - theta);
    GA-Reptile: theta + beta * sum_i w_i (theta_i' - theta), w = ga_weights(theta - theta_i').
    """
    adapted = [gh.inner_update(theta, batch.x_support[i], batch.y_support[i], alpha,
                               steps=inner_steps) for i in range(batch.n_tasks)]
    n = batch.n_tasks
    weights = (gh.ga_weights(np.array([theta - a for a in adapted]), normalization=normalization)
               if ga else np.full(n, 1 / n))
    step = np.zeros_like(theta)
    for w, a in zip(weights, adapted, strict=True):
        step += w * (a - theta)
    return theta + beta * step, weights


@pytest.mark.parametrize("inner_steps", [1, 3])
def test_reptile_step_equals_a_per_task_loop(batch, theta0, inner_steps):
    new, weights = gh.meta_step(theta0, batch, alpha=ALPHA, beta=BETA, method="reptile",
                                inner_steps=inner_steps)
    expected, expected_w = loop_reptile(theta0, batch, ALPHA, BETA, inner_steps)
    np.testing.assert_array_equal(weights, expected_w)
    np.testing.assert_allclose(new, expected, rtol=1e-12, atol=1e-15)
    assert not np.allclose(new, theta0)


@pytest.mark.parametrize("normalization", gh.NORMALIZATIONS)
@pytest.mark.parametrize("inner_steps", [1, 3])
def test_ga_reptile_step_equals_a_per_task_loop(batch, theta0, inner_steps, normalization):
    new, weights = gh.meta_step(theta0, batch, alpha=ALPHA, beta=BETA, method="ga-reptile",
                                inner_steps=inner_steps, normalization=normalization)
    expected, expected_w = loop_reptile(theta0, batch, ALPHA, BETA, inner_steps, ga=True,
                                        normalization=normalization)
    np.testing.assert_allclose(weights, expected_w, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(new, expected, rtol=1e-12, atol=1e-15)
    # GA weights, not 1/T: a different update from plain Reptile (the check can tell)
    assert not np.allclose(weights, 1 / batch.n_tasks)
    assert not np.allclose(new, loop_reptile(theta0, batch, ALPHA, BETA, inner_steps)[0])


def test_reptile_with_one_inner_step_follows_the_mean_support_gradient(batch, theta0):
    """theta_i' - theta = -alpha grad L_i(theta): one step of size alpha * beta."""
    new, _ = gh.meta_step(theta0, batch, alpha=ALPHA, beta=BETA, method="reptile")
    grads = np.stack([gh.bce_grad(theta0, batch.x_support[i], batch.y_support[i])
                      for i in range(batch.n_tasks)])
    np.testing.assert_allclose(new, theta0 - ALPHA * BETA * grads.mean(axis=0), rtol=1e-12,
                               atol=1e-15)
    # Not the query gradient, and not MAML's meta-gradient:
    maml, _ = gh.meta_step(theta0, batch, alpha=ALPHA, beta=ALPHA * BETA, method="maml")
    assert not np.allclose(new, maml)


@pytest.mark.parametrize("method", gh.REPTILE_METHODS)
@pytest.mark.parametrize("inner_steps", [1, 3])
def test_first_order_does_not_change_reptile(batch, theta0, method, inner_steps):
    second = gh.meta_step(theta0, batch, alpha=ALPHA, beta=BETA, method=method,
                          inner_steps=inner_steps, first_order=False)
    first = gh.meta_step(theta0, batch, alpha=ALPHA, beta=BETA, method=method,
                         inner_steps=inner_steps, first_order=True)
    for a, b in zip(second, first, strict=True):
        np.testing.assert_array_equal(a, b)


def test_ga_reptile_on_identical_tasks_is_reptile(batch, theta0):
    """Identical tasks have identical updates, so GA gives every task 1/T."""
    same = gh.TaskBatch.concatenate([batch[0]] * 4)
    reptile = gh.meta_step(theta0, same, alpha=ALPHA, beta=BETA, method="reptile",
                           inner_steps=2)
    ga = gh.meta_step(theta0, same, alpha=ALPHA, beta=BETA, method="ga-reptile", inner_steps=2)
    np.testing.assert_allclose(ga[1], 0.25, rtol=1e-12)
    np.testing.assert_allclose(ga[0], reptile[0], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("method", ["maml", "reptile", "joint"])
def test_normalization_only_matters_for_ga_methods(batch, theta0, method):
    steps = [gh.meta_step(theta0, batch, alpha=ALPHA, beta=BETA, method=method,
                          normalization=n) for n in gh.NORMALIZATIONS]
    for other in steps[1:]:
        np.testing.assert_array_equal(other[0], steps[0][0])
        np.testing.assert_array_equal(other[1], steps[0][1])


def test_joint_step_follows_the_mean_gradient_on_support_and_query_points(batch, theta0):
    xs, ys, xq, yq = parts(batch)
    new, weights = gh.meta_step(theta0, batch, alpha=ALPHA, beta=BETA, method="joint")
    x_all = np.concatenate([xs, xq], axis=1)
    y_all = np.concatenate([ys, yq], axis=1)
    per_task = np.stack([gh.bce_grad(theta0, x_all[t], y_all[t]) for t in range(batch.n_tasks)])
    np.testing.assert_array_equal(weights, np.full(batch.n_tasks, 1 / batch.n_tasks))
    np.testing.assert_allclose(new, theta0 - BETA * per_task.mean(axis=0), rtol=1e-12,
                               atol=1e-15)
    # No inner loop: alpha, inner_steps and first_order do not change the joint update.
    other, _ = gh.meta_step(theta0, batch, alpha=3.0, beta=BETA, method="joint", inner_steps=3,
                            first_order=True)
    np.testing.assert_allclose(other, new, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("method", gh.METHODS)
def test_meta_step_moves_each_parameter_by_its_own_amount(batch, theta0, method):
    """The book sums the weighted meta-gradient to one scalar: every parameter would then move
    by the same amount."""
    new, _ = gh.meta_step(theta0, batch, alpha=ALPHA, beta=BETA, method=method)
    delta = new - theta0
    assert np.ptp(delta) > 0.1 * np.max(np.abs(delta)) > 0


def test_meta_step_does_not_modify_its_inputs(batch, theta0):
    theta_copy = theta0.copy()
    arrays = [a.copy() for a in parts(batch)]
    for method in gh.METHODS:
        gh.meta_step(theta0, batch, alpha=ALPHA, beta=BETA, method=method)
    np.testing.assert_array_equal(theta0, theta_copy)
    for before, after in zip(arrays, parts(batch), strict=True):
        np.testing.assert_array_equal(before, after)


# ---------------------------------------------------------------------------------------------
# adapt_and_evaluate
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("steps", [0, 1, 2])
def test_adapt_and_evaluate_equals_a_loop_of_single_task_calls(batch, theta0, steps):
    ev = gh.adapt_and_evaluate(theta0, batch, ALPHA, steps=steps)
    singles = [gh.adapt_and_evaluate(theta0, batch[t], ALPHA, steps=steps)
               for t in range(batch.n_tasks)]
    for field in ("loss_before", "score_before", "loss_after", "score_after"):
        batched = getattr(ev, field)
        assert batched.shape == (batch.n_tasks,)
        looped = np.concatenate([getattr(s, field) for s in singles])
        np.testing.assert_allclose(batched, looped, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("steps", [0, 1, 2])
def test_adapt_and_evaluate_scores_the_query_set_of_the_adapted_theta(batch, theta0, steps):
    xs, ys, xq, yq = parts(batch)
    ev = gh.adapt_and_evaluate(theta0, batch, ALPHA, steps=steps)
    np.testing.assert_allclose(ev.loss_before, gh.bce_loss(theta0, xq, yq), rtol=1e-12)
    np.testing.assert_allclose(ev.score_before, gh.accuracy(theta0, xq, yq), rtol=1e-12)
    adapted = gh.inner_update(theta0, xs, ys, ALPHA, steps=steps) if steps else theta0
    np.testing.assert_allclose(ev.loss_after, gh.bce_loss(adapted, xq, yq), rtol=1e-12)
    np.testing.assert_allclose(ev.score_after, gh.accuracy(adapted, xq, yq), rtol=1e-12)
    if steps:  # adaptation on the support set changes the query loss
        assert not np.allclose(ev.loss_after, ev.loss_before)


# ---------------------------------------------------------------------------------------------
# meta_train: reproducibility and global random state
# ---------------------------------------------------------------------------------------------


def assert_same_history(a: gh.History, b: gh.History) -> None:
    for field in ("query_loss", "weights", "corrupted", "minority", "eval_iterations",
                  "eval_score", "eval_loss", "theta", "theta_init"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    assert a.iterations_done == b.iterations_done
    assert a.config == b.config


@pytest.mark.parametrize("method", gh.METHODS)
@pytest.mark.parametrize("corruption", gh.CORRUPTIONS)
def test_same_seed_gives_identical_history(config_factory, method, corruption):
    config = config_factory(method=method, corrupt_frac=0.25, minority_frac=0.5,
                            corruption=corruption, inner_steps=2)
    assert_same_history(gh.meta_train(config), gh.meta_train(config))


@pytest.mark.parametrize("method", ["ga", "ga-reptile"])
def test_normalization_reaches_meta_train(config_factory, method):
    runs = {n: gh.meta_train(config_factory(method=method, normalization=n))
            for n in gh.NORMALIZATIONS}
    for n, history in runs.items():
        assert history.config.normalization == n
        assert np.all(np.isfinite(history.weights))
    # paper and cosine: sum |w| = 1 in every meta-step; the book: <= 1 (= 1 only when every
    # pair of updates agrees), well below 1 on average
    for n in ("paper", "cosine"):
        np.testing.assert_allclose(np.abs(runs[n].weights).sum(axis=1), 1.0, rtol=1e-12)
    book = np.abs(runs["book"].weights).sum(axis=1)
    assert np.all(book <= 1 + 1e-12) and book.mean() < 0.9
    for a, b in (("paper", "book"), ("paper", "cosine"), ("book", "cosine")):
        assert not np.allclose(runs[a].weights, runs[b].weights), (a, b)
        assert not np.allclose(runs[a].theta, runs[b].theta), (a, b)


@pytest.mark.parametrize("method", ["maml", "reptile", "joint"])
def test_normalization_does_not_change_methods_without_ga(config_factory, method):
    paper = gh.meta_train(config_factory(method=method, normalization="paper"))
    book = gh.meta_train(config_factory(method=method, normalization="book"))
    np.testing.assert_array_equal(paper.theta, book.theta)
    np.testing.assert_array_equal(paper.weights, book.weights)


def test_the_default_config_uses_the_paper_normalization():
    assert gh.LinearConfig().normalization == "paper"


def test_different_seeds_give_different_histories(config_factory):
    a = gh.meta_train(config_factory(seed=1, corrupt_frac=0.5))
    b = gh.meta_train(config_factory(seed=2, corrupt_frac=0.5))
    for field in ("query_loss", "weights", "corrupted", "theta", "theta_init"):
        assert not np.array_equal(getattr(a, field), getattr(b, field)), field


def test_helpers_never_touch_the_global_random_state(config_factory, batch):
    # The legacy global functions are used on purpose: the test watches their stream.
    np.random.seed(1)  # noqa: NPY002
    expected = np.random.random(3)  # noqa: NPY002
    np.random.seed(1)  # noqa: NPY002
    gh.sample_tasks(5, 4, n_features=3, corrupt_frac=0.4, corruption="random", rng=0)
    gh.sample_points(6, 3, rng=0)
    gh.init_theta(4, rng=0)
    gh.meta_train(config_factory(minority_frac=0.5, corrupt_frac=0.25))
    gh.make_eval_tasks(config_factory())
    gh.meta_step(np.zeros(5), batch, alpha=1.0, beta=1.0, method="ga")
    gh.adapt_and_evaluate(np.zeros(5), batch, 1.0)
    np.testing.assert_array_equal(np.random.random(3), expected)  # noqa: NPY002


# ---------------------------------------------------------------------------------------------
# meta_train: History bookkeeping, callback, evaluation, divergence
# ---------------------------------------------------------------------------------------------


def test_callback_runs_once_per_iteration_with_the_growing_history(config_factory):
    calls = []
    config = config_factory(meta_iterations=30)

    def callback(iteration, history):
        calls.append((iteration, history.iterations_done, id(history), history.theta.copy()))

    history = gh.meta_train(config, callback)
    assert [c[0] for c in calls] == list(range(1, 31))
    assert all(done == iteration for iteration, done, _, _ in calls)
    assert {c[2] for c in calls} == {id(history)}
    np.testing.assert_array_equal(calls[-1][3], history.theta)
    assert history.iterations_done == 30
    assert history.seconds > 0


@pytest.mark.parametrize("meta_iterations, eval_every, expected", [
    (60, 25, [25, 50, 60]),  # every eval_every iterations, and at the end
    (50, 25, [25, 50]),  # the end is not counted twice
    (10, 25, [10]),  # only the end
    (4, 1, [1, 2, 3, 4]),
])
def test_eval_iterations_are_every_eval_every_and_the_end(config_factory, meta_iterations,
                                                                 eval_every, expected):
    history = gh.meta_train(config_factory(meta_iterations=meta_iterations, eval_every=eval_every))
    np.testing.assert_array_equal(history.eval_iterations, expected)
    assert np.all(np.isfinite(history.eval_score))
    assert np.all(np.isfinite(history.eval_loss))


@pytest.mark.parametrize("inner_steps", [1, 2])
def test_eval_scores_the_held_out_tasks_after_adaptation(config_factory, inner_steps):
    config = config_factory(meta_iterations=60, eval_every=25, inner_steps=inner_steps)
    thetas = {}

    def callback(iteration, history):
        thetas[iteration] = history.theta.copy()

    history = gh.meta_train(config, callback)
    held_out = gh.make_eval_tasks(config)
    assert held_out.n_tasks == config.eval_tasks and not held_out.corrupted.any()
    for i, iteration in enumerate(history.eval_iterations):
        ev = gh.adapt_and_evaluate(thetas[iteration], held_out, config.alpha, steps=inner_steps)
        np.testing.assert_allclose(history.eval_score[i], ev.score_after.mean(),
                                   rtol=1e-12)
        np.testing.assert_allclose(history.eval_loss[i], ev.loss_after.mean(), rtol=1e-12)


def test_history_shapes_and_weights(config_factory):
    maml = gh.meta_train(config_factory(method="maml"))
    ga = gh.meta_train(config_factory(method="ga"))
    meta_iterations, n_tasks = maml.config.meta_iterations, maml.config.n_tasks
    for history in (maml, ga):
        assert history.query_loss.shape == (meta_iterations,)
        assert history.weights.shape == history.corrupted.shape == (meta_iterations, n_tasks)
        assert history.minority.shape == (meta_iterations, n_tasks)
        assert np.all(np.isfinite(history.query_loss)) and np.all(history.query_loss > 0)
        assert np.all(np.isfinite(history.weights))
    np.testing.assert_allclose(maml.weights.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(maml.weights, 1 / n_tasks)
    assert np.all(ga.weights.sum(axis=1) <= 1 + 1e-12)
    np.testing.assert_allclose(np.abs(ga.weights).sum(axis=1), 1.0, rtol=1e-12)  # the paper
    assert not np.allclose(ga.weights, 1 / n_tasks)


@pytest.mark.parametrize("n_tasks, corrupt_frac, minority_frac", [
    (4, 0.25, 0.5), (10, 0.3, 0.2), (5, 0.5, 0.0), (6, 1.0, 1.0)])
def test_corrupted_and_minority_masks_have_the_right_counts(config_factory, n_tasks,
                                                            corrupt_frac, minority_frac):
    history = gh.meta_train(config_factory(n_tasks=n_tasks, corrupt_frac=corrupt_frac,
                                           minority_frac=minority_frac, meta_iterations=150))
    n_corrupt, n_minority = round(corrupt_frac * n_tasks), round(minority_frac * n_tasks)
    np.testing.assert_array_equal(history.corrupted.sum(axis=1), n_corrupt)
    np.testing.assert_array_equal(history.minority.sum(axis=1), n_minority)
    if 0 < n_corrupt < n_tasks:  # random positions, not always the same tasks
        assert history.corrupted.any(axis=0).all()
    if 0 < n_minority < n_tasks:
        assert history.minority.any(axis=0).all()


def test_theta0_is_the_starting_point_and_is_not_modified(config_factory):
    start = np.linspace(-1, 1, 5)
    copy = start.copy()
    history = gh.meta_train(config_factory(), theta0=start)
    np.testing.assert_array_equal(history.theta_init, copy)
    np.testing.assert_array_equal(start, copy)
    assert not np.allclose(history.theta, start)


@pytest.mark.parametrize("method", ["ga", "maml", "reptile", "ga-reptile"])
def test_divergence_raises_value_error_naming_beta_without_warnings(config_factory, method):
    """alpha = beta = 1e300 overflows in the first meta-step.

    (beta = 1e300 alone does NOT raise, nor does "joint" with alpha = beta = 1e300: the
    sigmoid saturates, the gradients stay bounded and theta grows to ~1e299 without
    overflowing; meta_train only detects float overflow.)"""
    config = config_factory(method=method, alpha=1e300, beta=1e300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(gh.Diverged, match=r"diverged.*beta"):
            gh.meta_train(config)


# ---------------------------------------------------------------------------------------------
# Meta-training learns something; GA weights react to corrupted tasks
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method, normalization", [
    *((m, "paper") for m in gh.METHODS), ("ga", "book"), ("ga", "cosine"),
    ("ga-reptile", "book"), ("ga-reptile", "cosine")])
@pytest.mark.parametrize("seed", [0, 1])
def test_meta_training_beats_the_random_init_on_fresh_tasks(method, normalization, seed):
    """Default task family, 300 meta-iterations. Measured margins (seeds 0-2): 0.17-0.20 for
    every method; the test asks for 0.08."""
    config = gh.LinearConfig(method=method, normalization=normalization, meta_iterations=300,
                           eval_every=300, seed=seed)
    history = gh.meta_train(config)
    fresh = gh.sample_tasks(200, config.k_shot, k_query=config.k_query,
                            n_features=config.n_features, rng=1000 + seed)
    trained = gh.adapt_and_evaluate(history.theta, fresh, config.alpha).score_after.mean()
    init = gh.adapt_and_evaluate(history.theta_init, fresh, config.alpha).score_after.mean()
    assert trained - init >= 0.08, f"trained {trained:.3f} vs init {init:.3f}"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_flipped_tasks_get_lower_ga_weights_at_the_start_of_training(seed):
    """Default family (d = 50, T = 10, k = 10), 30% flipped tasks, 100 batches at theta = 0,
    where each task's update points along its own boundary's normal, so flipped tasks oppose
    the majority. (From a random init the gap is within noise for some seeds: not asserted.)

    Not asserted: the same over a whole training run. Once theta has converged, the summed
    update is close to zero on average, the self term |g_i|^2 dominates w_i, and flipped tasks
    (larger losses, larger updates) get slightly HIGHER mean weights (0.056 vs 0.045)."""
    rng = np.random.default_rng(seed)
    theta = np.zeros(50)
    corrupted, clean = [], []
    for _ in range(100):
        batch = gh.sample_tasks(10, 10, n_features=50, corrupt_frac=0.3, rng=rng)
        _, w = gh.meta_step(theta, batch, alpha=1.0, beta=1.0, method="ga")
        corrupted.append(w[batch.corrupted])
        clean.append(w[~batch.corrupted])
    corrupted, clean = np.concatenate(corrupted), np.concatenate(clean)
    assert corrupted.mean() < clean.mean() - 0.008, f"{corrupted.mean():.3f} {clean.mean():.3f}"


def test_training_batches_are_the_batches_meta_train_uses():
    """A plain loop over gh.training_batches (the loop notebook 03 writes) reproduces
    meta_train's theta, and the batches carry meta_train's corrupted flags."""
    config = gh.LinearConfig(method="maml", meta_iterations=230, corrupt_frac=0.3, n_tasks=6,
                           seed=3)  # 230: more than two chunks, the last one partial
    history = gh.meta_train(config)
    batches = list(gh.training_batches(config))
    assert len(batches) == 230
    np.testing.assert_array_equal(np.stack([b.corrupted for b in batches]), history.corrupted)
    theta = gh.init_theta(config.n_features, rng=gh.seed_streams(config.seed).init)
    for batch in batches:
        grads = gh.maml_meta_gradients(theta, batch.x_support, batch.y_support, batch.x_query,
                                       batch.y_query, config.alpha)
        theta = theta - config.beta * grads.mean(axis=0)
    np.testing.assert_allclose(theta, history.theta, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="config"):
        next(gh.training_batches({"method": "maml"}))


def test_eval_query_sets_the_held_out_query_points_only():
    base = gh.LinearConfig(method="maml", eval_tasks=7, k_query=10, seed=2)
    wide = gh.LinearConfig(method="maml", eval_tasks=7, k_query=10, eval_query=40, seed=2)
    assert gh.make_eval_tasks(base).x_query.shape == (7, 10, 50)
    tasks = gh.make_eval_tasks(wide)
    assert tasks.x_query.shape == (7, 40, 50)
    np.testing.assert_array_equal(tasks.true_theta, gh.make_eval_tasks(base).true_theta)
