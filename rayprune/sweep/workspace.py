"""Where a sweep's results live: the embedded default is one folder in the working directory."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rayprune.errors import AlreadyExists, SweepNotFound

DEFAULT_RESULTS = Path("rayprune_results")


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
        return self.root / "sweeps" / f"{name}.json"

    def save_sweep(self, name: str, config: dict[str, Any]) -> None:
        """Record the sweep once; refuse to overwrite an existing one."""
        path = self.sweep_file(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "config": config,
            **{k: str(v) if v is not None else None for k, v in asdict(self).items()},
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.")
        with os.fdopen(fd, "w") as f:
            json.dump(record, f, indent=2)
        try:
            os.link(tmp, path)  # fails if the name is taken, unlike os.replace
        except FileExistsError:
            raise AlreadyExists(f"a sweep named {name!r} exists in {self.root}") from None
        finally:
            os.unlink(tmp)

    def load_sweep(self, name: str) -> tuple[dict[str, Any], Workspace]:
        path = self.sweep_file(name)
        if not path.is_file():
            raise SweepNotFound(f"no sweep named {name!r} in {self.root}")
        record = json.loads(path.read_text())
        recorded = Workspace(
            root=Path(record["root"]),
            tracking_uri=record["tracking_uri"],
            storage=record["storage"],
            address=record.get("address"),
        )
        return record["config"], recorded
