"""Notebook 09's checker (gamaml/exercise_checks/nb09.py) on the committed sine summary."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from gamaml.exercise_checks.nb09 import check_exercise_largest_gap

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def summary() -> dict:
    with open(ROOT / "benchmarks" / "results" / "sine" / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {(r["experiment"], r["kind"], r["name"], r["metric"]):
            (float(r["mean"] or "nan"), float(r["half_width"] or "nan"), int(r["n"]))
            for r in rows}


def sweep(summary) -> dict[float, float]:
    return {float(n.split("@")[1]): c[0] for (e, k, n, m), c in summary.items()
            if (e, k, m) == ("plain-step", "sweep difference", "mse_5") and np.isfinite(c[0])}


def test_the_most_negative_difference_passes(run_checker, summary):
    def right(s):
        rows = sweep(s)
        beta = min(rows, key=rows.get)
        return beta, rows[beta]

    assert run_checker(check_exercise_largest_gap, right, summary) == (True, "✓ correct\n")


@pytest.mark.parametrize("pick, named", [
    (lambda rows: max(rows, key=lambda b: abs(rows[b])), "absolute value"),
    (lambda rows: max(rows, key=rows.get), "largest"),
])
def test_the_wrong_end_of_the_sweep_is_named(run_checker, summary, pick, named):
    def wrong(s):
        rows = sweep(s)
        return pick(rows), rows[pick(rows)]

    run_checker.not_yet(check_exercise_largest_gap, wrong, summary, named=named)
