"""A compact policy folder exported from a partly masked MaskedMLP, for the tests that need a
real one (export, registry, robustness), and the two action spaces they use."""

import torch

from rayprune.policy import (
    ActionSpace,
    EnvSpaces,
    EvalResult,
    describe_policy,
    export_compact_policy,
)
from rayprune.pruning import MaskedMLP, PruningSchedule, PruningSpec, compact, low_rank

DISCRETE = ActionSpace("discrete", n=3)
BOX = ActionSpace("box", shape=(2,), low=(-1.0, -2.0), high=(1.0, 2.0))


def make_policy(tmp_path, action_space, activation="tanh", name="compact_policy", energy=None):
    """A 5-32-32 actor with 11 and 20 neurons masked, exported to tmp_path/name: (the MaskedMLP,
    or with `energy` the low-rank CompactMLP that was exported; the folder)."""
    torch.manual_seed(0)
    out_dim = action_space.width
    mlp = MaskedMLP(5, [32, 32], out_dim, activation)
    mlp.hidden[0].mask[::3] = 0
    mlp.hidden[1].mask[:20] = 0
    net = compact(mlp) if energy is None else low_rank(compact(mlp), energy)
    spec = PruningSpec("dsp", 1e-4, PruningSchedule(0.5, 1, 2), lowrank_energy=energy or 0.99)
    info = describe_policy(
        mlp, net, spec, "Test-v0", EnvSpaces(5, action_space), EvalResult([1.0] * 20)
    )
    return (mlp if energy is None else net), export_compact_policy(net, tmp_path / name, info)
