"""A seeded synthetic video world rendered to real encoded video files, with sentences that
describe what is visible, written in the Charades-STA file formats.

Each video (8-14 s, 64x64 pixels, 10 frames per second, H.264 through PyAV) shows a dark stage
on which 2-3 coloured objects appear one after the other, each for 2-5 s with empty stage in
between. While it is visible an object does one thing: it just stays ("a blue circle appears"),
moves left / right / up / down, grows, shrinks, or turns another colour. The colours of a
video's objects differ, so a sentence names exactly one event. Each event gets a plain sentence,
"the red square moves left", and one relating it to its neighbour, "the red square moves left
before the green circle appears" (the query grounds the red square). The moment of a query is the
time its object is on screen.

Files written under `root`:
    videos/SPLIT/VID.mp4            the encoded videos, one folder per split
    train.txt, val.txt, test.txt    `VID START END##sentence` lines (seconds, 2 decimals)
    durations.csv                   `id,length` rows for every video (seconds)

Test videos are held out: every split draws its own videos. `drn extract ROOT/videos/train
ROOT/videos/val --out FEATURES ...` turns videos into features; then train with the usual keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

from drn.data.synthetic.dataset import write_durations_csv

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 80, 240),
    "yellow": (240, 230, 50),
    "white": (250, 250, 250),
    "purple": (170, 60, 220),
}
SHAPES = ("square", "circle")
# Action -> its predicate in a sentence; "turns" takes the new colour.
ACTIONS: dict[str, str] = {
    "appears": "appears",
    "moves_left": "moves left",
    "moves_right": "moves right",
    "moves_up": "moves up",
    "moves_down": "moves down",
    "grows": "grows",
    "shrinks": "shrinks",
    "turns": "turns {colour}",
}

SPLITS = ("train", "val", "test")
_VIDEO_PREFIX = {"train": "PIXTR", "val": "PIXVA", "test": "PIXTE"}
FRAME_SIZE = 64  # pixels, square
FPS = 10
DURATION_RANGE = (8.0, 14.0)  # seconds
EVENT_LENGTH_RANGE = (2.0, 5.0)  # seconds
EVENTS_PER_VIDEO = (2, 3)  # inclusive
MIN_GAP = 0.6  # seconds of empty stage around every event
BACKGROUND = (30, 30, 30)
OBJECT_HALF_SIZE = 0.24  # of the frame side: large objects dominate the backbone's pooled features
RELATION_PROBABILITY = 0.3


@dataclass(frozen=True)
class Event:
    """One object's time on screen: [start, end) seconds, what it is and what it does."""

    start: float
    end: float
    colour: str
    shape: str
    action: str
    new_colour: str | None = None  # the colour it turns, for action "turns"

    def predicate(self) -> str:
        return ACTIONS[self.action].format(colour=self.new_colour)


def sample_events(rng: np.random.Generator, duration: float) -> list[Event]:
    """2-3 events in time order with distinct colours, separated by >= MIN_GAP of empty stage.
    Times are multiples of 1/FPS so frame boundaries and annotations agree."""
    while True:  # rejection sampling; two short events always fit, so it ends after a few tries
        count = int(rng.integers(EVENTS_PER_VIDEO[0], EVENTS_PER_VIDEO[1] + 1))
        lengths = rng.uniform(*EVENT_LENGTH_RANGE, size=count)
        background = duration - lengths.sum()
        if background >= MIN_GAP * (count + 1) + 0.5:
            break
    gaps = MIN_GAP + rng.dirichlet(np.ones(count + 1)) * (background - MIN_GAP * (count + 1))
    starts = np.cumsum(gaps[:count]) + np.concatenate([[0.0], np.cumsum(lengths[:-1])])
    names = list(COLOURS)
    colours = rng.choice(len(names), size=count, replace=False)
    events = []
    for start, length, colour in zip(starts, lengths, colours):
        action = list(ACTIONS)[int(rng.integers(len(ACTIONS)))]
        new_colour = None
        if action == "turns":
            others = [c for c in names if c != names[colour]]
            new_colour = others[int(rng.integers(len(others)))]
        begin = round(float(start) * FPS) / FPS
        finish = min(round(float(start + length) * FPS) / FPS, duration)
        events.append(Event(begin, finish, names[colour], SHAPES[int(rng.integers(len(SHAPES)))], action,
                             new_colour))
    return events


def sentences(rng: np.random.Generator, events: list[Event], index: int, count: int) -> list[str]:
    """`count` (1 or 2) sentences naming event `index`: one plain ("a red square moves left"), one
    related to the event just before or after ("... before the blue circle grows"); with count 1,
    the related form with probability RELATION_PROBABILITY."""
    event = events[index]
    plain = f"{('a', 'the')[int(rng.integers(2))]} {event.colour} {event.shape} {event.predicate()}"
    neighbours = [("before", index + 1)] if index + 1 < len(events) else []
    if index > 0:
        neighbours.append(("after", index - 1))
    word, other = neighbours[int(rng.integers(len(neighbours)))]  # every video has >= 2 events
    related = f"{plain} {word} the {events[other].colour} {events[other].shape} {events[other].predicate()}"
    if count == 1:
        return [(related if rng.random() < RELATION_PROBABILITY else plain) + "."]
    return [plain + ".", related + "."]


def _object_state(event: Event, progress: float, rng_offset: np.ndarray) -> tuple[float, float, float, tuple]:
    """(centre x, centre y, half size) in pixels and the RGB colour at `progress` in [0, 1]."""
    cx, cy = FRAME_SIZE / 2 + rng_offset[0], FRAME_SIZE / 2 + rng_offset[1]
    half = FRAME_SIZE * OBJECT_HALF_SIZE
    travel = FRAME_SIZE * 0.55 * (progress - 0.5)
    if event.action == "moves_left":
        cx -= travel
    elif event.action == "moves_right":
        cx += travel
    elif event.action == "moves_up":
        cy -= travel
    elif event.action == "moves_down":
        cy += travel
    elif event.action == "grows":
        half *= 0.5 + progress
    elif event.action == "shrinks":
        half *= 1.5 - progress
    colour = COLOURS[event.colour]
    if event.action == "turns" and progress >= 0.5:
        colour = COLOURS[event.new_colour]
    return cx, cy, half, colour


def render_frame(events: list[Event], time: float, offsets: list[np.ndarray]) -> np.ndarray:
    """uint8 [FRAME_SIZE, FRAME_SIZE, 3] RGB frame at `time` seconds."""
    frame = np.empty((FRAME_SIZE, FRAME_SIZE, 3), dtype=np.uint8)
    frame[:] = BACKGROUND
    ys, xs = np.mgrid[0:FRAME_SIZE, 0:FRAME_SIZE] + 0.5
    for event, offset in zip(events, offsets):
        if not event.start <= time < event.end:
            continue
        progress = (time - event.start) / max(event.end - event.start, 1e-9)
        cx, cy, half, colour = _object_state(event, progress, offset)
        if event.shape == "square":
            mask = (np.abs(xs - cx) <= half) & (np.abs(ys - cy) <= half)
        else:
            mask = (xs - cx) ** 2 + (ys - cy) ** 2 <= half**2
        frame[mask] = colour
    return frame


def write_video(path: Path, events: list[Event], duration: float, rng: np.random.Generator) -> None:
    """Encode the video of `events` (H.264, yuv420p, one thread so the bytes are reproducible)."""
    import av

    num_frames = int(round(duration * FPS))
    # Each object starts a little off centre, so positions vary between videos.
    offsets = [rng.uniform(-4, 4, size=2) for _ in events]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width = stream.height = FRAME_SIZE
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        stream.codec_context.thread_count = 1
        for index in range(num_frames):
            image = render_frame(events, (index + 0.5) / FPS, offsets)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make_synthetic_video_dataset(root: str | PathLike, num_videos_train: int = 60, num_videos_val: int = 12,
                                 num_videos_test: int = 20, seed: int = 0, queries_per_event: int = 2
                                 ) -> dict[str, Path]:
    """Write the synthetic video world under `root` (created if needed).

    `queries_per_event` (1 or 2): sentences per event (two: a plain and a related one).
    Same arguments -> the same annotations, durations and frames. Each split draws from its own
    stream seeded by (seed, split), so the test videos do not change with `num_videos_train`.

    Returns:
        {"root", "train", "val", "test", "durations", "videos"}: the paths written (annotation
        files, the `id,length` duration CSV, the folder holding one folder of .mp4 files per split).
    """
    if queries_per_event not in (1, 2):
        raise ValueError(f"queries_per_event must be 1 or 2, got {queries_per_event}")
    root = Path(root)
    videos = root / "videos"
    paths = {"root": root, "durations": root / "durations.csv", "videos": videos}
    duration_rows = []
    counts = {"train": num_videos_train, "val": num_videos_val, "test": num_videos_test}
    for split_index, split in enumerate(SPLITS):
        rng = np.random.default_rng([seed, split_index, 8])
        lines = []
        for video in range(counts[split]):
            vid = f"{_VIDEO_PREFIX[split]}{video:05d}"
            duration = round(float(rng.uniform(*DURATION_RANGE)) * FPS) / FPS
            events = sample_events(rng, duration)
            write_video(videos / split / f"{vid}.mp4", events, duration, rng)
            duration_rows.append((vid, f"{duration:.2f}"))
            for index, event in enumerate(events):
                for text in sentences(rng, events, index, queries_per_event):
                    lines.append(f"{vid} {event.start:.2f} {event.end:.2f}##{text}\n")
        paths[split] = root / f"{split}.txt"
        paths[split].write_text("".join(lines), encoding="utf-8")
    write_durations_csv(paths["durations"], duration_rows)
    return paths
