"""The official DRN's training step, as a peer: the published code's structure, written here on the
modules (and so the weights and GEMMs) of a `drn.model.DRN`.

The published code (github.com/Alvin-Zeng/DRN) needs CUDA and maskrcnn-benchmark's compiled
layers, so its step is re-stated in plain PyTorch with what it does on each batch: the batch
sorted by sentence length (its collate does that) and a packed BiLSTM, the sentence vector
gathered query by query in a Python loop, the query attention's shared projection recomputed for
each level, a position embedding per query and per level, the IoU head run in every stage, FCOS's
targets built image by image in a Python loop with INF-masked areas, the focal loss as a
composite (maskrcnn-benchmark's CPU path), the IoU loss on the positives picked by `nonzero`,
four `.item()` reads for its logs, `clip_grad_norm_` over every parameter and torch's default Adam
(a loop over the parameters on a CPU), all in fp32. Its stage-1 losses equal `drn_losses` to
float rounding (checked by benchmarks/test_precision.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from drn.model import DRN

INF = 100000000


def sorted_by_length(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The batch in the order the official collate gives: sentences longest first."""
    order = torch.sort(batch["lengths"], descending=True, stable=True).indices
    return {key: value.index_select(0, order) for key, value in batch.items()}


def official_commands(model: DRN, words: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
    encoder = model.query_encoder
    packed = pack_padded_sequence(encoder.embedding(words), lengths.cpu(), batch_first=True)
    states, _ = pad_packed_sequence(encoder.lstm(packed)[0], batch_first=True)
    sentence = torch.stack([torch.cat((states[i][0], states[i][length - 1]), dim=-1)
                            for i, length in enumerate(lengths)])
    padded = torch.arange(states.shape[1], device=states.device)[None, :] >= lengths.to(states.device)[:, None]
    commands = []
    for level in range(3):
        context = encoder.level_proj[level](torch.relu(encoder.sentence_proj(sentence)))
        scores = encoder.attention_score(context[:, None, :] * states).squeeze(-1).masked_fill(padded, -float("inf"))
        attended = torch.bmm(F.softmax(scores, dim=-1)[:, None, :], states).squeeze(1)
        commands.append(encoder.command_proj[level](attended))
    return commands


def official_forward(model: DRN, features: torch.Tensor, words: torch.Tensor, lengths: torch.Tensor):
    """(match logits, distances, IoU logits) per level, [B, T_l] / [B, T_l, 2] / [B, T_l]."""
    backbone, batch, clips = model.backbone, features.shape[0], features.shape[1]
    commands = official_commands(model, words, lengths)
    starts = torch.arange(clips, dtype=features.dtype, device=features.device)[None, :].expand(batch, -1) / clips
    props = torch.stack([starts, starts + 1.0 / clips], dim=-1)  # [B, T, 2] per query, as its loader gives
    info = [props, props, torch.cat([props[:, ::2, :1], props[:, 1::2, 1:]], dim=-1)]
    positions = [backbone.position_embedding(torch.cat([p, p[..., 1:] - p[..., :1]], dim=-1)).permute(0, 2, 1)
                 for p in info]
    x = backbone.feature_proj(features).permute(0, 2, 1)
    levels = []
    for index, conv in enumerate(backbone.levels):
        x = commands[index][:, :, None] * x
        if index == 0:
            x = torch.cat([x, positions[0]], dim=1)
        x = conv(x)
        levels.append(x)
    logits, distances, cls_feats, box_feats = model.heads(model.fpn(levels))
    return logits, distances, model.iou_head(cls_feats, box_feats)


def official_targets(model: DRN, windows: torch.Tensor, durations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """FCOS's targets, image by image: labels [B * N] and (l, r) [B * N, 2], levels first as its
    loss flattens them (level-major, then batch)."""
    config, device = model.config, windows.device
    points = [torch.arange(n, dtype=torch.float32, device=device) * s + s / 2
              for n, s in zip(config.level_lengths(), config.strides)]
    sizes = torch.cat([torch.tensor(r, dtype=torch.float32, device=device).clamp(max=INF)[None].expand(len(p), -1)
                       for r, p in zip(config.scaled_regression_ranges(), points)])
    locations = torch.cat(points)
    labels, targets = [], []
    for i in range(windows.shape[0]):
        box = windows[i] / durations[i] * config.num_clips
        reg = torch.stack([locations - box[0], box[1] - locations], dim=1)
        inside = reg.min(dim=1)[0] > 0
        reach = reg.max(dim=1)[0]
        cared = (reach >= sizes[:, 0]) & (reach <= sizes[:, 1])
        area = (box[1] - box[0]).repeat(len(locations), 1)  # [N, 1]: one ground truth per query
        area[inside == 0] = INF
        area[cared == 0] = INF
        label = reg.new_ones(len(reg))
        label[area.min(dim=1)[0] == INF] = 0
        labels.append(torch.split(label, [len(p) for p in points]))
        targets.append(torch.split(reg, [len(p) for p in points]))
    level_first = range(len(points))
    return (torch.cat([torch.cat([per[level] for per in labels]) for level in level_first]),
            torch.cat([torch.cat([per[level] for per in targets]) for level in level_first]))


def focal_loss_cpu(logits: torch.Tensor, labels: torch.Tensor, gamma: float, alpha: float) -> torch.Tensor:
    """maskrcnn-benchmark's `sigmoid_focal_loss_cpu` for one class, summed."""
    p = torch.sigmoid(logits)
    term1 = (1 - p) ** gamma * torch.log(p)
    term2 = p ** gamma * torch.log(1 - p)
    positive, negative = (labels == 1).float(), (labels == 0).float()
    return (-positive * term1 * alpha - negative * term2 * (1 - alpha)).sum()


def official_losses(model: DRN, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The stage-1 losses as the official FCOSLossComputation computes them."""
    config = model.config
    logits, distances, _ = official_forward(model, batch["features"], batch["words"], batch["lengths"])
    labels, targets = official_targets(model, batch["windows"][:, 0], batch["duration"])
    logits = torch.cat([x.reshape(-1) for x in logits])
    distances = torch.cat([x.reshape(-1, 2) for x in distances])
    positive = torch.nonzero(labels > 0).squeeze(1)
    match = focal_loss_cpu(logits, labels, config.focal_gamma, config.focal_alpha) / (positive.numel() + len(batch["lengths"]))
    pred, target = distances[positive], targets[positive]
    intersect = torch.min(pred[:, 1], target[:, 1]) + torch.min(pred[:, 0], target[:, 0])
    union = target.sum(dim=1) + pred.sum(dim=1) - intersect
    regression = (-torch.log((intersect + 1e-8) / (union + 1e-8))).mean()
    return {"match": match, "regression": regression, "total": match + regression}


def official_step(model: DRN, optimizer: torch.optim.Optimizer, batch: dict[str, torch.Tensor],
                  grad_clip: float = 0.5) -> dict[str, float]:
    """One official training step (stage 1) on a batch sorted by `sorted_by_length`."""
    losses = official_losses(model, batch)
    logged = {name: loss.item() for name, loss in losses.items()}  # its loss meters
    logged["iou"] = 0.0  # its stage-1 IoU loss is a constant zero, read as well
    losses["total"].backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    optimizer.zero_grad()
    return logged
