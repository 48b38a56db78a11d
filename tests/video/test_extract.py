"""`extract_video` and `extract_videos`: features per clip, the output folder, workers, resume, bad files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from drn.data.features import HDF5Features, NpyFolderFeatures
from drn.errors import UserError
from drn.video import ClipStream, extract_video, extract_videos, extraction_settings, find_videos, load_backbone
from drn.video.store import FeatureStore
from tests.video.media import truncate, write_video


@pytest.fixture(scope="module")
def tiny():
    return load_backbone("tiny")


@pytest.fixture(scope="module")
def video_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    write_video(root / "alpha.mp4", seconds=3.0, fps=8)
    write_video(root / "beta.webm", codec="libvpx-vp9", seconds=2.2, fps=10, width=33, height=21)
    (root / "sub").mkdir()
    write_video(root / "sub" / "gamma.mkv", seconds=1.0, fps=12, rotation=90)
    truncate(write_video(root / "broken.mp4", seconds=3.0), 0.4)
    (root / "readme.txt").write_text("not a video\n")
    return root


def test_extract_video_gives_one_row_per_clip_independent_of_batch_size(tiny, video_folder):
    path = video_folder / "alpha.mp4"
    result = extract_video(path, tiny, batch_size=2)
    assert result.features.shape == (3, 128) and result.features.dtype == np.float32
    assert result.num_clips == 3 and result.duration == pytest.approx(3.0)
    clips = np.stack(list(ClipStream(path, 1.0, 8)))  # raw frames: encode resizes them itself
    np.testing.assert_allclose(tiny.encode(clips).numpy(), result.features, rtol=1e-5, atol=1e-6)
    assert not np.allclose(result.features[0], result.features[1])  # frames differ, so features do


def test_find_videos_takes_folders_files_and_lists(video_folder, tmp_path):
    found = find_videos([video_folder])
    assert list(found) == ["alpha", "beta", "broken", "gamma"]
    listing = tmp_path / "videos.txt"
    listing.write_text(f"# two of them\n{video_folder / 'beta.webm'}\n\n{video_folder / 'sub' / 'gamma.mkv'}\n")
    assert find_videos([listing, video_folder / "alpha.mp4"]) == {
        "beta": video_folder / "beta.webm", "gamma": video_folder / "sub" / "gamma.mkv",
        "alpha": video_folder / "alpha.mp4"}
    (tmp_path / "again").mkdir()
    write_video(tmp_path / "again" / "alpha.avi", codec="mpeg4", seconds=0.5)
    with pytest.raises(UserError, match="have the same id 'alpha'"):
        find_videos([video_folder, tmp_path / "again"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="no video files found in .*empty"):
        find_videos([empty])
    with pytest.raises(UserError, match="absent.txt line 2: absent.mp4: no such file"):
        (tmp_path / "absent.txt").write_text(f"{video_folder / 'alpha.mp4'}\nabsent.mp4\n")
        find_videos([tmp_path / "absent.txt"])


@pytest.mark.parametrize("workers", [0, 2])
def test_extract_videos_writes_features_and_settings_and_survives_a_bad_file(tiny, video_folder, tmp_path, workers):
    out = tmp_path / "features"
    videos = find_videos([video_folder])
    summary = extract_videos(videos, tiny, out, batch_size=2, workers=workers, progress=False)
    assert (summary.extracted, summary.skipped, list(summary.failed)) == (3, 0, ["broken"])
    assert "broken.mp4" in summary.failed["broken"] and "truncated" in summary.failed["broken"]
    settings = json.loads((out / "extract.json").read_text())
    assert {k: settings[k] for k in extraction_settings(tiny)} == extraction_settings(tiny)
    assert settings["failed"] == summary.failed and sorted(settings["videos"]) == ["alpha", "beta", "gamma"]
    assert settings["videos"]["beta"] == {"duration": pytest.approx(2.2), "num_clips": 3,
                                          "source": str(video_folder / "beta.webm")}
    source = NpyFolderFeatures(out, feature_dim=128)
    assert source.video_ids() == {"alpha", "beta", "gamma"}
    for vid in source.video_ids():
        expected = extract_video(videos[vid], tiny).features
        # Batches of 2 clips vs 16: float32 convolutions sum in another order (differences near 1e-5).
        np.testing.assert_allclose(source[vid].numpy(), expected, rtol=1e-4, atol=5e-5)
        assert len(expected) == settings["videos"][vid]["num_clips"]
    assert not list(out.glob(".*")), "no journal or temporary file is left behind"


def test_resume_skips_finished_videos_and_redoes_missing_ones(tiny, video_folder, tmp_path):
    out = tmp_path / "features"
    videos = {vid: path for vid, path in find_videos([video_folder]).items() if vid != "broken"}
    extract_videos(videos, tiny, out, workers=0, progress=False)
    written = {vid: (out / f"{vid}.npy").stat().st_mtime_ns for vid in videos}
    again = extract_videos(videos, tiny, out, workers=0, progress=False)
    assert (again.extracted, again.skipped) == (0, 3)
    assert {vid: (out / f"{vid}.npy").stat().st_mtime_ns for vid in videos} == written
    (out / "beta.npy").unlink()
    third = extract_videos(videos, tiny, out, workers=0, progress=False)
    assert (third.extracted, third.skipped) == (1, 2) and (out / "beta.npy").is_file()


def test_a_run_killed_before_extract_json_resumes_from_its_journal(tiny, video_folder, tmp_path):
    out = tmp_path / "features"
    videos = {vid: path for vid, path in find_videos([video_folder]).items() if vid != "broken"}
    store = FeatureStore(out, extraction_settings(tiny))
    out.mkdir()
    result = extract_video(videos["alpha"], tiny)
    store.write("alpha", result.features, {"duration": result.duration, "num_clips": result.num_clips,
                                           "source": str(videos["alpha"])})
    (out / "gamma.npy").write_bytes(b"half a file")  # not in the journal: not trusted
    with (out / ".extract.rank0.jsonl").open("a") as journal:
        journal.write('{"vid": "beta", "durat')  # the line the crash cut
    summary = extract_videos(videos, tiny, out, workers=0, progress=False)
    assert (summary.extracted, summary.skipped) == (2, 1)
    assert np.load(out / "gamma.npy").shape == (1, 128)
    assert sorted(json.loads((out / "extract.json").read_text())["videos"]) == ["alpha", "beta", "gamma"]


def test_other_settings_in_the_folder_are_refused(tiny, tmp_path):
    (tmp_path / "extract.json").write_text(json.dumps({**extraction_settings(tiny), "backbone": "s3d", "dim": 1024}))
    with pytest.raises(UserError, match=r"--out .*: holds features extracted with other settings \(backbone 's3d' "
                                        r"there, 'tiny' now; dim 1024 there, 128 now\)"):
        FeatureStore(tmp_path, extraction_settings(tiny))
    a_file = tmp_path / "features.npy"
    a_file.write_bytes(b"")
    with pytest.raises(UserError, match="is a file; expected a folder"):
        FeatureStore(a_file, extraction_settings(tiny))


def test_float16_and_hdf5_outputs_read_back(tiny, video_folder, tmp_path):
    out = tmp_path / "features"
    videos = {vid: path for vid, path in find_videos([video_folder]).items() if vid != "broken"}
    summary = extract_videos(videos, tiny, out, workers=0, dtype="float16", hdf5=tmp_path / "all.h5", progress=False)
    assert summary.hdf5_path == tmp_path / "all.h5"
    packed = HDF5Features(tmp_path / "all.h5", feature_dim=128)
    assert packed.video_ids() == set(videos)
    for vid in videos:
        stored = np.load(out / f"{vid}.npy")
        assert stored.dtype == np.float16
        np.testing.assert_array_equal(packed[vid].numpy(), stored.astype(np.float32))
        np.testing.assert_allclose(stored, extract_video(videos[vid], tiny).features, rtol=2e-3, atol=2e-3)


def test_long_videos_are_split_over_workers_and_put_back_in_order(tiny, tmp_path, monkeypatch):
    from drn.video import pipeline

    monkeypatch.setattr(pipeline, "SEGMENT_SECONDS", 1.0)  # tiny's 1 s clips: segments of one clip
    videos = {"long": write_video(tmp_path / "long.mp4", seconds=5.0, fps=10, gop=4),
              "short": write_video(tmp_path / "short.mkv", seconds=1.5, fps=10),
              "cut": truncate(write_video(tmp_path / "cut.webm", codec="libvpx-vp9", seconds=6.0, gop=5), 0.6)}
    units, failed = pipeline.plan_units(list(videos.values()), tiny.spec, split=True)
    assert [(u.video, u.first_clip, u.stop_clip) for u in units] == [
        (0, 0, 1), (0, 1, 2), (0, 2, 3), (0, 3, None), (1, 0, None), (2, 0, 1), (2, 1, 2), (2, 2, 3), (2, 3, 4),
        (2, 4, None)] and failed == {}
    summary = extract_videos(videos, tiny, tmp_path / "out", batch_size=2, workers=2, progress=False)
    assert (summary.extracted, list(summary.failed)) == (2, ["cut"])
    assert "cut.webm" in summary.failed["cut"] and "truncated or corrupt" in summary.failed["cut"]
    for vid in ("long", "short"):
        expected = extract_video(videos[vid], tiny)
        # Batches of 2 clips vs 16: float32 convolutions sum in another order (differences near 1e-5).
        np.testing.assert_allclose(np.load(tmp_path / "out" / f"{vid}.npy"), expected.features, rtol=1e-4, atol=5e-5)
        record = json.loads((tmp_path / "out" / "extract.json").read_text())["videos"][vid]
        assert record["duration"] == pytest.approx(expected.duration) and record["num_clips"] == expected.num_clips
