"""The synthetic dataset: deterministic, in the Charades-STA formats, semantically consistent, and
carrying enough signal that a trivial prototype matcher already localises its events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from drn.data import open_features, read_charades_sta, read_durations, resample_to_clips
from drn.data.synthetic.dataset import ACTIONS, make_synthetic_dataset, parse_sentence


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("synthetic")
    return make_synthetic_dataset(root, num_videos_train=120, num_videos_test=40, num_videos_val=20, feature_dim=32, seed=3)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = make_synthetic_dataset(tmp_path / "a", 5, 3, 2, feature_dim=8, seed=11)
    b = make_synthetic_dataset(tmp_path / "b", 5, 3, 2, feature_dim=8, seed=11)
    c = make_synthetic_dataset(tmp_path / "c", 5, 3, 2, feature_dim=8, seed=12)
    files_a = _files(a["root"])
    assert len(files_a) == 3 + 1 + 10  # three splits, durations, one .npy per video
    assert files_a == _files(b["root"])
    assert files_a["train.txt"] != _files(c["root"])["train.txt"]


def test_test_split_does_not_depend_on_train_size(tmp_path):
    a = make_synthetic_dataset(tmp_path / "a", 2, 3, 0, feature_dim=8, seed=5)
    b = make_synthetic_dataset(tmp_path / "b", 7, 3, 0, feature_dim=8, seed=5)
    assert a["test"].read_text() == b["test"].read_text()


def test_readable_by_the_charades_reader(synthetic):
    durations = read_durations(synthetic["durations"])
    assert len(durations) == 180 and all(20.0 <= d <= 40.0 for d in durations.values())
    features = open_features(synthetic["features"], feature_dim=32)
    for split in ("train", "val", "test"):
        queries, report = read_charades_sta(synthetic[split], synthetic["durations"])
        assert not report, report.summary()  # a clean dataset: no quirk at all
        assert len(queries) >= 2 * {"train": 120, "val": 20, "test": 40}[split]
        for q in queries:
            assert 0.0 <= q.start < q.end <= q.duration
            assert 3.0 - 0.01 <= q.end - q.start <= 12.0 + 0.01
            windows = features[q.vid].shape[0]
            assert windows == round(q.duration * 2)


def test_each_sentence_identifies_one_event_and_relations_hold(synthetic):
    queries, _ = read_charades_sta(synthetic["train"], synthetic["durations"])
    by_video: dict[str, list] = {}
    for q in queries:
        by_video.setdefault(q.vid, []).append(q)
    relations = 0
    for events in by_video.values():
        events.sort(key=lambda q: q.start)
        actions = [parse_sentence(q.sentence)[0] for q in events]
        assert len(set(actions)) == len(actions), "an action occurs twice in one video"
        for index, q in enumerate(events):
            _, relation, other = parse_sentence(q.sentence)
            if relation is not None:
                relations += 1
                neighbour = index + 1 if relation == "before" else index - 1
                assert 0 <= neighbour < len(events) and actions[neighbour] == other
            if index:
                assert events[index - 1].end < q.start  # events never overlap
    assert 0.15 < relations / len(queries) < 0.45


def test_a_prototype_matcher_localises_events(synthetic):
    # Signal check: average each action's clip features on train, then on test mark the clips
    # closest to the query's prototype and take the longest run. A learned model should do better.
    features = open_features(synthetic["features"])
    train, _ = read_charades_sta(synthetic["train"], synthetic["durations"])
    test, _ = read_charades_sta(synthetic["test"], synthetic["durations"])
    num_clips = 32
    sums = torch.zeros(len(ACTIONS), 32)
    counts = torch.zeros(len(ACTIONS))
    for q in train:
        clips = resample_to_clips(features[q.vid], num_clips)
        centres = (torch.arange(num_clips) + 0.5) * q.duration / num_clips
        inside = (centres > q.start) & (centres < q.end)
        action = parse_sentence(q.sentence)[0]
        sums[action] += clips[inside].sum(0)
        counts[action] += int(inside.sum())
    prototypes = torch.nn.functional.normalize(sums / counts[:, None], dim=1)
    hits = 0
    for q in test:
        clips = torch.nn.functional.normalize(resample_to_clips(features[q.vid], num_clips), dim=1)
        similarity = clips @ prototypes.T  # [T, actions]
        marked = (similarity.argmax(1) == parse_sentence(q.sentence)[0]).tolist()
        best, run_start, best_span = 0, None, (0, 1)
        for i, flag in enumerate(marked + [False]):
            if flag and run_start is None:
                run_start = i
            elif not flag and run_start is not None:
                if i - run_start > best:
                    best, best_span = i - run_start, (run_start, i)
                run_start = None
        start, end = (np.array(best_span) * q.duration / num_clips).tolist()
        overlap = max(0.0, min(end, q.end) - max(start, q.start))
        hits += overlap / (max(end, q.end) - min(start, q.start)) >= 0.5
    assert hits / len(test) >= 0.8


def test_parse_sentence_round_trip_and_rejects_foreign_text():
    assert parse_sentence("someone opens a door before sitting on the sofa.") == (0, "before", 1)
    assert parse_sentence("person reads a book.") == (3, None, None)
    with pytest.raises(ValueError, match="not a synthetic sentence"):
        parse_sentence("a cat opens the door.")
    with pytest.raises(ValueError, match="not a synthetic sentence"):
        parse_sentence("a person opens the door after juggling.")
