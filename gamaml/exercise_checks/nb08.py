"""Checkers of notebook 08's exercises (the playground). Not part of the lesson.

The runs these checkers compare with are trained here, off screen, with the dashboard's own
settings (``gamaml_widgets.EVAL_TASKS`` held-out tasks of ``EVAL_QUERY`` points): a few
hundredths of a second each on the linear family.
"""

from __future__ import annotations

import functools

import numpy as np

from gamaml.exercise_checks._common import as_number, named, write_first
from gamaml.exercises import check_exercise, check_prediction, compare_answer

__all__ = ['check_exercise_predict_weights', 'check_exercise_protecting_weights',
           'check_exercise_four_seeds']


def _linear_run(method: str, **changes):
    """The dashboard's starting run (alpha = beta = 1, T = 10, 10 shots, 200 meta-iterations,
    20 % flipped, second order, seed 0), with ``changes``."""
    import gamaml_helpers as gh
    import gamaml_widgets as gw

    settings = dict(alpha=1.0, beta=1.0, n_tasks=10, k_shot=10, meta_iterations=200,
                    corrupt_frac=0.2, corruption="flip", first_order=False, seed=0,
                    eval_every=50, eval_tasks=gw.EVAL_TASKS, eval_query=gw.EVAL_QUERY)
    return gh.meta_train(gh.LinearConfig(method=method, **{**settings, **changes}))


# ---------------------------------------------------------------------------------------------
# Exercise 1: predict, then run: the mean weights at T = 20
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _weights_at_twenty() -> dict:
    """GA-MAML's mean weights, T = 20, 30 % flipped (deterministic: trained once)."""
    import gamaml_helpers as gh

    return gh.mean_task_weights(_linear_run("ga", n_tasks=20, corrupt_frac=0.3))


def check_exercise_predict_weights(clean, flipped):
    """Exercise 1: the predicted mean GA-MAML weights of the clean and the flipped tasks with
    T = 20 tasks per batch, 30 % flipped, every other setting as the dashboard starts. Right
    when each is within 10 % of the measured one and the order is right; prints both."""
    def test():
        unwritten = write_first({"predicted_clean_1": clean, "predicted_flipped_1": flipped})
        if unwritten:
            return unwritten, None
        numbers = as_number(clean, finite=True), as_number(flipped, finite=True)
        if None in numbers:
            return f"your predictions should be numbers, got {clean!r} and {flipped!r}", None
        return _weights_verdict(*numbers)

    return check_prediction(test)


def _weights_verdict(clean_value: float, flipped_value: float) -> tuple[str | None, str | None]:
    """Exercise 1's (hint, values) for two predictions already read as numbers."""
    measured = dict(_weights_at_twenty())
    both = (f"your predictions {clean_value:.3f} (clean) and {flipped_value:.3f} (flipped); "
            f"measured {measured['clean']:.3f} and {measured['corrupted']:.3f} (1/T = 0.050)")

    def near(a, b, rel=0.1):
        return abs(a - b) <= rel * abs(b)

    problem = None
    if near(clean_value, 0.092) and near(flipped_value, 0.117):
        problem = ("those are the weights at T = 10 (section 4): the weights' absolute values "
                   "sum to 1, so with twice the tasks each gets about half")
    elif near(clean_value, 0.05, 0.02) and near(flipped_value, 0.05, 0.02):
        problem = "1/T for every task is MAML's weighting, not GA's"
    elif flipped_value <= clean_value:
        problem = ("you gave the flipped tasks no more weight than the clean ones; at T = 10 "
                   "GA gave them more (section 4)")
    elif not near(clean_value, measured["clean"]):
        problem = "the clean tasks' weight is off by more than 10 %"
    elif not near(flipped_value, measured["corrupted"]):
        problem = "the flipped tasks' weight is off by more than 10 %"
    return (f"{both}; {problem}", None) if problem else (None, both)


# ---------------------------------------------------------------------------------------------
# Exercise 2: a setting where GA's weights protect
# ---------------------------------------------------------------------------------------------


def check_exercise_protecting_weights(dashboard):
    """Exercise 2: the dashboard's last run includes a GA method (GA-MAML or GA-Reptile) with
    corrupted tasks in its batches, and its corrupted tasks got a lower mean weight than its
    clean ones. The run is trained again off screen from its settings, so the weights are the
    run's own (a history edited by hand, or relabelled tasks, do not count)."""
    import gamaml_helpers as gh
    import gamaml_widgets as gw

    def test():
        if not isinstance(dashboard, gw.Playground):
            return f"this checker reads a playground, got {type(dashboard).__name__}"
        ga = [m for m in ("ga", "ga-reptile") if m in dashboard.histories]
        if not ga:
            return (f"the last run trained {sorted(dashboard.histories)}: train GA-MAML or "
                    "GA-Reptile, as a pair")
        partner = {"ga": "maml", "ga-reptile": "reptile"}[ga[0]]
        if partner not in dashboard.histories:
            return (f"the last run trained {gh.METHOD_LABELS[ga[0]]} alone: train it as a pair, "
                    f"beside {gh.METHOD_LABELS[partner]}, so that the two see the same batches")
        history = dashboard.histories[ga[0]]
        config = history.config
        if history.iterations_done != config.meta_iterations:
            return (f"the last run stopped after {history.iterations_done} of "
                    f"{config.meta_iterations} meta-iterations")
        if not config.corrupt_frac or not history.corrupted.any():
            return "no task of the last run was corrupted: set a corrupted fraction above 0"
        again = gh.meta_train(config)
        if not (np.array_equal(again.weights, history.weights, equal_nan=True)
                and np.array_equal(again.corrupted, history.corrupted)):
            return ("the weights or the corrupted flags of the last run are not what its "
                    "settings give: train it again with the Train button")
        weights = gh.mean_task_weights(history)
        label = gh.METHOD_LABELS[ga[0]]
        if weights["corrupted"] >= weights["clean"]:
            return (f"in the last run {label} gave the corrupted tasks {weights['corrupted']:.3f} "
                    f"on average and the clean ones {weights['clean']:.3f}: find a setting "
                    "where the corrupted ones get less")
        return None

    return check_exercise(test)


# ---------------------------------------------------------------------------------------------
# Exercise 3: four seeds
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _final_scores(corrupt_frac: float) -> dict:
    """Held-out accuracy of MAML and GA-MAML at every evaluation, seeds 0-3 (the runs are
    deterministic: trained once per session)."""
    scores = {}
    for seed in range(4):
        for method in ("maml", "ga"):
            score = _linear_run(method, corrupt_frac=corrupt_frac, seed=seed).eval_score.copy()
            score.flags.writeable = False
            scores[method, seed] = score
    return scores


def check_exercise_four_seeds(gaps, standard_error):
    """Exercise 3: ``gaps`` (4,) = GA-MAML's final held-out accuracy minus MAML's at seeds
    0, 1, 2, 3 (30 % flipped, every other setting as the dashboard starts), and
    ``standard_error`` the standard error of their mean over the seeds (ddof = 1)."""
    def test():
        if gaps is None:
            return "gaps_3 is None: store GA - MAML at seeds 0, 1, 2 and 3"
        scores = _final_scores(0.3)
        right = np.array([scores["ga", s][-1] - scores["maml", s][-1] for s in range(4)])
        hint = compare_answer(gaps, right, name="gaps_3", rtol=0, atol=1e-9,
                              show_expected=False)
        if hint is not None:
            start = _final_scores(0.2)  # only for a wrong answer: four more runs
            mistakes = {
                "MAML - GA: the exercise asks for GA - MAML": -right,
                "the gaps at the first held-out evaluation: take the last one (eval_score[-1])":
                    np.array([scores["ga", s][0] - scores["maml", s][0] for s in range(4)]),
                "the gaps averaged over the four evaluations of each run: take the last one":
                    np.array([scores["ga", s].mean() - scores["maml", s].mean()
                              for s in range(4)]),
                "the gaps at the dashboard's starting 20 % of flipped tasks: set 30 %":
                    np.array([start["ga", s][-1] - start["maml", s][-1] for s in range(4)]),
            }
            hint = named(hint, gaps, mistakes)
            if np.shape(gaps) == ():
                hint += ": one gap per seed, four numbers"
            return hint
        value = as_number(standard_error, finite=True)
        if value is None:
            return f"standard_error_3 should be a number, got {standard_error!r}"
        se = right.std(ddof=1) / 2
        wrong = {
            right.std(ddof=1): "the standard deviation of the gaps, not the standard error "
                               "of their mean: divide by the square root of 4",
            right.std() / 2: "np.std's default divides by n; the sample standard deviation "
                             "divides by n - 1 (ddof=1)",
            right.std(ddof=1) / 4: "divided by 4: the standard error divides by the square "
                                   "root of the number of seeds",
        }
        if not np.isclose(value, se, rtol=1e-6, atol=1e-12):
            named_wrong = next((text for w, text in wrong.items()
                                if np.isclose(value, w, rtol=1e-6, atol=1e-12)), None)
            return (f"standard_error_3 is {value:.6g}, not the standard error of the mean of "
                    "the four gaps" + (f": {named_wrong}" if named_wrong else ""))
        return None

    return check_exercise(test)
