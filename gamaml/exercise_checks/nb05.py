"""Checkers of notebook 05's exercises (the experiments). Not part of the lesson."""

from __future__ import annotations

import functools

import numpy as np

from gamaml.exercise_checks._common import named, paper_weights, write_first
from gamaml.exercises import check_exercise, check_prediction, compare_answer, forbidding

__all__ = ['check_exercise_cosine_ga_weights', 'check_exercise_flipped_majority',
           'check_exercise_negative_clean']


def check_exercise_cosine_ga_weights(fn):
    """Notebook 05, exercise 1: the paper's formula on unit-length updates. Calling
    gh.ga_weights inside ``fn`` does not count (it would answer with one keyword)."""
    import gamaml_helpers as gh

    def test():
        if fn is gh.ga_weights:
            return "this exercise asks for your own code: gh.ga_weights does not count"
        for s in range(3):
            updates = (np.random.default_rng(40 + s).standard_normal((8, 5))
                       * np.arange(1, 9)[:, None])
            unit = updates / np.linalg.norm(updates, axis=1, keepdims=True)
            gram = unit @ unit.T
            raw = paper_weights(updates)
            mistakes = {
                "the paper's weights on the raw updates: normalise every row to length 1 first":
                    raw,
                "the paper's weights, normalised afterwards: it is the updates that are "
                "normalised, before the formula": raw / np.abs(raw).max(),
                "the book's denominator on the unit updates": gram.sum(1) / np.abs(gram).sum(),
                "cosines without the self term": (gram.sum(1) - 1) / np.abs(gram.sum(1) - 1).sum(),
            }
            with forbidding(gh, "ga_weights"):
                got = fn(updates)
            hint = compare_answer(got, paper_weights(unit), rtol=1e-5, atol=1e-8)
            if hint is not None:
                return named(hint, got, mistakes)
        return None

    return check_exercise(test)


@functools.cache
def _flip_run(method: str, corrupt_frac: float):
    """Section 1's run (seed 0, alpha = beta = 1, 500 meta-iterations, flipped labels)."""
    import gamaml_helpers as gh

    return gh.meta_train(gh.LinearConfig(method=method, meta_iterations=500, seed=0,
                                         corrupt_frac=corrupt_frac, corruption="flip"))


N_SEEDS = 100  # exercise 2: the batches gh.sample_tasks(10, 10, corrupt_frac=0.3, rng=seed)


@functools.cache
def _exercise_2_batches():
    """The 100 batches, the checker's own: (n, T, ...) arrays and the corruption mask."""
    import gamaml_helpers as gh

    batches = [gh.sample_tasks(10, 10, corrupt_frac=0.3, rng=seed) for seed in range(N_SEEDS)]
    return gh.TaskBatch.concatenate(batches), np.array([b.corrupted for b in batches])


def _pairs(mask) -> set[tuple[int, int]]:
    return {(int(s), int(i)) for s, i in zip(*np.nonzero(mask), strict=True)}


def _negative_weights(theta, *, normalization="paper", corrupt_frac=0.3):
    """(seeds, T) mask of negative GA weights after one inner step (alpha = 1), and the
    (seeds, T) corruption mask."""
    import gamaml_helpers as gh

    if corrupt_frac == 0.3:
        tasks, bad = _exercise_2_batches()
    else:  # a known mistake: the same seeds without corrupt_frac
        tasks = gh.TaskBatch.concatenate([gh.sample_tasks(10, 10, rng=s) for s in range(N_SEEDS)])
        bad = np.zeros((N_SEEDS, 10), bool)
    adapted = gh.inner_update(theta, tasks.x_support, tasks.y_support, 1.0)
    g = (theta - adapted).reshape(N_SEEDS, 10, -1)
    weights = np.array([gh.ga_weights(gb, normalization=normalization) for gb in g])
    return weights < 0, bad


def _as_pairs(got):
    """The student's answer as a set of (seed, task) pairs, or a hint saying why not."""
    if got is None:
        return "your function returned None"
    if not isinstance(got, (list, tuple, set, np.ndarray)):
        return f"return a list of (seed, task) pairs, not {type(got).__name__}"
    try:
        return {(int(s), int(i)) for s, i in got}
    except (TypeError, ValueError):
        return "return a list of (seed, task) pairs of whole numbers"


def check_exercise_negative_clean(fn):
    """Notebook 05, exercise 2: the (seed, task) pairs of clean tasks with a negative GA weight
    at two starting points, on 100 seeded batches the checker samples itself (relabelling a
    task in your own batch changes nothing here)."""
    def test():
        starts = {"random start": "theta_init", "trained GA start": "theta"}
        mine, right, mistakes, counts = {}, {}, {}, {}
        for where, attribute in starts.items():
            theta = getattr(_flip_run("ga", 0.3), attribute)
            negative, bad = _negative_weights(theta)
            right[where] = _pairs(negative & ~bad)
            counts[where] = len(right[where]), int((negative & bad).sum())
            got = _as_pairs(fn(theta.copy()))
            if isinstance(got, str):
                return got, None
            mine[where] = got
            unlabelled, _ = _negative_weights(theta, corrupt_frac=0.0)
            cosine, _ = _negative_weights(theta, normalization="cosine")
            for name, wrong in {
                "every task with a negative weight, flipped ones included: keep the clean ones "
                "(batch.corrupted False)": _pairs(negative),
                "the flipped tasks with a negative weight, not the clean ones":
                    _pairs(negative & bad),
                "batches sampled without corrupt_frac=0.3: their tasks are all clean":
                    _pairs(unlabelled),
                "the cosine weights of exercise 1: the paper's weights are asked":
                    _pairs(cosine & ~bad),
                "tasks counted from 1: task indices start at 0":
                    {(s, i + 1) for s, i in right[where]},
            }.items():
                mistakes.setdefault(name, {})[where] = wrong
        if mine == right:
            start, trained = counts["random start"], counts["trained GA start"]
            return None, (f"clean tasks with a negative weight: {start[0]} at the random start, "
                          f"{trained[0]} at the trained GA start (of {7 * N_SEEDS}); flipped "
                          f"tasks with one: {start[1]} and {trained[1]} (of {3 * N_SEEDS})")
        where = next(w for w in starts if mine[w] != right[w])
        n = len(mine[where])
        hint = (f"at the {where} your list has {n} pair{'s' * (n != 1)}, expected "
                f"{len(right[where])}")
        extra, missing = sorted(mine[where] - right[where]), sorted(right[where] - mine[where])
        hint += (f": {extra[0]} is not a clean task with a negative weight" if extra else
                 f": {missing[0]} is missing")
        for name, wrong in mistakes.items():
            if wrong == mine and any(wrong.values()):
                return f"{hint}. These are {name}", None
        return hint, None

    return check_prediction(test)


def _majority_measurements():
    """Mean weights of clean and flipped tasks over training with 5 and 7 flipped in 10, and
    accuracies after one step on section 1's 1000 fresh clean tasks."""
    import gamaml_helpers as gh

    fresh = gh.sample_tasks(1000, 10, k_query=50, n_features=50,
                            rng=np.random.default_rng(1000))
    out = {}
    for frac in (0.5, 0.7):
        h = _flip_run("ga", frac)
        out[frac] = (h.weights[~h.corrupted].mean(), h.weights[h.corrupted].mean())
    acc = {m: gh.adapt_and_evaluate(_flip_run(m, 0.7).theta, fresh, 1.0).score_after.mean()
           for m in ("maml", "ga")}
    return out, acc


def check_exercise_flipped_majority(predicted_half, predicted_majority, predicted_ga_wins):
    """Notebook 05, exercise 3: predicted mean weights (clean, flipped) over training with 5
    and with 7 flipped tasks in 10, and whether GA-MAML then beats MAML (7 in 10)."""
    def test():
        unwritten = write_first({"predicted_half": predicted_half,
                                 "predicted_majority": predicted_majority,
                                 "predicted_ga_wins": predicted_ga_wins},
                                "write your three predictions")
        if unwritten:
            return unwritten, None
        weights, acc = _majority_measurements()
        for frac, predicted, name in ((0.5, predicted_half, "predicted_half"),
                                      (0.7, predicted_majority, "predicted_majority")):
            try:
                mine = np.asarray(predicted, dtype=float)
            except (TypeError, ValueError):
                mine = None
            if mine is None or mine.shape != (2,):
                return f"{name} should be two numbers, (clean, flipped)", None
            right = np.array(weights[frac])
            if np.allclose(mine, right, rtol=0, atol=0.01):
                continue
            flipped = round(10 * frac)
            hint = (f"with {flipped} flipped tasks in 10 you predicted clean {mine[0]:.3f}, "
                    f"flipped {mine[1]:.3f}; measured {right[0]:.3f} and {right[1]:.3f} "
                    "(within 0.01 counts)")
            if np.allclose(mine, right[::-1], rtol=0, atol=0.01):
                hint += (". Yours are swapped: with 7 flipped in 10 the clean tasks are the "
                         "minority" if frac == 0.7 else ". Yours are swapped")
            elif np.allclose(mine, 0.1, rtol=0, atol=1e-3) and frac == 0.7:
                hint += ". Yours are MAML's 1/T: GA's weights are not uniform"
            elif np.allclose(mine, (0.0924, 0.1169), rtol=0, atol=0.01):
                hint += (". Yours are section 1's, with 3 flipped in 10"
                         + (": at 5 in 10 neither group is the minority" if frac == 0.5 else
                            ", in the same order: now the clean tasks are the minority"))
            return hint, None
        if not isinstance(predicted_ga_wins, (bool, np.bool_)):
            return "predicted_ga_wins should be True or False", None
        gap = acc["ga"] - acc["maml"]
        measured = (f"GA-MAML {acc['ga']:.3f}, MAML {acc['maml']:.3f} (GA - MAML {gap:+.3f}) "
                    "with 7 flipped in 10")
        if bool(predicted_ga_wins) != bool(gap > 0):
            return f"you predicted that GA {'wins' if predicted_ga_wins else 'loses'}; " \
                   f"measured {measured}", None
        half, majority = (np.array(weights[f]) for f in (0.5, 0.7))
        return None, (f"mean weights (clean, flipped) measured {half[0]:.3f}, {half[1]:.3f} "
                      f"with 5 flipped in 10 and {majority[0]:.3f}, {majority[1]:.3f} with 7; "
                      f"{measured}")

    return check_prediction(test)
