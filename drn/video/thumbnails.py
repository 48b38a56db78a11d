"""Thumbnails of ranked moments: the frame at each moment's middle, drawn under the timelines of
`drn.utils.plots` (`drn predict --video FILE --plot`)."""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np

from drn.utils.plots import draw_scores, draw_timeline, save_figure

THUMBNAILS_PER_QUERY = 3


def frames_at(path: str | PathLike, times: Sequence[float], height: int = 96) -> list[np.ndarray]:
    """uint8 [height, width, 3] RGB frames shown at each of `times` (seconds), width keeping the
    aspect ratio. Seeks to the key frame before each time and decodes forward, so the cost is a
    GOP per thumbnail, not the video."""
    import av

    from drn.video.errors import VideoError

    frames = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for time in times:
                container.seek(int(max(time, 0.0) / stream.time_base), stream=stream, backward=True)
                chosen = None
                for frame in container.decode(stream):
                    chosen = frame
                    if frame.time is not None and frame.time + 1e-6 >= time:
                        break
                if chosen is None:
                    raise VideoError(f"{path}: no frame to show at {time:.2f} s")
                width = max(1, round(chosen.width * height / chosen.height))
                frames.append(chosen.to_ndarray(format="rgb24", width=width, height=height))
    except av.FFmpegError as exc:
        raise VideoError(f"{path}: cannot read frames for thumbnails ({exc})") from None
    return frames


def plot_video_grounding(results: Sequence[dict], video: str | PathLike, path: str | PathLike,
                         title: str | None = None) -> Path:
    """Like `drn.utils.plots.plot_grounding` (results in seconds, with "dense" scores), plus per query a
    row of thumbnails: the middle frame of each of its top `THUMBNAILS_PER_QUERY` moments."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not results:
        raise ValueError("plot_video_grounding needs at least one result")
    rows = len(results)
    fig = Figure(figsize=(10, 4.6 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(3 * rows, 1, height_ratios=[1.0, 1.2, 1.3] * rows)
    for i, result in enumerate(results):
        duration = float(result["duration"])
        timeline = fig.add_subplot(grid[3 * i])
        draw_timeline(timeline, result, duration)
        _draw_thumbnails(fig.add_subplot(grid[3 * i + 1]), video, result["pred_relevant_windows"][:THUMBNAILS_PER_QUERY])
        draw_scores(fig.add_subplot(grid[3 * i + 2], sharex=timeline), result.get("dense"), duration, "s")
    return save_figure(fig, path, title, ground_truth=any(r.get("relevant_windows") for r in results))


def _draw_thumbnails(ax, video, windows: Sequence[Sequence[float]]) -> None:
    ax.set_axis_off()
    if not windows:
        ax.text(0.5, 0.5, "no moment ranked", ha="center", va="center", transform=ax.transAxes)
        return
    images = frames_at(video, [(start + end) / 2 for start, end, _ in windows])
    gap = np.full((images[0].shape[0], 8, 3), 255, dtype=np.uint8)
    strip = np.concatenate([part for image in images for part in (image, gap)][:-1], axis=1)
    ax.imshow(strip)
    left = 0
    for rank, (image, (start, end, score)) in enumerate(zip(images, windows), start=1):
        ax.text(left + image.shape[1] / 2, image.shape[0] + 2, f"#{rank} {start:.1f}-{end:.1f} s ({score:.2f})",
                ha="center", va="top", fontsize=8)
        left += image.shape[1] + gap.shape[1]
