"""Pick a sweep's best compact policy, register it under the alias `best`, download it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

from rayprune import names
from rayprune.errors import AlreadyExists, CommandError, NoEligibleRun
from rayprune.policy import ARTIFACT_DIR, apply_umask, read_info
from rayprune.pruning import sparsity_unit
from rayprune.store.tracking import artifacts_here, client_for, trial_runs

ALIAS = "best"


@dataclass(frozen=True)
class Choice:
    run_id: str
    run_name: str
    value: float
    weights: float
    artifact_uri: str


def sparsity_in_unit(run) -> float:
    """The run's sparsity in what its method's target counts: neurons, or weights for the
    weight-unit methods (l1, pops, l0 with weight gates)."""
    unit = sparsity_unit(run.data.params[names.METHOD], run.data.params.get(names.GATES))
    metric = names.WEIGHT_SPARSITY if unit == "weights" else names.NEURON_SPARSITY
    return run.data.metrics.get(metric, 0.0)


def choose_best(
    tracking_uri: str, sweep: str, metric: str = names.EVAL_RETURN_MEAN, min_sparsity: float = 0.0
) -> Choice:
    """Highest `metric` among FINISHED trial runs with a final eval that reached their sparsity
    target (and min_sparsity, in the unit of each run's method); ties go to the smaller policy.
    Trials stopped early have no eval."""
    client = client_for(tracking_uri)
    eligible = [
        r
        for r in trial_runs(client, sweep)
        if metric in r.data.metrics
        and names.EVAL_RETURN_MEAN in r.data.metrics
        and r.data.metrics.get(names.TARGET_REACHED) == 1.0
        and sparsity_in_unit(r) >= min_sparsity
    ]
    if not eligible:
        raise NoEligibleRun(
            f"no finished run of {sweep!r} has {metric!r}, reached its target and sparsity >= {min_sparsity}"
        )
    best = max(
        eligible,
        key=lambda r: (r.data.metrics[metric], -r.data.metrics.get(names.WEIGHTS_COMPACT, 0.0)),
    )
    return Choice(
        run_id=best.info.run_id,
        run_name=best.info.run_name,
        value=best.data.metrics[metric],
        weights=best.data.metrics.get(names.WEIGHTS_COMPACT, float("nan")),
        artifact_uri=f"{artifacts_here(tracking_uri, best.info.artifact_uri)}/{ARTIFACT_DIR}",
    )


def register_best(tracking_uri: str, model_name: str, choice: Choice) -> str:
    """A new model version from the run's compact_policy folder, aliased `best`; returns the version."""
    client = client_for(tracking_uri)
    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(model_name)
    version = client.create_model_version(
        model_name, source=choice.artifact_uri, run_id=choice.run_id
    )
    client.set_registered_model_alias(model_name, ALIAS, version.version)
    return version.version


def check_out(out: Path) -> Path:
    """`out` must not exist (or be an empty folder) and its parent must be writable: checked
    before anything else changes, the registry included."""
    out = Path(out).absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AlreadyExists(f"{out} exists and is not empty; refusing to overwrite it")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CommandError(f"cannot create {out.parent}: {err.strerror or err}") from None
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise CommandError(f"cannot write into {out.parent}: permission denied")
    return out


@contextlib.contextmanager
def staged_download(tracking_uri: str, choice: Choice, out: Path) -> Iterator[Path]:
    """The chosen run's compact_policy folder, downloaded beside `out` and checked; it takes
    out's place only if the block succeeds, so a failure (or Ctrl-C) leaves nothing behind."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=choice.artifact_uri, dst_path=tmp, tracking_uri=tracking_uri
            )
        )
        read_info(local)  # refuse to hand over a corrupt folder
        apply_umask(local)
        yield local
        if out.is_dir():
            out.rmdir()
        os.replace(local, out)
