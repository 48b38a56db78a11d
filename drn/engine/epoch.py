"""One training step and one epoch of them (the shape of DETR's `train_one_epoch`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from drn.engine.scalar_log import LOSS_NAMES
from drn.errors import UserError
from drn.model import DRN, drn_losses
from drn.model.precision import autocast


class TrainError(UserError, RuntimeError):
    """A run that cannot start or go on (an existing run in the output folder, a diverged loss)."""


@dataclass(frozen=True)
class StepSettings:
    """What a training step needs besides the model and the batch."""

    stage: int  # 1, 2 or 3: which losses count and which parameters train (DESIGN.md section 3)
    grad_clip: float  # gradient norm clipping
    amp: bool  # autocast (bf16; fp16 with a grad scaler on GPUs without bf16)


def training_step(model: DRN, forward: torch.nn.Module, batch: dict, optimizer: torch.optim.Optimizer,
                  scaler: torch.amp.GradScaler | None, settings: StepSettings, device: torch.device
                  ) -> dict[str, torch.Tensor]:
    """Forward, losses, backward, clipping and the optimizer step for one batch; returns the losses."""
    features = batch["features"].to(device, non_blocking=True)
    # The lengths stay on the host, where the packed LSTM reads them; no copy waits for the device.
    words, lengths = batch["words"].to(device, non_blocking=True), batch["lengths"]
    with autocast(device, settings.amp):
        output = forward(features, words, lengths)
    losses = drn_losses(output, batch["windows"].to(device, non_blocking=True),
                        batch["duration"].to(device, non_blocking=True), model.config, settings.stage,
                        num_segments=batch["num_windows"].to(device, non_blocking=True),
                        saliency=batch.get("saliency"), saliency_mask=batch.get("saliency_mask"))
    total = losses["total"]
    if not torch.isfinite(total):
        raise TrainError(f"the loss became {total.item()} at stage {settings.stage} "
                         f"({ {k: round(v.item(), 4) for k, v in losses.items()} }); lower "
                         f"train.lr[{settings.stage - 1}] or check the features for NaN/inf. The last checkpoint "
                         "is intact")
    params = [p for group in optimizer.param_groups for p in group["params"]]
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(total).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(params, settings.grad_clip)
        scaler.step(optimizer)
        scaler.update()
    else:
        total.backward()
        torch.nn.utils.clip_grad_norm_(params, settings.grad_clip)
        optimizer.step()
    return losses


@dataclass
class EpochResult:
    losses: dict[str, float]  # the mean of each loss over the epoch's batches
    global_step: int  # after the epoch
    queries: int  # seen by this process


def train_one_epoch(model: DRN, forward: torch.nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                    scaler: torch.amp.GradScaler | None, settings: StepSettings, device: torch.device, *,
                    global_step: int, on_step: Callable[[int, dict[str, float]], None],
                    description: str, show_progress: bool) -> EpochResult:
    """One pass over `loader`; `forward` is `model` or its DDP wrapper, `on_step(step, losses)`
    runs after every optimizer step."""
    forward.train()
    sums = dict.fromkeys(LOSS_NAMES, 0.0)
    batches = queries = 0
    bar = tqdm(loader, desc=description, leave=False, dynamic_ncols=True, disable=not show_progress)
    for batch in bar:
        losses = training_step(model, forward, batch, optimizer, scaler, settings, device)
        global_step += 1
        values = {name: losses[name].item() for name in LOSS_NAMES}
        for name, value in values.items():
            sums[name] += value
        batches += 1
        queries += len(batch["qid"])
        bar.set_postfix(loss=f"{values['total']:.3f}", refresh=False)
        on_step(global_step, values)
    bar.close()
    return EpochResult({name: value / max(batches, 1) for name, value in sums.items()}, global_step, queries)
