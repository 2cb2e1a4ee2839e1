"""Both studies on a real local Dask cluster give the same files as on local processes.

A scheduler and two single-threaded workers are started as separate processes on 127.0.0.1
(``dask scheduler`` and ``dask worker``, as the README tells a reader to), both studies run
``--quick --dask-scheduler ADDRESS``, and every file they write is compared byte for byte with
the same run on local processes. Dask is an optional extra (requirements-dask.txt): without it
the test is skipped, except under ``CI=true``, where .ci/run installs it and a skip would hide
an untested path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STUDIES = ("ga_vs_maml.py", "sine_study.py")

try:
    import distributed  # noqa: F401
    HAVE_DASK = True
except ImportError:
    if os.environ.get("CI"):
        raise RuntimeError("CI must test the Dask path: .ci/run installs "
                           "requirements-dask.txt") from None
    HAVE_DASK = False
needs_dask = pytest.mark.skipif(not HAVE_DASK, reason="dask.distributed is not installed "
                                "(optional: pip install -r requirements-dask.txt)")


def _start(args: list[str], log: Path) -> subprocess.Popen:
    """A dask command as its own process; the workers and the scheduler unpickle the study's
    jobs, so they find the course's code as the README says: benchmarks/ on PYTHONPATH."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "benchmarks"), str(ROOT)])}
    with log.open("w") as out:  # the child keeps its own copy of the file descriptor
        return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The scheduler's address; the cluster is shut down after the module's tests."""
    base = tmp_path_factory.mktemp("dask")
    scheduler_file = base / "scheduler.json"
    processes = [_start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                         "--no-dashboard", "--scheduler-file", str(scheduler_file)],
                        base / "scheduler.log")]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            assert time.monotonic() < deadline, (base / "scheduler.log").read_text()
            time.sleep(0.2)
        time.sleep(0.5)  # the file is written before it is complete, on some versions
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        processes.append(_start(["distributed.cli.dask_worker", address, "--nworkers", "2",
                                 "--nthreads", "1", "--no-dashboard"], base / "workers.log"))
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
            assert len(client.scheduler_info()["workers"]) == 2
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _run(script: str, out: Path, *extra: str) -> dict[str, bytes]:
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--out",
                    str(out), *extra], cwd=ROOT, check=True, capture_output=True,
                   env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file()}


@needs_dask
@pytest.mark.parametrize("script", STUDIES)
def test_a_study_on_a_dask_cluster_writes_the_same_files(cluster, script, tmp_path):
    local = _run(script, tmp_path / "local")
    on_dask = _run(script, tmp_path / "dask", "--dask-scheduler", cluster)
    assert local and sorted(on_dask) == sorted(local)
    assert [name for name in local if local[name] != on_dask[name]] == []


def test_without_dask_the_option_says_what_to_install(tmp_path):
    """The option's error where Dask is missing (simulated by hiding the package where it is
    installed): runs with or without Dask."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "distributed.py").write_text("raise ImportError('hidden for the test')\n")
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "ga_vs_maml.py"), "--quick", "--out",
         str(tmp_path / "out"), "--dask-scheduler", "tcp://127.0.0.1:1"], cwd=ROOT,
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(hide)})
    assert result.returncode != 0
    assert "requirements-dask.txt" in result.stderr
