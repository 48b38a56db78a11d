"""`model.double()` runs DRN end to end in float64: forward, losses, gradients, post-processing."""

import torch

from drn.model import DRN, drn_losses, postprocess


def test_double_model_computes_in_float64_and_agrees_with_float32(small_config, make_batch):
    cfg = small_config(score_threshold=0.0)
    torch.manual_seed(0)
    model32 = DRN(cfg).train()
    model64 = DRN(cfg).train()
    model64.load_state_dict(model32.state_dict())
    model64.double()
    features, words, lengths = make_batch(cfg, 3)
    truth = torch.tensor([[2.0, 9.5], [0.0, 4.0], [10.0, 30.0]])
    durations = torch.tensor([20.0, 8.0, 30.0])

    out32 = model32(features, words, lengths)
    out64 = model64(features.double(), words, lengths)
    tensors64 = [*out64.match_logits, *out64.distances, *out64.iou_logits, *out64.points, out64.attention,
                 *out64.match_probs, *out64.iou_probs]
    assert {t.dtype for t in tensors64} == {torch.float64}
    for a, b in zip(out32.distances + out32.match_logits, out64.distances + out64.match_logits):
        torch.testing.assert_close(b.float(), a, rtol=1e-4, atol=1e-5)

    losses64 = drn_losses(out64, truth.double(), durations.double(), cfg, stage=3)
    losses32 = drn_losses(out32, truth, durations, cfg, stage=3)
    assert {v.dtype for v in losses64.values()} == {torch.float64}
    for name in ("match", "regression", "iou"):
        torch.testing.assert_close(losses64[name].float(), losses32[name], rtol=1e-4, atol=1e-6)
    losses64["total"].backward()
    grads = [p.grad for p in model64.parameters() if p.grad is not None]
    assert grads and {g.dtype for g in grads} == {torch.float64}
    assert all(torch.isfinite(g).all() for g in grads)

    model64.eval()
    with torch.no_grad():
        ranked = postprocess(model64(features.double(), words, lengths), durations, cfg)
    assert all(ranked) and all(0.0 <= s <= e <= float(d) for r, d in zip(ranked, durations) for s, e, _ in r)
