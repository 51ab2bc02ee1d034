"""The report's PNGs, drawn with matplotlib's object API (a Figure renders with Agg, never
a window, and keeps no global pyplot state between figures)."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from rayprune import names
from rayprune.report.aggregate import Band, Cell
from rayprune.report.data import CellKey, PolicyWeights, Trial
from rayprune.report.paper import METHOD_LABELS, label, lambda_text, method_order
from rayprune.store.frontier_record import RANDOM, FrontierRow
from rayprune.store.pareto import Outcome
from rayprune.store.point import short_number

DPI = 100
TITLE_CHARS_PER_INCH = 9  # at the figure title's font size (12 pt)
MAX_LAMBDA_COLUMNS = 6  # more distinct lambdas than this (Optuna samples them) go on a log axis
SCALE = matplotlib.colormaps["viridis"]
EQUAL_CELLS = (0.85, 0.9, 0.95, 1.0)  # one neutral colour when every cell has the same return
PANEL = (3.6, 2.8)  # inches per subplot
MAX_COLUMNS = 4
MIN_WIDTH = 7.0  # inches: room for a figure's title above a single panel
DENSE_STYLE = {"color": "black", "linestyle": "--"}  # tab10's grey is l0's colour
PLAIN = FuncFormatter(lambda x, _: f"{x:g}")
LAYER_STYLES = ("-", "--", "-.", ":")
STEPS = FuncFormatter(lambda x, _: f"{x / 1e6:g}M" if x >= 1e6 else f"{x / 1e3:g}k")


def color(method: str) -> str:
    """One colour per method across every figure (tab10 has one for each known method)."""
    return f"C{method_order(method)[0] % 10}"


def grid(n: int, title: str) -> tuple[Figure, list[Axes]]:
    """A figure with n panels, MAX_COLUMNS to a row, its title wrapped to its width; the unused
    panels are hidden."""
    cols = min(n, MAX_COLUMNS)
    rows = math.ceil(n / cols)
    width = max(PANEL[0] * cols, MIN_WIDTH)
    fig = Figure(figsize=(width, PANEL[1] * rows + 0.6), layout="constrained")
    axes = list(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(wrapped(title, width))
    return fig, axes[:n]


def wrapped(title: str, width_in: float) -> str:
    """Each line of `title` broken to fit `width_in` inches at the title's font size, where a
    centred title wider than its figure would lose both ends."""
    chars = max(20, int(width_in * TITLE_CHARS_PER_INCH))
    return "\n".join(textwrap.fill(line, chars) for line in title.split("\n"))


def save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    return path


def lambda_phrase(lam: float) -> str:
    """', λ 1e-5' for a legend or title; nothing for a method without a penalty (lambda 0)."""
    return f", λ {lambda_text(lam)}" if lam else ""


def cell_text(cell: Cell) -> str:
    """A cell's eval return: mean over ± std, or n=1 for a single seed (its std says nothing)."""
    mean, std = cell.stat(names.EVAL_RETURN_MEAN)
    return f"{mean:.1f}\nn=1" if cell.seeds == 1 else f"{mean:.1f}\n±{std:.1f}"


def return_text(cell: Cell) -> str:
    """'500.0 ± 0.0' over seeds, '500.0 (n=1)' for one: as the report's tables write it."""
    mean, std = cell.stat(names.EVAL_RETURN_MEAN)
    return f"{mean:.1f} (n=1)" if cell.seeds == 1 else f"{mean:.1f} ± {std:.1f}"


def shared_norm(cells: Sequence[Cell]) -> Normalize | None:
    """One colour scale for every panel, so equal returns get equal colours; None when all
    cells are equal (a scale over one value would be an arbitrary band around it)."""
    means = [c.mean(names.EVAL_RETURN_MEAN) for c in cells]
    finite = [m for m in means if math.isfinite(m)]
    if not finite or max(finite) == min(finite):
        return None
    return Normalize(vmin=min(finite), vmax=max(finite))


def sensitivity(
    title: str, all_cells: Sequence[Cell], path: Path, sampled: bool = False
) -> Path | None:
    """Per pruning method the eval return over lambda x sparsity (mean ± std over seeds in each
    cell) on one colour scale for all panels: a heatmap, or points on a log lambda axis where
    lambdas were sampled (Optuna) or are more than MAX_LAMBDA_COLUMNS. None when nothing was
    pruned."""
    pruned = [c for c in all_cells if not c.dense]
    if not pruned:
        return None
    methods = list(dict.fromkeys(c.method for c in pruned))
    norm = shared_norm(pruned)
    lines = [title]
    lines += [f"dense PPO {return_text(c)}" for c in all_cells if c.dense]
    if norm is None:
        lines.append(f"every cell: {pruned[0].mean(names.EVAL_RETURN_MEAN):.1f}")
    fig, axes = grid(len(methods), "\n".join(lines))
    for ax, method in zip(axes, methods):
        mine = [c for c in pruned if c.method == method]
        if sampled or len({c.lam for c in mine}) > MAX_LAMBDA_COLUMNS:
            lambda_points(ax, mine, norm)
        else:
            lambda_heatmap(ax, mine, norm)
        ax.set_ylabel("sparsity target")
        ax.set_title(label(method))
    if norm is not None:
        scale = ScalarMappable(norm=norm, cmap=SCALE)
        fig.colorbar(scale, ax=axes, label="eval return", shrink=0.9)
    return save(fig, path)


def cell_color(cell: Cell, norm: Normalize | None) -> tuple[float, ...]:
    if norm is None:
        return EQUAL_CELLS
    return SCALE(norm(cell.mean(names.EVAL_RETURN_MEAN)))


def lambda_heatmap(ax: Axes, mine: Sequence[Cell], norm: Normalize | None) -> None:
    """Cells of a lambda x sparsity grid, each coloured and labelled with its return."""
    lams = sorted({c.lam for c in mine})
    targets = sorted({c.sparsity_target for c in mine})
    image = np.ones((len(targets), len(lams), 4))  # RGBA; white where no cell ran
    for c in mine:
        image[targets.index(c.sparsity_target), lams.index(c.lam)] = cell_color(c, norm)
    ax.imshow(image, aspect="auto", interpolation="nearest")
    for c in mine:
        ax.text(
            lams.index(c.lam),
            targets.index(c.sparsity_target),
            cell_text(c),
            ha="center",
            va="center",
            fontsize=8,
            color=text_color(cell_color(c, norm)),
        )
    ax.set_xticks(range(len(lams)), [lambda_text(v) for v in lams])
    ax.set_yticks(range(len(targets)), [f"{v:g}" for v in targets])
    ax.set_xlabel("lambda")


def lambda_points(ax: Axes, mine: Sequence[Cell], norm: Normalize | None) -> None:
    """Sampled lambdas as points on a log axis (as many columns would overlap their labels),
    sparsity targets as rows; the table below the figure has each cell's numbers."""
    targets = sorted({c.sparsity_target for c in mine})
    ax.scatter(
        [c.lam for c in mine],
        [targets.index(c.sparsity_target) for c in mine],
        c=[cell_color(c, norm) for c in mine],
        s=70,
        edgecolors="black",
        linewidths=0.5,
    )
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(numticks=6))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: short_number(x)))
    lams = [c.lam for c in mine]
    if max(lams) < 10 * min(lams):  # within a decade: a major tick or none, so label 2x and 5x
        ax.xaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda x, _: short_number(x)))
    else:
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(range(len(targets)), [f"{v:g}" for v in targets])
    ax.set_ylim(-0.5, len(targets) - 0.5)
    ax.grid(alpha=0.3, axis="x")
    ax.set_xlabel("lambda (log scale)")


def text_color(rgba: tuple[float, ...]) -> str:
    """Black on a light cell, white on a dark one (relative luminance, ITU-R BT.709)."""
    return "black" if 0.2126 * rgba[0] + 0.7152 * rgba[1] + 0.0722 * rgba[2] > 0.45 else "white"


def draw_band(ax: Axes, band: Band, **style: Any) -> None:
    x, mean, std = (np.asarray(v) for v in (band.x, band.mean, band.std))
    (line,) = ax.plot(x, mean, **style)
    ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)


def learning_curves(
    title: str, chosen: Sequence[Cell], bands: dict[CellKey, Band], path: Path
) -> Path:
    """Per method the training return against env steps, mean +- std over seeds, one line per
    sparsity target (its best lambda), with dense PPO dashed in every panel for reference."""
    dense = next((c for c in chosen if c.dense), None)
    methods = list(dict.fromkeys(c.method for c in chosen if not c.dense)) or [dense.method]
    fig, axes = grid(len(methods), title)
    for ax, method in zip(axes, methods):
        if dense is not None:
            draw_band(ax, bands[dense.key], label=label(dense.method), **DENSE_STYLE)
        mine = [c for c in chosen if c.method == method and not c.dense]
        for cell, alpha in zip(mine, np.linspace(1.0, 0.45, len(mine))):  # lighter: sparser
            draw_band(
                ax,
                bands[cell.key],
                color=color(method),
                alpha=float(alpha),
                label=f"sparsity {cell.sparsity_target:g}{lambda_phrase(cell.lam)}",
            )
        ax.set_title(label(method))
        ax.set_xlabel("env steps")
        ax.set_ylabel("training return")
        ax.xaxis.set_major_formatter(STEPS)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    return save(fig, path)


def neurons(
    title: str,
    chosen: Sequence[Cell],
    layer_bands: dict[tuple[CellKey, str], Band],
    target_bands: dict[CellKey, Band],
    layers: Sequence[str],
    path: Path,
) -> Path | None:
    """The paper's Fig. 11: neurons kept per hidden layer over training (mean +- std over
    seeds) for each method's most pruned cell, with the schedule's target p_t (Eq. 17) on the
    right axis. None when nothing was pruned."""
    pruned = [c for c in chosen if not c.dense]
    if not pruned:
        return None
    panels = [
        max((c for c in pruned if c.method == m), key=lambda c: c.sparsity_target)
        for m in dict.fromkeys(c.method for c in pruned)
    ]
    fig, axes = grid(len(panels), title)
    for ax, cell in zip(axes, panels):
        for i, layer in enumerate(layers):
            draw_band(
                ax,
                layer_bands[(cell.key, layer)],
                color=f"C{i}",
                linestyle=LAYER_STYLES[i % len(LAYER_STYLES)],  # equal layers overlap exactly
                label=f"hidden layer {i + 1}",
            )
        ax.set_ylim(bottom=0)
        ax.set_xlabel("env steps")
        ax.set_ylabel("neurons kept")
        ax.xaxis.set_major_formatter(STEPS)
        ax.grid(alpha=0.3)
        target = target_bands[cell.key]
        twin = ax.twinx()
        twin.plot(target.x, target.mean, color="black", linestyle=":", label="target p_t")
        twin.set_ylim(0, 1)
        twin.set_ylabel("target sparsity p_t")
        ax.set_title(
            f"{label(cell.method)} (target {cell.sparsity_target:g}{lambda_phrase(cell.lam)})"
        )
    handles, names = axes[0].get_legend_handles_labels()
    twin_handles, twin_names = twin.get_legend_handles_labels()
    fig.legend(
        handles + twin_handles, names + twin_names, loc="outside lower center", ncols=len(names) + 1
    )
    return save(fig, path)


def padded(matrix: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A compact layer in its dense layer's shape: kept neurons first, the removed ones as zero
    rows and columns (the compact policy does not record where they sat)."""
    out = np.zeros(shape)
    out[: matrix.shape[0], : matrix.shape[1]] = matrix
    return out


def weight_heatmaps(
    title: str,
    dense: tuple[str, PolicyWeights] | None,
    pruned: tuple[str, PolicyWeights],
    path: Path,
) -> Path:
    """The paper's Fig. 10: |W| of each actor layer, transposed as the paper draws it (rows: the
    previous layer's neurons, columns: this layer's). Columns: dense PPO, the pruned policy in
    the dense shape, the pruned policy's compact matrices; one colour scale per layer, exact
    zeros (removed) white."""
    shapes = pruned[1].dense_shapes
    columns = [
        *([(dense[0], [w.T for w in dense[1].matrices])] if dense else []),
        (pruned[0], [padded(w, s).T for w, s in zip(pruned[1].matrices, shapes)]),
        (f"{pruned[0]}\ncompact", [w.T for w in pruned[1].matrices]),
    ]
    palette = matplotlib.colormaps["viridis"].with_extremes(bad="white")
    fig = Figure(figsize=(4.0 * len(columns) + 1, 2.6 * len(shapes) + 0.8), layout="constrained")
    axes = fig.subplots(len(shapes), len(columns), squeeze=False)
    for row in range(len(shapes)):
        layer = "head" if row == len(shapes) - 1 else f"hidden layer {row + 1}"
        vmax = max(float(matrices[row].max()) for _, matrices in columns) or 1.0
        image = None
        for col, (name, matrices) in enumerate(columns):
            ax, matrix = axes[row][col], matrices[row]
            image = ax.imshow(
                np.ma.masked_equal(matrix, 0.0),
                cmap=palette,
                vmin=0.0,
                vmax=vmax,
                aspect="auto",
                interpolation="nearest",
            )
            kept = int((matrix != 0).any(axis=0).sum())
            heading = f"{name}\n" if row == 0 else ""
            detail = f", {kept} neurons kept" if layer != "head" else ""
            ax.set_title(
                f"{heading}{layer}: {matrix.shape[0]} x {matrix.shape[1]}{detail}", fontsize=9
            )
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("neuron of this layer" if layer != "head" else "output")
            ax.set_ylabel("input" if row == 0 else "neuron of the previous layer")
        fig.colorbar(image, ax=list(axes[row]), label="|w|", shrink=0.9)
    fig.suptitle(wrapped(title, 4.0 * len(columns) + 1))
    return save(fig, path)


def pareto(title: str, trials: Sequence[Trial], front_rows: Sequence[Outcome], path: Path) -> Path:
    """Every finished trial's eval return against its compact weights, by method, and the
    Pareto front (return up, weights down) as a staircase."""
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    for method in sorted({t.method for t in trials}, key=method_order):
        mine = [t for t in trials if t.method == method]
        ax.scatter(
            [t.metric(names.WEIGHTS_COMPACT) for t in mine],
            [t.metric(names.EVAL_RETURN_MEAN) for t in mine],
            color=color(method),
            label=METHOD_LABELS.get(method, method),
            alpha=0.7,
            s=25,
        )
    ax.step(
        [r.weights_compact for r in front_rows],
        [r.eval_return_mean for r in front_rows],
        where="post",
        color="black",
        marker="o",
        fillstyle="none",
        markersize=9,
        label="Pareto front",
    )
    ax.set_xscale("log")  # sizes span orders of magnitude (dense 17k, pruned tens)
    # labelled minor ticks at 2x and 5x only: at every one the labels run into each other
    ax.xaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    ax.xaxis.set_major_formatter(PLAIN)
    ax.xaxis.set_minor_formatter(PLAIN)
    ax.set_xlabel("compact weights")
    ax.set_ylabel("eval return")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title(wrapped(title, 7))
    return save(fig, path)


def frontier(title: str, rows: Sequence[FrontierRow], keep: float, path: Path) -> Path:
    """Retained return against units kept (log x), a line per method with its seeds' std band,
    each method's frontier circled, the keep threshold and dense PPO marked; one panel per
    unit (neurons, weights)."""
    probes = [r for r in rows if r.method not in (names.DENSE_METHOD, RANDOM)]
    units = sorted({r.unit for r in probes})
    fig, axes = grid(len(units), title)
    dense = next((r for r in rows if r.method == names.DENSE_METHOD), None)
    for ax, unit in zip(axes, units):
        for method in sorted({r.method for r in probes if r.unit == unit}, key=method_order):
            mine = sorted((r for r in probes if r.method == method), key=lambda r: r.kept)
            kept = [r.kept for r in mine]
            mean = np.array([r.retained_mean for r in mine])
            std = np.nan_to_num(np.array([r.retained_std for r in mine]))
            ax.plot(kept, mean, marker="o", color=color(method), label=label(method))
            ax.fill_between(kept, mean - std, mean + std, color=color(method), alpha=0.2)
            for r in mine:
                if r.frontier:
                    ax.plot(r.kept, r.retained_mean, "o", ms=12, mfc="none", color="black")
        ax.axhline(keep, color="grey", linestyle=":", label=f"keep {keep:g}")
        if dense is not None and unit == dense.unit:
            ax.plot(dense.kept, 1.0, "*", ms=12, color="black", label="dense PPO")
        ax.set_xscale("log")
        ax.xaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        ax.xaxis.set_major_formatter(PLAIN)
        ax.xaxis.set_minor_formatter(PLAIN)
        ax.set_xlabel(f"{unit} kept")
        ax.set_ylabel("retained return")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    return save(fig, path)
