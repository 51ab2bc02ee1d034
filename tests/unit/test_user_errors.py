"""The user's own code failing, and what they can mistype (issue 34): every exception or wrong
value from the user's environment (its constructor, reset, step, spaces) is one line naming
the environment and what it did, in the pre-flight of `sweep`, in `eval` (onnx and C) and in
`export`; a failed trial's tag names the root cause, not RLlib's wrapper; a mistyped option
or tracking URI is one line before anything starts; compression.json is standard JSON."""

import json
import math
import shutil
import traceback
from pathlib import Path

import pytest
import ray.exceptions
import torch
import yaml

from rayprune.errors import ArtifactError, ConfigError, TrialDiverged, UnsupportedEnvError
from rayprune.policy import (
    ActionSpace,
    EnvSpaces,
    EnvSpec,
    EvalResult,
    OnnxPolicy,
    check_env,
    describe_policy,
    evaluate,
    export_compact_policy,
    read_info,
)
from rayprune.policy.c_export import Actions
from rayprune.policy.info import INFO_FILE, write_info
from rayprune.pruning import MaskedMLP, PruningSchedule, PruningSpec, compact
from rayprune.sweep.config import parse_config
from rayprune.sweep.config.env_check import check_settings_json
from rayprune.sweep.trainable import failure_reason
from tests.cli import one_line_error, rayprune

ENV = "tests.unit.bad_envs:"
TWO = ActionSpace("discrete", n=2)


def policy_for(folder: Path, env: str, action: ActionSpace = TWO, obs: int = 4) -> Path:
    """A small compact policy folder trained (as far as compression.json says) on `env`,
    evaluated on 3 episodes."""
    torch.manual_seed(0)
    mlp = MaskedMLP(obs, [8, 8], action.width, "tanh")
    net = compact(mlp)
    spec = PruningSpec("dsp", 1e-4, PruningSchedule(0.5, 1, 2))
    info = describe_policy(mlp, net, spec, env, EnvSpaces(obs, action), EvalResult([1.0] * 3))
    return export_compact_policy(net, folder, info)


# --- 1, 2: the pre-flight runs the environment as a trial will -------------------------------


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("ShortObservation", "reset() returned an observation of shape (3,), not (4,) as Box("),
        ("ShortStepObservation", "step() returned an observation of shape (3,), not (4,)"),
        ("TextObservation", "reset() returned an observation of dtype <U1, which does not cast"),
        ("OutOfRangeSignal", "reset() returned observation['signal'] 7, outside Discrete(3)"),
        ("InfiniteReward", "step() returned a non-finite reward (inf)"),
        ("ArrayReward", "step() returned a reward that is not one number: array([1., 1., 1., 1.])"),
        (
            "ConstructorFails",
            "its constructor raised ValueError: no license for the physics engine",
        ),
        ("NoSpaces", "has no observation_space and action_space to read (AttributeError:"),
    ],
)
def test_the_preflight_refuses_what_would_fail_in_the_trial(name, fragment):
    with pytest.raises(UnsupportedEnvError) as err:
        check_env(ENV + name)
    message = str(err.value)
    assert message.startswith(f"environment '{ENV}{name}'") and fragment in message, message
    assert "\n" not in message


def test_a_constructors_own_type_error_is_told_from_a_kwarg_it_does_not_take():
    with pytest.raises(UnsupportedEnvError, match=r"its constructor raised TypeError: unsupported"):
        check_env(ENV + "ConstructorTypeError")
    with pytest.raises(UnsupportedEnvError, match=r"rejected env_config: .*unexpected keyword"):
        check_env(EnvSpec(ENV + "Fine", {"gravity": 9.81}))


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("ShortObservation", "reset() returned an observation of shape (3,), not (4,)"),
        ("ConstructorFails", "its constructor raised ValueError: no license for the physics"),
    ],
)
@pytest.mark.slow
def test_sweep_refuses_a_broken_environment_in_one_line_and_creates_nothing(
    tmp_path, name, fragment
):
    config = {
        "name": "bad", "env": ENV + name, "budget_env_steps": 200_000,
        "grid": {"method": ["dsp"], "lambda": [1e-4], "sparsity_target": [0.5], "seed": [0]},
    }  # fmt: skip
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    proc = rayprune("sweep", "bad.yaml", cwd=tmp_path)
    one_line_error(proc, fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


# --- 3: eval and export: the environment failing while the policy runs -----------------------


SOLVER = "step() raised RuntimeError: the physics engine lost its solver"
REFUSED = "reset() raised OSError: the simulator's server refused the connection"
SHORT = "step() returned an observation of shape (3,), not (4,)"


@pytest.mark.parametrize(
    "name, fragment, runtime",
    [
        ("StepFailsLater", SOLVER, "onnx"),
        ("StepFailsLater", SOLVER, "c"),
        ("ShortObservationLater", SHORT, "onnx"),
        ("ResetFails", REFUSED, "c"),
    ],
)
@pytest.mark.slow
def test_eval_says_what_the_environment_did_in_one_line(tmp_path, name, fragment, runtime):
    if runtime == "c" and shutil.which("gcc") is None:
        pytest.skip("gcc missing")
    policy = policy_for(tmp_path / "policy", ENV + name)
    proc = rayprune("eval", policy, "--episodes", 5, "--runtime", runtime, cwd=tmp_path)
    one_line_error(proc, f"environment '{ENV}{name}': {fragment}")


def test_evaluate_raises_the_one_line_error_itself(tmp_path):
    policy = OnnxPolicy(policy_for(tmp_path / "policy", ENV + "StepFailsLater"))
    with pytest.raises(UnsupportedEnvError, match="step\\(\\) raised RuntimeError"):
        evaluate(policy, ENV + "StepFailsLater", episodes=10)


@pytest.mark.parametrize(
    "calibration, where",
    [("10", "while calibrating"), ("1", "while evaluating the int8 policy, inside its staging")],
)
@pytest.mark.slow
def test_export_says_what_the_environment_did_and_writes_nothing(tmp_path, calibration, where):
    # 30 good steps: 10 calibration episodes of 10 steps fail; one calibration episode passes,
    # and the int8 evaluation (3 episodes) fails in the folder being staged
    src = policy_for(tmp_path / "policy", ENV + "ShortObservationLater")
    proc = rayprune(
        "export", src, "--out", "int8", "--target", "onnx",
        "--calibration-episodes", calibration, cwd=tmp_path,
    )  # fmt: skip
    one_line_error(proc, "step() returned an observation of shape (3,), not (4,)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy"], where


# --- 4: a failed trial's tag names the root cause ---------------------------------------------


def raised(make):
    """The exception `make()` raises, with its traceback and chain as Python set them."""
    try:
        make()
    except BaseException as err:
        return err
    raise AssertionError("did not raise")


def throw(err: BaseException):
    raise err


def users_step():
    raise RuntimeError("the physics engine lost its solver")


def rllib_rethrow():
    """What RLlib's EnvRunner does with an env's exception (env_runner._try_env_step)."""
    try:
        users_step()
    except Exception as e:
        raise RuntimeError from e


def context_only():
    try:
        users_step()
    except Exception:
        raise RuntimeError()  # noqa: B904


ROOT = "RuntimeError: the physics engine lost its solver"


def test_rllibs_bare_runtime_error_is_unwrapped_to_the_users_exception():
    err = raised(rllib_rethrow)
    assert f"{type(err).__name__}: {err}".strip() == "RuntimeError:"  # what the tag said before
    assert failure_reason(err) == ROOT


def test_an_exception_that_says_nothing_yields_to_its_context():
    assert failure_reason(raised(context_only)) == ROOT


def test_rays_task_error_yields_its_cause():
    cause = raised(rllib_rethrow)
    text = "".join(traceback.format_exception(cause))
    task = ray.exceptions.RayTaskError(
        "train", text, cause, "ray::ImplicitFunc.train", 1, "1.2.3.4"
    )
    dual = raised(lambda: throw(task.as_instanceof_cause()))
    assert isinstance(dual, ray.exceptions.RayTaskError)
    assert failure_reason(dual) == ROOT
    wrapped = raised(lambda: throw(RuntimeError("trial failed")))
    wrapped.__cause__ = task
    assert failure_reason(wrapped) == ROOT


def test_an_actor_death_is_read_from_its_traceback_text():
    cause = raised(rllib_rethrow)
    text = "".join(traceback.format_exception(cause))
    task = ray.exceptions.RayTaskError(
        "train", text, cause, "ray::ImplicitFunc.train", 1, "1.2.3.4"
    )
    died = ray.exceptions.ActorDiedError(task)  # keeps only the text
    assert failure_reason(died) == ROOT
    assert failure_reason(ray.exceptions.ActorDiedError()) == (
        "ActorDiedError: The actor died unexpectedly before finishing this task."
    )


def test_a_rayprune_error_on_the_way_is_the_one_said():
    diverged = TrialDiverged("training diverged at iteration 3: loss nan")
    assert failure_reason(diverged) == "TrialDiverged: training diverged at iteration 3: loss nan"
    outer = raised(lambda: throw(RuntimeError()))
    outer.__cause__ = UnsupportedEnvError("environment 'x': step() raised KeyError: 'lane'")
    assert failure_reason(outer) == (
        "UnsupportedEnvError: environment 'x': step() raised KeyError: 'lane'"
    )


def test_with_nothing_to_unwrap_the_type_is_said():
    assert failure_reason(KeyboardInterrupt()) == "KeyboardInterrupt"
    assert failure_reason(ValueError("two\nlines")) == "ValueError: two"


# --- 5: what a user can mistype in the options -------------------------------------------------

URI_EDGES = [
    ("mlflow://x", "'mlflow://x' is not a store rayprune can use"),
    ("ftp://x", "'ftp://x' is not a store rayprune can use"),
    ("file:relative", "is a folder: MLflow's file store is in maintenance mode"),
    ("file:///tmp/mlruns", "is a folder: MLflow's file store is in maintenance mode"),
    ("relative/path", "is a folder: MLflow's file store is in maintenance mode"),
    ("sqlite://", "is not a SQLite file: pass sqlite:///PATH/mlflow.db"),
    ("sqlite:///", "is not a SQLite file"),
    ("sqlite:///:memory:", "an in-memory store would keep nothing"),
    ("sqlite:relative.db", "is not a SQLite file"),
    ("http://", "'http://' names no host"),
    ("https://:5000", "'https://:5000' names no host"),
    ("http://localhost:0", "port 0 is not a server's port"),
    ("http://localhost:notaport", "is not a URI: Port could not be cast to integer"),
    ("http://localhost:99999", "is not a URI: Port out of range 0-65535"),
    ("http://user:s3cret@[::1", "is not a URI: Invalid IPv6 URL"),
    ("databricks", "rayprune does not track to Databricks"),
    ("postgresql://user@db.invalid/mlflow", "needs a database driver that is not installed"),
    ("", "--tracking-uri is empty"),
]


@pytest.mark.parametrize("uri, fragment", URI_EDGES)
@pytest.mark.slow
def test_every_mistyped_tracking_uri_is_one_line_before_anything_starts(tmp_path, uri, fragment):
    proc = rayprune("best", "tiny", "--out", "p", "--tracking-uri", uri, cwd=tmp_path)
    one_line_error(proc, fragment)
    assert "s3cret" not in proc.stderr
    assert list(tmp_path.iterdir()) == []  # no store, folder or download made


@pytest.mark.parametrize(
    "command",
    [("sweep", "c.yaml"), ("best", "tiny", "--out", "p"), ("report", "tiny"), ("ui",)],
)
@pytest.mark.parametrize("uri", ["mlflow://x", "http://localhost:notaport", "sqlite://"])
@pytest.mark.slow
def test_all_four_commands_that_take_a_tracking_uri_check_it(tmp_path, command, uri):
    proc = rayprune(*command, "--tracking-uri", uri, cwd=tmp_path)
    one_line_error(proc, "--tracking-uri")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_sqlite_store_named_for_reading_is_never_created(tmp_path):
    for command in (("best", "tiny", "--out", "p"), ("report", "tiny")):
        proc = rayprune(*command, "--tracking-uri", "sqlite:///sub/mlflow.db", cwd=tmp_path)
        one_line_error(proc, f"no MLflow store at {tmp_path / 'sub' / 'mlflow.db'}")
    assert list(tmp_path.iterdir()) == []  # MLflow made sub/ and an empty store before


@pytest.fixture(scope="module")
def cartpole_policy(tmp_path_factory) -> Path:
    return policy_for(tmp_path_factory.mktemp("cartpole") / "policy", "CartPole-v1")


@pytest.mark.slow
def test_eval_refuses_a_negative_seed_and_takes_zero_and_a_huge_one(tmp_path, cartpole_policy):
    proc = rayprune("eval", cartpole_policy, "--episodes", "1", "--seed", "-1", cwd=tmp_path)
    one_line_error(proc, "--seed -1 is negative: episode seeds are 0 or more")
    for seed in ("0", str(2**70)):
        proc = rayprune("eval", cartpole_policy, "--episodes", "1", "--seed", seed, cwd=tmp_path)
        assert proc.returncode == 0 and proc.stdout.startswith("return "), proc.stderr


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("--seed", "-99999999999999999999"), "is negative"),
        (("--env", ""), "--env is empty"),
        (("--env", " "), "--env is empty"),
    ],
)
@pytest.mark.slow
def test_eval_options_at_their_edges(tmp_path, cartpole_policy, args, fragment):
    proc = rayprune("eval", cartpole_policy, "--episodes", "1", *args, cwd=tmp_path)
    one_line_error(proc, fragment)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("--model-name", ""), "--model-name '' is not a registered model's name"),
        (("--model-name", " "), "is not a registered model's name"),
        (("--model-name", "team/policy"), "'team/policy' is not a registered model's name"),
        (("--model-name", "x:y"), "'x:y' is not a registered model's name"),
    ],
)
@pytest.mark.slow
def test_best_options_at_their_edges(tmp_path, args, fragment):
    store = f"sqlite:///{tmp_path / 'absent.db'}"
    proc = rayprune("best", "tiny", "--out", "p", "--tracking-uri", store, *args, cwd=tmp_path)
    one_line_error(proc, fragment)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "storage, fragment",
    [
        ("mlflow://x", "Tune cannot store to 'mlflow'://"),
        ("memory://x", "Tune cannot store to 'memory'://"),
        ("file://relative", "a file:// URI takes an absolute path"),
        ("", "--storage is empty"),
    ],
)
@pytest.mark.slow
def test_sweep_storage_at_its_edges(tmp_path, storage, fragment):
    # refused while parsing, before the sweep is recorded (a traceback after it, before)
    proc = rayprune("sweep", "c.yaml", "--storage", storage, cwd=tmp_path)
    one_line_error(proc, fragment)
    assert list(tmp_path.iterdir()) == []


# --- 6: compression.json is standard JSON ------------------------------------------------------


def strict_json(text: str):
    """json.loads as JSON.parse reads: Infinity and NaN are not JSON."""

    def refuse(token):
        raise ValueError(f"{token} is not JSON")

    return json.loads(text, parse_constant=refuse)


BOUNDLESS = ActionSpace("box", shape=(2,), low=(-math.inf, -1.0), high=(math.inf, 1.0))


def test_infinite_bounds_are_standard_json_and_read_back(tmp_path):
    folder = policy_for(tmp_path / "policy", ENV + "InfiniteBounds", BOUNDLESS)
    text = (folder / INFO_FILE).read_text()
    raw = strict_json(text)
    assert raw["action_space"]["low"] == ["-Infinity", -1.0]
    assert raw["action_space"]["high"] == ["Infinity", 1.0]
    assert read_info(folder).action_space == BOUNDLESS
    # the policy runs in its environment, clipping nothing on the unbounded side
    result = evaluate(OnnxPolicy(folder), ENV + "InfiniteBounds", episodes=1)
    assert result.mean == 10.0
    assert Actions.from_space(raw["action_space"]).low[0] == -math.inf


def test_older_files_with_bare_infinity_tokens_still_read(tmp_path):
    folder = policy_for(tmp_path / "policy", ENV + "InfiniteBounds", BOUNDLESS)
    raw = strict_json((folder / INFO_FILE).read_text())
    raw["action_space"].update(low=[-math.inf, -1.0], high=[math.inf, 1.0])
    old = json.dumps(raw)  # what rayprune wrote before: bare -Infinity / Infinity
    assert "-Infinity, -1.0" in old
    (folder / INFO_FILE).write_text(old)
    assert read_info(folder).action_space == BOUNDLESS


def test_a_return_never_measured_is_a_string_too(tmp_path):
    folder = policy_for(tmp_path / "policy", "CartPole-v1")
    info = read_info(folder)
    nan = type(info)(**{**info.__dict__, "eval_return_mean": math.nan})
    write_info(folder, nan)
    assert strict_json((folder / INFO_FILE).read_text())["eval_return_mean"] == "NaN"
    assert math.isnan(read_info(folder).eval_return_mean)
    raw = strict_json((folder / INFO_FILE).read_text())
    (folder / INFO_FILE).write_text(json.dumps({**raw, "eval_return_mean": "lots"}))
    with pytest.raises(ArtifactError, match="is corrupt: 'lots' is not a number"):
        read_info(folder)


@pytest.mark.parametrize(
    "env_config, message",
    [
        ({"limit": math.inf}, "env_config.limit: Input should be a finite number"),
        ({"a": {"b": [1.0, math.nan]}}, "env_config.a.b.1: Input should be a finite number"),
        ({"table": {1: 2}}, "env_config.table: the key 1 is not a string"),
    ],
)
def test_env_config_compression_json_cannot_hold_is_refused(env_config, message):
    cfg = parse_config({"name": "t", "env": "CartPole-v1", "budget_env_steps": 200_000, "env_config": env_config})  # fmt: skip
    with pytest.raises(ConfigError, match="invalid config: " + message.replace(".", r"\.")):
        check_settings_json(cfg)
