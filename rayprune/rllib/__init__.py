"""RLlib glue: the masked PPO model and pruning hook on either API stack, PPOConfig builder.

Names load on first use (PEP 562): the config needs ActorCriticSpec without importing RLlib.
"""

from rayprune.lazy import lazy_attributes

_HOMES = {
    "actor_of": "algo",
    "build_ppo_config": "algo",
    "learner_module": "algo",
    "pruning_metrics": "algo",
    "restore_algorithm": "algo",
    "sampler_module": "algo",
    "start_from_trained": "algo",
    "training_loss": "algo",
    "frozen_normalization": "envs",
    "PruningPPOLearner": "learner",
    "MaskedActorCritic": "module",
    "MaskedPPOModule": "module",
    "ActorCriticSpec": "network",
    "MaskedPPOModelV2": "old_stack",
    "OldStackPPO": "old_stack",
    "PruningPPOTorchPolicy": "old_stack",
}
__all__ = sorted(_HOMES)

__getattr__ = lazy_attributes(__name__, _HOMES)
