"""The pre-class check (instructor/preclass_check.py): "ready" on this install, and a clear
"not ready" naming what is missing when the committed results are gone."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "instructor" / "preclass_check.py"


def test_ready_on_this_install():
    run = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.strip().splitlines()
    assert lines[-1].startswith("ready") and not any(line.startswith("✗") for line in lines)
    assert sum(line.startswith("✓") for line in lines) >= 10


def test_not_ready_names_what_is_missing(tmp_path):
    for name in ("gamaml_helpers.py", "gamaml_widgets.py", "requirements-student.txt"):
        shutil.copy2(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "gamaml", tmp_path / "gamaml")
    shutil.copy2(SCRIPT, tmp_path / "preclass_check.py")  # as in the kit; no results folder
    run = subprocess.run([sys.executable, "preclass_check.py"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "✗ the committed results are there" in run.stdout
    assert "not ready" in run.stdout and "summary.csv" in run.stdout
