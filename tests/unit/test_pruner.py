import pytest
import torch

from rayprune.pruning import MaskedMLP, PruningSchedule, PruningSpec, dsp_penalty, prune

SCHEDULE = PruningSchedule(sparsity_target=0.75, start_iter=1, end_iter=3)


def spec(**kwargs) -> PruningSpec:
    return PruningSpec(**{"method": "dsp", "lam": 1e-3, "schedule": SCHEDULE, **kwargs})


def test_prune_follows_schedule_and_zeroes_pruned_weights():
    torch.manual_seed(0)
    mlp = MaskedMLP(4, [16, 16], 2)
    kept = []
    for step in range(1, 6):
        report = prune(mlp, spec(), step)
        kept.append([int(m.sum()) for m in mlp.masks])
    # p_t: step 1 -> 0, step 2 -> 0.75 - 0.75/8 = 0.65625 (10 of 16 masked), step 3+ -> 0.75 (12)
    assert kept == [[16, 16], [6, 6], [4, 4], [4, 4], [4, 4]]
    assert report.sparsity_now == 0.75
    for i, layer in enumerate(mlp.hidden):
        dead = layer.mask == 0
        assert torch.all(layer.weight[dead] == 0) and torch.all(layer.bias[dead] == 0)
        assert torch.all(mlp.linears[i + 1].weight[:, dead] == 0)


def test_pruned_neurons_never_return():
    torch.manual_seed(1)
    mlp = MaskedMLP(4, [16], 2)
    prune(mlp, spec(), 3)
    before = mlp.hidden[0].mask.clone()
    with torch.no_grad():
        mlp.hidden[0].weight.add_(10.0)  # make every neuron look important
    prune(mlp, spec(), 3)
    assert torch.equal(mlp.hidden[0].mask, before)


def test_threshold_is_psi_of_eq16():
    torch.manual_seed(2)
    mlp = MaskedMLP(4, [8], 2)
    total = float(dsp_penalty(mlp).detach())
    report = prune(mlp, spec(), 2)
    assert report.threshold == pytest.approx(report.sparsity_now * total)


def test_regularizer_is_lambda_times_penalty():
    mlp = MaskedMLP(4, [8], 2)
    assert torch.isclose(spec(lam=0.5).regularizer(mlp), 0.5 * dsp_penalty(mlp))
    assert spec(lam=0.0).regularizer(mlp) is None


def test_dense_ppo_neither_penalizes_nor_prunes():
    mlp = MaskedMLP(4, [8], 2)
    dense = PruningSpec(method="ppo")
    assert dense.regularizer(mlp) is None
    prune(mlp, dense, 10)
    assert int(mlp.hidden[0].mask.sum()) == 8


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(lam=-1e-4),
        dict(method="magic"),
        dict(schedule=None),
        dict(min_neurons=0),
        dict(scope="all"),
    ],
)
def test_bad_specs_are_refused(kwargs):
    with pytest.raises(ValueError):
        spec(**kwargs)
