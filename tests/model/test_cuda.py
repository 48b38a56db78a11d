import copy

import pytest
import torch

from drn.model.drn import DRN
from drn.model.losses import drn_losses
from drn.model.postprocess import postprocess

pytestmark = pytest.mark.cuda

SEGMENTS = torch.tensor([[1.0, 9.0], [0.0, 3.0], [4.0, 20.0], [2.0, 12.5]])
DURATIONS = torch.full((4,), 20.0)


def test_cuda_forward_and_inference_match_cpu(small_config, make_batch):
    cfg = small_config(score_threshold=0.0)
    torch.manual_seed(0)
    model = DRN(cfg).eval()
    with torch.no_grad():
        for p in model.heads.parameters():  # spread the scores apart
            p.normal_(0, 0.3)
    batch = make_batch(cfg, 4)
    on_gpu = copy.deepcopy(model).cuda()
    with torch.no_grad():
        cpu_out = model(*batch)
        gpu_out = on_gpu(*[x.cuda() for x in batch])
    for name in ("match_logits", "distances", "iou_logits", "points"):
        for a, b in zip(getattr(cpu_out, name), getattr(gpu_out, name)):
            torch.testing.assert_close(b.cpu(), a, rtol=1e-2, atol=1e-3)  # TF32 convolutions
    cpu_ranked = postprocess(cpu_out, DURATIONS, cfg)
    gpu_ranked = postprocess(gpu_out, DURATIONS.cuda(), cfg)
    for a, b in zip(cpu_ranked, gpu_ranked):
        assert a and b and b[0][2] == pytest.approx(a[0][2], abs=1e-3)  # the best score survives any NMS
        if a[0][2] - a[1][2] > 1e-2:  # a clear winner is the same segment
            assert b[0] == pytest.approx(a[0], abs=1e-2)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_autocast_training_step(small_config, make_batch, dtype):
    cfg = small_config()
    torch.manual_seed(0)
    model = DRN(cfg).cuda().set_stage(3).train()
    features, words, lengths = (x.cuda() for x in make_batch(cfg, 4))
    with torch.autocast("cuda", dtype=dtype):
        out = model(features, words, lengths)
        losses = drn_losses(out, SEGMENTS.cuda(), DURATIONS.cuda(), cfg, stage=3)
    assert out.match_logits[0].dtype == dtype and out.distances[0].dtype == torch.float32
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in losses.values())
    losses["total"].backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
