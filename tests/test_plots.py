"""The plotting arithmetic against plain Python: the trailing moving average, and the numbers
``plot_loss``, ``plot_weights`` and ``plot_eval_score`` put on their Axes.

Every expected value is computed here with explicit loops over the History's arrays, not with
the helpers' vectorised code, so an off-by-one there (a window one too long or too short, a
mean divided by the full window at the start, iterations counted from 0) fails a test. The
plots are drawn on a ``matplotlib.figure.Figure`` (no pyplot) and read back from ``ax.lines``
and ``ax.collections``.
"""

from __future__ import annotations

import dataclasses

import matplotlib.colors
import numpy as np
import pytest
from matplotlib.figure import Figure

import gamaml_helpers as gh

SMOOTHING = 25  # the window of plot_weights' mean lines, and plot_loss's default
T = 4  # tasks per batch in the histories below
N = 60  # meta-iterations allocated
DONE = 50  # iterations done in the hand-built history: rows DONE..N-1 are unused


def trailing_mean(values, window: int) -> list[float]:
    """Entry i: the mean of values[i], values[i-1], ... going back at most ``window`` values
    and never before values[0]."""
    means = []
    for i in range(len(values)):
        total, count, j = 0.0, 0, i
        while j >= 0 and count < window:
            total += float(values[j])
            count += 1
            j -= 1
        means.append(total / count)
    return means


def new_axes():
    return Figure().add_subplot()


def xy(line) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)


def line_labelled(ax, label: str):
    matches = [line for line in ax.lines if line.get_label() == label]
    assert len(matches) == 1, f"{len(matches)} lines labelled {label!r}"
    return matches[0]


# ---------------------------------------------------------------------------------------------
# moving_average
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("window, expected", [
    (1, [1.0, 2.0, 3.0, 4.0, 5.0]),
    (2, [1.0, 1.5, 2.5, 3.5, 4.5]),
    (3, [1.0, 1.5, 2.0, 3.0, 4.0]),
    (5, [1.0, 1.5, 2.0, 2.5, 3.0]),
    (6, [1.0, 1.5, 2.0, 2.5, 3.0]),  # longer than the data: the running mean
    (100, [1.0, 1.5, 2.0, 2.5, 3.0]),
])
def test_moving_average_by_hand(window, expected) -> None:
    result = gh.moving_average([1.0, 2.0, 3.0, 4.0, 5.0], window)
    assert result.shape == (5,)
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-12)


def test_moving_average_starts_with_the_first_value_and_averages_what_there_is() -> None:
    values = np.array([10.0, 0.0, 5.0, -3.0, 8.0, 1.0])
    for window in (1, 2, 3, 4, 25):
        result = gh.moving_average(values, window)
        assert result[0] == values[0]  # exactly: a mean of one value
        for i in range(min(window, len(values))):  # the short start: a mean of i + 1 values
            assert result[i] == pytest.approx(values[:i + 1].sum() / (i + 1), abs=1e-12)
    assert gh.moving_average([7.5], 3).tolist() == [7.5]


@pytest.mark.parametrize("n", [1, 2, 7, SMOOTHING - 1, SMOOTHING, SMOOTHING + 1, 200])
@pytest.mark.parametrize("window", [1, 2, 5, SMOOTHING - 1, SMOOTHING, SMOOTHING + 1, 1000])
def test_moving_average_matches_a_loop(n, window) -> None:
    values = np.random.default_rng(n * 1000 + window).normal(3.0, 2.0, size=n)
    result = gh.moving_average(values, window)
    assert result.shape == (n,)
    np.testing.assert_allclose(result, trailing_mean(values, window), rtol=1e-12, atol=1e-12)


def test_moving_average_with_window_one_is_the_data_and_beyond_n_the_running_mean() -> None:
    values = np.random.default_rng(1).normal(size=40)
    np.testing.assert_allclose(gh.moving_average(values, 1), values, rtol=0, atol=1e-12)
    running = np.cumsum(values) / np.arange(1, 41)
    for window in (40, 41, 10_000):
        np.testing.assert_allclose(gh.moving_average(values, window), running, atol=1e-12)


@pytest.mark.parametrize("values, window", [([1.0, 2.0], 0), ([1.0, 2.0], -1),
                                            ([[1.0, 2.0]], 2), ([1.0, np.nan], 2)])
def test_moving_average_rejects_bad_input(values, window) -> None:
    with pytest.raises(ValueError):
        gh.moving_average(values, window)


# ---------------------------------------------------------------------------------------------
# Histories: one trained, one built by hand with groups that are absent on some iterations
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained() -> gh.History:
    """A short GA-MAML run with corrupted tasks: both groups present at every iteration."""
    return gh.meta_train(gh.LinearConfig(method="ga", n_tasks=T, meta_iterations=N,
                                       corrupt_frac=0.5, eval_every=10, seed=3))


@pytest.fixture(scope="module")
def hand_built(trained) -> gh.History:
    """Known weights and corrupted flags; DONE of N iterations run; some iterations without
    corrupted tasks (1-5 and 46, counted from 1), some without clean ones (11, 12, 41);
    held-out accuracy measured at the first four of six evaluation points."""
    rng = np.random.default_rng(7)
    corrupted = rng.random((N, T)) < 0.3
    corrupted[:5] = False
    corrupted[45] = False
    corrupted[46, 0] = True
    corrupted[[10, 11, 40]] = True
    corrupted[DONE:] = True  # not run: must be ignored
    weights = rng.normal(1 / T, 0.1, size=(N, T))
    weights[DONE:] = np.nan  # as meta_train leaves the rows it has not run
    query_loss = np.concatenate([rng.uniform(0.3, 0.7, DONE), np.full(N - DONE, np.nan)])
    eval_iterations = np.array([10, 20, 30, 40, 50, 60])
    eval_score = np.array([0.55, 0.6, 0.58, 0.7, np.nan, np.nan])
    return dataclasses.replace(
        trained, weights=weights, corrupted=corrupted, query_loss=query_loss,
        eval_iterations=eval_iterations, eval_score=eval_score,
        eval_loss=np.array([0.7, 0.65, 0.66, 0.6, np.nan, np.nan]), iterations_done=DONE)


def group_means(history: gh.History, corrupted: bool) -> tuple[list[int], list[float]]:
    """The iterations (counted from 1) at which the group has tasks, and its mean weight there."""
    iterations, means = [], []
    for i in range(history.iterations_done):
        group = [history.weights[i, j] for j in range(history.config.n_tasks)
                 if bool(history.corrupted[i, j]) == corrupted]
        if group:
            iterations.append(i + 1)
            means.append(sum(group) / len(group))
    return iterations, means


def group_dots(history: gh.History, corrupted: bool) -> list[tuple[int, float]]:
    """Every (iteration, w_i) of the group, iteration by iteration, task by task."""
    return [(i + 1, history.weights[i, j]) for i in range(history.iterations_done)
            for j in range(history.config.n_tasks)
            if bool(history.corrupted[i, j]) == corrupted]


# ---------------------------------------------------------------------------------------------
# plot_weights
# ---------------------------------------------------------------------------------------------


def check_weights_plot(history: gh.History) -> None:
    ax = new_axes()
    gh.plot_weights(ax, history)
    np.testing.assert_allclose(xy(line_labelled(ax, "1/T (MAML)"))[1], 1 / T)
    groups = [(name, corrupted) for name, corrupted in (("clean", False), ("corrupted", True))
              if group_dots(history, corrupted)]
    assert len(ax.collections) == len(groups)
    for (name, corrupted), dots in zip(groups, ax.collections, strict=True):
        np.testing.assert_allclose(dots.get_offsets(), group_dots(history, corrupted),
                                   rtol=0, atol=1e-12, err_msg=f"{name} dots")
        iterations, means = group_means(history, corrupted)
        x, y = xy(line_labelled(ax, f"{name} (mean)"))
        np.testing.assert_array_equal(x, iterations, err_msg=f"{name} line: iterations")
        np.testing.assert_allclose(y, trailing_mean(means, SMOOTHING), rtol=1e-12, atol=1e-12,
                                   err_msg=f"{name} line: smoothed mean weight")
    labels = [line.get_label() for line in ax.lines]
    assert labels == ["1/T (MAML)", *(f"{name} (mean)" for name, _ in groups)]
    # One encoding (issue 11): the method's colour for both groups; clean and corrupted told
    # apart by marker and line style, never by a second colour.
    colour = matplotlib.colors.to_rgba(gh.COLORS[history.config.method])
    for (name, _), dots in zip(groups, ax.collections, strict=True):
        assert tuple(dots.get_facecolor()[0][:3]) == pytest.approx(colour[:3]), name
        line = line_labelled(ax, f"{name} (mean)")
        assert matplotlib.colors.to_rgba(line.get_color())[:3] == pytest.approx(colour[:3])
        assert line.get_linestyle() == {"clean": "-", "corrupted": "--"}[name]
    if len(groups) == 2:
        clean_path, corrupted_path = (d.get_paths()[0] for d in ax.collections)
        assert len(clean_path.vertices) != len(corrupted_path.vertices)  # o and x differ


def test_plot_weights_of_a_trained_run(trained) -> None:
    assert trained.iterations_done == N and trained.corrupted.sum(axis=1).tolist() == [2] * N
    check_weights_plot(trained)


def test_plot_weights_skips_the_iterations_where_a_group_is_absent(hand_built) -> None:
    check_weights_plot(hand_built)
    ax = new_axes()
    gh.plot_weights(ax, hand_built)
    corrupted_x = xy(line_labelled(ax, "corrupted (mean)"))[0]
    clean_x = xy(line_labelled(ax, "clean (mean)"))[0]
    assert corrupted_x[0] > 5 and 46 not in corrupted_x  # no corrupted task at 1-5 and 46
    assert not {11, 12, 41} & set(clean_x)  # no clean task there
    assert corrupted_x.max() <= DONE and clean_x.max() <= DONE  # rows not run are left out
    # The smoothing runs over the iterations that have the group: at iteration 46 (none
    # corrupted) the corrupted line has no point, and its point at 47 averages the last 25
    # group means, which reach further back than 25 iterations.
    iterations, means = group_means(hand_built, True)
    k = iterations.index(47)
    assert k >= SMOOTHING and iterations[k - SMOOTHING + 1] < 47 - SMOOTHING + 1
    y = xy(line_labelled(ax, "corrupted (mean)"))[1]
    assert y[k] == pytest.approx(np.mean(means[k - SMOOTHING + 1:k + 1]), abs=1e-12)


def test_plot_weights_without_corrupted_tasks_draws_one_group(hand_built) -> None:
    clean = dataclasses.replace(hand_built, corrupted=np.zeros((N, T), bool))
    check_weights_plot(clean)
    ax = new_axes()
    gh.plot_weights(ax, clean)
    x, y = xy(line_labelled(ax, "clean (mean)"))
    np.testing.assert_array_equal(x, np.arange(1, DONE + 1))
    per_iteration = [sum(clean.weights[i]) / T for i in range(DONE)]
    np.testing.assert_allclose(y, trailing_mean(per_iteration, SMOOTHING), atol=1e-12)


def test_plot_weights_before_any_iteration_draws_only_one_over_t(trained) -> None:
    ax = new_axes()
    gh.plot_weights(ax, dataclasses.replace(trained, iterations_done=0))
    assert [line.get_label() for line in ax.lines] == ["1/T (MAML)"]
    assert not ax.collections


# ---------------------------------------------------------------------------------------------
# plot_loss and plot_eval_score
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("window", [SMOOTHING, 1, 7])
@pytest.mark.parametrize("which", ["trained", "hand_built"])
def test_plot_loss_draws_the_raw_and_the_smoothed_loss(which, window, request) -> None:
    history = request.getfixturevalue(which)
    done = history.iterations_done
    ax = new_axes()
    kwargs = {} if window == SMOOTHING else {"window": window}  # the default is SMOOTHING
    raw, smoothed = gh.plot_loss(ax, history, label="GA-MAML", **kwargs)
    assert list(ax.lines) == [raw, smoothed]
    iterations = [i + 1 for i in range(done)]
    losses = [history.query_loss[i] for i in range(done)]
    np.testing.assert_array_equal(xy(raw)[0], iterations)
    np.testing.assert_array_equal(xy(raw)[1], losses)
    np.testing.assert_array_equal(xy(smoothed)[0], iterations)
    np.testing.assert_allclose(xy(smoothed)[1], trailing_mean(losses, window), atol=1e-12)
    assert smoothed.get_label() == "GA-MAML" and not raw.get_label().startswith("GA")
    assert not np.isnan(xy(smoothed)[1]).any()


def test_plot_loss_before_any_iteration_draws_nothing(trained) -> None:
    ax = new_axes()
    assert gh.plot_loss(ax, dataclasses.replace(trained, iterations_done=0)) == []
    assert not ax.lines


@pytest.mark.parametrize("which", ["trained", "hand_built"])
def test_plot_eval_score_draws_the_measured_points(which, request) -> None:
    history = request.getfixturevalue(which)
    ax = new_axes()
    (line,) = gh.plot_eval_score(ax, history, label="GA-MAML")
    measured = [(int(it), acc)
                for it, acc in zip(history.eval_iterations, history.eval_score, strict=True)
                if not np.isnan(acc)]
    x, y = xy(line)
    np.testing.assert_array_equal(x, [it for it, _ in measured])
    np.testing.assert_array_equal(y, [acc for _, acc in measured])
    assert line.get_label() == "GA-MAML" and list(ax.lines) == [line]


def test_the_trained_history_is_evaluated_where_the_config_says(trained) -> None:
    np.testing.assert_array_equal(trained.eval_iterations, [10, 20, 30, 40, 50, 60])
    assert not np.isnan(trained.eval_score).any()


def test_plot_weights_takes_a_colour_and_rejects_nonsense(trained) -> None:
    ax = new_axes()
    gh.plot_weights(ax, trained, color="#E69F00")
    assert {line.get_color() for line in ax.lines[1:]} == {"#E69F00"}
    with pytest.raises(ValueError, match="^color must be"):
        gh.plot_weights(new_axes(), trained, color="not-a-colour")
