"""Real RLlib PPO on the old API stack (ModelV2 + Policy + RolloutWorker), tiny budgets."""

import pytest
import torch

from rayprune.policy import (
    ActionSpace,
    EnvSpaces,
    EvalResult,
    OnnxPolicy,
    describe_policy,
    export_compact_policy,
)
from rayprune.pruning import PruningSpec, compact
from rayprune.rllib import (
    ActorCriticSpec,
    actor_of,
    build_ppo_config,
    pruning_metrics,
    restore_algorithm,
)
from tests.cli import rayprune
from tests.integration.sweeps import (
    METRICS,
    assert_iterations,
    curve_steps,
    runs_of,
    write_config,
)

pytestmark = pytest.mark.integration

PPO = {"train_batch_size": 256, "minibatch_size": 64, "num_epochs": 2, "lr": 3e-4}
MODEL = {"hidden": [16, 16], "critic_hidden": [8]}


def dsp(target=0.75, start=1, end=2):
    schedule = {"sparsity_target": target, "start_iter": start, "end_iter": end}
    return {"method": "dsp", "lam": 1e-3, "schedule": schedule}


def build(env="CartPole-v1", pruning=None, seed=0, num_env_runners=0):
    return build_ppo_config(
        env=env,
        seed=seed,
        ppo=PPO,
        network=ActorCriticSpec.from_dict(MODEL),
        pruning=PruningSpec.from_dict(pruning or dsp()),
        num_envs_per_env_runner=2,
        api_stack="old",
        num_env_runners=num_env_runners,
    ).build_algo()


def remote_actor_states(algo):
    """The actor's state_dict on each remote rollout worker (the samplers)."""
    return algo.env_runner_group.foreach_env_runner(
        lambda worker: worker.get_policy().model.actor.state_dict(), local_env_runner=False
    )


def assert_same_actor(state, actor):
    assert state.keys() == actor.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in actor.state_dict().items())


def test_remote_sampler_gets_the_new_masks_in_the_same_iteration(local_ray):
    algo = build(num_env_runners=1)
    try:
        for neurons, target in [(32, 0.0), (8, 0.75), (8, 0.75)]:
            metrics = pruning_metrics(algo.train())
            assert (metrics["neurons"], metrics["sparsity_target_now"]) == (neurons, target)
            # Ray runs an actor's calls in order, so the next sample() follows this state.
            [state] = remote_actor_states(algo)
            assert_same_actor(state, actor_of(algo))
        assert [int(m.sum()) for m in actor_of(algo).masks] == [4, 4]
        assert metrics["neurons_l0"] == 4 and metrics["weights"] == 4 * 4 + 4 * 4 + 4 * 2
        assert metrics["prune_step"] == 3 and metrics["regularizer"] > 0
    finally:
        algo.stop()


def test_loss_carries_the_regularizer_and_only_the_loss_pass_is_stochastic(local_ray):
    algo = build()
    try:
        model = algo.get_policy().model
        added, calls = [], []
        custom_loss, forward = model.custom_loss, model.actor.forward

        def recording_loss(policy_loss, loss_inputs):
            out = custom_loss(policy_loss, loss_inputs)
            added.append(float((out[0] - policy_loss[0]).detach()))
            return out

        def recording_forward(x, stochastic=False):
            calls.append((len(x), stochastic))
            return forward(x, stochastic)

        model.custom_loss, model.actor.forward = recording_loss, recording_forward
        algo.train()
        assert len(added) == 2 * 256 // 64 and all(a > 0 for a in added)  # every minibatch
        assert {stochastic for n, stochastic in calls if n == 64} == {True}
        assert {stochastic for n, stochastic in calls if n != 64} == {False}
    finally:
        algo.stop()


def test_restore_keeps_masks_and_step_and_exports_the_masked_actor(local_ray, tmp_path):
    algo = build(pruning=dsp(start=1, end=3))
    try:
        algo.train()
        algo.train()
        masks = [m.clone() for m in actor_of(algo).masks]
        algo.save_to_path(str(tmp_path / "ckpt"))
    finally:
        algo.stop()
    restored = build(pruning=dsp(start=1, end=3), seed=1, num_env_runners=1)
    try:
        restore_algorithm(restored, tmp_path / "ckpt")
        actor = actor_of(restored)
        assert restored.iteration == 2 and int(restored.get_policy().model.prune_step) == 2
        assert all(torch.equal(a, b) for a, b in zip(actor.masks, masks))
        [state] = remote_actor_states(restored)
        assert_same_actor(state, actor)

        net, spec = compact(actor), PruningSpec.from_dict(dsp(start=1, end=3))
        spaces = EnvSpaces(4, ActionSpace("discrete", n=2))
        info = describe_policy(actor, net, spec, "CartPole-v1", spaces, EvalResult([]))
        folder = export_compact_policy(net, tmp_path / "policy", info)
        obs = torch.randn(32, 4)
        exported = torch.from_numpy(OnnxPolicy(folder).outputs(obs.numpy()))
        assert torch.allclose(exported, actor(obs), atol=1e-5)

        metrics = pruning_metrics(restored.train())
        assert metrics["prune_step"] == 3 and metrics["sparsity_target_now"] == 0.75
    finally:
        restored.stop()


def test_continuous_masks_leave_exploration_std_alone(local_ray):
    algo = build(env="Pendulum-v1")
    try:
        for _ in range(2):
            algo.train()
        model = algo.get_policy().model
        assert [int(m.sum()) for m in model.actor.masks] == [4, 4]
        obs = torch.randn(5, 3)
        inputs, _ = model({"obs": obs})
        mean, log_std = inputs.chunk(2, dim=-1)
        assert torch.allclose(mean, model.actor(obs))
        assert torch.equal(log_std, model.log_std.expand_as(mean))  # state-independent
    finally:
        algo.stop()


def test_normalization_filter_is_synced_and_exported_exactly(local_ray, tmp_path):
    """The old stack's MeanStdFilter: the remote rollout worker filters with the statistics the
    export freezes, and the exported graph fed raw observations gives what the trained actor
    gives on observations that RLlib's own filter (the worker's, not our code) normalized."""
    import numpy as np

    from rayprune.policy import StagedPolicy, check_env
    from rayprune.rllib import frozen_normalization

    algo = build_ppo_config(
        env="Pendulum-v1", seed=0, ppo=PPO, network=ActorCriticSpec.from_dict(MODEL),
        pruning=PruningSpec.from_dict({"method": "ppo"}), num_envs_per_env_runner=2,
        api_stack="old", num_env_runners=1, normalize_observations=True,
    ).build_algo()  # fmt: skip
    try:
        algo.train()
        algo.train()
        norm = frozen_normalization(algo)
        [remote] = algo.env_runner_group.foreach_env_runner(
            lambda worker: worker.filters["default_policy"], local_env_runner=False
        )
        actor = actor_of(algo).cpu()
    finally:
        algo.stop()
    assert remote.running_stats.num_pushes > 500  # it filtered its samples, and was synced
    np.testing.assert_allclose(remote.running_stats.mean, norm.mean, rtol=1e-6)
    raw = np.random.default_rng(0).uniform(-1, 1, (256, 3)).astype(np.float32) * [1, 1, 8]
    normalized = np.asarray(remote(raw.astype(np.float32), update=False), np.float32)
    with torch.no_grad():
        expected = actor(torch.from_numpy(normalized)).numpy()
    spaces = check_env("Pendulum-v1")
    with StagedPolicy(compact(actor).eval(), tmp_path / "policy", spaces, norm) as staged:
        exported = OnnxPolicy(staged.folder, spaces).outputs(raw)
    np.testing.assert_allclose(exported, expected, atol=1e-5)


def test_sweep_with_api_stack_old_survives_a_crash_and_exports(tmp_path):
    """`rayprune sweep` end to end: the trial crashes in iteration 3, Tune restores it from the
    old-stack checkpoint of iteration 2, and it finishes pruned and exported."""
    marker = tmp_path / "failed-once"
    config = write_config(
        tmp_path, name="old", env="tests.integration.flaky_env:FlakyCartPole-v0", api_stack="old",
        grid={"method": ["dsp"], "lambda": [1e-4], "sparsity_target": [0.5], "seed": [0]},
    )  # fmt: skip
    proc = rayprune("sweep", config, cwd=tmp_path, env={"RAYPRUNE_TEST_FLAKY_MARKER": str(marker)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert marker.exists()  # the trial really crashed once
    client, [run] = runs_of(tmp_path / "rayprune_results", "old")
    assert run.info.status == "FINISHED" and METRICS <= set(run.data.metrics)
    assert run.data.params["api_stack"] == "old"
    neurons = client.get_metric_history(run.info.run_id, "train/neurons")
    steps = curve_steps(client, run.info.run_id)
    assert_iterations(steps, 4)  # no iteration lost or twice
    assert [m.step for m in neurons] == steps
    assert neurons[0].value == 32 and neurons[-1].value == 16
    assert run.data.metrics["target_reached"] == 1.0
    files = {a.path for a in client.list_artifacts(run.info.run_id, "compact_policy")}
    assert "compact_policy/policy.onnx" in files
