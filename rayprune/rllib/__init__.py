"""RLlib glue (new API stack): masked PPO module, pruning Learner hook, PPOConfig builder."""

from rayprune.rllib.algo import build_ppo_config, learner_module, restore_algorithm, sampler_module
from rayprune.rllib.learner import PruningPPOLearner, spec_from_dict
from rayprune.rllib.module import MaskedPPOModule

__all__ = [
    "MaskedPPOModule",
    "PruningPPOLearner",
    "build_ppo_config",
    "learner_module",
    "restore_algorithm",
    "sampler_module",
    "spec_from_dict",
]
