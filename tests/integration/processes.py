"""Real servers for integration tests: an `mlflow server` and a multi-node Ray cluster on this
machine. Each `ray start --block` and each server runs in its own process group, and is stopped
by that group, so a test stops exactly what it started and nothing else on the machine."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def stop_group(proc: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 15.0) -> None:
    """Signal the process group `proc` leads; SIGKILL whatever is left after `grace` seconds."""
    with_group(proc.pid, sig)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    with_group(proc.pid, signal.SIGKILL)  # e.g. Ray's GCS outlives the SIGTERM of `ray start`
    proc.wait(timeout=30)


def with_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def process_tree(root: int) -> dict[int, int]:
    """pid -> start time of `root` and of every process descended from it now, whatever its
    group or session (/proc)."""
    stats = _stats()
    children: dict[int, list[int]] = {}
    for pid, (_, parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    tree, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            tree[pid] = stats[pid][2]
            todo += children.get(pid, [])
    return tree


def running(tree: dict[int, int]) -> dict[int, int]:
    """Those of `tree` still running as the same processes (not zombies, not PIDs reused)."""
    stats = _stats()
    return {
        pid: start
        for pid, start in tree.items()
        if pid in stats and stats[pid][2] == start and stats[pid][0] not in "ZX"
    }


def kill_tree(tree: dict[int, int]) -> None:
    """SIGKILL those of `tree` still running: a test's own processes, by PID."""
    for pid in running(tree):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _stats() -> dict[int, tuple[str, int, int]]:
    """pid -> (state, parent, start time) of every process."""
    stats = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                text = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2 :].split()
            stats[int(entry.name)] = (fields[0], int(fields[1]), int(fields[19]))
    return stats


def listening(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts connections on host:port."""
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((host, port)) == 0


class HealthServer:
    """Another HTTP server, not MLflow: every GET (/health included) answers 200 "OK". In its
    own process group, stopped by it."""

    CODE = (
        "import http.server, sys\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.end_headers(); self.wfile.write(b'OK')\n"
        "    def log_message(self, *args): pass\n"
        "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n"
    )

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", self.CODE, str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        wait_for(f"http://127.0.0.1:{self.port}/health", timeout=60)

    def stop(self) -> None:
        stop_group(self.proc)


class MlflowServer:
    """`mlflow server` on loopback with proxied artifact upload; can be restarted on its port."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.artifacts = folder / "server-artifacts"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
                "--port", str(self.port), "--workers", "1",
                "--backend-store-uri", f"sqlite:///{self.folder / 'server.db'}",
                "--artifacts-destination", str(self.artifacts),
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        wait_for(f"{self.uri}/health", timeout=180)

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)
            self.proc = None


class RayCluster:
    """A Ray head and extra raylets, all on this machine, with token authentication on.

    Everything Ray starts for a node stays in the process group of that node's `ray start
    --block`; its temp dir is a private short path (Unix socket paths are limited to 107 bytes),
    so the cluster never becomes the machine's "current" Ray that others would join."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.token = os.urandom(16).hex()
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.temp_dir = tempfile.mkdtemp(prefix="rp-", dir="/tmp")
        self.env = {
            **os.environ,
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": self.token,
            "PYTHONPATH": str(REPO),
            **(env or {}),
        }
        self.nodes: list[subprocess.Popen] = []

    def client_env(self) -> dict[str, str]:
        """What a user sets to reach the cluster: its token (rayprune turns token mode on)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
        return {**env, "RAY_AUTH_TOKEN": self.token, "PYTHONPATH": str(REPO)}

    def start_head(self, num_cpus: int = 1) -> None:
        self._start(
            "--head", "--port", str(self.port), "--temp-dir", self.temp_dir,
            "--include-dashboard", "false", "--dashboard-port", str(free_port()),
            num_cpus=num_cpus,
        )  # fmt: skip

    def add_node(self, num_cpus: int = 1) -> subprocess.Popen:
        return self._start("--address", self.address, num_cpus=num_cpus)

    def _start(self, *args: str, num_cpus: int) -> subprocess.Popen:
        before = len(self.node_ids()) if self.nodes else 0
        log = open(Path(self.temp_dir) / f"node{len(self.nodes)}.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [RAY, "start", *args, "--num-cpus", str(num_cpus),
             "--object-store-memory", str(200 * 1024**2), "--block"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.nodes.append(proc)
        deadline = time.monotonic() + 120
        while len(self.node_ids()) <= before:
            assert proc.poll() is None, Path(log.name).read_text()[-3000:]
            assert time.monotonic() < deadline, "the Ray node did not join"
            time.sleep(1)
        return proc

    def node_ids(self) -> dict[str, str]:
        """node id -> "head" or "worker", of the nodes alive now, asked of the cluster."""
        code = (
            "import json, sys, ray; ray.init(address=sys.argv[1], logging_level='ERROR');"
            "print(json.dumps({n['NodeID']: 'head' if 'node:__internal_head__' in n['Resources']"
            " else 'worker' for n in ray.nodes() if n['Alive']}))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, self.address],
            env=self.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if out.returncode != 0:
            return {}
        return json.loads(out.stdout.strip().splitlines()[-1])

    def kill_node(self, proc: subprocess.Popen) -> None:
        """A node failure: the raylet and everything it runs die at once."""
        stop_group(proc, signal.SIGKILL)

    def stop(self) -> None:
        for proc in reversed(self.nodes):  # workers first, the head last
            stop_group(proc)


class RaypruneUi:
    """`rayprune ui` in its own process group, its output read as it comes: the line that
    says the UI is up, then one link per sweep."""

    UP = "MLflow UI is up"

    def __init__(self, cwd: Path, *args: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.lines: queue.Queue[str] = queue.Queue()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rayprune.cli", "ui", "--port", str(self.port), *args],
            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_up(self, timeout: float = 240) -> tuple[float, dict[str, str]]:
        """When it said it was up (time.monotonic()), and the links it printed then, by sweep."""
        deadline = time.monotonic() + timeout
        seen = [self._next(deadline)]
        while not seen[-1].startswith(self.UP):
            seen.append(self._next(deadline, seen))
        up_at = time.monotonic()
        links = {}
        while True:  # printed right after, one line per sweep; mlflow's own log lines may mix in
            try:
                line = self.lines.get(timeout=3)
            except queue.Empty:
                return up_at, links
            sweep, found, link = line.strip().partition(": http")
            if found and line.startswith("  "):
                links[sweep] = "http" + link

    def _next(self, deadline: float, seen: list[str] = ()) -> str:
        while True:
            try:
                return self.lines.get(timeout=1)
            except queue.Empty:
                assert self.proc.poll() is None, "rayprune ui ended:\n" + "\n".join(seen[-30:])
                assert time.monotonic() < deadline, "rayprune ui never said it was up"

    def drain(self) -> list[str]:
        """The lines said and not read yet."""
        lines = []
        while True:
            try:
                lines.append(self.lines.get(timeout=1))
            except queue.Empty:
                return lines

    def ended(self, timeout: float) -> tuple[int, list[str], float]:
        """Once it ends: its exit code, what it said meanwhile, and the seconds it took."""
        start = time.monotonic()
        code = self.proc.wait(timeout=timeout)
        took = time.monotonic() - start
        time.sleep(1)  # the reader's last lines
        return code, self.drain(), took

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """SIGTERM to its group (rayprune stops the MLflow server it started, which runs in a
        session of its own); then whatever of its tree is still there, by PID."""
        tree = process_tree(self.proc.pid) if self.proc.poll() is None else {}  # not reaped
        stop_group(self.proc)
        kill_tree(tree)
