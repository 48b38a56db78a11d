"""Markdown tables of `grounding_benchmark.py` results: one row per benchmark and variant, the mean
over its seeds (and the range of R1@0.7 across them).

`python benchmarks/grounding_tables.py OUT/results.jsonl [...] [--alias OLD=NEW] [--variants A B ...]`

Columns: R1@0.5, R1@0.7, R5@0.7, mIoU over all test queries; R1@0.7 per moment length and for novel
verb-object compositions; how often the top-1 misses and lands on another event of the video
(IoU >= 0.5 with it); training seconds. JSONL benchmarks add highlight detection: HL-min-VeryGood
mAP and HIT@1 of the shipped saliency and of the matching read-out of the same model. `--alias` renames a variant (one recorded under an earlier
name); `--variants` keeps those, in that order.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

LENGTHS = ("<3s", "3-6s", "6-10s", ">=10s")


def read_records(paths: list[str], aliases: dict[str, str]) -> list[dict]:
    records = []
    for path in paths:
        for line in Path(path).read_text().splitlines():
            record = json.loads(line)
            record["variant"] = aliases.get(record["variant"], record["variant"])
            records.append(record)
    # A (bench, seed, variant) run more than once: the last record counts.
    latest = {(r["bench"], r["seed"], r["variant"]): r for r in records}
    return list(latest.values())


def _mean(values: list[float | None]) -> str:
    present = [v for v in values if v is not None]
    return f"{np.mean(present):.1f}" if len(present) == len(values) and present else "-"


def row_of(group: list[dict]) -> str:
    parts = [r["breakdown"] for r in group]
    r17 = [p["all"]["R1@0.7"] for p in parts]
    cells = [_mean([p["all"][k] for p in parts]) for k in ("R1@0.5", "R1@0.7")]
    cells.append(f"{min(r17):.1f}-{max(r17):.1f}" if len(r17) > 1 else "-")
    cells += [_mean([p["all"][k] for p in parts]) for k in ("R5@0.7", "mIoU")]
    cells += [_mean([p.get(name, {}).get("R1@0.7") for p in parts]) for name in LENGTHS + ("novel",)]
    distractor = [sum(p["top1_on_distractor_all"].values()) if "top1_on_distractor_all" in p else None for p in parts]
    cells.append(_mean(distractor))
    cells.append(f"{np.mean([r['seconds'] for r in group]):.0f}")
    seeds = ",".join(str(r["seed"]) for r in sorted(group, key=lambda r: r["seed"]))
    return f"| {group[0]['variant']} | {seeds} | " + " | ".join(cells) + " |"


def saliency_row(group: list[dict]) -> str | None:
    """HL-min-VeryGood mAP / HIT@1 of the shipped saliency and of the matching read-out, mean over seeds."""
    parts = [r["saliency"] for r in group if "saliency" in r]
    if not parts:
        return None
    cells = [_mean([p[source][key] for p in parts]) for source in ("shipped", "matching read-out")
             for key in ("HL-min-VeryGood-mAP", "HL-min-VeryGood-Hit1")]
    head = "head" if all(p["has_head"] for p in parts) else "no head"
    seeds = ",".join(str(r["seed"]) for r in sorted(group, key=lambda r: r["seed"]) if "saliency" in r)
    return f"| {group[0]['variant']} ({head}) | {seeds} | " + " | ".join(cells) + " |"


def print_tables(records: list[dict], variants: list[str] | None = None) -> None:
    """One table per benchmark of `records` (one row per variant: `variants`, in that order, or every
    variant in the order first met), and for JSONL benchmarks the highlight-detection table."""
    for bench in dict.fromkeys(r["bench"] for r in records):
        print(f"\n{bench}:\n")
        print("| variant | seeds | R1@0.5 | R1@0.7 | R1@0.7 range | R5@0.7 | mIoU | <3s | 3-6s | 6-10s | >=10s "
              "| novel | top-1 on another event | train s |")
        print("| --- " * 14 + "|")
        names = variants or list(dict.fromkeys(r["variant"] for r in records if r["bench"] == bench))
        groups = [[r for r in records if r["bench"] == bench and r["variant"] == name] for name in names]
        for group in groups:
            if group:
                print(row_of(group))
        rows = [saliency_row(group) for group in groups if group]
        if any(rows):
            print("\nhighlight detection, HL-min-VeryGood:\n")
            print("| variant | seeds | mAP | HIT@1 | read-out mAP | read-out HIT@1 |")
            print("| --- " * 6 + "|")
            print("\n".join(row for row in rows if row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+")
    parser.add_argument("--alias", action="append", default=[], help="OLD=NEW")
    parser.add_argument("--variants", nargs="*")
    args = parser.parse_args()
    print_tables(read_records(args.results, dict(a.split("=", 1) for a in args.alias)), args.variants)


if __name__ == "__main__":
    main()
