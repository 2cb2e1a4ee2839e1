"""Notebook 08's checkers (gamaml/exercise_checks/nb08.py): the answers that skip the experiment
get "not yet", every known mistake is named, a right answer passes."""

from __future__ import annotations

import numpy as np
import pytest

import gamaml_helpers as gh
import gamaml_widgets as gw
from gamaml.exercise_checks import nb08
from gamaml.exercise_checks.nb08 import (
    check_exercise_four_seeds,
    check_exercise_predict_weights,
    check_exercise_protecting_weights,
)

# Exercise 1: predict, then run ------------------------------------------------------------------


@pytest.mark.parametrize("clean, flipped, named", [
    (None, 0.05, "write both predictions first"),
    ("a lot", 0.05, "should be numbers"),
    (0.092, 0.117, "those are the weights at T = 10"),  # section 4's numbers, copied
    (0.05, 0.05, "MAML's weighting"),
    (0.06, 0.05, "no more weight than the clean ones"),
    (0.03, 0.07, "the clean tasks' weight is off"),
    (0.046, 0.08, "the flipped tasks' weight is off"),
])
def test_predict_weights_names_the_mistakes(run_checker, clean, flipped, named):
    run_checker.not_yet(check_exercise_predict_weights, clean, flipped, named=named)


def test_predict_weights_prints_both_and_accepts_a_good_prediction(run_checker):
    ok, out = run_checker(check_exercise_predict_weights, 0.092, 0.117)
    assert "measured 0.046 and 0.055 (1/T = 0.050)" in out
    ok, out = run_checker(check_exercise_predict_weights, 0.046, 0.059)
    assert ok and out.startswith("✓ correct: your predictions 0.046 (clean) and 0.059")


# Exercise 2: weights that protect --------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard():
    return gw.make_playground()  # the starting settings: GA gives the flipped tasks more


def train(board, **values) -> None:
    for name, value in values.items():
        board.controls[name].value = value
    board.train_button.click()


def test_protecting_weights_refuses_the_starting_run_and_non_ga_runs(run_checker, dashboard):
    train(dashboard, method="both", corrupt_frac=0.2, normalization="paper")
    run_checker.not_yet(check_exercise_protecting_weights, dashboard,
                        named="gave the corrupted tasks 0.134 on average and the clean ones 0.091")
    train(dashboard, method="maml")
    run_checker.not_yet(check_exercise_protecting_weights, dashboard,
                        named="train GA-MAML or GA-Reptile")
    train(dashboard, method="both", corrupt_frac=0.0)
    run_checker.not_yet(check_exercise_protecting_weights, dashboard,
                        named="no task of the last run was corrupted")
    train(dashboard, method="ga", corrupt_frac=0.3, normalization="cosine")  # protects, alone
    run_checker.not_yet(check_exercise_protecting_weights, dashboard, named="as a pair")
    run_checker.not_yet(check_exercise_protecting_weights, None, named="reads a playground")


def test_protecting_weights_refuses_an_edited_history(run_checker, dashboard):
    """Issue 19's shortcut of the kind: relabel the tasks, or overwrite the weights."""
    train(dashboard, method="both", corrupt_frac=0.3, normalization="paper")
    history = dashboard.histories["ga"]
    history.corrupted[:] = ~history.corrupted  # the clean tasks now count as corrupted
    run_checker.not_yet(check_exercise_protecting_weights, dashboard,
                        named="not what its settings give")
    train(dashboard)
    dashboard.histories["ga"].weights[:] = np.where(dashboard.histories["ga"].corrupted, 0.0, 0.1)
    run_checker.not_yet(check_exercise_protecting_weights, dashboard,
                        named="not what its settings give")


def test_protecting_weights_accepts_a_setting_that_protects(run_checker, dashboard):
    train(dashboard, method="both", corrupt_frac=0.3, normalization="cosine")
    ok, out = run_checker(check_exercise_protecting_weights, dashboard)
    assert ok and out == "✓ correct\n"
    weights = gh.mean_task_weights(dashboard.histories["ga"])
    assert weights["corrupted"] < weights["clean"]


# Exercise 3: four seeds --------------------------------------------------------------------------


def final_scores(corrupt_frac):
    settings = dict(corrupt_frac=corrupt_frac, meta_iterations=200, eval_every=50,
                    eval_tasks=gw.EVAL_TASKS, eval_query=gw.EVAL_QUERY)
    return {(m, s): gh.meta_train(gh.LinearConfig(method=m, seed=s, **settings)).eval_score
            for s in range(4) for m in ("maml", "ga")}


@pytest.fixture(scope="module")
def scores():
    return final_scores(0.3)


def gaps(scores, at=-1):
    return np.array([scores["ga", s][at] - scores["maml", s][at] for s in range(4)])


def test_four_seeds_names_the_mistakes_in_the_gaps(run_checker, scores):
    right = gaps(scores)
    se = right.std(ddof=1) / 2
    for wrong, named in [
        (None, "gaps_3 is None"),
        (-right, "MAML - GA"),
        (gaps(scores, at=0), "the first held-out evaluation"),
        (np.array([scores["ga", s].mean() - scores["maml", s].mean() for s in range(4)]),
         "averaged over the four evaluations"),
        (gaps(nb08._final_scores(0.2)), "starting 20 % of flipped tasks"),  # cached there
        (right.mean(), "one gap per seed"),  # the mean alone
    ]:
        run_checker.not_yet(check_exercise_four_seeds, wrong, se, named=named)


def test_four_seeds_names_the_mistakes_in_the_standard_error(run_checker, scores):
    right = gaps(scores)
    for wrong, named in [
        (right.std(ddof=1), "the standard deviation of the gaps"),
        (right.std() / 2, "ddof=1"),
        (right.std(ddof=1) / 4, "divided by 4"),
        (None, "should be a number"),
    ]:
        run_checker.not_yet(check_exercise_four_seeds, right, wrong, named=named)


def test_four_seeds_accepts_the_right_numbers(run_checker, scores):
    right = gaps(scores)
    ok, out = run_checker(check_exercise_four_seeds, right, right.std(ddof=1) / 2)
    assert ok and out == "✓ correct\n"
