"""Bad input raises ValueError, and the message names the offending argument."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import gamaml_helpers as gh

D, T, K, Q = 3, 4, 5, 6
RNG = np.random.default_rng(0)
THETA = RNG.normal(size=D)
THETAS = RNG.normal(size=(T, D))
X = RNG.normal(size=(K, D))
Y = (RNG.random(K) < 0.5).astype(float)
XS, YS = RNG.normal(size=(T, K, D)), (RNG.random((T, K)) < 0.5).astype(float)
XQ, YQ = RNG.normal(size=(T, Q, D)), (RNG.random((T, Q)) < 0.5).astype(float)
BATCH = gh.sample_tasks(T, K, k_query=Q, n_features=D, rng=0)
NAN, INF = math.nan, math.inf


def names(argument: str) -> str:
    """Regex: the argument's name as a whole word ("x" does not match inside "x_support")."""
    return rf"\b{re.escape(argument)}\b"


def with_nan(a: np.ndarray, value: float = NAN) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.flat[1] = value
    return a


def maml(theta=THETA, xs=XS, ys=YS, xq=XQ, yq=YQ, alpha=0.5, **kwargs):
    return gh.maml_meta_gradients(theta, xs, ys, xq, yq, alpha, **kwargs)


def step(theta=THETA, batch=BATCH, alpha=0.5, beta=0.5, **kwargs):
    return gh.meta_step(theta, batch, alpha=alpha, beta=beta, **kwargs)


def tasks(n_tasks=T, k_shot=K, **kwargs):
    return gh.sample_tasks(n_tasks, k_shot, **kwargs)


CASES = [
    # shape mismatches
    ("bce_loss theta vs x features", lambda: gh.bce_loss(np.zeros(D + 1), X, Y), "theta"),
    ("bce_grad y vs x", lambda: gh.bce_grad(THETA, X, Y[:-1]), "y"),
    ("bce_loss per-task theta, single x", lambda: gh.bce_loss(THETAS, X, Y), "theta"),
    ("bce_loss per-task theta, wrong T", lambda: gh.bce_loss(THETAS[:2], XS, YS), "theta"),
    ("bce_hvp v features", lambda: gh.bce_hvp(THETA, X, np.zeros(D + 1)), "v"),
    ("bce_hvp v per task, single x", lambda: gh.bce_hvp(THETA, X, THETAS), "v"),
    ("bce_hessian x ndim", lambda: gh.bce_hessian(THETA, np.zeros(D)), "x"),
    ("theta ndim 3", lambda: gh.bce_loss(np.zeros((1, 1, D)), XS, YS), "theta"),
    ("empty x", lambda: gh.bce_loss(THETA, np.zeros((0, D)), np.zeros(0)), "x"),
    ("maml x_query vs x_support tasks", lambda: maml(xq=XQ[:2], yq=YQ[:2]), "x_query"),
    ("maml x_query unbatched", lambda: maml(xq=XQ[0], yq=YQ[0]), "x_query"),
    ("maml x_query features", lambda: maml(xq=np.zeros((T, Q, D + 1))), "x_query"),
    ("maml y_support shape", lambda: maml(ys=YS[:, :-1]), "y_support"),
    ("maml y_query shape", lambda: maml(yq=YQ[:, :-1]), "y_query"),
    ("maml x_support features", lambda: maml(xs=np.zeros((T, K, D + 1))), "x_support"),
    ("meta_step theta per task", lambda: step(theta=THETAS), "theta"),
    ("meta_step theta features", lambda: step(theta=np.zeros(D + 1)), "theta"),
    ("adapt theta features", lambda: gh.adapt_and_evaluate(np.zeros(D + 1), BATCH, 0.5),
     "theta"),
    ("sample_tasks direction shape", lambda: tasks(n_features=D, direction=np.ones(D + 1)),
     "direction"),
    ("sample_tasks zero direction", lambda: tasks(n_features=D, direction=np.zeros(D)),
     "direction"),
    ("ga_weights 1-D", lambda: gh.ga_weights(np.ones(3)), "updates"),
    # learning rates
    ("inner_update alpha 0", lambda: gh.inner_update(THETA, X, Y, 0.0), "alpha"),
    ("inner_update alpha < 0", lambda: gh.inner_update(THETA, X, Y, -1.0), "alpha"),
    ("inner_update alpha NaN", lambda: gh.inner_update(THETA, X, Y, NAN), "alpha"),
    ("inner_update alpha inf", lambda: gh.inner_update(THETA, X, Y, INF), "alpha"),
    ("inner_update alpha bool", lambda: gh.inner_update(THETA, X, Y, True), "alpha"),
    ("inner_update alpha str", lambda: gh.inner_update(THETA, X, Y, "0.1"), "alpha"),
    ("maml alpha 0", lambda: maml(alpha=0), "alpha"),
    ("meta_step alpha NaN", lambda: step(alpha=NAN), "alpha"),
    ("meta_step beta 0", lambda: step(beta=0.0), "beta"),
    ("meta_step beta < 0", lambda: step(beta=-0.5), "beta"),
    ("meta_step beta NaN", lambda: step(beta=NAN), "beta"),
    ("adapt alpha 0", lambda: gh.adapt_and_evaluate(THETA, BATCH, 0.0), "alpha"),
    # counts
    ("sample_tasks n_tasks 0", lambda: tasks(n_tasks=0), "n_tasks"),
    ("sample_tasks n_tasks -1", lambda: tasks(n_tasks=-1), "n_tasks"),
    ("sample_tasks n_tasks float", lambda: tasks(n_tasks=2.0), "n_tasks"),
    ("sample_tasks n_tasks bool", lambda: tasks(n_tasks=True), "n_tasks"),
    ("sample_tasks k_shot 0", lambda: tasks(k_shot=0), "k_shot"),
    ("sample_tasks k_shot bool", lambda: tasks(k_shot=True), "k_shot"),
    ("sample_tasks k_query 0", lambda: tasks(k_query=0), "k_query"),
    ("sample_tasks n_features 0", lambda: tasks(n_features=0), "n_features"),
    ("sample_tasks n_features bool", lambda: tasks(n_features=False), "n_features"),
    ("sample_points k 0", lambda: gh.sample_points(0, 3, rng=0), "k"),
    ("sample_points k bool", lambda: gh.sample_points(True, 3, rng=0), "k"),
    ("inner_update steps 0", lambda: gh.inner_update(THETA, X, Y, 0.5, steps=0), "steps"),
    ("inner_update steps bool", lambda: gh.inner_update(THETA, X, Y, 0.5, steps=True),
     "steps"),
    ("maml inner_steps 0", lambda: maml(inner_steps=0), "inner_steps"),
    ("meta_step inner_steps bool", lambda: step(inner_steps=True), "inner_steps"),
    ("adapt steps -1", lambda: gh.adapt_and_evaluate(THETA, BATCH, 0.5, steps=-1), "steps"),
    ("init_theta n_features 0", lambda: gh.init_theta(0, rng=0), "n_features"),
    # fractions and spreads
    ("corrupt_frac < 0", lambda: tasks(corrupt_frac=-0.1), "corrupt_frac"),
    ("corrupt_frac > 1", lambda: tasks(corrupt_frac=1.01), "corrupt_frac"),
    ("corrupt_frac NaN", lambda: tasks(corrupt_frac=NAN), "corrupt_frac"),
    ("corrupt_frac bool", lambda: tasks(corrupt_frac=True), "corrupt_frac"),
    ("spread < 0", lambda: tasks(spread=-1.0), "spread"),
    ("spread inf", lambda: tasks(spread=INF), "spread"),
    ("minority angle > 180", lambda: gh.minority_direction(3, 181), "angle"),
    ("minority angle NaN", lambda: gh.minority_direction(3, NAN), "angle"),
    # NaN / inf in arrays
    ("theta NaN", lambda: gh.bce_loss(with_nan(THETA), X, Y), "theta"),
    ("theta inf", lambda: gh.bce_grad(with_nan(THETA, INF), X, Y), "theta"),
    ("x inf", lambda: gh.bce_loss(THETA, with_nan(X, -INF), Y), "x"),
    ("x NaN", lambda: gh.inner_update(THETA, with_nan(X), Y, 0.5), "x"),
    ("y NaN", lambda: gh.bce_loss(THETA, X, with_nan(Y)), "y"),
    ("y outside [0, 1]", lambda: gh.bce_loss(THETA, X, Y + 1), "y"),
    ("v NaN", lambda: gh.bce_hvp(THETA, X, with_nan(THETA)), "v"),
    ("z NaN", lambda: gh.sigmoid(np.array([0.0, NAN])), "z"),
    ("maml x_support NaN", lambda: maml(xs=with_nan(XS)), "x_support"),
    ("maml y_query NaN", lambda: maml(yq=with_nan(YQ)), "y_query"),
    ("ga_weights NaN", lambda: gh.ga_weights(with_nan(THETAS)), "updates"),
    ("ga_weights inf", lambda: gh.ga_weights(with_nan(THETAS, INF)), "updates"),
    ("meta_step theta NaN", lambda: step(theta=with_nan(THETA)), "theta"),
    ("non-numeric theta", lambda: gh.bce_loss(["a", "b", "c"], X, Y), "theta"),
    # choices
    ("meta_step unknown method", lambda: step(method="sgd"), "method"),
    ("meta_step method case", lambda: step(method="MAML"), "method"),
    ("meta_step method underscore", lambda: step(method="ga_reptile"), "method"),
    ("meta_step method Reptile", lambda: step(method="Reptile"), "method"),
    ("meta_step method None", lambda: step(method=None), "method"),
    ("meta_step unknown normalization", lambda: step(normalization="l1"), "normalization"),
    ("meta_step normalization case", lambda: step(normalization="Paper"), "normalization"),
    ("meta_step normalization None", lambda: step(method="ga", normalization=None),
     "normalization"),
    ("meta_step normalization, not GA", lambda: step(method="maml", normalization="cos"),
     "normalization"),
    ("ga_weights unknown normalization",
     lambda: gh.ga_weights(THETAS, normalization="eq13"), "normalization"),
    ("ga_weights normalization case",
     lambda: gh.ga_weights(THETAS, normalization="Book"), "normalization"),
    ("sample_tasks unknown corruption", lambda: tasks(corruption="swap"), "corruption"),
    ("sample_tasks corruption case", lambda: tasks(corruption="Outlier"), "corruption"),
    ("sample_tasks outlier, 1 feature",
     lambda: tasks(n_features=1, corrupt_frac=0.5, corruption="outlier"), "n_features"),
    ("sample_tasks outlier, 1 feature, nothing corrupted",
     lambda: tasks(n_features=1, corrupt_frac=0.0, corruption="outlier"), "n_features"),
    ("meta_train outlier, 1 feature",
     lambda: gh.meta_train(gh.LinearConfig(corruption="outlier", n_features=1, minority_angle=0)),
     "n_features"),
    # rng
    ("rng str", lambda: tasks(rng="0"), "rng"),
    ("rng float", lambda: tasks(rng=1.5), "rng"),
    ("rng bool", lambda: tasks(rng=True), "rng"),
    ("rng legacy RandomState", lambda: tasks(rng=np.random.RandomState(0)), "rng"),
    ("sample_points rng list", lambda: gh.sample_points(3, 2, rng=[1]), "rng"),
    ("init_theta rng float", lambda: gh.init_theta(3, rng=0.5), "rng"),
    # objects of the wrong type
    ("meta_step dict batch", lambda: step(batch={"x_support": XS}), "batch"),
    ("meta_step tuple batch", lambda: step(batch=(XS, YS, XQ, YQ)), "batch"),
    ("adapt non-batch", lambda: gh.adapt_and_evaluate(THETA, [XS, YS], 0.5), "batch"),
    ("meta_train dict config", lambda: gh.meta_train({"method": "ga"}), "config"),
    ("meta_train callback", lambda: gh.meta_train(gh.LinearConfig(meta_iterations=1), callback=3),
     "callback"),
    ("meta_train theta0 shape",
     lambda: gh.meta_train(gh.LinearConfig(meta_iterations=1, n_features=D),
                           theta0=np.zeros(D + 1)),
     "theta0"),
    ("meta_train theta0 NaN",
     lambda: gh.meta_train(gh.LinearConfig(meta_iterations=1, n_features=D),
                           theta0=with_nan(THETA)),
     "theta0"),
]


@pytest.mark.parametrize("call, name", [(c[1], c[2]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_raises_value_error_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=names(name)):
        call()


CONFIG_CASES = [
    ("method", "sgd"), ("method", "Reptile"), ("method", "ga_reptile"), ("method", None),
    ("normalization", "l1"), ("normalization", "Paper"), ("normalization", None),
    ("corruption", "swap"), ("corruption", "Outlier"),
    ("alpha", 0.0), ("alpha", -1.0), ("alpha", NAN), ("alpha", True),
    ("beta", 0), ("beta", INF),
    ("n_tasks", 0), ("n_tasks", 2.5), ("n_tasks", True),
    ("k_shot", 0), ("k_query", -3), ("n_features", False), ("meta_iterations", 0),
    ("meta_iterations", 10.0),
    ("inner_steps", 0), ("eval_every", 0), ("eval_tasks", 0), ("eval_query", 0),
    ("eval_query", 2.5),
    ("seed", -1), ("seed", 1.5), ("seed", True),
    ("corrupt_frac", 1.5), ("corrupt_frac", NAN), ("minority_frac", -0.2),
    ("minority_angle", 200), ("minority_angle", NAN),
    ("first_order", "yes"), ("first_order", 1),
    ("spread", -0.5), ("spread", NAN), ("spread", True), ("spread", "1"),
]


@pytest.mark.parametrize("field, value", CONFIG_CASES,
                         ids=[f"{f}={v!r}" for f, v in CONFIG_CASES])
def test_meta_config_rejects_bad_fields(field, value):
    with pytest.raises(ValueError, match=names(field)):
        gh.LinearConfig(**{field: value})


@pytest.mark.parametrize("corrupt_frac", [0.0, 0.5])
def test_meta_config_rejects_outliers_with_one_feature(corrupt_frac):
    # minority_angle=0: the default (120 degrees) is itself impossible in one dimension
    gh.LinearConfig(n_features=1, corrupt_frac=corrupt_frac, minority_angle=0)
    with pytest.raises(ValueError, match=names("n_features")) as error:
        gh.LinearConfig(corruption="outlier", n_features=1, corrupt_frac=corrupt_frac,
                      minority_angle=0)
    assert "outlier" in str(error.value)


@pytest.mark.parametrize("method", gh.METHODS)
@pytest.mark.parametrize("normalization", gh.NORMALIZATIONS)
def test_every_method_and_normalization_is_accepted(method, normalization):
    config = gh.LinearConfig(method=method, normalization=normalization, meta_iterations=2,
                           n_features=3, eval_tasks=2)
    step(method=method, normalization=normalization)
    assert gh.meta_train(config).config.method == method


def test_valid_edge_values_are_accepted():
    """The checks are not too strict: boundary values that make sense pass."""
    gh.LinearConfig(corrupt_frac=0, minority_frac=1, minority_angle=0, spread=0, seed=0,
                  first_order=np.bool_(True), alpha=np.float32(0.5), n_tasks=np.int64(3))
    tasks(corrupt_frac=1, spread=0, rng=np.int64(3), n_features=1)
    tasks(corrupt_frac=1, corruption="outlier", n_features=2)
    gh.LinearConfig(corruption="outlier", n_features=2, corrupt_frac=1.0)
    gh.ga_weights(THETAS, normalization="cosine")
    gh.inner_update(THETA, X, Y, np.float64(1e-8), steps=np.int32(2))
    gh.adapt_and_evaluate(THETA, BATCH, 0.5, steps=0)
    gh.bce_loss(THETA.tolist(), X.tolist(), Y.tolist())  # lists are arrays too


@pytest.mark.parametrize("bad", ["no", 1, None])
def test_first_order_must_be_a_bool(bad):
    batch = gh.sample_tasks(2, 3, n_features=4, rng=0)
    theta = np.zeros(4)
    with pytest.raises(ValueError, match=r"\bfirst_order\b"):
        gh.maml_meta_gradients(theta, batch.x_support, batch.y_support, batch.x_query,
                               batch.y_query, 0.5, first_order=bad)
    with pytest.raises(ValueError, match=r"\bfirst_order\b"):
        gh.meta_step(theta, batch, alpha=0.5, beta=0.5, first_order=bad)


def test_make_eval_tasks_needs_a_config():
    with pytest.raises(ValueError, match=r"\bconfig\b"):
        gh.make_eval_tasks({"seed": 0})


def test_a_callback_runs_with_numpy_default_error_handling():
    """Training raises on overflow; the caller's callback must not inherit that setting."""
    seen = []

    def callback(iteration, history):
        seen.append(np.geterr()["over"])

    gh.meta_train(gh.LinearConfig(meta_iterations=3, eval_every=3, n_features=5), callback)
    assert seen == ["warn", "warn", "warn"]


@pytest.mark.parametrize("bad", [[], None, [1, 2], "batch"])
def test_concatenate_needs_task_batches(bad):
    with pytest.raises(ValueError, match=r"\bbatches\b"):
        gh.TaskBatch.concatenate(bad)


def test_concatenate_needs_equal_shots():
    a = gh.sample_tasks(2, 3, n_features=4, rng=0)
    b = gh.sample_tasks(2, 5, n_features=4, rng=1)
    with pytest.raises(ValueError, match=r"\bbatches\b"):
        gh.TaskBatch.concatenate([a, b])
    assert gh.TaskBatch.concatenate([a, a]).n_tasks == 4
