"""The model interface (``gh.LogisticUnit``) and the data flow around it: named seed streams,
TaskBatch from the sampler, and the meta-learning functions' ``model`` argument."""

from __future__ import annotations

import numpy as np
import pytest

import gamaml_helpers as gh
from tests.conftest import make_problem

EPS = 1e-6


@pytest.fixture
def unit() -> gh.LogisticUnit:
    return gh.LogisticUnit(4)


def test_the_unit_agrees_with_the_lesson_functions(unit, problem):
    for theta in (problem["theta"], problem["thetas"]):
        x, y = problem["xs"], problem["ys"]
        np.testing.assert_allclose(unit.loss(theta, x, y), gh.bce_loss(theta, x, y), rtol=1e-13)
        np.testing.assert_allclose(unit.grad(theta, x, y), gh.bce_grad(theta, x, y), rtol=1e-13)
        loss, grad = unit.loss_and_grad(theta, x, y)
        np.testing.assert_allclose(loss, gh.bce_loss(theta, x, y), rtol=1e-13)
        np.testing.assert_allclose(grad, gh.bce_grad(theta, x, y), rtol=1e-13)
        np.testing.assert_allclose(unit.score(theta, x, y), gh.accuracy(theta, x, y))


@pytest.mark.parametrize("shared", [True, False])
def test_grad_and_hvp_against_finite_differences(unit, problem, shared):
    """H v = d/dt grad(theta + t v) at t = 0, for each task's own direction v_i."""
    thetas = np.broadcast_to(problem["theta"], problem["thetas"].shape) if shared \
        else problem["thetas"]
    theta = problem["theta"] if shared else problem["thetas"]
    x, y, v = problem["xs"], problem["ys"], problem["vs"]
    grad, hvp = unit.grad_and_hvp(theta, x, y)
    np.testing.assert_allclose(grad, unit.grad(theta, x, y), rtol=1e-13)
    central = (unit.grad(thetas + EPS * v, x, y) - unit.grad(thetas - EPS * v, x, y)) / (2 * EPS)
    np.testing.assert_allclose(hvp(v), central, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(hvp(v), gh.bce_hvp(thetas, x, v), rtol=1e-12)


def test_init_is_the_course_start_and_uses_only_the_given_stream():
    unit = gh.LogisticUnit(50)
    np.testing.assert_array_equal(unit.init(3), gh.init_theta(50, rng=3))
    assert unit.init(np.random.default_rng(0)).shape == (unit.n_params,) == (50,)
    state = np.random.get_state()[1].copy()  # noqa: NPY002 - the legacy global state, on purpose
    unit.init(7)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002


def test_check_inputs_names_the_callers_arguments(unit):
    with pytest.raises(ValueError, match="x_query"):
        unit.check_inputs(np.zeros(4), np.zeros((2, 3, 5)), np.zeros((2, 3)),
                          ("theta", "x_query", "y_query"))
    with pytest.raises(ValueError, match="model has 4"):
        unit.check_inputs(np.zeros(3), np.zeros((2, 3, 3)), np.zeros((2, 3)))


class Incomplete:
    n_params = 4

    def loss(self, theta, x, y):
        return 0.0


@pytest.mark.parametrize("bad", [Incomplete(), "logistic", 3])
def test_a_model_without_the_interface_is_rejected(bad, batch):
    theta = np.zeros(5)
    with pytest.raises(ValueError, match="model must offer"):
        gh.meta_step(theta, batch, alpha=1.0, beta=1.0, model=bad)
    with pytest.raises(ValueError, match="model must offer"):
        gh.meta_train(gh.LinearConfig(meta_iterations=2, n_features=5, eval_tasks=2), model=bad)


class CountingUnit(gh.LogisticUnit):
    """The sigmoid unit, counting how often the meta-learning code asks for each quantity."""

    def __init__(self, n_features):
        super().__init__(n_features)
        self.calls = {"grad": 0, "grad_and_hvp": 0, "loss_and_grad": 0}

    def grad(self, theta, x, y):
        self.calls["grad"] += 1
        return super().grad(theta, x, y)

    def grad_and_hvp(self, theta, x, y):
        self.calls["grad_and_hvp"] += 1
        return super().grad_and_hvp(theta, x, y)

    def loss_and_grad(self, theta, x, y):
        self.calls["loss_and_grad"] += 1
        return super().loss_and_grad(theta, x, y)


@pytest.mark.parametrize("first_order, expected", [
    (False, {"grad": 0, "grad_and_hvp": 3, "loss_and_grad": 1}),
    (True, {"grad": 3, "grad_and_hvp": 0, "loss_and_grad": 1})])
def test_the_meta_gradient_goes_through_the_model_once_per_inner_step(first_order, expected):
    p = make_problem(1)
    model = CountingUnit(4)
    got = gh.maml_meta_gradients(p["theta"], p["xs"], p["ys"], p["xq"], p["yq"], 0.3,
                                 inner_steps=3, first_order=first_order, model=model)
    assert model.calls == expected  # the whole batch of tasks in each call: no loop over tasks
    np.testing.assert_array_equal(got, gh.maml_meta_gradients(
        p["theta"], p["xs"], p["ys"], p["xq"], p["yq"], 0.3, inner_steps=3,
        first_order=first_order))


def test_meta_train_with_an_explicit_model_equals_the_default(config_factory):
    config = config_factory(method="maml")
    default = gh.meta_train(config)
    explicit = gh.meta_train(config, model=gh.LogisticUnit(config.n_features))
    np.testing.assert_array_equal(default.theta, explicit.theta)
    np.testing.assert_array_equal(default.weights, explicit.weights)
    with pytest.raises(ValueError, match="theta0 must have shape"):
        gh.meta_train(config, theta0=np.zeros(config.n_features + 1))


def test_seed_streams_are_named_independent_and_reproducible():
    a, b = gh.seed_streams(5), gh.seed_streams(5)
    for name in ("init", "train", "eval"):
        np.testing.assert_array_equal(getattr(a, name).random(3), getattr(b, name).random(3))
    c = gh.seed_streams(5)
    draws = [c.init.random(), c.train.random(), c.eval.random()]
    assert len(set(draws)) == 3
    with pytest.raises(ValueError, match="seed"):
        gh.seed_streams(-1)


def test_meta_train_draws_its_start_and_held_out_tasks_from_the_named_streams(config_factory):
    config = config_factory()
    history = gh.meta_train(config)
    np.testing.assert_array_equal(history.theta_init,
                                  gh.init_theta(config.n_features,
                                                rng=gh.seed_streams(config.seed).init))
    evals = gh.make_eval_tasks(config)
    again = gh.sample_tasks(config.eval_tasks, config.k_shot, k_query=config.k_query,
                            n_features=config.n_features, spread=config.spread,
                            rng=gh.seed_streams(config.seed).eval)
    np.testing.assert_array_equal(evals.x_support, again.x_support)


def test_the_sampler_returns_task_batches_with_their_minority_mask(config_factory):
    config = config_factory(minority_frac=0.5, n_tasks=4, corrupt_frac=0.25)
    batches = gh.draw_linear_tasks(np.random.default_rng(0), 3, config,
                                   gh.default_direction(config.n_features)).unstack()
    assert len(batches) == 3 and all(isinstance(b, gh.TaskBatch) for b in batches)
    for b in batches:
        assert b.x_support.shape == (4, config.k_shot, config.n_features)
        assert b.minority.sum() == 2 and b.corrupted.sum() == 1
    history = gh.meta_train(config)
    assert (history.minority.sum(axis=1) == 2).all()
    assert (history.corrupted.sum(axis=1) == 1).all()
    one = gh.sample_tasks(4, 3, n_features=2, rng=0)
    assert one.minority.shape == (4,) and not one.minority.any()
