import pytest
import torch

from drn.metrics import grounding_metrics

KEYS = ["R1@0.3", "R1@0.5", "R1@0.7", "R5@0.3", "R5@0.5", "R5@0.7", "mIoU"]


def test_hand_computed_ranked_lists_with_ties_at_the_boundary():
    ranked = [
        [(0.0, 5.0, 0.9)],  # IoU 0.5 exactly: a hit at 0.5
        [(30, 40, .9), (10, 17, .8), (0, 1, .7), (2, 3, .6), (4, 5, .5), (10, 20, .4)],  # 2nd IoU 0.7; 6th is not in R@5
        [],  # empty: a miss with IoU 0
        [(0.0, 3.0)],  # IoU 0.3 exactly, no score
        [(5.0, 15.0, 0.2)],  # IoU 1/3
        [(0.0, 4.999, 0.9)],  # IoU just under 0.5
    ]
    truth = [(0, 10), (10, 20), (0, 10), (0, 10), (0, 10), (0, 10)]
    metrics = grounding_metrics(ranked, truth)
    assert list(metrics) == KEYS
    expected = {
        "R1@0.3": 4 / 6, "R1@0.5": 1 / 6, "R1@0.7": 0.0,
        "R5@0.3": 5 / 6, "R5@0.5": 2 / 6, "R5@0.7": 1 / 6,
        "mIoU": (0.5 + 0 + 0 + 0.3 + 1 / 3 + 0.4999) / 6,
    }
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(100 * value, abs=1e-9), key


def test_perfect_and_all_empty():
    assert grounding_metrics([[(1.0, 2.0, 1.0)]], [(1.0, 2.0)]) == {k: 100.0 for k in KEYS}
    assert grounding_metrics([[], []], [(1.0, 2.0), (0.0, 3.0)]) == {k: 0.0 for k in KEYS}


def test_mismatched_or_empty_input_is_reported():
    with pytest.raises(ValueError, match="one entry per query"):
        grounding_metrics([[]], [(0, 1), (0, 2)])
    with pytest.raises(ValueError, match="at least one query"):
        grounding_metrics([], [])


def test_several_windows_count_the_best_matching_one():
    ranked = [[(0.0, 2.0, 0.9), (10.0, 12.0, 0.5)], [(5.0, 7.0, 0.9)]]
    one = grounding_metrics(ranked, [[10.0, 12.0], [5.0, 6.0]])
    several = grounding_metrics(ranked, [[[10.0, 12.0], [0.0, 2.0]], [[5.0, 6.0]]])
    # Query 0: the top-1 (0, 2) misses the first window but matches the second exactly.
    assert one["R1@0.7"] == 0.0 and several["R1@0.7"] == 50.0
    assert one["R5@0.7"] == 50.0 and several["R5@0.7"] == 50.0
    assert several["mIoU"] == pytest.approx(100.0 * (1.0 + 0.5) / 2)
    # A window list and the bare pair give the same result for one window; a tensor works too.
    assert grounding_metrics(ranked, [[[10.0, 12.0]], [[5.0, 6.0]]]) == one
    assert grounding_metrics(ranked, torch.tensor([[10.0, 12.0], [5.0, 6.0]])) == one
    with pytest.raises(ValueError, match="holds no window"):
        grounding_metrics(ranked, [[], [[5.0, 6.0]]])
