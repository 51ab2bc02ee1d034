"""The `rayprune` command: sweep, resume, best, report, eval, ui."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from rayprune.errors import CommandError, RaypruneError
from rayprune.names import EVAL_RETURN_MEAN
from rayprune.store.uri import take_credentials

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False)

Results = Annotated[
    Optional[Path], typer.Option("--results", help="Results folder (default: ./rayprune_results).")
]
Address = Annotated[
    Optional[str],
    typer.Option(
        help="Ray cluster address HOST:PORT, or auto on a cluster node (default: a local Ray).",
        envvar="RAY_ADDRESS",
    ),
]
TrackingUri = Annotated[
    Optional[str],
    typer.Option(
        "--tracking-uri",
        help="MLflow tracking URI (default: SQLite in --results). Credentials in it "
        "(http://user:token@host) move to MLFLOW_TRACKING_USERNAME / _PASSWORD and are never "
        "shown or stored.",
        callback=take_credentials,
    ),
]


@app.command()
def sweep(
    config: Annotated[Path, typer.Argument(help="Sweep YAML, e.g. tune_configs/quickstart.yaml")],
    set_: Annotated[
        Optional[list[str]], typer.Option("--set", help="Override a key: --set grid.seed=[0,1]")
    ] = None,
    results: Results = None,
    tracking_uri: TrackingUri = None,
    storage: Annotated[
        Optional[str], typer.Option(help="Tune storage path (default: --results/ray).")
    ] = None,
    address: Address = None,
    max_trials: Annotated[
        int, typer.Option(min=1, help="Refuse a sweep of more trials than this, unless --yes.")
    ] = 1000,
    yes: Annotated[bool, typer.Option("--yes", help="Run a sweep over --max-trials.")] = False,
) -> None:
    """Run one Tune trial per grid point and track each in MLflow."""
    from rayprune.sweep import Workspace, load_config, start_sweep

    cfg = load_config(config, set_ or [])
    trials = cfg.trial_count()
    print(f"rayprune: {trials} trial(s), up to {trials * cfg.budget_env_steps:,} env steps")
    if trials > max_trials and not yes:
        raise CommandError(
            f"{trials} trials is more than --max-trials {max_trials}: check the grid, or pass --yes"
        )
    ws = Workspace.create(results, tracking_uri, storage, address)
    _conclude(cfg.name, start_sweep(cfg, ws), ws)


@app.command()
def resume(name: str, results: Results = None, address: Address = None) -> None:
    """Continue an interrupted sweep; finished trials are not rerun (default address: the
    sweep's own)."""
    from rayprune.sweep import Workspace, resume_sweep

    ws = Workspace.create(results, address=address)
    outcome = resume_sweep(name, ws)
    _conclude(name, outcome, ws.load_sweep(name)[1])


def _conclude(name: str, outcome, ws) -> None:
    """The sweep's report (of the trials that finished), then whether anything is left to do."""
    if outcome.finished:
        from rayprune.report import write_report

        page = write_report(ws.tracking_uri, [name], ws.root / "reports" / name)
        print(f"  report:       {page} (and in MLflow: run 'report' of experiment {name!r})")
    if outcome.failed or outcome.unfinished:
        raise CommandError(
            f"{outcome.failed} trial(s) failed and {outcome.unfinished} did not finish; "
            f"`rayprune resume {name}` continues them"
        )


@app.command()
def best(
    name: str,
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Folder to download the best compact policy to (must not exist)."
        ),
    ],
    metric: Annotated[str, typer.Option(help="Metric to maximise.")] = EVAL_RETURN_MEAN,
    min_sparsity: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Only runs at least this sparse, in their method's unit (neurons, or weights "
            "for l1, pops and weight-gated l0).",
        ),
    ] = 0.0,
    model_name: Annotated[
        Optional[str], typer.Option(help="Registered model name (default: rayprune-NAME).")
    ] = None,
    results: Results = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Register the best trial's compact policy under alias `best` and download it."""
    from rayprune.store.best import check_out, choose_best, register_best, staged_download
    from rayprune.store.tracking import check_tracking_server
    from rayprune.sweep.workspace import check_name

    uri = tracking_uri or _recorded(results, name).tracking_uri
    check_name(name)
    check_tracking_server(uri)
    out = check_out(out)
    choice = choose_best(uri, name, metric, min_sparsity)
    model = model_name or f"rayprune-{name}"
    with staged_download(uri, choice, out):
        version = register_best(uri, model, choice)  # the registry changes last
    print(
        f"best run {choice.run_name} ({metric} = {choice.value:.2f}, {choice.weights:.0f} weights)"
    )
    print(f"registered as models:/{model}@best (version {version}); downloaded to {out}")


@app.command()
def report(
    names: Annotated[list[str], typer.Argument(help="Sweep name(s), one environment each.")],
    out: Annotated[
        Optional[Path],
        typer.Option(
            "--out",
            help="Report folder (default: RESULTS/reports/FIRST_NAME); only a previous report "
            "there is replaced.",
        ),
    ] = None,
    results: Results = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Write the sweeps' HTML report (figures, tables, the paper's numbers beside ours) and
    log it to each sweep's MLflow experiment."""
    from rayprune.report import write_report
    from rayprune.sweep.workspace import Workspace, check_name

    ws = Workspace.create(results)
    for name in names:
        check_name(name)
    if tracking_uri is None:
        stores = {_recorded(results, name).tracking_uri for name in names}
        if len(stores) > 1:
            raise CommandError("these sweeps are in different MLflow stores; pass --tracking-uri")
        (tracking_uri,) = stores
    page = write_report(tracking_uri, names, out or ws.root / "reports" / names[0])
    print(f"report of {', '.join(names)}: {page}")
    print(f"logged to MLflow ({tracking_uri}): run 'report' of each sweep's experiment")


def _recorded(results: Path | None, name: str):
    """The workspace sweep `name` was recorded with, its embedded store there."""
    from rayprune.sweep import Workspace

    recorded = Workspace.create(results).load_sweep(name)[1]
    recorded.check_store()
    return recorded


@app.command("eval")
def eval_(
    policy_dir: Annotated[Path, typer.Argument(help="A compact_policy folder.")],
    episodes: Annotated[int, typer.Option(min=1)] = 20,
    env: Annotated[
        Optional[str], typer.Option(help="Environment id (default: the one it was trained on).")
    ] = None,
    seed: int = 0,
) -> None:
    """Run a compact policy with onnxruntime and print its return and size."""
    from rayprune.policy import OnnxPolicy, evaluate, read_info

    info = read_info(policy_dir)
    result = evaluate(OnnxPolicy(policy_dir), env or info.env, episodes, seed)
    print(
        f"return {result.mean:.2f} +- {result.std:.2f} over {episodes} episodes on {env or info.env}"
    )
    print(
        f"compact size: hidden {info.hidden_compact} (dense {info.hidden_dense}), "
        f"{info.weights_compact} weights, {info.flops_compact} FLOPs"
    )


@app.command()
def ui(
    results: Results = None,
    tracking_uri: TrackingUri = None,
    host: str = "127.0.0.1",
    port: int = 5000,
) -> None:
    """Start the MLflow UI on the sweeps' store (loopback by default)."""
    from rayprune.sweep import Workspace

    uri = tracking_uri or Workspace.create(results).tracking_uri
    if uri.startswith("sqlite") and not Path(uri.removeprefix("sqlite:///")).is_file():
        raise CommandError(f"no MLflow store at {uri}; run a sweep first")
    print(f"MLflow UI for {uri} on http://{host}:{port}")
    os.execvp(
        sys.executable,
        [
            sys.executable,
            "-m",
            "mlflow",
            "ui",
            "--backend-store-uri",
            uri,
            "--host",
            host,
            "--port",
            str(port),
        ],
    )


def main() -> None:
    # Before mlflow loads: its telemetry races the environment (sweep.cluster.trial_environment)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # store-creation chatter
    try:
        app()  # typer reports its own usage errors (exit code 2)
    except KeyboardInterrupt:
        if os.environ.get("RAYPRUNE_DEBUG"):
            raise
        print("rayprune: interrupted", file=sys.stderr)
        sys.exit(130)
    except (RaypruneError, OSError) as err:
        # OSError: a full disk, a read-only or missing folder; said in one line, like ours
        if os.environ.get("RAYPRUNE_DEBUG"):
            raise
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"rayprune: error: {message}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
