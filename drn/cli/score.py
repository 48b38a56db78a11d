"""`drn score --gt GT.jsonl --pred PRED.jsonl [--out FILE]`: the QVHighlights moment-retrieval and
highlight-detection metrics of any Moment-DETR-format predictions file, ours or another project's."""

from __future__ import annotations

import math

from drn.cli.common import report_errors


def add_parser(sub):
    p = sub.add_parser("score", help="score a predictions file with the QVHighlights MR/HD metrics",
                       description="Score Moment-DETR-format predictions (pred_relevant_windows, "
                                   "pred_saliency_scores) against QVHighlights-style ground truth with the "
                                   "official evaluator's definitions; prints its brief block.")
    p.add_argument("--gt", required=True, help="ground truth JSONL (qid, relevant_windows[, duration, "
                                               "relevant_clip_ids, saliency_scores])")
    p.add_argument("--pred", required=True, help="predictions JSONL (qid, pred_relevant_windows"
                                                 "[, pred_saliency_scores])")
    p.add_argument("--out", help="write the whole report (the official evaluator's JSON layout) to this file")
    p.add_argument("--allow-missing", action="store_true",
                   help="score the queries both files hold instead of refusing files whose qids differ")
    return p


@report_errors
def run(args) -> int:
    from drn.metrics.qvhighlights import nan_to_none, qvhighlights_report
    from drn.metrics.rows import ScoreInputError, read_ground_truth, read_predictions
    from drn.utils.io import check_output_file, write_json

    out = check_output_file(args.out) if args.out else None
    ground_truth = read_ground_truth(args.gt)
    predictions = read_predictions(args.pred)
    gt_qids = {g["qid"] for g in ground_truth}
    pred_qids = {p["qid"] for p in predictions}
    missing, extra = gt_qids - pred_qids, pred_qids - gt_qids
    if missing or extra:
        shared = len(gt_qids & pred_qids)
        detail = (f"{len(missing)} of {len(gt_qids)} ground-truth queries have no prediction"
                  f"{' (e.g. qid ' + repr(sorted(missing, key=str)[0]) + ')' if missing else ''} and "
                  f"{len(extra)} predictions have no ground truth"
                  f"{' (e.g. qid ' + repr(sorted(extra, key=str)[0]) + ')' if extra else ''}")
        if not args.allow_missing or not shared:
            hint = f"; pass --allow-missing to score the {shared} shared queries" if shared else ""
            raise ScoreInputError(f"the qids of --pred and --gt differ: {detail}{hint}")
        print(f"drn score: scoring the {shared} shared queries: {detail}")
        ground_truth = [g for g in ground_truth if g["qid"] in pred_qids]
        predictions = [p for p in predictions if p["qid"] in gt_qids]
    report = qvhighlights_report(predictions, ground_truth)
    if not report["brief"]:
        raise ScoreInputError("nothing to score: the predictions need `pred_relevant_windows` on every row (moment "
                              "retrieval) or `pred_saliency_scores` on every row with saliency in the ground truth")
    width = max(len(k) for k in report["brief"])
    print(f"QVHighlights metrics of {args.pred} ({len(ground_truth)} queries), in percent:")
    for key, value in report["brief"].items():
        print(f"  {key:<{width}}  {'n/a' if math.isnan(value) else f'{value:.2f}'}")
    if out is not None:
        write_json(out, nan_to_none(report))
        print(f"wrote {out}")
    return 0
