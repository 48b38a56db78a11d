import pytest
import torch

from drn.model.drn import DRN


def batch_norms(module):
    return [m for m in module.modules() if isinstance(m, torch.nn.BatchNorm1d)]


def test_parameter_groups_cover_each_stage(small_config):
    model = DRN(small_config())
    names = {stage: [g["name"] for g in model.parameter_groups(stage)] for stage in (1, 2, 3)}
    assert names[1] == ["query_encoder", "backbone", "fpn", "heads"]
    assert names[2] == ["iou_head"]
    count = lambda stage: sum(p.numel() for g in model.parameter_groups(stage) for p in g["params"])
    assert count(1) + count(2) == count(3) == sum(p.numel() for p in model.parameters())
    with pytest.raises(ValueError, match="stage must be one of"):
        model.parameter_groups(4)


def test_stage_one_freezes_only_the_iou_head(small_config):
    model = DRN(small_config())
    assert model.stage == 1
    assert not any(p.requires_grad for p in model.iou_head.parameters())
    assert all(p.requires_grad for p in model.backbone.parameters())


def test_stage_two_trains_only_the_iou_head_and_keeps_frozen_batchnorm_in_eval(small_config, make_batch):
    cfg = small_config()
    model = DRN(cfg).set_stage(2)
    model.train()
    assert all(bn.training for bn in batch_norms(model.iou_head))
    frozen_bns = batch_norms(model.backbone) + batch_norms(model.fpn) + batch_norms(model.heads)
    assert frozen_bns and not any(bn.training for bn in frozen_bns)
    before = [bn.running_mean.clone() for bn in frozen_bns]
    iou_before = [bn.running_mean.clone() for bn in batch_norms(model.iou_head)]

    out = model(*make_batch(cfg, 3))
    assert not any(x.requires_grad for x in out.match_logits + out.distances)
    sum(x.sum() for x in out.iou_logits).backward()
    assert all(p.grad is not None for p in model.iou_head.parameters())
    assert all(p.grad is None for name, p in model.named_parameters() if not name.startswith("iou_head."))
    assert all(torch.equal(a, bn.running_mean) for a, bn in zip(before, frozen_bns))
    assert not all(torch.equal(a, bn.running_mean) for a, bn in zip(iou_before, batch_norms(model.iou_head)))

    model.set_stage(3)
    assert all(bn.training for bn in batch_norms(model)) and all(p.requires_grad for p in model.parameters())
    model.eval().set_stage(2)
    assert not any(bn.training for bn in batch_norms(model))
