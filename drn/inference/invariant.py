"""Batch-invariant grounding: the moments ranked for a query do not depend on which other queries
share its forward pass, so `drn serve` can batch the requests of many users and give each the answer
it would get alone, to the printed digits.

On a CPU, three things make a row of a batched forward differ from the same query run alone (each
measured in tests/inference/test_invariant.py):
- PyTorch picks a convolution algorithm by the batch size (im2col + MKL for one small input,
  oneDNN for a few, NNPACK from 16), and each sums its products in its own order;
- MKL picks a GEMM kernel by the number of rows (a matrix-vector product for one), so a row of a
  Linear changes with the batch;
- sigmoid runs vectorised on whole SIMD blocks and scalar on the tail, whose place moves with the
  batch.
So here every convolution is oneDNN's direct convolution with its weights packed once (it sums each
output in one order whatever the batch; the batch only splits the work between threads), the query
encoder and the video's Linear(D, D) run on one sentence and one video at a time (callers cache
their results), and the post-processing runs query by query.

Elsewhere (CUDA, bf16 or fp16, a float64 model) the model runs as it is, and `invariant` is
False: batching across requests is then not exact, and `drn serve` does not batch.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from drn.metrics.rows import rounded_windows
from drn.model import DRN, postprocess
from drn.model.config import DRNConfig
from drn.model.drn import DRNOutput, VideoEncoding
from drn.model.precision import autocast


class PackedConv1d(nn.Module):
    """An eval-mode `nn.Conv1d` run as oneDNN's direct convolution, weights reordered once."""

    def __init__(self, conv: nn.Conv1d):
        super().__init__()
        self.padding = [0, conv.padding[0]]
        self.stride = [1, conv.stride[0]]
        self.dilation = [1, conv.dilation[0]]
        self.groups = conv.groups
        weight = conv.weight.detach().unsqueeze(2).to_mkldnn()  # [O, C, 1, k]: a 1-row 2-D convolution
        self.weight = torch._C._nn.mkldnn_reorder_conv2d_weight(weight, self.padding, self.stride, self.dilation,
                                                                 self.groups)
        self.bias = None if conv.bias is None else conv.bias.detach().to_mkldnn()

    def forward(self, x: Tensor) -> Tensor:
        y = torch.mkldnn_convolution(x.unsqueeze(2).contiguous().to_mkldnn(), self.weight, self.bias, self.padding,
                                     self.stride, self.dilation, self.groups)
        return y.to_dense().squeeze(2)


def with_packed_convolutions(model: nn.Module) -> nn.Module:
    """A copy of `model` (sharing its parameters and buffers) whose Conv1d layers are `PackedConv1d`."""
    shared = {id(t): t for t in (*model.parameters(), *model.buffers())}
    packed = copy.deepcopy(model, memo=shared)

    def swap(module: nn.Module) -> None:
        for name, child in module.named_children():
            if isinstance(child, nn.Conv1d):
                setattr(module, name, PackedConv1d(child))
            else:
                swap(child)

    swap(packed)
    return packed


def can_be_invariant(model: DRN, precision: str) -> bool:
    """Whether `model` can run batch-invariant here: float32 on a CPU with oneDNN, in fp32 (a
    resolved precision: no autocast)."""
    parameter = next(model.parameters())
    return (parameter.device.type == "cpu" and parameter.dtype == torch.float32 and precision == "fp32"
            and torch.backends.mkldnn.is_available())


@dataclass
class EncodedSentence:
    """What grounding needs of one encoded sentence: its three level commands [1, width_l] and its
    word attention [1, 3, L] (see `QueryEncoding`)."""

    commands: list[Tensor]
    attention: Tensor

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.commands) + self.attention.nbytes


@dataclass
class Grounded:
    """One query's answer: its ranked [start, end, score] windows (seconds, rounded as the rows
    write them, best first) and the per-level dense curves {"time", "match", "iou"} (lists)."""

    windows: list[list[float]]
    dense: dict


class BatchInvariantDRN:
    """A trained DRN (eval mode) that grounds batches of encoded queries in encoded videos.

    Args:
        model: the DRN, in eval mode; its parameters are shared, not copied.
        config: the model's inference settings (`inference_config`).
        use_iou: multiply in the IoU head (stage > 1).
        precision: a resolved precision (`resolve_precision`): "fp32", or "bf16" / "fp16" under
            autocast, never invariant.
    """

    def __init__(self, model: DRN, config: DRNConfig, use_iou: bool, precision: str = "fp32"):
        self.invariant = can_be_invariant(model, precision)
        self.model = with_packed_convolutions(model) if self.invariant else model
        self.config = config
        self.use_iou = use_iou
        self.precision = precision
        self.device = next(model.parameters()).device

    @torch.no_grad()
    def encode_sentence(self, words: Tensor, lengths: Tensor) -> EncodedSentence:
        """One sentence: words [1, L] int64 ids, lengths [1] -> its `EncodedSentence`."""
        if words.shape[0] != 1:
            raise ValueError("encode one sentence at a time (its result must not depend on others), "
                             f"got {words.shape[0]}")
        with autocast(self.device, self.precision):
            query = self.model.query_encoder(words.to(self.device), lengths)
        return EncodedSentence(query.commands, query.attention)

    @torch.no_grad()
    def encode_video(self, clips: Tensor) -> VideoEncoding:
        """One video's clips [T, D] -> its `VideoEncoding` (a batch of 1)."""
        with autocast(self.device, self.precision):
            return self.model.encode_video(clips.unsqueeze(0).to(self.device))

    @torch.no_grad()
    def ground(self, videos: Sequence[VideoEncoding], sentences: Sequence[EncodedSentence], video_index: Sequence[int],
               durations: Sequence[float]) -> list[Grounded]:
        """Query b: sentence b in video video_index[b] of duration durations[b] seconds; one forward
        for them all, then each query ranked on its own."""
        video = VideoEncoding(torch.cat([v.clips for v in videos]), videos[0].positions)
        commands = [torch.cat([s.commands[level] for s in sentences]) for level in range(len(sentences[0].commands))]
        longest = max(s.attention.shape[-1] for s in sentences)
        attention = torch.cat([nn.functional.pad(s.attention, (0, longest - s.attention.shape[-1]))
                               for s in sentences])
        index = torch.as_tensor(list(video_index), dtype=torch.int64, device=self.device)
        with autocast(self.device, self.precision):
            output = self.model.forward_commands(video, commands, attention, index)
        return [self._rank(_one_query(output, b), float(duration)) for b, duration in enumerate(durations)]

    def _rank(self, output: DRNOutput, duration: float) -> Grounded:
        ranked = postprocess(output, [duration], self.config, use_iou=self.use_iou)[0]
        dense = {"time": [(p * duration / output.num_clips).tolist() for p in output.points],
                 "match": [p[0].tolist() for p in output.match_probs],
                 "iou": [p[0].tolist() for p in output.iou_probs]}
        return Grounded(rounded_windows(ranked), dense)


def _one_query(output: DRNOutput, b: int) -> DRNOutput:
    """Query b of a batched output, laid out in memory as a batch of one is."""
    def row(tensors: list[Tensor]) -> list[Tensor]:
        return [t[b:b + 1].clone() for t in tensors]

    return DRNOutput(row(output.match_logits), row(output.distances), row(output.iou_logits), output.points,
                     output.attention[b:b + 1], output.num_clips)
