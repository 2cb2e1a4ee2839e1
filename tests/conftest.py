"""Shared fixtures for the unit tests of gamaml_helpers.

The model tests use small float64 problems (d = 4 features) with random soft-ish labels so
that every gradient, Hessian and meta-gradient is of order one and finite differences are
accurate to ~1e-9. The exercise checkers' tests run a checker through ``run_checker``.
"""

from __future__ import annotations

import numpy as np
import pytest

import gamaml_helpers as gh

N_TASKS, K_SHOT, K_QUERY, N_FEATURES = 5, 6, 7, 4


def make_problem(seed: int = 0, n_tasks: int = N_TASKS, k: int = K_SHOT, q: int = K_QUERY,
                 d: int = N_FEATURES) -> dict[str, np.ndarray]:
    """A random batch of logistic-regression tasks with a shared theta and per-task thetas.

    Labels are 0/1 draws, except a few soft labels in (0, 1), which the loss also accepts.
    Support and query sets have different sizes so that mixing them up changes results.
    """
    rng = np.random.default_rng(seed)
    ys = (rng.random((n_tasks, k)) < 0.5).astype(float)
    ys[:, 0] = rng.random(n_tasks)  # one soft label per task
    return {
        "theta": rng.normal(size=d),
        "thetas": rng.normal(size=(n_tasks, d)),
        "xs": rng.normal(size=(n_tasks, k, d)),
        "ys": ys,
        "xq": rng.normal(size=(n_tasks, q, d)),
        "yq": (rng.random((n_tasks, q)) < 0.5).astype(float),
        "v": rng.normal(size=d),
        "vs": rng.normal(size=(n_tasks, d)),
    }


@pytest.fixture
def problem() -> dict[str, np.ndarray]:
    return make_problem(0)


@pytest.fixture
def batch() -> gh.TaskBatch:
    """A small TaskBatch from the course's task family (d = 5, T = 6, k = 8, q = 9)."""
    return gh.sample_tasks(6, 8, k_query=9, n_features=5, corrupt_frac=1 / 3, rng=7)


def small_config(**overrides) -> gh.LinearConfig:
    """A MetaConfig that trains in a few milliseconds (d = 5, T = 4, 60 meta_iterations)."""
    settings = dict(method="ga", n_tasks=4, k_shot=5, k_query=6, n_features=5, meta_iterations=60,
                    eval_every=25, eval_tasks=8, seed=3)
    settings.update(overrides)
    return gh.LinearConfig(**settings)


@pytest.fixture
def config_factory():
    """``small_config`` as a fixture: call it with MetaConfig overrides."""
    return small_config


class CheckerRun:
    """Runs a notebook exercise's checker and reads back the one line it prints."""

    def __init__(self, capsys: pytest.CaptureFixture[str]):
        self._capsys = capsys

    def __call__(self, check, *args, **kwargs) -> tuple[bool, str]:
        """``check(*args, **kwargs)``: its verdict and its output, exactly one line."""
        ok = bool(check(*args, **kwargs))
        out = self._capsys.readouterr().out
        assert out.count("\n") == 1, out
        return ok, out

    def not_yet(self, check, *args, named: str | None = None, **kwargs) -> str:
        """The line of a checker that must say "✗ not yet: ...", containing ``named`` if given."""
        ok, out = self(check, *args, **kwargs)
        assert not ok and out.startswith("✗ not yet: "), out
        assert named is None or named in out, out
        return out


@pytest.fixture
def run_checker(capsys: pytest.CaptureFixture[str]) -> CheckerRun:
    """``run_checker(check, *args)`` -> (ok, the printed line); ``run_checker.not_yet(check,
    *args, named=...)`` -> the "not yet" line."""
    return CheckerRun(capsys)
