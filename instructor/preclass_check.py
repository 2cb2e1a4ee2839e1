"""Before class: check that this machine can run the course, in about five seconds.

    .venv/bin/python instructor/preclass_check.py      # in the repository
    .venv/bin/python preclass_check.py                 # in the student kit

It checks the Python version, that every package of the student install is there at its
declared minimum, that the course's modules import, that one short meta-training run of each
task family gives finite numbers, that the committed results the notebooks read are present,
and that a widget can be built. Each check prints one line; the last line says "ready" or
what to fix. Exit status 0 when everything passed, 1 otherwise.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import math
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE if (HERE / "gamaml_helpers.py").exists() else HERE.parent  # the kit, or the repo
PACKAGES = {"numpy": "numpy", "matplotlib": "matplotlib", "ipywidgets": "ipywidgets",
            "jupyterlab": "jupyterlab", "ipykernel": "ipykernel"}


def minimums() -> dict[str, str]:
    """Package -> declared minimum, from the student requirements (the repository's
    requirements-student.txt, or the kit's requirements.txt, which is a copy of it)."""
    path = ROOT / "requirements-student.txt"
    path = path if path.exists() else ROOT / "requirements.txt"
    text = path.read_text() if path.exists() else ""
    return dict(re.findall(r"^([A-Za-z0-9_-]+)>=([\d.]+)", text, re.M))


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def check() -> list[str]:
    """Run every check, printing one line each; return the problems."""
    problems = []

    def report(ok: bool, what: str, fix: str = "") -> None:
        print(f"{'✓' if ok else '✗'} {what}")
        if not ok:
            problems.append(f"{what}: {fix}")

    report(sys.version_info >= (3, 10), f"Python {sys.version.split()[0]} (3.10 or newer)",
           "install Python 3.10 or newer")
    wanted = minimums()
    for module, dist in PACKAGES.items():
        try:
            importlib.import_module(module)
            have = importlib.metadata.version(dist)
        except Exception as exc:  # missing, or broken on import
            report(False, f"{dist} importable", f"pip install -r the requirements ({exc})")
            continue
        need = wanted.get(dist, "0")
        report(version_tuple(have) >= version_tuple(need), f"{dist} {have} (at least {need})",
               f"pip install --upgrade '{dist}>={need}'")
    sys.path.insert(0, str(ROOT))
    try:
        import gamaml_helpers as gh
        import gamaml_widgets as gw
    except Exception as exc:
        report(False, "the course's modules import", f"run from the course's folder ({exc})")
        return problems
    home = Path(inspect.getfile(gh)).resolve().parent
    report(True, f"the course's modules import (from {home})")
    start = time.perf_counter()
    for config in (gh.LinearConfig(meta_iterations=20, eval_every=20, eval_tasks=20, seed=0),
                   gh.SineConfig(meta_iterations=10, eval_every=10, eval_tasks=5, n_tasks=5,
                                 seed=0)):
        history = gh.meta_train(config)
        finite = math.isfinite(history.eval_score[-1]) and all(map(math.isfinite,
                                                                    history.theta))
        report(finite, f"a short {type(config).__name__} run gives finite numbers",
               "reinstall numpy")
    print(f"  (both runs took {time.perf_counter() - start:.1f} s)")
    results = home / "benchmarks" / "results"
    needed = ["summary.csv", "tuning.csv", "ga_vs_maml.png", "sine/summary.csv",
              "sine/protocol.json", "sine/params/finn/maml_seed0.npz"]
    absent = [name for name in needed if not (results / name).exists()]
    report(not absent, "the committed results are there", f"missing {absent} in {results}")
    try:
        gw.make_playground(train=False)
        report(True, "a widget can be built (ipywidgets)")
    except Exception as exc:
        report(False, "a widget can be built", f"check ipywidgets ({exc})")
    return problems


def main() -> int:
    problems = check()
    if problems:
        print("not ready:\n  " + "\n  ".join(problems))
        return 1
    print("ready: open JupyterLab and start with 01_sampling_tasks.ipynb")
    return 0


if __name__ == "__main__":
    sys.exit(main())
