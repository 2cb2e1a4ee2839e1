"""The course's interactive widgets: explorers for notebooks 02-06 and the playground of 08.

This is the interface, kept apart from the lesson: it imports ``gamaml_helpers`` (the course's
reference implementation) and never the reverse, so ``import gamaml_helpers`` loads neither
ipywidgets nor matplotlib.

The factories build a widget object and return it without displaying it: a notebook shows it
by leaving it as the last expression of a cell, and the tests drive it without a kernel (set a
control's ``value``, call ``train_button.click()``). ipywidgets and matplotlib are imported
inside the functions that need them, so numpy-only users of the module never load them.
Each plot is one matplotlib ``Figure`` (not pyplot: nothing leaks or shows by itself), made
once and re-rendered to PNG bytes in an ``ipywidgets.Image``: no flicker, no new figure per
update, no ipympl. Training stays in ``gh.meta_train``; the widgets only read controls and draw.
"""

from __future__ import annotations

import html
import io
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import gamaml_helpers as gh
from gamaml import checks
from gamaml.variants import GA_METHODS

# The playground's method choice: value -> (label, the methods it trains, in this order).
# Labels come from the course's one table of method variants (gh.METHOD_LABELS).
_LABEL = gh.METHOD_LABELS
PLAYGROUND_CHOICES = {
    **{m: (_LABEL[m], (m,)) for m in ("maml", "ga", "reptile", "ga-reptile", "joint")},
    "both": (f"{_LABEL['maml']} + {_LABEL['ga']}", ("maml", "ga")),
    "both-reptile": (f"{_LABEL['reptile']} + {_LABEL['ga-reptile']}", ("reptile", "ga-reptile")),
    "maml-joint": (f"{_LABEL['maml']} + {_LABEL['joint']}", ("maml", "joint")),
    "all": ("all four", ("maml", "ga", "reptile", "ga-reptile")),
}
PLAYGROUND_METHODS = tuple(PLAYGROUND_CHOICES)
# The normalisation choice: (label, value) and one tooltip each, in gh.NORMALIZATIONS order.
NORMALIZATION_OPTIONS = [("paper", "paper"), ("book", "book"), ("cosine (ours)", "cosine")]
NORMALIZATION_TOOLTIPS = [
    "the paper's eq. 13: sum_j g_i.g_j / sum_k |sum_j g_k.g_j|, so sum |w_i| = 1",
    "the book chapter's denominator sum_k sum_j |g_k.g_j|: same signs, sum |w_i| <= 1",
    "an extension of this course, not in the paper: the paper's formula on unit updates "
    "g_i / |g_i| (agreement in direction only)",
]
# The status line's colour for errors: Okabe-Ito vermillion. GA-MAML's lines have the same hue
# (gh.COLORS["ga"]), but the two are separate choices: changing one must not change the other.
ERROR_COLOR = "#D55E00"


@dataclass(frozen=True)
class SliderRange:
    """The range of one slider: from ``low`` to ``high`` in steps of ``step``.

    ``kind`` is "int" (an IntSlider), "float" (a FloatSlider) or "log" (a FloatLogSlider over
    [low, high] whose ``step`` is in the exponent: each step multiplies the value by 10**step).
    """

    low: float
    high: float
    step: float = 1
    kind: str = "int"

    def __post_init__(self):
        checks.choice("kind", self.kind, ("int", "float", "log"))
        if not (0 < self.step and self.low < self.high and (self.kind != "log" or self.low > 0)):
            raise ValueError(f"not a slider range: {self}")


RATE_RANGE = SliderRange(0.01, 100.0, 0.05, "log")  # every learning rate: 10**-2 to 10**2
# Every slider's range, by name. The sliders are built from it, and make_playground checks its
# starting values against it (a slider would silently clamp a value outside its range).
RANGES = {
    "alpha": RATE_RANGE,
    "beta": RATE_RANGE,
    "n_tasks": SliderRange(2, 32),
    "k_shot": SliderRange(1, 50),
    "meta_iterations": SliderRange(50, 3000, 50),
    "corrupt_frac": SliderRange(0.0, 1.0, 0.05, "float"),
    "spread": SliderRange(0.0, 3.0, 0.1, "float"),
    "n_features": SliderRange(2, 100),
    "inner_steps": SliderRange(1, 10),
    "minority_frac": SliderRange(0.0, 0.5, 0.05, "float"),
    # the playground's sine family: its own rates (Adam's), the width of both hidden layers
    "sine_alpha": SliderRange(0.001, 1.0, 0.05, "log"),
    "sine_beta": SliderRange(0.0001, 0.1, 0.05, "log"),
    "hidden": SliderRange(5, 80, 5),
    # notebook 02's explorer: one task; its support points are the first k of a pool of 100
    "lr": RATE_RANGE,
    "steps": SliderRange(1, 300),
    "gd_k_shot": SliderRange(1, 100),
    # notebook 05's explorer: coarser steps, and at least one task in ten stays clean
    "ga_corrupt_frac": SliderRange(0.0, 0.9, 0.1, "float"),
    # the sine explorer: a new wave, its points and the adaptation steps (and the playground's
    # amplitude range)
    "amplitude": SliderRange(0.1, 5.0, 0.1, "float"),
    "phase": SliderRange(0.0, 6.28, 0.02, "float"),
    "sine_k_shot": SliderRange(1, 50),
    "sine_steps": SliderRange(0, 20),
}


class LivePlot:
    """One matplotlib Figure shown as a PNG in an ``ipywidgets.Image``, re-rendered in place.

    Parameters
    ----------
    n_axes : number of side-by-side axes.
    name : the image gets the CSS class ``gamaml-plot-<name>`` (the browser test uses it).
    figsize, dpi : size in inches and pixels per inch; a modest dpi keeps redrawing fast.

    Attributes: ``figure``, ``axes`` (list of Axes), ``image`` (the widget), ``renders`` (how
    many times ``render`` has run).
    """

    def __init__(self, n_axes: int = 1, *, name: str = "plot",
                 figsize: tuple[float, float] = (3.9, 2.7), dpi: int = 72):
        import ipywidgets as widgets
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        width, height = figsize
        self.figure = Figure(figsize=figsize, dpi=dpi)
        # Fixed margins, in inches: a layout engine would draw every frame twice.
        self.figure.subplots_adjust(left=0.7 / width, right=1 - 0.15 / width,
                                    bottom=0.5 / height, top=1 - 0.3 / height, wspace=0.3)
        # One Agg canvas for the figure's whole life: it keeps its renderer and text caches.
        self.canvas = FigureCanvasAgg(self.figure)
        n_axes = checks.integer("n_axes", n_axes)
        self.axes = list(self.figure.subplots(1, n_axes, squeeze=False)[0])
        for ax in self.axes:
            ax.locator_params(nbins=5)  # fewer tick labels: text is most of the drawing time
        self.image = widgets.Image(format="png")
        self.image.add_class(f"gamaml-plot-{name}")
        self.renders = 0

    def render(self, draw: Callable[..., object]) -> None:
        """Remove the plotted data, call ``draw(*axes)``, render and show the new PNG.

        Only the data artists go (not ``ax.clear()``, which rebuilds every tick): the axes
        keep their ticks, titles and locators, and a render costs less.
        """
        if not callable(draw):
            raise ValueError(f"draw must be callable, got {draw!r}")
        for ax in self.axes:
            for artist in [*ax.lines, *ax.collections, *ax.patches, *ax.texts]:
                artist.remove()
            if ax.legend_ is not None:
                ax.legend_.remove()
            ax.relim()
            ax.set_autoscale_on(True)
        draw(*self.axes)
        buffer = io.BytesIO()
        self.canvas.print_png(buffer, pil_kwargs={"compress_level": 1})  # fast, 5% larger
        self.image.value = buffer.getvalue()
        self.renders += 1


LABEL_WIDTH = "125px"  # of every control's description, so that the controls line up


def _slider(description: str, value: float, slider_range: SliderRange):
    """A slider over ``slider_range`` (see ``RANGES``) that reports its value only on release."""
    import ipywidgets as widgets

    low, high, step, kind = (slider_range.low, slider_range.high, slider_range.step,
                             slider_range.kind)
    common = {"value": value, "step": step, "description": description,
              "continuous_update": False, "style": {"description_width": LABEL_WIDTH}}
    if kind == "log":
        return widgets.FloatLogSlider(base=10, min=math.log10(low), max=math.log10(high),
                                      readout_format=".3g", **common)
    slider = widgets.IntSlider if kind == "int" else widgets.FloatSlider
    return slider(min=low, max=high, **common)


def _choice(description: str, options, value, *, button_width: str = "76px",
            tooltips: list[str] | None = None):
    """A row of toggle buttons, one per option (a label or a (label, value) pair)."""
    import ipywidgets as widgets

    return widgets.ToggleButtons(options=options, value=value, description=description,
                                 tooltips=tooltips or [],
                                 style={"description_width": LABEL_WIDTH,
                                        "button_width": button_width},
                                 layout=widgets.Layout(display="flex"))  # label beside buttons


def _dropdown(description: str, options, value):
    """A drop-down list of (label, value) pairs: room for long labels in little space."""
    import ipywidgets as widgets

    return widgets.Dropdown(options=options, value=value, description=description,
                            style={"description_width": LABEL_WIDTH},
                            layout=widgets.Layout(width="340px"))


def _normalization_choice(value: str):
    """The GA weights' normalisation: paper, book or cosine (labelled as the course's own)."""
    return _choice("GA weights", NORMALIZATION_OPTIONS, value, button_width="112px",
                   tooltips=NORMALIZATION_TOOLTIPS)


def _in_range(name: str, value, slider_range: SliderRange | None = None):
    """Return ``value`` if it lies in its slider's range (``RANGES[name]`` unless given), else
    raise a ValueError naming ``name``."""
    r = RANGES[name] if slider_range is None else slider_range
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not r.low <= value <= r.high:  # also rejects NaN
        raise ValueError(f"{name} must be a number in [{r.low:g}, {r.high:g}], got {value!r}")
    return value


class Dashboard:
    """What every course widget has: controls, a status line, plots, one container.

    Attributes
    ----------
    widget : the ipywidgets container. Showing the Dashboard in a notebook shows it.
    controls : dict name -> control widget (set ``.value`` to change a setting).
    status : ``ipywidgets.HTML`` line with progress, results or a readable error.
    message : the status line's plain text.
    plots : dict name -> LivePlot.
    """

    message: str = ""
    widget: object
    controls: dict
    status: object
    plots: dict

    def values(self) -> dict:
        """The current value of every control, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def say(self, text: str, *, error: bool = False) -> None:
        """Show ``text`` in the status line (an error in the course's vermillion).

        ``message`` keeps the plain text; ``status.value`` is its HTML.
        """
        self.message = text
        style = f' style="color: {ERROR_COLOR}"' if error else ""
        self.status.value = f"<span{style}>{'⚠ ' if error else ''}{html.escape(text)}</span>"

    def _build(self, rows: list, css_class: str) -> None:
        """Create ``status`` and put ``rows`` of widgets into ``widget`` (one VBox)."""
        import ipywidgets as widgets

        self.status = widgets.HTML()
        self.status.add_class("gamaml-status")
        self.widget = widgets.VBox([*rows, self.status,
                                    widgets.HBox([p.image for p in self.plots.values()],
                                                 layout=widgets.Layout(flex_flow="row wrap"))])
        self.widget.add_class(css_class)
        for name, control in self.controls.items():
            control.add_class(f"gamaml-{name.replace('_', '-')}")

    def _repr_mimebundle_(self, **kwargs) -> dict:
        """Jupyter shows ``widget``; plain-text viewers (e.g. GitHub) get one line instead."""
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = (f"{type(self).__name__}: interactive widget, run the notebook "
                                "in Jupyter to use it")
        return bundle


class Explorer(Dashboard):
    """A small widget: moving a control (on release) recomputes and redraws at once.

    ``update(plot, **values)`` does the work: it draws on ``plot`` (a LivePlot) and returns
    ``(result, message)``; ``result`` is kept in ``.result`` and ``message`` goes to the status
    line. A ValueError shows as a readable message; the explorer keeps working.
    """

    def __init__(self, controls: dict, update: Callable, *, name: str, n_axes: int = 2,
                 figsize: tuple[float, float] = (8.0, 2.8)):
        import ipywidgets as widgets

        if not isinstance(controls, dict) or not controls:
            raise ValueError("controls must be a non-empty dict of name -> widget")
        if not callable(update):
            raise ValueError(f"update must be callable, got {update!r}")
        self.controls = controls
        self.plots = {"main": LivePlot(n_axes, name=name, figsize=figsize)}
        self.result = None
        self._update = update
        self._build([widgets.HBox(list(controls.values()),
                                  layout=widgets.Layout(flex_flow="row wrap"))],
                    f"gamaml-{name}")
        for control in controls.values():
            control.observe(lambda _change: self.refresh(), names="value")
        self.refresh()

    @property
    def plot(self) -> LivePlot:
        return self.plots["main"]

    def refresh(self) -> None:
        """Recompute with the current control values and redraw; never raises ValueError."""
        try:
            self.result, message = self._update(self.plot, **self.values())
        except ValueError as exc:
            self.say(str(exc), error=True)
        else:
            self.say(message)


def make_gd_explorer(*, seed: int = 0, n_features: int = 50) -> Explorer:
    """Notebook 02: gradient descent on ONE task, support versus query loss and accuracy.

    Controls: ``lr`` (learning rate, log scale), ``steps``, ``k_shot`` (support points, the
    first k of a fixed pool). The query set has 500 points. ``.result`` is a dict of arrays
    over steps 0..steps: ``support_loss``, ``query_loss``, ``support_accuracy``,
    ``query_accuracy``. Start: theta = 0 (loss ln 2, accuracy 1/2).
    """
    checks.integer("seed", seed, minimum=0)
    task = gh.sample_tasks(1, 100, k_query=500, n_features=n_features, rng=seed)
    controls = {"lr": _slider("learning rate", 1.0, RANGES["lr"]),
                "steps": _slider("steps", 50, RANGES["steps"]),
                "k_shot": _slider("support points", 10, RANGES["gd_k_shot"])}

    def update(plot, *, lr, steps, k_shot):
        xs, ys = task.x_support[0, :k_shot], task.y_support[0, :k_shot]
        thetas = [np.zeros(n_features)]
        for _ in range(steps):
            thetas.append(gh.inner_update(thetas[-1], xs, ys, lr))
        thetas = np.array(thetas)  # (steps + 1, d): score every iterate at once
        curves, n = {}, steps + 1
        for part, x, y in (("support", xs, ys), ("query", task.x_query[0], task.y_query[0])):
            x, y = np.broadcast_to(x, (n, *x.shape)), np.broadcast_to(y, (n, *y.shape))
            curves[f"{part}_loss"] = gh.bce_loss(thetas, x, y)
            curves[f"{part}_accuracy"] = gh.accuracy(thetas, x, y)

        def draw(ax_loss, ax_acc):
            # support / query: black and grey line styles (colours are methods, gh.COLORS)
            for part, color, style in (("support", "black", "-"), ("query", "#777777", "--")):
                ax_loss.plot(curves[f"{part}_loss"], color=color, linestyle=style, label=part)
                ax_acc.plot(curves[f"{part}_accuracy"], color=color, linestyle=style,
                            label=part)
            ax_loss.set(title="Loss on one task", xlabel="gradient step", ylabel="mean BCE")
            ax_acc.set(title="Accuracy on one task", xlabel="gradient step", ylabel="accuracy",
                       ylim=(0, 1.05))
            ax_loss.legend(loc="upper right")
            ax_acc.legend(loc="lower right")

        plot.render(draw)
        end = {name: values[-1] for name, values in curves.items()}
        return curves, (f"after {steps} steps with {k_shot} support points: support loss "
                        f"{end['support_loss']:.3f}, accuracy {end['support_accuracy']:.3f} · "
                        f"query loss {end['query_loss']:.3f}, accuracy "
                        f"{end['query_accuracy']:.3f}")

    return Explorer(controls, update, name="gd-explorer")


# Held-out scoring of the explorers and the playground: enough tasks and query points that a
# change of a few thousandths between runs means something (100 tasks x 10 points swing by
# about +-0.01 between evaluations; 500 x 50 by about +-0.003).
EVAL_TASKS, EVAL_QUERY = 500, 50
MAML_EXPLORER_METHODS = {  # key: (label, LinearConfig arguments), from the variant table
    key: (_LABEL[key], {"method": gh.VARIANTS[key].rule,
                        **({"first_order": True} if gh.VARIANTS[key].first_order else {})})
    for key in ("joint", "fomaml", "maml")}


def make_maml_explorer(*, seed: int = 0, meta_iterations: int = 200) -> Explorer:
    """Notebook 03: MAML against joint training and first-order MAML, as alpha, beta and T
    change.

    Controls: ``alpha`` and ``beta`` (log scale), ``n_tasks`` (2-32). Every release trains the
    three methods (``meta_iterations`` each, the same seed, so the same batches) and draws
    their loss curves and held-out accuracy after adaptation. ``.result`` maps "joint",
    "fomaml" and "maml" to the gh.History of the last run.
    """
    checks.integer("seed", seed, minimum=0)
    checks.integer("meta_iterations", meta_iterations)
    controls = {"alpha": _slider("alpha (inner)", 1.0, RANGES["alpha"]),
                "beta": _slider("beta (outer)", 1.0, RANGES["beta"]),
                "n_tasks": _slider("tasks per batch", 10, RANGES["n_tasks"])}

    def update(plot, *, alpha, beta, n_tasks):
        runs = {key: gh.meta_train(gh.LinearConfig(
            **kwargs, alpha=alpha, beta=beta, n_tasks=n_tasks, meta_iterations=meta_iterations,
            eval_every=max(1, meta_iterations // 4), eval_tasks=EVAL_TASKS,
            eval_query=EVAL_QUERY, seed=seed))
            for key, (_, kwargs) in MAML_EXPLORER_METHODS.items()}
        maml = runs["maml"]
        start = gh.adapt_and_evaluate(maml.theta_init, gh.make_eval_tasks(maml.config), alpha)

        def draw(ax_loss, ax_acc):
            for key, history in runs.items():
                label, color = MAML_EXPLORER_METHODS[key][0], gh.COLORS[key]
                gh.plot_loss(ax_loss, history, label=label, color=color)
                gh.plot_eval_score(ax_acc, history, label=label, color=color)
            ax_acc.legend(loc="best", fontsize=8)

        plot.render(draw)
        final = {key: h.eval_score[-1] for key, h in runs.items()}
        return runs, (f"alpha={alpha:.3g}, beta={beta:.3g}, T={n_tasks}: held-out accuracy "
                      f"after adaptation ({EVAL_TASKS} tasks): joint {final['joint']:.3f}, "
                      f"FO-MAML {final['fomaml']:.3f}, MAML {final['maml']:.3f}; MAML - joint "
                      f"{final['maml'] - final['joint']:+.3f} on the same tasks (from the random "
                      f"start: {start.score_after.mean():.3f})")

    return Explorer(controls, update, name="maml-explorer")


def make_ga_explorer(*, seed: int = 0, meta_iterations: int = 300, n_tasks: int = 10,
                     normalization: str = "paper") -> Explorer:
    """Notebook 05: gradient agreement with corrupted tasks, beside its uniform-weight twin.

    Controls: ``corrupt_frac`` (0-0.9), ``corruption`` ("flip", "random" or "outlier"),
    ``normalization`` ("paper", "book" or "cosine", the course's extension; starts at
    ``normalization``), ``method`` (the outer update: "ga" for GA-MAML or "ga-reptile"),
    ``alpha`` and ``beta`` (log scale). ``.result`` is the gh.History of the last run of
    ``gh.meta_train`` for the GA method; every release also trains its twin with weights 1/T
    (MAML beside GA-MAML, Reptile beside GA-Reptile; same seed, same batches), whose loss is
    drawn beside GA's. The status line compares the mean weight of clean and corrupted tasks
    with 1/T, gives the mean of sum_i w_i (the factor on the meta-step's length) and both
    methods' held-out accuracy.
    """
    checks.integer("seed", seed, minimum=0)
    checks.integer("meta_iterations", meta_iterations)
    checks.integer("n_tasks", n_tasks, minimum=2)
    checks.choice("normalization", normalization, gh.NORMALIZATIONS)
    controls = {"corrupt_frac": _slider("corrupted fraction", 0.3, RANGES["ga_corrupt_frac"]),
                "corruption": _choice("corruption", gh.CORRUPTIONS, "flip"),
                "normalization": _normalization_choice(normalization),
                "method": _choice("outer update", [(_LABEL[m], m) for m in GA_METHODS],
                                  "ga", button_width="96px"),
                "alpha": _slider("alpha (inner)", 1.0, RANGES["alpha"]),
                "beta": _slider("beta (outer)", 1.0, RANGES["beta"])}

    def update(plot, *, corrupt_frac, corruption, normalization, method, alpha, beta):
        reference = "maml" if method == "ga" else "reptile"  # the same rule, weights 1/T
        runs = {m: gh.meta_train(gh.LinearConfig(
            method=m, alpha=alpha, beta=beta, n_tasks=n_tasks,
            meta_iterations=meta_iterations, corrupt_frac=corrupt_frac, corruption=corruption,
            normalization=normalization, seed=seed, eval_every=max(1, meta_iterations // 4),
            eval_tasks=EVAL_TASKS, eval_query=EVAL_QUERY)) for m in (method, reference)}
        history = runs[method]
        label = gh.METHOD_LABELS[method]

        def draw(ax_loss, ax_w):
            for m, h in runs.items():
                gh.plot_loss(ax_loss, h, label=gh.METHOD_LABELS[m])
            gh.plot_weights(ax_w, history)

        plot.render(draw)
        w = gh.mean_task_weights(history)
        corrupted = "no corrupted tasks" if math.isnan(w["corrupted"]) else \
            f"{corruption} tasks {w['corrupted']:.3f}"
        total = float(history.weights.sum(axis=1).mean())
        ref_label = gh.METHOD_LABELS[reference]
        return history, (f"{label}, {normalization} weights, mean w_i: clean tasks "
                         f"{w['clean']:.3f}, {corrupted} ({ref_label} gives every task 1/T = "
                         f"{1 / n_tasks:.3f}); mean sum of w_i {total:.3f} ({ref_label}: 1) · "
                         f"held-out accuracy ({EVAL_TASKS} clean tasks): {label} "
                         f"{history.eval_score[-1]:.3f}, {ref_label} "
                         f"{runs[reference].eval_score[-1]:.3f}")

    return Explorer(controls, update, name="ga-explorer")


# The playground's sliders: name (a key of RANGES) -> description. The sine family has learning
# rates of its own: its outer step is Adam's, with rates far below the linear family's.
PLAYGROUND_SLIDERS = {"alpha": "alpha (inner)", "beta": "beta (outer)",
                      "sine_alpha": "alpha (inner)", "sine_beta": "beta (Adam)",
                      "n_tasks": "tasks per batch", "k_shot": "shots",
                      "inner_steps": "inner steps", "meta_iterations": "meta-iterations",
                      "n_features": "features (d)", "spread": "spread", "hidden": "hidden width",
                      "corrupt_frac": "corrupted fraction", "minority_frac": "minority fraction"}
# The task families: name -> tooltip, and the controls only one family uses (hidden
# while the other is selected); every other control applies to both.
PLAYGROUND_FAMILIES = {"linear": "one sigmoid unit on the linear family (notebooks 01-05)",
                       "sine": "a two-layer network on Finn et al.'s sine waves (notebook 06)"}
FAMILY_CONTROLS = {"linear": ("alpha", "beta", "n_features", "spread", "minority_frac"),
                   "sine": ("sine_alpha", "sine_beta", "amplitude", "phase", "hidden",
                            "activation")}
PHASE_OPTIONS = [("[0, π]", (0.0, math.pi)), ("[0, 2π]", (0.0, 2 * math.pi))]
PHASE_TOOLTIPS = ["Finn et al. (2017)", "the gradient-agreement paper (Eshratifar et al. 2018)"]
CORRUPTION_TOOLTIPS = {"linear": ["labels inverted", "labels replaced by coin flips", "boundary "
                                  "at 90 degrees to the shared one, features 3 times larger"],
                       "sine": ["y negated", "y replaced by noise of a clean wave's size",
                                "amplitude 3 times larger"]}
# Sine waves' held-out MSE varies with the amplitude far more than with the points: 250 waves of
# 20 points (standard error about 6% of the MSE) score 8 times faster than 500 of 50.
SINE_EVAL_TASKS, SINE_EVAL_QUERY = 250, 20
# Presets: value -> (label, the control values they set; None: the starting settings).
PLAYGROUND_PRESETS = {
    "sine-finn": ("sine: MAML vs joint (Finn)", {
        "family": "sine", "method": "maml-joint", "amplitude": (0.1, 5.0),
        "phase": (0.0, math.pi), "hidden": 40, "activation": "relu", "sine_alpha": 0.01,
        "sine_beta": 0.01, "n_tasks": 25, "k_shot": 10, "inner_steps": 1,
        "meta_iterations": 200, "corrupt_frac": 0.0, "first_order": False, "seed": 0}),
    "start": ("the starting settings", None),
}


def held_out_standard_error(history: gh.History, tasks=None, model=None) -> float:
    """The standard error over the held-out ``tasks`` (default: the run's own; ``model``: the
    run's) of the per-task score after adaptation: a held-out point's noise. NaN if not finite."""
    if not isinstance(history, gh.History):
        raise ValueError(f"history must be a gh.History, got {type(history).__name__}")
    c = history.config
    tasks = gh.make_eval_tasks(c) if tasks is None else tasks
    model = gh.make_model(c) if model is None else model
    with np.errstate(all="ignore"):  # a score, not the training: it may overflow
        scores = gh.adapt_and_evaluate(history.theta, tasks, c.alpha, steps=c.inner_steps,
                                       model=model).score_after
        return float(scores.std(ddof=1) / math.sqrt(scores.size))


def plot_held_out(ax, runs: dict, errors: dict) -> None:
    """Each run's held-out score after adaptation (``gh.plot_eval_score``), in a band of
    +- one standard error over the held-out tasks (``errors[method]``: one value per evaluation
    point, NaN where unknown); the legend says what the band is."""
    from matplotlib.patches import Patch

    for method, history in runs.items():
        color = gh.COLORS[method]
        gh.plot_eval_score(ax, history, label=gh.METHOD_LABELS[method], color=color)
        se = np.asarray(errors.get(method, np.full(len(history.eval_score), np.nan)))
        ok = np.isfinite(history.eval_score) & np.isfinite(se)
        mean, se = history.eval_score[ok], se[ok]
        ax.fill_between(history.eval_iterations[ok], mean - se, mean + se, color=color,
                        alpha=0.25, linewidth=0)
    band = Patch(color="#999999", alpha=0.4,
                 label=f"± 1 s.e. ({next(iter(runs.values())).config.eval_tasks} tasks)")
    ax.legend(handles=[*ax.get_legend_handles_labels()[0], band], loc="best", fontsize=7)


def _configs(v: dict, methods) -> list:
    """One config per method from the playground's control values ``v`` (Playground.configs)."""
    common = {name: v[name] for name in ("n_tasks", "k_shot", "inner_steps", "first_order",
                                          "normalization", "corrupt_frac", "corruption", "seed")}
    sine, n = v["family"] == "sine", v["meta_iterations"]
    common.update(meta_iterations=n, eval_every=max(1, n // 4),
                  eval_tasks=SINE_EVAL_TASKS if sine else EVAL_TASKS,
                  eval_query=SINE_EVAL_QUERY if sine else EVAL_QUERY)
    if sine:
        return [gh.SineConfig(method=m, alpha=v["sine_alpha"], beta=v["sine_beta"],
                              outer="adam", amplitude=tuple(v["amplitude"]),
                              phase=tuple(v["phase"]), hidden=(v["hidden"],) * 2,
                              activation=v["activation"], **common) for m in methods]
    return [gh.LinearConfig(method=m, alpha=v["alpha"], beta=v["beta"],
                            n_features=v["n_features"], spread=v["spread"],
                            minority_frac=v["minority_frac"], **common) for m in methods]


def _score_text(value: float, se: float) -> str:
    """A held-out score and its standard error for the status line; never "nan"."""
    if not math.isfinite(value):
        return "no finite score (the adaptation overflowed)"
    return f"{value:.3f}" + (f" ± {se:.3f}" if math.isfinite(se) else "")


class Playground(Dashboard):
    """The dashboard of notebook 08: MAML, GA-MAML, Reptile, GA-Reptile and joint training side
    by side on the linear family or on sine waves. Build it with ``make_playground``.

    Moving a control never trains: only the Train button (or ``train()``) does. While a run
    trains, the plots are redrawn every ``live_every`` of the run (at most once per
    ``min_redraw_seconds``) and the status line shows progress and elapsed time.
    ``family`` (``PLAYGROUND_FAMILIES``) picks tasks, model and outer step: one sigmoid unit
    with the plain step theta - beta * direction (alpha = beta = 1, notebook 03), or sine
    waves, two hidden layers of ``hidden`` units and Adam (Finn et al.: alpha 0.01, beta 1e-3).
    Each family has its own alpha and beta sliders, so switching keeps both families' rates;
    the other family's controls (``FAMILY_CONTROLS``) are hidden. ``method`` picks one method
    or a pair (``PLAYGROUND_CHOICES``), all with the same seed (the same tasks);
    ``normalization`` (GA methods) and ``first_order`` (MAML, GA-MAML) are greyed out where
    they do not apply. ``preset`` (or ``apply_preset``) sets the controls to a preset.

    Attributes
    ----------
    widget, controls, status, plots : see Dashboard; plots "loss", "weights", "accuracy" (the
        held-out score, accuracy or MSE, in a band of +- one standard error).
    preset, train_button : the preset list and the Train button (``.click()`` trains).
    histories : dict method -> gh.History of the last successful run (keys from ``gh.METHODS``).
    standard_errors : dict method -> (n_eval,) standard error of each held-out point.
    runs : number of successful runs.
    """

    def __init__(self, settings: dict, *, live_every: float, min_redraw_seconds: float):
        import ipywidgets as widgets

        s, amp = settings, RANGES["amplitude"]
        self.live_every, self.min_redraw_seconds = live_every, min_redraw_seconds
        self.controls = {
            "family": _choice("task family", list(PLAYGROUND_FAMILIES), s["family"],
                              tooltips=list(PLAYGROUND_FAMILIES.values())),
            "method": _dropdown("method", [(label, value) for value, (label, _) in
                                           PLAYGROUND_CHOICES.items()], s["method"]),
            **{name: _slider(description, s[name], RANGES[name])
               for name, description in PLAYGROUND_SLIDERS.items()},
            "amplitude": widgets.FloatRangeSlider(  # (low, high), reported on release
                value=s["amplitude"], min=amp.low, max=amp.high, step=amp.step,
                description="amplitude range", continuous_update=False, readout_format=".1f",
                style={"description_width": LABEL_WIDTH}),
            "phase": _choice("phase range", PHASE_OPTIONS, s["phase"], tooltips=PHASE_TOOLTIPS),
            "activation": _choice("activation", gh.ACTIVATIONS, s["activation"]),
            "corruption": _choice("corruption", gh.CORRUPTIONS, s["corruption"]),
            "normalization": _normalization_choice(s["normalization"]),
            "first_order": _choice("order", [("second", False), ("first", True)],
                                   s["first_order"]),
            "seed": widgets.IntText(value=s["seed"], description="seed",
                                    style={"description_width": LABEL_WIDTH},
                                    layout=widgets.Layout(width="260px")),
        }
        self.preset = _dropdown("preset", [("choose a preset…", "")] + [
            (label, value) for value, (label, _) in PLAYGROUND_PRESETS.items()], "")
        self.preset.add_class("gamaml-preset")
        self.plots = {name: LivePlot(name=name) for name in ("loss", "weights", "accuracy")}
        self.train_button = widgets.Button(description="Train", button_style="primary", icon="play")
        self.train_button.add_class("gamaml-train")
        self.train_button.on_click(lambda _button: self.train())
        self.histories, self.standard_errors, self.runs = {}, {}, 0
        columns = [("method", "alpha", "beta", "sine_alpha", "sine_beta", "n_tasks", "k_shot",
                    "inner_steps", "meta_iterations", "seed"),
                   ("n_features", "spread", "minority_frac", "amplitude", "phase", "hidden",
                    "activation", "corrupt_frac", "corruption", "normalization", "first_order")]
        self._build([widgets.HBox([self.controls["family"], self.preset]),
                     widgets.HBox([widgets.VBox([self.controls[n] for n in names])
                                   for names in columns],
                                  layout=widgets.Layout(flex_flow="row wrap")),
                     self.train_button], "gamaml-playground")
        self._start = dict(settings)
        self._display = {name: c.layout.display for name, c in self.controls.items()}
        for name in ("family", "method"):
            self.controls[name].observe(lambda _change: self._grey_out(), names="value")
        self.preset.observe(self._on_preset, names="value")
        self._grey_out()

    def methods(self) -> tuple[str, ...]:
        """The methods the ``method`` control selects, in training order."""
        return PLAYGROUND_CHOICES[self.controls["method"].value][1]

    def _grey_out(self) -> None:
        """Show the selected family's controls only (and its corruptions' tooltips); disable
        the controls that do not apply to the selected methods."""
        family = self.controls["family"].value
        hidden = {n for f, names in FAMILY_CONTROLS.items() if f != family for n in names}
        for name, control in self.controls.items():
            control.layout.display = "none" if name in hidden else self._display[name]
        self.controls["corruption"].tooltips = CORRUPTION_TOOLTIPS[family]
        methods = self.methods()
        self.controls["normalization"].disabled = not any(m in GA_METHODS for m in methods)
        self.controls["first_order"].disabled = all(m in (*gh.REPTILE_METHODS, "joint")
                                                    for m in methods)

    def _on_preset(self, change) -> None:
        if change["new"]:
            self.apply_preset(change["new"])
            self.preset.value = ""  # back to "choose a preset…": the same one can be chosen again

    def apply_preset(self, name: str) -> None:
        """Set the controls to preset ``name`` of ``PLAYGROUND_PRESETS`` ("start": the settings
        the dashboard was built with). Nothing trains until Train is pressed."""
        label, preset = PLAYGROUND_PRESETS[checks.choice("preset", name, tuple(PLAYGROUND_PRESETS))]
        for control, value in (self._start if preset is None else preset).items():
            self.controls[control].value = value
        self.say(f"preset '{label}' set: press Train to train it")

    def configs(self) -> list:
        """One config per method to train, from the current control values: gh.LinearConfig
        (plain outer step) or gh.SineConfig (Adam; two hidden layers of ``hidden`` units).

        Raises ValueError (from the config) if a value is invalid, e.g. a negative seed.
        """
        return _configs(self.values(), self.methods())

    def train(self) -> None:
        """Train every selected method, live-redrawing; errors go to the status line.

        On success ``histories`` holds the new runs and the plots show them. On a ValueError
        (invalid setting, or training diverged) the status line says why and ``histories``
        keeps the previous runs; the dashboard stays usable.
        """
        self.train_button.disabled = True
        start = self._last_draw = time.perf_counter()
        runs, errors = {}, {}  # method -> gh.History, method -> standard errors
        try:
            configs = self.configs()
            held_out = gh.make_eval_tasks(configs[0]), gh.make_model(configs[0])  # all share
            for config in configs:
                gh.meta_train(config, self._live_callback(runs, errors, held_out, start))
        except ValueError as exc:
            self.say(f"not trained: {exc}", error=True)
        else:
            self.histories, self.standard_errors, self.runs = runs, errors, self.runs + 1
            self.draw_runs(runs, errors)
            self.say(self.summary(time.perf_counter() - start))
        finally:
            self.train_button.disabled = False

    def _live_callback(self, runs: dict, errors: dict, held_out: tuple,
                       start: float) -> Callable[[int, gh.History], None]:
        """The ``gh.meta_train`` callback: records the run and the standard error of each
        held-out point, reports progress, redraws."""
        def callback(iteration: int, history: gh.History) -> None:
            method, points = history.config.method, history.eval_iterations
            runs[method] = history
            k = int(np.searchsorted(points, iteration))
            if k < len(points) and points[k] == iteration:  # a held-out point was just scored
                errors.setdefault(method, np.full(len(points), np.nan))[k] = \
                    held_out_standard_error(history, *held_out)
            total = history.config.meta_iterations
            if iteration % max(1, round(self.live_every * total)) or iteration == total:
                return
            now = time.perf_counter()
            self.say(f"training {gh.METHOD_LABELS[method]}: iteration {iteration}/{total}, "
                     f"{now - start:.1f} s")
            if now - self._last_draw >= self.min_redraw_seconds:
                self.draw_runs(runs, errors)

        return callback

    def draw_runs(self, runs: dict[str, gh.History], errors: dict | None = None) -> None:
        """Draw the loss, the weights (of the first GA method, if any) and the held-out score
        of ``runs``, with ``errors`` (method -> standard error of each held-out point)."""
        meta_iterations = max(h.config.meta_iterations for h in runs.values())
        shown = next((runs[m] for m in runs if m in GA_METHODS), next(iter(runs.values())))
        shown_method = shown.config.method
        title = gh.METHOD_LABELS[shown_method] + (f", {shown.config.normalization}"
                                                  if shown_method in GA_METHODS else "")

        def loss(ax):
            for method, history in runs.items():
                gh.plot_loss(ax, history, label=gh.METHOD_LABELS[method])
            ax.set_xlim(0, meta_iterations)

        def weights(ax):
            gh.plot_weights(ax, shown)
            ax.set_title(f"Task weights $w_i$ ({title})")
            if shown_method not in GA_METHODS:  # every weight 1/T: no autoscale to a point
                ax.set_ylim(0, 2 / shown.config.n_tasks)
            ax.set_xlim(0, meta_iterations)

        def held_out(ax):
            plot_held_out(ax, runs, errors or {})
            ax.set_xlim(0, meta_iterations)

        for name, draw in (("loss", loss), ("weights", weights), ("accuracy", held_out)):
            self.plots[name].render(draw)
        self._last_draw = time.perf_counter()

    def summary(self, seconds: float) -> str:
        """One line on the last run: settings, time, held-out score (+- its standard error),
        and the GA methods' mean weights of clean and corrupted tasks (with their
        normalisation). It never shows "nan": a missing group or score is said in words."""
        first = next(iter(self.histories.values()))
        c, score = first.config, gh.SCORE_LABELS.get(first.score_name, first.score_name)
        if isinstance(c, gh.SineConfig):
            phase = next((label for label, value in PHASE_OPTIONS if value == c.phase), c.phase)
            head = (f"sine waves, A in [{c.amplitude[0]:.3g}, {c.amplitude[1]:.3g}], phase in "
                    f"{phase}, T={c.n_tasks}, alpha={c.alpha:.3g}, beta={c.beta:.3g} (Adam), "
                    f"hidden {c.hidden[0]}-{c.hidden[1]} {c.activation}, inner "
                    f"steps={c.inner_steps}")
        else:
            head = (f"T={c.n_tasks}, alpha={c.alpha:.3g}, beta={c.beta:.3g}, d={c.n_features}, "
                    f"spread={c.spread:.3g}, inner steps={c.inner_steps}, "
                    f"minority={c.minority_frac:.3g}")
        parts = [f"{gh.METHOD_LABELS[m]} "
                 f"{_score_text(h.eval_score[-1], self.standard_errors.get(m, [math.nan])[-1])}"
                 for m, h in self.histories.items()]
        text = (f"{head}: done in {seconds:.2f} s · held-out {score} after adaptation "
                f"({c.eval_tasks} tasks, ± 1 s.e.): " + ", ".join(parts))
        for method, history in self.histories.items():
            if method in GA_METHODS and history.corrupted.any():
                w = gh.mean_task_weights(history)
                clean = "no clean tasks" if math.isnan(w["clean"]) else f"clean {w['clean']:.3f}"
                text += (f" · {gh.METHOD_LABELS[method]} mean weight "
                         f"({history.config.normalization}): {clean}, corrupted "
                         f"{w['corrupted']:.3f}")
        return text


def make_playground(*, family: str = "linear", method: str = "both", alpha: float = 1.0,
                    beta: float = 1.0, n_tasks: int = 10, k_shot: int = 10,
                    inner_steps: int = 1, meta_iterations: int = 200, n_features: int = 50,
                    spread: float = 1.0, corrupt_frac: float = 0.2, minority_frac: float = 0.0,
                    corruption: str = "flip", normalization: str = "paper",
                    first_order: bool = False, seed: int = 0, sine_alpha: float = 0.01,
                    sine_beta: float = 1e-3, amplitude: tuple = (0.1, 5.0),
                    phase: tuple = (0.0, math.pi), hidden: int = 40, activation: str = "relu",
                    preset: str | None = None, train: bool = True, live_every: float = 0.1,
                    min_redraw_seconds: float = 0.5) -> Playground:
    """Build (and by default train once) the playground of notebook 08; return it undisplayed.

    The keyword arguments are the controls' starting values (``preset``, a key of
    ``PLAYGROUND_PRESETS``, replaces those it sets); a slider's (``PLAYGROUND_SLIDERS`` and both
    ends of ``amplitude``) must lie in its range, ``RANGES[name]``. ``family``: "linear" (rates
    ``alpha``, ``beta``) or "sine" (rates ``sine_alpha``, ``sine_beta``; ``amplitude`` range
    (low, high), ``phase`` range (0, pi) or (0, 2 pi)). ``minority_frac`` (linear): the share
    of every batch drawn around a second direction 120 degrees away (notebook 05); held-out
    tasks stay on the majority's. ``method``: one of ``PLAYGROUND_METHODS`` ("both", MAML and
    GA-MAML, by default). Held-out tasks: ``EVAL_TASKS`` of ``EVAL_QUERY`` points (sine:
    ``SINE_EVAL_TASKS`` of ``SINE_EVAL_QUERY``). ``train=True`` runs the starting settings once;
    ``live_every`` (a fraction of the run) and ``min_redraw_seconds`` pace the live redraws.
    """
    s = {name: value for name, value in locals().items()  # the controls' starting values
         if name not in ("preset", "train", "live_every", "min_redraw_seconds")}
    if preset is not None:
        s.update(PLAYGROUND_PRESETS[checks.choice("preset", preset, tuple(PLAYGROUND_PRESETS))][1]
                 or {})
    checks.choice("family", s["family"], tuple(PLAYGROUND_FAMILIES))
    checks.choice("method", s["method"], PLAYGROUND_METHODS)
    for name in PLAYGROUND_SLIDERS:
        _in_range(name, s[name])
    s["amplitude"] = tuple(_in_range("amplitude", end)
                           for end in checks.value_range("amplitude", s["amplitude"]))
    if not any(s["phase"] == value for _, value in PHASE_OPTIONS):
        raise ValueError(f"phase must be (0, pi) or (0, 2 pi), got {s['phase']!r}")
    for f in PLAYGROUND_FAMILIES:  # the configs validate the rest, naming the argument
        _configs({**s, "family": f}, ("ga",))
    if not (isinstance(live_every, (int, float)) and 0 < live_every <= 1):
        raise ValueError(f"live_every must be a fraction in (0, 1], got {live_every!r}")
    if not (isinstance(min_redraw_seconds, (int, float)) and min_redraw_seconds >= 0):
        raise ValueError(f"min_redraw_seconds must be a number >= 0, got {min_redraw_seconds!r}")
    s["first_order"] = bool(s["first_order"])
    playground = Playground(s, live_every=live_every, min_redraw_seconds=min_redraw_seconds)
    if train:
        playground.train()
    else:
        playground.say("press Train to meta-train with these settings")
    return playground


def make_sine_explorer(thetas: dict, model, *, alpha: float = 0.01, seed: int = 0) -> Explorer:
    """The sine notebook: adapt meta-learned starting points to a new wave of your choice.

    ``thetas`` maps a method name ("joint", "maml", "reptile", ...) to a trained parameter
    vector of ``model`` (a ``gh.MLP``). Controls: the wave's ``amplitude`` and ``phase``, the
    number of points ``k_shot`` it shows (drawn once from a fixed pool in [-5, 5]), the number
    of gradient ``steps`` (learning rate ``alpha``) and which ``method`` to draw (or all). The
    left plot shows the true wave, the points and each model's fit after the steps; the right
    one each model's mean squared error on the whole wave against the number of steps.
    ``.result`` maps each method drawn to its MSE after 0..steps steps.
    """
    import ipywidgets as widgets

    if not isinstance(thetas, dict) or not thetas:
        raise ValueError("thetas must be a non-empty dict of method -> parameter vector")
    model = checks.model_for(model, np.zeros(1))  # a model is needed: none is inferred
    for name, theta in thetas.items():
        if np.shape(theta) != (model.n_params,):
            raise ValueError(f"thetas[{name!r}] must have shape ({model.n_params},), "
                             f"got {np.shape(theta)}")
    alpha = checks.positive("alpha", alpha)
    pool = gh.as_generator(seed).uniform(-5.0, 5.0, size=RANGES["sine_k_shot"].high)
    grid = np.linspace(-5.0, 5.0, 200)
    methods = list(thetas)
    controls = {
        "amplitude": _slider("amplitude", 2.5, RANGES["amplitude"]),
        "phase": _slider("phase", 1.0, RANGES["phase"]),
        "k_shot": _slider("points", 10, RANGES["sine_k_shot"]),
        "steps": _slider("gradient steps", 1, RANGES["sine_steps"]),
        "method": widgets.Dropdown(options=[("all", "all")] + [
            (gh.METHOD_LABELS.get(m, m), m) for m in methods], value="all",
            description="model", style={"description_width": LABEL_WIDTH}),
    }

    def update(plot, *, amplitude, phase, k_shot, steps, method):
        x = pool[:k_shot]
        xs, ys = x[None, :, None], (amplitude * np.sin(x - phase))[None]
        truth = amplitude * np.sin(grid - phase)
        shown = methods if method == "all" else [method]
        fits, curves = {}, {}
        for name in shown:
            theta = np.asarray(thetas[name], dtype=float)[None]  # one task: (1, P)
            errors = []
            for step in range(steps + 1):
                if step:
                    theta = gh.inner_update(theta, xs, ys, alpha, model=model)
                errors.append(float(model.loss(theta, grid[None, :, None], truth[None])[0]))
            fits[name] = model.predict(theta, grid[None, :, None])[0]
            curves[name] = np.array(errors)

        def draw(ax_fit, ax_err):
            ax_fit.plot(grid, truth, color="black", linestyle="--", label="true wave")
            ax_fit.plot(x, ys[0], "o", color="black", markersize=4, label=f"{k_shot} points")
            for name in shown:
                color = gh.COLORS.get(name, "#999999")
                ax_fit.plot(grid, fits[name], color=color, label=gh.METHOD_LABELS.get(name, name))
                ax_err.plot(curves[name], color=color, marker="o", markersize=3,
                            label=gh.METHOD_LABELS.get(name, name))
            ax_fit.set(title=f"After {steps} step(s), learning rate {alpha:g}", xlabel="x",
                       ylabel="y", ylim=(-1.3 * max(amplitude, 1), 2.2 * max(amplitude, 1)))
            ax_err.set(title="Error on the whole wave", xlabel="gradient steps",
                       ylabel="mean squared error", yscale="log")
            ax_fit.legend(loc="upper center", ncols=3, fontsize=7)  # above the wave, in the axes

        plot.render(draw)
        summary = ", ".join(f"{gh.METHOD_LABELS.get(n, n)} {curves[n][-1]:.3f}" for n in shown)
        return curves, f"MSE on the whole wave after {steps} step(s): {summary}"

    return Explorer(controls, update, name="sine-explorer", figsize=(9.0, 3.0))
