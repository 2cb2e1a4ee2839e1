"""The lesson/machinery refactor (issue 16) changed no result: both studies' ``--quick`` outputs
are byte-identical to those of the code before it.

The test takes ``gamaml_helpers.py`` and ``benchmarks/`` as they were at ``BASELINE`` (the last
commit before the refactor) out of git history, runs both studies' ``--quick`` with them and
with the working tree, on this machine and in this environment, and compares every file they
write, byte for byte (CSV, Markdown, JSON, the figures and the saved parameters). Comparing on
the same machine keeps the test valid on any CPU: it asserts that the code computes the same
thing, not that this machine rounds like the one that committed the results.

When a later issue changes what a study computes on purpose, its ``--quick`` outputs change and
this test fails: move ``BASELINE`` to the commit before that change only after checking that the
difference is the intended one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The refactor itself (commits a572b27 to 524d3f1) was checked against 2436494, the code before
# it. Then the baseline moved to c419a606 (the roundoff-safe correlation of ga_vs_maml changed
# its outputs on purpose, in a commit of its own), and to f6fbd7f (issue 17: the sine study's
# new experiments; its --quick files changed on purpose, ga_vs_maml's did not: checked by
# running this test against c419a606 with only the ga_vs_maml comparison passing), then to
# ec80c09 (summary.md says where the time taken is recorded: one paragraph added, checked).
BASELINE = "ec80c09f2bf0"
STUDIES = ("ga_vs_maml.py", "sine_study.py")


def baseline_tree(dest: Path) -> Path:
    """gamaml_helpers.py and benchmarks/ at BASELINE, extracted into ``dest``."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", BASELINE,
             "gamaml_helpers.py", "gamaml", "benchmarks"],
            capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        message = f"git history with commit {BASELINE} is needed to rebuild the baseline: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.12, and 3.10.12 / 3.11.4 on
            tar.extractall(dest, filter="data")
        else:
            tar.extractall(dest)  # noqa: S202 -- our own repository's archive
    return dest


def run_quick(tree: Path, script: str, out: Path) -> None:
    """Run one study's --quick with the code of ``tree`` (its gamaml_helpers comes first)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run([sys.executable, str(tree / "benchmarks" / script), "--quick",
                    "--out", str(out)], cwd=tree, env=env, check=True, capture_output=True)


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("script", STUDIES)
def test_quick_outputs_are_byte_identical_to_the_baseline(script: str, tmp_path: Path) -> None:
    old = baseline_tree(tmp_path / "baseline")
    run_quick(old, script, tmp_path / "before")
    run_quick(ROOT, script, tmp_path / "after")
    before, after = files(tmp_path / "before"), files(tmp_path / "after")
    assert before, f"the baseline {script} --quick wrote no file"
    assert sorted(after) == sorted(before), "the refactor changed which files are written"
    changed = [name for name in before if before[name] != after[name]]
    assert not changed, f"{script} --quick wrote different bytes in {changed}"
