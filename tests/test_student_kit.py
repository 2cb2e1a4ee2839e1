"""The student kit (instructor/make_student_copies.py) on its own: built in a temporary folder,
installed in a fresh virtual environment from its own requirements.txt (no test tools, no
repository on the path), and every copy executed there from top to bottom."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "instructor" / "make_student_copies.py"


def test_the_kit_installs_and_runs_in_a_fresh_venv(tmp_path: Path) -> None:
    kit, venv = tmp_path / "kit", tmp_path / "venv"
    subprocess.run([sys.executable, str(SCRIPT), str(kit)], check=True, capture_output=True,
                   timeout=120)
    lines = [line.split("#")[0].strip() for line in (kit / "requirements.txt").read_text()
             .splitlines()]
    for tool in ("pytest", "nbval", "ruff", "playwright", "hypothesis", "-e ."):
        assert not any(line.startswith(tool) for line in lines), f"{tool} is not for students"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-r",
                              "requirements.txt"], cwd=kit, env=env, capture_output=True,
                             text=True, timeout=900)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import gamaml_helpers; print(gamaml_helpers.__file__)"],
                           cwd=kit, env=env, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).resolve().parent == kit.resolve()  # not the repository
    ready = subprocess.run([str(venv / "bin" / "python"), "preclass_check.py"], cwd=kit,
                           env=env, capture_output=True, text=True, timeout=120)
    assert ready.returncode == 0 and ready.stdout.strip().endswith(
        "start with 01_sampling_tasks.ipynb"), ready.stdout + ready.stderr
    copies = sorted(p.name for p in kit.glob("[0-9][0-9]_*.ipynb"))
    assert len(copies) == len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
    run = subprocess.run([str(venv / "bin" / "jupyter"), "nbconvert", "--to", "notebook",
                          "--execute", "--output-dir", str(tmp_path / "executed"), *copies],
                         cwd=kit, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(list((tmp_path / "executed").glob("*.ipynb"))) == len(copies)
