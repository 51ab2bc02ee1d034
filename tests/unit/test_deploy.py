"""The deployment files (docker-compose.yml, cluster/): no Docker engine or Kubernetes here, so
they are validated against the Compose Specification's schema and checked against each other,
against the CLI and against the fields Ray and KubeRay require."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

from rayprune.cli import app

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "cluster" / "Dockerfile"
KUBERAY = ROOT / "cluster" / "kuberay"
LAUNCHER = ROOT / "cluster" / "aws.yaml"
SCHEMA = Path(__file__).resolve().parents[1] / "data" / "compose_spec.json"

SERVICES = {"ray-head", "ray-worker", "mlflow", "postgres", "minio"}
ONE_SHOT = {"minio-init"}  # exit once done: no health check
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY", re.IGNORECASE)
# ${NAME}, ${NAME:-default}, ${NAME:?error}; $$ escapes a dollar for the container's shell
VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def load(path: Path):
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return load(COMPOSE)


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"not KEY=VALUE in .env.example: {line!r}"
            pairs[key.strip()] = value.strip()
    return pairs


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation of ${...} from .env, enough for these files."""
    return VAR.sub(lambda m: env.get(m.group(1)) or m.group(3) or "", text)


def command(service: dict) -> list[str]:
    cmd = service["command"]
    return shlex.split(cmd) if isinstance(cmd, str) else list(cmd)


def flags(cmd: list[str]) -> dict[str, str]:
    """--key=value and --key value pairs of a command line."""
    found = {}
    for i, arg in enumerate(cmd):
        if arg.startswith("--"):
            key, sep, value = arg.partition("=")
            if not sep and i + 1 < len(cmd) and not cmd[i + 1].startswith("--"):
                value = cmd[i + 1]
            found[key] = value
    return found


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {k: str(v) for k, v in env.items()}


def cluster_guide() -> str:
    """The docs page that tells users how to run on a cluster (README.md links to it)."""
    return (ROOT / "docs" / "guides" / "cluster.md").read_text()


def project_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


# --- docker-compose.yml ---------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification(compose):
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft201909Validator.check_schema(schema)
    errors = sorted(
        jsonschema.Draft201909Validator(schema).iter_errors(compose), key=lambda e: list(e.path)
    )
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_rejects_a_broken_compose_file(compose):
    """The schema check above can fail: an unknown key and a wrong type are refused."""
    schema = json.loads(SCHEMA.read_text())
    broken = json.loads(json.dumps(compose))
    broken["services"]["mlflow"]["portz"] = ["5000:5000"]
    broken["services"]["postgres"]["healthcheck"]["retries"] = "ten"
    assert len(list(jsonschema.Draft201909Validator(schema).iter_errors(broken))) == 2


def test_compose_has_the_services_and_health_checks(compose):
    services = compose["services"]
    assert SERVICES <= set(services)
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no"
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test and not service["healthcheck"].get("disable"), f"{name} has no health check"
    checks = {name: " ".join(services[name]["healthcheck"]["test"]) for name in SERVICES}
    assert "pg_isready" in checks["postgres"]
    assert "mc ready local" in checks["minio"]
    assert "http://localhost:5000/health" in checks["mlflow"]
    assert "ray health-check --address 127.0.0.1:6379" in checks["ray-head"]


def published(compose) -> list[tuple[str, str]]:
    ports = []
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            ports.append((name, port if isinstance(port, str) else json.dumps(port)))
    return ports


def test_every_published_port_binds_loopback(compose):
    ports = published(compose)
    assert ports
    for name, port in ports:
        assert re.fullmatch(r"127\.0\.0\.1:(\d+):(\d+)", port), f"{name} publishes {port}"


def test_the_loopback_check_fails_on_an_open_port(compose):
    broken = json.loads(json.dumps(compose))
    broken["services"]["mlflow"]["ports"] = ["0.0.0.0:5000:5000"]
    with pytest.raises(AssertionError):
        test_every_published_port_binds_loopback(broken)
    broken["services"]["mlflow"]["ports"] = ["5000:5000"]
    with pytest.raises(AssertionError):
        test_every_published_port_binds_loopback(broken)


def test_workers_scale(compose):
    worker = compose["services"]["ray-worker"]
    assert "container_name" not in worker and "ports" not in worker
    head = compose["services"]["ray-head"]
    head_port = flags(command(head))["--port"]
    assert command(head)[:3] == ["ray", "start", "--head"] and "--block" in command(head)
    assert command(worker)[:2] == ["ray", "start"] and "--block" in command(worker)
    assert flags(command(worker))["--address"] == f"ray-head:{head_port}"
    # Tune's storage (the default --results/ray) is one volume at the same path on every node
    mounts = [v for v in worker["volumes"] if v.endswith("/rayprune_results")]
    assert len(mounts) == 1 and mounts[0] in head["volumes"]
    assert mounts[0].split(":")[0] in compose["volumes"]


def test_ray_nodes_use_token_auth_from_the_env_file(compose):
    for name in ("ray-head", "ray-worker"):
        env = environment(compose["services"][name])
        assert env["RAY_AUTH_MODE"] == "token"
        assert VAR.fullmatch(env["RAY_AUTH_TOKEN"]).group(1) == "RAY_AUTH_TOKEN"


def mlflow_url(compose) -> str:
    cli = flags(command(compose["services"]["mlflow"]))
    return f"http://mlflow:{cli['--port']}"


def test_mlflow_server_settings(compose):
    mlflow = compose["services"]["mlflow"]
    cmd = command(mlflow)
    assert cmd[:2] == ["mlflow", "server"]
    cli = flags(cmd)
    assert cli["--host"] == "0.0.0.0"
    assert cli["--backend-store-uri"].startswith("postgresql://")
    assert "@postgres:5432/" in cli["--backend-store-uri"]
    assert re.fullmatch(r"s3://\$\{MLFLOW_BUCKET\}/", cli["--artifacts-destination"])
    assert "--default-artifact-root" not in cli  # would make clients write to their own disk
    hosts = cli["--allowed-hosts"].split(",")
    port = cli["--port"]
    # MLflow compares the whole Host header (with its port) unless a pattern has a *
    for host in ("mlflow", "localhost", "127.0.0.1"):
        assert f"{host}:{port}" in hosts or f"{host}:*" in hosts, host
    env = environment(mlflow)
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(env)
    assert f"127.0.0.1:{port}:{port}" in mlflow["ports"]
    after = mlflow["depends_on"]
    assert after["postgres"]["condition"] == "service_healthy"
    assert after["minio-init"]["condition"] == "service_completed_successfully"


def test_the_bucket_is_created(compose):
    init = compose["services"]["minio-init"]
    script = " ".join(command(init))
    assert "mc mb" in script and "$$MLFLOW_BUCKET" in script
    assert environment(init)["MLFLOW_BUCKET"].startswith("${MLFLOW_BUCKET")
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"


def test_trials_log_to_the_mlflow_service(compose):
    url = mlflow_url(compose)
    for name in ("ray-head", "ray-worker"):
        assert environment(compose["services"][name])["MLFLOW_TRACKING_URI"] == url


def test_cluster_guide_commands_agree_with_compose_and_cli(compose):
    """What the cluster guide tells users to run: the CLI's own flags, the compose services' names, the
    head's address and the MLflow service's URL."""
    section = cluster_guide()
    assert "cp .env.example .env" in section
    assert "docker compose up -d --scale ray-worker=" in section
    sweeps = [
        line
        for line in section.replace("\\\n", " ").splitlines()
        if "docker compose exec ray-head rayprune sweep" in line
    ]
    assert sweeps, "the cluster guide runs no sweep on the compose cluster"
    head_port = flags(command(compose["services"]["ray-head"]))["--port"]
    sweep_options = {
        name for p in _sweep_command().params for name in getattr(p, "opts", []) if name[:2] == "--"
    }
    for line in sweeps:
        args = shlex.split(line[line.index("rayprune sweep") :])
        cli = flags(args)
        assert set(cli) <= sweep_options, set(cli) - sweep_options
        assert cli["--tracking-uri"] == mlflow_url(compose)
        assert cli["--address"] in ("auto", f"ray-head:{head_port}")
        assert (ROOT / args[2]).is_file(), args[2]


def _sweep_command():
    import typer.main

    group = typer.main.get_command(app)
    return group.commands["sweep"]


def test_compose_variables_come_from_env_example(compose):
    text = COMPOSE.read_text()
    example = env_example()
    for match in VAR.finditer(text):
        name, kind, _ = match.groups()
        assert name in example or kind == ":-", f"${{{name}}} is not in .env.example"
    assert "RAY_AUTH_TOKEN" in example


def test_env_example_holds_placeholders_not_secrets():
    for key, value in env_example().items():
        if SECRET_KEY.search(key):
            assert "CHANGE_ME" in value, f"{key} in .env.example must be a CHANGE_ME placeholder"
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored


def test_no_secret_literals_in_compose(compose):
    for name, service in compose["services"].items():
        for key, value in environment(service).items():
            if SECRET_KEY.search(key) and key != "RAY_AUTH_MODE":
                assert VAR.fullmatch(value), f"{name}: {key} is a literal, not ${{...}} from .env"
        for arg in command(service) if "command" in service else []:
            if "postgresql://" in arg:  # the password in the URI is interpolated
                assert re.search(r"://\$\{\w+\}:\$\{\w*PASSWORD\}@", arg), arg


def test_compose_builds_the_dockerfile(compose):
    images = {name: s["image"] for name, s in compose["services"].items() if "build" in s}
    assert set(images) == {"ray-head", "ray-worker", "mlflow"}
    assert len(set(images.values())) == 1
    for name in images:
        assert compose["services"][name]["build"]["dockerfile"] == "cluster/Dockerfile"
    assert compose_image(compose) == f"rayprune:{project_version()}"


def compose_image(compose) -> str:
    return interpolate(compose["services"]["ray-head"]["image"], env_example())


def test_dockerfile_matches_pyproject():
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM rayproject/ray:2\.60\.0-py311-cpu$", text, re.MULTILINE)
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "ray[rllib,tune]==2.60.0" in deps and "torch==2.13.0" in deps
    assert '"torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu' in text
    assert "pip install --no-cache-dir ." in text
    assert "psycopg2-binary" in text and "boto3" in text
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {".venv", "rayprune_results", ".git", ".env"} <= set(ignored)


# --- KubeRay ---------------------------------------------------------------------------------


def containers(template: dict) -> list[dict]:
    return template["spec"]["containers"]


def check_ray_cluster_spec(spec: dict, image: str) -> None:
    head = spec["headGroupSpec"]
    assert isinstance(head["rayStartParams"], dict)
    assert all(isinstance(v, str) for v in head["rayStartParams"].values())
    groups = spec["workerGroupSpecs"]
    assert groups
    pods = [head["template"]]
    for group in groups:
        assert group["groupName"]
        assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        assert isinstance(group["rayStartParams"], dict)
        pods.append(group["template"])
    for pod in pods:
        (ray,) = [c for c in containers(pod) if c["name"].startswith("ray-")]
        assert ray["image"] == image
        env = {e["name"]: e for e in ray["env"]}
        assert env["RAY_AUTH_MODE"]["value"] == "token"
        token = env["RAY_AUTH_TOKEN"]
        assert "value" not in token, "the token comes from a Secret, never inline"
        assert token["valueFrom"]["secretKeyRef"] == {
            "name": "rayprune-ray-auth",
            "key": "RAY_AUTH_TOKEN",
        }
        assert {"configMapRef": {"name": "rayprune-tracking"}} in ray["envFrom"]


def test_raycluster(compose):
    rc = load(KUBERAY / "raycluster.yaml")
    assert rc["apiVersion"] == "ray.io/v1" and rc["kind"] == "RayCluster"
    assert rc["metadata"]["name"]
    assert rc["spec"]["rayVersion"] == "2.60.0"
    check_ray_cluster_spec(rc["spec"], compose_image(compose))


def test_rayjob_runs_a_sweep_on_the_same_cluster(compose):
    job = load(KUBERAY / "rayjob.yaml")
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    spec = job["spec"]
    assert "rayClusterSpec" in spec or "clusterSelector" in spec
    assert spec["rayClusterSpec"] == load(KUBERAY / "raycluster.yaml")["spec"]
    check_ray_cluster_spec(spec["rayClusterSpec"], compose_image(compose))
    args = shlex.split(spec["entrypoint"])
    assert args[:2] == ["rayprune", "sweep"]
    assert args[2].startswith("/home/ray/rayprune/tune_configs/")
    assert (ROOT / args[2].removeprefix("/home/ray/rayprune/")).is_file()
    cli = flags(args)
    options = {n for p in _sweep_command().params for n in getattr(p, "opts", [])}
    assert set(cli) <= options, set(cli) - options
    assert cli["--address"] == "auto"
    assert cli["--tracking-uri"] == "$MLFLOW_TRACKING_URI"
    assert cli["--storage"] == "$RAYPRUNE_STORAGE"
    (submitter,) = containers(spec["submitterPodTemplate"])
    assert submitter["image"] == compose_image(compose)
    assert {e["name"] for e in submitter["env"]} >= {"RAY_AUTH_MODE", "RAY_AUTH_TOKEN"}


def test_kuberay_config_names_the_entrypoint_variables():
    config = load(KUBERAY / "config.yaml")
    assert config["kind"] == "ConfigMap" and config["metadata"]["name"] == "rayprune-tracking"
    assert config["data"]["MLFLOW_TRACKING_URI"].startswith("http")
    assert config["data"]["RAYPRUNE_STORAGE"].startswith("s3://")
    assert not any(SECRET_KEY.search(key) for key in config["data"])


# --- Ray cluster launcher ---------------------------------------------------------------------


def test_launcher_config(compose):
    cfg = load(LAUNCHER)
    assert cfg["cluster_name"]
    assert cfg["provider"]["type"] == "aws" and cfg["provider"]["region"]
    assert cfg["auth"]["ssh_user"]
    types = cfg["available_node_types"]
    assert cfg["head_node_type"] in types
    for name, node in types.items():
        assert node["node_config"]["InstanceType"], name
        assert isinstance(node["resources"], dict), name
        assert 0 <= node["min_workers"] <= node["max_workers"] <= cfg["max_workers"], name
    assert types[cfg["head_node_type"]]["resources"]["CPU"] == 0
    assert any(t != cfg["head_node_type"] and n["max_workers"] > 0 for t, n in types.items())
    head_start = " ".join(cfg["head_start_ray_commands"])
    worker_start = " ".join(cfg["worker_start_ray_commands"])
    assert "ray start --head --port=6379" in head_start
    assert "ray start --address=$RAY_HEAD_IP:6379" in worker_start
    docker = cfg["docker"]
    assert docker["image"] == compose_image(compose)
    options = " ".join(docker["run_options"])
    assert "--env RAY_AUTH_MODE=token" in options
    token_path = re.search(r"--env RAY_AUTH_TOKEN_PATH=(\S+)", options).group(1)
    assert token_path in cfg["file_mounts"]
    assert "RAY_AUTH_TOKEN=" not in options  # never inline
    assert "--env MLFLOW_TRACKING_URI=http" in options
    assert "--env RAYPRUNE_STORAGE=s3://" in options
