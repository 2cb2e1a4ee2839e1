"""The sine study's report: statistics over seeds and every output file (``sine_study.py``).

``summarise`` turns the runs into the tidy summary (means, paired differences, headroom, the
sweep at every beta); ``markdown``, ``protocol``, ``figure`` and ``sweep_figure`` write
``summary.md``, ``protocol.json``, ``sine.png`` and ``plain-step.png``.
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path

import numpy as np
import studylib
from sine_design import (
    BUDGET_PAIRS,
    CORRUPTION_NOTE,
    HEADLINE_STEPS,
    MAX_STEPS,
    METHODS,
    REPTILE_PAIR,
    Budget,
    Experiment,
    inner_lr,
    outer_lr,
    plain_lr,
)
from sine_runs import MSE_METRICS, RATIO_METRICS, WEIGHT_METRICS

import gamaml_helpers as gh

Key = tuple[str, str]  # (experiment, method)

# ---------------------------------------------------------------------------------------------
# Statistics: means, paired differences and headroom (studylib's intervals)
# ---------------------------------------------------------------------------------------------


SUMMARY_KEY = ("experiment", "kind", "name", "metric")  # the columns that key a summary row


def summary_row(experiment: str, kind: str, name: str, metric: str, values=None,
                pair=None) -> dict:
    """Mean and 95 % half-width of the finite ``values`` (``studylib.interval``) or of the
    finite pairs ``pair = (a, b)`` (``studylib.paired_interval``, a - b); NaN where there are
    too few."""
    stats = studylib.interval(values) if pair is None else studylib.paired_interval(*pair)
    return {"experiment": experiment, "kind": kind, "name": name, "metric": metric, **stats}


def difference_name(first: str, second: str) -> str:
    """The summary name of the paired difference ``first - second``."""
    return f"{first} - {second}"


def at_beta(name: str, beta: float) -> str:
    """The summary name of a method or difference at one beta of a sweep."""
    return f"{name} @ {beta:g}"


def summarise(raw: list[dict], experiments: tuple[Experiment, ...],
              hyper: dict[Key, dict]) -> list[dict]:
    """Tidy summary: rows (experiment, kind, name, metric).

    kind "method": a method's mean (in a sweep: at its chosen beta, ``hyper``); "difference":
    ``first - second`` per seed (the experiment's pairs); "headroom": a method's MSE trained on
    this experiment's corrupted batches minus trained on its clean reference's, per seed
    (positive: the corruption costs); "sweep" and "sweep difference": a sweep's methods and
    pairs at every beta (name ``at_beta(name, beta)``).
    """
    table: dict[tuple, dict[int, dict]] = {}
    for row in raw:
        table.setdefault((row["experiment"], row["method"], row["beta"]), {})[row["seed"]] = row
    by_name = {e.name: e for e in experiments}
    out = []

    def runs(key: Key, beta: float | None = None) -> dict[int, dict]:
        return table[(*key, hyper[key]["beta"] if beta is None else beta)]

    def paired(key_a: Key, key_b: Key, metric: str, beta: float | None = None):
        return studylib.seed_pairs(runs(key_a, beta), runs(key_b, beta), metric)

    def method_rows(e: Experiment, m: str, kind: str, name: str, rows: dict) -> list[dict]:
        metrics = MSE_METRICS + (WEIGHT_METRICS + RATIO_METRICS if METHODS[m].weighted else ())
        return [summary_row(e.name, kind, name, metric, [rows[s][metric] for s in sorted(rows)])
                for metric in metrics]

    for e in experiments:
        for m in e.methods:
            out += method_rows(e, m, "method", m, runs((e.name, m)))
        for first, second in e.pairs:
            out.extend(summary_row(e.name, "difference", difference_name(first, second), metric,
                                   pair=paired((e.name, first), (e.name, second), metric))
                       for metric in MSE_METRICS)
        if e.clean_reference:
            for m in e.methods:
                if m in by_name[e.clean_reference].methods:
                    out.extend(summary_row(e.name, "headroom", m, metric,
                                           pair=paired((e.name, m), (e.clean_reference, m),
                                                       metric))
                               for metric in MSE_METRICS)
        for beta in sweep_betas(raw, e):
            for m in e.methods:
                out += method_rows(e, m, "sweep", at_beta(m, beta), runs((e.name, m), beta))
            for first, second in e.pairs:
                out.extend(summary_row(e.name, "sweep difference",
                                       at_beta(difference_name(first, second), beta), metric,
                                       pair=paired((e.name, first), (e.name, second), metric,
                                                   beta))
                           for metric in MSE_METRICS)
    return out


def sweep_betas(raw: list[dict], e: Experiment) -> list[float]:
    """The betas a sweep experiment ran on the test seeds, in order (none for the others)."""
    if e.tuning != "sweep":
        return []
    return sorted({r["beta"] for r in raw if r["experiment"] == e.name})


# ---------------------------------------------------------------------------------------------
# Output files
# ---------------------------------------------------------------------------------------------


OUTER_NAME = {"adam": "Adam lr β", "sgd": "plain-step β"}
OUTER_SHORT = {"adam": "Adam", "sgd": "plain"}
OUTER_RULE = {"adam": "Adam outer update",
              "sgd": "plain outer step θ ← θ − β · direction (the paper's Algorithm 1)"}


def _steps_header(e: Experiment) -> list[str]:
    return [f"{s} step{'s' * (s != 1)}" + (" (protocol)" if s == e.protocol_steps else "")
            for s in HEADLINE_STEPS]


def _range(r: tuple[float, float]) -> str:
    def one(v: float) -> str:
        return {math.pi: "π", 2 * math.pi: "2π"}.get(v, f"{v:g}")

    return f"U[{one(r[0])}, {one(r[1])}]"


def _lr(value: float, where: str) -> str:
    """A learning rate and, if its choice is not interior or fixed, its mark (e.g. "S")."""
    mark = studylib.STATUS_MARK[where]
    return f"{value:g}" + (f" ({mark})" if mark else "")


def mse_table(s: dict, e: Experiment, hyper: dict, seeds: int) -> list[str]:
    """Per method of ``e``: its learning rates and test MSE after the headline steps."""
    paper = dict(e.paper)
    header = ["Method", "inner lr α", OUTER_NAME[e.outer], *_steps_header(e)]
    if paper:
        header.append(f"paper ({e.protocol_steps} steps)")
    rows = []
    for m in e.methods:
        h = hyper[e.name, m]
        row = [METHODS[m].label, _lr(h["alpha"], h["alpha_status"]),
               _lr(h["beta"], h["beta_status"]),
               *(_counted(s, (e.name, "method", m, f"mse_{k}"), seeds) for k in HEADLINE_STEPS)]
        if paper:
            row.append(f"{paper[m]:.2f}" if m in paper else "")
        rows.append(row)
    return studylib.markdown_table(header, rows)


def mse_differences(s: dict, e: Experiment, seeds: int, kind: str = "difference") -> list[str]:
    """The paired differences of ``e`` (or, kind "headroom", its headroom) in test MSE."""
    if kind == "difference":
        names = [(difference_name(a, b), f"{METHODS[a].label} − {METHODS[b].label}")
                 for a, b in e.pairs]
    else:
        names = [(m, METHODS[m].label) for m in e.methods
                 if (e.name, "headroom", m, "mse_0") in s]
    return studylib.markdown_table(["Paired difference" if kind == "difference" else "Headroom of",
                           *_steps_header(e)],
                          [[label, *(_counted(s, (e.name, kind, name, f"mse_{k}"), seeds, True)
                                     for k in HEADLINE_STEPS)] for name, label in names])


def _counted(s: dict, key: tuple, seeds: int, signed: bool = False, digits: int = 3) -> str:
    """``cell`` and, when runs are missing (diverged), how many the mean is over."""
    text = studylib.cell(s, key, signed, digits)
    n = s[key]["n"] if key in s else 0
    return text if n == seeds else f"{text} ({n} of {seeds} runs)"


def shared_beta_table(s: dict, e: Experiment, raw: list[dict], hyper: dict,
                      seeds: int) -> list[str]:
    """A sweep at every beta: each method's test MSE after the protocol's steps, the paired
    differences, GA's step-length ratio and the methods whose validated best it is."""
    metric = f"mse_{e.protocol_steps}"
    ga = [m for m in e.methods if METHODS[m].weighted]
    header = ["β (plain step)", *(METHODS[m].label for m in e.methods),
              *(f"{METHODS[a].label} − {METHODS[b].label}" for a, b in e.pairs),
              *(f"{METHODS[m].label} step ÷ uniform step (training / last quarter)" for m in ga),
              "validated best of"]
    rows = []
    for beta in sweep_betas(raw, e):
        best = [METHODS[m].label for m in e.methods if hyper[e.name, m]["beta"] == beta]
        rows.append([
            f"{beta:g}",
            *(_counted(s, (e.name, "sweep", at_beta(m, beta), metric), seeds)
              for m in e.methods),
            *(_counted(s, (e.name, "sweep difference", at_beta(difference_name(a, b), beta),
                           metric), seeds, signed=True) for a, b in e.pairs),
            *(studylib.cell(s, (e.name, "sweep", at_beta(m, beta), "step_ratio"), digits=2)
              + " / " + studylib.cell(s, (e.name, "sweep", at_beta(m, beta), "step_ratio_end"),
                                      digits=2) for m in ga),
            ", ".join(best)])
    return studylib.markdown_table(header, rows)


def budget_table(s: dict, experiments: tuple[Experiment, ...], budget: Budget,
                 hyper: dict) -> list[str]:
    """``BUDGET_PAIRS``: the same comparison after the short and the long budget."""
    names = {e.name: e for e in experiments}
    rows = []
    for label, short, long in BUDGET_PAIRS:
        if short not in names or long not in names:
            continue
        for e in (names[short], names[long]):
            metric = f"mse_{e.protocol_steps}"
            rows.append([label, f"{e.iterations(budget):,}",
                         *(f"{_counted(s, (e.name, 'method', m, metric), budget.seeds)} "
                           f"(β {hyper[e.name, m]['beta']:g})" for m in REPTILE_PAIR),
                         _counted(s, (e.name, "difference",
                                      difference_name(*REPTILE_PAIR[::-1]), metric),
                                  budget.seeds, signed=True)])
    if not rows:
        return []
    return studylib.markdown_table(
        ["outer step", "meta-iterations", *(METHODS[m].label for m in REPTILE_PAIR),
         f"{METHODS[REPTILE_PAIR[1]].label} − {METHODS[REPTILE_PAIR[0]].label}"], rows)


def ratio_table(s: dict, experiments: tuple[Experiment, ...], hyper: dict) -> list[str]:
    """GA's step length over the uniform step length, in every experiment that runs GA."""
    rows = [[e.name, METHODS[m].label, OUTER_SHORT[e.outer],
             f"{hyper[e.name, m]['beta']:g}",
             studylib.cell(s, (e.name, "method", m, "step_ratio"), digits=2),
             studylib.cell(s, (e.name, "method", m, "step_ratio_end"), digits=2)]
            for e in experiments for m in e.methods if METHODS[m].weighted]
    return studylib.markdown_table(["Experiment", "Method", "outer step", "β",
                                    "median over training", "median, last quarter"], rows)


def weights_table(s: dict, e: Experiment) -> list[str]:
    rows = []
    for m in e.methods:
        if not METHODS[m].weighted:
            continue
        get = {metric: s[e.name, "method", m, metric]["mean"] for metric in WEIGHT_METRICS}
        ratio = get["w_corrupted"] / get["w_clean"] if get["w_clean"] else math.nan
        rows.append([METHODS[m].label, studylib.cell(s, (e.name, "method", m, "w_clean")),
                     studylib.cell(s, (e.name, "method", m, "w_corrupted")),
                     f"{ratio:.2f}" if math.isfinite(ratio) else "n/a",
                     studylib.cell(s, (e.name, "method", m, "w_sum"))])
    return studylib.markdown_table(["Method", "mean w, clean tasks", "mean w, corrupted tasks",
                           "corrupted ÷ clean", "Σ_i w_i per meta-step"], rows)


def protocol_text(e: Experiment, budget: Budget) -> str:
    sizes = "-".join(map(str, e.sizes))
    corrupt = (f", {e.corrupt_frac:.0%} of every meta-batch corrupted ({e.corruption})"
               if e.corrupt_frac else "")
    return (f"MLP {sizes} ({e.activation}); amplitude {_range(e.amplitude)}, phase "
            f"{_range(e.phase)}, x {_range(e.x_range)}; K = {e.k_shot} support and "
            f"{e.k_shot} query points in training, {e.inner_steps} inner step"
            f"{'s' * (e.inner_steps != 1)}{corrupt}; {e.iterations(budget)} meta-iterations of "
            f"{e.n_tasks(budget)} tasks, {OUTER_RULE[e.outer]}; test: {budget.eval_tasks} fresh "
            f"tasks per seed, {e.k_shot} support and {budget.eval_query} query points, "
            f"0..{MAX_STEPS} steps at the inner learning rate; protocol: {e.protocol_steps} step"
            f"{'s' * (e.protocol_steps != 1)}.")


def tried_lines(experiments, budget: Budget, hyper: dict, scored: list[dict]) -> list[str]:
    """The tuning grid, every point's validation MSE and the chosen values."""
    inner = ", ".join(f"{inner_lr(j):g}" for j in sorted(budget.inner_lr_exponents))
    outer = ", ".join(f"{outer_lr(k):g}" for k in sorted(budget.outer_lr_exponents))
    lines = [
        f"Starting grids: Adam's learning rate β in {{{outer}}}, inner learning rate α in "
        f"{{{inner}}} (a one-value grid is fixed, not tuned). Every point is meta-trained on "
        f"{budget.val_seeds} validation seed(s) (training seeds {studylib.VAL_SEED_OFFSET}, ...) "
        "and "
        f"scored by the mean MSE after the protocol's steps on {budget.val_tasks} fresh "
        "validation tasks per seed (ties: smaller β, then α); a point that diverged on any "
        "validation seed is never chosen. A choice at an edge of a tuned grid gets the next "
        f"value beyond it (log grid, ratio about 3), up to {budget.max_extensions} rounds "
        "(the rule of `ga_vs_maml.py`). Then an inner learning rate that is the largest stable "
        "value at its β is bisected towards the value that diverged (geometric midpoint), up "
        f"to {budget.refine_rounds} times, and the choice made again (rounds after "
        f"{budget.max_extensions}). Every method of an experiment has the same starting "
        "grid, seeds and rounds. Marks: S = the largest stable value (the next larger one "
        "diverged), E↑ / E↓ = still at the upper / lower edge when the rounds ran out, D = every "
        "point diverged (the smallest values tried were used).", ""]
    for e in experiments:
        if e.tuning == "fixed":
            lines += [f"{e.name}: not tuned, α = {e.alpha:g}, β = {e.beta:g} for every method "
                      "(Finn et al.'s values)." if e.name == "finn" else
                      f"{e.name}: not tuned, α = {e.alpha:g}, β = {e.beta:g}.", ""]
        elif e.tuning == "sweep":
            betas = ", ".join(f"{plain_lr(k):g}" for k in sorted(budget.plain_lr_exponents))
            lines += [f"{e.name}: the plain step's β swept, starting from {{{betas}}}; every β "
                      "is run on the validation and the test seeds; while a method's best "
                      "sits at an edge, the next β beyond it is added for every method (up to "
                      f"{budget.max_extensions} rounds); the inner learning rate is "
                      f"{e.alpha_from}'s.", ""]
        elif e.tuning != "grid":
            lines += [f"{e.name}: not tuned; each method takes the values chosen in "
                      f"{e.tuning} (" + ", ".join(
                          f"{METHODS[m].label} from {hyper[e.name, m]['source']}"
                          for m in e.methods) + ").", ""]
    chosen_rows = [[e.name, METHODS[m].label, _lr(hyper[e.name, m]["alpha"],
                                                 hyper[e.name, m]["alpha_status"]),
                    _lr(hyper[e.name, m]["beta"], hyper[e.name, m]["beta_status"]),
                    hyper[e.name, m]["source"]] for e in experiments for m in e.methods]
    lines += ["Chosen values (inner learning rate α, outer learning rate β):", "",
              *studylib.markdown_table(["Experiment", "Method", "α", "β", "set by"], chosen_rows)]
    rows = []
    for r in scored:
        mse = f"{r['val_mse']:.4f}" if math.isfinite(r["val_mse"]) else \
            f"diverged ({r['diverged_runs']} of {r['runs']})"
        rows.append([r["experiment"], METHODS[r["method"]].label, f"{r['alpha']:g}",
                     f"{r['beta']:g}", str(r["round"]), f"**{mse}**" if r["chosen"] else mse])
    if rows:
        lines += ["Every grid point (chosen in bold; round 0 = the starting grid):", "",
                  *studylib.markdown_table(["Experiment", "Method", "α", "β", "round",
                                   "validation MSE"], rows)]
    return lines


def markdown(summary_rows, experiments, budget: Budget, hyper: dict, scored: list[dict],
             raw: list[dict], command: str) -> str:
    s = studylib.index(summary_rows, SUMMARY_KEY)
    lines = [
        "# Sine-wave regression: MAML, Reptile and gradient agreement", "",
        f"Generated by `benchmarks/sine_study.py` ({budget.seeds} test seeds). Every cell: mean "
        "test MSE over seeds ± half-width of the 95 % t-interval (lower is better). "
        "Differences are paired by seed (same initial theta, training batches and test "
        "tasks), first minus second: negative means the first method fits better; **bold** "
        "when the interval excludes 0. The full protocol is in `protocol.json`, every run in "
        "`raw.csv`.", "",
        f"Reproduce: `{command}`", "",
        "How long it took is not in these files, which must come out byte for byte the same on "
        "a rerun: the study prints each experiment's CPU time and the total on stderr, and the "
        "README's Benchmarks table records them.", ""]
    for number, e in enumerate(experiments, start=1):
        lines += [f"## {number}. {e.name}: {e.title}", "", protocol_text(e, budget), ""]
        if e.tuning == "sweep":
            lines += [
                f"Every β of the sweep was run on the {budget.seeds} test seeds and on the "
                f"{budget.val_seeds} validation seeds, at the inner learning rate tuned in "
                f"{e.alpha_from}. Each method at its own validated best β (the lowest mean "
                "validation MSE):", ""]
        lines += mse_table(s, e, hyper, budget.seeds)
        if e.paper:
            lines += [
                "paper: Eshratifar et al. (2018), MSE over 1000 unseen tasks, with the "
                "activation, learning rates, meta-batch size, meta-iterations and number of "
                "seeds unstated; their \"gradient agreement\" row is listed with GA-Reptile "
                "(the paper's sine experiment uses the Reptile variant).", ""]
        if any(METHODS[m].normalization == "cosine" for m in e.methods):
            lines += [studylib.COSINE_NOTE, ""]
        lines += ["Paired differences (MSE)" + (", each method at its own best β" if
                                                e.tuning == "sweep" else "") + ":", "",
                  *mse_differences(s, e, budget.seeds)]
        if e.tuning == "sweep":
            lines += [
                f"At one shared β, every β of the sweep (test MSE after {e.protocol_steps} "
                "steps; differences paired by seed; GA's step length divided by the uniform "
                "step length on the same batch, median over each run, mean over seeds):", "",
                *shared_beta_table(s, e, raw, hyper, budget.seeds)]
        if e.clean_reference:
            lines += [
                f"Headroom: a method's test MSE trained with corrupted batches minus trained "
                f"with clean ones ({e.clean_reference}), same seeds and test tasks (positive: "
                "what the corruption costs, the most a reweighting could win back).", "",
                *mse_differences(s, e, budget.seeds, kind="headroom"),
                *([CORRUPTION_NOTE, ""] if e.corruption == "outlier" else []),
                "GA weights over training (mean w_i of clean and of corrupted tasks; uniform "
                "weights would give 1/T to both):", "", *weights_table(s, e)]
    budget_lines = budget_table(s, experiments, budget, hyper)
    if budget_lines:
        lines += ["## The budget and the outer step", "",
                  f"Test MSE after {experiments[-1].protocol_steps} steps and the paired "
                  "difference, the same test seeds and tasks at both budgets; the long runs use "
                  "the short runs' choices (Adam: tuned in ga-paper; plain step: each method's "
                  "best β of the sweep):", "", *budget_lines]
    if any(METHODS[m].weighted for e in experiments for m in e.methods):
        lines += ["## How long GA's steps are", "",
                  "The length of the GA direction divided by the length of the uniform (1/T) "
                  "direction of the same rule, at the same θ on the same batch, measured every "
                  f"{budget.ratio_every} meta-iterations of every test run (median over the run, "
                  "and over its last quarter; mean ± 95 % interval over seeds). Adam divides "
                  "any such factor out; a plain step at a shared β takes it in full.", "",
                  *ratio_table(s, experiments, hyper)]
    lines += ["## What was tried", "", *tried_lines(experiments, budget, hyper, scored)]
    swept = {e.name for e in experiments if e.tuning == "sweep"}
    bad: dict[tuple, list[int]] = {}
    for r in raw:
        if r["diverged"] or not all(math.isfinite(r[m]) for m in MSE_METRICS):
            where = f" at β = {r['beta']:g}" if r["experiment"] in swept else ""
            bad.setdefault((r["experiment"], r["method"], where), []).append(r["seed"])
    text = "; ".join(f"{e}/{m}{where}: seed{'s' * (len(seeds) > 1)} "
                     + ", ".join(map(str, sorted(seeds)))
                     for (e, m, where), seeds in sorted(bad.items())) if bad else "none"
    lines += [f"Test runs that diverged or gave a non-finite MSE (left out of the means and "
              f"differences where non-finite): {text}.", ""]
    return "\n".join(lines)


OUTER_PROTOCOL = {
    "adam": {"name": "adam", "rule": "theta <- Adam(beta, b1, b2, eps).step(theta, direction)",
             "b1": 0.9, "b2": 0.999, "eps": 1e-8},
    "sgd": {"name": "plain step (the paper's Algorithm 1)",
            "rule": "theta <- theta - beta * direction"}}


def protocol(experiments, budget: Budget, hyper: dict, command: str,
             raw: list[dict] = ()) -> dict:
    """Everything needed to rerun the study, as one JSON-able dict."""
    out = {"command": command, "test_seeds": list(range(budget.seeds)),
           "validation_seeds": [studylib.VAL_SEED_OFFSET + v for v in range(budget.val_seeds)],
           "budget": {f.name: getattr(budget, f.name) for f in fields(Budget)},
           "direction": "every rule's direction is a weighted sum of per-task vectors, "
                        "gh.outer_direction: Reptile theta - theta_i', MAML the meta-gradient; "
                        "weights 1/T (uniform) or the paper's eq. 13 (GA)",
           "test_task_stream": f"numpy default_rng([{studylib.STREAM['test']}, seed])",
           "validation_task_stream": f"numpy default_rng([{studylib.STREAM['val']}, seed])",
           "experiments": {}}
    for e in experiments:
        out["experiments"][e.name] = {
            "title": e.title, "sizes": list(e.sizes), "activation": e.activation,
            "k_shot": e.k_shot, "k_query_train": e.k_shot, "k_query_eval": budget.eval_query,
            "amplitude": list(e.amplitude), "phase": list(e.phase), "x_range": list(e.x_range),
            "corrupt_frac": e.corrupt_frac,
            "corruption": e.corruption if e.corrupt_frac else None,
            "inner_steps_train": e.inner_steps, "eval_steps": list(range(MAX_STEPS + 1)),
            "protocol_steps": e.protocol_steps, "eval_tasks": budget.eval_tasks,
            "meta_iterations": e.iterations(budget), "meta_batch_size": e.n_tasks(budget),
            "outer_step": OUTER_PROTOCOL[e.outer], "tuning": e.tuning,
            **({"inner_lr_from": e.alpha_from, "betas_swept": sweep_betas(list(raw), e)}
               if e.tuning == "sweep" else {}),
            "methods": {m: {"rule": METHODS[m].base, "first_order": METHODS[m].first_order,
                            "normalization": METHODS[m].normalization
                            if METHODS[m].weighted else None,
                            "inner_lr": hyper[e.name, m]["alpha"],
                            "outer_lr": hyper[e.name, m]["beta"],
                            "inner_lr_status": hyper[e.name, m]["alpha_status"],
                            "outer_lr_status": hyper[e.name, m]["beta_status"]}
                        for m in e.methods}}
    return out


def save_params(path: Path, model: gh.MLP, theta: np.ndarray) -> None:
    """``W1, b1, W2, b2, ...`` of theta as an .npz (``np.savez`` is byte-reproducible)."""
    arrays = model.unflatten(theta)
    names = [f"{kind}{i // 2 + 1}" for i, kind in enumerate(["W", "b"] * (len(arrays) // 2))]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{n: np.ascontiguousarray(a) for n, a in zip(names, arrays, strict=True)})


def _band(ax, x, rows: list[dict], colour: str, linestyle: str, label: str) -> None:
    mean = np.array([r["mean"] for r in rows])
    half = np.nan_to_num(np.array([r["half_width"] for r in rows]))
    ax.plot(x, mean, color=colour, ls=linestyle, lw=1.6, marker="o", ms=3, label=label)
    ax.fill_between(x, mean - half, mean + half, color=colour, alpha=0.18, lw=0)


def sweep_figure(summary_rows, e: Experiment, betas: list[float], hyper: dict, path: Path,
                 n_seeds: int) -> None:
    """The plain step's sweep: test MSE after the protocol's steps against beta (left), the
    paired difference (middle) and GA's step-length ratio (right); 95 % intervals."""
    from matplotlib.figure import Figure

    s = studylib.index(summary_rows, SUMMARY_KEY)
    nan = {"mean": math.nan, "half_width": math.nan}
    metric = f"mse_{e.protocol_steps}"
    x = np.array(betas)

    def series(kind, name, what=metric):
        rows = [s.get((e.name, kind, at_beta(name, b), what), nan) for b in betas]
        return (np.array([r["mean"] for r in rows]),
                np.nan_to_num(np.array([r["half_width"] for r in rows])))

    fig = Figure(figsize=(15.0, 4.8), dpi=100, layout="constrained")
    left, middle, right = fig.subplots(1, 3)
    for offset, m in zip((0.96, 1.04), e.methods, strict=False):
        spec = METHODS[m]
        mean, half = series("sweep", m)
        left.errorbar(x * offset, mean, half, color=spec.colour, marker="o", ms=4, capsize=3,
                      lw=1.4, label=f"{spec.label}, 95 % interval")
        best = hyper[e.name, m]["beta"]
        i = betas.index(best)
        left.plot([best * offset], [mean[i]], marker="o", ms=12, mfc="none", mec=spec.colour,
                  mew=1.6, ls="none", label=f"{spec.label}: validated best β = {best:g}")
    for m, value in e.paper:
        left.axhline(value, color=METHODS[m].colour, ls=":", lw=1.2,
                     label=f"paper: {METHODS[m].label} {value:g}")
    left.set(xscale="log", yscale="log", xlabel="β of the plain outer step (shared)",
             ylabel=f"test MSE after {e.protocol_steps} steps (log scale)",
             title="each method at each shared β")
    for a, b in e.pairs:
        mean, half = series("sweep difference", difference_name(a, b))
        middle.errorbar(x, mean, half, color=METHODS[a].colour, marker="o", ms=4, capsize=3,
                        lw=1.4, label=f"{METHODS[a].label} − {METHODS[b].label}, paired")
    middle.axhline(0.0, color="black", lw=0.8)
    middle.set(xscale="log", xlabel="β of the plain outer step (shared)",
               ylabel="difference in test MSE (below 0: GA better)",
               title="paired difference at each shared β")
    for m in (m for m in e.methods if METHODS[m].weighted):
        for what, style, label in (("step_ratio", "-", "median over training"),
                                   ("step_ratio_end", "--", "median, last quarter")):
            mean, half = series("sweep", m, what)
            right.errorbar(x, mean, half, color=METHODS[m].colour, ls=style, marker="o", ms=4,
                           capsize=3, lw=1.4, label=f"{METHODS[m].label}: {label}")
    right.axhline(1.0, color="#999999", lw=0.8, ls=":", label="as long as the uniform step")
    right.set(xscale="log", xlabel="β of the plain outer step (shared)",
              ylabel="|GA direction| ÷ |uniform direction|",
              title="how much longer GA's steps are")
    for ax in (left, middle, right):
        ax.grid(alpha=0.3)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.17), ncols=1, fontsize=8,
                  frameon=False)
    fig.suptitle(f"{e.name}: {e.title} (mean over {n_seeds} test seeds; missing points: every "
                 "run diverged)", fontsize=11)
    fig.savefig(path, dpi=100, metadata={"Software": None})


def figure(summary_rows, experiments, path: Path, n_seeds: int) -> None:
    """Top: test MSE vs adaptation steps per method; bottom: paired differences (and headroom)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    s = studylib.index(summary_rows, SUMMARY_KEY)
    steps = np.arange(MAX_STEPS + 1)
    nan = {"mean": math.nan, "half_width": math.nan}

    def series(e, kind, name):
        return [s.get((e.name, kind, name, f"mse_{k}"), nan) for k in steps]

    fig = Figure(figsize=(5.0 * len(experiments), 9.0), dpi=100, layout="constrained")
    axes = fig.subplots(2, len(experiments), squeeze=False)
    for col, e in enumerate(experiments):
        top, bottom = axes[0, col], axes[1, col]
        for m in e.methods:
            spec = METHODS[m]
            _band(top, steps, series(e, "method", m), spec.colour, spec.style, spec.label)
        for m, value in e.paper:
            top.plot([e.protocol_steps], [value], marker="*", ms=13, ls="none",
                     color=METHODS[m].colour, mec="white",
                     label=f"paper: {METHODS[m].label} {value:g}")
        if any(np.isfinite(r["mean"]) and r["mean"] > 0 for m in e.methods
               for r in series(e, "method", m)):  # a log axis needs a positive value
            top.set_yscale("log")
        top.set(title=f"{e.name}: {e.title}", xlabel="adaptation steps on the K = "
                f"{e.k_shot} support points", ylabel="test MSE (log scale)")
        top.axvline(e.protocol_steps, color="#999999", lw=0.8, ls=":")
        for first, second in e.pairs:
            spec = METHODS[first]
            _band(bottom, steps, series(e, "difference", difference_name(first, second)),
                  spec.colour, spec.style, f"{spec.label} − {METHODS[second].label}")
        if e.clean_reference:
            for m in e.methods:
                if (e.name, "headroom", m, "mse_0") in s and not METHODS[m].weighted:
                    _band(bottom, steps, series(e, "headroom", m), METHODS[m].colour, ":",
                          f"{METHODS[m].label} headroom (corrupted − clean)")
        bottom.axhline(0.0, color="black", lw=0.8)
        bottom.set(title="paired differences (same seeds), 95 % bands",
                   xlabel="adaptation steps", ylabel="difference in test MSE")
        bottom.axvline(e.protocol_steps, color="#999999", lw=0.8, ls=":")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
            ax.set_xticks(steps)
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=2, fontsize=8,
                      frameon=False)
    fig.suptitle(f"Sine-wave regression: test MSE after adaptation (mean and 95 % t-band over "
                 f"{n_seeds} seeds)\n{studylib.COSINE_NOTE}", fontsize=11)
    fig.savefig(path, dpi=100, metadata={"Software": None})
