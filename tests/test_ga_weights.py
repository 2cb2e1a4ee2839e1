"""Gradient-agreement weights in their three normalisations.

* ``"paper"`` (the default; Eshratifar et al. 2018, eq. 13):
  ``w_i = sum_j g_i.g_j / sum_k |sum_j g_k.g_j|``, so ``sum_i |w_i| = 1``.
* ``"book"`` (the book chapter): ``w_i = sum_j g_i.g_j / sum_k sum_j |g_k.g_j|``.
* ``"cosine"`` (the course's extension): the paper's formula on unit rows ``g_i / |g_i|``.

Properties are checked with hypothesis (derandomized, so the suite is reproducible) and with
hand-computed examples; the implementation is compared with a naive double loop per
normalisation, written from its definition with plain Python floats.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import gamaml_helpers as gh

# 60 examples per property keep this file near 3 s on the course machine; derandomized, so
# every run checks the same examples.
SETTINGS = settings(max_examples=60, deadline=None, database=None, derandomize=True)

# Entries are 0 or of magnitude in [1e-3, 10]: the naive loops below have no scaling, so
# products of tiny entries would underflow in them (the implementation normalises them away).
ENTRY = st.floats(-10.0, 10.0, allow_subnormal=False).map(lambda v: v if abs(v) >= 1e-3 else 0.0)

NORMALIZATIONS = ["paper", "book", "cosine"]
CANCEL_TOLERANCE = 1e-12  # the documented relative tolerance of "the updates cancel"


@st.composite
def updates(draw, min_tasks: int = 1):
    n_tasks = draw(st.integers(min_tasks, 7))
    n_features = draw(st.integers(1, 5))
    return draw(arrays(np.float64, (n_tasks, n_features), elements=ENTRY))


# ---------------------------------------------------------------------------------------------
# The definitions, as naive double loops over plain Python floats
# ---------------------------------------------------------------------------------------------


def dot(a: list[float], b: list[float]) -> float:
    return sum(a_f * b_f for a_f, b_f in zip(a, b, strict=True))


def naive_book(g: list[list[float]]) -> list[float]:
    """w_i = sum_j g_i.g_j / sum_k sum_j |g_k.g_j|; all updates zero -> 1/T."""
    n = len(g)
    numerators = [0.0] * n
    denominator = 0.0
    for i in range(n):
        for j in range(n):
            d = dot(g[i], g[j])
            numerators[i] += d
            denominator += abs(d)
    if denominator == 0.0:
        return [1.0 / n] * n
    return [num / denominator for num in numerators]


def naive_paper(g: list[list[float]]) -> list[float]:
    """w_i = sum_j g_i.g_j / sum_k |sum_j g_k.g_j|.

    Degenerate: all updates zero, or updates that cancel (every row sum is 0, up to the relative
    tolerance 1e-12 of the sum of |g_k.g_j|) -> 1/T.
    """
    n = len(g)
    row_sums = [0.0] * n
    all_products = 0.0
    for i in range(n):
        for j in range(n):
            d = dot(g[i], g[j])
            row_sums[i] += d
            all_products += abs(d)
    denominator = sum(abs(r) for r in row_sums)
    if all_products == 0.0 or denominator <= CANCEL_TOLERANCE * all_products:
        return [1.0 / n] * n
    return [r / denominator for r in row_sums]


def naive_cosine(g: list[list[float]]) -> list[float]:
    """The paper's formula on unit rows g_i / |g_i|; a zero row stays zero."""
    units = []
    for row in g:
        norm = math.sqrt(sum(v * v for v in row))
        units.append([v / norm for v in row] if norm > 0 else [0.0] * len(row))
    return naive_paper(units)


NAIVE = {"paper": naive_paper, "book": naive_book, "cosine": naive_cosine}


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@SETTINGS
@given(u=updates())
def test_equals_naive_double_loop(u, normalization):
    expected = NAIVE[normalization](u.tolist())
    np.testing.assert_allclose(gh.ga_weights(u, normalization=normalization), expected,
                               rtol=1e-9, atol=1e-12)


# "cosine" must scale the updates down before taking row norms: otherwise the squares overflow
# at 1e200 (inf) and underflow at 1e-200 (every row looks like a zero update).
@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("scale", (1e-200, 1e-150, 1e150, 1e200))
def test_extreme_scales_are_normalised(scale, normalization):
    """Without normalisation, the dot products would underflow to 0 or overflow to inf."""
    u = np.random.default_rng(1).normal(size=(5, 4))
    expected = NAIVE[normalization](u.tolist())
    np.testing.assert_allclose(gh.ga_weights(scale * u, normalization=normalization), expected,
                               rtol=1e-10, atol=1e-13)


def test_the_default_is_the_paper():
    u = np.array([[1.0, 0.0], [-2.0, 1.0], [0.5, 3.0]])
    np.testing.assert_array_equal(gh.ga_weights(u), gh.ga_weights(u, normalization="paper"))
    assert not np.allclose(gh.ga_weights(u), gh.ga_weights(u, normalization="book"))
    assert gh.NORMALIZATIONS == ("paper", "book", "cosine")


# ---------------------------------------------------------------------------------------------
# Hand-computed examples
# ---------------------------------------------------------------------------------------------


def test_paper_hand_computed_three_tasks():
    # g1 = (2, 0), g2 = (1, 1), g3 = (-1, 0). Gram matrix g_i.g_j:
    #   [[ 4,  2, -2],
    #    [ 2,  2, -1],
    #    [-2, -1,  1]]
    # Row sums (= g_i.s with s = g1 + g2 + g3 = (2, 1)): 4, 3, -2.
    # Paper: denominator |4| + |3| + |-2| = 9, so w = (4/9, 3/9, -2/9) and sum |w| = 1.
    w = gh.ga_weights(np.array([[2.0, 0.0], [1.0, 1.0], [-1.0, 0.0]]))
    np.testing.assert_allclose(w, [4 / 9, 3 / 9, -2 / 9], rtol=1e-15)


def test_book_hand_computed_three_tasks():
    # The same updates as above. Book: denominator = sum of |entries| of the Gram matrix
    #   = (4 + 2 + 2) + (2 + 2 + 1) + (2 + 1 + 1) = 17, so w = (4/17, 3/17, -2/17):
    # the paper's signs, but sum |w| = 9/17 < 1.
    w = gh.ga_weights(np.array([[2.0, 0.0], [1.0, 1.0], [-1.0, 0.0]]), normalization="book")
    np.testing.assert_allclose(w, [4 / 17, 3 / 17, -2 / 17], rtol=1e-15)


def test_cosine_hand_computed_three_tasks():
    # The same updates as unit rows: (1, 0), (1/√2, 1/√2), (-1, 0); their sum s = (1/√2, 1/√2).
    # Row sums g_i.s: 1/√2, 1/2 + 1/2 = 1, -1/√2; denominator 1 + √2.
    w = gh.ga_weights(np.array([[2.0, 0.0], [1.0, 1.0], [-1.0, 0.0]]), normalization="cosine")
    r = 1 / math.sqrt(2)
    np.testing.assert_allclose(w, np.array([r, 1.0, -r]) / (1 + math.sqrt(2)), rtol=1e-14)


def test_paper_hand_computed_task_orthogonal_to_the_sum_gets_zero():
    # g1 = (1, 0), g2 = (0, 2), g3 = (-1, 1): s = (0, 3), so g_i.s = 0, 6, 3; denominator 9.
    w = gh.ga_weights(np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 1.0]]))
    np.testing.assert_allclose(w, [0.0, 2 / 3, 1 / 3], rtol=1e-15, atol=1e-16)


def test_hand_computed_two_tasks_that_agree():
    # g1 = (1, 0), g2 = (1, 1): g1.g1 = 1, g1.g2 = 1, g2.g2 = 2. All products are positive,
    # so the row sums (2, 3) and the absolute row sums agree: paper = book = (2/5, 3/5).
    u = np.array([[1.0, 0.0], [1.0, 1.0]])
    for normalization in ("paper", "book"):
        np.testing.assert_allclose(gh.ga_weights(u, normalization=normalization), [0.4, 0.6],
                                   rtol=1e-15)


def test_hand_computed_two_tasks_that_disagree():
    # g1 = (1, 0), g2 = (-2, 1): g1.g1 = 1, g1.g2 = -2, g2.g2 = 4 + 1 = 5; row sums -1, 3.
    # Paper: denominator |-1| + |3| = 4 -> (-1/4, 3/4).
    # Book: sum of |entries| of the Gram matrix = 1 + 2 + 2 + 5 = 10 -> (-1/10, 3/10).
    u = np.array([[1.0, 0.0], [-2.0, 1.0]])
    np.testing.assert_allclose(gh.ga_weights(u), [-0.25, 0.75], rtol=1e-15)
    np.testing.assert_allclose(gh.ga_weights(u, normalization="book"), [-0.1, 0.3], rtol=1e-15)


@pytest.mark.parametrize("normalization, expected", [
    ("paper", np.array([9.0, 1.0, 4.0]) / 14),
    ("book", np.array([9.0, 1.0, 4.0]) / 14),
    ("cosine", np.full(3, 1 / 3)),  # unit rows: every task has the same length
])
def test_orthogonal_updates_are_weighted_by_their_squared_norms(normalization, expected):
    u = np.array([[3.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    np.testing.assert_allclose(gh.ga_weights(u, normalization=normalization), expected,
                               rtol=1e-15)


# ---------------------------------------------------------------------------------------------
# Properties of each normalisation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("normalization", ["paper", "cosine"])
@SETTINGS
@given(u=updates())
def test_paper_and_cosine_absolute_weights_sum_to_one(u, normalization):
    """Also in the degenerate cases: 1/T each, and under cosine zero rows get 0."""
    w = gh.ga_weights(u, normalization=normalization)
    assert w.shape == (u.shape[0],)
    assert np.all(np.isfinite(w))
    assert np.abs(w).sum() == pytest.approx(1.0, rel=1e-12)
    assert w.sum() <= 1 + 1e-12  # sum_i g_i.s = |s|^2 >= 0, at most sum_i |g_i.s|


@SETTINGS
@given(updates())
def test_book_sum_and_absolute_sum_are_at_most_one(u):
    w = gh.ga_weights(u, normalization="book")
    assert w.shape == (u.shape[0],)
    assert np.all(np.isfinite(w))
    assert w.sum() <= 1 + 1e-12
    assert np.abs(w).sum() <= 1 + 1e-12  # |row sum| <= sum of |entries| of that row


def test_book_absolute_sum_is_often_much_less_than_one():
    u = np.random.default_rng(0).normal(size=(10, 50))  # nearly orthogonal updates
    assert np.abs(gh.ga_weights(u, normalization="book")).sum() < 0.5
    assert np.abs(gh.ga_weights(u)).sum() == pytest.approx(1.0, rel=1e-12)


@SETTINGS
@given(updates(min_tasks=2))
def test_paper_weights_are_proportional_to_the_agreement_with_the_summed_update(u):
    s = u.sum(axis=0)
    agreement = u @ s  # g_i . s
    gram = u @ u.T
    assume(s @ s > 1e-6 * np.abs(gram).sum())  # well away from the cancelling case
    np.testing.assert_allclose(gh.ga_weights(u), agreement / np.abs(agreement).sum(),
                               rtol=1e-9, atol=1e-12)


@SETTINGS
@given(updates())
def test_paper_and_book_weights_have_identical_signs(u):
    book = gh.ga_weights(u, normalization="book")
    # Book weights all ~0: the updates cancel and the paper falls back to 1/T (tested below).
    assume(np.abs(book).sum() > 1e-10)
    np.testing.assert_array_equal(np.sign(gh.ga_weights(u)), np.sign(book))
    # ... and the two differ only by one positive factor per batch
    ratio = np.abs(gh.ga_weights(u)).sum() / np.abs(book).sum()
    np.testing.assert_allclose(gh.ga_weights(u), ratio * book, rtol=1e-12, atol=1e-15)


@SETTINGS
@given(u=updates(), data=st.data())
def test_cosine_is_invariant_to_rescaling_each_update(u, data):
    factors = np.array(data.draw(st.lists(st.floats(1e-3, 1e3), min_size=u.shape[0],
                                          max_size=u.shape[0])))
    np.testing.assert_allclose(gh.ga_weights(factors[:, None] * u, normalization="cosine"),
                               gh.ga_weights(u, normalization="cosine"), rtol=1e-9, atol=1e-12)


def test_cosine_ignores_lengths_but_paper_does_not():
    u = np.array([[1.0, 0.0], [0.0, 1.0]])
    longer = np.array([[10.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(gh.ga_weights(longer, normalization="cosine"), [0.5, 0.5])
    np.testing.assert_allclose(gh.ga_weights(longer), [100 / 101, 1 / 101], rtol=1e-15)
    np.testing.assert_allclose(gh.ga_weights(u), [0.5, 0.5])


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@SETTINGS
@given(data=st.data())
def test_permutation_equivariance(data, normalization):
    u = data.draw(updates())
    perm = np.array(data.draw(st.permutations(range(u.shape[0]))))
    np.testing.assert_allclose(gh.ga_weights(u[perm], normalization=normalization),
                               gh.ga_weights(u, normalization=normalization)[perm],
                               rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@SETTINGS
@given(u=updates(), scale=st.sampled_from([1e-150, 1e-3, 0.5, 7.0, 1e150]))
def test_invariant_to_scaling_all_updates(u, scale, normalization):
    np.testing.assert_allclose(gh.ga_weights(scale * u, normalization=normalization),
                               gh.ga_weights(u, normalization=normalization),
                               rtol=1e-10, atol=1e-13)


# ---------------------------------------------------------------------------------------------
# Special and degenerate batches
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("n_tasks", [1, 2, 5, 10])
def test_identical_updates_get_equal_weights(n_tasks, normalization):
    g = np.random.default_rng(n_tasks).normal(size=6)
    np.testing.assert_allclose(gh.ga_weights(np.tile(g, (n_tasks, 1)),
                                             normalization=normalization), 1 / n_tasks,
                               rtol=1e-12)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("n_tasks", [1, 3, 8])
def test_all_zero_updates_get_equal_weights(n_tasks, normalization):
    np.testing.assert_array_equal(
        gh.ga_weights(np.zeros((n_tasks, 4)), normalization=normalization), 1 / n_tasks)


@pytest.mark.parametrize("u", [
    [[1.0, -2.0, 0.5], [-1.0, 2.0, -0.5]],  # g and -g
    [[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]],  # a, b and -(a + b)
    [[3.0, 1.0], [-3.0, -1.0], [0.0, 0.0]],  # g, -g and a zero update
], ids=["g and -g", "three that sum to zero", "g, -g and zero"])
def test_paper_updates_that_cancel_get_equal_weights(u):
    """s = sum_j g_j = 0: every row sum is 0, so the paper's denominator is 0."""
    u = np.array(u)
    n_tasks = u.shape[0]
    np.testing.assert_array_equal(gh.ga_weights(u), 1 / n_tasks)


def test_cosine_updates_that_cancel_get_equal_weights():
    # Unit rows (1, 0) and (-1, 0) cancel; unscaled, (1, 0) and (-2, 0) do not.
    u = np.array([[1.0, 0.0], [-2.0, 0.0]])
    np.testing.assert_array_equal(gh.ga_weights(u, normalization="cosine"), [0.5, 0.5])
    np.testing.assert_allclose(gh.ga_weights(u), [-1 / 3, 2 / 3], rtol=1e-15)  # s = (-1, 0)
    np.testing.assert_array_equal(gh.ga_weights(-u, normalization="cosine"), [0.5, 0.5])


def test_book_weights_of_updates_that_cancel_are_zero():
    """The book's formula has a non-zero denominator here: its numerators are 0, so are w."""
    np.testing.assert_array_equal(gh.ga_weights(np.array([[1.0, 2.0], [-1.0, -2.0]]),
                                                normalization="book"), [0.0, 0.0])


def test_nearly_cancelling_updates_are_not_degenerate():
    # g1 = (1, 0), g2 = (-1, 1e-3): s = (0, 1e-3), g.s = (0, 1e-6). Relative to the products
    # (about 1), 1e-6 is far above the tolerance 1e-12: the weights follow the formula.
    w = gh.ga_weights(np.array([[1.0, 0.0], [-1.0, 1e-3]]))
    np.testing.assert_allclose(w, [0.0, 1.0], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_a_zero_update_gets_weight_zero(normalization):
    """A task that did not move has no direction: g_i . s = 0 (cosine keeps it at zero)."""
    u = np.array([[1.0, 2.0], [0.0, 0.0], [3.0, -1.0]])
    w = gh.ga_weights(u, normalization=normalization)
    assert w[1] == 0.0
    if normalization != "book":  # the remaining tasks get the weights they would get alone
        np.testing.assert_allclose(w[[0, 2]], gh.ga_weights(u[[0, 2]],
                                                            normalization=normalization),
                                   rtol=1e-14)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("n_tasks", [3, 4, 6])
def test_a_task_opposing_the_rest_gets_a_negative_weight(n_tasks, normalization):
    rng = np.random.default_rng(n_tasks)
    g = rng.normal(size=5)
    u = g + 0.1 * rng.normal(size=(n_tasks, 5))  # n_tasks - 1 tasks roughly agree on g ...
    u[-1] = -g  # ... the last one opposes them
    w = gh.ga_weights(u, normalization=normalization)
    assert w[-1] < 0
    assert np.all(w[:-1] > 0)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_weights_of_one_inner_step_do_not_depend_on_alpha(problem, normalization):
    theta, xs, ys = problem["theta"], problem["xs"], problem["ys"]
    w = [gh.ga_weights(theta - gh.inner_update(theta, xs, ys, a), normalization=normalization)
         for a in (0.01, 1.0, 30.0)]
    np.testing.assert_allclose(w[0], w[1], rtol=1e-9)
    np.testing.assert_allclose(w[2], w[1], rtol=1e-9)
    assert not math.isclose(w[1].min(), w[1].max())  # the tasks do get different weights


@pytest.mark.parametrize("bad", ["Paper", "l1", "", None, 1])
def test_unknown_normalization_is_rejected(bad):
    with pytest.raises(ValueError, match=r"\bnormalization\b"):
        gh.ga_weights(np.ones((2, 2)), normalization=bad)
