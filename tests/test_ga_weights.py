"""Gradient-agreement weights: w_i = sum_j g_i.g_j / sum_k sum_j |g_k.g_j|.

Properties are checked with hypothesis (derandomized, so the suite is reproducible) and with
hand-computed examples; the implementation is compared with a naive double loop.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import gamaml_helpers as gh

# 60 examples per property keep this file near 3 s on the course machine; derandomized, so
# every run checks the same examples.
SETTINGS = settings(max_examples=60, deadline=None, database=None, derandomize=True)

# Entries are 0 or of magnitude in [1e-3, 10]: the naive loop below has no scaling, so
# products of tiny entries would underflow in it (the implementation normalises them away).
ENTRY = st.floats(-10.0, 10.0, allow_subnormal=False).map(lambda v: v if abs(v) >= 1e-3 else 0.0)


@st.composite
def updates(draw, min_tasks: int = 1):
    n_tasks = draw(st.integers(min_tasks, 7))
    n_features = draw(st.integers(1, 5))
    return draw(arrays(np.float64, (n_tasks, n_features), elements=ENTRY))


def naive_ga_weights(g: list[list[float]]) -> list[float]:
    """The formula, written out with plain Python loops over tasks and features."""
    n = len(g)
    numerators = [0.0] * n
    denominator = 0.0
    for i in range(n):
        for j in range(n):
            dot = sum(g[i][f] * g[j][f] for f in range(len(g[i])))
            numerators[i] += dot
            denominator += abs(dot)
    if denominator == 0.0:
        return [1.0 / n] * n
    return [num / denominator for num in numerators]


@SETTINGS
@given(updates())
def test_equals_naive_double_loop(u):
    expected = naive_ga_weights(u.tolist())
    np.testing.assert_allclose(gh.ga_weights(u), expected, rtol=1e-9, atol=1e-12)


@SETTINGS
@given(updates())
def test_sum_and_absolute_sum_are_at_most_one(u):
    w = gh.ga_weights(u)
    assert w.shape == (u.shape[0],)
    assert np.all(np.isfinite(w))
    assert w.sum() <= 1 + 1e-12
    assert np.abs(w).sum() <= 1 + 1e-12  # |row sum| <= sum of |entries| of that row


@SETTINGS
@given(st.data())
def test_permutation_equivariance(data):
    u = data.draw(updates())
    perm = np.array(data.draw(st.permutations(range(u.shape[0]))))
    np.testing.assert_allclose(gh.ga_weights(u[perm]), gh.ga_weights(u)[perm],
                               rtol=1e-10, atol=1e-13)


@SETTINGS
@given(updates(), st.sampled_from([1e-150, 1e-3, 0.5, 7.0, 1e150]))
def test_invariant_to_scaling_all_updates(u, scale):
    np.testing.assert_allclose(gh.ga_weights(scale * u), gh.ga_weights(u),
                               rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("scale", [1e-200, 1e-150, 1e150, 1e200])
def test_extreme_scales_are_normalised(scale):
    """Without normalisation, the dot products would underflow to 0 or overflow to inf."""
    u = np.random.default_rng(1).normal(size=(5, 4))
    expected = naive_ga_weights(u.tolist())
    np.testing.assert_allclose(gh.ga_weights(scale * u), expected, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("n_tasks", [1, 2, 5, 10])
def test_identical_updates_get_equal_weights(n_tasks):
    g = np.random.default_rng(n_tasks).normal(size=6)
    np.testing.assert_allclose(gh.ga_weights(np.tile(g, (n_tasks, 1))), 1 / n_tasks,
                               rtol=1e-12)


@pytest.mark.parametrize("n_tasks", [1, 3, 8])
def test_all_zero_updates_get_equal_weights(n_tasks):
    np.testing.assert_array_equal(gh.ga_weights(np.zeros((n_tasks, 4))), 1 / n_tasks)


@pytest.mark.parametrize("n_tasks", [3, 4, 6])
def test_a_task_opposing_the_rest_gets_a_negative_weight(n_tasks):
    rng = np.random.default_rng(n_tasks)
    g = rng.normal(size=5)
    u = g + 0.1 * rng.normal(size=(n_tasks, 5))  # n_tasks - 1 tasks roughly agree on g ...
    u[-1] = -g  # ... the last one opposes them
    w = gh.ga_weights(u)
    assert w[-1] < 0
    assert np.all(w[:-1] > 0)


def test_hand_computed_two_tasks_that_agree():
    # g1 = (1, 0), g2 = (1, 1): g1.g1 = 1, g1.g2 = 1, g2.g2 = 2, sum of |entries| = 5.
    w = gh.ga_weights(np.array([[1.0, 0.0], [1.0, 1.0]]))
    np.testing.assert_allclose(w, [(1 + 1) / (1 + 1 + 1 + 2), (1 + 2) / 5], rtol=1e-15)
    np.testing.assert_allclose(w, [0.4, 0.6], rtol=1e-15)


def test_hand_computed_two_tasks_that_disagree():
    # g1 = (1, 0), g2 = (-2, 1): g1.g1 = 1, g1.g2 = -2, g2.g2 = 4 + 1 = 5.
    # Denominator: sum of |entries| of the Gram matrix = 1 + 2 + 2 + 5 = 10 (not the sum of
    # |row sums| = 1 + 3 = 4, which would give -0.25 and 0.75).
    w = gh.ga_weights(np.array([[1.0, 0.0], [-2.0, 1.0]]))
    np.testing.assert_allclose(w, [(1 - 2) / 10, (-2 + 5) / 10], rtol=1e-15)
    np.testing.assert_allclose(w, [-0.1, 0.3], rtol=1e-15)


def test_orthogonal_updates_are_weighted_by_their_squared_norms():
    u = np.array([[3.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    np.testing.assert_allclose(gh.ga_weights(u), np.array([9.0, 1.0, 4.0]) / 14, rtol=1e-15)


def test_weights_of_one_inner_step_do_not_depend_on_alpha(problem):
    theta, xs, ys = problem["theta"], problem["xs"], problem["ys"]
    w = [gh.ga_weights(theta - gh.inner_update(theta, xs, ys, a)) for a in (0.01, 1.0, 30.0)]
    np.testing.assert_allclose(w[0], w[1], rtol=1e-9)
    np.testing.assert_allclose(w[2], w[1], rtol=1e-9)
    assert not math.isclose(w[1].min(), w[1].max())  # the tasks do get different weights
