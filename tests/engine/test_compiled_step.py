"""The training step compiled whole (`train.compile`): one graph with no break, for each stage,
with the same losses and updates as the eager step; the padding of the word bucket changes nothing.

Most tests trace with the `aot_eager` backend (dynamo and AOT autograd as in production, eager
kernels: seconds, not minutes of C++ compilation); one runs inductor's generated kernels."""

from __future__ import annotations

import copy

import pytest
import torch

from drn.engine import compiled_step
from drn.engine.compiled_step import CompiledStep, pad_words
from drn.engine.epoch import StepSettings, training_step
from drn.model import DRN, DRNConfig
from tests.helpers.steps import SMALL, step_batch

# IoU-head loss on every location (random data has no location above DRN's 0.9): stage 2 learns.
CONFIG = DRNConfig(**SMALL, iou_loss_threshold=0.0)


@pytest.fixture
def graph_breaks():
    """The dynamo counters of this test: graph breaks, and the graphs compiled."""
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    yield torch._dynamo.utils.counters
    torch._dynamo.reset()


def run_steps(step, model, stage, precision, batches):
    model.set_stage(stage).train()
    optimizer = torch.optim.Adam(model.parameter_groups(stage), lr=1e-3)
    settings = StepSettings(stage=stage, grad_clip=0.5, precision=precision)
    losses = []
    for batch in batches:
        optimizer.zero_grad(set_to_none=True)
        losses.append(step(model, model, batch, optimizer, None, settings))
    return losses


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_the_compiled_step_is_one_graph_equal_to_the_eager_step(stage, graph_breaks, one_thread):
    torch.manual_seed(0)
    eager = DRN(CONFIG)
    compiled = copy.deepcopy(eager)
    # The second batch is smaller (an epoch's last): a second graph, no break.
    batches = [step_batch(CONFIG, 6, seed=1), step_batch(CONFIG, 6, seed=2, max_len=3), step_batch(CONFIG, 4, seed=3)]
    expected = run_steps(training_step, eager, stage, "fp32", batches)
    got = run_steps(CompiledStep(torch.device("cpu"), backend="aot_eager"), compiled, stage, "fp32", batches)
    assert graph_breaks["graph_break"] == {}
    assert graph_breaks["stats"]["unique_graphs"] >= 1
    for ours, theirs in zip(got, expected):
        assert ours.keys() == theirs.keys()
        for name in ours:
            torch.testing.assert_close(ours[name], theirs[name], rtol=1e-5, atol=1e-6)
    assert expected[-1]["total"] > 0
    learned = 0
    for (name, ours), theirs in zip(compiled.named_parameters(), eager.parameters()):
        assert (ours.grad is None) == (theirs.grad is None), name
        if theirs.grad is None:
            continue
        learned += 1
        torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-4, atol=1e-6, msg=name)
        # Adam scales a gradient that is zero but for rounding (a softmax's bias) to a full step.
        if theirs.grad.abs().max() > 1e-6:
            torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5, msg=name)
    assert learned == sum(len(group["params"]) for group in eager.parameter_groups(stage))
    for (name, ours), theirs in zip(compiled.named_buffers(), eager.buffers()):  # BatchNorm statistics
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5, msg=name)


def test_bf16_compiled_step_follows_the_eager_bf16_step(graph_breaks, one_thread):
    torch.manual_seed(0)
    eager = DRN(CONFIG)
    compiled = copy.deepcopy(eager)
    batches = [step_batch(CONFIG, 6, seed=seed) for seed in range(3)]
    expected = run_steps(training_step, eager, 3, "bf16", batches)
    got = run_steps(CompiledStep(torch.device("cpu"), backend="aot_eager"), compiled, 3, "bf16", batches)
    assert graph_breaks["graph_break"] == {}
    for ours, theirs in zip(got, expected):
        torch.testing.assert_close(ours["total"], theirs["total"], rtol=2e-2, atol=1e-3)  # bf16 rounding


def test_padding_to_the_word_bucket_changes_no_output():
    torch.manual_seed(0)
    model = DRN(CONFIG).eval()
    batch = step_batch(CONFIG, 5, seed=4, max_len=5)
    padded = pad_words(batch["words"])
    assert padded.shape == (5, 8) and torch.equal(padded[:, :5], batch["words"]) and not padded[:, 5:].any()
    assert pad_words(padded) is padded
    features = torch.randn(2, 3, 4)
    assert pad_words(features).shape == (2, 8, 4)
    with torch.no_grad():
        a = model(batch["features"], batch["words"], batch["lengths"])
        b = model(batch["features"], padded, batch["lengths"])
    for x, y in zip(a.match_logits + a.distances + a.iou_logits, b.match_logits + b.distances + b.iou_logits):
        torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-6)


def test_no_grad_scaler_in_a_compiled_step():
    model = DRN(CONFIG)
    optimizer = torch.optim.Adam(model.parameters())
    with pytest.raises(ValueError, match="grad scaler"):
        CompiledStep(torch.device("cpu"), backend="aot_eager")(
            model, model, step_batch(CONFIG, 2), optimizer, object(), StepSettings(1, 0.5, "fp32"))


@pytest.mark.slow
def test_inductor_compiles_the_step_whole(graph_breaks, one_thread):
    """The production backend: C++ kernels generated for the whole step (a minute or more on a
    busy CPU the first time; torch caches them on disk)."""
    torch.manual_seed(0)
    eager = DRN(CONFIG)
    compiled = copy.deepcopy(eager)
    batches = [step_batch(CONFIG, 6, seed=seed) for seed in range(2)]
    expected = run_steps(training_step, eager, 3, "bf16", batches)
    got = run_steps(CompiledStep(torch.device("cpu")), compiled, 3, "bf16", batches)
    assert graph_breaks["graph_break"] == {}
    assert compiled_step.WORD_BUCKET == 8
    for ours, theirs in zip(got, expected):
        torch.testing.assert_close(ours["total"], theirs["total"], rtol=2e-2, atol=1e-3)


@pytest.mark.cuda
def test_on_cuda_the_compiled_step_is_a_cuda_graph_equal_to_eager(graph_breaks):
    """mode="reduce-overhead": the step replays as a CUDA graph (inductor skipped none), with the
    Adam state on the GPU (capturable), and follows the eager bf16 step."""
    torch.manual_seed(0)
    cuda = torch.device("cuda")
    eager = DRN(CONFIG).to(cuda)
    compiled = copy.deepcopy(eager)
    batches = [{k: v.to(cuda) for k, v in step_batch(CONFIG, 6, seed=seed).items()} for seed in range(4)]
    settings = StepSettings(stage=3, grad_clip=0.5, precision="bf16")
    results = {}
    for name, model, step, options in (("eager", eager, training_step, {"fused": True}),
                                       ("compiled", compiled, CompiledStep(cuda), {"capturable": True})):
        model.set_stage(3).train()
        optimizer = torch.optim.Adam(model.parameter_groups(3), lr=1e-3, **options)
        results[name] = []
        for batch in batches:
            optimizer.zero_grad(set_to_none=True)
            results[name].append(step(model, model, batch, optimizer, None, settings)["total"].item())
    assert graph_breaks["graph_break"] == {}
    assert graph_breaks["inductor"]["cudagraph_skips"] == 0
    assert results["compiled"] == pytest.approx(results["eager"], rel=2e-2, abs=1e-3)


@pytest.mark.cuda
def test_fp16_step_with_a_grad_scaler_on_cuda():
    torch.manual_seed(0)
    model = DRN(CONFIG).cuda().set_stage(3).train()
    optimizer = torch.optim.Adam(model.parameter_groups(3), lr=1e-3, fused=True)
    scaler = torch.amp.GradScaler("cuda")
    before = [p.detach().clone() for p in model.parameters()]
    for seed in range(3):
        optimizer.zero_grad(set_to_none=True)
        batch = {k: v.cuda() for k, v in step_batch(CONFIG, 6, seed=seed).items()}
        losses = training_step(model, model, batch, optimizer, scaler, StepSettings(3, 0.5, "fp16"))
        assert all(torch.isfinite(v) for v in losses.values())
    assert scaler.get_scale() > 0
    assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), before))
