"""Headless tests of the widgets: no kernel, no browser. They drive the widgets as a student
would, by setting control values and clicking (``Button.click()``), and check what changed."""

from __future__ import annotations

import ast
import math
import re
import subprocess
import sys

import matplotlib.colors
import numpy as np
import pytest

import gamaml_helpers as gh
import gamaml_widgets as gw

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def images(dashboard: gw.Dashboard) -> dict[str, bytes]:
    """The PNG bytes each plot currently shows, by plot name."""
    return {name: bytes(plot.image.value) for name, plot in dashboard.plots.items()}


@pytest.fixture
def playground() -> gw.Playground:
    """A playground trained once with small settings (fast), live redraws off."""
    return gw.make_playground(method="both", n_tasks=6, k_shot=5, meta_iterations=50,
                              corrupt_frac=0.0, min_redraw_seconds=60)


def set_controls(dashboard: gw.Dashboard, **values) -> None:
    for name, value in values.items():
        dashboard.controls[name].value = value


# ---------------------------------------------------------------------------------------------
# The playground
# ---------------------------------------------------------------------------------------------


def test_default_playground_trains_both_methods_and_draws() -> None:
    pg = gw.make_playground()
    assert set(pg.histories) == {"maml", "ga"}
    assert pg.runs == 1
    for history in pg.histories.values():
        assert history.iterations_done == 200
        assert history.weights.shape == (200, 10)
        assert np.all(history.corrupted.sum(axis=1) == 2)  # 0.2 of 10 tasks
    for name, png in images(pg).items():
        assert png.startswith(PNG_SIGNATURE), f"{name} plot shows no PNG"
    assert "done in" in pg.message and "MAML" in pg.message
    assert {h.config.normalization for h in pg.histories.values()} == {"paper"}
    assert "GA-MAML mean weight (paper)" in pg.message
    np.testing.assert_allclose(np.abs(pg.histories["ga"].weights).sum(axis=1), 1.0)


def test_settings_reach_the_history(playground: gw.Playground) -> None:
    set_controls(playground, method="ga", n_tasks=7, k_shot=4, meta_iterations=100,
                 corrupt_frac=0.3,
                 corruption="random", normalization="book", first_order=True, seed=5,
                 alpha=0.5, beta=2.0)
    playground.train_button.click()
    assert set(playground.histories) == {"ga"}
    history = playground.histories["ga"]
    c = history.config
    assert (c.method, c.n_tasks, c.k_shot, c.meta_iterations, c.corruption, c.normalization,
            c.first_order, c.seed) == ("ga", 7, 4, 100, "random", "book", True, 5)
    assert (c.alpha, c.beta, c.corrupt_frac) == pytest.approx((0.5, 2.0, 0.3))
    assert history.weights.shape == (100, 7)
    assert np.all(history.corrupted.sum(axis=1) == 2)  # round(0.3 * 7)
    assert playground.message.startswith("T=7, alpha=0.5, beta=2, d=50, spread=1, inner "
                                         "steps=1, minority=0: done in")
    assert not np.any(np.isnan(history.weights))


def test_new_family_controls_reach_the_history(playground: gw.Playground) -> None:
    """Spread, number of features, inner steps and the minority regime (issue 11)."""
    set_controls(playground, method="both", spread=2.0, n_features=12, inner_steps=3,
                 minority_frac=0.35, corrupt_frac=0.0, meta_iterations=50)
    playground.train_button.click()
    for history in playground.histories.values():
        c = history.config
        assert (c.n_features, c.inner_steps) == (12, 3)
        assert (c.spread, c.minority_frac) == pytest.approx((2.0, 0.35))
        assert history.theta.shape == (12,)
        assert np.all(history.minority.sum(axis=1) == 2)  # round(0.35 * 6)
        assert (c.eval_tasks, c.eval_query) == (gw.EVAL_TASKS, gw.EVAL_QUERY)
    ga = playground.histories["ga"]
    assert np.isfinite(ga.weights).all()
    # the adaptation really takes three steps: the held-out tasks' query loss after it is
    # what adapt_and_evaluate gives with steps=3, not with steps=1
    tasks = gh.make_eval_tasks(ga.config)
    three = gh.adapt_and_evaluate(ga.theta, tasks, ga.config.alpha, steps=3)
    one = gh.adapt_and_evaluate(ga.theta, tasks, ga.config.alpha, steps=1)
    assert ga.eval_loss[-1] == pytest.approx(three.loss_after.mean(), rel=1e-12)
    assert ga.eval_loss[-1] != pytest.approx(one.loss_after.mean(), rel=1e-6)
    pg = gw.make_playground(train=False, spread=0.0, n_features=2, inner_steps=10,
                            minority_frac=0.5)
    assert pg.values()["n_features"] == 2 and pg.values()["minority_frac"] == 0.5


def test_playground_held_out_accuracy_is_measured_precisely() -> None:
    """The held-out panel's standard error (over its tasks) is below 0.005, so a movement of
    0.01 between evaluations is the starting point moving, not the measurement; with the
    MetaConfig default (100 tasks x 10 query points) it is about 0.013."""
    pg = gw.make_playground(method="maml")
    history = pg.histories["maml"]

    def standard_error(config):
        per_task = gh.adapt_and_evaluate(history.theta, gh.make_eval_tasks(config),
                                         config.alpha).score_after
        return per_task.std(ddof=1) / np.sqrt(per_task.size)

    assert standard_error(history.config) < 0.005
    default = gh.LinearConfig(method="maml", seed=history.config.seed)
    assert standard_error(default) > 0.01  # what the panel showed before


@pytest.mark.parametrize("method, expected", [
    ("maml", ["maml"]), ("ga", ["ga"]), ("reptile", ["reptile"]),
    ("ga-reptile", ["ga-reptile"]), ("joint", ["joint"]), ("both", ["maml", "ga"]),
    ("both-reptile", ["reptile", "ga-reptile"]), ("maml-joint", ["maml", "joint"]),
    ("all", ["maml", "ga", "reptile", "ga-reptile"])])
def test_method_selects_the_histories(playground, method, expected) -> None:
    playground.controls["method"].value = method
    playground.train_button.click()
    assert list(playground.histories) == expected  # in this order
    for name, history in playground.histories.items():
        assert history.config.method == name and history.iterations_done == 50
    assert "done in" in playground.message
    for name in expected:
        assert f"{gh.METHOD_LABELS[name]} 0." in playground.message  # its held-out accuracy


def test_method_control_offers_every_method_and_the_comparisons() -> None:
    pg = gw.make_playground(train=False)
    options = dict(pg.controls["method"].options)  # label -> value
    assert options == {"MAML": "maml", "GA-MAML": "ga", "Reptile": "reptile",
                       "GA-Reptile": "ga-reptile", "joint": "joint", "MAML + GA-MAML": "both",
                       "Reptile + GA-Reptile": "both-reptile", "MAML + joint": "maml-joint",
                       "all four": "all"}
    assert pg.controls["method"].value == "both"  # the default: MAML and GA, as before
    assert tuple(options.values()) == gw.PLAYGROUND_METHODS
    assert set(gh.METHODS) == {m for _, (_, ms) in gw.PLAYGROUND_CHOICES.items() for m in ms}


def test_normalization_control_reaches_every_ga_method(playground) -> None:
    control = playground.controls["normalization"]
    assert dict(control.options) == {"paper": "paper", "book": "book",
                                     "cosine (ours)": "cosine"}
    assert control.value == "paper"
    assert len(control.tooltips) == 3 and "not in the paper" in control.tooltips[2]
    weights = {}
    for normalization in gh.NORMALIZATIONS:
        set_controls(playground, method="all", normalization=normalization, corrupt_frac=0.5)
        playground.train_button.click()
        for history in playground.histories.values():
            assert history.config.normalization == normalization
        for method in ("ga", "ga-reptile"):
            weights[method, normalization] = playground.histories[method].weights
        assert f"GA-Reptile mean weight ({normalization})" in playground.message
    for method in ("ga", "ga-reptile"):
        for n in ("paper", "cosine"):
            np.testing.assert_allclose(np.abs(weights[method, n]).sum(axis=1), 1.0)
        assert np.abs(weights[method, "book"]).sum(axis=1).mean() < 0.9
        assert not np.allclose(weights[method, "paper"], weights[method, "cosine"])


def test_outlier_corruption_reaches_the_history(playground) -> None:
    assert playground.controls["corruption"].options == gh.CORRUPTIONS
    set_controls(playground, method="both-reptile", corruption="outlier", corrupt_frac=0.5)
    playground.train_button.click()
    for history in playground.histories.values():
        assert history.config.corruption == "outlier"
        np.testing.assert_array_equal(history.corrupted.sum(axis=1), 3)  # 0.5 of 6 tasks
    assert "GA-Reptile mean weight (paper): clean" in playground.message


def test_controls_that_do_not_apply_are_greyed_out() -> None:
    pg = gw.make_playground(train=False)
    expected = {  # method -> (normalization disabled, first_order disabled)
        "maml": (True, False), "ga": (False, False), "reptile": (True, True),
        "ga-reptile": (False, True), "joint": (True, True), "both": (False, False),
        "both-reptile": (False, True), "maml-joint": (True, False), "all": (False, False)}
    for method, (normalization, order) in expected.items():
        pg.controls["method"].value = method
        assert pg.controls["normalization"].disabled is normalization, method
        assert pg.controls["first_order"].disabled is order, method
    assert not pg.controls["corruption"].disabled


def test_reptile_pair_shares_the_tasks_and_shows_ga_reptile_weights(playground) -> None:
    before = images(playground)
    set_controls(playground, method="both-reptile", corrupt_frac=0.5)
    playground.train_button.click()
    reptile, ga = playground.histories["reptile"], playground.histories["ga-reptile"]
    np.testing.assert_array_equal(reptile.corrupted, ga.corrupted)
    np.testing.assert_allclose(reptile.weights, 1 / 6)
    assert not np.allclose(ga.weights, 1 / 6)
    weights_axes = playground.plots["weights"].axes[0]
    assert weights_axes.get_title() == "Task weights $w_i$ (GA-Reptile, paper)"
    assert images(playground)["weights"] != before["weights"]


def test_lines_use_the_course_colours_and_method_labels(playground) -> None:
    set_controls(playground, method="all")
    playground.train_button.click()
    for plot in ("loss", "accuracy"):
        ax = playground.plots[plot].axes[0]
        handles, labels = ax.get_legend_handles_labels()
        assert labels == ["MAML", "GA-MAML", "Reptile", "GA-Reptile"]
        colours = [handle.get_color() for handle in handles]
        assert colours == [gh.COLORS[m] for m in ("maml", "ga", "reptile", "ga-reptile")]
    method_colours = [gh.COLORS[m] for m in ("maml", "ga", "joint", "fomaml", "reptile",
                                             "ga-reptile")]
    assert len(set(method_colours)) == len(method_colours)  # every method its own colour
    assert gh.COLORS["random"] not in method_colours
    assert set(gh.TASK_STYLES) == {"clean", "corrupted"}  # tasks: markers, not colours
    assert not {"clean", "corrupted"} & set(gh.COLORS)


def test_both_methods_share_the_tasks(playground: gw.Playground) -> None:
    """Same seed: MAML and GA see the same batches, so only the weights differ."""
    maml, ga = playground.histories["maml"], playground.histories["ga"]
    np.testing.assert_array_equal(maml.corrupted, ga.corrupted)
    np.testing.assert_allclose(maml.weights, 1 / 6)
    assert not np.allclose(ga.weights, 1 / 6)


def test_train_click_redraws_every_plot(playground: gw.Playground) -> None:
    before = images(playground)
    set_controls(playground, n_tasks=12, alpha=0.3)
    playground.train_button.click()
    after = images(playground)
    for name in before:
        assert after[name].startswith(PNG_SIGNATURE)
        assert after[name] != before[name], f"the {name} plot was not redrawn"
    assert playground.runs == 2


def test_moving_controls_does_not_train(playground: gw.Playground) -> None:
    histories, shown, status = playground.histories, images(playground), playground.status.value
    renders = {name: plot.renders for name, plot in playground.plots.items()}
    set_controls(playground, alpha=3.0, beta=0.2, n_tasks=20, k_shot=8, meta_iterations=400,
                 corrupt_frac=0.5, corruption="outlier", method="all", normalization="cosine",
                 first_order=True, seed=9)
    assert playground.runs == 1
    assert playground.histories is histories
    assert images(playground) == shown
    assert {name: plot.renders for name, plot in playground.plots.items()} == renders
    assert playground.status.value == status


def test_sliders_report_only_on_release() -> None:
    pg = gw.make_playground(train=False)
    sliders = [c for c in pg.controls.values() if hasattr(c, "continuous_update")]
    assert len(sliders) >= 6
    assert not any(c.continuous_update for c in sliders)


def test_invalid_setting_shows_a_message_and_the_dashboard_recovers(playground) -> None:
    histories = playground.histories
    playground.controls["seed"].value = -1
    playground.train_button.click()  # must not raise
    assert "seed must be an integer >= 0, got -1" in playground.message
    assert "seed must be an integer &gt;= 0" in playground.status.value  # HTML-escaped
    assert "Traceback" not in playground.message
    assert playground.histories is histories and playground.runs == 1
    assert not playground.train_button.disabled

    playground.controls["seed"].value = 4
    playground.controls["n_tasks"].value = 9
    playground.train_button.click()
    assert "done in" in playground.message
    assert playground.runs == 2
    assert playground.histories["ga"].weights.shape == (50, 9)
    assert playground.histories["ga"].config.seed == 4


def test_diverging_run_shows_a_message_and_the_dashboard_recovers(playground) -> None:
    """The numerics are stable enough that only absurd rates overflow: widen the sliders."""
    for name in ("alpha", "beta"):
        playground.controls[name].max = 250  # exponent: 10**250
        playground.controls[name].value = 1e200
    playground.controls["method"].value = "maml"
    shown = images(playground)
    playground.train_button.click()  # must not raise
    assert "diverged" in playground.message
    assert "lower beta" in playground.message
    assert set(playground.histories) == {"maml", "ga"}  # the previous run is kept
    assert images(playground) == shown  # it diverges at once: nothing was drawn

    set_controls(playground, alpha=1.0, beta=1.0)
    playground.train_button.click()
    assert "done in" in playground.message
    assert set(playground.histories) == {"maml"}
    assert images(playground) != shown


def test_plots_update_live_while_training() -> None:
    pg = gw.make_playground(method="ga", meta_iterations=100, n_tasks=5, train=False,
                            live_every=0.1, min_redraw_seconds=0)
    pngs, messages = [], []
    pg.plots["weights"].image.observe(lambda change: pngs.append(change["new"]), names="value")
    pg.status.observe(lambda change: messages.append(change["new"]), names="value")
    pg.train_button.click()
    assert len(pngs) == 10  # after iterations 10, 20, ..., 90, and once at the end
    assert len({bytes(png) for png in pngs}) == 10  # every redraw showed something new
    assert any("iteration 50/100" in m for m in messages)
    assert "done in" in messages[-1]


def test_short_runs_are_not_slowed_by_live_redraws() -> None:
    pg = gw.make_playground(method="ga", meta_iterations=100, n_tasks=5, train=False,
                            min_redraw_seconds=60)
    pg.train_button.click()
    assert {plot.renders for plot in pg.plots.values()} == {1}


@pytest.mark.parametrize("settings, name", [
    ({"method": "sgd"}, "method"), ({"n_tasks": 40}, "n_tasks"), ({"alpha": 0.0}, "alpha"),
    ({"meta_iterations": 10}, "meta_iterations"), ({"seed": -1}, "seed"),
    ({"corrupt_frac": 1.5}, "corrupt_frac"),
    ({"corruption": "swap"}, "corruption"), ({"live_every": 0}, "live_every"),
    ({"method": "Reptile"}, "method"), ({"method": "maml+joint"}, "method"),
    ({"family": "cubic"}, "family"), ({"preset": "finn"}, "preset"),
    ({"amplitude": (0.0, 5.0)}, "amplitude"), ({"amplitude": (3.0, 2.0)}, "amplitude"),
    ({"amplitude": 2.0}, "amplitude"), ({"phase": (0.0, 1.0)}, "phase"),
    ({"hidden": 2}, "hidden"), ({"hidden": 40.5}, "hidden"), ({"sine_beta": 1.0}, "sine_beta"),
    ({"activation": "sigmoid"}, "activation"),
    ({"normalization": "l1"}, "normalization"), ({"normalization": None}, "normalization"),
    ({"min_redraw_seconds": -1}, "min_redraw_seconds"),
])
def test_make_playground_validates_its_arguments(settings, name) -> None:
    with pytest.raises(ValueError, match=name):
        gw.make_playground(train=False, **settings)


@pytest.mark.parametrize("method", gw.PLAYGROUND_METHODS)
@pytest.mark.parametrize("normalization", gh.NORMALIZATIONS)
def test_make_playground_starts_with_the_given_method_and_normalization(method, normalization):
    pg = gw.make_playground(method=method, normalization=normalization, corruption="outlier",
                            train=False)
    assert pg.controls["method"].value == method
    assert pg.controls["normalization"].value == normalization
    assert pg.controls["corruption"].value == "outlier"
    configs = pg.configs()
    assert [c.method for c in configs] == list(gw.PLAYGROUND_CHOICES[method][1])
    assert {(c.normalization, c.corruption) for c in configs} == {(normalization, "outlier")}


def test_display_shows_the_widget_with_a_short_text_fallback(playground) -> None:
    bundle = playground._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == \
        playground.widget.model_id
    assert "run the notebook in Jupyter" in bundle["text/plain"]


def test_widgets_leave_no_pyplot_figures() -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    gw.make_playground(meta_iterations=50)
    gw.make_gd_explorer()
    assert plt.get_fignums() == before


def loaded_in_a_fresh_interpreter(code: str) -> list[list[str]]:
    """Run ``code`` in a new Python; after each line ``# check`` it records which of the widget
    stack's modules are loaded. Returns one sorted list of module names per check."""
    stack = ("ipywidgets", "matplotlib", "matplotlib.pyplot")
    program = [f"import sys\nSTACK = {stack!r}"]
    for line in code.strip().splitlines():
        program.append(line.replace("# check", "").rstrip())
        if line.rstrip().endswith("# check"):
            program.append("print(sorted(m for m in STACK if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", "\n".join(program)], capture_output=True,
                            text=True, check=True, timeout=120)
    return [ast.literal_eval(line) for line in result.stdout.splitlines()]


def test_importing_the_helpers_does_not_load_the_widget_stack() -> None:
    assert loaded_in_a_fresh_interpreter("import gamaml_helpers  # check") == [[]]


def test_importing_the_widgets_loads_ipywidgets_only_when_a_widget_is_built() -> None:
    """``import gamaml_widgets`` costs numpy only; building a widget loads ipywidgets and
    matplotlib, and never pyplot (the plots are plain Figures)."""
    loaded = loaded_in_a_fresh_interpreter("""
import gamaml_widgets as gw  # check
gw.RANGES["alpha"], gw.PLAYGROUND_SLIDERS, gw.ERROR_COLOR  # check
gw.make_playground(meta_iterations=50)  # check
""")
    assert loaded == [[], [], ["ipywidgets", "matplotlib"]]


# ---------------------------------------------------------------------------------------------
# The playground's sine family, joint training, the preset, the noise band, the status line
# ---------------------------------------------------------------------------------------------

SINE_ONLY = {"sine_alpha", "sine_beta", "amplitude", "phase", "hidden", "activation"}
LINEAR_ONLY = {"alpha", "beta", "n_features", "spread", "minority_frac"}
NAN = re.compile(r"\b(nan|inf)\b", re.IGNORECASE)


def shown(dashboard: gw.Dashboard, name: str) -> bool:
    return dashboard.controls[name].layout.display != "none"


@pytest.fixture
def sine_playground() -> gw.Playground:
    """A playground on sine waves, MAML and joint, trained once with small settings (fast)."""
    return gw.make_playground(family="sine", method="maml-joint", n_tasks=5, k_shot=5,
                              meta_iterations=50, hidden=10, corrupt_frac=0.0,
                              min_redraw_seconds=60)


def test_family_control_shows_only_the_selected_familys_controls() -> None:
    pg = gw.make_playground(train=False)
    assert pg.controls["family"].options == ("linear", "sine")
    assert pg.controls["family"].value == "linear"  # the default, as before
    assert set(gw.FAMILY_CONTROLS["sine"]) == SINE_ONLY
    assert set(gw.FAMILY_CONTROLS["linear"]) == LINEAR_ONLY
    for family, hidden in (("sine", LINEAR_ONLY), ("linear", SINE_ONLY), ("sine", LINEAR_ONLY)):
        pg.controls["family"].value = family
        assert {name for name in pg.controls if not shown(pg, name)} == hidden, family
        assert pg.controls["corruption"].tooltips == tuple(gw.CORRUPTION_TOOLTIPS[family])
    assert pg.controls["phase"].layout.display == "flex"  # a choice: its label beside it
    assert pg.controls["activation"].options == gh.ACTIVATIONS
    assert dict(pg.controls["phase"].options) == {"[0, π]": (0.0, math.pi),
                                                  "[0, 2π]": (0.0, 2 * math.pi)}
    for method, (normalization, order) in {"maml-joint": (True, False), "joint": (True, True),
                                           "ga": (False, False)}.items():
        pg.controls["method"].value = method  # greying out works as on the linear family
        assert (pg.controls["normalization"].disabled, pg.controls["first_order"].disabled) \
            == (normalization, order), method
    assert pg.runs == 0  # switching the family does not train


def test_make_playground_starts_on_sine_waves_with_the_given_settings() -> None:
    pg = gw.make_playground(family="sine", amplitude=(0.5, 2.0), phase=(0.0, 2 * math.pi),
                            hidden=20, activation="tanh", sine_alpha=0.02, sine_beta=0.003,
                            method="maml-joint", train=False)
    assert not shown(pg, "n_features") and shown(pg, "amplitude")
    configs = pg.configs()
    assert [c.method for c in configs] == ["maml", "joint"]
    for c in configs:
        assert isinstance(c, gh.SineConfig)
        assert (c.amplitude, c.phase, c.hidden, c.activation, c.outer) == \
            ((0.5, 2.0), (0.0, 2 * math.pi), (20, 20), "tanh", "adam")
        assert (c.alpha, c.beta) == pytest.approx((0.02, 0.003))
        assert (c.eval_tasks, c.eval_query) == (gw.SINE_EVAL_TASKS, gw.SINE_EVAL_QUERY)
    defaults = gw.make_playground(train=False).values()  # Finn et al.'s rates for sine waves
    assert (defaults["sine_alpha"], defaults["sine_beta"]) == pytest.approx((0.01, 1e-3))
    assert (defaults["alpha"], defaults["beta"]) == (1.0, 1.0)  # the linear family's, as before


def test_sine_family_trains_with_its_settings_and_draws(sine_playground) -> None:
    pg = sine_playground
    before = images(pg)
    set_controls(pg, method="both", amplitude=(1.0, 3.0), phase=(0.0, 2 * math.pi), hidden=15,
                 activation="tanh", inner_steps=2, sine_alpha=0.02, sine_beta=0.003,
                 corrupt_frac=0.4, corruption="outlier", seed=3)
    pg.train_button.click()
    assert list(pg.histories) == ["maml", "ga"]
    for history in pg.histories.values():
        c = history.config
        assert isinstance(c, gh.SineConfig)
        assert (c.amplitude, c.phase, c.hidden, c.activation, c.inner_steps, c.outer, c.seed,
                c.corruption) == ((1.0, 3.0), (0.0, 2 * math.pi), (15, 15), "tanh", 2, "adam",
                                  3, "outlier")
        assert (c.alpha, c.beta) == pytest.approx((0.02, 0.003))
        assert history.theta.shape == (gh.make_model(c).n_params,)
        assert history.score_name == "mse" and history.iterations_done == 50
        np.testing.assert_array_equal(history.corrupted.sum(axis=1), 2)  # 0.4 of 5 tasks
    assert pg.message.startswith("sine waves, A in [1, 3], phase in [0, 2π], T=5, alpha=0.02, "
                                 "beta=0.003 (Adam), hidden 15-15 tanh, inner steps=2: done in")
    assert "held-out MSE after adaptation (250 tasks, ± 1 s.e.): MAML " in pg.message
    assert "GA-MAML mean weight (paper): clean" in pg.message
    after = images(pg)
    assert all(after[name] != before[name] for name in before)
    assert pg.plots["accuracy"].axes[0].get_ylabel() == "query MSE"
    assert pg.plots["loss"].axes[0].get_ylabel() == "mean query MSE"
    assert pg.controls["alpha"].value == 1.0  # the linear family keeps its own rates

    pg.controls["family"].value = "linear"  # and back: the linear family trains again
    pg.train_button.click()
    assert all(isinstance(h.config, gh.LinearConfig) for h in pg.histories.values())
    assert pg.message.startswith("T=5, alpha=1, beta=1, d=50,")


@pytest.mark.parametrize("family", ["linear", "sine"])
def test_joint_training_beside_maml_on_both_families(family) -> None:
    pg = gw.make_playground(family=family, method="maml-joint", n_tasks=5, k_shot=5,
                            meta_iterations=50, hidden=10, min_redraw_seconds=60)
    assert list(pg.histories) == ["maml", "joint"]
    maml, joint = pg.histories["maml"], pg.histories["joint"]
    assert joint.config.method == "joint"
    np.testing.assert_array_equal(maml.theta_init, joint.theta_init)  # same seed, same start
    np.testing.assert_array_equal(maml.corrupted, joint.corrupted)  # and the same batches
    np.testing.assert_allclose(joint.weights, 1 / 5)
    assert f", joint {joint.eval_score[-1]:.3f} ± " in pg.message
    for plot in ("loss", "accuracy"):
        handles, labels = pg.plots[plot].axes[0].get_legend_handles_labels()
        assert labels[:2] == ["MAML", "joint"]
        assert [h.get_color() for h in handles[:2]] == [gh.COLORS["maml"], gh.COLORS["joint"]]
    pg.controls["method"].value = "joint"
    pg.train_button.click()
    assert list(pg.histories) == ["joint"] and "done in" in pg.message


def test_preset_shows_maml_well_ahead_of_joint_on_sine_waves() -> None:
    """The preset's point: with the default seed, MAML's held-out MSE after one step is below
    joint training's by many standard errors (measured: 1.117 against 2.978, s.e. 0.079 and
    0.171)."""
    pg = gw.make_playground(preset="sine-finn", min_redraw_seconds=60)
    assert list(pg.histories) == ["maml", "joint"]
    c = pg.histories["maml"].config
    assert isinstance(c, gh.SineConfig)
    assert (c.amplitude, c.phase, c.n_tasks, c.k_shot, c.inner_steps, c.hidden, c.activation,
            c.outer, c.seed, c.corrupt_frac) == ((0.1, 5.0), (0.0, math.pi), 25, 10, 1,
                                                 (40, 40), "relu", "adam", 0, 0.0)
    assert c.alpha == pytest.approx(0.01)
    mse = {m: h.eval_score[-1] for m, h in pg.histories.items()}
    se = {m: errors[-1] for m, errors in pg.standard_errors.items()}
    assert mse["maml"] < mse["joint"]
    assert mse["joint"] - mse["maml"] > 5 * max(se.values())  # far beyond the noise
    assert "sine waves, A in [0.1, 5], phase in [0, π], T=25" in pg.message


def test_preset_list_sets_the_controls_without_training() -> None:
    pg = gw.make_playground(train=False)
    start = pg.values()
    assert dict(pg.preset.options) == {"choose a preset…": "", "sine: MAML vs joint (Finn)":
                                       "sine-finn", "the starting settings": "start"}
    pg.preset.value = "sine-finn"  # as choosing it in the list does
    assert pg.preset.value == ""  # back to its prompt: the same preset can be chosen again
    for name, value in gw.PLAYGROUND_PRESETS["sine-finn"][1].items():
        assert pg.controls[name].value == pytest.approx(value), name
    assert shown(pg, "amplitude") and not shown(pg, "spread")
    assert pg.runs == 0 and {p.renders for p in pg.plots.values()} == {0}
    assert "press Train" in pg.message
    pg.apply_preset("start")
    assert pg.values() == start
    with pytest.raises(ValueError, match="preset"):
        pg.apply_preset("finn")


def test_held_out_band_is_one_standard_error_over_the_held_out_tasks(sine_playground,
                                                                      playground) -> None:
    for pg in (sine_playground, playground):
        ax = pg.plots["accuracy"].axes[0]
        bands = ax.collections  # one fill_between per method
        assert len(bands) == len(pg.histories)
        for band, (method, history) in zip(bands, pg.histories.items(), strict=True):
            c, errors = history.config, pg.standard_errors[method]
            assert errors.shape == history.eval_iterations.shape
            assert np.isfinite(errors).all() and (errors > 0).all()
            per_task = gh.adapt_and_evaluate(history.theta, gh.make_eval_tasks(c), c.alpha,
                                             steps=c.inner_steps,
                                             model=gh.make_model(c)).score_after
            assert per_task.mean() == pytest.approx(history.eval_score[-1], rel=1e-12)
            assert errors[-1] == pytest.approx(per_task.std(ddof=1) / np.sqrt(per_task.size),
                                               rel=1e-12)
            y = band.get_paths()[0].vertices[:, 1]
            assert y.max() == pytest.approx((history.eval_score + errors).max())
            assert y.min() == pytest.approx((history.eval_score - errors).min())
            assert tuple(band.get_facecolor()[0][:3]) == pytest.approx(
                matplotlib.colors.to_rgb(gh.COLORS[method]))
        tasks = next(iter(pg.histories.values())).config.eval_tasks  # 250 waves, 500 linear
        assert f"± 1 s.e. ({tasks} tasks)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert playground.standard_errors["maml"][-1] < 0.005  # the linear panel's noise scale


@pytest.mark.parametrize("family", ["linear", "sine"])
def test_status_lines_never_show_nan(family) -> None:
    """No clean tasks, no corrupted tasks, a diverged run, an invalid setting: every status
    line, live ones included, says it in words."""
    pg = gw.make_playground(family=family, n_tasks=4, k_shot=5, meta_iterations=50, hidden=10,
                            train=False, live_every=0.5, min_redraw_seconds=60)
    messages = []
    pg.status.observe(lambda _change: messages.append(pg.message), names="value")
    for settings in ({"corrupt_frac": 1.0}, {"corrupt_frac": 0.0},
                     {"corrupt_frac": 1.0, "corruption": "random", "normalization": "book"},
                     {"corrupt_frac": 0.5, "method": "maml-joint"}, {"seed": -1}):
        set_controls(pg, **{"method": "all", "seed": 0, **settings})
        pg.train_button.click()
    assert sum("no clean tasks" in m for m in messages) == 2  # GA-MAML, GA-Reptile
    assert "seed must be" in messages[-1]
    set_controls(pg, seed=0, method="maml")
    for rate in ("alpha", "beta") if family == "linear" else ("sine_beta",):
        pg.controls[rate].max = 250  # exponent: 10**250
        pg.controls[rate].value = 1e200
    pg.train_button.click()
    assert "diverged" in pg.message
    assert len(messages) > 10
    for message in messages:
        assert not NAN.search(message), message


def test_a_score_that_is_not_finite_is_said_in_words(playground) -> None:
    playground.histories["maml"].eval_score[-1] = np.inf  # as an overflowing adaptation gives
    playground.standard_errors["maml"][-1] = np.nan
    text = playground.summary(0.5)
    assert "MAML no finite score (the adaptation overflowed), GA-MAML 0." in text
    assert not NAN.search(text)


def test_sine_family_reports_invalid_settings_and_recovers(sine_playground) -> None:
    pg, histories = sine_playground, sine_playground.histories
    pg.controls["seed"].value = -1
    pg.train_button.click()  # must not raise
    assert pg.message == "not trained: seed must be an integer >= 0, got -1"
    assert pg.histories is histories and pg.runs == 1 and not pg.train_button.disabled
    pg.controls["seed"].value = 0
    pg.controls["sine_beta"].max = 250
    pg.controls["sine_beta"].value = 1e200  # Adam's step is about beta: theta overflows
    pg.train_button.click()
    assert "diverged" in pg.message and "lower beta" in pg.message
    assert pg.histories is histories
    pg.controls["sine_beta"].value = 0.001
    pg.train_button.click()
    assert "done in" in pg.message and pg.runs == 2


# ---------------------------------------------------------------------------------------------
# One table of slider ranges, read by the sliders and by the validation
# ---------------------------------------------------------------------------------------------


def range_of(slider) -> gw.SliderRange:
    """The range a slider widget actually offers, as a SliderRange."""
    kind = {"FloatLogSlider": "log", "IntSlider": "int", "FloatSlider": "float",
            "FloatRangeSlider": "float"}[type(slider).__name__]
    if kind == "log":
        assert slider.base == 10
        return gw.SliderRange(10.0 ** slider.min, 10.0 ** slider.max, slider.step, kind)
    return gw.SliderRange(slider.min, slider.max, slider.step, kind)


def assert_same_range(slider, expected: gw.SliderRange, name: str) -> None:
    actual = range_of(slider)
    assert actual.kind == expected.kind, name
    assert (actual.low, actual.high, actual.step) == pytest.approx(
        (expected.low, expected.high, expected.step), rel=1e-12), name


@pytest.mark.parametrize("factory, table_names", [
    (lambda: gw.make_playground(train=False),
     {**{n: n for n in gw.PLAYGROUND_SLIDERS}, "amplitude": "amplitude"}),
    (gw.make_gd_explorer, {"lr": "lr", "steps": "steps", "k_shot": "gd_k_shot"}),
    (lambda: gw.make_maml_explorer(meta_iterations=50),
     {"alpha": "alpha", "beta": "beta", "n_tasks": "n_tasks"}),
    (lambda: gw.make_ga_explorer(meta_iterations=50),
     {"corrupt_frac": "ga_corrupt_frac", "alpha": "alpha", "beta": "beta"}),
], ids=["playground", "gd-explorer", "maml-explorer", "ga-explorer"])
def test_every_slider_offers_its_range_from_the_table(factory, table_names) -> None:
    dashboard = factory()
    sliders = {name: c for name, c in dashboard.controls.items()
               if type(c).__name__.endswith("Slider")}
    assert set(sliders) == set(table_names)  # no slider outside the table
    for control, key in table_names.items():
        assert_same_range(sliders[control], gw.RANGES[key], control)


def test_the_rates_range_from_a_hundredth_to_a_hundred() -> None:
    """The numbers the notebooks' text quotes (05: "tasks per batch (2 to 32)")."""
    for name in ("alpha", "beta", "lr"):
        assert (gw.RANGES[name].low, gw.RANGES[name].high, gw.RANGES[name].kind) == \
            (0.01, 100.0, "log")
    assert (gw.RANGES["n_tasks"].low, gw.RANGES["n_tasks"].high) == (2, 32)


@pytest.mark.parametrize("name", list(gw.PLAYGROUND_SLIDERS))
def test_make_playground_accepts_its_ranges_edges_and_nothing_beyond(name) -> None:
    r = gw.RANGES[name]
    for edge in (r.low, r.high):
        pg = gw.make_playground(train=False, **{name: edge})
        assert pg.controls[name].value == pytest.approx(edge)  # not clamped
    below, above = (r.low / 10 ** r.step, r.high * 10 ** r.step) if r.kind == "log" else \
        (r.low - r.step, r.high + r.step)
    for outside in (below, above):
        with pytest.raises(ValueError, match=rf"^{name} must be a number in \["):
            gw.make_playground(train=False, **{name: outside})


def test_one_table_change_moves_both_the_slider_and_the_validation(monkeypatch) -> None:
    monkeypatch.setitem(gw.RANGES, "n_tasks", gw.SliderRange(2, 64))
    pg = gw.make_playground(train=False, n_tasks=50)  # was out of range
    assert (pg.controls["n_tasks"].max, pg.controls["n_tasks"].value) == (64, 50)
    with pytest.raises(ValueError, match=r"n_tasks must be a number in \[2, 64\], got 65"):
        gw.make_playground(train=False, n_tasks=65)
    assert gw.make_maml_explorer(meta_iterations=50).controls["n_tasks"].max == 64


@pytest.mark.parametrize("args, kwargs", [
    ((1, 1), {}), ((2, 1), {}), ((0, 1), {"step": 0}), ((0.0, 1.0), {"kind": "exp"}),
    ((0.0, 1.0), {"kind": "log"})])
def test_slider_range_rejects_what_no_slider_can_show(args, kwargs) -> None:
    with pytest.raises(ValueError):
        gw.SliderRange(*args, **kwargs)


def test_errors_have_their_own_colour(playground, monkeypatch) -> None:
    monkeypatch.setitem(gh.COLORS, "ga", "#123456")  # GA-MAML's colour is not the error's
    playground.say("all fine")
    assert "color" not in playground.status.value
    playground.say("broken", error=True)
    assert playground.status.value == \
        f'<span style="color: {gw.ERROR_COLOR}">⚠ broken</span>'
    assert gw.ERROR_COLOR == "#D55E00"  # Okabe-Ito vermillion, as before


def test_mean_task_weights(playground: gw.Playground) -> None:
    pg = gw.make_playground(method="ga", n_tasks=6, meta_iterations=50, corrupt_frac=0.5,
                            min_redraw_seconds=60)
    history = pg.histories["ga"]
    w, bad = history.weights[-20:], history.corrupted[-20:]
    means = gh.mean_task_weights(history, last=20)
    assert means["clean"] == pytest.approx(w[~bad].mean())
    assert means["corrupted"] == pytest.approx(w[bad].mean())
    assert np.isnan(gh.mean_task_weights(playground.histories["ga"])["corrupted"])
    with pytest.raises(ValueError, match="history"):
        gh.mean_task_weights("not a history")
    with pytest.raises(ValueError, match="last"):
        gh.mean_task_weights(history, last=0)


# ---------------------------------------------------------------------------------------------
# The three small explorers
# ---------------------------------------------------------------------------------------------


def test_gd_explorer_recomputes_when_a_control_changes() -> None:
    explorer = gw.make_gd_explorer()
    before, status = images(explorer), explorer.message
    assert before["main"].startswith(PNG_SIGNATURE)
    assert len(explorer.result["query_loss"]) == 51
    assert explorer.result["support_loss"][0] == pytest.approx(np.log(2))

    explorer.controls["steps"].value = 120
    assert len(explorer.result["query_loss"]) == 121
    assert images(explorer) != before and explorer.message != status
    assert "after 120 steps" in explorer.message

    explorer.controls["k_shot"].value = 100  # more data: the query loss must improve
    assert explorer.result["query_accuracy"][-1] > 0.7
    assert not any(c.continuous_update for c in explorer.controls.values())


def test_maml_explorer_recomputes_when_a_control_changes() -> None:
    explorer = gw.make_maml_explorer(meta_iterations=60)
    before = images(explorer)
    runs = explorer.result
    assert {k: (h.config.method, h.config.first_order) for k, h in runs.items()} == {
        "joint": ("joint", False), "fomaml": ("maml", True), "maml": ("maml", False)}
    for history in runs.values():  # same seed: the three see the same batches
        np.testing.assert_array_equal(history.theta_init, runs["maml"].theta_init)
    explorer.controls["n_tasks"].value = 17
    assert all(h.weights.shape == (60, 17) for h in explorer.result.values())
    explorer.controls["beta"].value = 0.1
    assert all(h.config.beta == pytest.approx(0.1) for h in explorer.result.values())
    assert images(explorer) != before
    assert "T=17" in explorer.message


def test_maml_explorer_draws_maml_beside_joint_and_first_order() -> None:
    explorer = gw.make_maml_explorer(meta_iterations=60)
    for ax in explorer.plot.axes:
        handles, labels = ax.get_legend_handles_labels()
        assert labels == ["joint", "FO-MAML", "MAML"]
        assert [h.get_color() for h in handles] == [gh.COLORS[k] for k in
                                                    ("joint", "fomaml", "maml")]
    final = {k: h.eval_score[-1] for k, h in explorer.result.items()}
    assert f"MAML - joint {final['maml'] - final['joint']:+.3f}" in explorer.message
    c = explorer.result["maml"].config
    assert (c.eval_tasks, c.eval_query) == (gw.EVAL_TASKS, gw.EVAL_QUERY)


def test_ga_explorer_recomputes_when_a_control_changes() -> None:
    explorer = gw.make_ga_explorer(meta_iterations=60)
    before, status = images(explorer), explorer.message
    assert np.all(explorer.result.corrupted.sum(axis=1) == 3)  # 0.3 of 10 tasks
    explorer.controls["corrupt_frac"].value = 0.5
    assert np.all(explorer.result.corrupted.sum(axis=1) == 5)
    explorer.controls["corruption"].value = "random"
    assert explorer.result.config.corruption == "random"
    assert images(explorer) != before and explorer.message != status
    explorer.controls["corrupt_frac"].value = 0.0
    assert "no corrupted tasks" in explorer.message


def test_ga_explorer_offers_the_normalizations_the_outer_updates_and_outliers() -> None:
    explorer = gw.make_ga_explorer(meta_iterations=60)
    c = explorer.result.config
    assert (c.method, c.normalization) == ("ga", "paper")
    assert explorer.message.startswith("GA-MAML, paper weights, mean w_i: clean tasks 0.")
    assert "mean sum of w_i" in explorer.message and "flip tasks 0." in explorer.message
    assert dict(explorer.controls["normalization"].options)["cosine (ours)"] == "cosine"
    np.testing.assert_allclose(np.abs(explorer.result.weights).sum(axis=1), 1.0)

    explorer.controls["normalization"].value = "book"
    assert explorer.result.config.normalization == "book"
    assert np.abs(explorer.result.weights).sum(axis=1).mean() < 0.9
    assert explorer.message.startswith("GA-MAML, book weights")

    assert explorer.plot.axes[0].get_legend_handles_labels()[1] == ["GA-MAML", "MAML"]
    assert "held-out accuracy (500 clean tasks): GA-MAML 0." in explorer.message
    assert ", MAML 0." in explorer.message
    explorer.controls["method"].value = "ga-reptile"
    assert explorer.result.config.method == "ga-reptile"
    assert explorer.plot.axes[0].get_legend_handles_labels()[1] == ["GA-Reptile", "Reptile"]
    explorer.controls["corruption"].value = "outlier"
    assert explorer.result.config.corruption == "outlier"
    assert "outlier tasks 0." in explorer.message
    np.testing.assert_array_equal(explorer.result.corrupted.sum(axis=1), 3)

    explorer = gw.make_ga_explorer(meta_iterations=60, normalization="cosine")
    assert explorer.result.config.normalization == "cosine"
    with pytest.raises(ValueError, match="normalization"):
        gw.make_ga_explorer(normalization="l2")


def test_explorer_shows_errors_and_keeps_working() -> None:
    explorer = gw.make_maml_explorer(meta_iterations=60)
    for name in ("alpha", "beta"):
        explorer.controls[name].max = 250
        explorer.controls[name].value = 1e200  # the first of these two changes is still fine
    assert "diverged" in explorer.message
    explorer.controls["beta"].value = 1.0
    assert "from the random start" in explorer.message


@pytest.mark.parametrize("factory", [gw.make_gd_explorer, gw.make_maml_explorer,
                                     gw.make_ga_explorer])
def test_explorers_validate_their_arguments(factory) -> None:
    with pytest.raises(ValueError, match="seed"):
        factory(seed=-1)


def test_live_plot_and_explorer_reject_what_they_cannot_call():
    plot = gw.LivePlot(name="bad-input")
    with pytest.raises(ValueError, match=r"\bdraw\b"):
        plot.render("not a function")
    with pytest.raises(ValueError, match=r"\bupdate\b"):
        gw.Explorer({"x": gw._slider("x", 1, gw.SliderRange(0, 2))}, None, name="bad-input")
    with pytest.raises(ValueError, match=r"\bcontrols\b"):
        gw.Explorer({}, lambda plot: (None, ""), name="bad-input")


# --- the sine explorer -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sine_thetas():
    model = gh.MLP(sizes=(1, 8, 8, 1), activation="tanh")
    config = gh.SineConfig(method="maml", alpha=0.01, beta=0.01, outer="adam",
                           n_tasks=4, meta_iterations=60, eval_every=60, eval_tasks=4,
                           hidden=(8, 8), activation="tanh", seed=2)
    trained = gh.meta_train(config).theta
    return model, {"joint": model.init(0), "maml": trained}


def test_sine_explorer_draws_every_method_and_follows_its_controls(sine_thetas):
    model, thetas = sine_thetas
    explorer = gw.make_sine_explorer(thetas, model)
    assert sorted(explorer.result) == ["joint", "maml"]
    assert all(len(curve) == 2 for curve in explorer.result.values())  # 0 and 1 step
    renders = explorer.plot.renders
    explorer.controls["steps"].value = 5
    assert explorer.plot.renders == renders + 1
    assert all(len(curve) == 6 for curve in explorer.result.values())
    explorer.controls["method"].value = "maml"
    assert list(explorer.result) == ["maml"]
    # the curve starts at the MSE of the unadapted model on the whole wave
    grid = np.linspace(-5.0, 5.0, 200)
    amplitude, phase = explorer.controls["amplitude"].value, explorer.controls["phase"].value
    truth = amplitude * np.sin(grid - phase)
    expected = float(model.loss(thetas["maml"], grid[:, None], truth))
    np.testing.assert_allclose(explorer.result["maml"][0], expected, rtol=1e-12)
    assert "MSE on the whole wave after 5 step(s)" in explorer.status.value


@pytest.mark.parametrize("thetas, match", [({}, "thetas"), ({"maml": np.zeros(3)}, "thetas")])
def test_sine_explorer_rejects_bad_parameters(sine_thetas, thetas, match):
    model, _ = sine_thetas
    with pytest.raises(ValueError, match=match):
        gw.make_sine_explorer(thetas, model)
    with pytest.raises(ValueError, match="alpha"):
        gw.make_sine_explorer(sine_thetas[1], model, alpha=0.0)


def _legend_is_clear(figure) -> list[str]:
    """Every legend of a figure: inside the figure and clear of every other axes' labels,
    ticks and title (their tight boxes). Returns what overlaps, empty when all is clear."""
    renderer = figure.canvas.get_renderer()
    problems = []
    for ax in figure.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        box = legend.get_window_extent(renderer)
        if not figure.bbox.contains(box.x0, box.y0) or not figure.bbox.contains(box.x1, box.y1):
            problems.append(f"legend of '{ax.get_title()}' leaves the figure")
        for other in figure.axes:
            if other is not ax and box.overlaps(other.get_tightbbox(renderer)):
                problems.append(f"legend of '{ax.get_title()}' covers '{other.get_title()}'")
    return problems


@pytest.mark.parametrize("amplitude", [0.5, 4.5])
def test_sine_explorer_legend_is_clear_of_every_axis(sine_thetas, amplitude):
    """The issue: the fit panel's legend sat on the error panel's y label and ticks."""
    model, thetas = sine_thetas
    explorer = gw.make_sine_explorer(thetas, model)
    explorer.controls["amplitude"].value = amplitude
    assert _legend_is_clear(explorer.plot.figure) == []


@pytest.mark.parametrize("preset", [None, "sine-finn"])
def test_playground_legends_are_clear_of_every_axis(preset):
    playground = gw.make_playground(**({"preset": preset} if preset else {}))
    for name, plot in playground.plots.items():
        assert _legend_is_clear(plot.figure) == [], name


def test_held_out_standard_error_names_a_bad_history():
    with pytest.raises(ValueError, match="history"):
        gw.held_out_standard_error({"theta": np.zeros(3)})
