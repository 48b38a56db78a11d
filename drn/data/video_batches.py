"""Batches of queries grouped by video, each video's features loaded once per batch.

The query-independent part of DRN (`DRN.encode_video`) then runs once per video of a batch, not
once per query: Charades-STA's test split has 3,720 queries on 1,334 videos.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from drn.data.dataset import GroundingDataset, collate


def video_batches(vids: Sequence[str], batch_size: int, rank: int = 0, world: int = 1) -> list[list[int]]:
    """Query indices grouped by video and cut into batches of at most `batch_size` queries.

    vids: the video of each query. Videos are taken in order of first appearance, every
    `world`-th one from the `rank`-th (each process of a distributed run gets whole videos); a
    batch holds whole videos unless one video has more than `batch_size` queries.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    by_video: dict[str, list[int]] = {}
    for index, vid in enumerate(vids):
        by_video.setdefault(vid, []).append(index)
    batches: list[list[int]] = []
    current: list[int] = []
    for queries in list(by_video.values())[rank::world]:
        for start in range(0, len(queries), batch_size):
            chunk = queries[start:start + batch_size]
            if current and len(current) + len(chunk) > batch_size:
                batches.append(current)
                current = []
            current = current + chunk
    if current:
        batches.append(current)
    return batches


class VideoBatches(Dataset):
    """Item i is batch i of `batches` (lists of query indices into `dataset`), collated.

    An item is `collate`'s dict for those queries, with "features" float32 [V, T, D] holding each
    distinct video once (in order of first appearance), "video_index" int64 [B] the row of each
    query's video, and "index" the query indices. Use it with DataLoader(batch_size=None).
    """

    def __init__(self, dataset: GroundingDataset, batches: Sequence[Sequence[int]]):
        self.dataset = dataset
        self.batches = [list(batch) for batch in batches]

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> dict:
        indices = self.batches[i]
        rows: dict[str, int] = {}
        for index in indices:
            rows.setdefault(self.dataset.queries[index].vid, len(rows))
        batch = collate([self.dataset.query_item(index) for index in indices])
        batch["features"] = torch.stack([self.dataset.clip_features(vid) for vid in rows]).to(torch.float32)
        batch["video_index"] = torch.tensor([rows[vid] for vid in batch["vid"]], dtype=torch.int64)
        batch["index"] = indices
        return batch
