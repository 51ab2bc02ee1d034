"""A trial that fails because the user's environment raised: its MLflow run ends FAILED, and
its tag rayprune.failure names the user's exception, not the bare RuntimeError RLlib re-raises
it as (the tag read just "RuntimeError:" before)."""

import pytest

from rayprune.names import FAILURE_TAG
from tests.cli import rayprune
from tests.integration.sweeps import runs_of, write_config

pytestmark = pytest.mark.integration


def test_the_failure_tag_names_the_environments_own_exception(tmp_path):
    config = write_config(
        tmp_path,
        name="crash",
        env="tests.integration.faulty_envs:SolverCrashCartPole-v0",
        max_failures=0,
        grid={"method": ["dsp"], "lambda": [1e-4], "sparsity_target": [0.5], "seed": [0]},
    )
    proc = rayprune("sweep", config, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "1 trial(s) failed" in proc.stderr.strip().splitlines()[-1], proc.stderr[-3000:]
    _, [run] = runs_of(tmp_path / "rayprune_results", "crash")
    assert run.info.status == "FAILED"
    assert run.data.tags[FAILURE_TAG] == "RuntimeError: the physics engine lost its solver"
