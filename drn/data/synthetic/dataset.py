"""A seeded, learnable grounding dataset written in the Charades-STA file formats.

Each video (20-40 s) is a sequence of 2-4 events (3-12 s each, separated by background) drawn
without repetition from a fixed vocabulary of everyday actions, so a sentence naming one action
identifies one event. Every action has a random signature vector; a window's feature is the
signatures of what it overlaps (events and background, weighted by the overlap), plus a per-video
offset and Gaussian noise. Each event gets one query: "a person opens the door", or with a
relation to its neighbour, "someone opens a door before sitting on the sofa" (the door opening is
followed by the sitting, and the query grounds the door opening).

Files written under `root`:
    train.txt, val.txt, test.txt   `VID START END##sentence` lines (seconds, 2 decimals)
    durations.csv                  `id,length` rows for every video (seconds)
    features/VID.npy               float32 [windows, feature_dim], `windows_per_second` per second

Read them back with `read_charades_sta(paths["train"], paths["durations"])` and
`open_features(paths["features"])`.
"""

from __future__ import annotations

import csv
from os import PathLike
from pathlib import Path

import numpy as np

# (phrasings of the action as a predicate, the gerund used after "before"/"after").
ACTIONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("opens the door", "opening a door", "opens a door"), "opening the door"),
    (("sits on the sofa", "sitting down on a couch", "sits down on the couch"), "sitting on the sofa"),
    (("drinks a glass of water", "drinking from a cup", "takes a drink of water"), "drinking water"),
    (("reads a book", "reading a book", "looks through a book"), "reading a book"),
    (("turns on the light", "switching the light on", "turns the lamp on"), "turning on the light"),
    (("washes the dishes", "washing dishes in the sink", "cleans the dishes"), "washing the dishes"),
    (("talks on the phone", "talking on a phone", "makes a phone call"), "talking on the phone"),
    (("eats a sandwich", "eating some food", "eats a snack"), "eating a sandwich"),
    (("folds the towel", "folding a towel", "folds some clothes"), "folding a towel"),
    (("puts on shoes", "putting shoes on", "ties their shoes"), "putting on shoes"),
    (
        ("looks out the window", "looking out of a window", "stares through the window"),
        "looking out the window",
    ),
    (("sweeps the floor", "sweeping the floor with a broom", "uses a broom"), "sweeping the floor"),
    (("types on a laptop", "typing on the laptop", "works on a computer"), "typing on a laptop"),
    (("pours a cup of coffee", "pouring coffee", "makes some coffee"), "pouring coffee"),
    (("holds a pillow", "holding a pillow", "hugs a pillow"), "holding a pillow"),
    (("takes off a jacket", "taking a jacket off", "removes their jacket"), "taking off a jacket"),
)
SUBJECTS = ("a person", "the person", "someone", "person")
_PHRASE_TO_ACTION = {phrase: i for i, (phrases, _) in enumerate(ACTIONS) for phrase in phrases}
_GERUND_TO_ACTION = {gerund: i for i, (_, gerund) in enumerate(ACTIONS)}

SPLITS = ("train", "val", "test")
_VIDEO_PREFIX = {"train": "SYNTR", "val": "SYNVA", "test": "SYNTE"}

DURATION_RANGE = (20.0, 40.0)  # seconds
EVENT_LENGTH_RANGE = (3.0, 12.0)  # seconds
EVENTS_PER_VIDEO = (2, 4)  # inclusive
MIN_GAP = 0.5  # seconds of background around every event, so rounded events never touch
MIN_BACKGROUND_FRACTION = 0.15
RELATION_PROBABILITY = 0.3


def _sample_events(rng: np.random.Generator, duration: float) -> tuple[np.ndarray, np.ndarray]:
    """Action ids [k] and their (start, end) seconds [k, 2], in time order, 2 decimals."""
    while True:  # rejection sampling; two short events always fit, so it ends after a few tries
        count = int(rng.integers(EVENTS_PER_VIDEO[0], EVENTS_PER_VIDEO[1] + 1))
        lengths = rng.uniform(*EVENT_LENGTH_RANGE, size=count)
        background = duration - lengths.sum()
        if background >= max(MIN_BACKGROUND_FRACTION * duration, MIN_GAP * (count + 1)):
            break
    gaps = MIN_GAP + rng.dirichlet(np.ones(count + 1)) * (background - MIN_GAP * (count + 1))
    starts = np.cumsum(gaps[:count]) + np.concatenate([[0.0], np.cumsum(lengths[:-1])])
    segments = np.round(np.stack([starts, starts + lengths], axis=1), 2)
    segments = np.minimum(segments, duration)
    actions = rng.choice(len(ACTIONS), size=count, replace=False)
    return actions, segments


def _window_features(
    rng: np.random.Generator,
    duration: float,
    segments: np.ndarray,
    actions: np.ndarray,
    signatures: np.ndarray,
    background: np.ndarray,
    windows_per_second: float,
    noise_std: float,
) -> np.ndarray:
    """float32 [windows, D]: overlap-weighted event signatures + background + offset + noise."""
    num_windows = max(1, int(round(duration * windows_per_second)))
    edges = np.linspace(0.0, duration, num_windows + 1)
    lo, hi = edges[:-1, None], edges[1:, None]
    # Fraction of each window covered by each event: [windows, events].
    overlap = np.minimum(hi, segments[None, :, 1]) - np.maximum(lo, segments[None, :, 0])
    cover = np.clip(overlap, 0, None) / (hi - lo)
    dim = signatures.shape[1]
    offset = 0.3 * rng.standard_normal(dim)  # a per-video "scene" the model must ignore
    features = cover @ signatures[actions] + (1.0 - cover.sum(1, keepdims=True)) * background + offset
    features += noise_std * rng.standard_normal((num_windows, dim))
    return features.astype(np.float32)


def _sentence(rng: np.random.Generator, actions: np.ndarray, index: int) -> str:
    """A sentence naming event `index`; sometimes related to the event just before or after."""
    phrasings, _ = ACTIONS[actions[index]]
    sentence = f"{SUBJECTS[rng.integers(len(SUBJECTS))]} {phrasings[rng.integers(len(phrasings))]}"
    neighbours = [("before", index + 1)] if index + 1 < len(actions) else []
    if index > 0:
        neighbours.append(("after", index - 1))
    if neighbours and rng.random() < RELATION_PROBABILITY:
        word, other = neighbours[rng.integers(len(neighbours))]
        sentence += f" {word} {ACTIONS[actions[other]][1]}"
    return sentence + "."


def parse_sentence(sentence: str) -> tuple[int, str | None, int | None]:
    """Invert the generator's sentences: (action id, "before"/"after"/None, related action id).

    The action ids index `ACTIONS`. Raises ValueError for a sentence the generator cannot write.
    """
    text = sentence.rstrip(".")
    longest_first = sorted(SUBJECTS, key=len, reverse=True)  # "a person" before "person"
    subject = next((s for s in longest_first if text.startswith(s + " ")), None)
    if subject is None:
        raise ValueError(f"not a synthetic sentence: {sentence!r}")
    text = text[len(subject) + 1 :]
    relation, other = None, None
    for word in ("before", "after"):
        if f" {word} " in text:
            text, gerund = text.split(f" {word} ", 1)
            relation, other = word, _GERUND_TO_ACTION.get(gerund)
    action = _PHRASE_TO_ACTION.get(text)
    if action is None or (relation is not None and other is None):
        raise ValueError(f"not a synthetic sentence: {sentence!r}")
    return action, relation, other


def make_synthetic_dataset(
    root: str | PathLike,
    num_videos_train: int = 400,
    num_videos_test: int = 100,
    num_videos_val: int = 100,
    feature_dim: int = 256,
    seed: int = 0,
    windows_per_second: float = 2.0,
    noise_std: float = 1.0,
) -> dict[str, Path]:
    """Write a synthetic Charades-STA-format dataset under `root` (created if needed).

    Same arguments -> byte-identical files. Each split draws from its own stream seeded by
    (seed, split), so the test set does not change with `num_videos_train`; the action
    signatures are shared by all splits.

    Returns:
        {"root", "train", "val", "test", "durations", "features"}: the paths written
        (annotation files, the `id,length` duration CSV, the feature folder).
    """
    if feature_dim < 1 or windows_per_second <= 0:
        raise ValueError(
            "feature_dim must be >= 1 and windows_per_second > 0, "
            f"got {feature_dim} and {windows_per_second}"
        )
    root = Path(root)
    features_dir = root / "features"
    features_dir.mkdir(parents=True, exist_ok=True)
    signature_rng = np.random.default_rng([seed, len(SPLITS)])
    signatures = signature_rng.standard_normal((len(ACTIONS), feature_dim))
    background = signature_rng.standard_normal(feature_dim)

    paths = {"root": root, "durations": root / "durations.csv", "features": features_dir}
    duration_rows = []
    counts = {"train": num_videos_train, "val": num_videos_val, "test": num_videos_test}
    for split_index, split in enumerate(SPLITS):
        rng = np.random.default_rng([seed, split_index])
        lines = []
        for video in range(counts[split]):
            vid = f"{_VIDEO_PREFIX[split]}{video:05d}"
            duration = round(float(rng.uniform(*DURATION_RANGE)), 2)
            actions, segments = _sample_events(rng, duration)
            features = _window_features(
                rng, duration, segments, actions, signatures, background, windows_per_second, noise_std
            )
            np.save(features_dir / f"{vid}.npy", features)
            duration_rows.append((vid, f"{duration:.2f}"))
            for index, (start, end) in enumerate(segments):
                lines.append(f"{vid} {start:.2f} {end:.2f}##{_sentence(rng, actions, index)}\n")
        paths[split] = root / f"{split}.txt"
        paths[split].write_text("".join(lines), encoding="utf-8")
    write_durations_csv(paths["durations"], duration_rows)
    return paths


def write_durations_csv(path: Path, rows: list[tuple[str, str]]) -> None:
    """The Charades `id,length` duration CSV of (video id, seconds as text) rows."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(("id", "length"))
        writer.writerows(rows)
