"""Write the student kit: the course notebooks without reference solutions, and what they need.

    .venv/bin/python instructor/make_student_copies.py student/            # the kit
    .venv/bin/python instructor/make_student_copies.py student/ --keep-outputs

The kit is a folder a student can use on a fresh laptop without the repository: the copies,
the modules they import (``gamaml_helpers.py``, ``gamaml/``, ``gamaml_widgets.py``), the
committed results they read (``benchmarks/results/``), a ``requirements.txt`` without the
test tools (the course's ``requirements-student.txt``), ``preclass_check.py`` and a
``README.md`` with the one install command, and ``answers/``: for every notebook, the model
answers to its exercises' written parts (predictions, explanations), one Markdown file a
student opens after trying. The notebooks sit beside the modules, so the
kernel imports them from its working folder; links to the results are rewritten to match.

Every cell of a notebook's "Solutions" section carries the tag ``solution`` (the reference
solutions, the cells that check them and the notes on them; ``tests/test_project.py`` enforces
it). The notes on the written parts also carry the tag ``answers``: they go to the kit's
``answers/<notebook>.md`` instead of the copy. A student copy drops those cells and says
where the solutions went; everything else (the lesson, the exercises' scaffolds and the calls
to their checkers, which live in ``gamaml/exercise_checks/``) stays, so the copies run top to
bottom and each checker answers "not yet" until the student has written the code. Outputs
are cleared unless ``--keep-outputs``: students execute the notebooks themselves. The
course's own files are never changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOLUTION_TAG = "solution"
ANSWERS_TAG = "answers"  # model answers to written parts, shipped as answers/<notebook>.md
# What the copies import and read, copied into the kit beside them (paths from ROOT).
KIT_FILES = ("gamaml_helpers.py", "gamaml_widgets.py")
KIT_FOLDERS = ("gamaml", "benchmarks/results")
KIT_README = """# Gradient-Agreement MAML: the student kit

The course's notebooks, 01 to 09, without the reference solutions, and what they need to run.
You need Python 3.10 or newer. In this folder, one command installs everything and opens the
course:

    python3 -m venv .venv && .venv/bin/pip install -r requirements.txt && .venv/bin/jupyter lab

(On Windows: `.venv\\Scripts\\pip` and `.venv\\Scripts\\jupyter`.) Start with
`01_sampling_tasks.ipynb`. To check the install first: `.venv/bin/python preclass_check.py`
(it ends with "ready"). Each exercise ends with a checker that answers "not yet" until your
code is right. The model answers to the written parts (your predictions and explanations) are
in `answers/`, one file per notebook: open it after you have tried. Your instructor has the
reference solutions to the code.
"""
NOTE = (
    "## Solutions\n\n"
    "This is the student copy of the notebook: the reference solutions are not in it. Your "
    "instructor has them (they are in the course's own copy of this notebook, in "
    "`notebooks/`).")


def load_nbformat():
    """nbformat, imported only when a notebook is read, so that --help works without it."""
    try:
        import nbformat
    except ModuleNotFoundError:
        sys.exit("make_student_copies.py needs nbformat, which the course's environment has: run "
                 "it as .venv/bin/python instructor/make_student_copies.py (README, Quick start).")
    return nbformat


def is_solution(cell) -> bool:
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def model_answers(notebook: nbformat.NotebookNode, title: str) -> str | None:
    """The notebook's model answers to written parts (cells tagged ``answers``), as Markdown."""
    cells = [c.source.strip() for c in notebook.cells
             if ANSWERS_TAG in c.get("metadata", {}).get("tags", [])]
    if not cells:
        return None
    return (f"# {title}: model answers to the written parts\n\n"
            "Open this after you have written your own answer.\n\n" + "\n\n".join(cells) + "\n")


def student_copy(notebook: nbformat.NotebookNode, *,
                 keep_outputs: bool = False) -> nbformat.NotebookNode:
    """The notebook without its solution cells; the Solutions heading becomes a short note."""
    copy = load_nbformat().from_dict(notebook)  # a deep copy
    cells = []
    for cell in copy.cells:
        if is_solution(cell):
            continue
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("## Solutions"):
            cell.source = NOTE
        if cell.cell_type == "code" and not keep_outputs:
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    copy.cells = cells
    if not keep_outputs:
        copy.metadata.pop("widgets", None)  # saved widget state belongs to the outputs
    return copy


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the kit (created if needed)")
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks",
                        help="folder of the course's notebooks (default: notebooks/)")
    parser.add_argument("--keep-outputs", action="store_true",
                        help="keep the committed outputs (figures) instead of clearing them")
    args = parser.parse_args(argv)
    sources = sorted(args.notebooks.glob("[0-9][0-9]_*.ipynb"))
    if not sources:
        parser.error(f"no notebooks in {args.notebooks}")
    if args.out.resolve() in (args.notebooks.resolve(), ROOT.resolve()):
        parser.error("the output folder must not be the course's notebooks folder or its root")
    nbformat = load_nbformat()
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sources:
        notebook = nbformat.read(source, as_version=4)
        target = args.out / source.name
        copy = student_copy(notebook, keep_outputs=args.keep_outputs)
        for cell in copy.cells:  # the results sit beside the copies, not one folder up
            if cell.cell_type == "markdown":
                cell.source = cell.source.replace("](../benchmarks/", "](benchmarks/")
        nbformat.write(copy, target)
        answers = model_answers(notebook, notebook.cells[0].source.split("\n")[0].lstrip("# "))
        if answers is not None:
            (args.out / "answers").mkdir(exist_ok=True)
            text = answers.replace("](0", "](../0")  # links to notebooks: answers/ is one down
            (args.out / "answers" / f"{source.stem}.md").write_text(text, encoding="utf-8")
        removed = sum(map(is_solution, notebook.cells))
        print(f"{target}: {removed} solution cells removed", file=sys.stderr)
        written.append(target)
    write_kit_files(args.out)
    return written


def write_kit_files(out: Path) -> None:
    """Copy what the notebooks import and read into the kit, with its requirements and README."""
    import shutil

    for name in KIT_FILES:
        shutil.copy2(ROOT / name, out / name)
    for folder in KIT_FOLDERS:
        shutil.copytree(ROOT / folder, out / folder, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(ROOT / "requirements-student.txt", out / "requirements.txt")
    shutil.copy2(ROOT / "instructor" / "preclass_check.py", out / "preclass_check.py")
    (out / "README.md").write_text(KIT_README, encoding="utf-8")
    print(f"{out}: the kit (modules, results, requirements.txt, README.md)", file=sys.stderr)


if __name__ == "__main__":
    main()
