import pytest
import torch

from rayprune.pruning import counts_reach_target, select_masks

t = torch.tensor


def ones(*sizes):
    return [torch.ones(n) for n in sizes]


def as_lists(masks):
    return [m.tolist() for m in masks]


def test_rank_layer_masks_lowest_fraction_of_each_layer():
    masks = select_masks([t([5.0, 1.0, 3.0, 2.0]), t([1.0, 2.0])], ones(4, 2), 0.5, "rank", "layer")
    assert as_lists(masks) == [[1, 0, 1, 0], [0, 1]]


def test_rank_global_ranks_across_layers():
    masks = select_masks([t([5.0, 1.0]), t([0.5, 4.0])], ones(2, 2), 0.5, "rank", "global")
    assert as_lists(masks) == [[1, 0], [0, 1]]


def test_global_scope_keeps_the_floor_in_every_layer():
    masks = select_masks([t([0.1, 0.2]), t([5.0, 6.0])], ones(2, 2), 0.75, "rank", "global")
    assert as_lists(masks) == [[0, 1], [0, 1]]


def test_min_neurons_floor_is_configurable():
    masks = select_masks([t([1.0, 2.0, 3.0, 4.0])], ones(4), 0.9, "rank", "layer", min_neurons=2)
    assert as_lists(masks) == [[0, 0, 1, 1]]


def test_mass_masks_while_cumulative_importance_within_threshold():
    # psi = 0.3 * 10 = 3: 1 (cum 1) and 2 (cum 3) go; 3 would make 6.
    masks = select_masks([t([4.0, 2.0, 1.0, 3.0])], ones(4), 0.3, "mass", "layer")
    assert as_lists(masks) == [[1, 0, 0, 1]]


def test_mass_global_uses_one_threshold():
    # total 20, psi = 0.25 * 20 = 5: 1 then 3 (cum 4); 6 would exceed.
    masks = select_masks([t([1.0, 10.0]), t([3.0, 6.0])], ones(2, 2), 0.25, "mass", "global")
    assert as_lists(masks) == [[0, 1], [0, 1]]


def test_masks_are_monotone():
    already = [t([0.0, 1.0, 1.0, 1.0])]
    # the masked neuron has the highest score but stays masked, and counts toward p_t
    masks = select_masks([t([9.0, 1.0, 2.0, 3.0])], already, 0.5, "rank", "layer")
    assert as_lists(masks) == [[0, 0, 1, 1]]
    assert as_lists(select_masks([t([9.0, 1.0, 2.0, 3.0])], already, 0.0, "rank", "layer")) == [
        [0, 1, 1, 1]
    ]


def test_inputs_are_not_modified():
    mask = torch.ones(4)
    select_masks([t([1.0, 2.0, 3.0, 4.0])], [mask], 0.5)
    assert mask.tolist() == [1, 1, 1, 1]


def test_paper_grid_point_keeps_at_most_18_of_256():
    torch.manual_seed(0)
    masks = select_masks([torch.rand(128), torch.rand(128)], ones(128, 128), 0.93, "rank", "layer")
    assert [int(m.sum()) for m in masks] == [9, 9]


def test_unknown_reading_is_refused():
    with pytest.raises(ValueError):
        select_masks([t([1.0])], ones(1), 0.5, "magnitude", "layer")


@pytest.mark.parametrize(
    "kept, reached", [([9, 9], True), ([8, 10], True), ([10, 9], False), ([128, 128], False)]
)
def test_counts_reach_target_counts_whole_neurons(kept, reached):
    assert counts_reach_target(kept, [128, 128], 0.93) is reached
