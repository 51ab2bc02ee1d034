"""MLflow: one experiment per sweep, exactly one run per trial, metrics in batches."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from rayprune.errors import AlreadyExists, ExperimentNotFound, TrackingUnavailable
from rayprune.names import (
    DESCRIPTION_TAG,
    ENV_STEPS,
    FAILURE_TAG,
    INTERRUPTED_TAG,
    NODE_TAG,
    RECOVERED_TAG,
    STARTED_FROM_TAG,
    STOPPED_EARLY_TAG,
    SUMMARY_TAG,
    SWEEP_TAG,
    TRIAL_KEY_TAG,
    curve,
)
from rayprune.store.metrics import FINAL_STEP, canonical_metrics, iterations_logged

MAX_BATCH = 1000  # MLflow's limit of metrics per log_batch call
ARTIFACTS_DIR = "mlartifacts"  # the embedded store's artifact folder, beside mlflow.db


def sqlite_path(tracking_uri: str) -> Path | None:
    """The file of an embedded (SQLite) store, or None for a server."""
    return (
        Path(tracking_uri.removeprefix("sqlite:///"))
        if tracking_uri.startswith("sqlite:///")
        else None
    )


def artifacts_here(tracking_uri: str, artifact_uri: str) -> str:
    """`artifact_uri` as it is now: MLflow records a local artifact folder's absolute path, so
    after the results folder moved as a whole, its artifacts are found beside the store."""
    db = sqlite_path(tracking_uri)
    if db is None or not artifact_uri.startswith("file:"):
        return artifact_uri
    path = Path(urlparse(artifact_uri).path)
    if path.exists() or ARTIFACTS_DIR not in path.parts:
        return artifact_uri
    moved = db.parent.joinpath(*path.parts[path.parts.index(ARTIFACTS_DIR) :])
    return moved.as_uri() if moved.exists() else artifact_uri


def check_sqlite_store(path: Path) -> None:
    """A store that is there must be a readable SQLite database, or every MLflow call fails with
    a long sqlalchemy traceback; one that is not there yet is created by the first sweep."""
    if not path.exists():
        return
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            status = db.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as err:
        status = str(err)
    if status != "ok":
        raise TrackingUnavailable(
            f"the MLflow store {path} is corrupt ({status}): restore it from a backup, or "
            f"salvage what is left with `sqlite3 {path} .recover | sqlite3 recovered.db`"
        )


def check_tracking_server(tracking_uri: str, timeout: float = 5.0) -> None:
    """Fail in seconds, not after MLflow's minutes of retries, when a server does not answer;
    in one line when an embedded store is corrupt."""
    db = sqlite_path(tracking_uri)
    if db is not None:
        check_sqlite_store(db)
        return
    if not tracking_uri.startswith(("http://", "https://")):
        return
    url = tracking_uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            if response.status == 200:
                return
            reason = f"HTTP {response.status}"
    except urllib.error.HTTPError as err:
        reason = f"HTTP {err.code}"
    except (urllib.error.URLError, OSError) as err:
        reason = str(getattr(err, "reason", err))
    raise TrackingUnavailable(f"MLflow tracking server {tracking_uri} does not answer: {reason}")


def client_for(tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


@contextlib.contextmanager
def store_lock(tracking_uri: str) -> Iterator[None]:
    """Held while the driver creates an embedded store and its experiment: two sweeps started
    together on a fresh results folder would both create MLflow's schema ("duplicate column").
    A server serializes its own writes."""
    db = sqlite_path(tracking_uri)
    if db is None:
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        yield


def check_experiment_free(tracking_uri: str, name: str) -> None:
    """A name already taken in the store is an error, so no earlier sweep is written into;
    reading never creates an embedded store."""
    db = sqlite_path(tracking_uri)
    if db is not None and not db.is_file():
        return
    if client_for(tracking_uri).get_experiment_by_name(name) is not None:
        raise AlreadyExists(f"MLflow experiment {name!r} already exists at {tracking_uri}")


def create_experiment(tracking_uri: str, name: str, artifact_location: str | None) -> str:
    """Create the sweep's experiment from the driver, before any trial can race to create the
    store; a name already taken is an error."""
    taken = AlreadyExists(f"MLflow experiment {name!r} already exists at {tracking_uri}")
    with store_lock(tracking_uri):
        check_experiment_free(tracking_uri, name)
        client = client_for(tracking_uri)
        try:
            return client.create_experiment(
                name, artifact_location=artifact_location, tags={SWEEP_TAG: name}
            )
        except MlflowException as err:  # another driver made it since (a server's store)
            if err.error_code == "RESOURCE_ALREADY_EXISTS":
                raise taken from None
            raise


def experiment_id(client: MlflowClient, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        raise ExperimentNotFound(f"no MLflow experiment named {name!r} at {client.tracking_uri}")
    return experiment.experiment_id


def experiment_artifacts(tracking_uri: str, experiment: str) -> str:
    client = client_for(tracking_uri)
    return client.get_experiment(experiment_id(client, experiment)).artifact_location


def trial_runs(client: MlflowClient, experiment: str, finished_only: bool = True) -> list:
    """The experiment's trial runs, those with a trial key, not its summary runs: the FINISHED
    ones, or with finished_only=False every one (failed and stopped trials cost compute too)."""
    runs = client.search_runs(
        [experiment_id(client, experiment)],
        filter_string="attributes.status = 'FINISHED'" if finished_only else "",
        max_results=50_000,
    )
    return [r for r in runs if TRIAL_KEY_TAG in r.data.tags]


def find_trial_run(client: MlflowClient, experiment: str, key: str):
    runs = client.search_runs(
        [experiment_id(client, experiment)], filter_string=f"tags.`{TRIAL_KEY_TAG}` = '{key}'"
    )
    return runs[0] if runs else None


def finished_metrics(tracking_uri: str, experiment: str, key: str, metrics: Iterable[str]):
    """The final metrics of the trial's run if it FINISHED (then it is complete: its curve, its
    final metrics and its artifacts are in), else None."""
    run = find_trial_run(client_for(tracking_uri), experiment, key)
    if run is None or run.info.status != "FINISHED":
        return None
    logged = canonical_metrics(run.data.metrics)
    return {name: logged[name] for name in metrics if name in logged}


class TrialRun:
    """The MLflow run of one trial; a retried or resumed trial reopens the same run."""

    def __init__(self, client: MlflowClient, run_id: str, logged_through: int = 0) -> None:
        self.client = client
        self.run_id = run_id
        self.logged_through = logged_through  # the last iteration whose row is in the run

    @classmethod
    def open(
        cls,
        tracking_uri: str,
        experiment: str,
        key: str,
        name: str,
        params: dict[str, Any],
        description: str = "",
    ) -> TrialRun:
        client = client_for(tracking_uri)
        existing = find_trial_run(client, experiment, key)
        tags = {TRIAL_KEY_TAG: key, SWEEP_TAG: experiment}
        if description:
            tags[DESCRIPTION_TAG] = description
        if existing is None:
            run_id = client.create_run(
                experiment_id(client, experiment), run_name=name, tags=tags
            ).info.run_id
            logged_through = 0
        else:
            run_id = existing.info.run_id
            for stale in (
                STOPPED_EARLY_TAG,
                FAILURE_TAG,
                INTERRUPTED_TAG,
            ):  # of an earlier attempt, not this one
                if stale in existing.data.tags:
                    client.delete_tag(run_id, stale)
            client.update_run(run_id, status="RUNNING")
            logged_through = iterations_logged(client, run_id)
        # Every attempt logs the params and tags (the same values again are accepted): an
        # attempt that died right after creating the run must not leave it without them.
        client.log_batch(
            run_id,
            params=[Param(k, str(v)) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        return cls(client, run_id, logged_through)

    def tag_node(self, node_id: str) -> None:
        self.client.set_tag(self.run_id, NODE_TAG, node_id)

    def tag_started_from(self, sweep: str, run_name: str, key: str) -> None:
        """Say on the run which trained trial's policy it started from."""
        self.client.set_tag(
            self.run_id, STARTED_FROM_TAG, f"sweep {sweep!r}, trial {run_name} (key {key})"
        )

    def tag_recovery(self, what: str) -> None:
        """Say on the run that an attempt recovered from a bad checkpoint, and how."""
        self.client.set_tag(self.run_id, RECOVERED_TAG, what[:500])

    def log_curve(self, rows: list[tuple[int, dict[str, float]]]) -> None:
        """Per-iteration rows (iteration, values under the code's names, ENV_STEPS among them),
        each logged at its env steps. A trial killed after logging but before its checkpoint
        was saved repeats those iterations from the older checkpoint: their rows are skipped by
        iteration (their env steps may differ by a few), so no iteration is logged twice."""
        new = [(iteration, row) for iteration, row in rows if iteration > self.logged_through]
        self._log(
            (int(row[ENV_STEPS]), {curve(k): v for k, v in row.items() if k != ENV_STEPS})
            for _, row in new
        )
        if new:
            self.logged_through = new[-1][0]

    def log_final(self, values: dict[str, float]) -> None:
        """The trial's final values, under their names as given (no curve prefix)."""
        self._log([(FINAL_STEP, values)])

    def _log(self, rows: Iterable[tuple[int, dict[str, float]]]) -> None:
        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, step) for step, row in rows for k, v in row.items()]
        for start in range(0, len(metrics), MAX_BATCH):
            self.client.log_batch(self.run_id, metrics=metrics[start : start + MAX_BATCH])

    def log_artifacts(self, local_dir: Path, artifact_path: str) -> None:
        self.client.log_artifacts(self.run_id, str(local_dir), artifact_path)

    def finish(self, status: str, reason: str | None = None) -> None:
        """A run the scheduler stopped early ends KILLED: its trial's process fails as Tune tears
        it down, after the driver tagged the run (mark_stopped_early). A failed run keeps the
        first line of why, as a tag the runs table can show."""
        if reason:
            self.client.set_tag(self.run_id, FAILURE_TAG, reason.strip().splitlines()[0][:500])
        if status == "FAILED":
            tags = self.client.get_run(self.run_id).data.tags
            if tags.get(STOPPED_EARLY_TAG) == "true":
                status = "KILLED"
        self.client.set_terminated(self.run_id, status=status)


def end_interrupted_runs(tracking_uri: str, experiment: str, keys: Iterable[str], why: str) -> None:
    """KILLED, tagged with `why`, for the runs still RUNNING of trials an interrupted sweep
    stopped (not failed): `rayprune resume` continues them in the same runs."""
    client = client_for(tracking_uri)
    running = RunStatus.to_string(RunStatus.RUNNING)
    for key in keys:
        run = find_trial_run(client, experiment, key)
        if run is not None and run.info.status == running:
            client.set_tag(run.info.run_id, INTERRUPTED_TAG, why)
            client.set_terminated(run.info.run_id, status="KILLED")


def fail_unfinished_runs(tracking_uri: str, experiment: str) -> int:
    """Mark FAILED the runs that a killed or errored trial left RUNNING; returns how many."""
    client = client_for(tracking_uri)
    running = client.search_runs(
        [experiment_id(client, experiment)],
        filter_string=f"attributes.status = '{RunStatus.to_string(RunStatus.RUNNING)}'",
    )
    for run in running:
        client.set_terminated(run.info.run_id, status="FAILED")
    return len(running)


def mark_stopped_early(tracking_uri: str, experiment: str, key: str) -> None:
    """Tag the run of a trial the scheduler stopped, before Tune tears its process down (then
    TrialRun.finish ends it KILLED; end_stopped_runs settles it if the process never could)."""
    client = client_for(tracking_uri)
    run = find_trial_run(client, experiment, key)
    if run is not None:
        client.set_tag(run.info.run_id, STOPPED_EARLY_TAG, "true")


def end_stopped_runs(tracking_uri: str, experiment: str) -> set[str]:
    """KILLED for the runs of trials stopped early whose process ended before it could say so
    (none stays RUNNING); returns the trial keys of all runs stopped early."""
    client = client_for(tracking_uri)
    runs = client.search_runs(
        [experiment_id(client, experiment)],
        filter_string=f"tags.`{STOPPED_EARLY_TAG}` = 'true'",
        max_results=50_000,
    )
    stopped = set()
    for run in runs:
        if run.info.status != "KILLED":
            client.set_terminated(run.info.run_id, status="KILLED")
        stopped.add(run.data.tags[TRIAL_KEY_TAG])
    return stopped


def log_summary(
    tracking_uri: str,
    experiment: str,
    name: str,
    rows: list[dict[str, Any]],
    description: str = "",
) -> str:
    """A FINISHED sweep-level run `name` holding rows (at least one) as NAME.json and NAME.csv,
    its `description` on its page; returns its run id. It has no trial key, so neither `best`
    nor a resumed trial takes it for a trial, and rayprune's runs view leaves it out; a resumed
    sweep rewrites it."""
    client = client_for(tracking_uri)
    existing = client.search_runs(
        [experiment_id(client, experiment)], filter_string=f"tags.`{SUMMARY_TAG}` = '{name}'"
    )
    if existing:
        run_id = existing[0].info.run_id
    else:
        run_id = client.create_run(
            experiment_id(client, experiment),
            run_name=name,
            tags={SWEEP_TAG: experiment, SUMMARY_TAG: name},
        ).info.run_id
    if description:
        client.set_tag(run_id, DESCRIPTION_TAG, description)
    client.log_dict(run_id, rows, f"{name}.json")
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    client.log_text(run_id, table.getvalue(), f"{name}.csv")
    client.set_terminated(run_id, status="FINISHED")
    return run_id


def flatten(prefix: str, value: Any) -> dict[str, Any]:
    """{"ppo": {"lr": 1}} -> {"ppo.lr": 1}: every hyperparameter as one MLflow param."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, sub in value.items():
            out.update(flatten(f"{prefix}.{key}" if prefix else key, sub))
        return out
    return {prefix: value}
