"""The QVHighlights metrics written as plain per-query, per-threshold loops: the definitions of
`drn.metrics.qvhighlights`, one query at a time. The tests hold the vectorised module to this one,
and the scoring benchmark times it as the official evaluator's approach (per-query Python loops)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from drn.metrics.qvhighlights import (
    HL_ANNOTATORS,
    HL_CLIP_SECONDS,
    HL_MIN_SCORES,
    LENGTH_RANGES,
    MAX_PRED_WINDOWS,
    MR_IOU_THRESHOLDS,
    assemble_report,
    percent,
    scores_highlights,
)


def in_length_range(predictions: Sequence[dict], ground_truth: Sequence[dict],
                    bounds: tuple[float, float] | None) -> tuple[list[dict], list[dict]]:
    """The queries with a ground-truth window of length in (min, max], keeping only those windows."""
    if bounds is None:
        return list(predictions), list(ground_truth)
    low, high = bounds
    kept_gt, kept_pred = [], []
    for p, g in zip(predictions, ground_truth):
        windows = [w for w in g["relevant_windows"] if low < w[1] - w[0] <= high]
        if windows:
            kept_gt.append({**g, "relevant_windows": windows})
            kept_pred.append(p)
    return kept_pred, kept_gt


def _iou(a, b) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / union if union != 0 else 0.0


def _hull_iou(a, b) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    hull = max(a[1], b[1]) - min(a[0], b[0])
    return inter / hull if hull != 0 else 0.0


def _query_ap(windows, gt_windows, threshold: float) -> float:
    ranked = sorted(windows[:MAX_PRED_WINDOWS], key=lambda w: -w[2])
    used = [False] * len(gt_windows)
    tp = []
    for w in ranked:
        ious = [_iou(w, g) for g in gt_windows]
        best = None
        for j, iou in enumerate(ious):  # the highest IoU wins; equal IoUs: the later window
            if iou >= threshold and not used[j] and (best is None or iou >= ious[best]):
                best = j
        if best is not None:
            used[best] = True
        tp.append(best is not None)
    precision, recall, hits = [], [], 0
    for k, hit in enumerate(tp):
        hits += hit
        precision.append(hits / (k + 1))
        recall.append(hits / len(gt_windows))
    m_precision = [0.0, *precision, 0.0]
    m_recall = [0.0, *recall, 1.0]
    for i in range(len(m_precision) - 2, -1, -1):
        m_precision[i] = max(m_precision[i], m_precision[i + 1])
    return sum((m_recall[i] - m_recall[i - 1]) * m_precision[i]
               for i in range(1, len(m_recall)) if m_recall[i] != m_recall[i - 1])


def _moment_retrieval(predictions, ground_truth) -> dict:
    keys = [str(t) for t in MR_IOU_THRESHOLDS]
    if not ground_truth:
        nan = float("nan")
        return {"MR-mAP": {**{k: nan for k in keys}, "average": nan}, "MR-R1": {k: nan for k in keys}}
    mean_ap, r1 = {}, {}
    per_threshold = []
    for key, threshold in zip(keys, MR_IOU_THRESHOLDS):
        aps, hits = [], []
        for p, g in zip(predictions, ground_truth):
            windows = p["pred_relevant_windows"]
            aps.append(_query_ap(windows, g["relevant_windows"], threshold))
            if windows:
                ious = [_iou(windows[0], gw) for gw in g["relevant_windows"]]
                best = g["relevant_windows"][ious.index(max(ious))]
                hits.append(_hull_iou(windows[0], best) >= threshold)
            else:
                hits.append(False)
        per_threshold.append(sum(aps) / len(aps))
        mean_ap[key] = percent(per_threshold[-1])
        r1[key] = percent(sum(hits) / len(hits))
    mean_ap["average"] = percent(sum(per_threshold) / len(per_threshold))
    return {"MR-mAP": mean_ap, "MR-R1": r1}


def _ranking_ap(labels: list[float], scores: list[float]) -> float:
    if all(y == labels[0] for y in labels):
        return float(labels[0] == 1)
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    precisions, adds = [], []  # at the last item of each distinct score, best score first
    tp = tp_before = 0
    for rank, i in enumerate(order):
        tp += labels[i]
        if rank + 1 == len(order) or scores[order[rank + 1]] != scores[i]:
            precisions.append(tp / (rank + 1))
            adds.append(tp > tp_before)
            tp_before = tp
    for i in range(len(precisions) - 2, -1, -1):  # interpolate: the best precision at this or a lower score
        precisions[i] = max(precisions[i], precisions[i + 1])
    counted = [p for p, added in zip(precisions, adds) if added]
    return sum(counted) / len(counted)


def _highlight(predictions, ground_truth) -> dict:
    out = OrderedDict()
    for name, min_score in HL_MIN_SCORES.items():
        aps, hits = [], []
        for p, g in zip(predictions, ground_truth):
            count = int(g["duration"] / HL_CLIP_SECONDS)
            clip_scores = [[0.0] * HL_ANNOTATORS for _ in range(count)]
            for clip, scores in zip(g["relevant_clip_ids"], g["saliency_scores"]):
                if clip < count:
                    clip_scores[clip] = list(scores)
            predicted = list(p["pred_saliency_scores"][:count]) + [0.0] * max(0, count - len(p["pred_saliency_scores"]))
            for annotator in range(HL_ANNOTATORS):
                labels = [float(s[annotator] >= min_score) for s in clip_scores]
                aps.append(_ranking_ap(labels, predicted))
            all_scores = p["pred_saliency_scores"]
            top = all_scores.index(max(all_scores)) if all_scores else 0
            hits.append(float(top < count and max(clip_scores[top]) >= min_score))
        out[f"HL-min-{name}"] = {"HL-mAP": percent(sum(aps) / len(aps)), "HL-Hit1": percent(sum(hits) / len(hits))}
    return out


def qvhighlights_report_reference(predictions: Sequence[dict], ground_truth: Sequence[dict]) -> OrderedDict:
    """`drn.metrics.qvhighlights.qvhighlights_report`, one query at a time (same layout and keys)."""
    by_qid = {p["qid"]: p for p in predictions}
    predictions = [by_qid[g["qid"]] for g in ground_truth]
    moments = {name: _moment_retrieval(*in_length_range(predictions, ground_truth, bounds))
               for name, bounds in LENGTH_RANGES.items()}
    highlight = _highlight(predictions, ground_truth) if scores_highlights(predictions, ground_truth) else None
    return assemble_report(moments, highlight)
