"""Precision settings: what each resolves to on a device, and inference with the GEMM weights cast
once, which must give exactly what plain autocast gives."""

from __future__ import annotations

import pytest
import torch

from drn.model import DRN
from drn.model import precision as P
from drn.model.precision import InferencePrecision, PrecisionError, lowered_weights, resolve_precision

CPU = torch.device("cpu")


@pytest.mark.parametrize("hardware, expected", [("AMX", "bf16"), ("AVX512-BF16", "bf16"), (None, "fp32")])
def test_auto_is_bf16_where_the_cpu_computes_it(hardware, expected, monkeypatch):
    monkeypatch.setattr(P, "cpu_bf16_hardware", lambda: hardware)
    assert resolve_precision("auto", CPU) == expected
    assert resolve_precision("bf16", CPU) == "bf16"  # asked for: bf16 even where it is emulated
    assert resolve_precision("fp32", CPU) == "fp32"


def test_a_precision_the_cpu_cannot_run_names_its_key():
    with pytest.raises(PrecisionError, match="train.precision is fp16, which runs on CUDA only"):
        resolve_precision("fp16", CPU, "train.precision")
    with pytest.raises(PrecisionError, match=r"eval.precision must be one of \('auto'"):
        resolve_precision("int8", CPU, "eval.precision")


def test_lowered_weights_are_the_linear_and_conv_weights_in_bf16(small_config):
    model = DRN(small_config())
    lowered = lowered_weights(model, "bf16")
    gemm_modules = [m for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv1d))]
    assert len(lowered) == sum(len(list(m.parameters(recurse=False))) for m in gemm_modules)
    params = dict(model.named_parameters())
    for name, tensor in lowered.items():
        assert tensor.dtype == torch.bfloat16 and torch.equal(tensor, params[name].detach().to(torch.bfloat16))
    assert "query_encoder.embedding.weight" not in lowered and not any("norm" in name for name in lowered)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the model keeps its fp32 weights
    assert lowered_weights(model, "fp32") == {}


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_inference_with_weights_cast_once_equals_plain_autocast(precision, small_config, make_batch):
    torch.manual_seed(0)
    model = DRN(small_config()).set_stage(3).eval()
    features, words, lengths = make_batch(small_config(), 5)
    forward = InferencePrecision(model, precision, CPU)
    with torch.no_grad():
        ours = forward(features, words, lengths)
        with P.autocast(CPU, precision):
            reference = model(features, words, lengths)
    assert ours.match_logits[0].dtype == (torch.bfloat16 if precision == "bf16" else torch.float32)
    for name in ("match_logits", "distances", "iou_logits"):
        for a, b in zip(getattr(ours, name), getattr(reference, name)):
            assert torch.equal(a, b), name
    assert all(isinstance(p, torch.nn.Parameter) for p in model.parameters())  # the weights are back
