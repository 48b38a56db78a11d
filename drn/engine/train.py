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

Test hook: the environment variable DRN_STOP_AFTER_STEPS=N makes the process exit at once, with
status `STOP_EXIT_CODE` and no cleanup, after N optimizer steps (a simulated crash for the resume
tests). Do not set it otherwise.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from drn.engine import distributed as dist
from drn.engine.checkpoint import (check_compatible, load_checkpoint, load_model_state, rng_state, save_checkpoint,
                            set_rng_state)
from drn.config import dump
from drn.data import Vocabulary, collate
from drn.data.extraction_record import extraction_settings_of
from drn.engine.evaluate import autocast, evaluate, evaluate_split, explain_empty_rankings
from drn.engine.experiment import (build_model, build_split, load_vocabulary, open_feature_source, resolve_device,
                                   seed_everything)
from drn.engine import run_folder
from drn.engine.io import atomic_write_text, check_output_folder, remove_stale_temporaries, write_results
from drn.engine.runlock import FolderLock
from drn.model import DRN, drn_losses
from drn.errors import UserError, os_reason, reading, writing

logger = logging.getLogger(__name__)

STOP_ENV = "DRN_STOP_AFTER_STEPS"
STOP_EXIT_CODE = 75
SELECTION_METRIC = "R1@0.5"  # on the validation split; ties broken by mIoU
LOSS_NAMES = ("total", "match", "regression", "iou")
METRIC_NAMES = ("R1@0.3", "R1@0.5", "R1@0.7", "R5@0.3", "R5@0.5", "R5@0.7", "mIoU")
LOG_COLUMNS = ("epochs_done", "stage", "epoch", "global_step", "lr", *(f"loss_{n}" for n in LOSS_NAMES),
               "train_queries_per_s", "train_seconds", "eval_split", *METRIC_NAMES, "best")


class TrainError(UserError, RuntimeError):
    """A run that cannot start or go on (an existing run in the output folder, a diverged loss)."""


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


def schedule(epochs: list[int]) -> list[tuple[int, int]]:
    """(stage, epoch within the stage) of every epoch of the run, in order."""
    return [(stage, epoch) for stage, count in zip((1, 2, 3), epochs) for epoch in range(count)]


def _selection_key(metrics: dict[str, float]) -> list[float]:
    return [metrics[SELECTION_METRIC], metrics["mIoU"]]


class _StopHook:
    """DRN_STOP_AFTER_STEPS: exit hard after that many optimizer steps of this process."""

    def __init__(self) -> None:
        value = os.environ.get(STOP_ENV)
        self.limit = int(value) if value else None
        self.steps = 0

    def step(self) -> None:
        self.steps += 1
        if self.limit is not None and self.steps >= self.limit:
            logger.warning("%s=%d reached: exiting with status %d (test hook)", STOP_ENV, self.limit, STOP_EXIT_CODE)
            logging.shutdown()
            os._exit(STOP_EXIT_CODE)


def _number(text: str):
    """A log.csv cell as the int, float or string it was written from."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class _ScalarLog:
    """log.csv (one row per epoch) and TensorBoard scalars, written by rank 0 only."""

    def __init__(self, out_dir: Path, state: dict | None, enabled: bool) -> None:
        self.enabled = enabled
        self.path = out_dir / "log.csv"
        self.tensorboard = out_dir / "tensorboard"  # its writer's errors (a full disk) name this folder
        self.rows: list[dict] = []
        self.writer = None
        if not enabled:
            return
        epochs_done, global_step = (state["epochs_done"], state["global_step"]) if state else (0, 0)
        if state is not None and "log" in state:
            # The checkpoint carries the rows up to its own epoch: a kill between writing last.pt
            # and log.csv loses no row, and anything logged after the checkpoint is dropped.
            self.rows = [dict(row) for row in state["log"]]
        elif epochs_done and self.path.exists():  # a checkpoint from before the log moved into it
            with reading(self.path, "the training log (CSV)"), self.path.open(newline="", encoding="utf-8") as f:
                rows = [{key: _number(value) for key, value in row.items()} for row in csv.DictReader(f)]
            self.rows = [row for row in rows if row["epochs_done"] <= epochs_done]
        self._write_csv()
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is a dependency, but a broken install should not stop training
            logger.warning("tensorboard is not importable: scalars go to log.csv only")
        else:
            with writing(self.tensorboard):
                self.writer = SummaryWriter(str(self.tensorboard), purge_step=global_step if epochs_done else None)

    def _write_csv(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=LOG_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.path, buffer.getvalue())

    def step(self, global_step: int, losses: dict[str, float]) -> None:
        if self.writer is not None:
            with writing(self.tensorboard):
                for name, value in losses.items():
                    self.writer.add_scalar(f"train/loss_{name}", value, global_step)

    def epoch(self, row: dict) -> None:
        """Log one epoch's row (already saved in the checkpoint, see `train`)."""
        if not self.enabled:
            return
        self.rows.append(row)
        self._write_csv()
        if self.writer is not None:
            step = row["global_step"]
            with writing(self.tensorboard):
                self.writer.add_scalar("train/queries_per_s", row["train_queries_per_s"], step)
                self.writer.add_scalar("train/stage", row["stage"], step)
                for name in METRIC_NAMES:
                    self.writer.add_scalar(f"{row['eval_split']}/{name}", row[name], step)
                self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            writer, self.writer = self.writer, None
            try:
                writer.close()
            except OSError as exc:  # the run's own error (e.g. the same full disk) is already on its way
                logger.warning("could not close the TensorBoard log in %s: %s", self.tensorboard, os_reason(exc))


def train_one_epoch(model: DRN, forward: torch.nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                    device: torch.device, stage: int, cfg: dict, *, scaler: torch.amp.GradScaler | None,
                    global_step: int, log: _ScalarLog, stop: _StopHook, description: str,
                    show_progress: bool) -> tuple[dict[str, float], int, int]:
    """One pass over `loader` in training stage `stage`.

    `forward` is `model` or its DDP wrapper. Returns (mean of each loss over the batches, the
    global step after the epoch, queries seen by this process).
    """
    train_cfg = cfg["train"]
    params = [p for group in optimizer.param_groups for p in group["params"]]
    forward.train()
    sums = dict.fromkeys(LOSS_NAMES, 0.0)
    batches = queries = 0
    bar = tqdm(loader, desc=description, leave=False, dynamic_ncols=True, disable=not show_progress)
    for batch in bar:
        features = batch["features"].to(device, non_blocking=True)
        # The lengths stay on the host, where the packed LSTM reads them; no copy waits for the device.
        words, lengths = batch["words"].to(device, non_blocking=True), batch["lengths"]
        with autocast(device, train_cfg["amp"]):
            output = forward(features, words, lengths)
        losses = drn_losses(output, batch["windows"].to(device, non_blocking=True),
                            batch["duration"].to(device, non_blocking=True), model.config, stage,
                            num_segments=batch["num_windows"].to(device, non_blocking=True))
        total = losses["total"]
        if not torch.isfinite(total):
            raise TrainError(f"the loss became {total.item()} at stage {stage}, step {global_step + 1} "
                             f"({ {k: round(v.item(), 4) for k, v in losses.items()} }); lower train.lr[{stage - 1}] "
                             "or check the features for NaN/inf. The last checkpoint is intact")
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(total).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, train_cfg["grad_clip"])
            scaler.step(optimizer)
            scaler.update()
        else:
            total.backward()
            torch.nn.utils.clip_grad_norm_(params, train_cfg["grad_clip"])
            optimizer.step()
        global_step += 1
        values = {name: losses[name].item() for name in LOSS_NAMES}
        for name, value in values.items():
            sums[name] += value
        batches += 1
        queries += len(batch["qid"])
        log.step(global_step, values)
        bar.set_postfix(loss=f"{values['total']:.3f}", refresh=False)
        stop.step()
    bar.close()
    return {name: value / max(batches, 1) for name, value in sums.items()}, global_step, queries


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


def _stage_optimizer(model: DRN, stage: int, cfg: dict, device: torch.device, saved: dict | None
                     ) -> tuple[torch.optim.Optimizer, torch.amp.GradScaler | None]:
    """A fresh Adam over the stage's parameter groups (and a grad scaler for fp16 autocast), with
    the state of `saved` (a checkpoint of the same stage) restored when given."""
    lr, weight_decay = float(cfg["train"]["lr"][stage - 1]), cfg["train"]["weight_decay"]
    optimizer = torch.optim.Adam(model.parameter_groups(stage), lr=lr, weight_decay=weight_decay)
    fp16 = bool(cfg["train"]["amp"]) and device.type == "cuda" and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler("cuda") if fp16 else None  # bf16 needs no loss scaling
    if saved is not None:
        optimizer.load_state_dict(saved["optimizer"])
        for group in optimizer.param_groups:  # the config's values win over the saved ones
            group.update(lr=lr, weight_decay=weight_decay)
        if scaler is not None and saved.get("scaler"):
            scaler.load_state_dict(saved["scaler"])
    return optimizer, scaler


def _test_chosen(model: DRN, chosen: Path, test_set, device: torch.device, cfg: dict, out_dir: Path,
                 main: bool, show_progress: bool) -> tuple[dict[str, float], int]:
    """Evaluate the chosen checkpoint on the test split; rank 0 writes metrics.json and
    predictions.jsonl. Returns (metrics, number of rows)."""
    if not chosen.exists():
        raise TrainError(f"no checkpoint to evaluate in {chosen.parent}: train.epochs are all 0")
    final = load_checkpoint(chosen, need="inference")
    load_model_state(model, final["model"], chosen)
    metrics, standard, rows = evaluate_split(model, test_set, device, cfg, use_iou=final["stage"] > 1,
                                             show_progress=show_progress and main)
    metrics = {**metrics, **standard}
    if main:
        explain_empty_rankings(rows, cfg["model"]["score_threshold"])
        write_results(out_dir, rows, metrics)
    logger.info("test (%s, %d queries): %s", chosen.name, len(rows), ", ".join(f"{k} {v:.2f}" for k, v in metrics.items()))
    return metrics, len(rows)


def train(cfg: dict, out_dir: str | os.PathLike, *, resume: bool = False, overwrite: bool = False,
          show_progress: bool = True) -> TrainResult:
    """Run (or, with `resume`, continue) the three-stage training of `cfg` in `out_dir`.

    Writes OUT/config.yaml, OUT/vocab.json, OUT/log.csv, OUT/tensorboard/, OUT/checkpoints/
    {last,best}.pt and, with a test split, OUT/metrics.json and OUT/predictions.jsonl (rank 0
    only under DDP), holding OUT's lock (`FolderLock`) all the while. Everything a user can get
    wrong (the folder, the config, every feature file the splits use) is checked before the first
    write. Raises `RunFolderError` when `out_dir` already holds a run and neither `resume` nor
    `overwrite` says what to do with it, `FolderBusyError` when another process holds it.
    """
    out_dir = check_output_folder(out_dir)
    last_path = out_dir / "checkpoints" / "last.pt"
    best_path = out_dir / "checkpoints" / "best.pt"
    seen = run_folder.snapshot(out_dir)
    state = _resume_state(cfg, out_dir, last_path, resume, overwrite)

    device = dist.init_distributed(resolve_device(str(cfg["train"]["device"])))
    main = dist.is_main_process()
    seed = int(cfg["train"]["seed"])
    seed_everything(seed)

    source = open_feature_source(cfg)
    vocab = Vocabulary(state["vocab"]["word2id"]) if state else None
    if vocab is None and cfg["data"]["vocab"] is not None:
        vocab = load_vocabulary(cfg)
    train_set = build_split(cfg, "train", vocab, source, show_progress=show_progress and main)
    vocab = train_set.vocab
    val_set = build_split(cfg, "val", vocab, source, show_progress=show_progress and main) if cfg["data"]["val"] else None
    test_set = build_split(cfg, "test", vocab, source, show_progress=show_progress and main) if cfg["data"]["test"] else None
    eval_set, eval_split = (val_set, "val") if val_set is not None else (test_set, "test")

    model = build_model(cfg, vocab, load_glove=state is None).to(device)
    if state is not None:
        load_model_state(model, state["model"], last_path)
    lock = _claim_folder(out_dir, seen, overwrite) if main else None
    try:
        if main:
            atomic_write_text(out_dir / "config.yaml", dump(cfg))
            vocab.save(out_dir / "vocab.json")
        return _run_schedule(cfg, state, model, vocab, device, main, seed, train_set, val_set, eval_set, eval_split,
                             test_set, out_dir, last_path, best_path, show_progress)
    finally:
        if lock is not None:
            lock.release()


def _run_schedule(cfg, state, model, vocab, device, main, seed, train_set, val_set, eval_set, eval_split, test_set,
                  out_dir, last_path, best_path, show_progress) -> TrainResult:
    """The epochs of `schedule(train.epochs)` from the checkpoint `state` on (all of them when
    None), then the test evaluation of the chosen checkpoint."""
    plan = schedule(cfg["train"]["epochs"])
    extraction = extraction_settings_of(cfg["data"]["features"])  # None unless drn extract wrote them
    start = state["epochs_done"] if state else 0
    global_step = state["global_step"] if state else 0
    best = state["best"] if state else None
    if state is not None:
        set_rng_state(state["rng"])
        logger.info("resuming %s after %d of %d epochs (stage %d, epoch %d done), step %d", out_dir, start,
                    len(plan), state["stage"], state["epoch"], global_step)

    world, rank = dist.get_world_size(), dist.get_rank()
    sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=seed)
    loader = DataLoader(train_set, batch_size=cfg["train"]["batch_size"], sampler=sampler, collate_fn=collate,
                        num_workers=cfg["data"]["num_workers"], pin_memory=device.type == "cuda")
    log = _ScalarLog(out_dir, state, enabled=main)
    stop = _StopHook()
    use_amp = bool(cfg["train"]["amp"])
    history = list(log.rows)

    optimizer = scaler = forward = current_stage = None
    try:
        for index in range(start, len(plan)):
            stage, epoch = plan[index]
            lr = float(cfg["train"]["lr"][stage - 1])
            if stage != current_stage:
                model.set_stage(stage)
                resuming_stage = state is not None and index == start and state["stage"] == stage
                optimizer, scaler = _stage_optimizer(model, stage, cfg, device, state if resuming_stage else None)
                forward = model
                if dist.is_distributed():
                    forward = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
                current_stage = stage
                logger.info("stage %d: %d epochs at lr %g", stage, cfg["train"]["epochs"][stage - 1], lr)

            sampler.set_epoch(index)
            began = time.perf_counter()
            losses, global_step, seen = train_one_epoch(
                model, forward, loader, optimizer, device, stage, cfg, scaler=scaler, global_step=global_step,
                log=log, stop=stop, description=f"stage {stage} epoch {epoch + 1}/{cfg['train']['epochs'][stage - 1]}",
                show_progress=show_progress and main)
            seconds = time.perf_counter() - began
            # Every rank runs as many batches (the sampler pads), so the mean of the means is the mean.
            totals = dist.all_reduce_sum(torch.tensor([seen, *losses.values()], dtype=torch.float64))
            seen = int(totals[0].item())
            losses = {name: value / world for name, value in zip(losses, totals[1:].tolist())}

            metrics, _ = evaluate(model, eval_set, device, cfg["eval"], use_iou=stage > 1, amp=use_amp,
                                  num_workers=cfg["data"]["num_workers"], show_progress=show_progress and main
                                  ) if eval_set is not None else ({}, [])
            improved = False
            if val_set is not None and (best is None or _selection_key(metrics) > best["value"]):
                best = {"epochs_done": index + 1, "stage": stage, "epoch": epoch + 1, "metric": SELECTION_METRIC,
                        "value": _selection_key(metrics)}
                improved = True
            row = {"epochs_done": index + 1, "stage": stage, "epoch": epoch + 1, "global_step": global_step, "lr": lr,
                   **{f"loss_{n}": round(v, 6) for n, v in losses.items()},
                   "train_queries_per_s": round(seen / seconds, 2), "train_seconds": round(seconds, 3),
                   "eval_split": eval_split, **{n: round(metrics.get(n, math.nan), 4) for n in METRIC_NAMES},
                   "best": int(improved)}
            history.append(row)
            payload = {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict() if scaler is not None else None,
                "stage": stage, "epoch": epoch + 1, "epochs_done": index + 1, "global_step": global_step,
                "rng": rng_state(), "config": cfg, "vocab": {"word2id": vocab.word2id},
                "metrics": {"split": eval_split, **metrics}, "best": best, "log": list(history),
                "extraction": extraction,
            }
            if main:
                # best before last: a crash in between repeats this epoch and rewrites both.
                if improved:
                    save_checkpoint(payload, best_path)
                save_checkpoint(payload, last_path)
            log.epoch(row)  # after the checkpoint, which holds the row too (see _ScalarLog)
            logger.info("stage %d epoch %d: loss %.4f, %.1f queries/s, %s R1@0.5 %.2f mIoU %.2f%s", stage, epoch + 1,
                        losses["total"], row["train_queries_per_s"], eval_split, metrics.get("R1@0.5", math.nan),
                        metrics.get("mIoU", math.nan), " (best)" if improved else "")
            dist.barrier()  # every rank sees the checkpoint before anyone goes on

        chosen = best_path if val_set is not None and best_path.exists() else last_path
        test_metrics, num_test = None, 0
        if test_set is not None:
            test_metrics, num_test = _test_chosen(model, chosen, test_set, device, cfg, out_dir, main, show_progress)
        return TrainResult(out_dir, chosen, test_metrics, history, num_test)
    finally:
        log.close()
