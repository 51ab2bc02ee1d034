"""The report's page from ReportData: pure functions that draw the figures into a folder and
return HTML; nothing here reads the store."""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from html import escape
from pathlib import Path

from rayprune import names
from rayprune.report import figures, html
from rayprune.report.aggregate import Band, Cell, front, seed_band
from rayprune.report.data import PolicyWeights, Sweep
from rayprune.report.figures import lambda_phrase
from rayprune.report.html import Block, Chapter
from rayprune.report.load import Pictured, ReportData, Section
from rayprune.report.paper import PAPER_SPARSITY, label
from rayprune.store.ranking import RULE
from rayprune.store.tracking import sqlite_path
from rayprune.store.uri import without_credentials


def store_label(tracking_uri: str, folder: Path) -> str:
    """The store without a machine's paths: a server by its address (never with credentials),
    an embedded store by its file name, and where it is from the page when that is nearby (the
    default RESULTS/reports/NAME/ is two folders under RESULTS/mlflow.db)."""
    db = sqlite_path(tracking_uri)
    if db is None:
        return without_credentials(tracking_uri)
    relative = Path(os.path.relpath(db, folder))
    nearby = set(relative.parts[:-1]) <= {".."} and len(relative.parts) <= 4
    return f"{relative} (embedded store)" if nearby else f"{db.name} (embedded store)"


def intro(tracking_uri: str, sweeps: Sequence[Sweep], folder: Path) -> str:
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    listed = ", ".join(f"{s.name} ({s.env}, {len(s.trials)} finished trials)" for s in sweeps)
    return (
        f'<p class="note">Sweeps: {escape(listed)}. MLflow: '
        f"{escape(store_label(tracking_uri, folder))}. Written {escape(when)}. Eval return: the "
        "exported ONNX policy, deterministic, over the sweep's eval episodes; mean ± std over "
        "seeds (population std), or n=1 for a single seed. Training return: the sampling env "
        "runners' mean episode return per training iteration. The best lambda, the pictured "
        f"policies and `rayprune best` follow one rule: {escape(RULE)}.</p>"
    )


def summary_sparsity(section: Section) -> float | None:
    """The sparsity the summary shows for an environment: the paper's 93% when the sweep ran
    it, else its highest target; None when nothing was pruned."""
    targets = {c.sparsity_target for c in section.best if not c.dense}
    if not targets:
        return None
    return PAPER_SPARSITY if PAPER_SPARSITY in targets else max(targets)


def summary_rows(section: Section) -> list[tuple[Sweep, Cell]]:
    """Dense PPO, then per method its best lambda at the summary's sparsity (or at the method's
    highest target, when it did not run that one)."""
    target = summary_sparsity(section)
    rows = [c for c in section.best if c.dense]
    for method in dict.fromkeys(c.method for c in section.best if not c.dense):
        mine = [c for c in section.best if c.method == method]
        at = [c for c in mine if c.sparsity_target == target]
        rows.append(at[0] if at else max(mine, key=lambda c: c.sparsity_target))
    return [(section.sweep, c) for c in rows]


def best_run_line(section: Section) -> str:
    chosen = section.best_run
    if chosen is None:
        return ""
    trial = chosen.chosen
    tie = f"; {chosen.tie_note()}" if chosen.tie_note() else ""
    return (
        f"<li>{escape(section.sweep.name)} ({escape(section.sweep.env)}): "
        f"{escape(trial.name)}, eval return {trial.metric(names.EVAL_RETURN_MEAN):.1f}, "
        f"{trial.metric(names.WEIGHTS_COMPACT):,.0f} weights{escape(tie)}</li>"
    )


def summary(data: ReportData) -> Chapter:
    rows = [row for section in data.sections for row in summary_rows(section)]
    best = "".join(best_run_line(s) for s in data.sections)
    return Chapter(
        anchor="summary",
        title="Summary",
        intro=(
            '<p class="note">Per environment, dense PPO and each method at the paper\'s 93% '
            "sparsity target where the sweep ran it (else the method's highest), at its best "
            "lambda; mean over seeds. Compression: dense weights / compact weights.</p>"
            + html.summary_table(rows)
            + '<p class="note">The best trial of each section by the rule, as <code>rayprune '
            f"best</code> picks among a sweep's trials that reached their target:</p><ul>{best}</ul>"
        ),
    )


def sensitivity_block(section: Section, stem: str, title: str, folder: Path) -> Block:
    png = figures.sensitivity(
        f"{title}: eval return over lambda x sparsity",
        section.cells,
        folder / f"{stem}-sensitivity.png",
        sampled=section.sweep.search == "optuna",
    )
    caption = (
        "Eval return per grid cell, mean ± std over seeds (n=1: one seed), per pruning method "
        "(lambda '-': the method has no penalty). One colour scale for all panels; a sampled "
        "(Optuna) lambda is a point on a log axis."
    )
    body = (html.figure(png, caption) if png is not None else "") + html.sensitivity_table(
        section.sweep, section.cells
    )
    return Block(f"{stem}-sensitivity", "Sensitivity: lambda x sparsity", body)


def curves_block(section: Section, stem: str, title: str, folder: Path, band) -> Block:
    returns = {c.key: band(c, names.EPISODE_RETURN_MEAN) for c in section.best}
    png = figures.learning_curves(
        f"{title}: learning curves", section.best, returns, folder / f"{stem}-curves.png"
    )
    caption = (
        "Training return against env steps, mean ± std over seeds (bands), per method at "
        "each sparsity target's best lambda; dense PPO dashed in every panel."
    )
    return Block(f"{stem}-curves", "Learning curves", html.figure(png, caption))


def neurons_block(section: Section, stem: str, title: str, folder: Path, band) -> Block | None:
    layers = section.sweep.layers
    layer_bands = {(c.key, layer): band(c, layer) for c in section.best for layer in layers}
    targets = {c.key: band(c, names.SPARSITY_NOW) for c in section.best}
    png = figures.neurons(
        f"{title}: neurons per hidden layer", section.best, layer_bands, targets, layers,
        folder / f"{stem}-neurons.png",
    )  # fmt: skip
    if png is None:
        return None
    caption = (
        "Neurons kept in each hidden layer over training, mean ± std over seeds, for each "
        "method's highest sparsity target at its best lambda; dotted: the schedule's target "
        "p_t (Eq. 17), in the method's unit (neurons, or weights for l1 and pops)."
    )
    return Block(
        f"{stem}-neurons",
        "Neurons per hidden layer (the paper's Fig. 11)",
        html.figure(png, caption),
    )


def weights_block(section: Section, stem: str, folder: Path) -> Block | None:
    png = weight_figure(section, folder / f"{stem}-weights.png")
    if png is None:
        return None
    caption = (
        "|w| of each actor layer (rows: inputs or the previous layer's neurons; columns: this "
        "layer's neurons), drawn in the dense actor's shape: dense PPO's best seed beside the "
        "best seed of the pruned method's best lambda at its highest target. The pruned "
        "policy's kept neurons come first and removed ones are white: the compact policy does "
        "not record where they sat. Low-rank layers are shown as up @ down."
    )
    return Block(
        f"{stem}-weights",
        "Actor weights, dense against pruned (the paper's Fig. 10)",
        html.figure(png, caption),
    )


def pareto_block(section: Section, stem: str, title: str, folder: Path) -> Block:
    sweep = section.sweep
    rows = front(sweep.trials)
    png = figures.pareto(
        f"{title}: Pareto front", sweep.trials, rows, folder / f"{stem}-pareto.png"
    )
    caption = (
        "Every finished trial; the staircase joins the trials no other beats in both eval "
        "return and compact weights."
    )
    return Block(
        f"{stem}-pareto",
        "Pareto front: eval return against compact weights",
        html.figure(png, caption) + html.pareto_table(sweep, rows),
    )


def frontier_block(section: Section, stem: str, title: str, folder: Path) -> Block:
    keep = float(dict(section.sweep.settings)["search.keep"])
    rows = section.frontier
    png = figures.frontier(
        f"{title}: frontier at keep {keep:g}", rows, keep, folder / f"{stem}-frontier.png"
    )
    caption = (
        "Each probe at its best lambda: retained return (R - R_random) / (R_dense - R_random), "
        "mean +- std over the seeds, against the units its policy kept; circled, each method's "
        "sparsest policy that keeps the threshold."
    )
    return Block(
        f"{stem}-frontier",
        "Frontier: retained return against units kept",
        html.figure(png, caption) + html.frontier_table(section.sweep, rows),
    )


def sweep_chapter(section: Section, folder: Path) -> Chapter:
    """Sensitivity grid, learning curves, neurons per layer, weight heatmaps and, for an Optuna
    sweep, the Pareto front; PNGs written into folder and inlined."""
    sweep, histories = section.sweep, section.histories
    title = f"{sweep.name} ({sweep.env})"
    stem = html.slug(sweep.name)

    def band(cell: Cell, key: str) -> Band:
        return seed_band([histories[(t.run_id, key)] for t in cell.trials])

    blocks = [
        sensitivity_block(section, stem, title, folder),
        curves_block(section, stem, title, folder, band),
        neurons_block(section, stem, title, folder, band),
        weights_block(section, stem, folder),
        pareto_block(section, stem, title, folder) if sweep.search == "optuna" else None,
        frontier_block(section, stem, title, folder) if section.frontier else None,
    ]
    intro = (
        f'<p class="note">{len(sweep.trials)} finished trials, {len(section.cells)} grid cells.</p>'
    )
    return Chapter(f"sweep-{stem}", title, intro, [b for b in blocks if b is not None])


def weight_figure(section: Section, path: Path) -> Path | None:
    """Dense PPO's best run beside the pictured pruned run (load.pictured_trials); None when
    nothing was pruned."""
    if section.pruned is None:
        return None
    return figures.weight_heatmaps(
        f"{section.sweep.name} ({section.sweep.env}): actor |w|",
        None if section.dense is None else policy_panel(section.dense),
        policy_panel(section.pruned),
        path,
    )


def policy_panel(pictured: Pictured) -> tuple[str, PolicyWeights]:
    """A trial's compact policy weights, and the line that names it."""
    trial = pictured.trial
    point = (
        ""
        if trial.method == names.DENSE_METHOD
        else f", target {trial.sparsity_target:g}{lambda_phrase(trial.lam)}"
    )
    eval_return = trial.metric(names.EVAL_RETURN_MEAN)
    name = f"{label(trial.method)}{point} (seed {trial.seed}, eval {eval_return:.1f})"
    return name, pictured.weights


def comparison(data: ReportData) -> Chapter:
    picks = [(s.sweep, p) for s in data.sections for p in s.picks]
    return Chapter(
        anchor="comparison-heading",
        title="Comparison with the paper",
        intro=(
            '<p class="note">Per environment, method and sparsity target, the best lambda by '
            f"the rule ({escape(RULE)}; the means over seeds), and what broke a tie for it; "
            "mean ± std over seeds; sizes of the shipped compact policy, means over seeds. The "
            "paper reports 93% pruning only.</p>" + html.comparison_table(picks)
        ),
    )


def render(data: ReportData, folder: Path) -> str:
    """The page's HTML, its PNGs written into folder."""
    chapters = [
        summary(data),
        comparison(data),
        *(sweep_chapter(section, folder) for section in data.sections),
    ]
    title = f"rayprune report: {', '.join(s.name for s in data.sweeps)}"
    return html.page(title, intro(data.tracking_uri, data.sweeps, folder), chapters)
