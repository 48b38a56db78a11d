"""Video decoding and extraction (drn.video) against the obvious peers, each checked before it is timed.

- Sampling clips from a 720p H.264 file: `ClipStream` converts only the frames a clip samples
  (one per 2 s for CLIP); the peer converts every decoded frame to RGB (as reading a whole video
  into an array does) and then picks the same frames by timestamp. Same frames, bit for bit.
- `extract_videos` with the tiny backbone over three 720p files, decoding in 2 worker processes
  vs in the main process. Same features.

The full picture (throughput vs real time, decode vs model per backbone, memory vs length) is
benchmarks/video_extract.py; its figures are in RESULTS.md.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("av", reason="PyAV is not installed: pip install '.[video]'")

from video_workloads import write_hd_video  # noqa: E402

from drn.video import ClipStream, clip_sample_times, extract_video, extract_videos, get_spec, load_backbone  # noqa: E402

SECONDS = 4.0


@pytest.fixture(scope="module")
def hd_video(tmp_path_factory):
    return write_hd_video(tmp_path_factory.mktemp("hd") / "hd720.mp4", SECONDS)


def every_frame_then_pick(path, clip_seconds: float, frames_per_clip: int) -> list[np.ndarray]:
    """The peer: RGB of every frame with its time, then the frame on screen at each sample time."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoded = [(float(f.pts * stream.time_base), f.to_ndarray(format="rgb24")) for f in container.decode(stream)]
    origin = decoded[0][0]
    end = decoded[-1][0] - origin + 1 / float(stream.average_rate)
    clips = []
    for i in range(int(np.ceil(end / clip_seconds - 1e-6))):
        picks = [max((k for k, (t, _) in enumerate(decoded) if t - origin <= s), default=0)
                 for s in clip_sample_times(i, clip_seconds, frames_per_clip)]
        clips.append(np.stack([decoded[k][1] for k in picks]))
    return clips


@pytest.fixture(scope="module")
def expected_clips(hd_video):
    spec = get_spec("clip-vit-b32")
    return every_frame_then_pick(hd_video, spec.clip_seconds, spec.frames_per_clip)


@pytest.mark.parametrize("impl", ["ours", "every-frame"])
def test_sample_clips_from_720p(bench, hd_video, expected_clips, impl):
    spec = get_spec("clip-vit-b32")
    expected = expected_clips
    fn = {"ours": lambda: list(ClipStream(hd_video, spec.clip_seconds, spec.frames_per_clip)),
          "every-frame": lambda: every_frame_then_pick(hd_video, spec.clip_seconds, spec.frames_per_clip)}[impl]

    def check(clips):
        assert len(clips) == len(expected) == int(SECONDS / spec.clip_seconds)
        for ours, theirs in zip(clips, expected):
            np.testing.assert_array_equal(ours, theirs)

    bench(fn, op="video clip sampling", workload="720p H.264 4 s, 1 frame / 2 s", impl=impl,
          size=int(SECONDS * 30), check=check, budget_s=3.0, max_rounds=10)


@pytest.mark.parametrize("impl", ["ours", "main-process"])
def test_extract_videos_with_decoding_workers(bench, hd_video, tmp_path, impl):
    """ours = 2 decoding workers overlapped with the model; the peer decodes in the main process."""
    backbone = load_backbone("tiny")
    videos = {f"v{i}": hd_video for i in range(3)}
    expected = extract_video(hd_video, backbone).features
    runs = iter(range(1_000))

    def fn():
        out = tmp_path / f"run{next(runs)}"
        extract_videos(videos, backbone, out, batch_size=8, workers=2 if impl == "ours" else 0, progress=False)
        return out

    def check(out):
        for vid in videos:
            np.testing.assert_allclose(np.load(out / f"{vid}.npy"), expected, rtol=1e-5, atol=1e-6)

    bench(fn, op="extract_videos", workload="3 x 720p 4 s, tiny", impl=impl, size=3, check=check, budget_s=5.0,
          max_rounds=5)
