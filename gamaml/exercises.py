"""Checking the notebooks' exercises: a verdict and a hint, never a traceback.

Not part of the lesson: the notebooks' exercise cells call these through ``gh``.
"""

from __future__ import annotations

import ast
import contextlib
import dis
import functools
import inspect
import sys
import textwrap
import types
from collections.abc import Callable

import numpy as np

__all__ = ["Verdict", "check_exercise", "check_prediction", "compare_answer", "forbidding",
           "forbidding_notebook", "loop_depth", "references"]


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


# Calls that run a Python function once per element: loops without the word "for".
_LOOPING_CALLS = frozenset({"map", "filter", "reduce", "vectorize", "apply_along_axis",
                            "frompyfunc", "starmap"})


def loop_depth(fn) -> int | None:
    """How deeply Python loops nest in ``fn``: 0 for none, 2 for a loop inside a loop.

    ``for``, ``while`` and comprehensions count, and so do ``map``, ``np.vectorize`` and the
    like; the loops of the notebook's own functions that ``fn`` calls count too. Read from the
    source; where there is none (``exec``, a lambda the source cannot isolate), from the
    bytecode, which tells a loop but not its depth (1). None for a callable without Python code
    (a numpy function, say)."""
    if not callable(fn):
        raise ValueError(f"fn must be a function, got {fn!r}")
    return _loop_depth(fn, set())


def _python_function(fn) -> types.FunctionType | None:
    """The Python function a callable runs: through partials, bound methods and instances."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if not isinstance(fn, types.FunctionType | types.MethodType | type):
        fn = vars(type(fn)).get("__call__", fn)  # an instance: its class's __call__
    fn = getattr(fn, "__func__", fn)
    return fn if isinstance(fn, types.FunctionType) else None


def _codes(code: types.CodeType):
    """``code`` and the code of every function, lambda and comprehension defined in it."""
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _loop_depth(fn, seen: set) -> int | None:
    function = _python_function(fn)
    if function is None:
        return None
    if function.__code__ in seen:
        return 0
    seen.add(function.__code__)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
        depth = _source_depth(tree)
    except (OSError, TypeError, SyntaxError):  # no source to read: the bytecode tells a loop
        depth = int(any(i.opname == "FOR_ITER" or i.opname.startswith("JUMP_BACKWARD")
                        or (i.opname == "JUMP_ABSOLUTE" and i.argval < i.offset)
                        for code in _codes(function.__code__)
                        for i in dis.get_instructions(code)))
    names = {name for code in _codes(function.__code__) for name in code.co_names}
    if names & _LOOPING_CALLS:
        depth = max(depth, 1)
    for name in names:  # the student's own helpers, defined beside fn
        helper = function.__globals__.get(name)
        if (isinstance(helper, types.FunctionType) and helper is not function
                and helper.__module__ == function.__module__):
            depth += _loop_depth(helper, seen) or 0
    return depth


def references(fn, objects: dict) -> str | None:
    """The name under which ``fn`` (or a function of the notebook's it calls) refers to one of
    ``objects`` (name -> object: a numpy function, say, whose calls cannot be intercepted), or
    None. Catches ``la = np.logaddexp`` in an earlier cell, and ``from numpy import ...``."""
    if not callable(fn):
        raise ValueError(f"fn must be a function, got {fn!r}")
    wanted = {id(value): name for name, value in objects.items()}
    seen: set = set()

    def find(function) -> str | None:
        function = _python_function(function)
        if function is None or function.__code__ in seen:
            return None
        seen.add(function.__code__)
        cells = [c.cell_contents for c in function.__closure__ or () if _filled(c)]
        names = {n for code in _codes(function.__code__) for n in code.co_names}
        values = cells + [function.__globals__[n] for n in names if n in function.__globals__]
        for value in values:
            if id(value) in wanted:
                return wanted[id(value)]
            if isinstance(value, types.FunctionType) and value.__module__ == function.__module__:
                found = find(value)
                if found:
                    return found
        return None

    return find(fn)


def _filled(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018 (an empty cell raises)
    except ValueError:
        return False
    return True


def _source_depth(node) -> int:
    inner = max((_source_depth(child) for child in ast.iter_child_nodes(node)), default=0)
    if isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
        return len(node.generators) + inner  # each "for" of it nests what it computes
    return inner + isinstance(node, ast.For | ast.AsyncFor | ast.While)


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

    A Python function is refused in place (its code is swapped, and that of the function it
    wraps), so every reference to it refuses, and a profile hook refuses a copy made from its
    code; anything else (a numpy ufunc, say) is replaced on its owner."""
    targets = list(targets)
    swapped, replaced, refused_codes = [], [], {}

    def refuse(message):
        def call(*args, **kwargs):
            raise RuntimeError(message)
        return call

    previous = sys.getprofile()  # an enclosing block's hook, say: keep it working

    def profile(frame, event, arg):  # a copy of a refused function runs its original code
        if event == "call" and frame.f_code in refused_codes:
            raise RuntimeError(refused_codes[frame.f_code])
        if previous is not None:
            previous(frame, event, arg)

    try:
        for owner, name, message in targets:
            value = getattr(owner, name)
            if isinstance(value, types.FunctionType):
                function = value
                while isinstance(function, types.FunctionType):  # and what it wraps
                    if not hasattr(function, "__wrapped__"):  # a wrapper's code is shared
                        refused_codes[function.__code__] = message
                    swapped.append((function, function.__code__))
                    function.__code__ = _refusing_code(message,
                                                       len(function.__code__.co_freevars))
                    function = getattr(function, "__wrapped__", None)
            else:
                replaced.append((owner, name, value))
                setattr(owner, name, refuse(message))
        sys.setprofile(profile)
        yield
    finally:
        sys.setprofile(previous)
        for function, code in reversed(swapped):
            function.__code__ = code
        for owner, name, value in replaced:
            setattr(owner, name, value)
