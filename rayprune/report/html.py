"""The report page: one self-contained HTML file (PNGs inlined as data URIs, CSS inline), its
tables real <table> elements with an id and a class per kind, one <tbody> row per entry."""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

from rayprune import names
from rayprune.report.aggregate import Cell
from rayprune.report.data import Sweep
from rayprune.report.paper import PAPER_SPARSITY, label, lambda_text, paper_return
from rayprune.store.frontier_record import FrontierRow
from rayprune.store.pareto import Outcome
from rayprune.store.ranking import Pick

GENERATOR = "rayprune report"  # <meta name="generator">: how a previous report is recognised
OPEN_ROWS = 12  # a table longer than this starts folded (<details>), so the page stays short
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1500px; color: #222;
       padding: 0 1em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; }
td.text, th.text { text-align: left; }
div.wide { overflow-x: auto; max-width: 100%; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption, p.note { color: #555; font-size: 14px; max-width: 1100px; }
details { margin: 0.5em 0 1em; }
summary { cursor: pointer; color: #333; }
nav#contents { background: #fafafa; border: 1px solid #ddd; padding: 0.5em 1.5em; }
nav#contents ol { margin: 0.3em 0; }
a.top { font-size: 13px; font-weight: normal; margin-left: 1em; }
"""


@dataclass(frozen=True)
class Block:
    """One heading of a chapter and what it holds; the contents link to its anchor."""

    anchor: str
    title: str
    body: str


@dataclass(frozen=True)
class Chapter:
    """A part of the page (the summary, the comparison, an environment) and its blocks."""

    anchor: str
    title: str
    intro: str
    blocks: Sequence[Block] = ()


def contents(chapters: Sequence[Chapter]) -> str:
    """The table of contents: every chapter and block, linked by anchor."""

    def item(anchor: str, title: str, inner: str = "") -> str:
        return f'<li><a href="#{escape(anchor)}">{escape(title)}</a>{inner}</li>'

    entries = []
    for chapter in chapters:
        inner = "".join(item(b.anchor, b.title) for b in chapter.blocks)
        entries.append(item(chapter.anchor, chapter.title, f"<ol>{inner}</ol>" if inner else ""))
    return f'<nav id="contents"><h2>Contents</h2><ol>{"".join(entries)}</ol></nav>'


def chapter_html(chapter: Chapter) -> str:
    back = '<a class="top" href="#contents">contents</a>'
    parts = [
        f'<section id="{escape(chapter.anchor)}">',
        f"<h2>{escape(chapter.title)}{back}</h2>",
        chapter.intro,
    ]
    for block in chapter.blocks:
        parts += [f'<h3 id="{escape(block.anchor)}">{escape(block.title)}</h3>', block.body]
    parts.append("</section>")
    return "\n".join(parts)


def slug(name: str) -> str:
    """A sweep name as a file name and an HTML id (MLflow allows any experiment name); merged
    parts 'a + b' become 'a_b'."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def number(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}" if math.isfinite(value) else "-"


def percent(fraction: float) -> str:
    return f"{fraction:.1%}" if math.isfinite(fraction) else "-"


def plus_minus(mean: float, std: float, seeds: int = 0, digits: int = 1) -> str:
    """'450.0 ± 40.8' over several seeds; '500.0 (n=1)' for one, whose std says nothing."""
    if not math.isfinite(mean):
        return "-"
    if seeds == 1:
        return f"{number(mean, digits)} (n=1)"
    return f"{number(mean, digits)} ± {number(std, digits)}"


def times(ratio: float) -> str:
    """A compression ratio: '127x'."""
    return f"{ratio:,.0f}x" if math.isfinite(ratio) else "-"


def folded(what: str, rows: int, content: str) -> str:
    """A table under a <details> that starts open only when short."""
    state = " open" if rows <= OPEN_ROWS else ""
    return f"<details{state}><summary>{escape(what)} ({rows} rows)</summary>{content}</details>"


def tie_text(chosen: Pick) -> str:
    """What broke a tie for the best lambda, and among how many; '-' without one."""
    return f"{chosen.decided_by} (of {chosen.tied})" if chosen.decided_by else "-"


def table(
    table_id: str,
    kind: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    text_columns: int = 1,
) -> str:
    """The first text_columns left-aligned (names), the others right-aligned (numbers); every
    cell escaped."""

    def cells(tag: str, values: Sequence[str]) -> str:
        return "".join(
            f"<{tag}{' class=text' if i < text_columns else ''}>{escape(v)}</{tag}>"
            for i, v in enumerate(values)
        )

    body = "\n".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return (
        f'<div class="wide"><table id="{escape(table_id)}" class="{kind}">\n'
        f"<thead><tr>{cells('th', headers)}</tr></thead>\n<tbody>\n{body}\n</tbody>\n"
        "</table></div>"
    )


def figure(png: Path, caption: str) -> str:
    """The PNG inlined, so the page needs no other file; data-file names the copy beside it."""
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{escape(caption)}" '
        f'data-file="{escape(png.name)}">\n<figcaption>{escape(caption)}</figcaption></figure>'
    )


def sensitivity_table(sweep: Sweep, all_cells: Sequence[Cell]) -> str:
    """One row per grid cell: method x lambda x sparsity_target, seeds pooled."""
    rows = [
        [
            label(c.method),
            lambda_text(c.lam),
            f"{c.sparsity_target:g}",
            str(c.seeds),
            plus_minus(*c.stat(names.EVAL_RETURN_MEAN), c.seeds),
            f"{c.reached}/{c.seeds}",
            number(c.mean(names.NEURONS_COMPACT)),
            number(c.mean(names.WEIGHTS_COMPACT), 0),
        ]
        for c in all_cells
    ]
    headers = [
        "method", "lambda", "sparsity target", "seeds", "eval return", "target reached",
        "neurons", "weights",
    ]  # fmt: skip
    grid = table(f"sensitivity-{slug(sweep.name)}", "sensitivity", headers, rows)
    return folded("Every grid cell", len(rows), grid)


def comparison_table(picks: Sequence[tuple[Sweep, Pick[Cell]]]) -> str:
    """One row per environment x method x sparsity target, at the method's best lambda (and
    what broke a tie for it), the paper's reported return beside ours."""
    rows = [
        [
            sweep.env,
            sweep.name,
            label(c.method),
            f"{c.sparsity_target:g}",
            lambda_text(c.lam),
            tie_text(chosen),
            str(c.seeds),
            plus_minus(*c.stat(names.EVAL_RETURN_MEAN), c.seeds),
            number(c.mean(names.NEURONS_COMPACT)),
            number(c.mean(names.WEIGHTS_COMPACT), 0),
            number(c.mean(names.FLOPS_COMPACT), 0),
            percent(c.mean(names.WEIGHTS_REMOVED)),
            times(c.mean(names.COMPRESSION_RATIO)),
            paper_return(c.method, sweep.env, c.sparsity_target, c.dense) or "-",
        ]
        for sweep, chosen in picks
        for c in [chosen.chosen]
    ]
    headers = [
        "environment", "sweep", "method", "sparsity target", "best lambda", "tie broken by",
        "seeds", "eval return", "neurons", "weights", "FLOPs", "weights removed", "compression",
        f"paper ({PAPER_SPARSITY:.0%})",
    ]  # fmt: skip
    grid = table("comparison", "comparison", headers, rows, text_columns=3)
    return folded("Every method and sparsity target", len(rows), grid)


def summary_table(rows_in: Sequence[tuple[Sweep, Cell]]) -> str:
    """One row per environment and method, at the sparsity the summary shows."""
    rows = [
        [
            sweep.env,
            sweep.name,
            label(c.method),
            f"{c.sparsity_target:g}",
            lambda_text(c.lam),
            plus_minus(*c.stat(names.EVAL_RETURN_MEAN), c.seeds),
            number(c.mean(names.WEIGHTS_COMPACT), 0),
            times(c.mean(names.COMPRESSION_RATIO)),
            number(c.mean(names.FLOPS_COMPACT), 0),
        ]
        for sweep, c in rows_in
    ]
    headers = [
        "environment", "sweep", "method", "sparsity target", "lambda", "eval return", "weights",
        "compression", "FLOPs",
    ]  # fmt: skip
    return table("summary-table", "summary", headers, rows, text_columns=3)


def pareto_table(sweep: Sweep, front_rows: Sequence[Outcome]) -> str:
    rows = [
        [
            r.trial,
            label(r.point.method),
            lambda_text(r.point.lam),
            f"{r.point.sparsity_target:g}",
            str(r.point.seed),
            number(r.eval_return_mean),
            number(r.weights_compact, 0),
        ]
        for r in front_rows
    ]
    headers = ["trial", "method", "lambda", "sparsity target", "seed", "eval return", "weights"]
    front = table(f"pareto-{slug(sweep.name)}", "pareto", headers, rows, text_columns=2)
    return folded("The front's trials", len(rows), front)


def frontier_table(sweep: Sweep, rows: Sequence[FrontierRow]) -> str:
    cells = [
        [
            label(r.method),
            f"{r.sparsity_target:.4g}",
            lambda_text(r.lam),
            f"{number(r.kept, 0)} {r.unit}",
            number(r.eval_return_mean),
            plus_minus(r.retained_mean, r.retained_std, r.seeds, digits=3),
            "frontier" if r.frontier else ("keeps" if r.keeps else ""),
        ]
        for r in rows
    ]
    headers = ["method", "sparsity target", "lambda", "kept", "eval return", "retained", ""]
    probes = table(f"frontier-{slug(sweep.name)}", "frontier", headers, cells, text_columns=1)
    return folded("Every probe", len(cells), probes)


def page(title: str, intro: str, chapters: Sequence[Chapter]) -> str:
    body = "\n".join(chapter_html(c) for c in chapters)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="{GENERATOR}">
<title>{escape(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{escape(title)}</h1>
{intro}
{contents(chapters)}
{body}
</body>
</html>
"""
