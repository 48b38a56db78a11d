import pytest

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
