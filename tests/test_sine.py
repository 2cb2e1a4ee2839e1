"""The sine-wave family (notebook 06): sampler, MetaConfig fields, meta_train with the MLP and
Adam, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gamaml_helpers as gh


def test_sine_tasks_follow_their_waves():
    batch = gh.sample_sine_tasks(6, 5, k_query=7, rng=0)
    assert batch.x_support.shape == (6, 5, 1) and batch.y_query.shape == (6, 7)
    amplitude, phase = batch.true_theta.T
    assert ((0.1 <= amplitude) & (amplitude <= 5.0)).all()
    assert ((0 <= phase) & (phase <= math.pi)).all()
    for x, y in ((batch.x_support, batch.y_support), (batch.x_query, batch.y_query)):
        assert ((-5 <= x) & (x <= 5)).all()
        np.testing.assert_allclose(y, amplitude[:, None] * np.sin(x[..., 0] - phase[:, None]))
    assert not batch.corrupted.any() and not batch.minority.any()


def test_sine_ranges_are_honoured_and_the_seed_fixes_the_draw():
    a = gh.sample_sine_tasks(50, 3, amplitude=(1.0, 2.0), phase=(0.0, 2 * math.pi),
                             x_range=(0.0, 1.0), rng=3)
    b = gh.sample_sine_tasks(50, 3, amplitude=(1.0, 2.0), phase=(0.0, 2 * math.pi),
                             x_range=(0.0, 1.0), rng=3)
    np.testing.assert_array_equal(a.x_support, b.x_support)
    assert a.true_theta[:, 0].min() >= 1.0 and a.true_theta[:, 0].max() <= 2.0
    assert a.true_theta[:, 1].max() > math.pi  # the wider phase range is used
    assert a.x_query.min() >= 0.0 and a.x_query.max() <= 1.0


@pytest.mark.parametrize("corruption", gh.CORRUPTIONS)
def test_sine_corruptions(corruption):
    clean = gh.sample_sine_tasks(10, 8, rng=5)
    bad = gh.sample_sine_tasks(10, 8, corrupt_frac=0.3, corruption=corruption, rng=5)
    assert bad.corrupted.sum() == 3
    x, amplitude, phase = bad.x_support[..., 0], *bad.true_theta.T
    wave = amplitude[:, None] * np.sin(x - phase[:, None])
    ok = ~bad.corrupted
    np.testing.assert_allclose(bad.y_support[ok], wave[ok])
    if corruption == "flip":
        np.testing.assert_allclose(bad.y_support[~ok], -wave[~ok])
    elif corruption == "outlier":  # the recorded amplitude is the tripled one
        np.testing.assert_allclose(bad.y_support[~ok], wave[~ok])
        assert clean.true_theta.shape == bad.true_theta.shape
    else:  # noise, unrelated to x
        assert not np.allclose(bad.y_support[~ok], wave[~ok])


@pytest.mark.parametrize("field, value", [
    ("outer", "rmsprop"), ("activation", "sigmoid"),
    ("amplitude", (5.0, 0.1)), ("amplitude", (-1.0, 1.0)), ("phase", (0.0,)),
    ("x_range", (0.0, float("inf"))), ("x_range", "wide"), ("hidden", (40, 0)),
    ("hidden", []), ("hidden", (40, 2.5))])
def test_bad_sine_settings_name_the_argument(field, value):
    with pytest.raises(ValueError, match=field):
        gh.SineConfig(**{field: value})


def test_sample_sine_tasks_rejects_bad_input():
    with pytest.raises(ValueError, match="n_tasks"):
        gh.sample_sine_tasks(0, 5)
    with pytest.raises(ValueError, match="x_range"):
        gh.sample_sine_tasks(3, 5, x_range=(1.0, -1.0))
    with pytest.raises(ValueError, match="corrupt_frac"):
        gh.sample_sine_tasks(3, 5, corrupt_frac=2.0)


def sine_config(**overrides):
    settings = dict(method="maml", alpha=0.01, beta=0.003, outer="adam",
                    n_tasks=5, k_shot=10, k_query=10, meta_iterations=300, eval_every=100,
                    eval_tasks=50, hidden=(20, 20), activation="tanh", seed=1)
    settings.update(overrides)
    return gh.SineConfig(**settings)


def test_make_model_builds_the_mlp_for_the_sine_family():
    model = gh.make_model(sine_config(hidden=(8, 6), activation="relu"))
    assert isinstance(model, gh.MLP) and model.sizes == (1, 8, 6, 1)
    assert model.activation == "relu"
    assert isinstance(gh.make_model(gh.LinearConfig()), gh.LogisticUnit)


@pytest.mark.parametrize("method", gh.METHODS)
def test_every_method_learns_sine_waves_with_the_mlp(method):
    config = sine_config(method=method)
    history = gh.meta_train(config)
    assert history.theta.shape == (gh.make_model(config).n_params,)
    assert np.isfinite(history.eval_loss).all()
    model, evals = gh.make_model(config), gh.make_eval_tasks(config)
    start = gh.adapt_and_evaluate(history.theta_init, evals, config.alpha, model=model)
    assert history.eval_loss[-1] < 0.8 * start.loss_after.mean()  # held-out MSE, adapted


def test_same_seed_same_sine_run_and_held_out_tasks_are_sine_waves():
    a, b = gh.meta_train(sine_config()), gh.meta_train(sine_config())
    np.testing.assert_array_equal(a.theta, b.theta)
    evals = gh.make_eval_tasks(sine_config())
    assert evals.x_support.shape == (50, 10, 1)


def test_adam_matches_its_definition_and_differs_from_sgd():
    adam = gh.Adam(0.1)
    theta, g1, g2 = np.zeros(3), np.array([1.0, -2.0, 0.5]), np.array([0.5, 0.5, 0.5])
    t1 = adam.step(theta, g1)
    np.testing.assert_allclose(t1, -0.1 * np.sign(g1), rtol=1e-6)  # first step: beta * sign
    m = 0.9 * 0.1 * g1 + 0.1 * g2
    v = 0.999 * 0.001 * g1**2 + 0.001 * g2**2
    expected = t1 - 0.1 * (m / (1 - 0.9**2)) / (np.sqrt(v / (1 - 0.999**2)) + 1e-8)
    np.testing.assert_allclose(adam.step(t1, g2), expected, rtol=1e-12)
    sgd = gh.meta_train(sine_config(outer="sgd", beta=0.001))
    with_adam = gh.meta_train(sine_config(outer="adam", beta=0.001))
    assert not np.allclose(sgd.theta, with_adam.theta)


@pytest.mark.parametrize("config, field", [
    (gh.LinearConfig, "hidden"), (gh.LinearConfig, "amplitude"), (gh.LinearConfig, "activation"),
    (gh.SineConfig, "minority_frac"), (gh.SineConfig, "n_features"), (gh.SineConfig, "spread"),
    (gh.LinearConfig, "family"), (gh.SineConfig, "family")])
def test_a_field_that_means_nothing_for_a_family_cannot_be_set(config, field):
    with pytest.raises(TypeError, match=field):
        config(**{field: (3,)})


def test_each_family_has_its_own_defaults_and_no_config_without_one():
    sine, linear = gh.SineConfig(), gh.LinearConfig()
    assert (sine.method, sine.alpha, sine.beta, sine.outer, sine.n_tasks, sine.hidden) == (
        "maml", 0.01, 1e-3, "adam", 25, (40, 40))  # Finn et al.'s regression setup
    assert (linear.method, linear.alpha, linear.beta, linear.outer) == ("ga", 1.0, 1.0, "sgd")
    assert (sine.family, linear.family) == ("sine", "linear")
    assert isinstance(sine, gh.MetaConfig) and isinstance(linear, gh.MetaConfig)
    with pytest.raises(ValueError, match="LinearConfig or a SineConfig"):
        gh.MetaConfig()


def test_sine_outliers_need_no_features():
    config = sine_config(corruption="outlier", corrupt_frac=0.4, meta_iterations=3)
    history = gh.meta_train(config)
    assert history.corrupted.sum(axis=1).tolist() == [2, 2, 2]


def test_a_sine_run_names_its_loss_and_score():
    history = gh.meta_train(sine_config(meta_iterations=2))
    assert (history.loss_name, history.score_name) == ("MSE", "mse")
    linear = gh.meta_train(gh.LinearConfig(meta_iterations=2, n_features=3, eval_tasks=2))
    assert (linear.loss_name, linear.score_name) == ("BCE", "accuracy")


@pytest.mark.parametrize("kwargs, name", [
    ({"beta": 0.0}, "beta"), ({"beta": True}, "beta"), ({"beta": 0.1, "b1": 1.0}, "b1"),
    ({"beta": 0.1, "b2": -0.1}, "b2"), ({"beta": 0.1, "eps": 0.0}, "eps")])
def test_adam_rejects_bad_settings(kwargs, name):
    with pytest.raises(ValueError, match=name):
        gh.Adam(**kwargs)


def test_make_model_rejects_a_non_config():
    with pytest.raises(ValueError, match="config"):
        gh.make_model({"family": "sine"})


def test_joint_bookkeeping_that_overflows_is_not_a_divergence():
    """Joint training never uses its adapted parameters; with an absurd inner learning rate
    their loss overflows, and so do the held-out scores. Training itself is fine: no error,
    theta finite, the diagnostics non-finite as they are."""
    config = gh.SineConfig(method="joint", hidden=(8,), alpha=1e6, beta=1e-3,
                           inner_steps=4,
                           outer="adam", n_tasks=4, meta_iterations=20, eval_every=10,
                           eval_tasks=5, seed=0)
    history = gh.meta_train(config)
    assert history.iterations_done == 20 and np.isfinite(history.theta).all()
    assert not np.isfinite(history.query_loss).all() or not np.isfinite(history.eval_loss).all()


def test_a_theta_that_stops_being_finite_still_raises():
    config = gh.SineConfig(method="maml", hidden=(8,), alpha=0.01, beta=1e3, outer="sgd",
                           n_tasks=4, meta_iterations=200, eval_every=200, eval_tasks=5,
                           seed=0)
    with pytest.raises(gh.Diverged, match="diverged"):
        gh.meta_train(config)
