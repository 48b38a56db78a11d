"""Held-out grounding benchmarks harder than the demo's data, in the Charades-STA and JSONL formats.

`make_composition_dataset` writes videos in which every event is a verb applied to an object
("a person opens the door"), with the properties that make grounding hard:

- novel compositions: some verb-object pairs never occur in the training videos (neither as a
  query nor as a distractor); test videos use them, so a query can name a pair the model has only
  seen in parts;
- distractors: the events of a video share the verb or the object of other events of the same
  video ("opens the door" next to "opens the box" and "closes the door");
- repeated actions: an event may happen twice in a video; its queries say which ("... again",
  "... for the first time", or "before"/"after" a neighbour). In JSONL a plain query of a
  repeated action has both moments;
- moment lengths 1.5-15 s (log-uniform) in 20-90 s videos (`duration_range`; long videos: e.g.
  (60, 180));
- soft edges: an event fades in and out over 0.3-1.5 s around its annotated boundaries, and the
  annotations carry +-0.2 s of annotator jitter;
- correlated noise: AR(1) in time (`noise_rho`) on top of a per-video scene and a slow drift;
- synonyms: each verb and object has several words, and the subject varies.

A window's feature is the video's background (scene + drift) plus, for each event it overlaps, the
event's signature (its verb's + its object's + a small pair-specific part) weighted by the event's
intensity (the fade times, in JSONL with `saliency`, a bump that peaks somewhere inside the event),
plus the correlated noise. With `saliency` the JSONL lines carry QVHighlights-style saliency per
2 s clip of the moment (three annotators, 0-4) that follows the intensity: it varies inside a
moment, so reading it off the moment mask is not enough.

The test split is written twice where it helps the tables: `test.txt` (every query) and the
query metadata in `test_meta.jsonl` (per query: its event's length, whether its composition is
novel, the moments of the video's distractors that share its verb or its object), which
`grounding_report.breakdown` reads.

Same arguments -> the same files. Each split draws from its own stream seeded by (seed, split);
the signatures and the held-out pairs come from `seed` alone, so every split shares them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

from drn.data.synthetic.dataset import write_durations_csv

# verb -> (present-tense synonyms, gerund used after "before"/"after")
VERBS: dict[str, tuple[tuple[str, ...], str]] = {
    "open": (("opens", "pulls open", "opens up"), "opening"),
    "close": (("closes", "shuts", "pushes shut"), "closing"),
    "hold": (("holds", "grips", "is holding"), "holding"),
    "put_down": (("puts down", "sets down", "places down"), "putting down"),
    "pick_up": (("picks up", "grabs", "lifts"), "picking up"),
    "wash": (("washes", "rinses", "cleans"), "washing"),
    "look_at": (("looks at", "stares at", "watches"), "looking at"),
    "throw": (("throws", "tosses", "flings"), "throwing"),
    "fix": (("fixes", "repairs", "mends"), "fixing"),
    "push": (("pushes", "shoves", "nudges"), "pushing"),
}
OBJECTS: dict[str, tuple[str, ...]] = {
    "door": ("door", "doorway door", "front door"),
    "box": ("box", "carton", "cardboard box"),
    "cup": ("cup", "mug", "glass"),
    "book": ("book", "notebook", "novel"),
    "laptop": ("laptop", "computer", "notebook computer"),
    "towel": ("towel", "cloth", "rag"),
    "phone": ("phone", "cellphone", "mobile"),
    "bag": ("bag", "backpack", "purse"),
    "bottle": ("bottle", "water bottle", "flask"),
    "pillow": ("pillow", "cushion", "throw pillow"),
    "shoe": ("shoe", "sneaker", "boot"),
    "window": ("window", "windowpane", "glass pane"),
}
SUBJECTS = ("a person", "the person", "someone", "a man", "a woman", "the man", "the woman")
DETERMINERS = ("the", "a", "their")

SPLITS = ("train", "val", "test")
_PREFIX = {"train": "CMPTR", "val": "CMPVA", "test": "CMPTE"}
HL_CLIP_SECONDS = 2.0  # QVHighlights' saliency clips


@dataclass(frozen=True)
class Event:
    """One event of a video: [start, end) seconds (annotated), verb and object names, and how it looks."""

    start: float
    end: float
    verb: str
    obj: str
    fade: float  # seconds of fade in (and out) around each annotated boundary
    peak: float  # where its intensity peaks, as a fraction of the event
    occurrence: int = 0  # 0: first (or only) time in the video, 1: a repeat

    @property
    def pair(self) -> tuple[str, str]:
        return (self.verb, self.obj)

    @property
    def length(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class GeneratorSettings:
    """What shapes a composition dataset; the defaults are the hard benchmark."""

    feature_dim: int = 256
    duration_range: tuple[float, float] = (20.0, 90.0)
    length_range: tuple[float, float] = (1.5, 15.0)  # event seconds, log-uniform
    events_per_minute: tuple[float, float] = (4.0, 8.0)  # at least 3 events per video
    windows_per_second: float = 2.0
    signal: float = 0.6  # scale of an event's signature (verb + object + pair parts, N(0, 1) entries each)
    noise_std: float = 2.5  # stationary std of the AR(1) noise per dimension
    noise_rho: float = 0.8  # AR(1) correlation of consecutive windows
    novel_fraction: float = 0.2  # of the verb-object pairs, held out of training
    repeat_probability: float = 0.25  # a video repeats one of its events
    relation_probability: float = 0.25  # a query of a single event names a neighbour
    saliency_bump: float = 0.0  # > 0: intensity = fade x (1 - bump + bump x peak-bump), saliency varies


def _signatures(seed: int, dim: int) -> dict:
    rng = np.random.default_rng([seed, 101])
    unit = lambda n: rng.standard_normal((n, dim)) / np.sqrt(dim) * np.sqrt(dim)  # noqa: E731 (N(0, 1) entries)
    verbs, objects = unit(len(VERBS)), unit(len(OBJECTS))
    pair_part = 0.5 * unit(len(VERBS) * len(OBJECTS)).reshape(len(VERBS), len(OBJECTS), dim)
    background = unit(1)[0]
    return {"verbs": verbs, "objects": objects, "pairs": pair_part, "background": background}


def held_out_pairs(seed: int, fraction: float) -> set[tuple[str, str]]:
    """The verb-object pairs never seen in training: `fraction` of all, at most one verb's worth
    per object, so every verb and every object still occurs in training."""
    rng = np.random.default_rng([seed, 102])
    verbs, objects = list(VERBS), list(OBJECTS)
    count = int(round(fraction * len(verbs) * len(objects)))
    held: set[tuple[str, str]] = set()
    for index in rng.permutation(len(verbs) * len(objects)):
        if len(held) == count:
            break
        pair = (verbs[index // len(objects)], objects[index % len(objects)])
        per_verb = sum(1 for v, _ in held if v == pair[0])
        per_object = sum(1 for _, o in held if o == pair[1])
        if per_verb < len(objects) // 2 and per_object < len(verbs) // 2:
            held.add(pair)
    return held


def _pick_pairs(rng: np.random.Generator, count: int, allowed: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """`count` distinct pairs that share verbs and objects: each new pair shares the verb or the
    object of one already chosen where the allowed pairs permit (distractors), else any."""
    chosen = [allowed[int(rng.integers(len(allowed)))]]
    while len(chosen) < count:
        anchor = chosen[int(rng.integers(len(chosen)))]
        share = int(rng.integers(3))  # 0: same verb, 1: same object, 2: unrelated
        options = [p for p in allowed if p not in chosen and (share == 2 or p[share] == anchor[share])]
        if not options:
            options = [p for p in allowed if p not in chosen]
        chosen.append(options[int(rng.integers(len(options)))])
    return chosen


def _sample_events(rng: np.random.Generator, duration: float, settings: GeneratorSettings,
                   allowed: list[tuple[str, str]], novel: list[tuple[str, str]]) -> list[Event]:
    """Non-overlapping events in time order; for a test video `novel` pairs are mixed in."""
    rate = rng.uniform(*settings.events_per_minute)
    count = max(3, int(round(rate * duration / 60.0)))
    lo, hi = np.log(settings.length_range[0]), np.log(settings.length_range[1])
    while True:
        lengths = np.exp(rng.uniform(lo, hi, size=count))
        background = duration - lengths.sum()
        if background >= 1.0 * (count + 1):
            break
        count = max(3, count - 1)
    pairs = _pick_pairs(rng, count, allowed)
    if novel:  # about a third of a test video's events are held-out pairs
        for slot in range(count):
            if rng.random() < 0.35:
                verb, obj = pairs[int(rng.integers(count))]
                related = [p for p in novel if (p[0] == verb or p[1] == obj) and p not in pairs]
                pool = related or [p for p in novel if p not in pairs]
                if pool:
                    pairs[slot] = pool[int(rng.integers(len(pool)))]
    occurrence = [0] * count
    if count >= 4 and rng.random() < settings.repeat_probability:  # one event happens twice
        first, second = sorted(rng.choice(count, size=2, replace=False))
        pairs[second] = pairs[first]
        occurrence[second] = 1
    gaps = 1.0 + rng.dirichlet(np.ones(count + 1)) * (background - 1.0 * (count + 1))
    starts = np.cumsum(gaps[:count]) + np.concatenate([[0.0], np.cumsum(lengths[:-1])])
    events = []
    for i in range(count):
        events.append(Event(float(starts[i]), float(starts[i] + lengths[i]), pairs[i][0], pairs[i][1],
                            fade=float(rng.uniform(0.3, 1.5)), peak=float(rng.uniform(0.15, 0.85)),
                            occurrence=occurrence[i]))
    return events


def _intensity(event: Event, times: np.ndarray, bump: float) -> np.ndarray:
    """The event's visibility at `times` (seconds): a linear fade in and out centred on the
    annotated boundaries, times (with `bump` > 0) a bump peaking at `event.peak`."""
    rise = np.clip((times - event.start) / event.fade + 0.5, 0.0, 1.0)
    fall = np.clip((event.end - times) / event.fade + 0.5, 0.0, 1.0)
    level = np.minimum(rise, fall)
    if bump > 0:
        centre = event.start + event.peak * event.length
        width = max(0.25 * event.length, 0.75)
        level = level * (1.0 - bump + bump * np.exp(-0.5 * ((times - centre) / width) ** 2))
    return level


def _features(rng: np.random.Generator, events: list[Event], duration: float, signatures: dict,
              settings: GeneratorSettings) -> np.ndarray:
    """float32 [windows, D] of one video (window centres sampled at `windows_per_second`)."""
    count = max(1, int(round(duration * settings.windows_per_second)))
    dim = settings.feature_dim
    times = (np.arange(count) + 0.5) * duration / count
    verbs, objects = list(VERBS), list(OBJECTS)
    scene = 0.5 * rng.standard_normal(dim)
    drift = np.outer(np.sin(2 * np.pi * times / duration * rng.uniform(0.5, 2.0) + rng.uniform(0, 2 * np.pi)),
                     0.3 * rng.standard_normal(dim))
    features = signatures["background"] + scene + drift
    for event in events:
        v, o = verbs.index(event.verb), objects.index(event.obj)
        signature = settings.signal * (signatures["verbs"][v] + signatures["objects"][o] + signatures["pairs"][v, o])
        features = features + _intensity(event, times, settings.saliency_bump)[:, None] * signature
    noise = np.empty((count, dim))
    innovation = settings.noise_std * np.sqrt(1 - settings.noise_rho ** 2)
    noise[0] = settings.noise_std * rng.standard_normal(dim)
    for i in range(1, count):
        noise[i] = settings.noise_rho * noise[i - 1] + innovation * rng.standard_normal(dim)
    return (features + noise).astype(np.float32)


def _phrase(rng: np.random.Generator, event: Event) -> str:
    verb = VERBS[event.verb][0][int(rng.integers(3))]
    obj = OBJECTS[event.obj][int(rng.integers(3))]
    return f"{verb} {DETERMINERS[int(rng.integers(len(DETERMINERS)))]} {obj}"


def _gerund(rng: np.random.Generator, event: Event) -> str:
    return f"{VERBS[event.verb][1]} the {OBJECTS[event.obj][int(rng.integers(3))]}"


def _query(rng: np.random.Generator, events: list[Event], index: int, settings: GeneratorSettings,
           plain_allowed: bool) -> tuple[str, str]:
    """(sentence, how it identifies the event: "plain", "relation" or "occurrence")."""
    event = events[index]
    text = f"{SUBJECTS[int(rng.integers(len(SUBJECTS)))]} {_phrase(rng, event)}"
    repeated = sum(1 for e in events if e.pair == event.pair) > 1
    # Only a neighbour whose own pair is unique in the video identifies the event.
    neighbours = [(word, j) for word, j in (("before", index + 1), ("after", index - 1))
                  if 0 <= j < len(events) and sum(1 for e in events if e.pair == events[j].pair) == 1]
    if repeated and not plain_allowed:
        if neighbours and rng.random() < 0.5:
            word, j = neighbours[int(rng.integers(len(neighbours)))]
            return f"{text} {word} {_gerund(rng, events[j])}.", "relation"
        return f"{text} {'again' if event.occurrence else 'for the first time'}.", "occurrence"
    if neighbours and rng.random() < settings.relation_probability:
        word, j = neighbours[int(rng.integers(len(neighbours)))]
        return f"{text} {word} {_gerund(rng, events[j])}.", "relation"
    return text + ".", "plain"


def _saliency(event_list: list[Event], duration: float, rng: np.random.Generator, bump: float
              ) -> tuple[list[int], list[list[int]]]:
    """QVHighlights clip ids and three annotators' 0-4 scores for the 2 s clips the moments
    overlap: 4 x the mean intensity over the clip plus N(0, 0.5), rounded and clipped."""
    clips = int(duration / HL_CLIP_SECONDS)
    ids, scores = [], []
    for clip in range(clips):
        times = clip * HL_CLIP_SECONDS + (np.arange(8) + 0.5) * HL_CLIP_SECONDS / 8
        inside = [e for e in event_list if e.start < (clip + 1) * HL_CLIP_SECONDS and e.end > clip * HL_CLIP_SECONDS]
        if not inside:
            continue
        level = max(float(_intensity(e, times, bump).mean()) for e in inside)
        ids.append(clip)
        scores.append(np.clip(np.rint(4.4 * level + rng.normal(0, 0.5, 3)), 0, 4).astype(int).tolist())
    return ids, scores


def make_composition_dataset(root: str | PathLike, *, seed: int = 0, num_videos_train: int = 600,
                             num_videos_val: int = 100, num_videos_test: int = 150,
                             settings: GeneratorSettings | None = None, jsonl: bool = False) -> dict[str, Path]:
    """Write a composition benchmark under `root`: `{split}.txt` (Charades-STA lines) or, with
    `jsonl`, `{split}.jsonl` (QVHighlights lines; with `settings.saliency_bump` > 0 they carry
    saliency), `durations.csv`, `features/VID.npy` and `{split}_meta.jsonl` (per query: qid,
    moment length, novel, distractor windows sharing verb / object, how the sentence identifies
    the event). Returns the paths {"root", "train", "val", "test", "durations", "features",
    "meta_train", "meta_val", "meta_test"}."""
    settings = settings or GeneratorSettings()
    root = Path(root)
    features_dir = root / "features"
    features_dir.mkdir(parents=True, exist_ok=True)
    signatures = _signatures(seed, settings.feature_dim)
    novel = held_out_pairs(seed, settings.novel_fraction)
    seen = [(v, o) for v in VERBS for o in OBJECTS if (v, o) not in novel]
    paths = {"root": root, "durations": root / "durations.csv", "features": features_dir}
    counts = {"train": num_videos_train, "val": num_videos_val, "test": num_videos_test}
    rows = []
    for split_index, split in enumerate(SPLITS):
        rng = np.random.default_rng([seed, split_index, 103])
        lines, meta = [], []
        for video in range(counts[split]):
            vid = f"{_PREFIX[split]}{video:05d}"
            duration = round(float(rng.uniform(*settings.duration_range)), 2)
            events = _sample_events(rng, duration, settings, seen, sorted(novel) if split == "test" else [])
            np.save(features_dir / f"{vid}.npy", _features(rng, events, duration, signatures, settings))
            rows.append((vid, f"{duration:.2f}"))
            for index, event in enumerate(events):
                same = [e for e in events if e.pair == event.pair]
                plain_allowed = jsonl and len(same) > 1 and rng.random() < 0.5
                sentence, kind = _query(rng, events, index, settings, plain_allowed)
                if plain_allowed and kind == "plain" and event.occurrence == 1:
                    continue  # the plain query of a repeated pair is written once, with both moments
                targets = same if kind == "plain" else [event]
                windows = [[round(max(0.0, e.start + rng.uniform(-0.2, 0.2)), 2),
                            round(min(duration, e.end + rng.uniform(-0.2, 0.2)), 2)] for e in targets]
                # The qid the readers give the query: the JSONL's own, or Charades' VID#line.
                qid = len(lines) if jsonl else f"{vid}#{len(lines) + 1}"
                if jsonl:
                    line = {"qid": qid, "query": sentence, "vid": vid, "duration": duration,
                            "relevant_windows": windows}
                    if settings.saliency_bump > 0:
                        ids, scores = _saliency(targets, duration, rng, settings.saliency_bump)
                        line.update(relevant_clip_ids=ids, saliency_scores=scores)
                    lines.append(json.dumps(line) + "\n")
                else:
                    lines.append(f"{vid} {windows[0][0]:.2f} {windows[0][1]:.2f}##{sentence}\n")
                meta.append({
                    "qid": qid, "vid": vid, "length": round(float(np.mean([e.length for e in targets])), 3),
                    "novel": event.pair in novel, "kind": kind, "repeated": len(same) > 1,
                    "same_verb": [[e.start, e.end] for e in events if e.verb == event.verb and e.obj != event.obj],
                    "same_object": [[e.start, e.end] for e in events if e.obj == event.obj and e.verb != event.verb],
                    "other_events": [[e.start, e.end] for e in events if e not in targets],
                })
        suffix = "jsonl" if jsonl else "txt"
        paths[split] = root / f"{split}.{suffix}"
        paths[split].write_text("".join(lines), encoding="utf-8")
        paths[f"meta_{split}"] = root / f"{split}_meta.jsonl"
        paths[f"meta_{split}"].write_text("".join(json.dumps(m) + "\n" for m in meta), encoding="utf-8")
    write_durations_csv(paths["durations"], rows)
    return paths
