"""Every number the instructor's guide quotes, checked against what the class will see.

The guide's demos are scripts (instructor/guide.md, "Show live" of each notebook):
- a widget script is a table ``| step | set | status line | say |``: from the stated start,
  each row sets the controls it names in backticks (`alpha = 3`; the playground also trains),
  and every number of its "status line" column must be in the widget's status line then;
- a notebook script is a table ``| step | run | prints | say |``: every number of its "prints"
  column must be printed by that notebook's committed outputs;
- a code block (```python, then ```text) is run and must print exactly the text below it.
Every other decimal number in a notebook's part of the guide must be printed by that notebook
or shown by one of its demos. The same scripts are the code-only fallback for rooms without
widgets (the status line prints with ``print(explorer.message)``).
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

import gamaml_helpers as gh

ROOT = Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "instructor" / "guide.md").read_text(encoding="utf-8")
NOTEBOOKS = {p.name[:2]: p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
NUMBER = re.compile(r"(?<![\w.])\d+\.\d+")
SETTING = re.compile(r"`(\w+) = ([^`]+)`")
CODE = re.compile(r"```python\n(.*?)```\n+```text\n(.*?)```", re.S)


def parts() -> dict[str, str]:
    """Notebook number -> its part of the guide ("### NN · ..." up to the next heading)."""
    found = {}
    for match in re.finditer(r"^### (\d\d) · .*?(?=^##)", GUIDE + "\n##", re.M | re.S):
        found[match.group(1)] = match.group(0)
    return found


PARTS = parts()


def tables(text: str, kind: str) -> list[list[list[str]]]:
    """The rows (lists of cells) of every table whose header's second column is ``kind``."""
    found = []
    for block in re.findall(r"(?:^\|.*\n?)+", text, re.M):
        lines = block.strip().split("\n")
        header = [c.strip() for c in lines[0].strip("|").split("|")]
        if header[:2] == ["step", kind]:
            found.append([[c.strip() for c in line.strip().strip("|").split("|")]
                          for line in lines[2:]])
    return found


def numbers(text: str) -> list[str]:
    return NUMBER.findall(text.replace("−", "-"))


def printed(number: str) -> str:
    """Everything notebook NN prints (streams and results), minus signs as '-'."""
    cells = json.loads(NOTEBOOKS[number].read_text(encoding="utf-8"))["cells"]
    out = []
    for cell in cells:
        for o in cell.get("outputs", []):
            text = o.get("text") or o.get("data", {}).get("text/plain", "")
            out.append("".join(text) if isinstance(text, list) else text)
    return "\n".join(out).replace("−", "-")


def value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text.strip()


def make_widget(number: str):
    """The widget of notebook NN's demo, built as the notebook builds it."""
    import gamaml_widgets as gw

    if number == "06":
        results = ROOT / "benchmarks" / "results" / "sine"
        finn = json.loads((results / "protocol.json").read_text())["experiments"]["finn"]
        net = gh.MLP(tuple(finn["sizes"]), finn["activation"])
        names = [f"{kind}{layer}" for layer in range(1, len(net.sizes)) for kind in "Wb"]
        thetas = {}
        for method in finn["methods"]:
            with np.load(results / "params" / "finn" / f"{method}_seed0.npz") as arrays:
                thetas[method] = net.flatten([arrays[name] for name in names])
        return gw.make_sine_explorer(thetas, net, alpha=finn["methods"]["maml"]["inner_lr"])
    return {"02": gw.make_gd_explorer, "03": gw.make_maml_explorer,
            "05": gw.make_ga_explorer, "08": gw.make_playground}[number]()


def run_widget_script(number: str, rows: list[list[str]]) -> list[tuple[str, str, str]]:
    """(settings, expected column, status line) for every row, applied in order."""
    widget = make_widget(number)
    seen = []
    for row in rows:
        settings = SETTING.findall(row[1])
        for name, text in settings:
            if name == "preset":
                widget.apply_preset(value(text))
            else:
                widget.controls[name].value = value(text)
        if hasattr(widget, "train") and settings:
            widget.train()
        seen.append((row[1], row[2], widget.message.replace("−", "-")))
    return seen


SCRIPTS = [(n, i) for n, text in sorted(PARTS.items())
           for i in range(len(tables(text, "set")))]


def test_the_guide_has_a_demo_script_for_every_widget():
    assert {n for n, _ in SCRIPTS} == {"02", "03", "05", "06", "08"}
    assert all(tables(text, "set") or tables(text, "run") or CODE.search(text)
               for text in PARTS.values()), "every notebook's demo is a script"


@pytest.fixture(scope="module")
def demo_messages() -> dict[str, list[str]]:
    return {}


@pytest.mark.parametrize("number, index", SCRIPTS, ids=[f"{n}-{i}" for n, i in SCRIPTS])
def test_every_widget_step_shows_the_numbers_the_guide_quotes(number, index, demo_messages):
    rows = tables(PARTS[number], "set")[index]
    for settings, expected, message in run_widget_script(number, rows):
        demo_messages.setdefault(number, []).append(message)
        quoted = numbers(expected)
        assert quoted, f"{number}: the step '{settings}' quotes no number"
        missing = [q for q in quoted if q not in message]
        assert not missing, f"{number}, after {settings}: {missing} not in '{message}'"


def run_code(code: str) -> str:
    import gamaml_widgets as gw

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<guide>", "exec"), {"np": np, "gh": gh, "gw": gw})
    return out.getvalue()


CODE_BLOCKS = [(n, i) for n, text in sorted(PARTS.items())
               for i in range(len(CODE.findall(text)))]
CODE_BLOCKS += [("guide", i) for i, (code, _) in enumerate(CODE.findall(GUIDE))  # the rest
                if not any(code in text for text in PARTS.values())]


@pytest.mark.parametrize("number, index", CODE_BLOCKS,
                         ids=[f"{n}-{i}" for n, i in CODE_BLOCKS])
def test_every_code_block_prints_what_the_guide_shows(number, index, demo_messages):
    code, expected = CODE.findall(PARTS.get(number, GUIDE))[index]
    got = run_code(code)
    demo_messages.setdefault(number, []).append(got)
    assert got.strip() == expected.strip()


@pytest.mark.parametrize("number", sorted(PARTS), ids=sorted(PARTS))
def test_every_number_is_printed_by_the_notebook_or_shown_by_its_demo(number, demo_messages):
    """Run after the demo tests (file order): their status lines count as shown."""
    text = PARTS[number]
    for rows in tables(text, "run"):
        for row in rows:
            missing = [q for q in numbers(row[2]) if q not in printed(number)]
            assert not missing, f"{number}: step '{row[1]}' quotes {missing}, not printed"
    prose = SETTING.sub("", CODE.sub("", text))  # the settings are inputs, not results
    shown = printed(number) + "\n".join(demo_messages.get(number, []))
    if number in {n for n, _ in SCRIPTS + CODE_BLOCKS}:
        assert demo_messages.get(number), "run the whole file: the demos come first"
    missing = sorted({q for q in numbers(prose) if q not in shown})
    assert not missing, f"the guide's part on {number} quotes {missing}: not printed there"
