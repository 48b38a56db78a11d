import pytest
import torch

from drn.metrics import grounding_metrics
from drn.model.drn import DRN
from drn.model.losses import drn_losses
from drn.model.postprocess import postprocess


def train(model, stage, steps, lr, batch, segments, durations):
    optimizer = torch.optim.Adam(model.parameter_groups(stage), lr=lr)
    model.set_stage(stage).train()
    for _ in range(steps):
        losses = drn_losses(model(*batch), segments, durations, model.config, stage)
        optimizer.zero_grad()
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        optimizer.step()
    return losses


@pytest.fixture
def one_thread():
    # Tiny tensors: one thread is faster, and far faster on a shared, oversubscribed CPU.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_overfits_eight_samples(small_config, make_batch, one_thread):
    cfg = small_config()
    torch.manual_seed(0)
    model = DRN(cfg)
    features, words, lengths = make_batch(cfg, 8, seed=1)
    durations = torch.tensor([30.0, 24.0, 40.0, 32.0, 16.0, 60.0, 28.0, 36.0])
    fractions = torch.tensor([[0.1, 0.3], [0.5, 0.9], [0.0, 0.25], [0.4, 0.6],
                              [0.2, 0.8], [0.7, 1.0], [0.15, 0.45], [0.6, 0.75]])
    segments = fractions * durations[:, None]

    batch = (features, words, lengths)
    losses = train(model, 1, 200, 3e-3, batch, segments, durations)
    model.eval()
    with torch.no_grad():
        ranked = postprocess(model(*batch), durations, cfg, use_iou=False)
    metrics = grounding_metrics(ranked, segments.tolist())
    assert metrics["R1@0.5"] == 100.0, (metrics, losses)

    # Stage 2 fits the IoU head alone and leaves the stage-1 predictions untouched (both read
    # without gradients: the CPU LSTM takes another kernel, rounded differently, when it records them).
    with torch.no_grad():
        before = model(*batch)
    first = train(model, 2, 1, 1e-3, batch, segments, durations)["iou"].item()
    last = train(model, 2, 60, 1e-3, batch, segments, durations)["iou"].item()
    assert last < 0.5 * first, (first, last)
    model.eval()
    with torch.no_grad():
        after = model(*batch)
        ranked = postprocess(after, durations, cfg, use_iou=True)
    assert all(torch.equal(a, b) for a, b in zip(before.distances + before.match_logits,
                                                 after.distances + after.match_logits))
    assert grounding_metrics(ranked, segments.tolist())["R1@0.5"] == 100.0
