"""The notebooks' exercise checking helper: gh.check_exercise runs a test and prints the verdict,
gh.check_prediction does so for a predict-then-run exercise (quoting the values),
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
    assert bool(gh.check_exercise(lambda: None)) is True
    assert capsys.readouterr().out == "✓ correct\n"


def test_check_exercise_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert bool(gh.check_exercise(lambda: "expected shape (3,), got (2,)")) is False
    assert capsys.readouterr().out == "✗ not yet: expected shape (3,), got (2,)\n"


def test_check_exercise_reports_an_exception(capsys: pytest.CaptureFixture[str]) -> None:
    def test() -> str | None:
        raise ValueError("shapes (3,) and (4,) not aligned")

    assert bool(gh.check_exercise(test)) is False
    out = capsys.readouterr().out
    assert out == "✗ not yet: your code raised ValueError: shapes (3,) and (4,) not aligned\n"


def test_check_exercise_reports_a_floating_point_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    def test() -> str | None:
        with np.errstate(over="raise"):
            np.exp(np.array([1000.0]))
        return None

    assert bool(gh.check_exercise(test)) is False
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
# check_prediction
# ---------------------------------------------------------------------------------------------


def test_check_prediction_quotes_the_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert bool(gh.check_prediction(lambda: (None, "yours 0.85, measured 0.854"))) is True
    assert capsys.readouterr().out == "✓ correct: yours 0.85, measured 0.854\n"


@pytest.mark.parametrize("values", [None, ""])
def test_check_prediction_without_values_says_correct(values: str | None,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert bool(gh.check_prediction(lambda: (None, values))) is True
    assert capsys.readouterr().out == "✓ correct\n"


def test_check_prediction_hint_is_the_whole_line(capsys: pytest.CaptureFixture[str]) -> None:
    verdict = gh.check_prediction(lambda: ("yours 0.5, measured 0.854 (more than 0.02 away)",
                                           "not shown"))
    assert bool(verdict) is False and repr(verdict) == "Verdict(False)"
    assert capsys.readouterr().out == (
        "✗ not yet: yours 0.5, measured 0.854 (more than 0.02 away)\n")


def test_check_prediction_reports_an_exception(capsys: pytest.CaptureFixture[str]) -> None:
    def test() -> tuple[str | None, str | None]:
        return None, f"yours {float('about 0.8'):.3f}"

    assert bool(gh.check_prediction(test)) is False
    assert capsys.readouterr().out == (
        "✗ not yet: your code raised ValueError: could not convert string to float: "
        "'about 0.8'\n")


def test_check_prediction_prints_exactly_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for test in (lambda: (None, "a\tb"), lambda: ("a hint", None), lambda: (None, None),
                 lambda: 1 / 0):
        gh.check_prediction(test)
        assert capsys.readouterr().out.count("\n") == 1


def test_check_prediction_does_not_catch_keyboard_interrupt() -> None:
    def test() -> tuple[str | None, str | None]:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        gh.check_prediction(test)


@pytest.mark.parametrize("test", [None, ("a hint", None), 3])
def test_check_prediction_rejects_a_non_callable(test: object,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="callable"):
        gh.check_prediction(test)
    assert capsys.readouterr().out == ""


def test_write_first_names_every_prediction_until_all_are_written() -> None:
    from gamaml.exercise_checks._common import write_first

    assert write_first({"predicted_a": None, "predicted_b": 0.5}) == (
        "write both predictions first (predicted_a and predicted_b), then run the cell")
    assert write_first({"a": 1, "b": None, "c": 0}, "write your three predictions") == (
        "write your three predictions first (a, b, c), then run the cell")
    assert write_first({"a": 0.0, "b": False, "c": ""}) is None  # written, if not yet right


def test_as_number_reads_one_number_or_gives_none() -> None:
    from gamaml.exercise_checks._common import as_number

    assert as_number("0.25") == 0.25 and as_number(np.float32(0.5)) == 0.5
    assert as_number(True) == 1.0
    assert as_number("about 0.3") is None and as_number([0.1, 0.2]) is None
    assert as_number(None) is None
    assert np.isnan(as_number(float("nan"))) and as_number(np.inf) == np.inf
    assert as_number(float("nan"), finite=True) is None
    assert as_number(np.inf, finite=True) is None and as_number(-1e300, finite=True) == -1e300


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
    assert gh.compare_answer(np.ones(3), np.zeros(3)) == (
        "wrong values: yours 1, expected 0 at index 0")
    assert gh.compare_answer(np.array([0.0, 0.0, np.nan]), np.zeros(3)) == (
        "wrong values: yours nan, expected 0 at index 2")
    assert gh.compare_answer(0.25, 0.5) == "wrong values: yours 0.25, expected 0.5"
    assert gh.compare_answer(np.eye(2), np.zeros((2, 2))) == (
        "wrong values: yours 1, expected 0 at index (0, 0)")


@pytest.mark.parametrize("got", ["abc", {"a": 1}, object(), ["x", "y", "z"]])
def test_compare_answer_non_numeric(got: object) -> None:
    hint = gh.compare_answer(got, np.zeros(3), name="label_rule")
    assert hint == f"label_rule should return numbers, got {type(got).__name__}"


def test_compare_answer_matches_within_tolerance() -> None:
    expected = np.array([1.0, -2.0, 0.0])
    assert gh.compare_answer(expected.copy(), expected) is None
    assert gh.compare_answer(expected + 1e-12, expected) is None
    assert gh.compare_answer(expected * (1 + 1e-6), expected, rtol=1e-5) is None
    assert gh.compare_answer(expected * (1 + 1e-6), expected).startswith("wrong values")
    assert gh.compare_answer(expected + 5e-5, expected, rtol=0, atol=1e-4) is None
    assert gh.compare_answer(expected + 5e-5, expected, rtol=0, atol=1e-5).startswith(
        "wrong values")
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
    assert gh.compare_answer(np.ones(3), np.zeros(3), where=where) == (
        "wrong values for alpha = 0.1: yours 1, expected 0 at index 0")
    assert gh.compare_answer(np.zeros(3), np.zeros(3), where=where) is None


def test_compare_answer_hint_through_check_exercise(capsys: pytest.CaptureFixture[str]) -> None:
    def test() -> str | None:
        return gh.compare_answer(np.ones(3), np.zeros(3), where=" for alpha = 0.5")

    assert bool(gh.check_exercise(test)) is False
    assert capsys.readouterr().out == (
        "✗ not yet: wrong values for alpha = 0.5: yours 1, expected 0 at index 0\n")


# ---------------------------------------------------------------------------------------------
# Checkers off screen (gamaml/exercise_checks/): named mistakes, no helper shortcut
# ---------------------------------------------------------------------------------------------


def _loops(updates):
    t = len(updates)
    numerators = [sum(float(np.dot(updates[i], updates[j])) for j in range(t)) for i in range(t)]
    total = sum(abs(n) for n in numerators)
    return np.array([n / total for n in numerators])


def _gram(updates):
    return updates @ updates.T


@pytest.mark.parametrize(("wrong", "named"), [
    (lambda u: _gram(u).sum(1) / np.abs(_gram(u)).sum(), "the book's denominator"),
    (lambda u: (lambda a: a / np.abs(a).sum())(_gram(u).sum(1) - np.diag(_gram(u))),
     "without the self term"),
    (lambda u: _gram(u).sum(1) / _gram(u).sum(1).sum(), "without the absolute value"),
    (lambda u: _loops(u) / len(u), "divided by T once more"),
    (lambda u: np.full(len(u), 1 / len(u)), "uniform weights 1/T"),
])
def test_the_ga_weights_checker_names_the_known_mistakes(wrong, named, capsys):
    from gamaml.exercise_checks.nb04 import check_exercise_ga_weights_loops

    assert bool(check_exercise_ga_weights_loops(wrong)) is False
    out = capsys.readouterr().out
    assert out.startswith("✗ not yet: wrong values for updates of shape (5, 3): yours ")
    assert named in out


def test_the_ga_weights_checker_refuses_the_helper_and_accepts_loops(capsys):
    from gamaml.exercise_checks.nb04 import check_exercise_ga_weights_loops

    assert not check_exercise_ga_weights_loops(gh.ga_weights)  # the shortcut of issue 19
    assert "gh.ga_weights itself does not count" in capsys.readouterr().out
    assert bool(check_exercise_ga_weights_loops(lambda u: gh.ga_weights(u))) is False
    assert "calling gh.ga_weights does not count" in capsys.readouterr().out
    assert gh.ga_weights(np.eye(2)).tolist() == [0.5, 0.5]  # the helper is back afterwards
    assert bool(check_exercise_ga_weights_loops(_loops)) is True
    assert capsys.readouterr().out == "✓ correct\n"


def test_a_verdict_shows_nothing_in_a_notebook_and_is_true_when_correct():
    right, wrong = gh.check_exercise(lambda: None), gh.check_exercise(lambda: "no")
    assert right and not wrong and repr(right) == "Verdict(True)"
    assert right._ipython_display_() is None  # IPython shows nothing for it


def _two_steps(order_first, order_second):
    """Two-step meta-gradients, the factors applied at the given points, right to left."""
    def fn(theta, batch, alpha):
        xs, ys = batch.x_support, batch.y_support
        t0 = np.broadcast_to(theta, (batch.n_tasks, theta.size))
        t1 = t0 - alpha * gh.bce_grad(t0, xs, ys)
        t2 = t1 - alpha * gh.bce_grad(t1, xs, ys)
        points = {"t0": t0, "t1": t1, "t2": t2}
        v = gh.bce_grad(t2, batch.x_query, batch.y_query)
        v = v - alpha * gh.bce_hvp(points[order_first], xs, v)
        return v - alpha * gh.bce_hvp(points[order_second], xs, v)
    return fn


@pytest.mark.parametrize(("fn", "named"), [
    (_two_steps("t0", "t1"), "the factors in the wrong order"),
    (_two_steps("t0", "t0"), "both Hessians at the starting point"),
    (_two_steps("t2", "t1"), "the Hessians at the wrong points"),
    (lambda t, b, a: gh.maml_meta_gradients(t, b.x_support, b.y_support, b.x_query,
                                            b.y_query, a, inner_steps=2),
     "calling gh.maml_meta_gradients does not count"),
])
def test_the_two_step_checker_names_the_known_mistakes(fn, named, capsys):
    from gamaml.exercise_checks.nb03 import check_exercise_two_step_meta_gradients as check

    assert not check(fn)
    assert named in capsys.readouterr().out
    assert check(_two_steps("t1", "t0"))  # (I - alpha H_1) first, then (I - alpha H_0)


def test_the_cosine_checker_names_the_raw_updates_and_refuses_the_keyword(capsys):
    from gamaml.exercise_checks.nb05 import check_exercise_cosine_ga_weights as check

    def raw(u):
        agreement = (u @ u.T).sum(axis=1)
        return agreement / np.abs(agreement).sum()

    assert not check(raw)
    assert "normalise every row to length 1 first" in capsys.readouterr().out
    assert not check(lambda u: gh.ga_weights(u, normalization="cosine"))  # issue 19's shortcut
    assert "does not count" in capsys.readouterr().out
    assert check(lambda u: raw(u / np.linalg.norm(u, axis=1, keepdims=True)))


@pytest.mark.parametrize("names", [(), ("no_such_function",), ("CHUNK",)])
def test_forbidding_names_a_bad_name(names):
    with pytest.raises(ValueError, match="names"):
        with gh.forbidding(gh, *names):
            pass


def test_compare_answer_shows_the_digits_where_close_values_differ() -> None:
    hint = gh.compare_answer(0.00194507123, 0.00194507456, rtol=1e-9, atol=0)
    assert hint == "wrong values: yours 0.0019450712, expected 0.0019450746"


def test_forbidding_refuses_every_way_to_reach_the_helper() -> None:
    """A saved reference, a functools.partial and a call from another helper all run the same
    function, which refuses inside the block and works again after it."""
    import functools

    saved, partial = gh.ga_weights, functools.partial(gh.ga_weights, normalization="cosine")
    updates = np.eye(3)
    with gh.forbidding(gh, "ga_weights"):
        for call in (lambda: saved(updates), lambda: partial(updates),
                     lambda: gh.ga_weights(updates)):
            with pytest.raises(RuntimeError, match="calling gh.ga_weights does not count"):
                call()
    np.testing.assert_allclose(saved(updates), np.full(3, 1 / 3))
    np.testing.assert_allclose(partial(updates), np.full(3, 1 / 3))


def test_forbidding_refuses_a_wrapped_helper_before_it_validates() -> None:
    with gh.forbidding(gh, "inner_update"), pytest.raises(RuntimeError, match="inner_update"):
        gh.inner_update(None, None, None, 1.0, steps=0)  # would be a ValueError otherwise


def test_forbidding_notebook_refuses_the_lesson_s_own_function(monkeypatch) -> None:
    import sys

    def my_ga_weights(updates):
        return np.full(len(updates), 1 / len(updates))

    monkeypatch.setattr(sys.modules["__main__"], "my_ga_weights", my_ga_weights, raising=False)
    saved = my_ga_weights
    with gh.forbidding_notebook("my_ga_weights", "my_undefined_function"):
        with pytest.raises(RuntimeError, match="the notebook's own my_ga_weights"):
            saved(np.eye(2))
    assert saved(np.eye(2)).tolist() == [0.5, 0.5]
    with pytest.raises(ValueError, match="names"):
        with gh.forbidding_notebook("not a name"):
            pass


def test_loop_depth_counts_nested_loops_and_comprehensions() -> None:
    def none(x):
        return x @ x.T

    def one(x):
        return [row.sum() for row in x]

    def two(x):
        out = 0.0
        for i in range(3):
            for j in range(3):
                out += x[i] * x[j]
        return out

    def while_in_comprehension(x):
        def inner(n):
            while n:
                n -= 1
            return n
        return [inner(v) for v in x]

    def nested_comprehension(x):
        return [sum(x[i] * x[j] for j in range(3)) for i in range(3)]

    assert [gh.loop_depth(f) for f in (none, one, two)] == [0, 1, 2]
    assert gh.loop_depth(nested_comprehension) == 2
    assert gh.loop_depth(while_in_comprehension) == 1  # separate loops, not nested
    assert gh.loop_depth(np.add) is None  # no Python source
    with pytest.raises(ValueError, match="fn"):
        gh.loop_depth("for i in x: pass")


def test_references_finds_a_function_under_another_name() -> None:
    from numpy import logaddexp as lae

    def direct(z):
        return -lae(0.0, -z)

    def through_a_helper(z):
        return direct(z)

    def honest(z):
        return np.minimum(z, 0.0) - np.log1p(np.exp(-np.abs(z)))

    banned = {"numpy.logaddexp": np.logaddexp}
    assert gh.references(direct, banned) == "numpy.logaddexp"
    assert gh.references(through_a_helper, banned) == "numpy.logaddexp"
    assert gh.references(honest, banned) is None
    assert gh.references(np.add, banned) is None  # no Python code to read
    with pytest.raises(ValueError, match="fn"):
        gh.references(None, banned)
