"""The `rayprune` command: sweep, resume, best, report, eval, export, ui."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from typer.core import TyperGroup

from rayprune.errors import CommandError, RaypruneError, Stopped, first_line
from rayprune.names import EVAL_RETURN_MEAN
from rayprune.store.uri import tracking_uri_option

if TYPE_CHECKING:
    from rayprune.policy.chip import InstructionCount

# Nothing heavy is imported before a command runs (each imports what it needs), so `--help`
# answers in a fraction of a second.
UI_WAIT_S = 180  # `mlflow ui` refused connections for ~40 s after starting on a busy machine
UI_STOP_S = 5  # the MLflow UI's processes end within ~2 s of SIGTERM; SIGKILL after this


class Commands(TyperGroup):
    """The command list shows each command's first sentence whole, wrapped, where click would
    cut it at the terminal's width with '...'."""

    def format_commands(self, ctx, formatter) -> None:
        rows = [
            (name, command.get_short_help_str(limit=10_000))
            for name in self.list_commands(ctx)
            if (command := self.get_command(ctx, name)) is not None and not command.hidden
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


# Plain (click) help, not rich: it reflows docstrings instead of keeping their line breaks, and
# spares importing rich and its markdown parser (about half of the help's time).
app = typer.Typer(
    cls=Commands,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

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
        callback=tracking_uri_option,
    ),
]


def _model_name(name: str | None) -> str | None:
    """--model-name as MLflow's registry takes it, checked before `best` touches anything."""
    if name is not None and (not name.strip() or "/" in name or ":" in name):
        raise CommandError(
            f"--model-name {name!r} is not a registered model's name: not empty, without '/' or ':'"
        )
    return name


# The filesystems Tune's storage reaches through pyarrow (pyarrow.fs.FileSystem.from_uri).
STORAGE_SCHEMES = ("file", "s3", "gs", "gcs", "abfs", "abfss", "hdfs", "viewfs")


def _storage(storage: str | None) -> str | None:
    """--storage as Tune takes it, checked before anything is recorded: a folder (made
    absolute: trials run in folders of their own) or a URI of a filesystem pyarrow knows."""
    if storage is None:
        return None
    if not storage.strip():
        raise CommandError("--storage is empty: pass a folder or a URI (s3://BUCKET/PATH, ...)")
    scheme, sep, rest = storage.partition("://")
    if not sep:
        return str(Path(storage).expanduser().absolute())
    if scheme.lower() not in STORAGE_SCHEMES:
        raise CommandError(
            f"--storage {storage!r}: Tune cannot store to {scheme!r}:// (it takes a folder, or "
            f"{', '.join(s + '://' for s in STORAGE_SCHEMES)})"
        )
    if scheme.lower() == "file" and not rest.startswith("/"):
        raise CommandError(f"--storage {storage!r}: a file:// URI takes an absolute path")
    return storage


def _env_id(env: str | None) -> str | None:
    """--env: an empty one is a mistake, not the default (leave the option out for that)."""
    if env is not None and not env.strip():
        raise CommandError("--env is empty: pass an environment id or module:Name, or leave it out")
    return env


def _seed(seed: int | None) -> int | None:
    """--seed as gymnasium's reset takes it (its seeds are unsigned)."""
    if seed is not None and seed < 0:
        raise CommandError(f"--seed {seed} is negative: episode seeds are 0 or more")
    return seed


@app.command()
def sweep(
    config: Annotated[Path, typer.Argument(help="Sweep YAML, e.g. tune_configs/quickstart.yaml")],
    set_: Annotated[
        Optional[list[str]], typer.Option("--set", help="Override a key: --set grid.seed=[0,1]")
    ] = None,
    results: Results = None,
    tracking_uri: TrackingUri = None,
    storage: Annotated[
        Optional[str],
        typer.Option(
            help="Tune storage: a folder, or a URI Tune writes to (s3://, gs://, abfs://, "
            "hdfs://) (default: --results/ray).",
            callback=_storage,
        ),
    ] = None,
    address: Address = None,
    max_trials: Annotated[
        int, typer.Option(min=1, help="Refuse a sweep of more trials than this, unless --yes.")
    ] = 1000,
    yes: Annotated[bool, typer.Option("--yes", help="Run a sweep over --max-trials.")] = False,
) -> None:
    """Run one Tune trial per grid point and track each in MLflow."""
    from rayprune.sweep import Workspace, load_config
    from rayprune.sweep.bound import bound
    from rayprune.sweep.cluster import preflight
    from rayprune.sweep.config.env_check import check_environment

    cfg = load_config(config, set_ or [])
    trials, env_steps = bound(cfg, check_environment(cfg))
    most = "at most " if cfg.search.kind == "frontier" else ""  # the bisection may stop sooner
    print(f"rayprune: {most}{trials} trial(s), up to {env_steps:,} env steps")
    if trials > max_trials and not yes:
        raise CommandError(
            f"{trials} trials is more than --max-trials {max_trials}: check the grid, or pass --yes"
        )
    ws = Workspace.create(results, tracking_uri, storage, address)
    # the cluster and the tracking server first: a wrong address or token fails in seconds,
    # before the runner imports Tune, RLlib and torch
    preflight(ws.address, ws.tracking_uri)
    from rayprune.sweep import start_sweep

    _conclude(cfg.name, start_sweep(cfg, ws), ws)


@app.command()
def resume(name: str, results: Results = None, address: Address = None) -> None:
    """Continue an interrupted sweep.

    Finished trials are not rerun; the others restart from their last checkpoint, on the
    sweep's own Ray address unless --address says otherwise."""
    from rayprune.sweep import Workspace, resume_sweep

    ws = Workspace.create(results, address=address)
    outcome = resume_sweep(name, ws)
    _conclude(name, outcome, ws.load_sweep(name)[1])


def _conclude(name: str, outcome, ws) -> None:
    """The sweep's report (of the trials that finished), then whether anything is left to do;
    a sweep a signal stopped ends at once, without its report."""
    if outcome.stopped_by is not None:
        raise Stopped(
            f"stopped by {signal.Signals(outcome.stopped_by).name}: {outcome.unfinished} "
            f"trial(s) did not finish; `rayprune resume {name}` continues them",
            outcome.stopped_by,
        )
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
    frontier: Annotated[
        bool,
        typer.Option(
            "--frontier",
            help="Of a frontier search: the smallest policy (fewest weights) whose retained "
            "return keeps the search's threshold; its best seed by the rule below.",
        ),
    ] = False,
    model_name: Annotated[
        Optional[str],
        typer.Option(help="Registered model name (default: rayprune-NAME).", callback=_model_name),
    ] = None,
    results: Results = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Register the best trial's policy as an MLflow Model and download it.

    Among finished trials that reached their sparsity target: highest eval return (--metric),
    then fewest weights, then highest final training return, then lowest lambda, then lowest
    seed (the report's rule too); it says when it broke a tie and among how many. The chosen
    run's compact_policy folder, an MLflow Model (ONNX, with compression.json and the
    safetensors weights), becomes a version of models:/rayprune-NAME with alias `best`: a run
    registered already is not registered again, and the alias moves only when the choice
    changes. Load it with mlflow.pyfunc.load_model("models:/rayprune-NAME@best"), or serve it
    with mlflow models serve."""
    from rayprune.store.best import check_out, choose_best, register_best, staged_download
    from rayprune.store.tracking import check_tracking_server
    from rayprune.store.uri import check_store_exists
    from rayprune.sweep.workspace import check_name

    uri = tracking_uri or _recorded(results, name).tracking_uri
    check_name(name)
    check_store_exists(uri)
    check_tracking_server(uri)
    out = check_out(out)
    choice = choose_best(uri, name, metric, min_sparsity, frontier)
    model = model_name or f"rayprune-{name}"
    with staged_download(uri, choice, out):
        registered = register_best(uri, model, choice)  # the registry changes last
    print(
        f"best run {choice.run_name} ({metric} = {choice.value:.2f}, {choice.weights:.0f} weights)"
    )
    if choice.frontier:
        f = choice.frontier
        print(
            f"  from the frontier: {f.method} at sparsity {f.sparsity_target:.4g} keeps "
            f"{f.retained_mean:.3f} of dense PPO's return over {f.seeds} seed(s)"
        )
    if choice.tie_note:
        print(f"  tie broken: {choice.tie_note}")
    print(f"registered as models:/{model}@best, {_registration_line(registered)}")
    print(f"downloaded to {out}")


def _registration_line(registered) -> str:
    added = "a new version" if registered.new_version else "registered already, nothing added"
    if registered.previous is None:
        alias = "alias best set"
    elif registered.moved:
        alias = f"alias best moved from version {registered.previous}"
    else:
        alias = "alias best unchanged"
    return f"version {registered.version} ({added}); {alias}"


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
    """Write the sweeps' HTML report and log it to MLflow.

    Figures and tables per environment (sensitivity grid, learning curves, neurons per layer,
    weight heatmaps, the Pareto front of an Optuna sweep), a summary and the paper's numbers
    beside ours, in one self-contained page with a table of contents; logged to each sweep's
    MLflow experiment as the run `report`."""
    from rayprune.report import write_report
    from rayprune.store.uri import check_store_exists
    from rayprune.sweep.workspace import Workspace, check_name

    ws = Workspace.create(results)
    for name in names:
        check_name(name)
    if tracking_uri is None:
        stores = {_recorded(results, name).tracking_uri for name in names}
        if len(stores) > 1:
            raise CommandError("these sweeps are in different MLflow stores; pass --tracking-uri")
        (tracking_uri,) = stores
    check_store_exists(tracking_uri)
    page = write_report(tracking_uri, names, out or ws.root / "reports" / names[0])
    print(f"report of {', '.join(names)}: {page}")
    print(f"logged to MLflow ({tracking_uri}): run 'report' of each sweep's experiment")


def _recorded(results: Path | None, name: str):
    """The workspace sweep `name` was recorded with, its embedded store there."""
    from rayprune.sweep import Workspace

    recorded = Workspace.create(results).load_sweep(name)[1]
    recorded.check_store()
    return recorded


CHIP_RUNTIMES = ("m4", "m0")  # rayprune.policy.chip.BOARDS, not imported at start-up
RUNTIMES = ("onnx", "c", *CHIP_RUNTIMES)
TARGETS = ("c", "onnx")
DTYPES = ("int8",)


def _choice(option: str, value: str, choices: tuple[str, ...]) -> str:
    # checked here, not by typer, so a wrong value is one line like every other error
    if value not in choices:
        raise CommandError(f"{option} {value!r} is not one of {', '.join(choices)}")
    return value


@app.command("eval")
def eval_(
    policy_dir: Annotated[Path, typer.Argument(help="A compact_policy folder.")],
    episodes: Annotated[
        Optional[int],
        typer.Option(min=1, help="Episodes (default: as many as the sweep evaluated it on)."),
    ] = None,
    env: Annotated[
        Optional[str],
        typer.Option(
            help="Environment id or module:Name (default: the one it was trained on, with its "
            "env_config, wrappers and time limit, from compression.json).",
            callback=_env_id,
        ),
    ] = None,
    seed: Annotated[
        Optional[int],
        typer.Option(
            help="First episode's seed, 0 or more (default: the sweep's evaluation episodes, so "
            "the return matches the one it logged).",
            callback=_seed,
        ),
    ] = None,
    runtime: Annotated[
        str,
        typer.Option(
            help="onnx (onnxruntime on policy.onnx), c (c/policy.c built by gcc now and "
            "loaded: the code you flash), or m4 / m0 (c/policy.c in firmware on an emulated "
            "Cortex-M4F / Cortex-M0 under qemu-system-arm, with its instructions per decision)."
        ),
    ] = "onnx",
) -> None:
    """Run a compact policy in its environment and print its return and size."""
    from rayprune.policy import eval_seed, evaluate, read_info

    _choice("--runtime", runtime, RUNTIMES)
    info = read_info(policy_dir)
    episodes = info.eval_episodes if episodes is None else episodes
    seed = eval_seed(info.seed) if seed is None else seed
    with _runtime_policy(policy_dir, runtime) as policy:  # a chip's qemu ends here, always
        result = evaluate(policy, env or info.env_spec, episodes, seed)
    ran = "c" if runtime in CHIP_RUNTIMES else runtime  # a chip runs the C
    quantized = info.dtype if info.quantized_runtime in (None, ran) else "float32"
    print(
        f"return {result.mean:.2f} +- {result.std:.2f} over {episodes} episodes on "
        f"{env or info.env} ({runtime}, {quantized})"
    )
    print(
        f"compact size: hidden {info.hidden_compact} (dense {info.hidden_dense}), "
        f"{info.weights_compact} weights, {info.flops_compact} FLOPs"
    )
    if runtime in CHIP_RUNTIMES:
        _print_chip_cost(runtime, policy.count)


def _runtime_policy(policy_dir: Path, runtime: str) -> contextlib.AbstractContextManager:
    """The policy `runtime` evaluates, as a context (only a chip's holds a process)."""
    if runtime in CHIP_RUNTIMES:
        from rayprune.policy.chip import ChipPolicy

        return ChipPolicy(policy_dir, runtime)
    if runtime == "c":
        from rayprune.policy.c_runtime import CPolicy

        return contextlib.nullcontext(CPolicy(policy_dir))
    from rayprune.policy import OnnxPolicy

    return contextlib.nullcontext(OnnxPolicy(policy_dir))


def _print_chip_cost(runtime: str, count: InstructionCount) -> None:
    from rayprune.policy.chip import BOARDS, NO_CYCLES

    print(
        f"on {BOARDS[runtime].title}: policy.o {count.policy_bytes:,} B flash (text + data, "
        f"-O2); {count.mean:,.1f} instructions per decision (min {count.least:,}, max "
        f"{count.most:,}, over {count.calls:,} calls): {NO_CYCLES}"
    )


@app.command()
def export(
    policy_dir: Annotated[Path, typer.Argument(help="A compact_policy folder (float32).")],
    out: Annotated[Path, typer.Option("--out", help="The new policy folder (must not exist).")],
    target: Annotated[str, typer.Option(help="c (c/policy.c) or onnx (policy.onnx).")] = "c",
    dtype: Annotated[
        str,
        typer.Option(
            help="int8: for --target c integer-only (int8 weights and activations, int32 "
            "sums, float only at the input and output); for --target onnx ONNX Runtime's "
            "dynamic quantization."
        ),
    ] = "int8",
    calibration_episodes: Annotated[
        int, typer.Option(min=1, help="Episodes of the float policy whose observations calibrate.")
    ] = 10,
) -> None:
    """Write an int8 twin of a compact policy (calibrated on real episodes, evaluated on the
    float policy's eval episodes) as a policy folder with the same C API."""
    from rayprune.policy.c_runtime import cortex_m4_flash_bytes
    from rayprune.policy.int8 import export_policy

    _choice("--target", target, TARGETS)
    _choice("--dtype", dtype, DTYPES)
    info = export_policy(policy_dir, out, target, dtype, calibration_episodes)
    loss = info.float_eval_return_mean - info.eval_return_mean
    print(
        f"{dtype} ({target}) return {info.eval_return_mean:.2f} +- {info.eval_return_std:.2f}, "
        f"float32 as recorded {info.float_eval_return_mean:.2f} (loss {loss:.2f}), over "
        f"{info.eval_episodes} episodes on {info.env}"
    )
    flash = cortex_m4_flash_bytes(out) if target == "c" else None
    flash_text = f", {flash:,} B flash on a Cortex-M4" if flash is not None else ""
    print(f"wrote {out}: c/ {info.c_code_bytes:,} B of source{flash_text}")


@app.command()
def ui(
    sweeps: Annotated[
        Optional[list[str]],
        typer.Argument(
            metavar="NAME", help="Sweeps to link to (default: every sweep in the store)."
        ),
    ] = None,
    results: Results = None,
    tracking_uri: TrackingUri = None,
    host: str = "127.0.0.1",
    port: int = 5000,
) -> None:
    """Serve the MLflow UI on the sweeps' store and link each sweep's runs.

    On loopback by default. It says the UI is up only once the server answers (MLflow takes
    tens of seconds to start), then prints per sweep the link that opens its runs in MLflow's
    model-training view on rayprune's saved view (also under "Views"): trials only, not the
    report or Pareto runs; best eval return first; method, lambda, sparsity target, seed, eval
    return, weights and neurons as columns; curves against env steps. A port in use is refused
    before anything starts. Ctrl-C, SIGTERM or SIGHUP stop the server with all its processes.
    With a tracking server (--tracking-uri http://...) it prints that server's links and starts
    nothing."""
    from rayprune.store.tracking import check_tracking_server
    from rayprune.store.views import sweep_links
    from rayprune.sweep import Workspace
    from rayprune.sweep.workspace import check_name

    for name in sweeps or []:
        check_name(name)
    uri = tracking_uri or Workspace.create(results).tracking_uri
    if uri.startswith(("http://", "https://")):
        check_tracking_server(uri)
        _print_links(sweep_links(uri, sweeps or []))
        return
    if uri.startswith("sqlite") and not Path(uri.removeprefix("sqlite:///")).is_file():
        raise CommandError(f"no MLflow store at {uri}; run a sweep first")
    base = f"http://{host}:{port}"
    links = sweep_links(uri, sweeps or [], base)
    _serve_ui(uri, host, port, links)


def _serve_ui(uri: str, host: str, port: int, links: list[tuple[str, str]]) -> None:
    """`mlflow ui` in the foreground until it ends or a signal stops it. The server runs in a
    session of its own, so a terminal's Ctrl-C reaches rayprune only; on Ctrl-C, SIGTERM or
    SIGHUP rayprune stops the server's whole process tree (SIGTERM, then SIGKILL after UI_STOP_S)
    and exits 128 + the signal's number (130 for Ctrl-C), saying so in one line."""

    from rayprune.store.ui_server import UiServer, check_port_free

    check_port_free(host, port)  # MLflow exits 0 on a taken port; the other server answers
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
    received: list[int] = []
    armed = [False]  # a signal interrupts only while the server runs, once: never its stop

    def on_signal(signum: int, _frame) -> None:
        received.append(signum)
        if armed[0]:
            armed[0] = False
            raise KeyboardInterrupt

    previous = {
        signum: signal.signal(signum, on_signal)
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    server, code = None, 0
    try:
        try:
            server = UiServer([*command, "--host", host, "--port", str(port)])
            armed[0] = True
            if received:  # it came while the server started
                armed[0] = False
                raise KeyboardInterrupt
            print(f"MLflow UI for {uri}: starting on http://{host}:{port} ...", flush=True)
            local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
            _wait_for_ui(server, f"http://{local}:{port}/health", port)
            print(f"MLflow UI is up on http://{host}:{port} (Ctrl-C stops it)")
            _print_links(links)
            sys.stdout.flush()
            server.serving()
            code = server.proc.wait()
        finally:
            armed[0] = False
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.stop(UI_STOP_S)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        signum = received[0]
        name = signal.Signals(signum).name
        line = "interrupted" if signum == signal.SIGINT else f"stopped by {name}"
        with contextlib.suppress(OSError):  # SIGHUP: the terminal may be gone
            print(f"rayprune: {line}", file=sys.stderr, flush=True)
        sys.exit(128 + signum)
    if code:
        raise CommandError(f"the MLflow UI exited with code {code}")


def _wait_for_ui(server, health: str, port: int) -> None:
    """Until the server answers `health`; its ending first, with any code (0 included), is a
    failure, never "up"."""
    import time
    import urllib.request

    deadline = time.monotonic() + UI_WAIT_S
    while server.proc.poll() is None:
        try:
            with urllib.request.urlopen(health, timeout=2) as response:
                if response.status == 200 and server.proc.poll() is None:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise CommandError(f"the MLflow UI did not answer at {health} in {UI_WAIT_S} s")
        time.sleep(1)
    said = server.last_words()
    raise CommandError(
        f"the MLflow UI on port {port} exited (code {server.proc.returncode}) before it "
        f"answered{': ' + said if said else ''}"
    )


def _print_links(links: list[tuple[str, str]]) -> None:
    if not links:
        print("no sweeps in this store yet")
    for sweep, link in links:
        print(f"  {sweep}: {link}")


def _caches_out_of_home() -> None:
    """onnxruntime (a telemetry device id under ~/.cache) and matplotlib (its font cache) write
    into HOME on import, and onnxruntime prints a warning where it cannot: a read-only or shared
    HOME. Unless the user points them somewhere, they write into a folder of this process's own,
    removed when it ends (the trials of a local sweep, started under it, inherit it)."""
    if os.environ.get("XDG_CACHE_HOME") and os.environ.get("MPLCONFIGDIR"):
        return
    import atexit
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="rayprune-cache-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ.setdefault("XDG_CACHE_HOME", folder)
    os.environ.setdefault("MPLCONFIGDIR", os.path.join(folder, "matplotlib"))


def _from_interrupt(error: BaseException | None) -> bool:
    """Whether a KeyboardInterrupt (Ctrl-C, or a stopping signal routed to it) caused `error`."""
    while error is not None:
        if isinstance(error, KeyboardInterrupt):
            return True
        error = error.__cause__ or error.__context__
    return False


def main() -> None:
    # Before mlflow loads: its telemetry races the environment (sweep.cluster.trial_environment)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    _caches_out_of_home()
    import logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # store-creation chatter
    from rayprune.sweep.signals import stop_like_ctrl_c, stopped_by

    stop_like_ctrl_c()
    try:
        app()  # typer reports its own usage errors (exit code 2)
    except (KeyboardInterrupt, SystemExit) as done:
        # typer turns a KeyboardInterrupt inside a command into a silent exit 130
        if os.environ.get("RAYPRUNE_DEBUG") or not _from_interrupt(done):
            raise
        signum = stopped_by()
        if signum is None:
            print("rayprune: interrupted", file=sys.stderr)
            sys.exit(130)
        print(f"rayprune: stopped by {signal.Signals(signum).name}", file=sys.stderr)
        sys.exit(128 + signum)
    except Stopped as err:
        print(f"rayprune: {first_line(err)}", file=sys.stderr)
        sys.exit(err.exit_code)
    except (RaypruneError, OSError) as err:
        # OSError: a full disk, a read-only or missing folder; said in one line, like ours
        if os.environ.get("RAYPRUNE_DEBUG"):
            raise
        print(f"rayprune: error: {first_line(err)}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
