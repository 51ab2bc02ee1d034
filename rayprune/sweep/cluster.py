"""Joining a Ray cluster: the settings a client needs, checked in seconds before any trial starts.

ray.init retries a wrong address or a rejected token for about 20 s and then raises a bare
ConnectionError; these checks say which of the two it is, in one line, at once.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import ray
from ray.exceptions import AuthenticationError

from rayprune.errors import ClusterError, first_line
from rayprune.rllib.compat import connect_gcs, own_sigterm_handler, refresh_auth_mode
from rayprune.store.tracking import check_tracking_server, client_for
from rayprune.sweep.signals import stop_like_ctrl_c

TOKEN_VARIABLES = ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
# MLflow artifact URIs that every node and the user can reach (not a worker's own disk)
SHARED_ARTIFACT_SCHEMES = ("mlflow-artifacts:", "s3://", "gs://", "wasbs://", "abfss://", "hdfs:")


def joins_cluster(address: str | None) -> bool:
    """An existing cluster ("auto" is one this node belongs to), not a private local Ray."""
    return address not in (None, "local")


def check_ray_address(address: str | None, timeout: float = 3.0) -> None:
    """Fail in seconds when nothing listens at HOST:PORT (ray.init would retry for ~20 s)."""
    if not joins_cluster(address) or address == "auto":
        return
    if address.startswith("ray://"):
        raise ClusterError(
            "Ray Client addresses (ray://) are not supported: run the sweep on a node of the "
            "cluster (--address auto) or submit it with `ray job submit`"
        )
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ClusterError(f"Ray address {address!r} is not HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as err:
        raise ClusterError(f"no Ray cluster answers at {address}: {err.strerror or err}") from None


def use_token_from_environment() -> None:
    """Ray turns token auth on by itself only for a cluster it finds on this node; a client given
    an address must set RAY_AUTH_MODE=token. A token in the environment says the user wants it."""
    if "RAY_AUTH_MODE" not in os.environ and any(os.environ.get(v) for v in TOKEN_VARIABLES):
        os.environ["RAY_AUTH_MODE"] = "token"
        refresh_auth_mode()


def check_ray_token(address: str | None) -> None:
    """Ask the cluster's GCS for its id with this client's token: a rejection comes back at once."""
    if not joins_cluster(address) or address == "auto":
        return
    try:
        with _stderr_silenced():  # the C++ client logs each rejection before raising
            connect_gcs(address)
    except AuthenticationError:
        if os.environ.get("RAY_AUTH_MODE") != "token":
            raise ClusterError(
                f"the Ray cluster at {address} requires token authentication: "
                "set RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) to the cluster's token"
            ) from None
        source = next((v for v in TOKEN_VARIABLES if os.environ.get(v)), "~/.ray/auth_token")
        raise ClusterError(
            f"the Ray cluster at {address} rejected the auth token from {source}"
        ) from None


def check_shared_tracking(tracking_uri: str, address: str | None) -> None:
    """Trials on other nodes must log to a server every node reaches, and its artifacts must land
    where every node and the user can read them, not on the disk of whichever node wrote them."""
    if not joins_cluster(address):
        return
    if not tracking_uri.startswith(("http://", "https://")):
        raise ClusterError(
            f"a sweep on a Ray cluster needs an MLflow server every node can reach, not "
            f"{tracking_uri.split(':', 1)[0]}: pass --tracking-uri http://HOST:5000"
        )
    default = client_for(tracking_uri).get_experiment("0")  # MLflow's Default experiment
    location = default.artifact_location if default is not None else ""
    if location and not location.startswith(SHARED_ARTIFACT_SCHEMES):
        raise ClusterError(
            f"the MLflow server at {tracking_uri} stores artifacts at {location}, on the disk of "
            "each node that writes them: start it with --artifacts-destination (proxied "
            "uploads) or an object-store --default-artifact-root"
        )


def preflight(address: str | None, tracking_uri: str) -> None:
    """Everything a sweep needs from the cluster and the tracking server, before it is recorded."""
    check_ray_address(address)
    use_token_from_environment()
    check_ray_token(address)
    check_tracking_server(tracking_uri)
    check_shared_tracking(tracking_uri, address)


@contextlib.contextmanager
def ray_session(address: str | None, py_modules: Sequence[str] = ()) -> Iterator[None]:
    """Join `address`, or start a private local Ray that is shut down (only it) on exit;
    `py_modules` (the user's environment code) go to every worker on every node through Ray's
    runtime_env.

    Ray 2.60 binds its ports on every interface whatever node address it is given, so the local
    instance keeps Ray's default token authentication: nobody else who can reach this machine
    can submit code to it (and a warning says so when the user turned it off).
    """
    if not joins_cluster(address) and os.environ.get("RAY_AUTH_MODE") == "disabled":
        print(
            "rayprune: warning: RAY_AUTH_MODE=disabled: the local Ray listens on every interface "
            "(Ray 2.60 binds its GCS and raylet to 0.0.0.0) and anyone who reaches this machine "
            "can run code in it; unset RAY_AUTH_MODE to keep Ray's token authentication",
            file=sys.stderr,
        )
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's compact table, not a log stream
    # Tune checks every result for the searcher's and scheduler's metrics, but Optuna's objectives
    # come only in a trial's final result, and that one has none of the per-iteration metrics
    # ASHA reads (rayprune.sweep.search names both).
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    if not joins_cluster(address):
        private_token()
    # "local", not None: ray.init(None) joins whatever cluster `ray start` last left on this node
    runtime_env: dict[str, object] = {"env_vars": trial_environment()}
    if py_modules:
        runtime_env["py_modules"] = [str(Path(m).resolve()) for m in py_modules]
    try:
        with own_sigterm_handler():  # a SIGTERM mid-start stops it as Ctrl-C does
            ray.init(
                address=address or "local",
                runtime_env=runtime_env,
                include_dashboard=False,
                log_to_driver=False,
                logging_level="ERROR",
            )
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM mid-start: stop what has started, now
        ray.shutdown()
        raise
    except Exception as err:  # Ray raises whatever its start-up met
        where = f"join the Ray cluster at {address}" if joins_cluster(address) else "start Ray"
        raise ClusterError(f"could not {where}: {type(err).__name__}: {first_line(err)}") from None
    stop_like_ctrl_c()  # Ray's driver has just put its own SIGTERM handler in place
    try:
        yield
    finally:
        ray.shutdown()


def private_token() -> None:
    """The private local Ray's token, in this process's environment where Ray reads it (and its
    trial processes inherit it), not in the file ~/.ray/auth_token that Ray would write
    otherwise: a sweep writes nothing into HOME. Never printed or stored. A token the user
    set (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH) is left as it is."""
    if not any(os.environ.get(variable) for variable in TOKEN_VARIABLES):
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)


def single_node() -> bool:
    """Whether the connected Ray has one live node (the local default, or a one-node cluster)."""
    return sum(1 for node in ray.nodes() if node["Alive"]) == 1


def trial_environment() -> dict[str, str]:
    """Set in every trial's process, on any node. MLflow's usage telemetry sets and unsets an
    environment variable while other threads read the environment: a request failed with
    KeyError '_MLFLOW_TELEMETRY_SESSION_ID' here and took its trial down. Off, unless the user
    set it."""
    return {"MLFLOW_DISABLE_TELEMETRY": os.environ.get("MLFLOW_DISABLE_TELEMETRY", "true")}


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
