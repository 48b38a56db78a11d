"""Model-level workloads: Charades-STA test-set evaluation and a training step, at DRN's defaults.

The evaluation workload is the real Charades-STA test annotation (3,720 queries on 1,334 videos,
their sentences and durations) with random C3D-sized features made here (D = 4,096, one window
per 16 frames at 24 fps, as C3D features come), held in memory so that no disk is timed.
`official_style_predictions` is the peer: every query runs the whole network on its own copy of
its video's features, one forward per query, as a per-query inference loop does.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import DataLoader

from drn.data import FeatureSource, GroundingDataset, Vocabulary, collate, read_charades_sta
from drn.engine.evaluate import prediction_row
from drn.metrics.protocol import PER_IOU_KEY, nms_thresholds_per_iou
from drn.metrics.rows import rounded_windows
from drn.model import DRN, DRNConfig
from drn.model.postprocess import inference_config, postprocess_per_nms
from tests.helpers.paths import shared_data_dir

FEATURE_DIM = 4096
WINDOWS_PER_SECOND = 24 / 16
# The config's defaults, in fp32: the peers below run fp32, and their rows must equal ours.
EVAL_CFG = {"batch_size": 64, "nms_threshold": 0.45, "top_k": 10, "protocol": "official", "precision": "fp32"}


def charades_folder() -> Path:
    """`$DRN_SHARED_DATA/charades_sta`, else ../shared/data/charades_sta next to the repository."""
    return shared_data_dir() / "charades_sta"


class MemoryFeatures(FeatureSource):
    """Random [windows, D] features per video, made once from a seed and kept in memory (fp16,
    returned as fp32), so the timed loops read features the way a warm feature cache serves them."""

    def __init__(self, windows: dict[str, int], feature_dim: int, seed: int = 0):
        super().__init__(feature_dim, cache_size=0)
        gen = torch.Generator().manual_seed(seed)
        self._arrays = {vid: torch.randn(n, feature_dim, generator=gen).half() for vid, n in windows.items()}

    def video_ids(self) -> frozenset[str]:
        return frozenset(self._arrays)

    def describe(self, vid: str) -> str:
        return f"memory[{vid}]"

    def _load(self, vid: str) -> torch.Tensor:
        return self._arrays[vid].float()


def charades_test_set(max_videos: int | None = None) -> GroundingDataset:
    """The Charades-STA test split (its first `max_videos` videos) with random C3D-sized features;
    the vocabulary is built from its own sentences."""
    folder = charades_folder()
    queries, _ = read_charades_sta(folder / "charades_sta_test.txt",
                                   [folder / "Charades_v1_train.csv", folder / "Charades_v1_test.csv"])
    vids = list(dict.fromkeys(q.vid for q in queries))[:max_videos]
    keep = set(vids)
    queries = [q for q in queries if q.vid in keep]
    durations = {q.vid: q.duration for q in queries}
    features = MemoryFeatures({vid: max(1, round(durations[vid] * WINDOWS_PER_SECOND)) for vid in vids}, FEATURE_DIM)
    vocab = Vocabulary.from_sentences(q.sentence for q in queries)
    return GroundingDataset(queries, features, vocab, num_clips=32)


def video_slices(dataset: GroundingDataset, videos_per_slice: int) -> list[GroundingDataset]:
    """`dataset` cut into datasets of `videos_per_slice` consecutive videos each (same features,
    vocabulary and clips)."""
    vids = list(dict.fromkeys(q.vid for q in dataset.queries))
    slices = []
    for start in range(0, len(vids), videos_per_slice):
        keep = set(vids[start:start + videos_per_slice])
        slices.append(GroundingDataset([q for q in dataset.queries if q.vid in keep], dataset.source, dataset.vocab,
                                       dataset.num_clips, dataset.pooling))
    return slices


def eval_model(dataset: GroundingDataset) -> DRN:
    """DRN at its defaults (random init, BatchNorm statistics that are not the identity), eval mode,
    after stage 3 (scores use the IoU head)."""
    torch.manual_seed(0)
    model = DRN(DRNConfig(vocab_size=dataset.vocab.num_embeddings)).set_stage(3)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 2.0)
    return model.eval()


@torch.no_grad()
def official_style_predictions(model: DRN, dataset: GroundingDataset, eval_cfg: dict, batch_size: int = 1
                               ) -> list[dict]:
    """Prediction rows with no reuse across queries: each query's own copy of its video's features
    goes through the whole network, `batch_size` queries a forward (1: one query at a time)."""
    config = inference_config(model.config, eval_cfg)
    per_iou = nms_thresholds_per_iou(eval_cfg["protocol"])
    rows = []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate):
        output = model(batch["features"], batch["words"], batch["lengths"])
        ranked, *lists = postprocess_per_nms(output, batch["duration"], config,
                                             [config.nms_threshold, *per_iou.values()], use_iou=True)
        for item, item_ranked in enumerate(ranked):
            row = prediction_row(dataset.queries[len(rows)], item_ranked)
            if per_iou:  # the official protocol: one list per IoU=m, ranked with NMS at m - 0.05
                row[PER_IOU_KEY] = {m: rounded_windows(of_m[item]) for m, of_m in zip(per_iou, lists)}
            rows.append(row)
    return rows


def same_rows(out: list[dict], expected: list[dict], what: str) -> None:
    assert len(out) == len(expected), f"{what}: {len(out)} rows, expected {len(expected)}"
    differ = [i for i, (a, b) in enumerate(zip(out, expected)) if a != b]
    assert not differ, f"{what}: {len(differ)} rows differ, the first at query {out[differ[0]]['qid']}"


def training_batch(config: DRNConfig, batch: int = 32, words: int = 10, seed: int = 0):
    """Random (features [B, T, D], words [B, L], lengths [B], segments [B, 2] s, durations [B] s)."""
    gen = torch.Generator().manual_seed(seed)
    features = torch.randn(batch, config.num_clips, config.feature_dim, generator=gen)
    ids = torch.randint(1, config.vocab_size, (batch, words), generator=gen)
    lengths = torch.randint(max(1, words - 4), words + 1, (batch,), generator=gen)
    lengths[0] = words
    ids[torch.arange(words)[None, :] >= lengths[:, None]] = 0
    starts = torch.rand(batch, generator=gen) * 20.0
    segments = torch.stack([starts, starts + 2.0 + torch.rand(batch, generator=gen) * 8.0], dim=1)
    return features, ids, lengths, segments, torch.full((batch,), 30.0)
