"""The layers import only the ones before them: pruning -> policy -> rllib -> sweep -> report
-> cli."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "rayprune"
ORDER = ["pruning", "policy", "rllib", "sweep", "report", "cli"]
FORBIDDEN_THIRD_PARTY = {
    "pruning": {"ray", "mlflow", "gymnasium", "onnxruntime"},
    "policy": {"ray", "mlflow"},
    "rllib": {"mlflow"},
    "report": {"ray"},  # reading MLflow needs no Ray
}


def layer_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 or rel.stem == "cli" else "root"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_each_module_imports_only_earlier_layers(path):
    layer = layer_of(path)
    if layer == "root":
        return
    allowed = set(ORDER[: ORDER.index(layer) + 1])
    for name in imported_modules(path):
        top, _, rest = name.partition(".")
        if top == "rayprune" and rest:
            assert rest.split(".")[0] in allowed, f"{path.name} ({layer}) imports {name}"
        assert top not in FORBIDDEN_THIRD_PARTY.get(layer, set()), f"{path.name} imports {name}"


def test_pruning_math_loads_without_ray_or_mlflow():
    code = (
        "import sys, rayprune.pruning, rayprune.policy;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'ray', 'mlflow'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_cli_and_the_report_load_without_ray():
    """`best`, `report`, `eval` and the CLI's error handling only read MLflow and files."""
    code = (
        "import sys, rayprune.cli, rayprune.report;"
        "from rayprune.sweep import ClusterError, SweepError, Workspace, choose_best;"
        "print('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
