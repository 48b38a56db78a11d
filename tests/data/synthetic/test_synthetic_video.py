"""The synthetic video world: real encoded files whose frames show what the sentences say."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from drn.data import read_charades_sta
from drn.data.synthetic.video import BACKGROUND, COLOURS, FPS, FRAME_SIZE, make_synthetic_video_dataset

av = pytest.importorskip("av")


def decoded_frames(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def digest(root: Path) -> dict[str, str]:
    files = [root / name for name in ("train.txt", "val.txt", "test.txt", "durations.csv")]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    return make_synthetic_video_dataset(tmp_path_factory.mktemp("world"), num_videos_train=4, num_videos_val=1,
                                        num_videos_test=2, seed=5)


def test_files_in_charades_format_one_event_per_colour(world):
    for split, count in (("train", 4), ("val", 1), ("test", 2)):
        queries, quirks = read_charades_sta(world[split], world["durations"])
        assert sum(quirks.counts.values()) == 0
        assert len({q.vid for q in queries}) == count
        assert all((world["videos"] / split / f"{q.vid}.mp4").is_file() for q in queries)
        for vid in {q.vid for q in queries}:
            named = {}  # moment -> the colours its sentences name first
            for q in queries:
                if q.vid == vid:
                    named.setdefault((q.start, q.end), set()).add(q.sentence.split()[1])
            assert all(len(colours) == 1 for colours in named.values())  # a plain and a related sentence each
            colours = [colour for colours in named.values() for colour in colours]
            assert len(colours) == len(set(colours)) and set(colours) <= set(COLOURS)
    train_vids = {q.vid for q in read_charades_sta(world["train"], world["durations"])[0]}
    test_vids = {q.vid for q in read_charades_sta(world["test"], world["durations"])[0]}
    assert not train_vids & test_vids


def test_frames_show_the_named_object_inside_its_moment_and_an_empty_stage_outside(world):
    queries, _ = read_charades_sta(world["train"], world["durations"])
    for vid in sorted({q.vid for q in queries}):
        frames = decoded_frames(world["videos"] / "train" / f"{vid}.mp4").astype(int)
        moments = [q for q in queries if q.vid == vid]
        assert len(frames) == round(moments[0].duration * FPS)
        assert frames.shape[1:] == (FRAME_SIZE, FRAME_SIZE, 3)
        inside = np.zeros(len(frames), dtype=bool)
        for q in moments:
            first, last = round(q.start * FPS), round(q.end * FPS)
            inside[first:last] = True
            colour = np.array(COLOURS[q.sentence.split()[1]])
            # The object's colour fills some pixels in the moment's first frames (lossy codec: a tolerance).
            near = np.abs(frames[first + 1] - colour).max(axis=-1) < 40
            assert near.sum() > 20, (vid, q.sentence)
        empty = frames[~inside]
        assert np.abs(empty - np.array(BACKGROUND)).max() < 20


def test_same_seed_same_world_other_seed_another(world, tmp_path):
    again = make_synthetic_video_dataset(tmp_path / "again", num_videos_train=4, num_videos_val=1, num_videos_test=2,
                                         seed=5)
    assert digest(again["root"]) == digest(world["root"])
    first = world["videos"] / "test" / "PIXTE00000.mp4"
    assert np.array_equal(decoded_frames(first), decoded_frames(again["videos"] / "test" / "PIXTE00000.mp4"))
    other = make_synthetic_video_dataset(tmp_path / "other", num_videos_train=1, num_videos_val=1, num_videos_test=2,
                                         seed=6)
    assert digest(other["root"])["test.txt"] != digest(world["root"])["test.txt"]
    # The test videos do not depend on how many training videos there are.
    fewer = make_synthetic_video_dataset(tmp_path / "fewer", num_videos_train=1, num_videos_val=1, num_videos_test=2,
                                         seed=5)
    assert fewer["test"].read_text() == world["test"].read_text()
