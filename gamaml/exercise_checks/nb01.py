"""Checkers of notebook 01's exercises (sampling tasks). Not part of the lesson."""

from __future__ import annotations

import functools

import numpy as np

from gamaml.exercise_checks._common import as_number, helpers, named
from gamaml.exercises import (
    check_exercise,
    check_prediction,
    compare_answer,
    forbidding,
    loop_depth,
)

__all__ = [
    "check_exercise_best_constant_loss",
    "check_exercise_disagreement",
    "check_exercise_shared_direction_prediction",
    "check_exercise_spread_from_labels",
]


def _is_nan(got) -> bool:
    """True if ``got`` is a single NaN (an answer that hit 0 * log 0, or read hidden data)."""
    if got is None:
        return False
    try:
        return np.size(got) == 1 and bool(np.isnan(np.asarray(got, dtype=float)).all())
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------------------------------------
# Exercise 1: where two boundaries disagree
# ---------------------------------------------------------------------------------------------


def _disagreement(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(T, T): the fraction of the points x (n, d) that boundaries i and j label differently."""
    labels = x @ w.T > 0  # (n, T)
    return np.mean(labels[:, :, None] != labels[:, None, :], axis=0)


def _disagreement_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(101)
    u = helpers().default_direction(50)
    return [
        (rng.standard_normal((4, 2)), rng.uniform(-1, 1, (300, 2))),
        (u + rng.standard_normal((6, 50)) / np.sqrt(50), rng.uniform(-1, 1, (500, 50))),
        (rng.standard_normal((3, 5)), rng.uniform(-1, 1, (7, 5))),
    ]


def check_exercise_disagreement(fn):
    """Exercise 1: ``fn(w, x)`` -> (T, T), entry [i, j] the fraction of the points ``x (n, d)``
    on which the boundaries of ``w[i]`` and ``w[j]`` give different labels. Calling
    gh.accuracy inside ``fn`` does not count."""
    gh = helpers()

    def test():
        for w, x in _disagreement_cases():
            right = _disagreement(w, x)
            unit = w / np.linalg.norm(w, axis=1, keepdims=True)
            angle = np.arccos(np.clip(unit @ unit.T, -1.0, 1.0))  # radians
            mistakes = {
                "the fractions on which the boundaries agree: the exercise asks where they "
                "disagree": 1.0 - right,
                "counts of points, not fractions: divide by the number of points": right * len(x),
                "the angle estimate phi / 180 degrees from the weights: count the points instead, "
                "that is what the estimate approximates": angle / np.pi,
                "the angles in degrees: count the points on which the labels differ":
                    np.degrees(angle),
            }
            with forbidding(gh, "accuracy"):
                got = fn(w, x)
            hint = compare_answer(got, right, name="disagreement", rtol=0, atol=1e-6,
                                  where=f" for {len(w)} boundaries and {len(x)} points in "
                                        f"{x.shape[1]} dimensions")
            if hint is not None:
                return named(hint, got, mistakes)
        if loop_depth(fn) != 0:
            return ("disagreement has a Python loop (or calls one): label every point under "
                    "every boundary with one product, then compare all pairs by broadcasting")
        return None

    return check_exercise(test)


# ---------------------------------------------------------------------------------------------
# Exercise 2: predict, then run (the shared direction on clean, flipped and random tasks)
# ---------------------------------------------------------------------------------------------

PREDICTION_SPREAD = 0.5
PREDICTION_TOLERANCE = 0.02


@functools.lru_cache(maxsize=1)
def _shared_direction_accuracies() -> dict[str, float]:
    """Mean query accuracy of u at spread 0.5, d = 50: clean, flipped and random-label tasks
    (the same tasks and points for the three, seed 2024)."""
    gh = helpers()
    u = gh.default_direction(50)
    measured = {}
    for kind, extra in (("clean", {}), ("flipped", {"corrupt_frac": 1.0, "corruption": "flip"}),
                        ("random", {"corrupt_frac": 1.0, "corruption": "random"})):
        batch = gh.sample_tasks(1000, 1, k_query=100, spread=PREDICTION_SPREAD,
                                rng=np.random.default_rng(2024), **extra)
        measured[kind] = float(np.mean(gh.accuracy(u, batch.x_query, batch.y_query)))
    return measured


def _prediction_hint(kind: str, value: float, measured: dict[str, float]) -> str:
    """What a prediction that is off by more than the tolerance probably got wrong."""
    s = PREDICTION_SPREAD
    cosine = 1 / np.sqrt(1 + s**2)
    clean = measured["clean"]
    known = {
        "clean": [(cosine, "that is the cosine 1/sqrt(1 + s^2), not an accuracy: turn the angle "
                           "into a fraction, 1 - angle/180 degrees"),
                  (0.75, "0.75 is the accuracy at spread 1 (section 7): at spread 0.5 the angle "
                         "is smaller"),
                  (1 - clean, "that is the fraction where u and a task disagree, angle/180")],
        "flipped": [(clean, "a flipped task inverts every label: u is right exactly where it "
                            "was wrong on the clean task"),
                    (0.5, "0.5 is what random labels give: flipped labels are not random")],
        "random": [(clean, "coin-flip labels do not depend on x: any fixed classifier gets "
                           "about half of them"),
                   (1 - clean, "coin-flip labels do not depend on x: any fixed classifier gets "
                               "about half of them")],
    }
    if not 0 <= value <= 1:
        return "an accuracy is a fraction between 0 and 1, not a percentage"
    for wrong, why in known[kind]:
        if abs(value - wrong) < PREDICTION_TOLERANCE / 2:
            return why
    return f"more than {PREDICTION_TOLERANCE} away"


def check_exercise_shared_direction_prediction(clean, flipped, random):
    """Exercise 2: predicted mean query accuracies of the shared direction u, at spread 0.5 in
    d = 50, on clean, flipped and random-label tasks; compared with a run of 1,000 tasks of each
    kind (off screen), within 0.02. Prints both."""
    def test():
        given = {"clean": clean, "flipped": flipped, "random": random}
        missing = [k for k, v in given.items() if v is None]
        if missing:
            names = ", ".join(f"predict_{k}" for k in missing)
            return f"write your predictions first ({names}), then run the cell", None
        predictions = {k: as_number(v) for k, v in given.items()}
        if any(v is None for v in predictions.values()):
            return "each prediction should be one number, an accuracy between 0 and 1", None
        measured = _shared_direction_accuracies()
        both = "; ".join(f"{k}: yours {predictions[k]:.3f}, measured {measured[k]:.3f}"
                         for k in predictions)
        off = [f"{k}: {_prediction_hint(k, predictions[k], measured)}" for k in predictions
               if not abs(predictions[k] - measured[k]) <= PREDICTION_TOLERANCE]
        return (f"{both} ({'; '.join(off)})", None) if off else (None, both)

    return check_prediction(test)


# ---------------------------------------------------------------------------------------------
# Exercise 3: the best constant prediction
# ---------------------------------------------------------------------------------------------


def _entropy(mean: float) -> float:
    return float(-sum(q * np.log(q) for q in (mean, 1.0 - mean) if q > 0))


def check_exercise_best_constant_loss(fn):
    """Exercise 3: ``fn(y)``, the smallest mean cross-entropy a constant prediction c in (0, 1)
    reaches on the labels y: the entropy of the mean label (0 for all-equal labels)."""
    noisy = helpers().sample_tasks(1, 2000, corrupt_frac=1.0, corruption="random",
                                   rng=np.random.default_rng(3))
    cases = [np.array([1.0, 0.0, 0.0, 0.0]), np.array([1.0, 1.0, 1.0, 0.0, 1.0]),
             np.ones(6), np.zeros(3), noisy.y_support[0],
             np.array([0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0])]  # the last: hidden

    def test():
        for case, y in enumerate(cases):
            shown = case < len(cases) - 1
            mean = float(y.mean())
            right = _entropy(mean)
            with np.errstate(divide="ignore", invalid="ignore"):
                got = fn(y.copy())
            where = f" for labels with mean {mean:.3f}"
            if _is_nan(got):
                if mean in (0.0, 1.0):
                    return (f"nan{where}: 0 * log 0 is nan in floating point, but the term "
                            "tends to 0 (c -> the mean label): leave out the terms of a mean "
                            "label of 0 or 1")
                return f"nan{where}" + (f": expected {right:.6g}" if shown else "")
            mistakes = {
                "ln 2 for every set of labels: that is the best loss only when half of the "
                "labels are 1": np.log(2),
                "the mean label: that is the best constant c, not the loss it reaches": mean,
                "the entropy in bits (log base 2): the cross-entropy uses the natural log":
                    right / np.log(2),
                "the loss with the wrong sign: a cross-entropy is never negative": -right,
            }
            hint = compare_answer(got, right, name="best_constant_loss", rtol=0, atol=1e-5,
                                  where=where, show_expected=shown)
            if hint is not None:
                return named(hint, got, mistakes)
        return None

    return check_exercise(test)


# ---------------------------------------------------------------------------------------------
# Exercise 4: the spread, read off the labels
# ---------------------------------------------------------------------------------------------


def _pooled_accuracy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Accuracy of the shared direction per task: x (T, n, d), y (T, n) -> (T,)."""
    u = helpers().default_direction(x.shape[-1])
    return np.mean((x @ u >= 0) == (y == 1), axis=-1)


def _spread_cases():
    gh = helpers()
    cases = []
    for seed, (d, spread, q) in enumerate([(50, 0.5, 100), (20, 1.5, 60), (30, 1.0, 80)]):
        batch = gh.sample_tasks(200, 10, k_query=q, n_features=d, spread=spread,
                                rng=np.random.default_rng(500 + seed))
        hidden = gh.TaskBatch(batch.x_support, batch.y_support, batch.x_query, batch.y_query,
                              batch.corrupted, np.full_like(batch.true_theta, np.nan),
                              batch.minority)
        cases.append((hidden, spread))
    return cases


def check_exercise_spread_from_labels(fn):
    """Exercise 4: ``fn(batch)``, the spread estimated from the labels: the accuracy a of u on
    all query points of the batch pooled, then s = tan(pi (1 - a)). The batches hide their
    true weights (NaN), so an answer that reads them gives NaN."""
    def test():
        cases = _spread_cases()
        for case, (batch, spread) in enumerate(cases):
            shown = case < len(cases) - 1  # the last: a batch whose answer no hint shows
            d = batch.x_query.shape[-1]
            per_task = _pooled_accuracy(batch.x_query, batch.y_query)
            a = per_task.mean()
            right = np.tan(np.pi * (1 - a))
            support = _pooled_accuracy(batch.x_support, batch.y_support).mean()
            mistakes = {
                "the accuracy of u, not the spread: invert 1 - angle/180 degrees for the angle, "
                "then the angle for s": a,
                "a negative spread: the angle is pi (1 - accuracy), not pi times the accuracy":
                    np.tan(np.pi * a),
                "cos(angle) = 1/sqrt(1 + s^2): solve it for s": np.cos(np.pi * (1 - a)),
                "the tangent of an angle in degrees: numpy's trigonometric functions take "
                "radians": np.tan(180 * (1 - a)),
                "the tangent of an angle in degrees, in absolute value: numpy's trigonometric "
                "functions take radians": abs(np.tan(180 * (1 - a))),
                "the mean of one estimate per task: pool the query points of the whole batch "
                "first, then invert once": np.mean(np.tan(np.pi * (1 - per_task))),
                "the estimate from the support points: use the query points (ten times more)":
                    np.tan(np.pi * (1 - support)),
                "the angle, not the spread: s = tan(angle)": np.pi * (1 - a),
            }
            where = f" for a batch of spread {spread} in {d} dimensions"
            hidden = (f"{where}: the batch's true_theta is hidden (NaN) here; estimate the "
                      "spread from the points and labels alone")
            try:
                got = fn(batch)
            except ValueError as exc:  # a helper refusing the hidden weights
                if "nan" in str(exc).lower():
                    return f"your code raised ValueError ({exc}){hidden}"
                raise
            if _is_nan(got):
                return f"nan{hidden}"
            hint = compare_answer(got, right, name="spread_from_labels", rtol=1e-6, atol=1e-9,
                                  where=where, show_expected=shown)
            if hint is not None:
                return named(hint, got, mistakes)
        return None

    return check_exercise(test)
