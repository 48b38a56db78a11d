"""The QVHighlights metrics: moment retrieval (MR) and highlight detection (HL), vectorised over queries.

The definitions are those of the official QVHighlights evaluator (Moment-DETR's `standalone_eval`),
whose keys and nested layout this module reproduces:

- MR-R1@m: the first listed window of each query (file order, as the official evaluator takes it)
  counts when its IoU with the best-matching ground-truth window is >= m, m in 0.50, 0.55, ..., 0.95.
- MR-mAP@m: per query, its first 10 windows sorted by score (stable) are matched greedily to
  unmatched ground-truth windows with IoU >= m (the highest IoU first; equal IoUs: the later window);
  the query's average precision is VOC's interpolated AP against all its ground-truth windows; the
  mean over queries, then over m for "MR-full-mAP".
- short / middle / long: the same on the ground-truth windows of length in (0, 10], (10, 30],
  (30, 150] seconds, for the queries that have one.
- HL-min-{Fair,Good,VeryGood}: a clip (2 s) is positive when an annotator scored it >= 2, 3, 4.
  HL-mAP is the mean over queries and the 3 annotators of the AP of the per-clip scores (ties in
  score form one threshold); HL-Hit1 counts a query when its top-scored clip is positive for any
  annotator.

Two cases the official code does not handle are defined here: a query with no predicted window has
AP 0 and misses R1 (the official evaluator crashes), and an IoU whose union is 0 (two zero-length
windows at one point) is 0 (the official evaluator gets NaN). Values are percentages rounded to two
decimals as the official evaluator rounds them; a length range with no query gives NaN, as there
(`nan_to_none` makes that null for a JSON file).

`tests/helpers/qvhighlights_reference.py` holds the same definitions as plain per-query loops; the
tests hold this module to it, and it is the peer of the scoring benchmark.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from itertools import chain

import numpy as np

MR_IOU_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
MAX_PRED_WINDOWS = 10
# name -> (min, max] window length in seconds; None keeps every window ("full").
LENGTH_RANGES = OrderedDict([("short", (0.0, 10.0)), ("middle", (10.0, 30.0)), ("long", (30.0, 150.0)),
                             ("full", None)])
HL_MIN_SCORES = OrderedDict([("Fair", 2), ("Good", 3), ("VeryGood", 4)])
HL_CLIP_SECONDS = 2.0
HL_ANNOTATORS = 3


def percent(value: float) -> float:
    """100 * value rounded to two decimals the way the official evaluator does (via its text form)."""
    return float(f"{100 * value:.2f}")


def cross_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every window in `a` [..., N, 2] with every window in `b` [..., M, 2] -> [..., N, M];
    0 where the union is 0."""
    left = np.maximum(a[..., :, None, 0], b[..., None, :, 0])
    right = np.minimum(a[..., :, None, 1], b[..., None, :, 1])
    inter = np.clip(right - left, 0, None)
    union = (a[..., :, 1] - a[..., :, 0])[..., :, None] + (b[..., :, 1] - b[..., :, 0])[..., None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union != 0)


def hull_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Aligned IoU of `a` [N, 2] and `b` [N, 2] with the union taken as the hull (the official R1
    formula; equal to the IoU whenever the windows overlap); 0 where the hull is 0."""
    inter = np.maximum(0, np.minimum(a[:, 1], b[:, 1]) - np.maximum(a[:, 0], b[:, 0]))
    hull = np.maximum(a[:, 1], b[:, 1]) - np.minimum(a[:, 0], b[:, 0])
    return np.divide(inter, hull, out=np.zeros_like(inter), where=hull != 0)


def _padded(lists: Sequence[Sequence], width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Ragged per-query lists -> (values [Q, K] float64, or [Q, K, width] for rows of `width`
    numbers (longer rows are cut), valid [Q, K]); K is the longest list (at least 1)."""
    counts = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    depth = max(int(counts.max(initial=0)), 1)
    values = np.zeros((len(lists), depth) + (() if width is None else (width,)))
    valid = np.arange(depth)[None, :] < counts[:, None]
    flat = list(chain.from_iterable(lists))
    if flat:
        try:
            values[valid] = np.asarray(flat, dtype=np.float64)
        except ValueError:  # rows of several lengths (e.g. extra fields): keep the first `width`
            values[valid] = np.asarray([row[:width] for row in flat], dtype=np.float64)
    return values, valid


def _r1(first: np.ndarray, has_first: np.ndarray, gt: np.ndarray, gt_valid: np.ndarray) -> np.ndarray:
    """[Q] IoU of each query's first window with its best-matching ground truth (first max)."""
    ious = np.where(gt_valid, cross_iou(first[:, None, :], gt)[:, 0, :], -np.inf)
    best = gt[np.arange(len(gt)), np.argmax(ious, axis=1)]
    return np.where(has_first, hull_iou(first, best), 0.0)


def _average_precision(pred: np.ndarray, pred_valid: np.ndarray, gt: np.ndarray, gt_valid: np.ndarray,
                       thresholds: np.ndarray) -> np.ndarray:
    """[Q, T] interpolated AP of score-sorted windows `pred` [Q, K, 3] against `gt` [Q, G, 2]."""
    num_queries, depth, _ = pred.shape
    ious = cross_iou(pred[..., :2], gt)                                     # [Q, K, G]
    locked = np.zeros((num_queries, len(thresholds), gt.shape[1]), dtype=bool)
    tp = np.zeros((num_queries, len(thresholds), depth))
    reverse = slice(None, None, -1)
    for k in range(depth):  # ranks depend on earlier matches; queries and thresholds go in parallel
        candidate = (ious[:, None, k, :] >= thresholds[None, :, None]) & gt_valid[:, None, :] & ~locked
        candidate &= pred_valid[:, None, k, None]
        scored = np.where(candidate, ious[:, None, k, :], -np.inf)[..., reverse]
        chosen = gt.shape[1] - 1 - np.argmax(scored, axis=-1)               # equal IoUs: the later window
        hit = candidate.any(axis=-1)
        q_idx, t_idx = np.nonzero(hit)
        locked[q_idx, t_idx, chosen[q_idx, t_idx]] = True
        tp[:, :, k] = hit
    fp = pred_valid[:, None, :] & (tp == 0)
    tp_cum, fp_cum = np.cumsum(tp, axis=-1), np.cumsum(fp, axis=-1)
    num_gt = gt_valid.sum(axis=1).astype(np.float64)[:, None, None]
    recall = tp_cum / num_gt
    seen = tp_cum + fp_cum
    precision = np.divide(tp_cum, seen, out=np.zeros_like(tp_cum), where=seen != 0)
    zeros = np.zeros(precision.shape[:2] + (1,))
    m_precision = np.concatenate([zeros, precision, zeros], axis=-1)
    m_recall = np.concatenate([zeros, recall, np.ones_like(zeros)], axis=-1)
    m_precision = np.maximum.accumulate(m_precision[..., reverse], axis=-1)[..., reverse]
    step = np.diff(m_recall, axis=-1)
    return np.where(step != 0, step * m_precision[..., 1:], 0.0).sum(axis=-1)


class _Moments:
    """Every query's windows as padded arrays, built once and scored on any subset of queries and
    ground-truth windows (the length ranges)."""

    def __init__(self, predictions: Sequence[dict], ground_truth: Sequence[dict]):
        windows = [p["pred_relevant_windows"] for p in predictions]
        first, has_first = _padded([w[:1] for w in windows], 3)
        self.first, self.has_first = first[:, 0, :2], has_first[:, 0]
        pred, valid = _padded([w[:MAX_PRED_WINDOWS] for w in windows], 3)
        order = np.argsort(np.where(valid, -pred[..., 2], np.inf), axis=1, kind="stable")  # as list.sort by -score
        self.pred = np.take_along_axis(pred, order[..., None], axis=1)
        self.pred_valid = np.take_along_axis(valid, order, axis=1)
        self.gt, self.gt_valid = _padded([g["relevant_windows"] for g in ground_truth], 2)

    def scores(self, bounds: tuple[float, float] | None) -> dict:
        """{"MR-mAP": {"0.5": ..., "average": ...}, "MR-R1": {"0.5": ...}} on the ground-truth windows of
        length in (min, max] (all with None) and the queries that have one."""
        gt_valid = self.gt_valid
        if bounds is not None:
            length = self.gt[..., 1] - self.gt[..., 0]
            gt_valid = gt_valid & (length > bounds[0]) & (length <= bounds[1])
        keep = gt_valid.any(axis=1)
        keys = [str(t) for t in MR_IOU_THRESHOLDS]
        if not keep.any():
            return {"MR-mAP": {**{k: math.nan for k in keys}, "average": math.nan},
                    "MR-R1": {k: math.nan for k in keys}}
        thresholds = np.asarray(MR_IOU_THRESHOLDS)
        gt, gt_valid = self.gt[keep], gt_valid[keep]
        r1_iou = _r1(self.first[keep], self.has_first[keep], gt, gt_valid)
        ap = _average_precision(self.pred[keep], self.pred_valid[keep], gt, gt_valid, thresholds).mean(axis=0)
        mean_ap = {k: percent(v) for k, v in zip(keys, ap)}
        mean_ap["average"] = percent(float(np.mean(ap)))
        return {"MR-mAP": mean_ap, "MR-R1": {k: percent(np.mean(r1_iou >= t)) for k, t in zip(keys, thresholds)}}


def clip_labels(ground_truth: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Per-clip annotator scores [Q, C, 3] (0 outside the listed clips) and each query's clip count
    int(duration / 2) [Q]; C is the largest count (at least 1)."""
    counts = np.array([int(g["duration"] / HL_CLIP_SECONDS) for g in ground_truth], dtype=np.int64)
    scores = np.zeros((len(ground_truth), max(int(counts.max(initial=0)), 1), HL_ANNOTATORS))
    ids = [g["relevant_clip_ids"] for g in ground_truth]
    query = np.repeat(np.arange(len(ids)), [len(x) for x in ids])
    clip = np.fromiter((c for x in ids for c in x), dtype=np.int64, count=len(query))
    values = np.asarray([v for g in ground_truth for v in g["saliency_scores"]], dtype=np.float64)
    keep = clip < counts[query]  # clips past int(duration / 2) are not scored, as in the official evaluator
    scores[query[keep], clip[keep]] = values.reshape(-1, HL_ANNOTATORS)[keep]
    return scores, counts


def _clip_scores(predictions: Sequence[dict], counts: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(predicted clip scores cut or zero-padded to each query's clip count [Q, width], -inf past it;
    the index of each query's top-scored clip (first max, 0 for none) [Q])."""
    given = [p["pred_saliency_scores"] for p in predictions]
    padded, valid = _padded(given)
    top = np.argmax(np.where(valid, padded, -np.inf), axis=1)
    columns = np.arange(width)[None, :]
    out = np.zeros((len(given), width))
    shared = min(width, padded.shape[1])
    out[:, :shared] = np.where(valid[:, :shared], padded[:, :shared], 0.0)
    return np.where(columns < counts[:, None], out, -np.inf), top


class _ClipRanking:
    """Each query's clips ranked by predicted score (stable), built once for every threshold and
    annotator: `scores` [Q, C] (the first counts[q] count; the rest are -inf)."""

    def __init__(self, scores: np.ndarray, counts: np.ndarray):
        self.order = np.argsort(-scores, axis=1, kind="stable")
        ranked = np.take_along_axis(scores, self.order, axis=1)
        self.seen = np.arange(1, scores.shape[1] + 1)[None, :, None]
        self.inside = (self.seen[..., 0] <= counts[:, None])[..., None]
        group_end = np.ones(scores.shape, dtype=bool)
        group_end[:, :-1] = ranked[:, :-1] != ranked[:, 1:]
        group_end[np.arange(len(scores)), np.maximum(counts - 1, 0)] = True  # the last real clip closes its group
        self.group_end = group_end[..., None] & self.inside
        self.counts = counts[:, None]

    def average_precision(self, labels: np.ndarray) -> np.ndarray:
        """[Q, A] AP of binary `labels` [Q, C, A] under the ranking: tied scores form one threshold;
        precision is interpolated (the best at this or a lower threshold) and averaged over the
        thresholds that add a positive; 0 with no positive, 1 with no negative."""
        tp = np.cumsum(np.take_along_axis(labels, self.order[..., None], axis=1), axis=1)
        precision = np.where(self.group_end, tp / self.seen, -np.inf)
        interpolated = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
        # tp at the previous group's end (tp never decreases, so a running max of the ends, shifted)
        ends = np.maximum.accumulate(np.where(self.group_end, tp, 0.0), axis=1)
        previous = np.zeros_like(tp)
        previous[:, 1:] = ends[:, :-1]
        adds_positive = self.group_end & (tp > previous)
        ap = np.where(adds_positive, interpolated, 0.0).sum(axis=1) / np.maximum(adds_positive.sum(axis=1), 1)
        positives = np.where(self.inside, labels, 0.0).sum(axis=1)
        return np.where(positives == 0, 0.0, np.where(positives == self.counts, 1.0, ap))


def _highlight(predictions: Sequence[dict], ground_truth: Sequence[dict]) -> dict:
    """{"HL-min-Fair": {"HL-mAP": ..., "HL-Hit1": ...}, ...}."""
    annotator_scores, counts = clip_labels(ground_truth)
    width = annotator_scores.shape[1]
    scores, top_clip = _clip_scores(predictions, counts, width)
    ranking = _ClipRanking(scores, counts)
    top_inside = top_clip < counts
    top_scores = annotator_scores[np.arange(len(counts)), np.minimum(top_clip, width - 1)]   # [Q, 3]
    out = OrderedDict()
    for name, min_score in HL_MIN_SCORES.items():
        ap = ranking.average_precision((annotator_scores >= min_score).astype(np.float64))   # [Q, 3]
        hit = top_inside & (top_scores >= min_score).any(axis=1)
        out[f"HL-min-{name}"] = {"HL-mAP": percent(float(ap.mean())), "HL-Hit1": percent(float(hit.mean()))}
    return out


def _paired(predictions: Sequence[dict], ground_truth: Sequence[dict]) -> tuple[list[dict], list[dict]]:
    """Predictions reordered to follow the ground truth by qid; both must hold the same qids once."""
    by_qid = {p["qid"]: p for p in predictions}
    gt_qids = [g["qid"] for g in ground_truth]
    if len(by_qid) != len(predictions) or len(set(gt_qids)) != len(gt_qids):
        raise ValueError("predictions and ground truth must each hold every qid once")
    missing = [q for q in gt_qids if q not in by_qid]
    extra = len(by_qid) - (len(gt_qids) - len(missing))
    if missing or extra:
        raise ValueError(f"the qids of predictions and ground truth must match: {len(missing)} ground-truth "
                         f"queries have no prediction (e.g. {missing[:3]}), {extra} predictions have no ground truth")
    return [by_qid[q] for q in gt_qids], list(ground_truth)


def qvhighlights_report(predictions: Sequence[dict], ground_truth: Sequence[dict]) -> OrderedDict:
    """The official evaluator's whole result: {"brief": {...}, "HL-min-Fair": {...}, ..., "full":
    {"MR-mAP": {...}, "MR-R1": {...}}, "long": ..., "middle": ..., "short": ...}.

    Rows follow the Moment-DETR format: predictions carry `qid`, `pred_relevant_windows`
    ([[start, end, score], ...] in seconds) and optionally `pred_saliency_scores` (one per 2 s clip);
    ground truth carries `qid`, `relevant_windows` ([[start, end], ...]) and, for HL, `duration`,
    `relevant_clip_ids` and `saliency_scores` (3 annotators). MR is scored when every prediction has
    windows, HL when every prediction has clip scores and every ground truth has saliency.
    """
    if not ground_truth:
        raise ValueError("qvhighlights_report needs at least one query, got none")
    predictions, ground_truth = _paired(predictions, ground_truth)
    moments = None
    if all("pred_relevant_windows" in p for p in predictions):
        encoded = _Moments(predictions, ground_truth)
        moments = {name: encoded.scores(bounds) for name, bounds in LENGTH_RANGES.items()}
    highlight = _highlight(predictions, ground_truth) if scores_highlights(predictions, ground_truth) else None
    return assemble_report(moments, highlight)


def scores_highlights(predictions: Sequence[dict], ground_truth: Sequence[dict]) -> bool:
    """Highlight detection is scored when every prediction has clip scores and every ground truth
    has saliency annotations."""
    return (all("relevant_clip_ids" in g and "saliency_scores" in g and "duration" in g for g in ground_truth)
            and all("pred_saliency_scores" in p for p in predictions))


def assemble_report(moments: dict | None, highlight: dict | None) -> OrderedDict:
    """The official layout from the per-range MR results ({"full": {"MR-mAP": ..., "MR-R1": ...},
    "short": ...}) and the HL results ({"HL-min-Fair": {...}, ...}): "brief" first (MR keys sorted,
    then HL), then every block sorted by name."""
    details, brief = {}, OrderedDict()
    if moments is not None:
        details.update(moments)
        full = moments["full"]
        brief.update(sorted({
            "MR-full-mAP": full["MR-mAP"]["average"], "MR-full-mAP@0.5": full["MR-mAP"]["0.5"],
            "MR-full-mAP@0.75": full["MR-mAP"]["0.75"], "MR-short-mAP": moments["short"]["MR-mAP"]["average"],
            "MR-middle-mAP": moments["middle"]["MR-mAP"]["average"],
            "MR-long-mAP": moments["long"]["MR-mAP"]["average"],
            "MR-full-R1@0.5": full["MR-R1"]["0.5"], "MR-full-R1@0.7": full["MR-R1"]["0.7"],
        }.items()))
    if highlight is not None:
        details.update(highlight)
        for name, values in highlight.items():
            brief.update((f"{name}-{key.split('-')[1]}", value) for key, value in values.items())
    report = OrderedDict(brief=brief)
    report.update(sorted(details.items()))
    return report


def qvhighlights_metrics(predictions: Sequence[dict], ground_truth: Sequence[dict]) -> dict[str, float]:
    """The brief block of `qvhighlights_report`: {"MR-full-R1@0.5": ..., "MR-full-mAP": ...,
    "HL-min-VeryGood-mAP": ..., ...}, in percent."""
    return dict(qvhighlights_report(predictions, ground_truth)["brief"])


def nan_to_none(report):
    """`report` with NaN (a length range without queries) as None, so it is valid JSON (null)."""
    if isinstance(report, dict):
        return type(report)((key, nan_to_none(value)) for key, value in report.items())
    return None if isinstance(report, float) and math.isnan(report) else report
