"""The house: names and errors at the bottom, then pruning -> policy -> rllib; the store (MLflow,
no Ray) on pruning and policy; sweep and report side by side on the store; the CLI on top. Ray's
private parts are reached through one door, rayprune/rllib/compat.py."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from rayprune import names

PACKAGE = Path(__file__).resolve().parents[2] / "rayprune"
BOTTOM = {"names", "errors", "lazy"}
BELOW = {
    "pruning": BOTTOM,
    "policy": BOTTOM | {"pruning"},
    "rllib": BOTTOM | {"pruning", "policy"},
    "store": BOTTOM | {"pruning", "policy"},
    "sweep": BOTTOM | {"pruning", "policy", "rllib", "store"},
    "report": BOTTOM | {"pruning", "policy", "store"},
    "cli": BOTTOM | {"pruning", "policy", "rllib", "store", "sweep", "report"},
}
FORBIDDEN_THIRD_PARTY = {
    "pruning": {"ray", "mlflow", "gymnasium", "onnxruntime"},
    "policy": {"ray", "mlflow"},
    "rllib": {"mlflow"},
    "store": {"ray"},  # reading and writing MLflow needs no Ray
    "report": {"ray"},
}
# Metric and tag names distinctive enough that a string literal equal to one is that name.
# Params are also the fields of TrialPoint and PruningSpec, and prune_step a module buffer.
NOT_METRICS = {*names.POINT_PARAMS, names.ENV, names.SEARCH_KIND, names.GATES, names.PRUNE_STEP}
SPELLED_ONCE = {
    value
    for key, value in vars(names).items()
    if key.isupper() and isinstance(value, str) and ("_" in value or "." in value)
} - NOT_METRICS


def layer_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 else rel.stem


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))
COMPAT = PACKAGE / "rllib" / "compat.py"
# Where the Ray classes rayprune builds on live (its tests and examples left out).
RAY_PACKAGES = ("rllib", "tune", "train", "air")


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_names_defined(trees) -> set[str]:
    """The private names the trees define: methods, and attributes they assign."""
    found = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                found.add(node.attr)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                found.add(node.name)
    return {name for name in found if private(name)}


@pytest.fixture(scope="module")
def ray_private_names() -> set[str]:
    """Every private attribute and method name of Ray's RLlib, Tune and Train that rayprune
    does not define itself: reading one of them reaches into Ray."""
    ray = pytest.importorskip("ray")
    root = Path(ray.__file__).parent
    sources = [
        path
        for package in RAY_PACKAGES
        for path in (root / package).rglob("*.py")
        if not {"tests", "examples"} & set(path.parts)
    ]
    ours = private_names_defined(ast.parse(p.read_text()) for p in MODULES)
    return private_names_defined(ast.parse(p.read_bytes()) for p in sources) - ours


def ray_bindings(tree) -> set[str]:
    """The names a module binds to Ray's modules, classes and functions by importing them."""
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bound |= {
                a.asname or a.name.split(".")[0] for a in node.names if a.name.startswith("ray")
            }
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "ray":
            bound |= {a.asname or a.name for a in node.names}
    return bound


@pytest.mark.parametrize(
    "path",
    [
        p
        for p in MODULES
        if p != COMPAT and any(m.split(".")[0] == "ray" for m in imported_modules(p))
    ],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_only_compat_touches_rays_private_parts(path, ray_private_names):
    """Outside rllib/compat.py no module imports a private Ray module or name, reads or
    writes a private attribute of a Ray class, or sets an attribute on anything of Ray's."""
    tree = ast.parse(path.read_text())
    bound = ray_bindings(tree)
    where = path.relative_to(PACKAGE)
    for name in imported_modules(path):
        if name.split(".")[0] == "ray":
            assert not any(private(part) for part in name.split(".")), f"{where} imports {name}"
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        assert node.attr not in ray_private_names, (
            f"{where}:{node.lineno} touches Ray's private {node.attr}: go through rllib/compat.py"
        )
        patched = isinstance(node.ctx, ast.Store) and getattr(node.value, "id", None) in bound
        assert not patched, f"{where}:{node.lineno} sets {node.attr} on Ray's {node.value.id}"


def test_the_private_attribute_rule_catches_a_learner_reaching_into_ray(ray_private_names):
    """The rule above, on the code rayprune had before compat took these over."""
    reads = {"_params", "_grad_scalers", "_lr_scheduler_classes", "_learner"}
    assert reads <= ray_private_names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_module_imports_only_the_layers_below(path):
    layer = layer_of(path)
    allowed = BELOW.get(layer, set()) | {layer}
    for name in imported_modules(path):
        top, _, rest = name.partition(".")
        if top == "rayprune" and rest:
            assert rest.split(".")[0] in allowed, f"{path.name} ({layer}) imports {name}"
        assert top not in FORBIDDEN_THIRD_PARTY.get(layer, set()), f"{path.name} imports {name}"


def test_report_imports_no_sweep_module_and_store_no_ray():
    for path in MODULES:
        imported = imported_modules(path)
        if layer_of(path) == "report":
            assert not any(m.startswith("rayprune.sweep") for m in imported), path.name
        if layer_of(path) == "store":
            assert not any(m == "ray" or m.startswith("ray.") for m in imported), path.name


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_metric_and_tag_names_are_spelled_once(path):
    if path.name == "names.py":
        return
    tree = ast.parse(path.read_text())
    exported = {  # __all__ lists Python names (a function may be called target_reached)
        id(node)
        for assign in ast.walk(tree)
        if isinstance(assign, ast.Assign)
        and any(getattr(t, "id", "") == "__all__" for t in assign.targets)
        for node in ast.walk(assign.value)
    }
    literals = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in exported
    }
    assert not literals & SPELLED_ONCE, f"{path.name} spells {literals & SPELLED_ONCE}"


@pytest.mark.parametrize("layer", ["pruning", "store", "sweep", "report", "cli"])
def test_layers_that_name_metrics_import_the_names_module(layer):
    paths = [p for p in MODULES if layer_of(p) == layer]
    assert any("rayprune.names" in imported_modules(p) for p in paths)


@pytest.mark.slow  # a fresh interpreter
def test_pruning_math_loads_without_ray_or_mlflow():
    code = (
        "import sys, rayprune.pruning, rayprune.policy;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'ray', 'mlflow'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow  # a fresh interpreter
def test_the_cli_the_store_and_the_report_load_without_ray():
    """`best`, `report`, `eval` and the CLI's error handling only read MLflow and files."""
    code = (
        "import sys, rayprune.cli, rayprune.report, rayprune.store.best, rayprune.errors;"
        "from rayprune.sweep import Workspace, load_config;"
        "print('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
