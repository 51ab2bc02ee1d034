"""Pick a sweep's best compact policy, register it under the alias `best`, download it."""

from __future__ import annotations

import contextlib
import math
import os
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from rayprune import names
from rayprune.errors import AlreadyExists, ArtifactError, CommandError, NoEligibleRun
from rayprune.policy import ARTIFACT_DIR, apply_umask, read_info
from rayprune.policy.staging import staging_folder
from rayprune.pruning import sparsity_unit
from rayprune.store.frontier_record import FrontierRow, read_frontier
from rayprune.store.metrics import FINAL_STEP, canonical_metrics
from rayprune.store.model import MODEL_FILE
from rayprune.store.point import TrialPoint
from rayprune.store.ranking import RULE, ordered, pick, trial_standing
from rayprune.store.tracking import artifacts_here, client_for, trial_runs

ALIAS = "best"


@dataclass(frozen=True)
class Choice:
    """The chosen trial run, what it scored and how it was chosen."""

    run_id: str
    run_name: str
    sweep: str
    env: str
    point: TrialPoint
    metric: str
    value: float
    metrics: dict[str, float]  # the run's final and latest values, under the code's names
    artifact_uri: str  # its compact_policy folder, an MLflow Model
    tied: int = 1  # how many eligible runs shared the best value
    tie_note: str | None = None  # which criteria broke the tie, and how many each left
    frontier: FrontierRow | None = None  # the frontier answer it was chosen from (--frontier)

    @property
    def weights(self) -> float:
        return self.metrics.get(names.WEIGHTS_COMPACT, math.nan)


def sparsity_in_unit(metrics: dict[str, float], params: dict[str, str]) -> float:
    """The run's sparsity in what its method's target counts: neurons, or weights for the
    weight-unit methods (l1, pops, l0 with weight gates)."""
    unit = sparsity_unit(params[names.METHOD], params.get(names.GATES))
    metric = names.WEIGHT_SPARSITY if unit == "weights" else names.NEURON_SPARSITY
    return metrics.get(metric, 0.0)


def choose_best(
    tracking_uri: str,
    sweep: str,
    metric: str = names.EVAL_RETURN_MEAN,
    min_sparsity: float = 0.0,
    frontier: bool = False,
) -> Choice:
    """The best of the FINISHED trial runs with a final eval that reached their sparsity target
    (and min_sparsity, in the unit of each run's method), by store.ranking's rule with `metric`
    first. Trials stopped early have no eval. With `frontier`, only the trials of the frontier
    search's smallest policy that keeps its return (frontier_probe)."""
    client = client_for(tracking_uri)
    eligible = eligible_runs(client, sweep, metric, min_sparsity)
    probe = None
    if frontier:
        probe = frontier_probe(client, sweep, eligible)
        eligible = [e for e in eligible if probe_of(e[2]) == probe_of(probe)]
    chosen = pick(eligible, lambda e: trial_standing(e[1], e[2], metric))
    run, metrics, point = chosen.chosen
    return Choice(
        run_id=run.info.run_id,
        run_name=run.info.run_name,
        sweep=sweep,
        env=run.data.params.get(names.ENV, ""),
        point=point,
        metric=metric,
        value=metrics[metric],
        metrics=metrics,
        artifact_uri=f"{artifacts_here(tracking_uri, run.info.artifact_uri)}/{ARTIFACT_DIR}",
        tied=chosen.tied,
        tie_note=chosen.tie_note(f"highest {metric}"),
        frontier=probe,
    )


Eligible = tuple[Run, dict[str, float], TrialPoint]


def eligible_runs(
    client: MlflowClient,
    sweep: str,
    metric: str = names.EVAL_RETURN_MEAN,
    min_sparsity: float = 0.0,
) -> list[Eligible]:
    """(run, final metrics, point) of the FINISHED trial runs `best` chooses from; NoEligibleRun
    when there are none."""
    eligible = []
    for run in trial_runs(client, sweep):
        metrics = canonical_metrics(run.data.metrics)
        if (
            metric in metrics
            and names.EVAL_RETURN_MEAN in metrics
            and metrics.get(names.TARGET_REACHED) == 1.0
            and sparsity_in_unit(metrics, run.data.params) >= min_sparsity
        ):
            eligible.append((run, metrics, TrialPoint.from_params(run.data.params)))
    if not eligible:
        raise NoEligibleRun(
            f"no finished run of {sweep!r} has {metric!r}, reached its target and sparsity >= {min_sparsity}"
        )
    return eligible


def log_ranks(tracking_uri: str, sweep: str) -> None:
    """Each eligible trial's place under `best`'s rule (1: what `rayprune best` picks) as its
    final metric `rank`, which the saved view sorts by; nothing when none is eligible yet."""
    client = client_for(tracking_uri)
    try:
        eligible = eligible_runs(client, sweep)
    except NoEligibleRun:
        return
    ranked = ordered(eligible, lambda e: trial_standing(e[1], e[2]))
    for place, (run, _, _) in enumerate(ranked, start=1):
        client.log_metric(run.info.run_id, names.RANK, place, step=FINAL_STEP)


def probe_of(point: TrialPoint | FrontierRow) -> tuple[str, float, float]:
    return (point.method, point.lam, point.sparsity_target)


def frontier_probe(client, sweep: str, eligible: list) -> FrontierRow:
    """Of the frontier search's per-method answers (rows with frontier = true), the one whose
    trials ship the fewest compact weights, mean over its seeds: the smallest policy that
    keeps the search's return."""
    rows = [r for r in read_frontier(client, sweep) or [] if r.frontier]
    weights: dict[tuple[str, float, float], list[float]] = {}
    for _, metrics, point in eligible:
        weights.setdefault(probe_of(point), []).append(metrics.get(names.WEIGHTS_COMPACT, math.inf))
    found = [r for r in rows if probe_of(r) in weights]
    if not found:
        raise NoEligibleRun(
            f"sweep {sweep!r} has no frontier answer (not a frontier search, or no probe kept "
            f"its return); run `rayprune best` without --frontier"
        )
    return min(found, key=lambda r: statistics.fmean(weights[probe_of(r)]))


@dataclass(frozen=True)
class Registration:
    version: str
    new_version: bool  # False: the chosen run was registered already, nothing was added
    previous: str | None  # the version the alias named before (None: there was no alias)

    @property
    def moved(self) -> bool:
        return self.previous != self.version


def version_tags(choice: Choice) -> dict[str, str]:
    """What the registry's version list shows of the policy, without opening its run."""
    values = {
        names.SWEEP_TAG: choice.sweep,
        names.ENV: choice.env,
        **{k: str(v) for k, v in choice.point.to_params().items() if k != names.SEED},
        names.EVAL_RETURN_MEAN: f"{choice.metrics.get(names.EVAL_RETURN_MEAN, math.nan):.2f}",
        names.WEIGHTS_COMPACT: f"{choice.weights:.0f}",
        names.FLOPS_COMPACT: f"{choice.metrics.get(names.FLOPS_COMPACT, math.nan):.0f}",
    }
    return {key: value for key, value in values.items() if value}


def version_description(choice: Choice) -> str:
    m = choice.metrics
    tie = f" A tie: {choice.tie_note}." if choice.tie_note else ""
    return (
        f"Compact policy of trial {choice.run_name} (run {choice.run_id}) of sweep "
        f"{choice.sweep!r} on {choice.env}: eval return "
        f"{m.get(names.EVAL_RETURN_MEAN, math.nan):.2f} ± {m.get(names.EVAL_RETURN_STD, math.nan):.2f}, "
        f"{choice.weights:.0f} weights ({m.get(names.COMPRESSION_RATIO, math.nan):.0f}x fewer than "
        f"the dense actor), {m.get(names.FLOPS_COMPACT, math.nan):.0f} FLOPs. An MLflow Model "
        f"(ONNX) with compression.json, policy.safetensors and, when exported, the C code. "
        f"Chosen by `rayprune best`: {RULE} ({choice.metric} first).{tie}"
    )


def register_best(tracking_uri: str, model_name: str, choice: Choice) -> Registration:
    """The chosen run's compact_policy folder as a version of `model_name`, aliased `best`.
    Idempotent: a run already registered keeps its version (tags and description refreshed),
    and the alias moves only when the choice changed."""
    client = client_for(tracking_uri)
    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(model_name)
    registered = client.search_model_versions(
        f"name = '{model_name}' and run_id = '{choice.run_id}'"
    )
    if registered:
        version = str(min(int(v.version) for v in registered))
    else:
        version = str(
            client.create_model_version(
                model_name, source=choice.artifact_uri, run_id=choice.run_id
            ).version
        )
    for key, value in version_tags(choice).items():
        client.set_model_version_tag(model_name, version, key, value)
    client.update_model_version(model_name, version, description=version_description(choice))
    previous = alias_version(client, model_name)
    if previous != version:
        client.set_registered_model_alias(model_name, ALIAS, version)
    return Registration(version, not registered, previous)


def alias_version(client, model_name: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(model_name, ALIAS).version)
    except MlflowException:
        return None


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
    """The chosen run's compact_policy folder, downloaded beside `out` and checked (a policy
    and an MLflow Model); it takes out's place only if the block succeeds, so a failure (or
    Ctrl-C) leaves nothing behind; a staging folder that a killed `best` left for `out` is
    removed first (rayprune/policy/staging.py)."""
    with staging_folder(out) as tmp:
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=choice.artifact_uri, dst_path=str(tmp), tracking_uri=tracking_uri
            )
        )
        read_info(local)  # refuse to hand over a corrupt folder
        if not (local / MODEL_FILE).is_file():  # nor register one MLflow cannot load
            raise ArtifactError(
                f"run {choice.run_name}: its {ARTIFACT_DIR}/ is not an MLflow Model (no "
                f"{MODEL_FILE}; logged by an earlier rayprune 0.x), so `best` cannot register it"
            )
        apply_umask(local)
        yield local
        if out.is_dir():
            out.rmdir()
        os.replace(local, out)
