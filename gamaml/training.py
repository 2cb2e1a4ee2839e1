"""The bookkeeping of a meta-training run: seeds, held-out tasks, History, divergence.

Not part of the lesson: ``gamaml_helpers.meta_train`` is the loop (sample, step, update);
``Run`` records what it did, scores the held-out tasks now and then, calls the caller's
callback and turns a floating-point overflow into ``Diverged``.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np

from gamaml import checks as C
from gamaml.config import MetaConfig, SineConfig
from gamaml.evaluation import adapt_and_evaluate

__all__ = ["Diverged", "SeedStreams", "seed_streams", "make_eval_tasks", "History"]


class Diverged(ValueError):
    """Raised by ``meta_train`` when theta stops being finite (beta or alpha too large)."""


@dataclass(frozen=True)
class SeedStreams:
    """The named, independent random streams of one seed (``seed_streams``)."""

    init: np.random.Generator  # the starting theta
    train: np.random.Generator  # the training meta-batches
    eval: np.random.Generator  # the fixed held-out tasks


def seed_streams(seed: int) -> SeedStreams:
    """One seed's independent random streams, by name: ``init``, ``train`` and ``eval``.

    Each run of ``meta_train`` draws its starting point, its training batches and its held-out
    tasks from these three streams, so that changing one (say, more held-out tasks) leaves the
    others as they were.
    """
    seed = C.integer("seed", seed, minimum=0)
    init, train, evaluation = (np.random.default_rng(s)
                               for s in np.random.SeedSequence(seed).spawn(3))
    return SeedStreams(init=init, train=train, eval=evaluation)


def make_eval_tasks(config: MetaConfig):
    """The fixed held-out tasks of a run: clean, fresh, the same for every method at one seed."""
    import gamaml_helpers as gh

    config = C.config(config)
    k_query = config.k_query if config.eval_query is None else config.eval_query
    rng = seed_streams(config.seed).eval
    if isinstance(config, SineConfig):
        return gh.sample_sine_tasks(config.eval_tasks, config.k_shot, k_query=k_query,
                                    amplitude=config.amplitude, phase=config.phase,
                                    x_range=config.x_range, rng=rng)
    return gh.sample_tasks(config.eval_tasks, config.k_shot, k_query=k_query,
                           n_features=config.n_features, spread=config.spread, rng=rng)


@dataclass
class History:
    """What ``meta_train`` recorded. Arrays are pre-allocated; rows past ``iterations_done``
    are NaN.

    query_loss : (n,) mean query loss after adaptation, at the theta of that iteration.
    weights : (n, T) task weights w_i of every meta-step.
    corrupted : (n, T) bool, which tasks of that batch were corrupted.
    minority : (n, T) bool, which tasks of that batch came from the minority direction.
    eval_iterations : (n_eval,) iterations after which the held-out tasks were evaluated.
    eval_score, eval_loss : (n_eval,) held-out query score / loss after adaptation; the score is
        the model's ``score_name`` (accuracy for the sigmoid unit, MSE for the MLP).
    theta : (P,) the current (at the end: final) meta-parameters; theta_init (P,) the start.
    loss_name, score_name : what the loss and the score are, for labels ("BCE", "accuracy").
    """

    config: MetaConfig
    query_loss: np.ndarray
    weights: np.ndarray
    corrupted: np.ndarray
    minority: np.ndarray
    eval_iterations: np.ndarray
    eval_score: np.ndarray
    eval_loss: np.ndarray
    theta: np.ndarray
    theta_init: np.ndarray
    iterations_done: int = 0
    seconds: float = 0.0
    loss_name: str = "loss"
    score_name: str = "score"


class Run:
    """One run's bookkeeping: ``meta_train`` calls ``record`` after every meta-step."""

    def __init__(self, config: MetaConfig, model, theta: np.ndarray, callback=None):
        c, last = config, config.meta_iterations
        self.config, self.model, self.callback = c, model, callback
        self.eval_tasks = make_eval_tasks(c)
        points = np.array(sorted({*range(c.eval_every, last + 1, c.eval_every), last}))
        per_task = (last, c.n_tasks)
        self.history = History(
            config=c, query_loss=np.full(last, np.nan), weights=np.full(per_task, np.nan),
            corrupted=np.zeros(per_task, bool), minority=np.zeros(per_task, bool),
            eval_iterations=points, eval_score=np.full(len(points), np.nan),
            eval_loss=np.full(len(points), np.nan), theta=theta, theta_init=theta.copy(),
            loss_name=getattr(model, "loss_name", "loss"),
            score_name=getattr(model, "score_name", "score"))
        self.n_eval, self.iteration = 0, 1  # the iteration in progress, counted from 1
        self.next_eval = int(points[0])
        self.start = time.perf_counter()

    @contextlib.contextmanager
    def watch(self):
        """Float overflow or NaN in the training raises ``Diverged``, naming the iteration."""
        try:
            with np.errstate(over="raise", invalid="raise", divide="raise"):
                yield
        except FloatingPointError as exc:
            c = self.config
            raise Diverged(f"training diverged at iteration {self.iteration} ({exc}); lower "
                           f"beta (={c.beta}) or alpha (={c.alpha})") from None

    def record(self, theta: np.ndarray, batch, weights: np.ndarray, loss: float) -> None:
        """Store one meta-step; score the held-out tasks when it is time; call the callback."""
        h, i = self.history, self.iteration - 1
        h.weights[i] = weights
        h.query_loss[i] = loss
        h.corrupted[i] = batch.corrupted
        h.minority[i] = batch.minority
        h.theta = theta
        h.iterations_done = self.iteration
        if not np.isfinite(theta).all():
            raise FloatingPointError("theta is no longer finite")
        if i + 1 == self.next_eval:
            with np.errstate(all="ignore"):  # a score, not the training: may be inf
                e = adapt_and_evaluate(theta, self.eval_tasks, self.config.alpha,
                                          steps=self.config.inner_steps, model=self.model)
            h.eval_loss[self.n_eval] = float(e.loss_after.mean())
            h.eval_score[self.n_eval] = float(e.score_after.mean())
            self.n_eval += 1
            self.next_eval = int(h.eval_iterations[min(self.n_eval, len(h.eval_iterations) - 1)])
        if self.callback is not None:
            h.seconds = time.perf_counter() - self.start
            with np.errstate(over="warn", invalid="warn", divide="warn"):
                C.outside(self.callback, i + 1, h)  # the caller's code: numpy defaults, checks
        self.iteration += 1

    def done(self) -> History:
        self.history.seconds = time.perf_counter() - self.start
        return self.history
