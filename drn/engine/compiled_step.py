"""The training step as one `torch.compile` graph (`train.compile`): forward, losses, backward,
gradient clipping and Adam's update, with no graph break (`fullgraph=True` fails on any); on CUDA
it is also captured as a CUDA graph (`mode="reduce-overhead"`).

What makes that possible: the padded BiLSTM (no host-dependent shapes, drn.model.query_encoder),
the losses' masks as weights (no data-dependent shapes), the registered ops' fake kernels, the
backward traced as `autograd.grad` (dynamo's `trace_autograd_ops`) and Adam's functional update
(drn.engine.adam). The word dimension is padded to a multiple of `WORD_BUCKET`, so that batches
of different sentence lengths share a few graphs; the padding changes no output (the encoder
masks it). fp16's grad scaler skips steps on the host and is not compiled.
"""

from __future__ import annotations

import torch

from drn.data import PAD_ID
from drn.engine.adam import init_adam_state
from drn.engine.epoch import StepSettings, training_step
from drn.model import DRN

WORD_BUCKET = 8  # sentences are padded to a multiple of this many words
# Graphs per stage: a few word buckets, and the last, smaller batch of an epoch.
RECOMPILE_LIMIT = 64
DYNAMO_SETTINGS = {"trace_autograd_ops": True,  # loss.backward() traced as autograd.grad, in the graph
                   "allow_rnn": True,  # the encoder reads nn.LSTM's weights (it runs the two directions itself)
                   "recompile_limit": RECOMPILE_LIMIT}


def pad_words(words: torch.Tensor, multiple: int = WORD_BUCKET) -> torch.Tensor:
    """[B, L] word ids (or [B, L, D] text features) padded after the last word to a length that is
    a multiple of `multiple` (with PAD_ID, or zeros)."""
    missing = -words.shape[1] % multiple
    if not missing:
        return words
    pad = (0, missing) if words.dim() == 2 else (0, 0, 0, missing)
    return torch.nn.functional.pad(words, pad, value=PAD_ID if words.dim() == 2 else 0.0)


class CompiledStep:
    """`training_step`, compiled whole (call it as the function). The first call of each stage,
    word bucket and batch size compiles (minutes at DRN's widths on a CPU; torch caches the
    result on disk for the next run); later calls run the graph.

    Args:
        device: where the model trains (CUDA adds CUDA-graph capture).
        backend: torch.compile's backend ("inductor" generates the kernels; "aot_eager" traces the
            same graph, forward and backward, and runs it with eager kernels: for tests).
    """

    def __init__(self, device: torch.device, backend: str = "inductor"):
        mode = "reduce-overhead" if device.type == "cuda" and backend == "inductor" else None
        self.compiled = torch.compile(training_step, fullgraph=True, backend=backend, mode=mode)

    def __call__(self, model: DRN, forward: torch.nn.Module, batch: dict[str, torch.Tensor],
                 optimizer: torch.optim.Adam, scaler: torch.amp.GradScaler | None, settings: StepSettings
                 ) -> dict[str, torch.Tensor]:
        if scaler is not None:
            raise ValueError("the compiled step has no grad scaler (fp16): train fp16 eager, or compile bf16/fp32")
        init_adam_state(optimizer)  # the state Adam.step would create lazily, which a graph cannot
        batch = {**batch, "words": pad_words(batch["words"])}
        with torch._dynamo.config.patch(**DYNAMO_SETTINGS):
            return self.compiled(model, forward, batch, optimizer, scaler, settings)
