import torch

from drn.model.drn import DRN
from drn.model.losses import drn_losses
from drn.model.postprocess import postprocess


def test_bf16_autocast_forward_with_fp32_losses(small_config, make_batch):
    cfg = small_config()
    torch.manual_seed(0)
    model = DRN(cfg).set_stage(3)
    batch = make_batch(cfg, 4)
    segments, durations = torch.tensor([[1.0, 9.0], [0.0, 3.0], [4.0, 20.0], [2.0, 2.5]]), torch.full((4,), 20.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(*batch)
        losses = drn_losses(out, segments, durations, cfg, stage=3)
    assert out.match_logits[0].dtype == torch.bfloat16  # the model really ran in bf16
    assert all(d.dtype == torch.float32 for d in out.distances)
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in losses.values())
    losses["total"].backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)

    with torch.no_grad():
        reference = drn_losses(model(*batch), segments, durations, cfg, stage=3)
    torch.testing.assert_close(losses["match"].detach(), reference["match"], rtol=0.1, atol=0.02)
    ranked = postprocess(out, durations, cfg)
    assert len(ranked) == 4
