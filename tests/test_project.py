"""Project-level checks: dependency lists agree, CI runs the README's command, notebooks are
clean, and ruff is happy. Each test reads files of the repository; none needs the network."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
MAX_NOTEBOOK_BYTES = 1_500_000
TEMPLATE_SECTIONS = ("Aims", "Theory", "Practice", "Discussion", "Exercises",
                     "Check your understanding", "References", "Solutions")

# conda-forge name -> PyPI name, where the two differ.
CONDA_TO_PIP = {"playwright-python": "playwright"}
# Entries that are not packages of the course: the interpreter, the installer, the repo.
NOT_PACKAGES = {"python", "pip"}


# ---------------------------------------------------------------------------
# requirements.txt and environment.yml
# ---------------------------------------------------------------------------


def normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def split_requirement(spec: str) -> tuple[str, str]:
    """'numpy>=2.0' -> ('numpy', '>=2.0'); 'pip' -> ('pip', '')."""
    match = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*?)\s*", spec)
    assert match, f"cannot parse requirement {spec!r}"
    return normalise(match.group(1)), match.group(2).replace(" ", "")


def parse_requirements(text: str) -> dict[str, str]:
    """Package -> version bound, from requirements.txt (comments, blanks and -e lines skipped)."""
    packages = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        name, bound = split_requirement(line)
        packages[name] = bound
    return packages


def parse_environment(text: str) -> tuple[dict[str, str], list[str]]:
    """(conda package -> bound, pip-section lines) from this repo's simple environment.yml.

    Only the shape used here is understood: a top-level `dependencies:` list of `- spec`
    items, one of which is `- pip:` followed by a more indented list.
    """
    conda: dict[str, str] = {}
    pip: list[str] = []
    section = None  # None, "deps" or "pip"
    deps_indent = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            section = "deps" if line == "dependencies:" else None
            continue
        if section is None:
            continue
        item = line.strip()
        assert item.startswith("- "), f"unexpected line in dependencies: {raw!r}"
        value = item[2:].strip()
        if deps_indent is None:
            deps_indent = indent
        if indent == deps_indent:
            if value == "pip:":
                section = "pip"
                continue
            section = "deps"
            name, bound = split_requirement(value)
            conda[CONDA_TO_PIP.get(name, name)] = bound
        elif section == "pip":
            pip.append(value)
        else:
            raise AssertionError(f"unexpected indentation in dependencies: {raw!r}")
    return conda, pip


def test_requirements_and_environment_agree() -> None:
    requirements_text = (ROOT / "requirements.txt").read_text()
    pip_packages = parse_requirements(requirements_text)
    conda_all, pip_section = parse_environment((ROOT / "environment.yml").read_text())
    conda_packages = {k: v for k, v in conda_all.items() if k not in NOT_PACKAGES}

    assert pip_packages, "requirements.txt lists no packages"
    assert conda_packages == pip_packages, (
        "requirements.txt and environment.yml differ:\n"
        f"  only in requirements.txt: {sorted(pip_packages.items() - conda_packages.items())}\n"
        f"  only in environment.yml:  {sorted(conda_packages.items() - pip_packages.items())}"
    )
    assert "-e ." in [line.strip() for line in requirements_text.splitlines()]
    assert pip_section == ["-e ."], f"environment.yml pip section should be ['-e .']: {pip_section}"
    assert conda_all.get("python") == "=3.11", "environment.yml should pin python=3.11"
    assert "pip" in conda_all, "environment.yml should list pip (for its pip: section)"


def test_the_student_requirements_are_the_course_s_without_the_tools() -> None:
    """requirements-student.txt (the student kit's install) lists course packages only, each
    with the same bound as requirements.txt."""
    course = parse_requirements((ROOT / "requirements.txt").read_text())
    student = parse_requirements((ROOT / "requirements-student.txt").read_text())
    assert student and all(course.get(name) == bound for name, bound in student.items()), (
        f"requirements-student.txt {student} should repeat requirements.txt's bounds")
    assert not {"pytest", "nbval", "ruff", "playwright", "hypothesis"} & set(student)


def test_numpy_2_is_required() -> None:
    bound = parse_requirements((ROOT / "requirements.txt").read_text()).get("numpy", "")
    match = re.fullmatch(r">=(\d+)(\.\d+)*", bound)
    assert match and int(match.group(1)) >= 2, f"requirements.txt should say numpy>=2: {bound!r}"


def test_every_bound_is_a_tested_minimum_or_an_exact_pin() -> None:
    """`>=X` bounds are what .ci/min-versions tests at X; anything else would go untested."""
    packages = {**parse_requirements((ROOT / "requirements.txt").read_text()),
                **parse_requirements((ROOT / "requirements-dask.txt").read_text())}
    for name, bound in packages.items():
        assert re.fullmatch(r"(>=|==)\d+(\.\d+)*", bound), (
            f"requirements.txt: {name}{bound!r} should be a plain '>=X' or '==X'"
        )


def test_ruff_is_pinned_exactly() -> None:
    """New ruff releases add and change rules; an unpinned ruff could fail CI on its own."""
    bound = parse_requirements((ROOT / "requirements.txt").read_text()).get("ruff", "")
    assert bound.startswith("=="), f"requirements.txt should pin ruff exactly: {bound!r}"
    installed = importlib.metadata.version("ruff")
    assert installed == bound[2:], (
        f"ruff {installed} is installed but requirements.txt pins {bound[2:]}: "
        "reinstall with `.venv/bin/pip install -r requirements.txt`"
    )


def test_min_versions_pins_every_lower_bound() -> None:
    declared = {**parse_requirements((ROOT / "requirements.txt").read_text()),
                **parse_requirements((ROOT / "requirements-dask.txt").read_text())}
    lower_bounds = {name: bound[2:] for name, bound in declared.items() if bound.startswith(">=")}
    assert lower_bounds, "requirements.txt has no '>=' lower bounds"
    printed = subprocess.run(
        ["bash", str(ROOT / ".ci" / "min-versions"), "--print-constraints"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pins = {}
    for line in printed.splitlines():
        name, separator, version = line.partition("==")
        assert separator and version, f"not a 'name==X' constraint: {line!r}"
        pins[normalise(name)] = version
    assert pins == lower_bounds, (
        ".ci/min-versions --print-constraints does not pin exactly the '>=' bounds:\n"
        f"  printed: {pins}\n  bounds:  {lower_bounds}"
    )


def test_pyproject_does_not_duplicate_dependencies() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r"^dependencies\s*=\s*\[(.*?)\]", text, re.MULTILINE | re.DOTALL)
    listed = match.group(1).split("#", 1)[0].strip() if match else ""
    assert listed == "", "runtime dependencies belong in requirements.txt only"


# ---------------------------------------------------------------------------
# README test command == what .ci/run runs
# ---------------------------------------------------------------------------


def extract_readme_command(marker: str) -> str:
    """The single line between <!-- marker --> and <!-- /marker --> in README.md, unfenced.

    The same rule as extract_test_command in .ci/run (awk there, Python here).
    """
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- {marker} -->\n(.*?)<!-- /{marker} -->", text, re.DOTALL)
    assert match, f"README.md has no <!-- {marker} --> ... <!-- /{marker} --> block"
    lines = [
        line
        for line in match.group(1).splitlines()
        if line.strip() and not line.lstrip().startswith("```")
    ]
    assert len(lines) == 1, f"expected one command line between the {marker} markers: {lines}"
    return lines[0]


def test_readme_commands_are_complete() -> None:
    test_command = extract_readme_command("test-command")
    setup_command = extract_readme_command("setup-command")
    for command in (test_command, setup_command):
        assert command.startswith("python3 -m venv .venv && "), command
        assert ".venv/bin/pip install -r requirements.txt" in command, command
        assert "source " not in command, command
    assert "pytest" in test_command
    assert "jupyter lab notebooks/" in setup_command


def test_ci_runs_the_readme_test_command() -> None:
    command = extract_readme_command("test-command")
    assert command and "pytest" in command

    ci_script = ROOT / ".ci" / "run"
    ci_text = ci_script.read_text()
    assert ci_text.startswith("#!/usr/bin/env bash") or ci_text.startswith("#!/bin/bash")
    assert "set -euo pipefail" in ci_text
    assert ci_script.stat().st_mode & 0o111, ".ci/run must be executable"
    # It reads the command from the README instead of keeping its own copy ...
    assert "README.md" in ci_text and "test-command" in ci_text
    assert command not in ci_text, ".ci/run hard-codes the README test command"
    code_lines = [
        line.strip()
        for line in ci_text.splitlines()
        if line.strip() and not line.strip().startswith(("#", "echo "))
    ]
    for line in code_lines:
        assert "pytest" not in line and "requirements.txt" not in line, (
            f".ci/run should run the README's command, not its own: {line!r}"
        )
    # ... runs it verbatim ...
    assert 'bash -c "$test_command"' in ci_text
    # ... and its extraction gives exactly what the README says.
    printed = subprocess.run(
        ["bash", str(ci_script), "--print-test-command"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert printed == command + "\n"


def test_ci_runs_the_min_versions_check_first() -> None:
    script = ROOT / ".ci" / "min-versions"
    script_text = script.read_text()
    assert script_text.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in script_text
    assert script.stat().st_mode & 0o111, ".ci/min-versions must be executable"
    assert '-m "not browser"' in script_text

    ci_text = (ROOT / ".ci" / "run").read_text()
    code = [
        line.strip()
        for line in ci_text.splitlines()
        if line.strip() and not line.strip().startswith(("#", "echo "))
    ]
    calls = [i for i, line in enumerate(code) if line.startswith("bash .ci/min-versions")]
    readme_run = [i for i, line in enumerate(code) if 'bash -c "$test_command"' in line]
    assert len(calls) == 1, f".ci/run should call .ci/min-versions once: {code}"
    assert readme_run and calls[0] < readme_run[0], (
        ".ci/run should run .ci/min-versions before the README test command, so the last "
        "pytest summary in the log is the main suite's"
    )
    # Its exit status is kept and turns CI red.
    assert "|| min_versions_status=$?" in code[calls[0]]
    after = code[readme_run[0] :]
    assert 'if [[ "$min_versions_status" -ne 0 ]]; then' in after, (
        ".ci/run should fail when .ci/min-versions fails"
    )


# ---------------------------------------------------------------------------
# Notebook hygiene
# ---------------------------------------------------------------------------


def test_course_has_notebooks() -> None:
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}: the course must have them"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_lesson_reads_in_at_most_3000_words(path: Path) -> None:
    """All markdown before the Solutions (theory, discussion, exercises, questions, appendix)."""
    words = 0
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            if cell.source.startswith("## Solutions"):
                break
            words += len(cell.source.split())
    assert words <= 3000, f"{path.name}: {words} words before the Solutions"


def headings(notebook: nbformat.NotebookNode) -> list[str]:
    found = []
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            match = re.match(r"\s{0,3}#{1,6}\s+(.*)", line)
            if match:
                found.append(match.group(1).strip())
    return found


@pytest.mark.parametrize(
    "path",
    NOTEBOOKS or [pytest.param(None, id="no-notebooks")],
    ids=lambda p: p.name if isinstance(p, Path) else str(p),
)
def test_notebook_hygiene(path: Path | None) -> None:
    assert path is not None, f"no notebooks in {NOTEBOOK_DIR}: the course must have them"

    size = path.stat().st_size
    assert size < MAX_NOTEBOOK_BYTES, f"{path.name} is {size} bytes (limit {MAX_NOTEBOOK_BYTES})"

    json.loads(path.read_text(encoding="utf-8"))  # plain JSON first: clearer error if broken
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)

    kernel = notebook.metadata.get("kernelspec", {}).get("name")
    assert kernel == "python3", f"kernelspec name is {kernel!r}, expected 'python3'"

    assert notebook.cells, "notebook has no cells"
    first = notebook.cells[0]
    first_line = first.source.lstrip().splitlines()[0] if first.source.strip() else ""
    assert first.cell_type == "markdown" and first_line.startswith("# "), (
        f"first cell should be a markdown '# Title', got {first.cell_type}: {first_line!r}"
    )

    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    counts = [cell.execution_count for cell in code_cells]
    assert counts == list(range(1, len(code_cells) + 1)), (
        f"code cells not executed once, in order, from a fresh kernel: {counts}"
    )
    for number, cell in enumerate(code_cells, start=1):
        for output in cell.outputs:
            assert output.output_type != "error", (
                f"code cell {number} has an error output: {output.get('ename')}"
            )
            assert not (output.output_type == "stream" and output.name == "stderr"), (
                f"code cell {number} wrote to stderr: {''.join(output.text)[:200]!r}"
            )

    # The reference solutions sit in a final "Solutions" section, every cell of it tagged
    # "solution" (instructor/make_student_copies.py removes exactly those), the closing
    # navigation line excepted; no solution cell anywhere else.
    starts = [i for i, cell in enumerate(notebook.cells)
              if cell.cell_type == "markdown" and cell.source.startswith("## Solutions")]
    assert len(starts) == 1, "one '## Solutions' section expected"
    tagged = [i for i, cell in enumerate(notebook.cells)
              if "solution" in cell.metadata.get("tags", [])]
    section = [i for i in range(starts[0] + 1, len(notebook.cells))
               if not notebook.cells[i].source.startswith("← ")]
    assert tagged == section, (
        f"cells tagged 'solution' {tagged} should be exactly the Solutions section {section}")

    found = headings(notebook)
    for section in TEMPLATE_SECTIONS:
        assert any(re.search(rf"\b{section}\b", h, re.IGNORECASE) for h in found), (
            f"no '{section}' heading; headings are {found}"
        )


# ---------------------------------------------------------------------------
# Lint
# ---------------------------------------------------------------------------


def test_ruff_check_passes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
