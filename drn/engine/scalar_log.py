"""The run's scalars: OUT/log.csv (one row per epoch, also kept in each checkpoint so a resumed run
continues it exactly) and TensorBoard (losses per step, metrics per epoch), written by rank 0."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

from drn.errors import os_reason, reading, writing
from drn.utils.io import atomic_write_text

logger = logging.getLogger(__name__)

LOSS_NAMES = ("total", "match", "regression", "iou")
METRIC_NAMES = ("R1@0.3", "R1@0.5", "R1@0.7", "R5@0.3", "R5@0.5", "R5@0.7", "mIoU")
LOG_COLUMNS = ("epochs_done", "stage", "epoch", "global_step", "lr", *(f"loss_{n}" for n in LOSS_NAMES),
               "train_queries_per_s", "train_seconds", "eval_split", *METRIC_NAMES, "best")


def _number(text: str):
    """A log.csv cell as the int, float or string it was written from."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class ScalarLog:
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
