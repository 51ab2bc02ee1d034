"""The checks a sweep makes before joining a Ray cluster (the real cluster: tests/integration)."""

import socket
from types import SimpleNamespace

import pytest

from rayprune.errors import ClusterError
from rayprune.sweep import cluster


@pytest.mark.parametrize(
    ("address", "joins"),
    [(None, False), ("local", False), ("auto", True), ("10.0.0.5:6379", True), ("ray://h:1", True)],
)
def test_which_addresses_join_a_cluster(address, joins):
    assert cluster.joins_cluster(address) is joins


def test_address_must_be_host_port_and_answer():
    with pytest.raises(ClusterError, match="is not HOST:PORT"):
        cluster.check_ray_address("headnode")
    with pytest.raises(ClusterError, match="ray://.* not supported"):
        cluster.check_ray_address("ray://headnode:10001")
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        cluster.check_ray_address(f"127.0.0.1:{listening.getsockname()[1]}")
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()
    with pytest.raises(ClusterError, match=f"no Ray cluster answers at 127.0.0.1:{port}"):
        cluster.check_ray_address(f"127.0.0.1:{port}")


@pytest.mark.parametrize(
    ("env", "mode"),
    [
        ({"RAY_AUTH_TOKEN": "t"}, "token"),
        ({"RAY_AUTH_TOKEN_PATH": "/run/secrets/ray"}, "token"),
        ({"RAY_AUTH_TOKEN": "t", "RAY_AUTH_MODE": "disabled"}, "disabled"),  # the user's choice
        ({}, None),
    ],
)
def test_a_token_in_the_environment_turns_token_mode_on(monkeypatch, env, mode):
    # a copy of the environment: what the code sets must not reach later tests' Ray
    ours = ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE")
    environ = {k: v for k, v in cluster.os.environ.items() if k not in ours} | env
    monkeypatch.setattr(cluster.os, "environ", environ)
    refreshed = []
    monkeypatch.setattr(cluster, "refresh_auth_mode", lambda: refreshed.append(True))
    cluster.use_token_from_environment()
    assert environ.get("RAY_AUTH_MODE") == mode
    assert refreshed == ([True] if mode == "token" and "RAY_AUTH_MODE" not in env else [])


def fake_server(monkeypatch, artifact_location):
    experiment = SimpleNamespace(artifact_location=artifact_location)
    client = SimpleNamespace(get_experiment=lambda experiment_id: experiment)
    monkeypatch.setattr(cluster, "client_for", lambda uri: client)


@pytest.mark.parametrize(
    "location", ["mlflow-artifacts:/0", "s3://bucket/mlflow/0", "gs://bucket/0"]
)
def test_a_cluster_sweep_accepts_a_server_with_shared_artifacts(monkeypatch, location):
    fake_server(monkeypatch, location)
    cluster.check_shared_tracking("http://mlflow:5000", "auto")


@pytest.mark.parametrize("location", ["/srv/mlruns/0", "file:///srv/mlruns/0", "./mlruns/0"])
def test_a_cluster_sweep_refuses_artifacts_on_each_nodes_disk(monkeypatch, location):
    fake_server(monkeypatch, location)
    with pytest.raises(ClusterError, match="--artifacts-destination"):
        cluster.check_shared_tracking("http://mlflow:5000", "10.0.0.5:6379")


def test_a_cluster_sweep_refuses_a_local_store_a_local_sweep_accepts_it():
    with pytest.raises(ClusterError, match="pass --tracking-uri http://HOST:5000"):
        cluster.check_shared_tracking("sqlite:////tmp/mlflow.db", "auto")
    cluster.check_shared_tracking("sqlite:////tmp/mlflow.db", None)
