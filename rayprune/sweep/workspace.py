"""Where a sweep's results live: the embedded default is one folder in the working directory."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rayprune.errors import AlreadyExists, ConfigError, SweepError, SweepNotFound

DEFAULT_RESULTS = Path("rayprune_results")
RESULTS_MARK = "RESULTS"  # what a sweep record writes for its own results folder
# A sweep's name is a file name in sweeps/ and ray/ and an MLflow experiment: no path parts.
SWEEP_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
SWEEP_NAME_MAX = 80


def check_name(name: str) -> str:
    """The one check of a sweep name, for `sweep` (through the config) and every command
    that takes one."""
    if len(name) > SWEEP_NAME_MAX or not re.fullmatch(SWEEP_NAME, name):
        raise ConfigError(
            f"{name!r} is not a sweep name: letters, digits, '_', '.', '-', starting with a "
            f"letter or digit, at most {SWEEP_NAME_MAX} characters"
        )
    return name


@dataclass(frozen=True)
class Workspace:
    """results/: mlflow.db + mlartifacts/ (the embedded MLflow store), ray/ (Tune's storage),
    sweeps/NAME.json (what `resume`, `best` and `ui` need to find a sweep again)."""

    root: Path
    tracking_uri: str
    storage: str
    address: str | None = None

    @classmethod
    def create(
        cls,
        root: Path | None = None,
        tracking_uri: str | None = None,
        storage: str | None = None,
        address: str | None = None,
    ) -> Workspace:
        root = Path(root or DEFAULT_RESULTS).resolve()
        return cls(
            root=root,
            tracking_uri=tracking_uri or f"sqlite:///{root / 'mlflow.db'}",
            storage=storage or str(root / "ray"),
            address=address,
        )

    @property
    def artifact_location(self) -> str | None:
        """Only the embedded store picks its artifact folder; a server decides its own."""
        return (
            (self.root / "mlartifacts").as_uri() if self.tracking_uri.startswith("sqlite") else None
        )

    def sweep_file(self, name: str) -> Path:
        return self.root / "sweeps" / f"{check_name(name)}.json"

    @contextlib.contextmanager
    def sweep_lock(self, name: str) -> Iterator[None]:
        """Held by the one driver that runs sweep `name` (`sweep` or `resume`); another is
        refused in one line before it touches anything. A POSIX record lock: the kernel drops
        it when its process dies, however it dies, and NFS carries it to drivers on other nodes
        sharing the results folder."""
        path = self._lock_file(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _take(fd, name)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"rayprune pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
            yield
        finally:
            os.close(fd)  # releases the lock

    def check_not_running(self, name: str) -> None:
        """sweep_lock's refusal, without writing anything: for checks before the lock, never
        while this process holds it (closing this descriptor would release it)."""
        try:
            fd = os.open(self._lock_file(name), os.O_RDWR)
        except FileNotFoundError:
            return
        try:
            _take(fd, name)
        finally:
            os.close(fd)

    def _lock_file(self, name: str) -> Path:
        return self.root / "sweeps" / f".{check_name(name)}.lock"

    def save_sweep(self, name: str, config: dict[str, Any]) -> None:
        """Record the sweep once; refuse to overwrite an existing one. The embedded store and
        Tune's storage inside the results folder are recorded relative to it, so a moved or
        copied folder still finds its sweeps."""
        path = self.sweep_file(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "config": config,
            "tracking_uri": self._relative(self.tracking_uri),
            "storage": self._relative(self.storage),
            "address": self.address,
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(record, f, indent=2)
            os.link(tmp, path)  # fails if the name is taken, unlike os.replace
        except FileExistsError:
            raise AlreadyExists(f"a sweep named {name!r} exists in {self.root}") from None
        finally:
            os.unlink(tmp)

    def load_sweep(self, name: str) -> tuple[dict[str, Any], Workspace]:
        path = self.sweep_file(name)
        if not path.is_file():
            raise SweepNotFound(f"no sweep named {name!r} in {self.root}")
        try:
            record = json.loads(path.read_text())
            config, uri, storage = record["config"], record["tracking_uri"], record["storage"]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
            raise SweepError(
                f"{path} is corrupt ({err}); the sweep cannot be found from it"
            ) from None
        recorded = Workspace(
            root=self.root,
            tracking_uri=self._absolute(uri),
            storage=self._absolute(storage),
            address=record.get("address"),
        )
        return config, recorded

    def _relative(self, location: str) -> str:
        """`location` inside the results folder as RESULTS/<path> (also inside an sqlite URI)."""
        prefix = "sqlite:///" if location.startswith("sqlite:///") else ""
        local = Path(location.removeprefix(prefix))
        if local.is_absolute() and local.is_relative_to(self.root):
            return f"{prefix}{RESULTS_MARK}/{local.relative_to(self.root).as_posix()}"
        return location

    def _absolute(self, location: str) -> str:
        """The inverse of _relative against this results folder."""
        prefix = "sqlite:///" if location.startswith("sqlite:///") else ""
        local = location.removeprefix(prefix)
        if local.startswith(f"{RESULTS_MARK}/"):
            return f"{prefix}{self.root / local.removeprefix(RESULTS_MARK + '/')}"
        return location

    def check_store(self) -> None:
        """Reading a sweep never creates a store: the embedded one must be there."""
        if self.tracking_uri.startswith("sqlite:///"):
            db = Path(self.tracking_uri.removeprefix("sqlite:///"))
            if not db.is_file():
                raise SweepError(
                    f"no MLflow store at {db}; was the results folder moved or deleted?"
                )


def _take(fd: int, name: str) -> None:
    """The lock on sweep `name`'s open lock file, or the one line saying who holds it."""
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
        raise SweepError(
            f"sweep {name!r} is running in {holder}: one driver per sweep; wait for it or stop "
            f"it first"
        ) from None
