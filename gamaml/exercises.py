"""Checking the notebooks' exercises: a verdict and a hint, never a traceback.

Not part of the lesson: the notebooks' exercise cells call these through ``gh``.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import sys
import textwrap
import types
from collections.abc import Callable

import numpy as np

__all__ = ["Verdict", "check_exercise", "check_prediction", "compare_answer", "forbidding",
           "forbidding_notebook", "loop_depth"]


class Verdict:
    """A checker's result: true when the answer is right. It shows nothing when it is the last
    value of a notebook cell (the checker has already printed its line), so a scaffold's call
    prints one clear line and no ``True``/``False``; ``assert`` it in a solution."""

    def __init__(self, ok: bool):
        self.ok = bool(ok)

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return f"Verdict({self.ok})"

    def _ipython_display_(self) -> None:  # IPython calls this instead of showing the repr
        pass


def check_exercise(test: Callable[[], str | None]) -> Verdict:
    """Run one exercise's checks and print the verdict: ``✓ correct`` or ``✗ not yet: <hint>``.

    ``test()`` returns None when the answer is right, or a hint saying what is still wrong.
    An exception raised inside (by the student's code, say) becomes the hint. Returns a
    ``Verdict``, true when correct, so a solution cell can ``assert`` it.
    """
    if not callable(test):
        raise ValueError(f"test must be callable, got {test!r}")
    return check_prediction(lambda: (test(), None))


def check_prediction(test: Callable[[], tuple[str | None, str | None]]) -> Verdict:
    """``check_exercise`` for a predict-then-run exercise, whose one line can quote the values:
    ``✓ correct: <values>`` (``✓ correct`` when there are none) or ``✗ not yet: <hint>``.

    ``test()`` returns ``(hint, values)``: ``hint`` None when the prediction is right, else what
    is off (quoting the prediction and the measurement itself); ``values`` the text shown after
    ``✓ correct``, the prediction beside what was measured. An exception raised inside becomes
    the hint. Returns a ``Verdict``, true when correct.
    """
    if not callable(test):
        raise ValueError(f"test must be callable, got {test!r}")
    try:
        hint, values = test()
    except Exception as exc:  # the student's code may raise anything: report it, do not crash
        hint, values = f"your code raised {type(exc).__name__}: {exc}", None
    print(f"✗ not yet: {hint}" if hint is not None else
          f"✓ correct: {values}" if values else "✓ correct")
    return Verdict(hint is None)


def compare_answer(got, expected, *, name: str = "your function", where: str = "",
                   rtol: float = 1e-7, atol: float = 1e-9,
                   show_expected: bool = True) -> str | None:
    """The usual hint for a numeric answer: None if ``got`` equals ``expected``, else why not.

    ``name`` is what returned ``got`` (for "... returned None"); ``where`` says for which input,
    e.g. ``" for alpha = 0.1"``, and ends the hint. ``show_expected=False`` leaves the expected
    value out, for an answer that does not depend on an input the checker varies (a student
    could otherwise copy it from the hint).
    """
    if got is None:
        return f"{name} returned None"
    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return f"{name} should return numbers, got {type(got).__name__}"
    expected = np.asarray(expected, dtype=float)
    if got.shape != expected.shape:
        return f"expected shape {expected.shape}, got {got.shape}{where}"
    close = np.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    if not close.all():
        first = np.unravel_index(np.argmin(close), close.shape)
        index = tuple(int(i) for i in first)
        at = f" at index {index[0] if len(index) == 1 else index}" if got.ndim else ""
        yours, right = got[first], expected[first]
        digits = 6
        while f"{yours:.{digits}g}" == f"{right:.{digits}g}" and digits < 17:
            digits += 2  # close, but not close enough: show the digits where they differ
        if not show_expected:
            return f"wrong values{where}: yours {yours:.6g}{at} is not right"
        return (f"wrong values{where}: yours {yours:.{digits}g}, expected {right:.{digits}g}"
                f"{at}")
    return None


@contextlib.contextmanager
def forbidding(module, *names: str):
    """Within the block, calling ``module.<name>`` raises for every ``names``: an exercise that
    asks for the student's own code cannot be answered by calling the helper it is checked
    against, however the student reaches it (a saved reference or a ``functools.partial``
    runs the same function, and the function itself refuses)."""
    missing = [name for name in names if not callable(getattr(module, name, None))]
    if not names or missing:
        raise ValueError(f"names must be functions of {getattr(module, '__name__', module)}, "
                         f"got {missing or 'none'}")
    with _refusing([(module, name, f"this exercise asks for your own code: calling gh.{name} "
                                   "does not count") for name in names]):
        yield


@contextlib.contextmanager
def forbidding_notebook(*names: str):
    """``forbidding`` for functions the notebook wrote in the open (in the kernel's
    ``__main__``): an exercise that asks for something new cannot be answered by calling the
    lesson's own version. Names the notebook has not defined (a student who ran only the setup
    cell) are skipped."""
    if not names or not all(isinstance(name, str) and name.isidentifier() for name in names):
        raise ValueError(f"names must be function names, got {names!r}")
    notebook = sys.modules["__main__"]
    present = [name for name in names
               if isinstance(getattr(notebook, name, None), types.FunctionType)]
    with _refusing([(notebook, name, f"this exercise asks for new code: calling the notebook's "
                                     f"own {name} does not count") for name in present]):
        yield


def loop_depth(fn) -> int | None:
    """How deeply Python loops nest in ``fn``'s source (``for``, ``while`` and comprehensions
    count): 0 for none, 2 for a loop inside a loop. None when the source cannot be read."""
    if not callable(fn):
        raise ValueError(f"fn must be a function, got {fn!r}")
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None
    comprehensions = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)

    def depth(node) -> int:
        inner = max((depth(child) for child in ast.iter_child_nodes(node)), default=0)
        if isinstance(node, comprehensions):  # each "for" of it nests what it computes
            return len(node.generators) + inner
        return inner + isinstance(node, ast.For | ast.AsyncFor | ast.While)

    return depth(tree)


def _refusing_code(message: str, n_free: int) -> types.CodeType:
    """The code of a function that raises ``RuntimeError(message)``, whatever its arguments,
    with ``n_free`` free variables (so that it can replace the code of a closure)."""
    free = [f"free_{i}" for i in range(n_free)]
    source = ("def make():\n" + "".join(f"    {v} = None\n" for v in free)
              + "    def refused(*args, **kwargs):\n"
              + "".join(f"        {v}\n" for v in free)
              + f"        raise RuntimeError({message!r})\n    return refused\n")
    namespace: dict = {}
    exec(source, namespace)
    return namespace["make"]().__code__


@contextlib.contextmanager
def _refusing(targets):
    """Within the block, ``owner.<name>`` raises ``RuntimeError(message)`` for every
    ``(owner, name, message)`` of ``targets``, and is restored afterwards: ``forbidding``'s
    machinery, which the checkers also use to refuse a library's function or a class's method.

    A Python function is refused in place (its code is swapped), so every reference to it
    refuses; anything else (a numpy ufunc, say) is replaced on its owner."""
    targets = list(targets)
    swapped, replaced = [], []

    def refuse(message):
        def call(*args, **kwargs):
            raise RuntimeError(message)
        return call

    try:
        for owner, name, message in targets:
            value = getattr(owner, name)
            if isinstance(value, types.FunctionType):
                swapped.append((value, value.__code__))
                value.__code__ = _refusing_code(message, len(value.__code__.co_freevars))
            else:
                replaced.append((owner, name, value))
                setattr(owner, name, refuse(message))
        yield
    finally:
        for function, code in swapped:
            function.__code__ = code
        for owner, name, value in replaced:
            setattr(owner, name, value)
