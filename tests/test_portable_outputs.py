"""Stored notebook outputs must read the same on every CPU, BLAS kernel and supported version.

nbval compares every printed number with the committed output. A value at roundoff level (the
distance between an exact derivative and finite differences, the difference of two exact
computations) has digits that depend on which BLAS kernel the CPU selects: the same machine
prints 5.3e-09 under one OpenBLAS kernel and 5.7e-09 under another. Such a value must be
asserted in the notebook and shown as a bound ("< 1e-6"), never as digits, or the suite turns
red on a student's laptop while it passed in CI.

This test reads the committed notebooks (it executes nothing and sets no environment
variable) and fails when a printed output, or a markdown cell that quotes it, shows

- any number whose magnitude is below ``TINY`` (1e-6) as digits, or
- any number below ``NEAR_ROUNDOFF`` (1e-3) on a line that compares with finite differences,

unless the number is a stated bound (``< 1e-6``, ``below 1e-6``, ``>= -1e-12``, ``rtol 1e-5``) or is
listed in ``GENUINE_SMALL_VALUES`` with the reason its digits cannot change.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

TINY = 1e-6
NEAR_ROUNDOFF = 1e-3
# A line that compares a computation with finite differences: its small numbers are roundoff
# and truncation error, whatever their size.
FINITE_DIFFERENCE_LINE = re.compile(r"finite[- ]difference", re.IGNORECASE)

# Small numbers that are the value of a well-conditioned computation, not roundoff, so that
# their printed digits are the same on every machine: (notebook, exact text, why).
GENUINE_SMALL_VALUES = [
    ("02_single_layer_network.ipynb", "4.25e-18",
     "sigmoid(-40) = exp(-40) / (1 + exp(-40)), computed to full relative precision and "
     "printed to 3 digits; the table shows the naive and the stable formula agree there"),
]

NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.])")
# Words or symbols right before a number that make it a stated bound, not a measured value.
# A tolerance ("rtol 1e-5") is a bound too.
BOUND = re.compile(r"(?:<=?|>=?|≤|≥|\bbelow|\bunder|\babove|\bat most|\bat least|\bwithin"
                   r"|\b[ar]?tol(?:erance)?\s*=?)\s*$", re.IGNORECASE)


def shown_text(notebook: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """(where, text) for every text output of every code cell and every markdown cell."""
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            found.append((f"cell {index} (markdown)", cell.source))
        for output in cell.get("outputs", []):
            texts = [output.get("text", "")]
            texts += [output.get("data", {}).get(kind, "")
                      for kind in ("text/plain", "text/markdown", "text/html")]
            found.append((f"cell {index} (output)", "".join("".join(t) for t in texts)))
    return found


def fragile_numbers(text: str, allowed: set[str]) -> list[str]:
    """The numbers in `text` shown as digits although roundoff decides them."""
    fragile = []
    for line in text.splitlines():
        limit = NEAR_ROUNDOFF if FINITE_DIFFERENCE_LINE.search(line) else TINY
        for match in NUMBER.finditer(line):
            value = abs(float(match.group()))
            if value == 0 or value >= limit or match.group().lstrip("+-") in allowed:
                continue
            if BOUND.search(line[:match.start()]):
                continue
            fragile.append(f"{match.group()!r} in {line.strip()[:120]!r}")
    return fragile


def test_the_rule_catches_a_roundoff_digit_and_accepts_a_bound() -> None:
    """The rule itself, on the line that once made the suite fail on other CPUs."""
    assert fragile_numbers("exact meta-gradient: relative distance to finite differences "
                           "5.4e-09", set())
    assert fragile_numbers("largest difference from finite differences 3.1e-04", set())
    assert fragile_numbers("gap -0.0000002", set())
    assert not fragile_numbers("relative distance to finite differences < 1e-6", set())
    assert not fragile_numbers("first-order: relative distance to finite differences 0.41",
                               set())
    assert not fragile_numbers("smallest eigenvalue >= -1e-12: True", set())
    assert not fragile_numbers("the two agree to roundoff (below 1e-9)", set())
    assert not fragile_numbers("agrees with central finite differences (rtol 1e-5)", set())
    assert not fragile_numbers("test MSE 0.109 ± 0.012 after 3500 iterations", set())
    assert not fragile_numbers("p = 4.25e-18", {"4.25e-18"})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_roundoff_digits_in_stored_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    allowed = {text for name, text, _ in GENUINE_SMALL_VALUES if name == path.name}
    problems = [f"{where}: {number}" for where, text in shown_text(notebook)
                for number in fragile_numbers(text, allowed)]
    assert not problems, (
        f"{path.name} shows roundoff-scale values as digits, which another CPU or BLAS kernel "
        "prints differently; assert them and print a bound instead:\n" + "\n".join(problems))


def test_every_listed_small_value_is_still_shown() -> None:
    """The exceptions cannot go stale: each one is still printed where it says."""
    for name, text, reason in GENUINE_SMALL_VALUES:
        assert reason
        notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        assert any(text in shown for _, shown in shown_text(notebook)), (
            f"{text} is no longer shown in {name}: remove it from GENUINE_SMALL_VALUES")
