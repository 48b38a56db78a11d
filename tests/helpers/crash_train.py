"""`python -m tests.helpers.crash_train CONFIG OUT STEPS`: train CONFIG into OUT and die at once,
with no cleanup, after STEPS optimizer steps (a simulated crash for the resume tests)."""

from __future__ import annotations

import logging
import os
import sys

from drn.config import load_config
from drn.engine.callbacks import TrainCallback
from drn.engine.train import train

CRASH_EXIT_CODE = 75


class CrashAfter(TrainCallback):
    def __init__(self, steps: int) -> None:
        self.steps = steps

    def on_step(self, global_step: int, losses: dict[str, float]) -> None:
        if global_step >= self.steps:
            logging.shutdown()
            os._exit(CRASH_EXIT_CODE)


if __name__ == "__main__":
    config, out, steps = sys.argv[1:]
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    train(load_config(config), out, show_progress=False, callbacks=[CrashAfter(int(steps))])
