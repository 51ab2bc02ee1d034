"""The report page: one self-contained HTML file (PNGs inlined as data URIs, CSS inline), its
tables real <table> elements with an id and a class per kind, one <tbody> row per entry."""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Sequence
from html import escape
from pathlib import Path

from rayprune import names
from rayprune.report.aggregate import Cell
from rayprune.report.data import Sweep
from rayprune.report.paper import PAPER_SPARSITY, label, lambda_text, paper_return
from rayprune.store.pareto import Outcome

GENERATOR = "rayprune report"  # <meta name="generator">: how a previous report is recognised
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1500px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; }
td.text, th.text { text-align: left; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption, p.note { color: #555; font-size: 14px; max-width: 1100px; }
"""


def slug(name: str) -> str:
    """A sweep name as a file name and an HTML id (MLflow allows any experiment name); merged
    parts 'a + b' become 'a_b'."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def number(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}" if math.isfinite(value) else "-"


def percent(fraction: float) -> str:
    return f"{fraction:.1%}" if math.isfinite(fraction) else "-"


def plus_minus(mean: float, std: float) -> str:
    return f"{number(mean)} ± {number(std)}" if math.isfinite(mean) else "-"


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
        f'<table id="{escape(table_id)}" class="{kind}">\n<thead><tr>{cells("th", headers)}'
        f"</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"
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
            plus_minus(*c.stat(names.EVAL_RETURN_MEAN)),
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
    return table(f"sensitivity-{slug(sweep.name)}", "sensitivity", headers, rows)


def comparison_table(chosen: Sequence[tuple[Sweep, Cell]]) -> str:
    """One row per environment x method x sparsity target, at the method's best lambda, the
    paper's reported return beside ours."""
    rows = [
        [
            sweep.env,
            sweep.name,
            label(c.method),
            f"{c.sparsity_target:g}",
            lambda_text(c.lam),
            str(c.seeds),
            plus_minus(*c.stat(names.EVAL_RETURN_MEAN)),
            number(c.mean(names.NEURONS_COMPACT)),
            number(c.mean(names.WEIGHTS_COMPACT), 0),
            number(c.mean(names.FLOPS_COMPACT), 0),
            percent(c.mean(names.COMPRESSION_RATIO)),
            paper_return(c.method, sweep.env, c.sparsity_target, c.dense) or "-",
        ]
        for sweep, c in chosen
    ]
    headers = [
        "environment", "sweep", "method", "sparsity target", "best lambda", "seeds",
        "eval return", "neurons", "weights", "FLOPs", "weights removed",
        f"paper ({PAPER_SPARSITY:.0%})",
    ]  # fmt: skip
    return table("comparison", "comparison", headers, rows, text_columns=3)


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
    return table(f"pareto-{slug(sweep.name)}", "pareto", headers, rows, text_columns=2)


def page(title: str, intro: str, sections: Sequence[str]) -> str:
    body = "\n".join(sections)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="generator" content="{GENERATOR}">
<title>{escape(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{escape(title)}</h1>
{intro}
{body}
</body>
</html>
"""
