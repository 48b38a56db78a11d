"""Timelines of grounding results: predicted segments (and ground truth) over the dense scores.

Drawn with matplotlib's Agg canvas directly, so nothing depends on (or changes) the global
backend and no display is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

from drn.errors import UserError
from drn.utils.io import atomic_write, check_output_folder

MAX_SEGMENTS = 5  # ranked segments drawn per query
LEVEL_COLORS = ("tab:blue", "tab:orange", "tab:purple")
# A score label that would start in the last part of the axis goes inside its bar instead.
LABEL_INSIDE_FROM = 0.88


class PlotPathError(UserError, ValueError):
    """A plot path matplotlib cannot write (unknown format, under a file)."""


def plot_formats() -> dict[str, str]:
    """Suffix (without the dot) -> description of every format the Agg canvas writes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    return FigureCanvasAgg(Figure()).get_supported_filetypes()


def check_plot_path(path: str | PathLike, option: str = "path") -> Path:
    """Refuse, before any work, a plot path whose suffix matplotlib cannot write or whose folder
    cannot be made."""
    path = Path(path)
    formats = plot_formats()
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in formats:
        raise PlotPathError(f"{option} {path}: unknown image format {path.suffix or '(none)'!r}; "
                            f"use one of {', '.join('.' + s for s in sorted(formats))}")
    if path.is_dir():
        raise PlotPathError(f"{option} {path} is a folder; name an image file")
    check_output_folder(path.parent, option=f"{option} {path}: folder")
    return path


def plot_grounding(results: Sequence[dict], path: str | PathLike, unit: str = "s", title: str | None = None) -> Path:
    """Save one panel pair per query to `path` (any format matplotlib writes: .png, .pdf, .svg).

    Each result is a dict with
        query: the sentence;
        duration: the video length, in `unit`;
        pred_relevant_windows: [[start, end, score], ...] best first;
        relevant_windows: optional [[start, end]] ground truth;
        dense: optional {"time", "match", "iou"}, each a list per FPN level (see `Grounder.ground`).
    The upper panel shows the ground truth (green) and the top `MAX_SEGMENTS` predictions (rank 1
    darkest); the lower one each level's matching probability (solid) and predicted IoU (dashed).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not results:
        raise ValueError("plot_grounding needs at least one result")
    path = check_plot_path(path)
    rows = len(results)
    fig = Figure(figsize=(10, 3.2 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2 * rows, 1, height_ratios=[1.0, 1.3] * rows)
    for i, result in enumerate(results):
        duration = float(result["duration"])
        timeline = fig.add_subplot(grid[2 * i])
        scores = fig.add_subplot(grid[2 * i + 1], sharex=timeline)
        draw_timeline(timeline, result, duration)
        draw_scores(scores, result.get("dense"), duration, unit)
    return save_figure(fig, path, title, ground_truth=any(r.get("relevant_windows") for r in results))


def save_figure(fig, path: str | PathLike, title: str | None = None, ground_truth: bool = True) -> Path:
    """Give `fig` its title and the key of the timelines and score curves (with a ground-truth
    entry only when `ground_truth`: some timeline draws one), and write it to `path` atomically
    (the format from its suffix: .png, .pdf, .svg, ...)."""
    from matplotlib.patches import Patch

    path = check_plot_path(path)
    fig.suptitle(title or "drn: ranked segments per query", fontsize=11)
    key = [Patch(color="tab:green", label="ground truth")] if ground_truth else []
    key += [Patch(color="tab:red", label=f"predictions #1-#{MAX_SEGMENTS} (score at the bar; rank 1 darkest)")]
    level_keys = [Patch(color=c, label=f"level {i + 1}") for i, c in enumerate(LEVEL_COLORS)]
    fig.legend(handles=key + level_keys, loc="outside lower center", ncol=5, fontsize=8,
               title="lower panels: matching probability (solid) and predicted IoU (dashed) per FPN level",
               title_fontsize=8)
    return atomic_write(path, lambda f: fig.savefig(f, dpi=110, format=path.suffix.lower().lstrip(".")),
                        binary=True)


def draw_timeline(ax, result: dict, duration: float) -> None:
    labels = []
    truth = result.get("relevant_windows") or []
    predictions = result["pred_relevant_windows"][:MAX_SEGMENTS]
    y = 0
    for start, end in truth:
        ax.barh(y, end - start, left=start, height=0.7, color="tab:green")
        labels.append("ground truth")
        y += 1
    for rank, (start, end, score) in enumerate(predictions, start=1):
        ax.barh(y, end - start, left=start, height=0.7, color="tab:red", alpha=max(0.25, 1.0 - 0.17 * (rank - 1)))
        inside = end > LABEL_INSIDE_FROM * duration  # a label after the bar would run past the edge
        ax.text(end, y, f"{score:.2f} " if inside else f" {score:.2f}", va="center", fontsize=8,
                ha="right" if inside else "left", clip_on=True)
        labels.append(f"#{rank}")
        y += 1
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, duration)
    ax.set_title(f'"{result["query"]}"', fontsize=10, loc="left")
    ax.tick_params(labelbottom=False)


def draw_scores(ax, dense: dict | None, duration: float, unit: str) -> None:
    if dense:
        for level, (times, match, iou) in enumerate(zip(dense["time"], dense["match"], dense["iou"])):
            color = LEVEL_COLORS[level % len(LEVEL_COLORS)]
            ax.plot(times, match, color=color, marker=".", clip_on=True)
            ax.plot(times, iou, color=color, linestyle="--", clip_on=True)
    ax.set_ylim(0, 1.05)
    ax.set_xlim(0, duration)
    ax.set_ylabel("probability", fontsize=8)
    ax.set_xlabel(f"time ({unit})", fontsize=8)
