"""`drn predict --queries`: many queries over many videos, batched across videos
(`drn.inference.batch.predict_queries`) against one forward pass per query (`Grounder.ground` per
query, the way a script over the single-video API would run them): 1,000 queries over 360 videos
(Charades-STA's test split has 3,720 over 1,334), T = 32 clips of 64-d features, the demo's narrow
model with random weights (every query then keeps its top-k windows: the full postprocess runs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from drn.config import load_config
from drn.data import Vocabulary
from drn.data.annotations.prediction_queries import PredictionQuery
from drn.demo.synthetic import DEMO_MODEL
from drn.engine.checkpoint import rng_state, save_checkpoint
from drn.engine.experiment import build_model
from drn.inference.batch import predict_queries
from drn.inference.grounder import Grounder

QUERIES, VIDEOS, WINDOWS = 1000, 360, 64
WORDS = "a person opens the door sits on sofa drinks water reads book turns light".split()


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    tmp_dir = tmp_path_factory.mktemp("predict")
    cfg = load_config(None, [f"model.{k}={v}" for k, v in DEMO_MODEL.items()] + ["train.device=cpu"])
    vocab = Vocabulary.from_sentences([" ".join(WORDS)])
    model = build_model(cfg, vocab)
    torch.nn.init.zeros_(model.heads.match.bias)  # p_match ~ 0.5 > the 0.05 threshold: windows to rank and NMS
    path = save_checkpoint({"model": model.state_dict(), "optimizer": None, "stage": 3, "epoch": 1, "epochs_done": 1,
                            "global_step": 0, "rng": rng_state(), "config": cfg, "vocab": {"word2id": vocab.word2id},
                            "metrics": None, "best": None}, f"{tmp_dir}/random.pt")
    grounder = Grounder(path, device="cpu")
    rng = np.random.default_rng(0)
    features = {f"V{i}": rng.standard_normal((WINDOWS, DEMO_MODEL["feature_dim"])).astype(np.float32)
                for i in range(VIDEOS)}
    queries = [PredictionQuery(f"q{i}", f"V{i % VIDEOS}", " ".join(rng.choice(WORDS, size=int(rng.integers(3, 9)))),
                               float(rng.uniform(20, 40)), f"q{i}") for i in range(QUERIES)]
    return grounder, features, queries


def batched(grounder, features, queries):
    return predict_queries(grounder, queries, lambda vid: (features[vid], None), show_progress=False)


def per_query(grounder, features, queries):
    return [grounder.ground(features[q.vid], [q.query], q.duration)[0]["pred_relevant_windows"] for q in queries]


@pytest.mark.parametrize("impl", ["ours", "per-query"])
def test_predict_queries(bench, case, impl):
    grounder, features, queries = case
    if bench.disabled:  # the check alone, on a slice
        queries = queries[:100]
    expected = per_query(grounder, features, queries[:32])

    def check(out):
        windows = [row["pred_relevant_windows"] for row in out] if impl == "ours" else out
        assert len(windows) == len(queries) and all(windows[:32])
        for got, want in zip(windows[:32], expected):
            assert len(got) == len(want)
            for a, b in zip(got, want):
                assert a == pytest.approx(b, abs=2e-4)  # batch composition moves the last float bit

    fn = batched if impl == "ours" else per_query
    bench(lambda: fn(grounder, features, queries), op="predict_queries", workload="1000q_360v", impl=impl,
          size=len(queries), check=check, budget_s=1.0, max_rounds=3)
