"""RLlib glue: the masked PPO model and pruning hook on either API stack, PPOConfig builder."""

from rayprune.rllib.algo import (
    actor_of,
    build_ppo_config,
    learner_module,
    pruning_metrics,
    restore_algorithm,
    sampler_module,
)
from rayprune.rllib.learner import PruningPPOLearner, spec_from_dict
from rayprune.rllib.module import MaskedPPOModule
from rayprune.rllib.old_stack import MaskedPPOModelV2, OldStackPPO, PruningPPOTorchPolicy

__all__ = [
    "MaskedPPOModelV2",
    "MaskedPPOModule",
    "OldStackPPO",
    "PruningPPOLearner",
    "PruningPPOTorchPolicy",
    "actor_of",
    "build_ppo_config",
    "learner_module",
    "pruning_metrics",
    "restore_algorithm",
    "sampler_module",
    "spec_from_dict",
]
