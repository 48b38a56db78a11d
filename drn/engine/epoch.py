"""One training step and one epoch of them (the shape of DETR's `train_one_epoch`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from drn.engine.adam import adam_step
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
    precision: str  # resolved (`resolve_precision`): fp32 | bf16 | fp16 (with a grad scaler)


# The batch tensors a training step reads (the collated batch also holds ids and sentences).
STEP_KEYS = ("features", "words", "lengths", "windows", "duration", "num_windows")
OPTIONAL_STEP_KEYS = ("saliency", "saliency_mask")  # a batch with saliency annotations


def batch_to_device(batch: dict, device: torch.device) -> dict[str, torch.Tensor]:
    """The tensors of a collated batch that `training_step` reads, on `device` (copies that do not
    wait for the device)."""
    keys = STEP_KEYS + tuple(key for key in OPTIONAL_STEP_KEYS if key in batch)
    return {key: batch[key].to(device, non_blocking=True) for key in keys}


def training_step(model: DRN, forward: torch.nn.Module, batch: dict[str, torch.Tensor],
                  optimizer: torch.optim.Adam, scaler: torch.amp.GradScaler | None, settings: StepSettings
                  ) -> dict[str, torch.Tensor]:
    """Forward, losses, backward, clipping and the optimizer's update for one batch
    (`batch_to_device`); returns the losses (detached). The gradients must be None when it starts
    (`optimizer.zero_grad(set_to_none=True)`: a compiled step sets them but cannot clear them).

    One function, so that `CompiledStep` compiles all of it into one graph; eager it is the same
    code (the update through `adam_step`)."""
    features = batch["features"]
    with autocast(features.device, settings.precision):
        output = forward(features, batch["words"], batch["lengths"])
    losses = drn_losses(output, batch["windows"], batch["duration"], model.config, settings.stage,
                        num_segments=batch["num_windows"], saliency=batch.get("saliency"),
                        saliency_mask=batch.get("saliency_mask"))
    total = losses["total"]
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if scaler is not None:
        scaler.scale(total).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(params, settings.grad_clip)
        scaler.step(optimizer)
        scaler.update()
    else:
        total.backward()
        torch.nn.utils.clip_grad_norm_(params, settings.grad_clip)
        adam_step(optimizer)
    return {name: loss.detach() for name, loss in losses.items()}


def check_finite(values: dict[str, float], stage: int) -> None:
    """A `TrainError` when the step's total loss is NaN or infinite."""
    if not math.isfinite(values["total"]):
        raise TrainError(f"the loss became {values['total']} at stage {stage} "
                         f"({ {k: round(v, 4) for k, v in values.items()} }); lower "
                         f"train.lr[{stage - 1}] or check the features for NaN/inf. The last checkpoint "
                         "is intact")


@dataclass
class EpochResult:
    losses: dict[str, float]  # the mean of each loss over the epoch's batches
    global_step: int  # after the epoch
    queries: int  # seen by this process


def train_one_epoch(model: DRN, forward: torch.nn.Module, loader: DataLoader, optimizer: torch.optim.Adam,
                    scaler: torch.amp.GradScaler | None, settings: StepSettings, device: torch.device, *,
                    global_step: int, on_step: Callable[[int, dict[str, float]], None],
                    description: str, show_progress: bool, step: Callable = training_step) -> EpochResult:
    """One pass over `loader`; `forward` is `model` or its DDP wrapper, `on_step(step, losses)`
    runs after every optimizer step; `step` is `training_step` or a `CompiledStep` of it."""
    forward.train()
    sums = dict.fromkeys(LOSS_NAMES, 0.0)
    batches = queries = 0
    bar = tqdm(loader, desc=description, leave=False, dynamic_ncols=True, disable=not show_progress)
    for batch in bar:
        optimizer.zero_grad(set_to_none=True)
        losses = step(model, forward, batch_to_device(batch, device), optimizer, scaler, settings)
        global_step += 1
        values = {name: losses[name].item() for name in LOSS_NAMES}
        check_finite(values, settings.stage)  # after the update: the run stops, nothing is saved
        for name, value in values.items():
            sums[name] += value
        batches += 1
        queries += len(batch["qid"])
        bar.set_postfix(loss=f"{values['total']:.3f}", refresh=False)
        on_step(global_step, values)
    bar.close()
    return EpochResult({name: value / max(batches, 1) for name, value in sums.items()}, global_step, queries)
