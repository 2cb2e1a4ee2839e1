"""The notebooks' exercise checking helper: gh.check_exercise runs a test and prints the verdict,
gh.compare_answer gives the usual hint for a numeric answer.

The checkers themselves run in the notebooks (every solution cell asserts its checker).
"""

from __future__ import annotations

import numpy as np
import pytest

import gamaml_helpers as gh

# ---------------------------------------------------------------------------------------------
# check_exercise
# ---------------------------------------------------------------------------------------------


def test_check_exercise_correct(capsys: pytest.CaptureFixture[str]) -> None:
    assert gh.check_exercise(lambda: None) is True
    assert capsys.readouterr().out == "✓ correct\n"


def test_check_exercise_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert gh.check_exercise(lambda: "expected shape (3,), got (2,)") is False
    assert capsys.readouterr().out == "✗ not yet: expected shape (3,), got (2,)\n"


def test_check_exercise_reports_an_exception(capsys: pytest.CaptureFixture[str]) -> None:
    def test() -> str | None:
        raise ValueError("shapes (3,) and (4,) not aligned")

    assert gh.check_exercise(test) is False
    out = capsys.readouterr().out
    assert out == "✗ not yet: your code raised ValueError: shapes (3,) and (4,) not aligned\n"


def test_check_exercise_reports_a_floating_point_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    def test() -> str | None:
        with np.errstate(over="raise"):
            np.exp(np.array([1000.0]))
        return None

    assert gh.check_exercise(test) is False
    assert "raised FloatingPointError: overflow" in capsys.readouterr().out


def test_check_exercise_prints_exactly_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for test in (lambda: None, lambda: "a hint", lambda: 1 / 0):
        gh.check_exercise(test)
        assert capsys.readouterr().out.count("\n") == 1


def test_check_exercise_does_not_catch_keyboard_interrupt() -> None:
    def test() -> str | None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        gh.check_exercise(test)


@pytest.mark.parametrize("test", [None, "not yet", 3, True])
def test_check_exercise_rejects_a_non_callable(test: object,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="callable"):
        gh.check_exercise(test)
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------------------------------------
# compare_answer
# ---------------------------------------------------------------------------------------------


def test_compare_answer_none() -> None:
    assert gh.compare_answer(None, np.zeros(3)) == "your function returned None"
    assert gh.compare_answer(None, 1.0, name="my_hvp") == "my_hvp returned None"


def test_compare_answer_wrong_shape() -> None:
    assert gh.compare_answer(np.zeros(2), np.zeros(3)) == "expected shape (3,), got (2,)"
    assert gh.compare_answer(np.zeros((3, 1)), np.zeros(3)) == "expected shape (3,), got (3, 1)"
    assert gh.compare_answer([0.5], 0.5) == "expected shape (), got (1,)"


def test_compare_answer_wrong_values() -> None:
    assert gh.compare_answer(np.ones(3), np.zeros(3)) == "wrong values"
    assert gh.compare_answer(np.array([0.0, 0.0, np.nan]), np.zeros(3)) == "wrong values"


@pytest.mark.parametrize("got", ["abc", {"a": 1}, object(), ["x", "y", "z"]])
def test_compare_answer_non_numeric(got: object) -> None:
    hint = gh.compare_answer(got, np.zeros(3), name="label_rule")
    assert hint == f"label_rule should return numbers, got {type(got).__name__}"


def test_compare_answer_matches_within_tolerance() -> None:
    expected = np.array([1.0, -2.0, 0.0])
    assert gh.compare_answer(expected.copy(), expected) is None
    assert gh.compare_answer(expected + 1e-12, expected) is None
    assert gh.compare_answer(expected * (1 + 1e-6), expected, rtol=1e-5) is None
    assert gh.compare_answer(expected * (1 + 1e-6), expected) == "wrong values"
    assert gh.compare_answer(expected + 5e-5, expected, rtol=0, atol=1e-4) is None
    assert gh.compare_answer(expected + 5e-5, expected, rtol=0, atol=1e-5) == "wrong values"
    assert gh.compare_answer(np.array([np.nan, 1.0]), np.array([np.nan, 1.0])) is None


def test_compare_answer_accepts_numbers_in_any_form() -> None:
    assert gh.compare_answer([1, 0, 1], np.array([1.0, 0.0, 1.0])) is None
    assert gh.compare_answer(np.array([True, False]), [1.0, 0.0]) is None
    assert gh.compare_answer(np.float32(0.25), 0.25) is None
    assert gh.compare_answer(2, 2.0) is None


def test_compare_answer_where_ends_the_shape_and_value_hints() -> None:
    where = " for alpha = 0.1"
    assert gh.compare_answer(np.zeros(2), np.zeros(3), where=where) == (
        "expected shape (3,), got (2,) for alpha = 0.1")
    assert gh.compare_answer(np.ones(3), np.zeros(3), where=where) == "wrong values for alpha = 0.1"
    assert gh.compare_answer(np.zeros(3), np.zeros(3), where=where) is None


def test_compare_answer_hint_through_check_exercise(capsys: pytest.CaptureFixture[str]) -> None:
    def test() -> str | None:
        return gh.compare_answer(np.ones(3), np.zeros(3), where=" for alpha = 0.5")

    assert gh.check_exercise(test) is False
    assert capsys.readouterr().out == "✗ not yet: wrong values for alpha = 0.5\n"
