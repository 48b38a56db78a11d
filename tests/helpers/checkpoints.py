"""Small random-init checkpoints and feature folders for the `drn serve` and inference tests and the
serve benchmark, built in well under a second."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from drn.config import load_config
from drn.data import Vocabulary
from drn.engine.checkpoint import rng_state, save_checkpoint
from drn.engine.experiment import build_model

WORDS = ("a", "person", "opens", "the", "door", "sits", "on", "sofa", "drinks", "from", "cup")
# Wide enough that PyTorch picks other convolution and GEMM kernels for other batch sizes (the batched
# forward's rows then differ from the same queries alone unless the engine prevents it), still fast.
MID_MODEL = {"embedding_dim": 32, "lstm_hidden": 64, "attention_dim": 64, "position_dim": 32,
             "level_channels": [64, 128, 256], "fpn_channels": 128}
MID_FEATURE_DIM = 512
TINY_MODEL = {"feature_dim": 16, "embedding_dim": 8, "lstm_hidden": 8, "attention_dim": 8, "position_dim": 8,
              "level_channels": [8, 16, 16], "fpn_channels": 16}


def random_checkpoint(path: Path, feature_dim: int = 16, seed: int = 0, extra: dict | None = None,
                      model: dict | None = None, match_gain: float = 3000.0) -> Path:
    """A random-init DRN (tiny widths unless `model` gives others) whose matching head is spread
    out (bias 0, weights times `match_gain`), so scores differ between locations; the config's
    model.score_threshold 0 keeps every location, and eval.precision fp32 grounds batch-invariant
    (drn.inference.invariant; bf16 does not). Deterministic in `seed`."""
    widths = {**TINY_MODEL, "feature_dim": feature_dim} if model is None else {**model, "feature_dim": feature_dim}
    overrides = [f"model.{key}={json.dumps(value)}" for key, value in widths.items()]
    cfg = load_config(None, overrides + ["model.score_threshold=0.0", "train.device=cpu", "eval.top_k=5",
                                         "eval.precision=fp32"])
    vocab = Vocabulary({word: i for i, word in enumerate(WORDS, start=1)})
    torch.manual_seed(seed)
    model = build_model(cfg, vocab, load_glove=False)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("match.bias"):
                param.zero_()
            elif name.endswith("match.weight"):
                param.mul_(match_gain)
    payload = {"model": model.state_dict(), "optimizer": None, "scaler": None, "stage": 1, "epoch": 1,
               "epochs_done": 1, "global_step": 1, "rng": rng_state(), "config": cfg,
               "vocab": {"word2id": vocab.word2id}, "metrics": None, "best": None, **(extra or {})}
    return save_checkpoint(payload, path)


def features_folder(root: Path, durations: dict[str, float], feature_dim: int = 16, seed: int = 0,
                    settings: dict | None = None) -> Path:
    """A folder as `drn extract` writes it: extract.json (with `settings`, or made-up ones of a
    "random" backbone) and one VID.npy of random [windows, D] per video."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    videos = {}
    for vid, duration in durations.items():
        windows = max(4, int(duration))
        np.save(root / f"{vid}.npy", rng.standard_normal((windows, feature_dim)).astype(np.float32))
        videos[vid] = {"duration": duration, "num_clips": windows, "source": f"{vid}.mp4"}
    index = {"backbone": "random", "weights": "none", "clip_seconds": 1.0, "frames_per_clip": 1, "frame_size": 32,
             "dim": feature_dim, "dtype": "float32"} if settings is None else dict(settings)
    index["videos"] = videos
    (root / "extract.json").write_text(json.dumps(index))
    return root
