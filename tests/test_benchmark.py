"""Tests of benchmarks/bench_meta_train.py: its per-task loop is the same algorithm as the
vectorised helpers, and the script runs. Timings are measured by the script, never asserted."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

import gamaml_helpers as gh

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_meta_train.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("bench_meta_train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being created
    spec.loader.exec_module(module)
    return module


bench = load_benchmark()


@pytest.mark.parametrize("inner_steps", [1, 3])
@pytest.mark.parametrize(("seed", "alpha", "beta"), [(0, 1.0, 1.0), (1, 0.5, 0.3), (2, 2.0, 1.5)])
def test_loop_step_equals_vectorised_meta_step(inner_steps, seed, alpha, beta):
    rng = np.random.default_rng(seed)
    batch = gh.sample_tasks(10, 10, k_query=15, n_features=50, rng=rng)
    theta = gh.init_theta(50, rng=rng)
    loop_theta, loop_weights, loop_losses = bench.loop_meta_step(
        theta, bench.tasks_of(batch), alpha, beta, inner_steps)
    gh_theta, gh_weights = gh.meta_step(theta, batch, alpha=alpha, beta=beta, method="ga",
                                        inner_steps=inner_steps, first_order=False)
    assert np.max(np.abs(loop_theta - gh_theta)) <= 1e-10
    assert np.max(np.abs(loop_weights - gh_weights)) <= 1e-10
    assert not np.allclose(loop_theta, theta)  # theta moved: the comparison means something
    adapted = gh.inner_update(theta, batch.x_support, batch.y_support, alpha, steps=inner_steps)
    expected_losses = gh.bce_loss(adapted, batch.x_query, batch.y_query)
    np.testing.assert_allclose(loop_losses, expected_losses, rtol=0, atol=1e-12)


def test_loop_step_is_second_order():
    """The loop's meta-gradient differs from the first-order one, and matches the exact one."""
    rng = np.random.default_rng(7)
    batch = gh.sample_tasks(4, 10, n_features=5, rng=rng)
    theta = gh.init_theta(5, rng=rng)
    exact = gh.maml_meta_gradients(theta, batch.x_support, batch.y_support, batch.x_query,
                                   batch.y_query, 1.0)
    first = gh.maml_meta_gradients(theta, batch.x_support, batch.y_support, batch.x_query,
                                   batch.y_query, 1.0, first_order=True)
    for i, task in enumerate(bench.tasks_of(batch)):
        _, meta_grad, _ = bench.task_meta_gradient(theta, task, 1.0, 1)
        np.testing.assert_allclose(meta_grad, exact[i], rtol=0, atol=1e-12)
        assert np.max(np.abs(meta_grad - first[i])) > 1e-4


def test_ga_weights_loop_matches_helpers():
    rng = np.random.default_rng(3)
    updates = rng.standard_normal((6, 8))
    updates[2] = -updates[0]  # one task opposing another: negative contributions
    np.testing.assert_allclose(bench.ga_weights_loop(list(updates)), gh.ga_weights(updates),
                               rtol=0, atol=1e-14)
    np.testing.assert_array_equal(bench.ga_weights_loop(list(np.zeros((4, 3)))), np.full(4, 0.25))


def test_stable_sigmoid_and_bce_at_extreme_logits():
    z = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        p, curvature = bench.sigmoid_and_curvature(z)
        loss = bench.bce_from_logits(z, np.array([0.0, 0.0, 1.0, 1.0, 0.0]))
    np.testing.assert_allclose(p, [0.0, math.exp(-30) / (1 + math.exp(-30)), 0.5,
                                   1 / (1 + math.exp(-30)), 1.0], rtol=1e-12, atol=0)
    np.testing.assert_allclose(curvature[2], 0.25)
    assert curvature[0] == 0.0 and curvature[-1] == 0.0
    # only the last sample is wrong, by a logit of 1000: loss (ln 2 + 1000 + tiny terms) / 5
    assert loss == pytest.approx((math.log(2) + 1000.0 + 2 * math.log1p(math.exp(-30))) / 5)


def test_loop_sampler_draws_the_helpers_task_family():
    """Same family as gh.sample_tasks: shapes, feature range, and how often a label agrees
    with the shared direction u (about 3/4 for spread 1: w_i is ~45 degrees from u)."""
    d, n_tasks = 20, 400
    u = gh.default_direction(d)
    rng = np.random.default_rng(11)
    tasks = [bench.sample_one_task(rng, 6, 4, d, 1.0, u) for _ in range(n_tasks)]
    xs, ys, xq, yq = tasks[0]
    assert xs.shape == (6, d) and ys.shape == (6,) and xq.shape == (4, d) and yq.shape == (4,)
    x = np.concatenate([np.concatenate([t[0], t[2]]) for t in tasks])
    y = np.concatenate([np.concatenate([t[1], t[3]]) for t in tasks])
    assert x.min() >= -1.0 and x.max() <= 1.0 and set(np.unique(y)) == {0.0, 1.0}
    batch = gh.sample_tasks(n_tasks, 6, k_query=4, n_features=d, rng=np.random.default_rng(12))
    x_gh = np.concatenate([batch.x_support, batch.x_query], axis=1).reshape(-1, d)
    y_gh = np.concatenate([batch.y_support, batch.y_query], axis=1).ravel()
    agree_loop = np.mean((x @ u > 0) == (y > 0.5))
    agree_gh = np.mean((x_gh @ u > 0) == (y_gh > 0.5))
    assert 0.65 < agree_loop < 0.85
    assert abs(agree_loop - agree_gh) < 0.03


def test_loop_meta_train_learns_and_rejects_other_methods():
    config = gh.LinearConfig(method="ga", meta_iterations=40, seed=5)
    theta0 = gh.init_theta(config.n_features, rng=np.random.default_rng(0))
    run = bench.loop_meta_train(config, theta0)
    assert run.weights.shape == (40, config.n_tasks) and np.all(np.isfinite(run.query_loss))
    held_out = gh.make_eval_tasks(config)
    before = gh.adapt_and_evaluate(theta0, held_out, config.alpha).score_after.mean()
    after = gh.adapt_and_evaluate(run.theta, held_out, config.alpha).score_after.mean()
    assert after > before + 0.05
    for bad in (gh.LinearConfig(method="maml"), gh.LinearConfig(first_order=True),
                gh.LinearConfig(corrupt_frac=0.2)):
        with pytest.raises(ValueError, match="config"):
            bench.loop_meta_train(bad, theta0)


def test_script_smoke_run_prints_ratio(capsys):
    status = bench.main(["--quick", "--iterations", "5", "--repeats", "1", "--seed", "3"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "ratio" in out
    assert "same algorithm" in out and "PASS" in out
    assert "Target: >= 5x faster end to end" in out


def test_script_rejects_bad_arguments():
    with pytest.raises(SystemExit):
        bench.parse_args(["--iterations", "0"])


@pytest.mark.parametrize("method", ["ga", "maml"])
def test_mlp_loop_step_equals_the_batched_step(method):
    config = gh.SineConfig(**{**bench.MLP_CONFIG, "method": method, "hidden": (6, 5),
                              "inner_steps": 3})
    model = gh.make_model(config)
    theta = model.init(1)
    batch = gh.sample_sine_tasks(config.n_tasks, config.k_shot, k_query=config.k_query, rng=2)
    np.testing.assert_allclose(bench.mlp_step_loop(model, theta, batch, config),
                               gh.outer_direction(theta, batch, method=method, alpha=config.alpha,
                                                  inner_steps=3, model=model)[0],
                               rtol=1e-10, atol=1e-12)


def test_the_bare_batched_loop_is_the_same_run_as_meta_train():
    """The ratio the benchmark prints compares like with like: the same theta, weights and
    recorded query losses."""
    config = gh.LinearConfig(method="ga", meta_iterations=150, n_tasks=6, n_features=8,
                             eval_every=150, eval_tasks=5, seed=4)
    theta0 = gh.init_theta(config.n_features, rng=gh.seed_streams(config.seed).init)
    theta, weights, losses = bench.bare_batched(config, theta0)
    history = gh.meta_train(config, theta0=theta0)
    np.testing.assert_allclose(theta, history.theta, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(weights, history.weights, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(losses, history.query_loss, rtol=1e-10, atol=1e-12)
