"""`rayprune report`: load the sweeps from MLflow (load.py), render the page (render.py), put
the folder in place whole, and log it to each sweep's `report` run."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient

from rayprune.errors import AlreadyExists
from rayprune.policy import apply_umask
from rayprune.report import html
from rayprune.report.aggregate import Cell, cells
from rayprune.report.load import load_report
from rayprune.report.render import render
from rayprune.store.tracking import check_tracking_server, client_for, log_summary

REPORT_FILE = "report.html"
SUMMARY = "report"  # the sweep-level MLflow run: report.json/.csv, and the page under report/


def write_report(tracking_uri: str, sweep_names: list[str], out: Path) -> Path:
    """The report of sweeps `sweep_names` (one environment each) in `out`: report.html, self-contained,
    and its PNGs beside it; sweeps with equal settings share one section (data.merge_parts).
    `out` is replaced whole, and only when it holds a previous report. Logged to each sweep's
    `report` run; returns the page's path."""
    check_tracking_server(tracking_uri)
    client = client_for(tracking_uri)
    data = load_report(client, tracking_uri, sweep_names)
    out = Path(out).resolve()
    with staged(out) as folder:
        (folder / REPORT_FILE).write_text(render(data, folder), encoding="utf-8")
    for sweep in data.sweeps:
        publish(client, tracking_uri, sweep.name, cells(sweep.trials), out)
    return out / REPORT_FILE


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
        raise AlreadyExists(f"{out} exists and is not a rayprune report; refusing to replace it")


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
    description = (
        f"Not a trial: the report of sweep {name!r}, {SUMMARY}.json / {SUMMARY}.csv (one row "
        f"per grid cell, seeds pooled) and the page under {SUMMARY}/{REPORT_FILE}; rewritten "
        "by `rayprune report`. Kept out of rayprune's runs view."
    )
    run_id = log_summary(tracking_uri, name, SUMMARY, [c.summary() for c in all_cells], description)
    artifact_uri = client.get_run(run_id).info.artifact_uri
    get_artifact_repository(artifact_uri, tracking_uri=tracking_uri).delete_artifacts(SUMMARY)
    client.log_artifacts(run_id, str(out), SUMMARY)
