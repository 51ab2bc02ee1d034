"""`rayprune report`: read sweeps from MLflow, draw the figures, write the page, put the folder
in place whole, and log it to each sweep's `report` run."""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from html import escape
from pathlib import Path

from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient

from rayprune.policy.artifact import apply_umask
from rayprune.report import figures, html
from rayprune.report.aggregate import (
    RETURN,
    Band,
    Cell,
    best_lambda,
    best_trial,
    cells,
    front,
    seed_band,
)
from rayprune.report.data import (
    DENSE,
    PolicyWeights,
    Sweep,
    Trial,
    load_histories,
    load_policy_weights,
    load_sweep,
    merge_parts,
)
from rayprune.report.figures import lambda_phrase
from rayprune.report.paper import label
from rayprune.sweep.tracking import (
    SUMMARY_TAG,
    check_tracking_server,
    client_for,
    experiment_id,
    log_summary,
)

REPORT_FILE = "report.html"
SUMMARY = "report"  # the sweep-level MLflow run: report.json/.csv, and the page under report/
SHOWN_PRUNED = "dsp"  # the weight heatmaps compare dense PPO with the paper's method
CURVE_KEYS = ("env_steps", "episode_return_mean", "sparsity_target_now")


def write_report(tracking_uri: str, names: list[str], out: Path) -> Path:
    """The report of sweeps `names` (one environment each) in `out`: report.html, self-contained,
    and its PNGs beside it; sweeps with equal settings share one section (data.merge_parts).
    `out` is replaced whole, and only when it holds a previous report. Logged to each sweep's
    `report` run; returns the page's path."""
    check_tracking_server(tracking_uri)
    client = client_for(tracking_uri)
    sweeps = [load_sweep(client, name) for name in dict.fromkeys(names)]
    out = Path(out).resolve()
    shown = merge_parts(sweeps)
    with staged(out) as folder:
        sections, chosen = [], []
        for sweep in shown:
            grid = cells(sweep.trials)
            best = best_lambda(grid)
            chosen += [(sweep, c) for c in best]
            sections.append(sweep_section(client, sweep, grid, best, folder))
        title = f"rayprune report: {', '.join(s.name for s in sweeps)}"
        comparison = [
            '<h2 id="comparison-heading">Comparison</h2>',
            '<p class="note">Per environment, method and sparsity target, the lambda with the '
            "best mean eval return (ties: fewer weights); mean ± std over seeds; sizes of the "
            "shipped compact policy, means over seeds. The paper reports 93% pruning only.</p>",
            html.comparison_table(chosen),
        ]
        (folder / REPORT_FILE).write_text(
            html.page(title, intro(tracking_uri, sweeps), [*comparison, *sections]),
            encoding="utf-8",
        )
    for sweep in sweeps:
        publish(client, tracking_uri, sweep.name, cells(sweep.trials), out)
    return out / REPORT_FILE


def intro(tracking_uri: str, sweeps: Sequence[Sweep]) -> str:
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    listed = ", ".join(f"{s.name} ({s.env}, {len(s.trials)} finished trials)" for s in sweeps)
    return (
        f'<p class="note">Sweeps: {escape(listed)}. MLflow: {escape(tracking_uri)}. '
        f"Written {escape(when)}. Eval return: the exported ONNX policy, deterministic, over the "
        "sweep's eval episodes; mean ± std over seeds (population std). Training return: the "
        "sampling env runners' mean episode return per training iteration.</p>"
    )


def sweep_section(
    client: MlflowClient, sweep: Sweep, all_cells: list[Cell], best: list[Cell], folder: Path
) -> str:
    """Sensitivity grid, learning curves, neurons per layer, weight heatmaps and, for an Optuna
    sweep, the Pareto front; PNGs written into folder and inlined."""
    title = f"{sweep.name} ({sweep.env})"
    stem = html.slug(sweep.name)
    keys = [*CURVE_KEYS, *sweep.layers]
    histories = load_histories(client, [t.run_id for c in best for t in c.trials], keys)

    def band(cell: Cell, key: str) -> Band:
        return seed_band(
            [histories[(t.run_id, "env_steps")] for t in cell.trials],
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

    returns = {c.key: band(c, "episode_return_mean") for c in best}
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
    targets = {c.key: band(c, "sparsity_target_now") for c in best}
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

    png = weight_figure(client, sweep, folder / f"{stem}-weights.png")
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


def weight_figure(client: MlflowClient, sweep: Sweep, path: Path) -> Path | None:
    """Dense PPO's best run beside the best DSP run at DSP's highest sparsity target (another
    method's when the sweep has no DSP); None when nothing was pruned."""
    pruned = [t for t in sweep.trials if t.method != DENSE]
    shown = [t for t in pruned if t.method == SHOWN_PRUNED] or pruned
    if not shown:
        return None
    top = max(t.sparsity for t in shown)
    dense = best_trial(t for t in sweep.trials if t.method == DENSE)
    pruned_best = best_trial(t for t in shown if t.sparsity == top)
    return figures.weight_heatmaps(
        f"{sweep.name} ({sweep.env}): actor |w|",
        None if dense is None else policy_panel(client, dense),
        policy_panel(client, pruned_best),
        path,
    )


def policy_panel(client: MlflowClient, trial: Trial) -> tuple[str, PolicyWeights]:
    """A trial's compact policy weights, and the line that names it."""
    point = (
        "" if trial.method == DENSE else f", target {trial.sparsity:g}{lambda_phrase(trial.lam)}"
    )
    name = f"{label(trial.method)}{point} (seed {trial.seed}, eval {trial.metric(RETURN):.1f})"
    return name, load_policy_weights(client, trial.run_id)


def is_report(folder: Path) -> bool:
    """A folder this command wrote: report.html with its generator tag, and PNGs."""
    page = folder / REPORT_FILE
    return (
        page.is_file()
        and f'content="{html.GENERATOR}"' in page.read_text(encoding="utf-8", errors="replace")
        and all(p == page or (p.suffix == ".png" and p.is_file()) for p in folder.iterdir())
    )


def check_replaceable(out: Path) -> None:
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or is_report(out))):
        raise FileExistsError(f"{out} exists and is not a rayprune report; refusing to replace it")


@contextlib.contextmanager
def staged(out: Path) -> Iterator[Path]:
    """An empty folder beside `out` to write into; when the block succeeds it takes out's place
    (the previous report goes only then), otherwise it is removed: never a half-written report."""
    check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        apply_umask(tmp)
        check_replaceable(out)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish(
    client: MlflowClient, tracking_uri: str, name: str, all_cells: Sequence[Cell], out: Path
) -> None:
    """The sweep's `report` summary run (tracking.log_summary: no trial key, so neither `best`
    nor a resumed trial takes it for a trial) gets report.json/.csv, one row per grid cell, and
    the folder under report/, replacing what an earlier report left there."""
    log_summary(tracking_uri, name, SUMMARY, [c.summary() for c in all_cells])
    run = client.search_runs(  # the run log_summary found or made, by the same query
        [experiment_id(client, name)], filter_string=f"tags.`{SUMMARY_TAG}` = '{SUMMARY}'"
    )[0]
    get_artifact_repository(run.info.artifact_uri, tracking_uri=tracking_uri).delete_artifacts(
        SUMMARY
    )
    client.log_artifacts(run.info.run_id, str(out), SUMMARY)
