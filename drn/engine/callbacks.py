"""Hooks into the training loop, for what watches a run from outside it (tests that simulate a
crash, a progress reporter). The loop calls them in order; they must not change the run."""

from __future__ import annotations


class TrainCallback:
    """Override what you need; every method does nothing by default."""

    def on_step(self, global_step: int, losses: dict[str, float]) -> None:
        """After each optimizer step of this process (`global_step` counts from 1 over the run)."""

    def on_epoch_end(self, row: dict) -> None:
        """After an epoch's checkpoint and log row are written (`row` is its log.csv row)."""
