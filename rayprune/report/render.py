"""The report's page from ReportData: pure functions that draw the figures into a folder and
return HTML; nothing here reads the store."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from html import escape
from pathlib import Path

from rayprune import names
from rayprune.report import figures, html
from rayprune.report.aggregate import Band, Cell, front, seed_band
from rayprune.report.data import PolicyWeights, Sweep
from rayprune.report.figures import lambda_phrase
from rayprune.report.load import Pictured, ReportData, Section
from rayprune.report.paper import label


def intro(tracking_uri: str, sweeps: Sequence[Sweep]) -> str:
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    listed = ", ".join(f"{s.name} ({s.env}, {len(s.trials)} finished trials)" for s in sweeps)
    return (
        f'<p class="note">Sweeps: {escape(listed)}. MLflow: {escape(tracking_uri)}. '
        f"Written {escape(when)}. Eval return: the exported ONNX policy, deterministic, over the "
        "sweep's eval episodes; mean ± std over seeds (population std). Training return: the "
        "sampling env runners' mean episode return per training iteration.</p>"
    )


def sweep_section(section: Section, folder: Path) -> str:
    """Sensitivity grid, learning curves, neurons per layer, weight heatmaps and, for an Optuna
    sweep, the Pareto front; PNGs written into folder and inlined."""
    sweep, all_cells, best, histories = (
        section.sweep,
        section.cells,
        section.best,
        section.histories,
    )
    title = f"{sweep.name} ({sweep.env})"
    stem = html.slug(sweep.name)

    def band(cell: Cell, key: str) -> Band:
        return seed_band(
            [histories[(t.run_id, names.ENV_STEPS)] for t in cell.trials],
            [histories[(t.run_id, key)] for t in cell.trials],
        )

    parts = [f'<section id="sweep-{stem}">', f"<h2>{escape(title)}</h2>"]
    png = figures.sensitivity(
        f"{title}: eval return over lambda x sparsity",
        all_cells,
        folder / f"{stem}-sensitivity.png",
    )
    parts.append("<h3>Sensitivity: lambda x sparsity</h3>")
    if png is not None:
        parts.append(
            html.figure(
                png,
                "Eval return per grid cell, mean ± std over seeds, per pruning method (lambda "
                "'-': the method has no penalty). One colour scale for all panels.",
            )
        )
    parts.append(html.sensitivity_table(sweep, all_cells))

    returns = {c.key: band(c, names.EPISODE_RETURN_MEAN) for c in best}
    png = figures.learning_curves(
        f"{title}: learning curves", best, returns, folder / f"{stem}-curves.png"
    )
    parts += [
        "<h3>Learning curves</h3>",
        html.figure(
            png,
            "Training return against env steps, mean ± std over seeds (bands), per method at "
            "each sparsity target's best lambda; dense PPO dashed in every panel.",
        ),
    ]

    layer_bands = {(c.key, layer): band(c, layer) for c in best for layer in sweep.layers}
    targets = {c.key: band(c, names.SPARSITY_NOW) for c in best}
    png = figures.neurons(
        f"{title}: neurons per hidden layer", best, layer_bands, targets, sweep.layers,
        folder / f"{stem}-neurons.png",
    )  # fmt: skip
    if png is not None:
        parts += [
            "<h3>Neurons per hidden layer (the paper's Fig. 11)</h3>",
            html.figure(
                png,
                "Neurons kept in each hidden layer over training, mean ± std over seeds, for "
                "each method's highest sparsity target at its best lambda; dotted: the "
                "schedule's target p_t (Eq. 17), in the method's unit (neurons, or weights "
                "for l1 and pops).",
            ),
        ]

    png = weight_figure(section, folder / f"{stem}-weights.png")
    if png is not None:
        parts += [
            "<h3>Actor weights, dense against pruned (the paper's Fig. 10)</h3>",
            html.figure(
                png,
                "|w| of each actor layer (rows: inputs or the previous layer's neurons; "
                "columns: this layer's neurons), drawn in the dense actor's shape. The pruned "
                "policy's kept neurons come first and removed ones are white: the compact "
                "policy does not record where they sat. Low-rank layers are shown as up @ down.",
            ),
        ]

    if sweep.search == "optuna":
        rows = front(sweep.trials)
        png = figures.pareto(
            f"{title}: Pareto front", sweep.trials, rows, folder / f"{stem}-pareto.png"
        )
        parts += [
            "<h3>Pareto front: eval return against compact weights</h3>",
            html.figure(
                png,
                "Every finished trial; the staircase joins the trials no other beats in both "
                "eval return and compact weights.",
            ),
            html.pareto_table(sweep, rows),
        ]
    parts.append("</section>")
    return "\n".join(parts)


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


def comparison(data: ReportData) -> list[str]:
    chosen = [(s.sweep, c) for s in data.sections for c in s.best]
    return [
        '<h2 id="comparison-heading">Comparison</h2>',
        '<p class="note">Per environment, method and sparsity target, the lambda with the '
        "best mean eval return (ties: fewer weights); mean ± std over seeds; sizes of the "
        "shipped compact policy, means over seeds. The paper reports 93% pruning only.</p>",
        html.comparison_table(chosen),
    ]


def render(data: ReportData, folder: Path) -> str:
    """The page's HTML, its PNGs written into folder."""
    sections = [sweep_section(section, folder) for section in data.sections]
    title = f"rayprune report: {', '.join(s.name for s in data.sweeps)}"
    return html.page(title, intro(data.tracking_uri, data.sweeps), [*comparison(data), *sections])
