"""The sweep's runs page in the MLflow UI: a saved view of its experiment (trial runs only, in
`rayprune best`'s order, the columns that tell trials apart, curves against env steps) and the
link that opens it in the model-training view.

Curves are logged with env steps as their MLflow step and final values at step 0, so both the
view and a run's own page (which always plots against the step) read curves against env steps,
and draw each final value as a bar: MLflow charts a metric that never passed step 0 as a bar,
and a run page a metric with one value.

MLflow 3.17 opens an experiment in its GenAI view unless the browser last chose "Model
training" (a UI setting in the browser's localStorage, `mlflow.workflowType`) or the URL says
`workflowType=machine_learning`. No tracking call sets it: the experiment tag
`mlflow.experimentKind` is read only when the UI's workflow switch is off, which 3.17's is not.
Saved views are experiment tags `mlflow.sharedViewState.<id>` holding {name, createdAt,
updatedAt, state}; the UI lists them under "Views" and opens one from `?viewStateShareKey=<id>`,
but only when the URL carries no search, sort or filter of its own (those would win).
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from mlflow.tracking import MlflowClient

from rayprune import names
from rayprune.store.tracking import client_for, experiment_id

VIEW_ID = "rayprune-trials"
VIEW_NAME = "rayprune: trials, best first (rayprune best's rule)"
UI_HOST, UI_PORT = "127.0.0.1", 5000  # where `rayprune ui` serves by default
# Summary runs (report, pareto_front) carry no trial key, so this keeps them out of the view.
TRIALS_ONLY = f"tags.`{names.TRIAL_KEY_TAG}` LIKE '%'"
PARAM_COLUMNS = (names.METHOD, names.LAMBDA, names.SPARSITY_TARGET, names.SEED)
METRIC_COLUMNS = (names.RANK, names.EVAL_RETURN_MEAN, names.WEIGHTS_COMPACT, names.NEURONS_COMPACT)


def column(kind: str, key: str) -> str:
    """A runs-table column as the MLflow UI names it: params.`lambda`."""
    return f"{kind}.`{key}`"


def view_state() -> dict[str, Any]:
    """The runs page as rayprune shows it: sorted by rank, which `best`'s rule wrote (eval return
    alone leaves ties in MLflow's own order); line charts against their step, env steps."""
    return {
        "searchFilter": TRIALS_ONLY,
        "orderByKey": column("metrics", names.RANK),
        "orderByAsc": True,
        "selectedColumns": [column("params", key) for key in PARAM_COLUMNS]
        + [column("metrics", key) for key in METRIC_COLUMNS],
        # the UI's own default, written out: a view saved before env steps became the step
        # plotted against the metric train/env_steps, and is replaced by this one
        "globalLineChartConfig": {
            "xAxisKey": "step",
            "lineSmoothness": 0,
            "selectedXAxisMetricKey": "",
        },
    }


def view_tag(now_ms: int | None = None) -> tuple[str, str]:
    """The experiment tag (key, value) that saves the view."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    envelope = {
        "name": VIEW_NAME,
        "createdAt": now_ms,
        "updatedAt": now_ms,
        "state": json.dumps(view_state()),
    }
    return f"{names.SAVED_VIEW_TAG_PREFIX}{VIEW_ID}", json.dumps(envelope)


def ensure_view(client: MlflowClient, experiment: str) -> None:
    """Save the view on an experiment (by id) that lacks it or holds a different one; the same
    one is left alone."""
    key, value = view_tag()
    held = client.get_experiment(experiment).tags.get(key)
    if held is None or _state(held) != _state(value):
        client.set_experiment_tag(experiment, key, value)


def _state(envelope: str) -> Any:
    try:
        return json.loads(json.loads(envelope)["state"])
    except (ValueError, KeyError, TypeError):
        return None


def ui_base(tracking_uri: str) -> str:
    """Where the runs page is served: the tracking server itself, or `rayprune ui` for an
    embedded store."""
    if tracking_uri.startswith(("http://", "https://")):
        return tracking_uri.rstrip("/")
    return f"http://{UI_HOST}:{UI_PORT}"


def runs_link(base: str, experiment: str) -> str:
    """The runs page of an experiment (by id) in the model-training view, opened on rayprune's
    view."""
    query = urlencode({"workflowType": "machine_learning", "viewStateShareKey": VIEW_ID})
    return f"{base}/#/experiments/{experiment}/runs?{query}"


def sweep_link(tracking_uri: str, sweep: str, base: str | None = None) -> str:
    """The sweep's runs page, its view saved first."""
    client = client_for(tracking_uri)
    experiment = experiment_id(client, sweep)
    ensure_view(client, experiment)
    return runs_link(base or ui_base(tracking_uri), experiment)


def sweep_links(
    tracking_uri: str, sweeps: list[str], base: str | None = None
) -> list[tuple[str, str]]:
    """(sweep, link to its runs page) for the sweeps named, or for every sweep in the store."""
    if not sweeps:
        experiments = client_for(tracking_uri).search_experiments()
        sweeps = [e.name for e in experiments if names.SWEEP_TAG in e.tags]
    return [(sweep, sweep_link(tracking_uri, sweep, base)) for sweep in sweeps]
