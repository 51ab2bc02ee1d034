"""RLlib glue: the masked PPO model and pruning hook on either API stack, PPOConfig builder.

Names load on first use (PEP 562): the config needs ActorCriticSpec without importing RLlib.
"""

from importlib import import_module

_HOMES = {
    "actor_of": "algo",
    "build_ppo_config": "algo",
    "learner_module": "algo",
    "pruning_metrics": "algo",
    "restore_algorithm": "algo",
    "sampler_module": "algo",
    "PruningPPOLearner": "learner",
    "MaskedActorCritic": "module",
    "MaskedPPOModule": "module",
    "ActorCriticSpec": "network",
    "MaskedPPOModelV2": "old_stack",
    "OldStackPPO": "old_stack",
    "PruningPPOTorchPolicy": "old_stack",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
