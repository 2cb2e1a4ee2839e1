"""The shape issue 19 asks of every notebook's exercises and questions, checked on the sources.

- No checker on screen: the exercises' code cells a student sees define no checker and hold no
  expected value; the checkers live in ``gamaml/exercise_checks/nbNN.py``.
- Each notebook has a "Predict, then run" (or "then read") exercise, and at most one warm-up.
- Every written part (predict, explain, say why) has a model answer, in a Solutions cell tagged
  ``answers`` that the student kit ships as ``answers/<notebook>.md``.
- "Check your understanding": every question is labelled Predict, Explain, Apply or Recall,
  and at least half are not Recall.
The per-notebook shortcut tests (the one-line answers of issue 19 get "not yet") are in
``tests/test_exercises_nbNN.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LABEL = re.compile(r"^\d+\. \*\*(Predict|Explain|Apply|Recall)\.\*\*", re.MULTILINE)
QUESTION = re.compile(r"^\d+\. ", re.MULTILINE)
EXERCISE = re.compile(r"^### Exercise (\d+)\b(.*)$", re.MULTILINE)
WRITTEN = re.compile(r"\b(explain|predict|say (in|why|what|which)|why|interpret|(written))\b",
                     re.IGNORECASE)


def tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def sections(path: Path) -> dict[str, list]:
    """The notebook's cells, grouped by their level-2 heading."""
    out: dict[str, list] = {}
    heading = ""
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown" and cell.source.startswith("## "):
            heading = cell.source.split("\n")[0][3:].strip()
        out.setdefault(heading, []).append(cell)
    return out


def exercises(path: Path) -> dict[int, str]:
    """Exercise number -> its prompt (the markdown of its heading's cell)."""
    found = {}
    for cell in sections(path)["Exercises"]:
        if cell.cell_type == "markdown":
            for match in EXERCISE.finditer(cell.source):
                found[int(match.group(1))] = cell.source[match.start():]
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_checker_or_expected_value_on_screen(path: Path) -> None:
    for cell in sections(path)["Exercises"]:
        if cell.cell_type != "code" or "solution" in tags(cell):
            continue
        for forbidden in ("def check_", "compare_answer", "gh.check_exercise", "expected"):
            assert forbidden not in cell.source, (
                f"{path.name}: an exercise cell a student sees contains {forbidden!r}; move the "
                f"checker to gamaml/exercise_checks/:\n{cell.source[:300]}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_predict_then_run_exercise_and_at_most_one_warm_up(path: Path) -> None:
    found = exercises(path)
    assert found, f"{path.name} has no exercises"
    titles = [prompt.split("\n")[0] for prompt in found.values()]
    assert any(re.search(r"Predict, then (run|read)", t) for t in titles), titles
    assert sum("warm-up" in t.lower() for t in titles) <= 1, titles


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_written_part_has_a_model_answer(path: Path) -> None:
    answers = "\n".join(c.source for c in sections(path).get("Solutions", [])
                        if "answers" in tags(c))
    for number, prompt in exercises(path).items():
        if WRITTEN.search(prompt):
            assert f"*Exercise {number}.*" in answers, (
                f"{path.name}: exercise {number} has a written part but no model answer "
                "('*Exercise N.*' in a Solutions cell tagged 'answers')")
    for cell in nbformat.read(path, as_version=4).cells:
        if "answers" in tags(cell):
            assert "solution" in tags(cell) and cell.cell_type == "markdown"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_questions_mostly_ask_to_predict_explain_or_apply(path: Path) -> None:
    quiz = "\n".join(c.source for c in sections(path)["Check your understanding"]
                     if c.cell_type == "markdown")
    questions = QUESTION.findall(quiz)
    labels = LABEL.findall(quiz)
    assert questions and len(labels) == len(questions), (
        f"{path.name}: label every question **Predict.**, **Explain.**, **Apply.** or "
        f"**Recall.** ({len(labels)} of {len(questions)} labelled)")
    assert 2 * sum(label != "Recall" for label in labels) >= len(labels), labels
