"""Real RLlib PPO (new API stack) with the masked module and the pruning Learner, tiny budgets."""

import pytest
import torch
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.core.columns import Columns
from ray.rllib.evaluation.postprocessing import Postprocessing

from rayprune.pruning import PruningSpec, dsp_penalty
from rayprune.rllib import (
    ActorCriticSpec,
    build_ppo_config,
    learner_module,
    restore_algorithm,
    sampler_module,
    start_from_trained,
)
from rayprune.rllib.compat import local_learner
from rayprune.rllib.ppo_loss import lean_loss_applies

pytestmark = pytest.mark.integration

PPO = {"train_batch_size": 256, "minibatch_size": 64, "num_epochs": 2, "lr": 3e-4}
MODEL = {"hidden": [16, 16], "critic_hidden": [8]}


def dsp(target=0.75, start=1, end=2, method="dsp"):
    schedule = {"sparsity_target": target, "start_iter": start, "end_iter": end}
    return {"method": method, "lam": 1e-3, "schedule": schedule}


def build(env="CartPole-v1", pruning=None, seed=0, ppo=None):
    return build_ppo_config(
        env=env,
        seed=seed,
        ppo=PPO | (ppo or {}),
        network=ActorCriticSpec.from_dict(MODEL),
        pruning=PruningSpec.from_dict(pruning or dsp()),
        num_envs_per_env_runner=2,
    ).build_algo()


def kept(module):
    return [int(m.sum()) for m in module.actor.masks]


def test_masks_reach_samplers_in_the_same_iteration(local_ray):
    algo = build()
    try:
        results = [algo.train() for _ in range(3)]
        learner = [r["learners"]["default_policy"] for r in results]
        assert [row["neurons"] for row in learner] == [32, 8, 8]
        assert [row["sparsity_target_now"] for row in learner] == [0.0, 0.75, 0.75]
        assert learner[1]["neurons_l0"] == 4 and learner[1]["regularizer"] > 0
        assert learner[1]["weights"] == 4 * 4 + 4 * 4 + 4 * 2
        # The EnvRunner samples with the masks chosen at the end of the iteration.
        assert kept(sampler_module(algo)) == kept(learner_module(algo)) == [4, 4]
        for sampled, learned in zip(
            sampler_module(algo).actor.masks, learner_module(algo).actor.masks
        ):
            assert torch.equal(sampled, learned)
    finally:
        algo.stop()


def test_dsp_gradients_are_the_loss_plus_lambda_times_the_penalty(local_ray):
    """The Learner adds Eq. 13's gradient in closed form after the backward pass; autograd
    through loss + lambda * penalty is the independent route."""
    algo = build()
    try:
        learner = local_learner(algo)
        actor = learner.module["default_policy"].unwrapped().actor
        actor.hidden[0].mask[:3] = 0.0
        obs = torch.randn(5, 4)
        learner.compute_gradients({"default_policy": actor(obs).square().mean()})
        learned = [layer.weight.grad.clone() for layer in actor.linears]
        actor.zero_grad()
        (actor(obs).square().mean() + 1e-3 * dsp_penalty(actor)).backward()
        for got, layer in zip(learned, actor.linears):
            assert torch.allclose(got, layer.weight.grad, rtol=1e-5, atol=1e-8)
            assert not torch.equal(got, torch.zeros_like(got))
    finally:
        algo.stop()


@pytest.mark.parametrize("env", ["CartPole-v1", "Pendulum-v1"])
def test_lean_ppo_loss_equals_rllibs_on_the_same_minibatch(local_ray, env):
    """RLlib's PPOTorchLearner loss is the oracle: the same total and logged means on a batch
    with a loss mask, clipped ratios, value losses past vf_clip_param and an entropy bonus."""
    ppo = {"entropy_coeff": 0.05, "vf_clip_param": 1.0, "use_kl_loss": False}
    algo = build(env=env, pruning={"method": "ppo"}, ppo=ppo)
    try:
        learner = local_learner(algo)
        module = learner.module["default_policy"].unwrapped()
        config = learner.config.get_config_for_module("default_policy")
        assert lean_loss_applies(config)
        torch.manual_seed(0)
        batch = {Columns.OBS: torch.randn(32, 4 if env == "CartPole-v1" else 3)}
        fwd_out = module.forward_train(batch)
        dist = module.get_train_action_dist_cls().from_logits(fwd_out[Columns.ACTION_DIST_INPUTS])
        actions = dist.sample()
        batch |= {
            Columns.ACTIONS: actions,
            Columns.ACTION_LOGP: dist.logp(actions).detach() + 0.5 * torch.randn(32),
            Columns.ACTION_DIST_INPUTS: fwd_out[Columns.ACTION_DIST_INPUTS].detach(),
            Postprocessing.ADVANTAGES: torch.randn(32),
            Postprocessing.VALUE_TARGETS: 3 * torch.randn(32),
            Columns.LOSS_MASK: torch.arange(32) % 5 != 0,
        }
        kwargs = {
            "module_id": "default_policy",
            "config": config,
            "batch": batch,
            "fwd_out": fwd_out,
        }
        logged = {}
        for name, loss_of in [
            ("rllib", PPOTorchLearner.compute_loss_for_module),
            ("ours", type(learner).compute_loss_for_module),
        ]:
            total = loss_of(learner, **kwargs)
            means = [
                learner.metrics.peek(("default_policy", key))
                for key in ("policy_loss", "vf_loss", "entropy")
            ]
            logged[name] = torch.stack([total, *means]).detach().tolist()
        assert logged["ours"] == pytest.approx(logged["rllib"], rel=1e-5, abs=1e-6)
    finally:
        algo.stop()


@pytest.mark.parametrize("method", ["ssl", "dropout"])
def test_baselines_prune_to_their_target_through_the_same_hook(local_ray, method):
    algo = build(pruning=dsp(method=method))
    try:
        learner = [algo.train()["learners"]["default_policy"] for _ in range(2)]
        assert [row["neurons"] for row in learner] == [32, 8]
        assert (learner[1]["regularizer"] > 0) == (method == "ssl")
        assert kept(sampler_module(algo)) == [4, 4]
    finally:
        algo.stop()


def test_critic_shares_nothing_with_the_actor(local_ray):
    algo = build()
    try:
        module = learner_module(algo)
        actor = {id(p) for p in module.actor.parameters()}
        assert actor.isdisjoint(id(p) for p in module.critic.parameters())
        assert not hasattr(sampler_module(algo), "critic")  # EnvRunners hold inference-only modules
    finally:
        algo.stop()


def test_restore_keeps_masks_step_and_syncs_samplers(local_ray, tmp_path):
    algo = build(pruning=dsp(start=1, end=3))
    try:
        algo.train()
        algo.train()
        masks = [m.clone() for m in learner_module(algo).actor.masks]
        algo.save_to_path(str(tmp_path / "ckpt"))
    finally:
        algo.stop()
    restored = build(pruning=dsp(start=1, end=3), seed=1)
    try:
        restore_algorithm(restored, tmp_path / "ckpt")
        assert int(learner_module(restored).prune_step) == 2
        for module in (learner_module(restored), sampler_module(restored)):
            assert all(torch.equal(a, b) for a, b in zip(module.actor.masks, masks))
        result = restored.train()
        assert result["learners"]["default_policy"]["prune_step"] == 3
        assert result["learners"]["default_policy"]["sparsity_target_now"] == 0.75
    finally:
        restored.stop()


def test_a_probe_starts_from_dense_ppos_trained_policy_and_filter(local_ray, tmp_path):
    """search.init dense: the trained actor, critic and observation statistics carry over (to the
    samplers too); masks, the pruning step and the optimizer start afresh."""
    from rayprune.errors import SweepError
    from rayprune.rllib import frozen_normalization

    def config(pruning, hidden=MODEL["hidden"]):
        return build_ppo_config(
            env="CartPole-v1", seed=0, ppo=PPO, pruning=PruningSpec.from_dict(pruning),
            network=ActorCriticSpec.from_dict({**MODEL, "hidden": hidden}),
            num_envs_per_env_runner=2, normalize_observations=True,
        )  # fmt: skip

    dense = config({"method": "ppo"}).build_algo()
    try:
        dense.train()
        dense.train()
        trained = {k: v.clone() for k, v in learner_module(dense).state_dict().items()}
        norm = frozen_normalization(dense)
        dense.save_to_path(str(tmp_path / "dense"))
    finally:
        dense.stop()
    probe = config(dsp(target=0.5, start=1, end=2)).build_algo()
    try:
        start_from_trained(probe, tmp_path / "dense")
        learner, sampler = learner_module(probe), sampler_module(probe)
        for name in ("actor.hidden.0.weight", "actor.head.bias", "critic.0.weight"):
            assert torch.equal(learner.state_dict()[name], trained[name])
        assert torch.equal(sampler.actor.hidden[1].weight, trained["actor.hidden.1.weight"])
        assert int(learner.prune_step) == 0 and kept(learner) == [16, 16]
        assert frozen_normalization(probe) == norm
        probe.train()
        probe.train()
        assert kept(learner_module(probe)) == [8, 8]  # its own schedule, from its first iteration
    finally:
        probe.stop()
    wider = config(dsp(), hidden=[32, 32]).build_algo()
    try:
        with pytest.raises(SweepError, match=r"actor.hidden.0.weight \(16, 4\) has \(32, 4\)"):
            start_from_trained(wider, tmp_path / "dense")
    finally:
        wider.stop()


def test_dense_ppo_runs_through_the_same_module(local_ray):
    algo = build(pruning={"method": "ppo"})
    try:
        learner = [algo.train()["learners"]["default_policy"] for _ in range(2)][-1]
        assert learner["neurons"] == 32 and learner["regularizer"] == 0.0
        assert kept(sampler_module(algo)) == [16, 16]
    finally:
        algo.stop()


def test_continuous_masks_leave_exploration_std_alone(local_ray):
    algo = build(env="Pendulum-v1")
    try:
        for _ in range(2):
            algo.train()
        module = learner_module(algo)
        assert kept(module) == [4, 4]
        obs = torch.randn(5, 3)
        inputs = module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
        mean, log_std = inputs.chunk(2, dim=-1)
        assert torch.allclose(mean, module.actor(obs))
        assert torch.equal(log_std, module.log_std.expand_as(mean))  # state-independent
    finally:
        algo.stop()


def test_pops_distils_from_a_teacher_frozen_before_pruning(local_ray):
    pruning = {**dsp(method="pops"), "lam": 0.0, "distill_coeff": 1.0}
    algo = build_ppo_config(
        env="CartPole-v1",
        seed=0,
        ppo=PPO,
        network=ActorCriticSpec.from_dict({**MODEL, "distill": True}),
        pruning=PruningSpec.from_dict(pruning),
        num_envs_per_env_runner=2,
    ).build_algo()
    try:
        algo.train()
        learner = learner_module(algo)
        frozen = {k: v.clone() for k, v in learner.teacher.state_dict().items()}
        assert torch.equal(frozen["hidden.0.weight"], learner.actor.hidden[0].weight)
        algo.train()  # prunes to 75% of the weights and trains on against the teacher
        teacher, actor = learner.teacher.state_dict(), learner.actor.state_dict()
        assert all(torch.equal(frozen[k], teacher[k]) for k in frozen)
        assert not torch.equal(teacher["hidden.1.weight"], actor["hidden.1.weight"])
        kept = sum(int(m.sum()) for m in learner.actor.weight_masks)  # global: 75% of all
        assert kept == (4 * 16 + 16 * 16 + 16 * 2) // 4
        assert not hasattr(sampler_module(algo), "teacher")  # the Learner's only
    finally:
        algo.stop()


def test_normalization_is_learned_synced_restored_and_exported_exactly(local_ray, tmp_path):
    """RLlib's MeanStdFilter on the samplers: a second EnvRunner holds the statistics the local
    one (and so the export) has, a restore keeps them, and the exported graph fed raw
    observations gives what the trained actor gives on observations RLlib's own filter
    normalized (an independent route: its code, not ours)."""
    import numpy as np
    from ray.rllib.utils.filter import MeanStdFilter as RLlibFilter
    from ray.rllib.utils.filter import RunningStat

    from rayprune.policy import OnnxPolicy, StagedPolicy, check_env
    from rayprune.pruning.compaction import compact
    from rayprune.rllib import actor_of, frozen_normalization

    def filter_states(algo):
        return algo.env_runner_group.foreach_env_runner(
            lambda runner: runner.get_state(components="env_to_module_connector")
        )

    config = build_ppo_config(
        env="Pendulum-v1", seed=0, ppo=PPO, network=ActorCriticSpec.from_dict(MODEL),
        pruning=PruningSpec.from_dict({"method": "ppo"}), num_envs_per_env_runner=2,
        num_env_runners=1, normalize_observations=True,
    )  # fmt: skip
    algo = config.build_algo()
    try:
        algo.train()
        algo.train()
        norm = frozen_normalization(algo)
        local, remote = [s["env_to_module_connector"]["MeanStdFilter"] for s in filter_states(algo)]
        (local,), (remote,) = local.values(), remote.values()
        for state in (local, remote):
            stats = RunningStat.from_state(state["running_stats"][0])
            np.testing.assert_allclose(stats.mean, norm.mean, rtol=1e-6)
            assert stats.num_pushes > 500  # both saw the remote runner's samples
        algo.save_to_path(str(tmp_path / "algo"))
        actor = actor_of(algo).cpu()
    finally:
        algo.stop()
    restored = config.build_algo()
    try:
        restore_algorithm(restored, tmp_path / "algo")
        assert frozen_normalization(restored) == norm
    finally:
        restored.stop()

    raw = np.random.default_rng(0).uniform(-1, 1, (256, 3)).astype(np.float32) * [1, 1, 8]
    rllib_filter = RLlibFilter((3,), clip=norm.clip)
    rllib_filter.running_stats = RunningStat.from_state(local["running_stats"][0])
    normalized = rllib_filter(raw.astype(np.float32), update=False)
    net = compact(actor)  # method ppo: every neuron kept
    with torch.no_grad():
        expected = actor(torch.from_numpy(np.asarray(normalized, np.float32))).numpy()
    spaces = check_env("Pendulum-v1")
    with StagedPolicy(net.eval(), tmp_path / "policy", spaces, norm) as staged:
        exported = OnnxPolicy(staged.folder, spaces).outputs(raw)
    np.testing.assert_allclose(exported, expected, atol=1e-5)


def test_box_actions_reach_the_env_clipped_as_the_exported_policy_clips(local_ray):
    """Actions drawn outside the bounds reach the env clipped to them (what the exported
    policy's rayprune_act_box does to its means), not rescaled from [-1, 1] (RLlib's default);
    the episode keeps the drawn action, whose log-probability PPO's ratio uses."""
    import numpy as np

    from tests.integration.recording_env import WideBox

    algo = build(env="tests.integration.recording_env:WideBox", pruning={"method": "ppo"})
    try:
        WideBox.received.clear()
        episodes = algo.env_runner.sample(num_timesteps=200, explore=True)
    finally:
        algo.stop()
    drawn = np.concatenate([np.asarray(e.get_actions(), np.float32).reshape(-1) for e in episodes])
    received = np.concatenate(WideBox.received)
    assert len(drawn) == len(received) >= 200
    assert (np.abs(drawn) > 1).any() and (np.abs(drawn) > 2).any()  # std 1 at the start
    np.testing.assert_allclose(np.sort(received), np.sort(np.clip(drawn, -2, 2)), atol=1e-6)
