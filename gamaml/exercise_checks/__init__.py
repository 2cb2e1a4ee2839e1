"""Checkers of the notebooks' exercises, one module per notebook (``nb01`` ... ``nb09``), kept
outside the notebooks so that no expected value or reference expression is on a student's
screen. Not part of the lesson: a notebook imports its checkers in its exercises' first cell,
``from gamaml.exercise_checks.nb04 import check_exercise_ga_weights_loops``.

Each checker prints one line, ``✓ correct`` or ``✗ not yet: <what is wrong>``, and returns a
``Verdict`` that shows nothing in the notebook (``assert`` it in a solution); a
predict-then-run checker (``check_prediction``) quotes the prediction beside the measurement on
that line. Where the exercise has a well-known wrong answer, the hint names it (``named``);
where one helper call would answer the exercise, the checker refuses it (``forbidding``).
"""
