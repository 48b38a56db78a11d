"""Workload (5): the whole model. Charades-STA test-set evaluation (3,720 queries on 1,334
videos, T = 32, D = 4,096) and a training step (batch 32), each at 1 and 2 threads.

Evaluation, ours: `predict_dataset`, batches of whole videos, each video's query-independent part
(its features' Linear(D, D), the position embedding) computed once for all its queries. Peers, on
the same model and data: the official-style path (one query per forward, each on its own copy of
its features) and the same path batched 64 queries a forward (the evaluation loop before this
change). Every peer's prediction rows must equal ours exactly. The paths take turns on slices of
50 videos, each path's time summed over the slices (a shared machine's load drifts over all alike).
With --benchmark-disable the checks run on the first 4 videos, at 1 thread;
DRN_BENCH_CHARADES_VIDEOS=N times the first N videos only.
The training step: forward, stage-1 losses, backward and an Adam step, batch 32, 10 words.
"""

from __future__ import annotations

import functools
import os
import time

import model_workloads as M
import pytest
import torch

from drn.engine.evaluate import predict_dataset
from drn.model import DRN, DRNConfig, drn_losses
from tests.helpers.paths import shared_file

THREADS = (1, 2)
EVAL_IMPLS = {"ours": None, "official-style": 1, "batched 64": 64}  # peer -> queries per forward
CHECK_VIDEOS = 4
CHUNK_VIDEOS = 50


def eval_workload(threads: int) -> str:
    return f"charades-test-{threads}t"


@functools.lru_cache(maxsize=None)
def charades_case(max_videos: int | None):
    shared_file("charades_sta/charades_sta_test.txt")
    dataset = M.charades_test_set(max_videos)
    return dataset, M.eval_model(dataset)


@pytest.fixture
def threads(request):
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


def predictions(impl: str, model, dataset) -> list[dict]:
    if impl == "ours":
        return predict_dataset(model, dataset, torch.device("cpu"), M.EVAL_CFG, use_iou=True)
    return M.official_style_predictions(model, dataset, M.EVAL_CFG, EVAL_IMPLS[impl])


@pytest.mark.parametrize("threads", THREADS, indirect=True)
def test_charades_evaluation(bench, threads):
    """The three paths take turns on slices of CHUNK_VIDEOS videos (the order rotating), so that
    the load of a shared machine weighs on all of them alike; each path's time is its sum over the
    slices, and on every slice the peers' rows must equal ours."""
    if bench.disabled and threads > 1:
        return bench.done()  # the checks need not run twice
    env_videos = os.environ.get("DRN_BENCH_CHARADES_VIDEOS")
    max_videos = CHECK_VIDEOS if bench.disabled else int(env_videos) if env_videos else None
    dataset, model = charades_case(max_videos)
    impls = list(EVAL_IMPLS)
    seconds = dict.fromkeys(impls, 0.0)
    chunks = M.video_slices(dataset, CHUNK_VIDEOS)
    for k, chunk in enumerate(chunks):
        rows = {}
        for impl in impls[k % len(impls):] + impls[:k % len(impls)]:
            began = time.perf_counter()
            rows[impl] = predictions(impl, model, chunk)
            seconds[impl] += time.perf_counter() - began
        assert [row["qid"] for row in rows["ours"]] == [q.qid for q in chunk.queries]
        for impl in impls[1:]:
            M.same_rows(rows[impl], rows["ours"], f"{impl} vs ours, slice {k}")
    bench.done()
    if not bench.disabled:
        for impl in impls:
            bench.record(op="DRN evaluation", workload=eval_workload(threads), impl=impl, size=len(dataset),
                         seconds=seconds[impl], rounds=len(chunks))


@pytest.mark.parametrize("threads", THREADS, indirect=True)
def test_training_step(bench, threads):
    if bench.disabled and threads > 1:
        return bench.done()
    torch.manual_seed(0)
    config = DRNConfig.published()  # the published DRN, as the official step and earlier figures
    model = DRN(config).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    features, words, lengths, segments, durations = M.training_batch(config)

    def step():
        optimizer.zero_grad(set_to_none=True)
        losses = drn_losses(model(features, words, lengths), segments, durations, config, 1)
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        optimizer.step()
        return losses

    bench(step, op="DRN training step", workload=f"batch32-{threads}t", impl="ours", size=features.shape[0],
          check=lambda losses: all(torch.isfinite(v) for v in losses.values()), budget_s=3.0)
