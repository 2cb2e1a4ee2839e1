"""What the two studies share (``ga_vs_maml.py``, ``sine_study.py``), imported as ``studylib``.

* Statistics: Student's t quantiles, the mean with its 95 % t-interval, paired differences,
  and both over the finite values only (diverged runs are NaN).
* Seeds and task streams: validation runs train with seeds ``VAL_SEED_OFFSET + v``; the tasks
  of a role and seed come from ``task_rng(role, seed)``.
* Methods: ``methods`` builds a study's method table from the course's ``gh.VARIANTS``.
* The tuning rule: log grids of the inner and outer learning rates, scored on validation runs
  (``score``), the best stable point chosen (``choose``) and where it sits on each axis
  (``position``), grids widened past an edge (``extend``) round after round (``tune_grid``).
* The job runner: a local process pool or in-process (``worker_pool``, ``run_jobs``), and the
  options both command lines end with (``--out``, ``--workers``).
* Reports: cells ``mean ± half``, Markdown tables and CSV files.

The scripts import it as ``import studylib`` (their own folder is on ``sys.path`` when they run
as ``python benchmarks/<study>.py``); the tests put ``benchmarks/`` on ``sys.path`` first.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import math
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import gamaml_helpers as gh

# ---------------------------------------------------------------------------------------------
# Statistics: small pure functions (unit-tested in tests/test_studylib.py)
# ---------------------------------------------------------------------------------------------

_SERIES_MAX_DF = 10_000  # above this, a Cornish-Fisher expansion replaces the exact series


def _check_level(level: float) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float, np.integer, np.floating)) \
            or not 0.0 < level < 1.0:
        raise ValueError(f"level must be a number in (0, 1), got {level!r}")
    return float(level)


def t_cdf(t: float, df: int) -> float:
    """Student-t cumulative distribution ``P(T <= t)`` for an integer ``df >= 1``.

    Uses the exact finite series for integer degrees of freedom, in ``theta = atan(t/sqrt(df))``
    (Abramowitz & Stegun 26.7.3-4): odd df sum odd powers of cos(theta), even df even powers.
    The loop has about df/2 terms.
    """
    if isinstance(df, bool) or not isinstance(df, (int, np.integer)) or df < 1:
        raise ValueError(f"df must be an integer >= 1, got {df!r}")
    if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)) \
            or math.isnan(t):
        raise ValueError(f"t must be a number, got {t!r}")
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    theta = math.atan(t / math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    if df % 2 == 1:
        term = total = math.cos(theta)
        for k in range(1, (df - 3) // 2 + 1):
            term *= cos2 * (2 * k) / (2 * k + 1)
            total += term
        a = 2.0 / math.pi * (theta + (math.sin(theta) * total if df > 1 else 0.0))
    else:
        term = total = 1.0
        for k in range(1, (df - 2) // 2 + 1):
            term *= cos2 * (2 * k - 1) / (2 * k)
            total += term
        a = math.sin(theta) * total
    return 0.5 + 0.5 * a


def _normal_quantile(p: float) -> float:
    """Standard normal quantile by bisection on ``0.5 erfc(-z / sqrt 2)``."""
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if 0.5 * math.erfc(-mid / math.sqrt(2.0)) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t with integer ``df`` (e.g. 2.093 for 0.975 and 19).

    Bisection on ``t_cdf`` (exact series) up to df = 10 000; beyond, the Cornish-Fisher
    expansion around the normal quantile (error far below 1e-6 there).
    """
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) \
            or not 0.0 < p < 1.0:
        raise ValueError(f"p must be a number in (0, 1), got {p!r}")
    if isinstance(df, bool) or not isinstance(df, (int, np.integer)) or df < 1:
        raise ValueError(f"df must be an integer >= 1, got {df!r}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    if p == 0.5:
        return 0.0
    if df > _SERIES_MAX_DF:
        z = _normal_quantile(p)
        g1 = (z**3 + z) / 4
        g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
        g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
        return z + g1 / df + g2 / df**2 + g3 / df**3
    hi = 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    lo = 0.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return 0.5 * (lo + hi)


def _check_sample(name: str, values) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a 1-D array of numbers: {exc}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size < 2:
        raise ValueError(f"{name} needs at least 2 values for an interval, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def mean_ci(values, level: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of its two-sided t confidence interval.

    ``half = t_{(1+level)/2, n-1} * s / sqrt(n)``, with ``s`` the sample standard deviation.
    values (n,), n >= 2, finite -> (mean, half_width); the interval is mean +- half_width.
    """
    arr = _check_sample("values", values)
    level = _check_level(level)
    n = arr.size
    mean = float(arr.mean())
    if np.all(arr == arr[0]):  # exactly zero width (rounding in the mean would leave ~1e-17)
        return float(arr[0]), 0.0
    sd = float(np.sqrt(np.sum((arr - mean) ** 2) / (n - 1)))
    return mean, t_quantile(0.5 + level / 2, n - 1) * sd / math.sqrt(n)


def paired_difference(a, b, level: float = 0.95) -> tuple[float, float]:
    """Mean of ``a - b`` over pairs and the half-width of its t interval.

    a (n,), b (n,): the same units (here: seeds) in the same order -> (mean, half_width).
    """
    a = _check_sample("a", a)
    b = _check_sample("b", b)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same length, got {a.size} and {b.size}")
    return mean_ci(a - b, level)


def _interval_fields(n: int, mean: float, half: float) -> dict:
    return {"n": n, "mean": mean, "half_width": half, "ci_low": mean - half,
            "ci_high": mean + half}


def interval(values) -> dict:
    """``n, mean, half_width, ci_low, ci_high`` (95 %) of the finite ``values`` (diverged
    runs: NaN); with one value the half-width is NaN, with none the mean too."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = int(v.size)
    mean, half = mean_ci(v) if n >= 2 else (float(v[0]) if n else math.nan, math.nan)
    return _interval_fields(n, mean, half)


def paired_interval(a, b) -> dict:
    """``interval`` of the differences ``a - b`` over the pairs where both are finite."""
    a, b = (np.asarray(p, dtype=float) for p in (a, b))
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    n = int(a.size)
    mean, half = (paired_difference(a, b) if n >= 2
                  else (float(a[0] - b[0]) if n else math.nan, math.nan))
    return _interval_fields(n, mean, half)


def seed_pairs(a: dict[int, dict], b: dict[int, dict], metric: str) -> tuple[list, list]:
    """``a[seed][metric]`` and ``b[seed][metric]`` for every seed in both (rows keyed by seed),
    in the order of the seeds: the pairs of a paired difference."""
    seeds = sorted(set(a) & set(b))
    return [a[s][metric] for s in seeds], [b[s][metric] for s in seeds]


def index(summary_rows: list[dict], key: tuple[str, ...]) -> dict[tuple, dict]:
    """Summary rows keyed by the values of their ``key`` columns."""
    return {tuple(r[k] for k in key): r for r in summary_rows}


# ---------------------------------------------------------------------------------------------
# Seeds, task streams, methods, one training run
# ---------------------------------------------------------------------------------------------

VAL_SEED_OFFSET = 1_000_000  # validation runs train with seeds 1e6, 1e6+1, ...
STREAM = {"val": 1, "test": 2, "diag": 3}  # task streams default_rng([STREAM, seed])


def task_rng(role: str, seed: int) -> np.random.Generator:
    """The random stream of the ``role``'s tasks ("val", "test", "diag") for a seed."""
    return np.random.default_rng([STREAM[role], seed])


@dataclass(frozen=True)
class Method:
    """A method as a config (``gh.LinearConfig``, ``gh.SineConfig``) runs it, and how a study's
    figure draws it."""

    label: str
    base: str  # the outer rule, config.method
    colour: str  # Okabe-Ito, from gh.VARIANTS
    style: str  # the figure's marker (ga_vs_maml.py) or line style (sine_study.py)
    first_order: bool = False
    normalization: str = "paper"  # GA weights; used by "ga" and "ga-reptile" only

    @property
    def weighted(self) -> bool:
        """True for the gradient-agreement methods, whose task weights are reported."""
        return self.base in gh.GA_METHODS

    @property
    def second_order(self) -> bool:
        """True for MAML and GA-MAML with their second-order terms (the costliest updates)."""
        return self.base in ("maml", "ga") and not self.first_order


def methods(styles: dict[str, str]) -> dict[str, Method]:
    """The study's methods, in the order of ``styles`` (method name -> the figure's style):
    label, update rule and colour from the course's one table, ``gh.VARIANTS``."""
    return {name: Method(v.label, v.rule, v.color, style, v.first_order, v.normalization)
            for name, style in styles.items() for v in [gh.VARIANTS[name]]}


COSINE_NOTE = ("* cosine: the paper's weights computed on unit-length updates, an extension "
               "of this course, not in the paper.")


def train(config: gh.MetaConfig, callback=None) -> gh.History | None:
    """``gh.meta_train(config, callback)``; None if it diverged."""
    try:
        return gh.meta_train(config, callback)
    except gh.Diverged:
        return None


# ---------------------------------------------------------------------------------------------
# The job runner: a local process pool, or in-process; its command-line options
# ---------------------------------------------------------------------------------------------

Runner = Callable[[list], list]  # runs a list of jobs; results in job order


@contextlib.contextmanager
def worker_pool(workers: int, mp_context=None,
                dask_scheduler: str | None = None) -> Iterator[Executor | None]:
    """Where the jobs run: on the Dask cluster whose scheduler is at ``dask_scheduler``, if
    given; else a pool of ``workers`` local processes, shut down on exit; or, for one worker,
    this process (None). The jobs and their seeds are the same everywhere, and ``run_jobs``
    returns the results in job order, so every output file is the same whichever runs them."""
    if dask_scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise SystemExit("--dask-scheduler needs dask.distributed, an optional extra: "
                             ".venv/bin/pip install -r requirements-dask.txt") from None
        with Client(dask_scheduler) as client:
            yield client.get_executor(pure=False)  # a concurrent.futures.Executor
        return
    if workers <= 1:
        yield None
        return
    with ProcessPoolExecutor(workers, mp_context=mp_context) as pool:
        yield pool


class JobCache:
    """Finished runs on disk, one pickle per job, so that an interrupted study loses at most the
    runs in progress. A run's key hashes the job (its ``repr``: every setting, seed and budget)
    and the source of the code that computes it (``sources``): change either and the run is
    done again. Files are written whole (a temporary file, then a rename)."""

    def __init__(self, folder: Path, sources: list[Path]):
        missing = [str(p) for p in sources if not Path(p).is_file()]
        if not sources or missing:
            raise ValueError(f"sources must be existing files (the code the runs depend on), "
                             f"missing: {missing or 'all'}")
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise ValueError(f"folder must be a directory, got the file {self.folder}")
        self.folder.mkdir(parents=True, exist_ok=True)
        code = hashlib.sha256()
        for path in sorted(sources):
            code.update(path.name.encode() + b"\0" + path.read_bytes())
        self.code = code.hexdigest()

    def path(self, job) -> Path:
        key = hashlib.sha256(f"{self.code}\n{job!r}".encode()).hexdigest()[:32]
        return self.folder / f"{key}.pkl"

    def get(self, job):
        """The cached result of ``job``, or None."""
        path = self.path(job)
        if not path.exists():
            return None
        with path.open("rb") as f:
            return pickle.load(f)

    def put(self, job, result) -> None:
        path = self.path(job)
        partial = path.with_suffix(".tmp")
        with partial.open("wb") as f:
            pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, path)


def job_cache(folder: Path | None, *study_files: str) -> JobCache | None:
    """The cache of ``--cache DIR`` (None without it), keyed by the course's code (the lesson
    and ``gamaml/``), this library and the study's own files."""
    if folder is None:
        return None
    root = Path(__file__).resolve().parent.parent
    sources = [root / "gamaml_helpers.py", *sorted((root / "gamaml").glob("*.py")),
               Path(__file__).resolve(), *(root / "benchmarks" / f for f in study_files)]
    return JobCache(folder, sources)


def run_jobs(jobs: list, pool: Executor | None, phase: str, run: Callable,
             cost: Callable | None = None, cache: JobCache | None = None) -> list:
    """Run ``run(job)`` for every job (in the pool, if any), results in job order. With
    ``cost(job)`` the most costly jobs start first; with a ``cache``, finished runs are read
    from it and new ones stored as they finish. Progress on stderr: runs done of all, elapsed
    time, and an estimate of the time left from the runs computed so far."""
    results: list = [None] * len(jobs)
    start = time.perf_counter()
    step = max(1, len(jobs) // 10)
    todo = list(range(len(jobs)))
    if cache is not None:
        for i in range(len(jobs)):
            results[i] = cache.get(jobs[i])
        todo = [i for i in todo if results[i] is None]
    cached = len(jobs) - len(todo)

    def report(computed: int) -> None:
        done = cached + computed
        if computed % step == 0 or done == len(jobs):
            elapsed = time.perf_counter() - start
            left = elapsed / computed * (len(todo) - computed) if computed else 0.0
            print(f"  {phase}: {done}/{len(jobs)} runs ({cached} from the cache), "
                  f"{elapsed:.0f} s, about {left:.0f} s left", file=sys.stderr, flush=True)

    def finish(i: int, result, computed: int) -> None:
        results[i] = result
        if cache is not None:
            cache.put(jobs[i], result)
        report(computed)

    order = todo if cost is None else sorted(todo, key=lambda i: -cost(jobs[i]))
    if pool is None:
        for computed, i in enumerate(order, start=1):
            finish(i, run(jobs[i]), computed)
    else:
        futures = {pool.submit(run, jobs[i]): i for i in order}
        for computed, future in enumerate(as_completed(futures), start=1):
            finish(futures[future], future.result(), computed)
    if not todo:
        report(0)
    return results


def where(workers: int, dask_scheduler: str | None) -> str:
    """Where the jobs run, for the progress line."""
    return f"the Dask cluster at {dask_scheduler}" if dask_scheduler else f"{workers} worker(s)"


def add_run_options(parser: argparse.ArgumentParser, default_out: Path) -> None:
    """The last options of both studies: ``--out`` (folder) and ``--workers`` (processes)."""
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output folder (default {default_out})")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--cache", type=Path, default=None, metavar="DIR",
                        help="keep finished runs in DIR and reuse them: an interrupted run "
                             "loses only the runs in progress (default: no cache)")
    parser.add_argument("--dask-scheduler", metavar="ADDRESS", default=None,
                        help="run the jobs on this Dask cluster (e.g. tcp://127.0.0.1:8786) "
                             "instead of local processes; the outputs are the same")


def check_run_options(parser: argparse.ArgumentParser, args: argparse.Namespace,
                      default_out: Path, prefix: str) -> None:
    """Reject ``--workers`` below 1; without ``--out``, a ``--quick`` run writes to a new
    temporary folder named ``prefix...``, a full run to ``default_out``."""
    if args.workers < 1:
        parser.error("--workers must be >= 1")
    if args.out is None:
        args.out = Path(tempfile.mkdtemp(prefix=prefix)) if args.quick else default_out


# ---------------------------------------------------------------------------------------------
# The tuning rule: log grids of alpha and beta, extended past an edge until the choice is inside
# ---------------------------------------------------------------------------------------------

Point = tuple[str, str, int, int]  # (regime or experiment, method, alpha exponent, beta exponent)


def log_grid(j: int) -> float:
    """Point j of the log grid ..., 0.1, 0.3, 1, 3, 10, 30, ... (j = 0 is 1; ratios 3 and 10/3
    alternate, about sqrt(10) per step)."""
    mantissa, decade = (1.0, 3.0)[j % 2], j // 2
    return mantissa * 10.0**decade if decade >= 0 else mantissa / 10.0**-decade


def _diverged(row: dict) -> bool:
    return bool(row["diverged"])


def score(rows: list[dict], group: str, added_in: dict[tuple, int], columns: dict[str, str],
          order: list[tuple] | None = None, failed: Callable[[dict], bool] = _diverged,
          ) -> list[dict]:
    """One row per grid point ``(row[group], method, alpha, beta)``: the mean over the
    validation seeds of every ``columns[name]`` as ``name``, NaN (never chosen) if any seed
    ``failed`` (default: diverged). ``added_in[point]`` is the round that added the point.
    Sorted by ``order`` of ``(row[group], method)`` (default: by name), then alpha, then beta.
    """
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row[group], row["method"], row["alpha"], row["beta"]), []).append(row)
    scored = []
    for key, runs in groups.items():
        bad = sum(1 for r in runs if failed(r))
        scored.append({
            **dict(zip((group, "method", "alpha", "beta"), key, strict=True)),
            "round": added_in[key],
            **{name: math.nan if bad else float(np.mean([r[column] for r in runs]))
               for name, column in columns.items()},
            "runs": len(runs), "diverged_runs": bad, "chosen": 0, "alpha_status": "",
            "beta_status": ""})
    rank = {key: i for i, key in enumerate(order or sorted(
        {(r[group], r["method"]) for r in scored}))}
    scored.sort(key=lambda r: (rank[r[group], r["method"]], r["alpha"], r["beta"]))
    return scored


def position(line: list[dict], best: dict) -> str:
    """Where the chosen point sits on one axis (``line``: the points along it, in order).

    "lower edge" / "upper edge": nothing was tried beyond it; "largest stable": the next
    larger value diverged; "interior": stable, scored neighbours on both sides.
    """
    i = line.index(best)
    if i == 0:
        return "lower edge"
    if i == len(line) - 1:
        return "upper edge"
    return "largest stable" if line[i + 1]["diverged_runs"] else "interior"


def choose(scored: list[dict], group: str, rank,
           fixed: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """The tuning choice of both studies: per ``(row[group], row["method"])`` the stable grid
    point with the smallest ``rank(row)`` (a tuple; diverged points never). Returns
    ``{key: (alpha, beta)}`` and ``{key: {"alpha": where, "beta": where}}`` with ``where`` from
    ``position``, "fixed" for the axes in ``fixed`` (one-value grids) or "all diverged" where no
    point is stable. Marks the chosen rows of ``scored`` (``chosen``, ``*_status``).
    """
    keys = list(dict.fromkeys((row[group], row["method"]) for row in scored))
    best: dict[tuple, tuple] = {}
    for row in scored:
        row["chosen"], row["alpha_status"], row["beta_status"] = 0, "", ""
        if row["diverged_runs"]:
            continue
        key = (row[group], row["method"])
        if key not in best or rank(row) < best[key][0]:
            best[key] = (rank(row), row)
    chosen, status = {}, {}
    for key in keys:
        if key not in best:
            status[key] = {"alpha": "all diverged", "beta": "all diverged"}
            continue
        row = best[key][1]
        mine = [r for r in scored if (r[group], r["method"]) == key]
        lines = {"alpha": sorted((r for r in mine if r["beta"] == row["beta"]),
                                 key=lambda r: r["alpha"]),
                 "beta": sorted((r for r in mine if r["alpha"] == row["alpha"]),
                                key=lambda r: r["beta"])}
        status[key] = {axis: "fixed" if axis in fixed else position(lines[axis], row)
                       for axis in ("alpha", "beta")}
        chosen[key] = (row["alpha"], row["beta"])
        row["chosen"] = 1
        row["alpha_status"], row["beta_status"] = status[key]["alpha"], status[key]["beta"]
    return chosen, status


def _beyond(exponents: set[int], where: str) -> set[int]:
    """The grid exponent one step beyond the edge the choice sits at (none if inside)."""
    if where in ("lower edge", "all diverged"):
        return {min(exponents) - 1}
    return {max(exponents) + 1} if where == "upper edge" else set()


def extend(grid: dict[tuple, tuple[set[int], set[int]]], status: dict) -> list[Point]:
    """Widen the grid of every key whose choice sits at an edge; returns the new points.

    ``grid[key] = (alpha exponents, beta exponents)``, always run as a full product: a new
    beta is run at every alpha, a new alpha at every beta. Where every point diverged, the
    grid grows towards smaller beta.
    """
    points: list[Point] = []
    for key, where in status.items():
        js, ks = grid[key]
        new_j = set() if where["alpha"] == "all diverged" else _beyond(js, where["alpha"])
        new_k = _beyond(ks, where["beta"])
        grid[key] = (js | new_j, ks | new_k)
        points += [(*key, j, k) for j in sorted(js | new_j) for k in sorted(ks | new_k)
                   if j in new_j or k in new_k]
    return points


def tune_grid(keys: list[tuple[str, str]], start: tuple[set[int], set[int]],
              max_extensions: int, values: Callable[[int, int], tuple[float, float]],
              run: Callable[[list[Point]], list[dict]],
              score_rows: Callable[[list[dict], dict], list[dict]],
              select: Callable[[list[dict]], tuple[dict, dict]]) -> tuple[dict, dict, list[dict]]:
    """The tuning rule of both studies, for every ``key = (regime or experiment, method)``.

    Round 0 runs the product of the starting grids ``start = (alpha exponents, beta
    exponents)``; each later round adds, for every key whose choice sits at an edge of an axis,
    the next value beyond it (``extend``; an axis the choice marks "fixed" never moves), and
    chooses again, up to ``max_extensions`` rounds. ``values(j, k)`` is the point's (alpha,
    beta), ``run(points)`` the validation rows of new points, ``score_rows(rows, added_in)``
    one scored row per point and ``select(scored)`` the choice (``choose``). Returns (chosen,
    status, scored) of the last round.
    """
    grid = dict.fromkeys(keys, start)
    points = [(*key, j, k) for key in keys for j in sorted(start[0]) for k in sorted(start[1])]
    rows: list[dict] = []
    added_in: dict[tuple, int] = {}
    for round_ in range(max_extensions + 1):
        added_in.update({(g, m, *values(j, k)): round_ for g, m, j, k in points})
        rows += run(points)
        scored = score_rows(rows, added_in)
        chosen, status = select(scored)
        if round_ == max_extensions:
            break
        # A fixed axis is never extended: to ``extend`` it is "interior" (unless every point
        # diverged, where the beta grid grows towards smaller values).
        moves = {key: {axis: "interior" if where == "fixed" else where
                       for axis, where in s.items()} for key, s in status.items()}
        points = extend(grid, moves)
        if not points:
            break
    return chosen, status, scored


# ---------------------------------------------------------------------------------------------
# Reports: cells, Markdown tables, CSV files
# ---------------------------------------------------------------------------------------------

# How a choice sits on its grid, as a mark in the tables ("" where there is nothing to flag).
STATUS_MARK = {"interior": "", "largest stable": "S", "upper edge": "E↑", "lower edge": "E↓",
               "fixed": "", "all diverged": "D"}


def format_interval(row: dict | None, signed: bool = False, digits: int = 3) -> str:
    """A summary row as ``mean ± half`` (signed: with sign, bold when the interval excludes
    0); "n/a" if there is no row or no finite mean."""
    if row is None or not math.isfinite(row["mean"]):
        return "n/a"
    text = f"{row['mean']:+.{digits}f}" if signed else f"{row['mean']:.{digits}f}"
    if math.isfinite(row["half_width"]):
        text += f" ± {row['half_width']:.{digits}f}"
        if signed and (row["ci_low"] > 0 or row["ci_high"] < 0):
            text = f"**{text}**"
    return text


def cell(s: dict, key: tuple, signed: bool = False, digits: int = 3) -> str:
    """``mean ± half`` of summary row ``s[key]`` (``format_interval``; "n/a" if missing)."""
    return format_interval(s.get(key), signed, digits)


def mean_cell(s: dict, key: tuple, fmt: str = ".3f") -> str:
    """The mean of summary row ``s[key]`` alone; "n/a" if missing or not finite."""
    row = s.get(key)
    return "n/a" if row is None or not math.isfinite(row["mean"]) else f"{row['mean']:{fmt}}"


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table as lines, with an empty line after it."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows), ""]


def format_value(value, digits: int, short: bool = False) -> str:
    """A CSV cell: floats with ``digits`` decimals (short: ``:g``), NaN empty, others str."""
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return ""
        return f"{value:g}" if short else f"{value:.{digits}f}"
    return str(value)


def write_csv(path: Path, rows: list[dict], digits: int) -> None:
    """Rows of equal keys; floats with ``digits`` decimals (alpha, beta as given), NaN empty.
    No rows: an empty file."""
    with path.open("w", newline="") as fh:
        if not rows:
            return
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(list(rows[0]))
        for row in rows:
            writer.writerow([format_value(v, digits, k in ("alpha", "beta"))
                             for k, v in row.items()])
