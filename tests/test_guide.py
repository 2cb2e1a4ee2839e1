"""The instructor's guide against the notebooks it describes: every section it cites exists,
and every demo it places in a section is that section's (an explorer or the playground is a
"Try it" section; a finite-difference check is the section that checks against finite
differences)."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "instructor" / "guide.md").read_text(encoding="utf-8")
NOTEBOOKS = {p.name[:2]: p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
REF = re.compile(r"\bsections? (\d+)(?:\s*(?:-|to|and|,)\s*(\d+))*", re.IGNORECASE)


def practice_sections(number: str) -> dict[int, str]:
    """Section number -> heading of the practice sections ("### N. ...") of notebook NN."""
    cells = json.loads(NOTEBOOKS[number].read_text(encoding="utf-8"))["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return {int(n): title for n, title in re.findall(r"^### (\d+)\. (.*)$", text, re.M)}


def _numbers(text: str) -> list[int]:
    """The section numbers of "section 4", "sections 1-3", "sections 6, 7 and 9"."""
    out = []
    for a, b in re.findall(r"(\d+)(?:\s*-\s*(\d+))?", text):
        out += list(range(int(a), int(b or a) + 1))
    return out


def guide_references() -> list[tuple[str, list[int], str]]:
    """(notebook, sections, the guide's line) for every citation of sections: in a notebook's
    own block ("### NN · ..."), and in the plans' rows ("NN section(s) ...")."""
    refs, current = [], None
    for line in GUIDE.splitlines():
        block = re.match(r"### (\d\d) · ", line)
        if block:
            current = block.group(1)
            continue
        if line.startswith("## "):
            current = None
        if current is None and line.startswith("| "):  # a plan's row: "NN ... section(s) ..."
            owner = None
            for token in re.finditer(r"\b(0\d)\b(?! min)|\bsections? \d+(?:\s*(?:-|,|and)"
                                     r"\s*\d+\b(?!\s*(?:·|sections?\b)))*", line,
                                     re.IGNORECASE):
                if token.group(1):
                    owner = token.group(1)
                elif owner:
                    refs.append((owner, _numbers(token.group(0)), line))
        elif current:
            refs += [(current, _numbers(m.group(0)), line)
                     for m in re.finditer(r"\bsections? \d+(?:\s*(?:-|,|and)\s*\d+)*", line,
                                          re.IGNORECASE)]
    return refs


def test_every_section_the_guide_cites_exists():
    refs = guide_references()
    assert len(refs) > 20
    missing = [(nb, n, line.strip()[:80]) for nb, ns, line in refs for n in ns
               if n not in practice_sections(nb)]
    assert missing == []


def test_demos_sit_in_the_sections_the_guide_names():
    """A line that cites sections of a notebook for one of its widgets cites its "Try it"
    section; a line that cites them for the finite-difference check cites that section."""
    cited: dict[tuple[str, str], set[int]] = {}
    for nb, ns, line in guide_references():
        cited.setdefault((nb, line), set()).update(ns)
    for (nb, line), ns in cited.items():
        titles = [practice_sections(nb)[n] for n in sorted(ns)]
        plan_row = re.match(r"\| \d+-\d+ \|", line) and not re.search(r"explorer of \d\d", line)
        if (re.search(r"explorer \(section", line) or plan_row and "explorer" in line) \
                and nb != "08":
            assert any(t.startswith("Try it") for t in titles), (nb, ns, line)
        if "finite-difference check" in line:
            assert any("finite differences" in t for t in titles), (nb, ns, line)


def in_class_minutes() -> dict[str, int]:
    """Notebook -> its in-class minutes, from the guide's table of the notebooks."""
    return {nb: int(minutes) for nb, minutes in
            re.findall(r"^\| (\d\d) · [^|]+\| (\d+) min \|", GUIDE, re.M)}


def test_the_plans_fit_the_guide_s_own_times():
    times = in_class_minutes()
    assert len(times) == len(NOTEBOOKS)
    plan = GUIDE[GUIDE.index("## A 90-minute session"):GUIDE.index("## Four sessions")]
    for table in re.split(r"\n\*\*", plan)[1:]:
        slots = [(int(a), int(b), rest) for a, b, rest in
                 re.findall(r"^\| (\d+)-(\d+) \| (.*) \|$", table, re.M)]
        assert slots[0][0] == 0 and slots[-1][1] == 90
        assert all(prev[1] == nxt[0] for prev, nxt in zip(slots, slots[1:], strict=False))
        for start, end, what in slots:
            claimed = re.match(r"(\d\d) \((\d+) min\)", what)
            if claimed:  # a whole notebook: its slot is its in-class time
                assert end - start == int(claimed.group(2)) == times[claimed.group(1)], what
        assert any("exercise" in what for *_, what in slots), "no exercise time"
    sessions = GUIDE[GUIDE.index("## Four sessions"):]
    rows = re.findall(r"^\| \d: [^|]+\| ([^|]+)\| ([^|]+)\|", sessions, re.M)
    assert len(rows) == 4
    for notebooks, exercises in rows:
        taught = re.findall(r"(\d\d) \((\d+)\)", notebooks)
        assert all(int(m) == times[nb] for nb, m in taught), notebooks
        total = sum(int(m) for _, m in taught) + int(re.search(r"\((\d+)\)", exercises)[1])
        assert total <= 85, (notebooks, exercises, total)  # five minutes for the questions


def exercise_titles(number: str) -> dict[int, str]:
    """Exercise number -> its title, in notebook NN."""
    cells = json.loads(NOTEBOOKS[number].read_text(encoding="utf-8"))["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return {int(n): title for n, title in re.findall(r"^### Exercise (\d+)\b(.*)$", text, re.M)}


def cited_exercises(text: str) -> list[tuple[str, set[int]]]:
    """(notebook, exercises) for every "03 ex. 1", "01 ex. 2-3", "03 ex. 1-2, 4" in text."""
    found = []
    for nb, numbers in re.findall(r"\b(\d\d) ex\. (\d+(?:-\d+)?(?:, \d+(?:-\d+)?)*)", text):
        found.append((nb, set(_numbers(numbers))))
    return found


def test_every_exercise_the_guide_cites_exists_and_the_plans_cover_them_all():
    """Each cited exercise exists; the four sessions give every exercise of the notebooks they
    teach (in class or as homework), and the ones in class are the predict-then-run ones."""
    for nb, numbers in cited_exercises(GUIDE):
        assert numbers <= set(exercise_titles(nb)), (nb, numbers)
    sessions = GUIDE[GUIDE.index("## Four sessions"):]
    planned: dict[str, set[int]] = {}
    for nb, numbers in cited_exercises(sessions):
        planned.setdefault(nb, set()).update(numbers)
    for nb in re.findall(r"\b(\d\d) \(\d+\)", sessions):
        assert planned.get(nb) == set(exercise_titles(nb)), (nb, planned.get(nb))
    for column in re.findall(r"^\| \d: [^|]+\| [^|]+\| ([^|]+)\|", sessions, re.M):
        assert "predict-then-run" in column, column  # in class: the predict-then-run ones
        for nb, numbers in cited_exercises(column):
            assert all("Predict, then" in exercise_titles(nb)[n] for n in numbers), column
