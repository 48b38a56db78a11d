"""Decoding real encoded files: formats, timestamps (variable frame rate), rotation, odd sizes, audio,
and files that are truncated, corrupt or not videos at all."""

from __future__ import annotations

import numpy as np
import pytest

from drn.video import ClipStream, VideoError, clip_sample_times, probe
from tests.video.media import FORMATS, level, truncate, write_audio_only, write_video


def sampled_levels(clips: list[np.ndarray]) -> list[int]:
    """Brightness of each sampled frame, read in its bottom-right corner (away from the white quadrant)."""
    return [int(round(frame[-3:, -3:].mean())) for clip in clips for frame in clip]


def expected_levels(frame_times: list[float], num_clips: int, clip_seconds: float, frames_per_clip: int) -> list[int]:
    """The level of the frame on screen at each sample time: the last frame starting at or before it."""
    levels = []
    for i in range(num_clips):
        for t in clip_sample_times(i, clip_seconds, frames_per_clip):
            shown = max(k for k, start in enumerate(frame_times) if start <= t + 1e-9)
            levels.append(level(shown))
    return levels


@pytest.mark.parametrize(("suffix", "codec"), FORMATS, ids=[f"{s}-{c}" for s, c in FORMATS])
def test_each_format_samples_the_frame_on_screen_at_each_clip_time(tmp_path, suffix, codec):
    path = write_video(tmp_path / f"v.{suffix}", codec=codec, seconds=2.0, fps=10)
    info = probe(path)
    assert (info.width, info.height, info.rotation, info.has_audio) == (32, 24, 0, False)
    assert info.duration == pytest.approx(2.0, abs=0.05) and info.fps == pytest.approx(10)
    stream = ClipStream(path, clip_seconds=0.5, frames_per_clip=2)
    clips = list(stream)
    assert stream.num_clips == len(clips) == 4 and stream.duration == pytest.approx(2.0)
    assert all(clip.shape == (2, 24, 32, 3) and clip.dtype == np.uint8 for clip in clips)
    expected = expected_levels([i / 10 for i in range(20)], 4, 0.5, 2)
    np.testing.assert_allclose(sampled_levels(clips), expected, atol=8)  # lossy codecs move levels a little


def test_variable_frame_rate_is_sampled_by_timestamp_not_frame_count(tmp_path):
    times = [0.0, 0.1, 0.5, 0.55, 1.5, 1.9]
    path = write_video(tmp_path / "vfr.mkv", times=times, fps=10)
    stream = ClipStream(path, clip_seconds=0.5, frames_per_clip=2)
    clips = list(stream)
    assert stream.frames_decoded == 6 and stream.num_clips == 4
    assert stream.duration == pytest.approx(2.0, abs=0.01)  # the last frame at 1.9 s lasts 0.1 s
    np.testing.assert_allclose(sampled_levels(clips), expected_levels(times, 4, 0.5, 2), atol=8)


@pytest.mark.parametrize("rotation", [90, 180, -90])
def test_rotation_metadata_turns_frames_upright(tmp_path, rotation):
    path = write_video(tmp_path / "phone.mp4", rotation=rotation, width=32, height=24, seconds=1.0)
    info = probe(path)
    assert info.rotation == rotation % 360
    assert (info.width, info.height) == ((24, 32) if rotation % 180 else (32, 24))
    frame = next(iter(ClipStream(path, 1.0, 1)))[0]
    assert frame.shape == (info.height, info.width, 3)
    # The stored frame's white quadrant is top-left; rotating the picture counterclockwise by 90
    # degrees moves it to the bottom-left, by 180 to the bottom-right, clockwise to the top-right.
    h, w = frame.shape[:2]
    quadrants = {"tl": frame[: h // 2, : w // 2], "tr": frame[: h // 2, w // 2:],
                 "bl": frame[h // 2:, : w // 2], "br": frame[h // 2:, w // 2:]}
    white = {name for name, q in quadrants.items() if q.mean() > 240}
    assert white == {{90: "bl", 180: "br", -90: "tr"}[rotation]}


def test_odd_sizes_decode_and_the_last_partial_clip_counts(tmp_path):
    path = write_video(tmp_path / "odd.webm", codec="libvpx-vp9", width=33, height=21, seconds=2.5, fps=10)
    stream = ClipStream(path, clip_seconds=1.0, frames_per_clip=4)
    clips = list(stream)
    assert (probe(path).width, probe(path).height) == (33, 21)
    assert len(clips) == stream.num_clips == 3 and clips[0].shape == (4, 21, 33, 3)
    # Sample times past the end (2.625 s, 2.875 s) reuse the last frame (2.4 s).
    np.testing.assert_allclose(sampled_levels(clips), expected_levels([i / 10 for i in range(25)], 3, 1.0, 4), atol=8)
    assert sampled_levels(clips)[-1] == sampled_levels(clips)[-2]


def test_audio_stream_is_ignored(tmp_path):
    path = write_video(tmp_path / "with_sound.mp4", audio=True, seconds=1.0)
    assert probe(path).has_audio
    assert len(list(ClipStream(path, 0.5, 1))) == 2


def test_transform_is_applied_to_each_sampled_frame(tmp_path):
    path = write_video(tmp_path / "v.mp4", seconds=1.0)
    clips = list(ClipStream(path, 0.5, 2, transform=lambda frame: frame[::2, ::2]))
    assert [clip.shape for clip in clips] == [(2, 12, 16, 3)] * 2


@pytest.mark.parametrize(("suffix", "codec"), [("mp4", "libx264"), ("mkv", "libx264"), ("webm", "libvpx-vp9"),
                                               ("avi", "mpeg4"), ("mov", "mpeg4")])
def test_truncated_file_is_one_clear_error(tmp_path, suffix, codec):
    path = truncate(write_video(tmp_path / f"cut.{suffix}", codec=codec, seconds=6.0), 0.5)
    with pytest.raises(VideoError, match=rf"^video .*cut\.{suffix}: .*(truncated|not a video file)") as caught:
        list(ClipStream(path, 1.0, 1))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("name", "content"), [("noise.mp4", bytes(range(256)) * 40), ("empty.mkv", b""),
                                               ("notes.avi", b"just some text\n")])
def test_corrupt_or_non_video_files_raise_video_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(VideoError, match=rf"^video .*{name}: "):
        probe(path)
    with pytest.raises(VideoError, match=rf"^video .*{name}: "):
        list(ClipStream(path, 1.0, 1))


def test_audio_only_and_missing_files_raise_video_error(tmp_path):
    sound = write_audio_only(tmp_path / "sound.mp4")
    with pytest.raises(VideoError, match="no video stream"):
        probe(sound)
    with pytest.raises(VideoError, match="no such file"):
        probe(tmp_path / "absent.mp4")


@pytest.mark.parametrize(("suffix", "codec"), [("mp4", "libx264"), ("webm", "libvpx-vp9"), ("avi", "mpeg4"),
                                               ("mkv", "libx264")])
def test_segments_read_by_seeking_equal_one_whole_pass(tmp_path, suffix, codec):
    path = write_video(tmp_path / f"long.{suffix}", codec=codec, seconds=6.0, fps=10, gop=7)
    whole = ClipStream(path, 0.5, 2)
    expected = list(whole)
    pieces, bounds = [], [(0, 3), (3, 8), (8, None)]
    for first, stop in bounds:
        segment = ClipStream(path, 0.5, 2, first_clip=first, stop_clip=stop)
        clips = list(segment)
        assert segment.num_clips == len(clips) == (stop or 12) - first
        pieces += clips
        if first:
            assert segment.frames_decoded < 60, "a later segment starts near its clips, not at frame 0"
    assert segment.duration == whole.duration
    assert len(pieces) == len(expected)
    for a, b in zip(pieces, expected):
        np.testing.assert_array_equal(a, b)


def test_segment_past_the_real_end_of_a_truncated_file_is_an_error(tmp_path):
    path = truncate(write_video(tmp_path / "cut.webm", codec="libvpx-vp9", seconds=6.0, gop=5), 0.6)
    with pytest.raises(VideoError, match=r"cut\.webm: .*truncated or corrupt"):
        list(ClipStream(path, 0.5, 1, first_clip=2, stop_clip=11))
