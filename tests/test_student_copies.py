"""The student-copy command (instructor/make_student_copies.py): copies without the reference
solutions, which still run top to bottom, every checker answering "not yet"."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "instructor" / "make_student_copies.py"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHECKER_CALL = re.compile(r"^check_exercise_\w*\(", re.MULTILINE)


@pytest.fixture(scope="module")
def copies(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("student")
    result = subprocess.run([sys.executable, str(SCRIPT), str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return out


def test_every_notebook_gets_a_copy(copies: Path) -> None:
    assert NOTEBOOKS
    assert sorted(p.name for p in copies.glob("*.ipynb")) == [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_copy_has_no_solutions(copies: Path, source: Path) -> None:
    original = nbformat.read(source, as_version=4)
    copy = nbformat.read(copies / source.name, as_version=4)
    solutions = [c for c in original.cells if "solution" in c.metadata.get("tags", [])]
    assert solutions, f"{source.name} has no cells tagged 'solution'"
    text = "\n".join(c.source for c in copy.cells)
    assert "reference_" not in text  # every reference solution is gone
    assert "solution" not in str([c.metadata.get("tags", []) for c in copy.cells])
    assert len(copy.cells) == len(original.cells) - len(solutions)
    assert any(c.source.startswith("## Solutions") and "student copy" in c.source
               for c in copy.cells)
    assert all(not c.get("outputs") for c in copy.cells if c.cell_type == "code")
    # The lesson itself is untouched: every other cell is there, in order, same source (links
    # to the results point beside the copies, where the kit puts them).
    kept = [c.source.replace("](../benchmarks/", "](benchmarks/") for c in original.cells
            if "solution" not in c.metadata.get("tags", [])
            and not c.source.startswith("## Solutions")]
    assert [c.source for c in copy.cells if not c.source.startswith("## Solutions")] == kept


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_copy_runs_and_every_checker_says_not_yet(copies: Path, source: Path) -> None:
    copy = nbformat.read(copies / source.name, as_version=4)
    NotebookClient(copy, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(copies)}}).execute()
    checkers, verdicts = 0, []
    for cell in copy.cells:
        if cell.cell_type != "code":
            continue
        assert not any(o.output_type == "error" for o in cell.outputs), cell.source[:200]
        if CHECKER_CALL.search(cell.source):
            checkers += 1
            verdicts.append("".join(o.get("text", "") for o in cell.outputs
                                    if o.output_type == "stream"))
    assert checkers >= 1, f"{source.name}: no exercise checker is called"
    assert all("✗ not yet" in v and "✓ correct" not in v for v in verdicts), verdicts


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_checker_has_a_reference_solution_that_passes_it(source: Path) -> None:
    """Every checker the lesson calls is asserted on a reference solution in the Solutions
    section (nbval executes those cells, so a solution that fails its checker fails the
    suite); no checker is left without one."""
    cells = nbformat.read(source, as_version=4).cells
    called = {m.group(1) for c in cells if "solution" not in c.metadata.get("tags", [])
              for m in re.finditer(r"^(check_exercise_\w*)\(", c.source, re.MULTILINE)}
    asserted = {m.group(1) for c in cells if "solution" in c.metadata.get("tags", [])
                for m in re.finditer(r"^assert (check_exercise_\w*)\(", c.source, re.MULTILINE)}
    assert called, f"{source.name}: no exercise checker is called"
    assert called == asserted, f"checkers {sorted(called)}, on solutions {sorted(asserted)}"


def test_refuses_to_overwrite_the_course(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), str(ROOT / "notebooks")], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "must not be" in result.stderr


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_model_answers_ship_beside_the_copies_not_in_them(copies: Path,
                                                              source: Path) -> None:
    """The written parts' model answers (cells tagged 'answers') go to answers/<notebook>.md,
    one Markdown file a student opens after trying; the copy itself has none of them."""
    original = nbformat.read(source, as_version=4)
    answers = [c.source.strip() for c in original.cells if "answers" in c.metadata.get("tags", [])]
    assert answers, f"{source.name}: no model answers (a Solutions cell tagged 'answers')"
    text = (copies / "answers" / f"{source.stem}.md").read_text(encoding="utf-8")
    assert text.startswith("# ") and "model answers" in text.split("\n")[0]
    copy = "\n".join(c.source for c in nbformat.read(copies / source.name, as_version=4).cells)
    for answer in answers:
        assert answer.replace("](0", "](../0") in text
        assert answer not in copy
