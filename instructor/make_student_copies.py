"""Write student copies of the course notebooks: the same lessons without reference solutions.

    .venv/bin/python instructor/make_student_copies.py student/            # every notebook
    .venv/bin/python instructor/make_student_copies.py student/ --keep-outputs

Every cell of a notebook's "Solutions" section carries the tag ``solution`` (the reference
solutions, the cells that check them and the notes on them; ``tests/test_project.py`` enforces
it). A student copy drops those cells and says where the solutions went; everything else (the
lesson, the exercises' scaffolds and their checkers) stays, so the copies run top to bottom
and each checker answers "not yet" until the student has written the code. Outputs are cleared
unless ``--keep-outputs``: students execute the notebooks themselves. The course's own files
are never changed.
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
    parser.add_argument("out", type=Path, help="folder for the copies (created if needed)")
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks",
                        help="folder of the course's notebooks (default: notebooks/)")
    parser.add_argument("--keep-outputs", action="store_true",
                        help="keep the committed outputs (figures) instead of clearing them")
    args = parser.parse_args(argv)
    sources = sorted(args.notebooks.glob("[0-9][0-9]_*.ipynb"))
    if not sources:
        parser.error(f"no notebooks in {args.notebooks}")
    if args.out.resolve() == args.notebooks.resolve():
        parser.error("the output folder must not be the course's notebooks folder")
    nbformat = load_nbformat()
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sources:
        notebook = nbformat.read(source, as_version=4)
        target = args.out / source.name
        nbformat.write(student_copy(notebook, keep_outputs=args.keep_outputs), target)
        removed = sum(map(is_solution, notebook.cells))
        print(f"{target}: {removed} solution cells removed", file=sys.stderr)
        written.append(target)
    return written


if __name__ == "__main__":
    main()
