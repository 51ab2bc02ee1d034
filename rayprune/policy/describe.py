"""compression.json's content for a compacted actor: measured once, here."""

from __future__ import annotations

from rayprune.policy.c_export import c_sources, sources_size
from rayprune.policy.envs import EnvSpec
from rayprune.policy.info import PolicyInfo, compression_ratio
from rayprune.policy.normalization import ObsNormalization
from rayprune.policy.runtime import EvalResult
from rayprune.policy.spaces import EnvSpaces, as_spec
from rayprune.pruning import (
    ActorSize,
    CompactMLP,
    MaskedMLP,
    PruningSpec,
    actor_reaches_target,
    size_of_compact,
)


def describe_policy(
    actor: MaskedMLP,
    net: CompactMLP,
    spec: PruningSpec,
    env: EnvSpec | str,
    spaces: EnvSpaces,
    evaluation: EvalResult,
    normalization: ObsNormalization | None = None,
) -> PolicyInfo:
    """The PolicyInfo of `net`, the network that ships, cut from `actor` by `spec` and evaluated
    on `env` (normalizing observations by `normalization` first, when given). For low-rank
    methods, params_before_lowrank is the compact network's weight count before the SVD."""
    env, measured = as_spec(env), ActorSize.of(actor)
    dense, size = measured.dense, size_of_compact(net)
    return PolicyInfo(
        env=env.id,
        environment=env.settings(),
        obs_shape=list(spaces.obs_shape) if spaces.obs_shape else None,
        observation=spaces.observation,
        normalization=normalization,
        method=spec.method,
        lam=spec.lam,
        sparsity_target=spec.sparsity_target,
        sparsity_unit=spec.unit(actor),
        reading=spec.reading,
        scope=spec.scope,
        seed=spec.seed,
        obs_dim=spaces.obs_dim,
        action_space=spaces.action_space,
        activation=net.activation,
        hidden_dense=dense.neurons_per_layer,
        hidden_compact=size.neurons_per_layer,
        ranks=net.ranks,
        neurons_dense=dense.neurons,
        neurons_compact=size.neurons,
        neurons_dead=measured.neurons_dead,
        weights_dense=dense.weights,
        weights_compact=size.weights,
        flops_dense=dense.flops,
        flops_compact=size.flops,
        neuron_sparsity=size.neuron_sparsity(dense),
        weight_sparsity=measured.weight_sparsity,
        weights_removed=size.weight_sparsity(dense),
        compression_ratio=compression_ratio(dense.weights, size.weights),
        target_reached=actor_reaches_target(actor, spec),
        eval_return_mean=evaluation.mean,
        eval_return_std=evaluation.std,
        eval_episodes=len(evaluation.returns),
        params_before_lowrank=measured.compact.weights if spec.lowrank else None,
        params_after_lowrank=size.weights if spec.lowrank else None,
        lowrank_energy=spec.lowrank_energy if spec.lowrank else None,
        dtype="float32",
        c_code_bytes=sources_size(*c_sources(net, spaces.action_space, None, normalization)),
    )
