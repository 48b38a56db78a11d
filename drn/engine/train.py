"""DRN's three-stage training loop, with evaluation, checkpoints, logging and exact resume.

Stages (DESIGN.md section 3; Adam, gradient norm clipped at `train.grad_clip`; `train.epochs[s-1]`
epochs at `train.lr[s-1]`): 1) everything but the IoU head, matching + regression losses;
2) the IoU head alone on detached backbone features; 3) everything, all three losses. Each stage
starts a fresh Adam over the parameter groups the model gives for it.

After every epoch the model is evaluated on `data.val` (on `data.test` when there is no
validation split; that evaluation is only logged, never used to choose a model), and
`OUT/checkpoints/last.pt` is written; with a validation split `best.pt` holds the epoch with the
best val R1@0.5 (ties: mIoU). At the end the chosen checkpoint (best with val, else last) is
evaluated on `data.test`: `OUT/metrics.json` and `OUT/predictions.jsonl`.

Exact resume: the shuffling order of epoch i is a function of (train.seed, i) alone
(`DistributedSampler.set_epoch`), and a checkpoint holds the model, the optimizer, the RNG states
and the position in the schedule. A run resumed from its last checkpoint repeats the interrupted
epoch from its start and ends where the uninterrupted run ends (bit for bit on the same machine
and thread count).

What watches a run from outside it (a test that simulates a crash, a progress reporter) passes
`callbacks` (`drn.engine.callbacks.TrainCallback`).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from drn.config import ConfigError, dump, resolve_auto, upgrade_config
from drn.data import GroundingDataset, Vocabulary, collate
from drn.data.augment import RandomCrops
from drn.data.features.extraction_record import extraction_settings_of
from drn.engine import distributed as dist
from drn.engine import run_folder
from drn.engine.callbacks import TrainCallback
from drn.engine.checkpoint import (
    check_compatible,
    load_checkpoint,
    load_model_state,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from drn.engine.compiled_step import CompiledStep
from drn.engine.epoch import StepSettings, TrainError, train_one_epoch, training_step
from drn.engine.evaluate import evaluate, evaluate_to_folder, format_metrics
from drn.engine.experiment import (
    build_model,
    build_split,
    load_vocabulary,
    open_feature_source,
    resolve_device,
    seed_everything,
    training_has_saliency,
)
from drn.engine.runlock import FolderLock
from drn.engine.scalar_log import METRIC_NAMES, ScalarLog
from drn.model import DRN
from drn.model.precision import resolve_precision
from drn.utils.io import atomic_write_text, check_output_folder, remove_stale_temporaries

logger = logging.getLogger(__name__)

__all__ = ["TrainError", "TrainResult", "schedule", "train"]

SELECTION_METRIC = "R1@0.5"  # on the validation split; ties broken by mIoU


@dataclass
class TrainResult:
    """What `train` leaves behind.

    checkpoint: the model evaluated on the test split (best.pt with a validation split, else last.pt).
    test_metrics: its test metrics in percent; None without a test split.
    history: one log.csv row per epoch of the whole run (earlier epochs of a resumed run included).
    num_test_queries: rows in predictions.jsonl.
    """

    out_dir: Path
    checkpoint: Path
    test_metrics: dict[str, float] | None
    history: list[dict] = field(default_factory=list)
    num_test_queries: int = 0


@dataclass
class Splits:
    train: GroundingDataset
    val: GroundingDataset | None
    test: GroundingDataset | None

    @property
    def evaluated(self) -> tuple[GroundingDataset | None, str]:
        """The split evaluated after each epoch: val, else test (logged only, never used to choose)."""
        return (self.val, "val") if self.val is not None else (self.test, "test")


@dataclass
class Run:
    """Everything the epochs of one run share: the settings, the model, the data and the folder."""

    cfg: dict
    model: DRN
    vocab: Vocabulary
    splits: Splits
    device: torch.device
    out_dir: Path
    main: bool  # rank 0: the process that writes files
    show_progress: bool
    extraction: dict | None  # how drn extract made the features (saved in checkpoints), else None
    callbacks: Sequence[TrainCallback] = ()
    precision: str = "fp32"  # train.precision, resolved for the device
    step: Callable = training_step  # or its CompiledStep (train.compile)

    @property
    def last_path(self) -> Path:
        return self.out_dir / "checkpoints" / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.out_dir / "checkpoints" / "best.pt"

    def step_settings(self, stage: int) -> StepSettings:
        return StepSettings(stage=stage, grad_clip=float(self.cfg["train"]["grad_clip"]), precision=self.precision)


@dataclass
class Progress:
    """Where the run is: saved in every checkpoint, restored on resume."""

    epochs_done: int = 0
    global_step: int = 0
    best: dict | None = None  # {"epochs_done", "stage", "epoch", "metric", "value"} of best.pt
    history: list[dict] = field(default_factory=list)  # the log.csv rows so far


def schedule(epochs: list[int]) -> list[tuple[int, int]]:
    """(stage, epoch within the stage) of every epoch of the run, in order."""
    return [(stage, epoch) for stage, count in zip((1, 2, 3), epochs) for epoch in range(count)]


def _selection_key(metrics: dict[str, float]) -> list[float]:
    return [metrics[SELECTION_METRIC], metrics["mIoU"]]


def _config_drift(saved: dict, current: dict) -> list[str]:
    """Keys (section.key) whose values differ between two configs."""
    return [f"{section}.{key}" for section in current for key in current[section]
            if saved.get(section, {}).get(key) != current[section][key]]


def _resume_state(cfg: dict, out_dir: Path, last_path: Path, resume: bool, overwrite: bool) -> dict | None:
    """The checkpoint to continue from (None for a new run), checked against `cfg`; reads only."""
    if not run_folder.decide(out_dir, resume=resume, overwrite=overwrite):
        if resume:
            logger.warning("--resume: no run in %s, starting a new one", out_dir)
        return None
    state = load_checkpoint(last_path, need="resume")
    state["config"] = upgrade_config(state["config"], str(last_path))
    check_compatible(state["config"], cfg, last_path)
    drift = _config_drift(state["config"], cfg)
    if drift:
        logger.warning("resuming with a config that differs from the checkpoint's in %s; the new values apply",
                       ", ".join(drift))
    return state


def _claim_folder(out_dir: Path, seen: dict[str, int], overwrite: bool) -> FolderLock:
    """Lock `out_dir` for this run, check that nobody changed its run files since `seen` was
    taken, clear them for `--overwrite`, and delete temporaries a killed run left."""
    lock = FolderLock(out_dir).acquire()
    try:
        if run_folder.snapshot(out_dir) != seen:
            raise run_folder.RunFolderError(f"{out_dir} changed while this run was starting (another process "
                                            "wrote there); run again")
        if overwrite and seen:
            logger.warning("--overwrite: removed %s from %s", ", ".join(run_folder.clear_run(out_dir)), out_dir)
        for folder in (out_dir, out_dir / "checkpoints"):
            stale = remove_stale_temporaries(folder)
            if stale:
                logger.info("removed %d temporary file(s) a killed run left in %s", len(stale), folder)
    except BaseException:
        lock.release()
        raise
    return lock


def _stage_optimizer(model: DRN, stage: int, cfg: dict, device: torch.device, saved: dict | None, *,
                     precision: str = "fp32", compiled: bool = False
                     ) -> tuple[torch.optim.Adam, torch.amp.GradScaler | None]:
    """A fresh Adam over the stage's parameter groups (and a grad scaler for fp16), with the state
    of `saved` (a checkpoint of the same stage) restored when given. Eager, Adam is torch's fused
    kernel (one pass over each parameter's memory); compiled, its update is in the step's graph
    (`adam_step`), with its state on the GPU for a CUDA graph."""
    lr, weight_decay = float(cfg["train"]["lr"][stage - 1]), cfg["train"]["weight_decay"]
    optimizer = torch.optim.Adam(model.parameter_groups(stage), lr=lr, weight_decay=weight_decay,
                                 fused=not compiled, capturable=compiled and device.type == "cuda")
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None  # bf16 needs no loss scaling
    if saved is not None:
        optimizer.load_state_dict(saved["optimizer"])
        for group in optimizer.param_groups:  # the config's values win over the saved ones
            group.update(lr=lr, weight_decay=weight_decay)
        if scaler is not None and saved.get("scaler"):
            scaler.load_state_dict(saved["scaler"])
    return optimizer, scaler


def _training_precision(cfg: dict, device: torch.device) -> tuple[str, Callable]:
    """(train.precision resolved for `device`, the step: `training_step` or its `CompiledStep`);
    a setting the device or the launch cannot run is an error, before the run writes anything."""
    precision = resolve_precision(cfg["train"]["precision"], device, "train.precision")
    resolve_precision(cfg["eval"]["precision"], device, "eval.precision")
    if not cfg["train"]["compile"]:
        return precision, training_step
    if precision == "fp16":
        raise ConfigError("train.compile needs train.precision bf16 or fp32: fp16's grad scaler skips steps "
                          "on the host, outside a graph; use bf16, or train.compile=false")
    if dist.is_distributed():
        raise ConfigError("train.compile does not run under torchrun (DDP splits the graph at its gradient "
                          "buckets); use train.compile=false")
    return precision, CompiledStep(device)


def _test_chosen(model: DRN, chosen: Path, test_set, device: torch.device, cfg: dict, out_dir: Path,
                 main: bool, show_progress: bool) -> tuple[dict, int]:
    """Evaluate the chosen checkpoint on the test split; rank 0 writes predictions.jsonl, then
    metrics.json. Returns (metrics, number of rows)."""
    if not chosen.exists():
        raise TrainError(f"no checkpoint to evaluate in {chosen.parent}: train.epochs are all 0")
    final = load_checkpoint(chosen, need="inference")
    load_model_state(model, final["model"], chosen)
    metrics, count = evaluate_to_folder(model, test_set, device, cfg, out_dir, use_iou=final["stage"] > 1,
                                        write=main, show_progress=show_progress and main)
    logger.info("test (%s, %d queries): %s", chosen.name, count, format_metrics(metrics))
    return metrics, count


def train(cfg: dict, out_dir: str | os.PathLike, *, resume: bool = False, overwrite: bool = False,
          show_progress: bool = True, callbacks: Sequence[TrainCallback] = ()) -> TrainResult:
    """Run (or, with `resume`, continue) the three-stage training of `cfg` in `out_dir`.

    Writes OUT/config.yaml, OUT/vocab.json, OUT/log.csv, OUT/tensorboard/, OUT/checkpoints/
    {last,best}.pt and, with a test split, OUT/predictions.jsonl and OUT/metrics.json (rank 0
    only under DDP), holding OUT's lock (`FolderLock`) all the while. Everything a user can get
    wrong (the folder, the config, every feature file the splits use) is checked before the first
    write. Raises `RunFolderError` when `out_dir` already holds a run and neither `resume` nor
    `overwrite` says what to do with it, `FolderBusyError` when another process holds it.
    """
    out_dir = check_output_folder(out_dir)
    cfg = resolve_auto(cfg, lambda: training_has_saliency(cfg))  # what the checkpoints record
    seen = run_folder.snapshot(out_dir)
    state = _resume_state(cfg, out_dir, out_dir / "checkpoints" / "last.pt", resume, overwrite)

    device = dist.init_distributed(resolve_device(str(cfg["train"]["device"])))
    precision, step = _training_precision(cfg, device)
    main = dist.is_main_process()
    seed_everything(int(cfg["train"]["seed"]))

    source = open_feature_source(cfg)
    vocab = Vocabulary(state["vocab"]["word2id"]) if state else None
    if vocab is None and cfg["data"]["vocab"] is not None:
        vocab = load_vocabulary(cfg)
    progress = show_progress and main
    train_set = build_split(cfg, "train", vocab, source, show_progress=progress)
    vocab = train_set.vocab
    val_set = build_split(cfg, "val", vocab, source, show_progress=progress) if cfg["data"]["val"] else None
    test_set = build_split(cfg, "test", vocab, source, show_progress=progress) if cfg["data"]["test"] else None

    model = build_model(cfg, vocab, load_glove=state is None).to(device)
    run = Run(cfg, model, vocab, Splits(train_set, val_set, test_set), device, out_dir, main, show_progress,
              extraction_settings_of(cfg["data"]["features"]), tuple(callbacks), precision, step)
    if state is not None:
        load_model_state(model, state["model"], run.last_path)
    lock = _claim_folder(out_dir, seen, overwrite) if main else None
    try:
        if main:
            atomic_write_text(out_dir / "config.yaml", dump(cfg))
            vocab.save(out_dir / "vocab.json")
        return _run_schedule(run, state)
    finally:
        if lock is not None:
            lock.release()


def _run_schedule(run: Run, state: dict | None) -> TrainResult:
    """The epochs of `schedule(train.epochs)` from the checkpoint `state` on (all of them when
    None), then the test evaluation of the chosen checkpoint."""
    cfg, model = run.cfg, run.model
    plan = schedule(cfg["train"]["epochs"])
    progress = Progress()
    if state is not None:
        set_rng_state(state["rng"])
        progress = Progress(state["epochs_done"], state["global_step"], state["best"])
        logger.info("resuming %s after %d of %d epochs (stage %d, epoch %d done), step %d", run.out_dir,
                    progress.epochs_done, len(plan), state["stage"], state["epoch"], progress.global_step)
    sampler = DistributedSampler(run.splits.train, num_replicas=dist.get_world_size(), rank=dist.get_rank(),
                                 shuffle=True, seed=int(cfg["train"]["seed"]))
    train_items = training_items(run.splits.train, cfg)
    loader = DataLoader(train_items, batch_size=cfg["train"]["batch_size"], sampler=sampler, collate_fn=collate,
                        num_workers=cfg["data"]["num_workers"], pin_memory=run.device.type == "cuda")
    log = ScalarLog(run.out_dir, state, enabled=run.main)
    progress.history = list(log.rows)

    def on_step(global_step: int, losses: dict[str, float]) -> None:
        log.step(global_step, losses)
        for callback in run.callbacks:
            callback.on_step(global_step, losses)

    optimizer = scaler = forward = current_stage = None
    try:
        for index in range(progress.epochs_done, len(plan)):
            stage, epoch = plan[index]
            if stage != current_stage:
                resuming_stage = state is not None and index == progress.epochs_done and state["stage"] == stage
                optimizer, scaler, forward = _start_stage(run, stage, state if resuming_stage else None)
                current_stage = stage
            sampler.set_epoch(index)  # the shuffle of epoch `index` depends on (seed, index) alone
            if isinstance(train_items, RandomCrops):
                train_items.set_epoch(index)  # so do its crops
            began = time.perf_counter()
            result = train_one_epoch(
                model, forward, loader, optimizer, scaler, run.step_settings(stage), run.device,
                global_step=progress.global_step, on_step=on_step,
                description=f"stage {stage} epoch {epoch + 1}/{cfg['train']['epochs'][stage - 1]}",
                show_progress=run.show_progress and run.main, step=run.step)
            progress.global_step = result.global_step
            row = _end_epoch(run, progress, index, stage, epoch, result, time.perf_counter() - began, optimizer,
                             scaler)
            log.epoch(row)  # after the checkpoint, which holds the row too (see ScalarLog)
            for callback in run.callbacks:
                callback.on_epoch_end(row)
            dist.barrier()  # every rank sees the checkpoint before anyone goes on

        chosen = run.best_path if run.splits.val is not None and run.best_path.exists() else run.last_path
        test_metrics, num_test = None, 0
        if run.splits.test is not None:
            test_metrics, num_test = _test_chosen(model, chosen, run.splits.test, run.device, cfg, run.out_dir,
                                                  run.main, run.show_progress)
        return TrainResult(run.out_dir, chosen, test_metrics, progress.history, num_test)
    finally:
        log.close()


def training_items(train_set: GroundingDataset, cfg: dict) -> GroundingDataset | RandomCrops:
    """The training split as the loader reads it: with random crops when `train.crop_probability` > 0."""
    probability = float(cfg["train"]["crop_probability"])
    if probability == 0:
        return train_set
    return RandomCrops(train_set, probability, float(cfg["train"]["crop_min_fraction"]), int(cfg["train"]["seed"]))


def _start_stage(run: Run, stage: int, saved: dict | None):
    """Switch the model to `stage`: its optimizer (restored from `saved` when resuming within the
    stage), grad scaler and forward module (DDP-wrapped under torchrun)."""
    run.model.set_stage(stage)
    optimizer, scaler = _stage_optimizer(run.model, stage, run.cfg, run.device, saved, precision=run.precision,
                                         compiled=run.step is not training_step)
    forward = run.model
    if dist.is_distributed():
        device_ids = [run.device.index] if run.device.type == "cuda" else None
        forward = DistributedDataParallel(run.model, device_ids=device_ids)
    logger.info("stage %d: %d epochs at lr %g", stage, run.cfg["train"]["epochs"][stage - 1],
                float(run.cfg["train"]["lr"][stage - 1]))
    return optimizer, scaler, forward


def _end_epoch(run: Run, progress: Progress, index: int, stage: int, epoch: int, result, seconds: float,
               optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None) -> dict:
    """Evaluate after an epoch, keep track of the best, write best.pt/last.pt; returns the log row."""
    cfg = run.cfg
    world = dist.get_world_size()
    # Every rank runs as many batches (the sampler pads), so the mean of the means is the mean.
    totals = dist.all_reduce_sum(torch.tensor([result.queries, *result.losses.values()], dtype=torch.float64))
    seen = int(totals[0].item())
    losses = {name: value / world for name, value in zip(result.losses, totals[1:].tolist())}
    eval_set, eval_split = run.splits.evaluated
    metrics = {}
    if eval_set is not None:
        metrics, _ = evaluate(run.model, eval_set, run.device, cfg["eval"], use_iou=stage > 1,
                              num_workers=cfg["data"]["num_workers"],
                              show_progress=run.show_progress and run.main)
    improved = run.splits.val is not None and (progress.best is None
                                               or _selection_key(metrics) > progress.best["value"])
    if improved:
        progress.best = {"epochs_done": index + 1, "stage": stage, "epoch": epoch + 1, "metric": SELECTION_METRIC,
                         "value": _selection_key(metrics)}
    row = {"epochs_done": index + 1, "stage": stage, "epoch": epoch + 1, "global_step": progress.global_step,
           "lr": float(cfg["train"]["lr"][stage - 1]), **{f"loss_{n}": round(v, 6) for n, v in losses.items()},
           "train_queries_per_s": round(seen / seconds, 2), "train_seconds": round(seconds, 3),
           "eval_split": eval_split, **{n: round(metrics.get(n, math.nan), 4) for n in METRIC_NAMES},
           "best": int(improved)}
    progress.history.append(row)
    progress.epochs_done = index + 1
    if run.main:
        payload = {
            "model": run.model.state_dict(), "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else None,
            "stage": stage, "epoch": epoch + 1, "epochs_done": index + 1, "global_step": progress.global_step,
            "rng": rng_state(), "config": cfg, "vocab": {"word2id": run.vocab.word2id},
            "metrics": {"split": eval_split, **metrics}, "best": progress.best, "log": list(progress.history),
            "extraction": run.extraction,
        }
        # best before last: a crash in between repeats this epoch and rewrites both.
        if improved:
            save_checkpoint(payload, run.best_path)
        save_checkpoint(payload, run.last_path)
    logger.info("stage %d epoch %d: loss %.4f, %.1f queries/s, %s R1@0.5 %.2f mIoU %.2f%s", stage, epoch + 1,
                losses["total"], row["train_queries_per_s"], eval_split, metrics.get("R1@0.5", math.nan),
                metrics.get("mIoU", math.nan), " (best)" if improved else "")
    return row
