"""requirements.lock and pyproject.toml agree: every dependency pyproject names (torch aside:
setup.sh installs its CPU build first) is pinned in the lock, with hashes, at a version the
pyproject range admits. `scripts/lock.sh` rewrites the lock."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
NOT_LOCKED = {"torch"}


def locked() -> dict[str, tuple[str, int]]:
    """name -> (pinned version, number of hashes)."""
    text = (REPO / "requirements.lock").read_text()
    pins = {}
    for block in re.split(r"\n(?=\S)", text):
        match = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", block)
        if match:
            pins[canonicalize_name(match[1])] = (match[2], block.count("--hash=sha256:"))
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = [r for group in project["optional-dependencies"].values() for r in group]
    return [Requirement(r) for r in [*project["dependencies"], *extras]]


def test_every_dependency_is_locked_with_hashes_inside_its_range():
    pins = locked()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        if name in NOT_LOCKED:
            continue
        assert name in pins, f"{name} is in pyproject.toml but not in requirements.lock"
        version, hashes = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {name}=={version}, outside pyproject's {requirement.specifier}"
        )
        assert hashes >= 1, f"{name} has no hash in requirements.lock"


def test_every_range_has_an_upper_bound():
    """What is tested is what the lock pins; a range open above admits what is not."""
    for requirement in declared():
        assert any(s.operator in ("<", "<=", "==", "~=") for s in requirement.specifier), (
            requirement
        )


def test_the_lock_leaves_torch_and_cuda_out():
    assert not [n for n in locked() if n == "torch" or n.startswith(("nvidia-", "triton"))]
