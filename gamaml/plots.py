"""The course's plotting functions: each draws on a given Axes, from a ``History``.

Not part of the lesson. Colours come from the one table of method variants
(``gamaml.variants``): a colour is a method, everywhere in the course.
"""

from __future__ import annotations

import math

import numpy as np

from gamaml import checks as C
from gamaml.training import History
from gamaml.variants import COLORS, OKABE_ITO, TASK_STYLES

__all__ = ["use_course_style", "moving_average", "plot_loss", "plot_weights", "plot_eval_score",
           "mean_task_weights", "SCORE_LABELS"]

SCORE_LABELS = {"accuracy": "accuracy", "mse": "MSE"}


def use_course_style() -> None:
    """The course's matplotlib style: Okabe-Ito colours, small figures, light grid (all)."""
    import matplotlib as mpl

    mpl.rcParams.update({
        "axes.prop_cycle": mpl.cycler(color=OKABE_ITO),
        "figure.figsize": (7.0, 3.2),
        "figure.dpi": 80,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titlesize": 11,
        "axes.labelsize": 10,
        "legend.fontsize": 9,
        "legend.frameon": False,
    })


def _check_axes_history(ax, history) -> int:
    if not hasattr(ax, "plot"):
        raise ValueError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
    if not isinstance(history, History):
        raise ValueError(f"history must be a History, got {type(history).__name__}")
    return history.iterations_done


def moving_average(values, window: int) -> np.ndarray:
    """Trailing mean over ``window`` values (shorter at the start): (n,) -> (n,)."""
    values = C.array("values", values, (1,))
    window = C.integer("window", window)
    csum = np.cumsum(np.insert(values, 0, 0.0))
    n = np.arange(1, len(values) + 1)
    lo = np.maximum(n - window, 0)
    return (csum[n] - csum[lo]) / (n - lo)


def plot_loss(ax, history: History, *, label: str | None = None, color: str | None = None,
              window: int = 25):
    """Query loss after adaptation per meta-iteration: raw (faint) and a moving average (03).

    The y-axis names the model's loss (``history.loss_name``: BCE or MSE)."""
    done = _check_axes_history(ax, history)
    method = history.config.method
    color = color or COLORS.get(method, OKABE_ITO[0])
    label = label or method.upper()
    lines = []
    if done:
        iters = np.arange(1, done + 1)
        loss = history.query_loss[:done]
        lines += ax.plot(iters, loss, color=color, alpha=0.2, linewidth=0.8)
        lines += ax.plot(iters, moving_average(loss, window), color=color, label=label)
    ax.set(title="Query loss after adaptation", xlabel="meta-iteration",
           ylabel=f"mean query {history.loss_name}")
    if ax.get_legend_handles_labels()[0]:  # no legend (and no warning) before any data
        ax.legend(loc="upper right")
    return lines


def plot_weights(ax, history: History, *, max_points: int = 1500, window: int = 25,
                 color: str | None = None):
    """Task weights w_i of every meta-step, clean and corrupted tasks apart (notebook 05, 1).

    Markers are individual weights (thinned to about ``max_points``; clean: small faint
    dots, corrupted: crosses); lines are the mean weight of clean (solid) and of corrupted
    (dashed) tasks per iteration (moving average over ``window`` iterations in which the
    group is present); all in the method's colour (or ``color``). Dotted grey: 1/T, MAML's
    weight.
    """
    done = _check_axes_history(ax, history)
    n_tasks = history.config.n_tasks
    if color is None:
        color = COLORS.get(history.config.method, "#999999")
    else:
        from matplotlib.colors import is_color_like

        if not is_color_like(color):
            raise ValueError(f"color must be a matplotlib colour, got {color!r}")
    artists = [ax.axhline(1.0 / n_tasks, color="#999999", linestyle=":", linewidth=1.2,
                          label="1/T (MAML)")]
    if done:
        w, bad = history.weights[:done], history.corrupted[:done]
        iters = np.broadcast_to(np.arange(1, done + 1)[:, None], w.shape)
        stride = max(1, w.size // max_points)
        for mask, name in ((~bad, "clean"), (bad, "corrupted")):
            if not mask.any():
                continue
            style = TASK_STYLES[name]
            artists.append(ax.scatter(iters[mask][::stride], w[mask][::stride],
                                      s=5 if name == "clean" else 14, marker=style["marker"],
                                      color=color, alpha=0.2 if name == "clean" else 0.45,
                                      linewidths=0 if name == "clean" else 0.7))
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(mask.any(1), np.where(mask, w, 0.0).sum(1) / mask.sum(1), np.nan)
            rows = ~np.isnan(mean)
            artists += ax.plot(iters[rows, 0], moving_average(mean[rows], window),
                               color=color, linestyle=TASK_STYLES[name]["linestyle"],
                               linewidth=2.2, label=f"{name} (mean)",
                               path_effects=[_white_outline()])
    ax.set(title="Task weights $w_i$", xlabel="meta-iteration", ylabel="weight $w_i$")
    lo, hi = ax.get_ylim()  # headroom above the data, so that the legend sits off it
    ax.set_ylim(lo, hi + 0.4 * (hi - lo))
    ax.legend(loc="upper center", ncols=2, fontsize=7, handlelength=2.0, columnspacing=0.8)
    return artists


def _white_outline():
    """A thin white edge around a line, so a mean line stays visible over its own dots."""
    from matplotlib import patheffects

    return patheffects.withStroke(linewidth=3.4, foreground="white")


def plot_eval_score(ax, history: History, *, label: str | None = None,
                    color: str | None = None):
    """Held-out score after adaptation at each evaluation point (notebooks 06, 07).

    The score is the model's (``history.score_name``): accuracy for the sigmoid unit, MSE for
    the MLP; title and axis say which."""
    _check_axes_history(ax, history)
    method = history.config.method
    done = ~np.isnan(history.eval_score)
    lines = ax.plot(history.eval_iterations[done], history.eval_score[done], marker="o",
                    color=color or COLORS.get(method, OKABE_ITO[0]), label=label or method.upper())
    name = SCORE_LABELS.get(history.score_name, history.score_name)
    ax.set(title=f"Held-out {name} after adaptation", xlabel="meta-iteration",
           ylabel=f"query {name}")
    ax.legend(loc="best")  # a few points per line: "best" is quick and keeps off them
    return lines


def mean_task_weights(history: History, *, last: int | None = None) -> dict[str, float]:
    """Mean weight ``w_i`` of clean and of corrupted tasks over the ``last`` iterations (05, 07).

    ``last=None`` averages over every iteration done. A group without tasks gets NaN.
    Returns ``{"clean": float, "corrupted": float}``.
    """
    if not isinstance(history, History):
        raise ValueError(f"history must be a History, got {type(history).__name__}")
    done = history.iterations_done
    last = done if last is None else min(C.integer("last", last), done)
    w = history.weights[done - last:done]
    bad = history.corrupted[done - last:done]
    return {name: float(w[mask].mean()) if mask.any() else math.nan
            for name, mask in (("clean", ~bad), ("corrupted", bad))}
