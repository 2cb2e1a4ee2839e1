"""Data and model basics of gamaml_helpers: the book's sampler, the task family, the minority
direction, TaskBatch, and a numerically stable sigmoid / BCE loss.

Gradients: test_gradients.py. GA weights: test_ga_weights.py. Training: test_training.py.
Bad input: test_validation.py.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import gamaml_helpers as gh

FIELDS = ("x_support", "y_support", "x_query", "y_query", "corrupted", "true_theta")


def boundary_labels(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """1[x @ w > 0] per task, recomputed here: x (T, k, d), w (T, d) -> (T, k)."""
    return (np.einsum("tkd,td->tk", x, w) > 0).astype(float)


# ---------------------------------------------------------------------------------------------
# sample_tasks
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_tasks, k_shot, k_query, n_features", [
    (3, 4, None, 2), (5, 1, 7, 50), (1, 3, 2, 1), (8, 10, 10, 3)])
def test_sample_tasks_shapes_and_types(n_tasks, k_shot, k_query, n_features):
    batch = gh.sample_tasks(n_tasks, k_shot, k_query=k_query, n_features=n_features, rng=0)
    q = k_shot if k_query is None else k_query
    assert batch.x_support.shape == (n_tasks, k_shot, n_features)
    assert batch.y_support.shape == (n_tasks, k_shot)
    assert batch.x_query.shape == (n_tasks, q, n_features)
    assert batch.y_query.shape == (n_tasks, q)
    assert batch.corrupted.shape == (n_tasks,) and batch.corrupted.dtype == bool
    assert batch.true_theta.shape == (n_tasks, n_features)
    assert batch.n_tasks == n_tasks
    for y in (batch.y_support, batch.y_query):
        assert set(np.unique(y)) <= {0.0, 1.0}


def test_sample_tasks_features_are_uniform_in_minus_one_one():
    batch = gh.sample_tasks(50, 40, n_features=4, rng=1)
    x = np.concatenate([batch.x_support, batch.x_query], axis=1)
    assert x.min() >= -1 and x.max() <= 1
    assert abs(x.mean()) < 0.02  # 16000 draws: standard error 0.005
    assert abs(x.var() - 1 / 3) < 0.02


@pytest.mark.parametrize("n_tasks, corrupt_frac", [
    (10, 0.3), (5, 0.5), (7, 0.5), (4, 0.0), (4, 1.0), (3, 0.1), (20, 0.25)])
@pytest.mark.parametrize("corruption", gh.CORRUPTIONS)
def test_sample_tasks_corrupts_exactly_round_frac_times_t(n_tasks, corrupt_frac, corruption):
    expected = round(corrupt_frac * n_tasks)
    for seed in range(5):
        batch = gh.sample_tasks(n_tasks, 3, n_features=2, corrupt_frac=corrupt_frac,
                                corruption=corruption, rng=seed)
        assert batch.corrupted.sum() == expected


@pytest.mark.parametrize("corruption", gh.CORRUPTIONS)
def test_sample_tasks_corrupts_tasks_at_random_positions(corruption):
    masks = {tuple(gh.sample_tasks(10, 2, n_features=2, corrupt_frac=0.3, corruption=corruption,
                                   rng=s).corrupted)
             for s in range(20)}
    assert len(masks) > 5


@pytest.mark.parametrize("corruption", gh.CORRUPTIONS)
def test_clean_task_labels_follow_the_true_boundary(corruption):
    batch = gh.sample_tasks(12, 15, k_query=9, n_features=3, corrupt_frac=0.5,
                            corruption=corruption, rng=2)
    clean = ~batch.corrupted
    for x, y in ((batch.x_support, batch.y_support), (batch.x_query, batch.y_query)):
        np.testing.assert_array_equal(y[clean], boundary_labels(x, batch.true_theta)[clean])


def test_flipped_task_labels_are_one_minus_the_boundary_labels():
    batch = gh.sample_tasks(12, 15, k_query=9, n_features=3, corrupt_frac=0.5,
                            corruption="flip", rng=3)
    bad = batch.corrupted
    for x, y in ((batch.x_support, batch.y_support), (batch.x_query, batch.y_query)):
        np.testing.assert_array_equal(y[bad], 1.0 - boundary_labels(x, batch.true_theta)[bad])


def test_random_corrupted_labels_are_independent_of_the_boundary():
    batch = gh.sample_tasks(100, 50, n_features=5, corrupt_frac=1.0, corruption="random",
                            rng=4)
    agree = batch.y_support == boundary_labels(batch.x_support, batch.true_theta)
    assert abs(agree.mean() - 0.5) < 0.03  # 5000 labels: standard error 0.007
    assert abs(batch.y_support.mean() - 0.5) < 0.03
    # Per task, too: neither all flipped nor all kept.
    assert 0.15 < agree.mean(axis=1).min() and agree.mean(axis=1).max() < 0.85


# ---------------------------------------------------------------------------------------------
# The "outlier" corruption: a different task (90 degrees), with features three times larger
# ---------------------------------------------------------------------------------------------


def angle_degrees(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle between each row of a (..., d) and the vector b (d,), in degrees (atan2: accurate
    near 0, 90 and 180)."""
    b = b / np.linalg.norm(b)
    cosine = a @ b
    sine = np.linalg.norm(a - cosine[..., None] * b, axis=-1)
    return np.degrees(np.arctan2(sine, cosine))


def test_outlier_constants():
    assert gh.OUTLIER_ANGLE == 90.0 and gh.OUTLIER_SCALE == 3.0
    assert gh.CORRUPTIONS == ("flip", "random", "outlier")


@pytest.mark.parametrize("n_features", [2, 3, 10, 50])
def test_outlier_boundary_is_at_90_degrees_to_the_shared_direction_for_spread_zero(n_features):
    batch = gh.sample_tasks(8, 5, n_features=n_features, spread=0.0, corrupt_frac=0.5,
                            corruption="outlier", rng=1)
    u = gh.default_direction(n_features)
    bad = batch.corrupted
    assert bad.sum() == 4
    np.testing.assert_allclose(batch.true_theta[~bad], np.tile(u, (4, 1)), rtol=1e-15)
    outlier = batch.true_theta[bad]
    np.testing.assert_allclose(np.linalg.norm(outlier, axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(outlier @ u, 0.0, atol=1e-12)  # exactly 90 degrees
    np.testing.assert_allclose(angle_degrees(outlier, u), 90.0, atol=1e-9)
    np.testing.assert_array_equal(outlier, np.tile(outlier[0], (4, 1)))  # one shared direction


def test_outlier_boundary_with_a_given_direction():
    direction = np.array([3.0, 0.0, -4.0])
    batch = gh.sample_tasks(6, 5, n_features=3, spread=0.0, direction=direction,
                            corrupt_frac=1.0, corruption="outlier", rng=2)
    np.testing.assert_allclose(batch.true_theta @ np.array([0.6, 0.0, -0.8]), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(batch.true_theta, axis=1), 1.0, rtol=1e-12)


def test_outlier_boundaries_scatter_around_90_degrees():
    """spread 1, d = 50: the angle to u is 90 degrees give or take ~8 (its cosine is about
    N(0, 1/50) / sqrt(2))."""
    d = 50
    batch = gh.sample_tasks(400, 1, n_features=d, spread=1.0, corrupt_frac=0.5,
                            corruption="outlier", rng=3)
    u = gh.default_direction(d)
    outlier = angle_degrees(batch.true_theta[batch.corrupted], u)
    clean = angle_degrees(batch.true_theta[~batch.corrupted], u)
    assert abs(outlier.mean() - 90.0) < 1.5  # 200 tasks: standard error ~0.4
    assert np.all(np.abs(outlier - 90.0) < 35)
    assert clean.mean() < 50 and clean.max() < 80  # clean tasks stay near u (~45 degrees)


def test_outlier_features_are_three_times_larger():
    batch = gh.sample_tasks(40, 30, k_query=20, n_features=4, corrupt_frac=0.5,
                            corruption="outlier", rng=4)
    x = np.concatenate([batch.x_support, batch.x_query], axis=1)
    bad, good = x[batch.corrupted], x[~batch.corrupted]
    assert good.min() >= -1 and good.max() <= 1
    assert bad.min() >= -3 and bad.max() <= 3
    assert bad.min() < -2.9 and bad.max() > 2.9  # 4000 draws: the full range is used
    assert bad.std() / good.std() == pytest.approx(3.0, rel=0.03)
    assert abs(bad.mean()) < 0.06  # centred: standard error 0.027


@pytest.mark.parametrize("spread", [0.0, 1.0])
def test_outlier_labels_follow_their_own_boundary(spread):
    """Outlier tasks have consistent labels (nothing flipped), from their own boundary."""
    batch = gh.sample_tasks(12, 15, k_query=9, n_features=5, spread=spread, corrupt_frac=0.5,
                            corruption="outlier", rng=5)
    u = gh.default_direction(5)
    for x, y in ((batch.x_support, batch.y_support), (batch.x_query, batch.y_query)):
        np.testing.assert_array_equal(y, boundary_labels(x, batch.true_theta))
        # ... and that is not the shared direction's labelling (the check can tell)
        shared = (x[batch.corrupted] @ u > 0).astype(float)
        assert np.mean(shared == y[batch.corrupted]) < 0.75


def test_outlier_needs_two_features():
    with pytest.raises(ValueError, match=r"\bn_features\b"):
        gh.sample_tasks(4, 3, n_features=1, corrupt_frac=0.5, corruption="outlier", rng=0)
    gh.sample_tasks(4, 3, n_features=2, corrupt_frac=0.5, corruption="outlier", rng=0)


def test_outlier_tasks_in_meta_train():
    config = gh.LinearConfig(method="maml", n_tasks=5, k_shot=4, k_query=4, n_features=3,
                           meta_iterations=30, eval_every=30, eval_tasks=10, corrupt_frac=0.4,
                           corruption="outlier", seed=1)
    history = gh.meta_train(config)
    np.testing.assert_array_equal(history.corrupted.sum(axis=1), 2)
    assert history.corrupted.any(axis=0).all()  # at random positions
    assert np.all(np.isfinite(history.query_loss))


# ---------------------------------------------------------------------------------------------
# The flip and random streams are the ones of the course before "outlier" was added
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("corruption", gh.CORRUPTIONS)
def test_no_corrupted_tasks_gives_the_same_batch_for_every_corruption(corruption):
    kwargs = dict(k_query=4, n_features=3, corrupt_frac=0.0)
    clean = gh.sample_tasks(6, 5, rng=8, **kwargs)
    other = gh.sample_tasks(6, 5, rng=8, corruption=corruption, **kwargs)
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(other, field), getattr(clean, field))


# Recorded with the helper of commit 90d1551 (before Reptile, the paper's normalisation and the
# outlier corruption): sample_tasks(5, 3, k_query=2, n_features=3, corrupt_frac=0.4,
# corruption=..., rng=0), and the final theta of a MAML run with corrupted and minority tasks.
RECORDED = {
    "flip": {
        "corrupted": [0, 0, 1, 1, 0],
        "y_support": [[1, 0, 1], [0, 0, 1], [1, 0, 0], [1, 0, 0], [1, 0, 0]],
        "y_query": [[1, 0], [0, 0], [1, 1], [0, 1], [1, 0]],
        "theta": [-0.0292244364455327, -0.5497158541941239, -0.2579968164721659,
                  0.2807601428628874, 0.32526415209150084],
    },
    "random": {
        "corrupted": [0, 0, 1, 1, 0],
        "y_support": [[1, 0, 1], [0, 0, 1], [0, 0, 0], [1, 0, 1], [1, 0, 0]],
        "y_query": [[1, 0], [0, 0], [0, 1], [1, 0], [1, 0]],
        "theta": [0.2617763613528964, -0.35265499341191436, -0.26306208827460154,
                  0.23239005183955214, 0.38024253160791754],
    },
}
RECORDED_X0 = [-0.648688758794882, 0.7263578446997732, 0.08292244049818343]
RECORDED_W0 = [-0.6345164041930057, -0.07627077838249187, 1.07685497081511]


@pytest.mark.parametrize("corruption", ["flip", "random"])
def test_flip_and_random_streams_are_unchanged(corruption):
    batch = gh.sample_tasks(5, 3, k_query=2, n_features=3, corrupt_frac=0.4,
                            corruption=corruption, rng=0)
    expected = RECORDED[corruption]
    np.testing.assert_array_equal(batch.corrupted, np.array(expected["corrupted"], bool))
    np.testing.assert_array_equal(batch.y_support, expected["y_support"])
    np.testing.assert_array_equal(batch.y_query, expected["y_query"])
    np.testing.assert_allclose(batch.x_support[0, 0], RECORDED_X0, rtol=1e-15)
    np.testing.assert_allclose(batch.true_theta[0], RECORDED_W0, rtol=1e-15)
    config = gh.LinearConfig(method="maml", n_tasks=4, k_shot=5, k_query=6, n_features=5,
                           meta_iterations=60, eval_every=25, eval_tasks=8, seed=3,
                           corrupt_frac=0.25,
                           corruption=corruption, minority_frac=0.5)
    np.testing.assert_allclose(gh.meta_train(config).theta, expected["theta"], rtol=1e-10)


def test_true_thetas_scatter_around_the_shared_direction():
    d = 10
    batch = gh.sample_tasks(400, 1, n_features=d, spread=1.0, rng=5)
    u = np.linspace(-1.0, 1.0, d)
    u /= np.linalg.norm(u)
    np.testing.assert_allclose(gh.default_direction(d), u, rtol=1e-15)
    assert abs(u.sum()) < 1e-12  # orthogonal to (1, ..., 1): the scalar bug cannot find it
    z = (batch.true_theta - u) * math.sqrt(d)  # should be standard normal
    assert abs(z.mean()) < 0.05  # 4000 draws: standard error 0.016
    assert abs(z.std() - 1.0) < 0.05


def test_spread_zero_gives_the_normalised_direction_to_every_task():
    direction = np.array([3.0, 0.0, -4.0])
    batch = gh.sample_tasks(6, 5, n_features=3, spread=0.0, direction=direction, rng=6)
    np.testing.assert_allclose(batch.true_theta, np.tile([0.6, 0.0, -0.8], (6, 1)), rtol=1e-15)
    np.testing.assert_array_equal(batch.y_support, boundary_labels(batch.x_support,
                                                                   batch.true_theta))


def test_sample_tasks_same_seed_identical_different_seed_different():
    kwargs = dict(k_query=4, n_features=3, corrupt_frac=0.4, corruption="random")
    a = gh.sample_tasks(5, 6, rng=9, **kwargs)
    b = gh.sample_tasks(5, 6, rng=9, **kwargs)
    c = gh.sample_tasks(5, 6, rng=np.random.default_rng(9), **kwargs)
    d = gh.sample_tasks(5, 6, rng=10, **kwargs)
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        np.testing.assert_array_equal(getattr(a, field), getattr(c, field))
    assert not np.array_equal(a.x_support, d.x_support)


def test_sample_tasks_advances_a_passed_generator():
    rng = np.random.default_rng(0)
    a = gh.sample_tasks(2, 3, n_features=2, rng=rng)
    b = gh.sample_tasks(2, 3, n_features=2, rng=rng)
    assert not np.array_equal(a.x_support, b.x_support)


# ---------------------------------------------------------------------------------------------
# minority_direction
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_features", [2, 3, 50])
@pytest.mark.parametrize("angle", [0, 30, 90, 120.0, 180])
def test_minority_direction_has_the_requested_angle(n_features, angle):
    m = gh.minority_direction(n_features, angle)
    u = gh.default_direction(n_features)
    assert m.shape == (n_features,)
    assert math.isclose(np.linalg.norm(m), 1.0, rel_tol=1e-12)
    cosine = float(m @ u)
    sine = float(np.linalg.norm(m - cosine * u))  # atan2 is well conditioned at 0 and 180
    assert math.isclose(math.degrees(math.atan2(sine, cosine)), angle, abs_tol=1e-9)


def test_minority_direction_in_one_dimension():
    np.testing.assert_array_equal(gh.minority_direction(1, 0), [1.0])
    np.testing.assert_array_equal(gh.minority_direction(1, 180), [-1.0])
    with pytest.raises(ValueError, match="angle"):
        gh.minority_direction(1, 90)


# ---------------------------------------------------------------------------------------------
# sample_points: the book's sampler has nothing to learn
# ---------------------------------------------------------------------------------------------


def newton_logistic_fit(x: np.ndarray, y: np.ndarray, iterations: int = 25) -> np.ndarray:
    """The BCE minimiser of the course's model (no bias), by Newton's method."""
    theta = np.zeros(x.shape[1])
    for _ in range(iterations):
        hessian = gh.bce_hessian(theta, x) + 1e-9 * np.eye(x.shape[1])
        theta = theta - np.linalg.solve(hessian, gh.bce_grad(theta, x, y))
    return theta


def test_sample_points_shapes_ranges_and_seed():
    x, y = gh.sample_points(7, 3, rng=0)
    assert x.shape == (7, 3) and y.shape == (7,)
    assert x.min() >= 0 and x.max() < 1
    assert set(np.unique(y)) <= {0.0, 1.0}
    x2, y2 = gh.sample_points(7, 3, rng=0)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert gh.sample_points(5, rng=1)[0].shape == (5, 50)


def test_sample_points_labels_are_independent_of_x():
    """The best fit on 2000 points cannot beat ln 2 on 20000 fresh points (beyond noise)."""
    rng = np.random.default_rng(3)
    x_train, y_train = gh.sample_points(2000, 5, rng=rng)
    x_fresh, y_fresh = gh.sample_points(20000, 5, rng=rng)
    theta = newton_logistic_fit(x_train, y_train)
    assert gh.bce_loss(theta, x_fresh, y_fresh) > math.log(2) - 0.005
    assert abs(y_fresh.mean() - 0.5) < 0.02
    correlations = [np.corrcoef(x_fresh[:, j], y_fresh)[0, 1] for j in range(5)]
    assert np.max(np.abs(correlations)) < 0.03  # standard error 0.007

    # Control: the same fit does learn the task family's labels (the check can fail).
    tasks = gh.sample_tasks(1, 2000, k_query=20000, n_features=5, rng=4)
    theta = newton_logistic_fit(tasks.x_support[0], tasks.y_support[0], iterations=8)
    assert gh.bce_loss(theta, tasks.x_query[0], tasks.y_query[0]) < math.log(2) - 0.3


# ---------------------------------------------------------------------------------------------
# TaskBatch
# ---------------------------------------------------------------------------------------------


def test_task_batch_indexing_keeps_the_task_axis_and_concatenate_inverts_it(batch):
    one = batch[2]
    assert one.n_tasks == 1 and one.x_support.shape == (1, *batch.x_support.shape[1:])
    np.testing.assert_array_equal(one.x_query[0], batch.x_query[2])
    parts = [batch[batch.corrupted], batch[~batch.corrupted]]
    assert parts[0].corrupted.all() and not parts[1].corrupted.any()
    joined = gh.TaskBatch.concatenate([batch[:2], batch[2:]])
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(joined, field), getattr(batch, field))


# ---------------------------------------------------------------------------------------------
# sigmoid, bce_loss, accuracy: stable and correct
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def no_fp_events():
    """Any warning is an error, and overflow / invalid / divide-by-zero raise.

    Underflow is left alone: exp(-1000) == 0 is the right answer, and numpy ignores it by default.
    """
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        yield


def test_sigmoid_extreme_logits(no_fp_events):
    s = gh.sigmoid(np.array([-1000.0, -745.0, -700.0, 0.0, 700.0, 1000.0]))
    assert np.all(np.isfinite(s))
    assert s[0] == 0.0 and s[-1] == 1.0
    assert s[3] == 0.5
    assert np.all(np.diff(s) >= 0)
    assert gh.sigmoid(-1000.0) == 0.0 and gh.sigmoid(1000.0) == 1.0


def test_sigmoid_matches_the_textbook_formula_and_its_symmetry():
    z = np.linspace(-30, 30, 121)
    np.testing.assert_allclose(gh.sigmoid(z), 1 / (1 + np.exp(-z)), rtol=1e-14)
    np.testing.assert_allclose(gh.sigmoid(z) + gh.sigmoid(-z), 1.0, rtol=1e-15)
    assert gh.sigmoid(np.zeros((2, 3, 4))).shape == (2, 3, 4)


def test_bce_loss_extreme_logits(no_fp_events):
    theta, x = np.array([1.0]), np.array([[1000.0], [-1000.0]])
    wrong = gh.bce_loss(theta, x, np.array([0.0, 1.0]))  # confidently wrong on both
    right = gh.bce_loss(theta, x, np.array([1.0, 0.0]))
    assert math.isclose(wrong, 1000.0, rel_tol=1e-12)
    assert 0.0 <= right < 1e-300
    grad = gh.bce_grad(theta, x, np.array([0.0, 1.0]))
    np.testing.assert_allclose(grad, [1000.0])  # (1000 * (1 - 0) + (-1000) * (0 - 1)) / 2


def test_bce_loss_matches_the_textbook_formula():
    rng = np.random.default_rng(0)
    theta, x = rng.normal(size=3), rng.normal(size=(4, 20, 3))
    y = rng.random((4, 20))  # soft labels are allowed
    p = 1 / (1 + np.exp(-(x @ theta)))
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p), axis=1)
    np.testing.assert_allclose(gh.bce_loss(theta, x, y), expected, rtol=1e-12)
    assert math.isclose(gh.bce_loss(np.zeros(3), x[0], y[0]), math.log(2), rel_tol=1e-15)


def test_accuracy_hand_example():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    theta = np.array([1.0, -1.0])  # logits 1, -1, -1, 1
    assert gh.accuracy(theta, x, np.array([1.0, 0.0, 0.0, 1.0])) == 1.0
    assert gh.accuracy(theta, x, np.array([1.0, 1.0, 1.0, 1.0])) == 0.5
    assert gh.accuracy(theta, x, np.array([0.0, 1.0, 1.0, 0.0])) == 0.0
