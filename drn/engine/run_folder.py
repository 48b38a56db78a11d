"""What makes a folder "a run", and the decision a new `drn train` takes about an existing one.

A run folder is any folder holding one of `RUN_FILES` (a checkpoint, the config or vocabulary, the
log, the results): a new run never writes into it unless told to continue it (`--resume`, which
needs `checkpoints/last.pt`) or to replace it (`--overwrite`, which deletes those files and nothing
else of the folder).
"""

from __future__ import annotations

import shutil
from os import PathLike
from pathlib import Path

from drn.errors import UserError, writing

LAST = "checkpoints/last.pt"
RUN_FILES = (LAST, "checkpoints/best.pt", "config.yaml", "vocab.json", "log.csv", "tensorboard", "metrics.json",
             "predictions.jsonl")


class RunFolderError(UserError, RuntimeError):
    """An output folder that holds another run (or the results of one) the command may not touch."""


def run_files(out_dir: str | PathLike) -> list[str]:
    """The `RUN_FILES` present in `out_dir`, in that order."""
    out_dir = Path(out_dir)
    return [name for name in RUN_FILES if (out_dir / name).exists()]


def snapshot(out_dir: str | PathLike) -> dict[str, int]:
    """{run file: modification time in ns}: what `train` compares once it holds the folder's lock,
    to see that no other process wrote there while it was getting ready."""
    out_dir = Path(out_dir)
    return {name: (out_dir / name).stat().st_mtime_ns for name in run_files(out_dir)}


def decide(out_dir: str | PathLike, *, resume: bool, overwrite: bool) -> bool:
    """Whether to continue the run in `out_dir` (True) or start a new one (False); raises
    `RunFolderError` when the folder holds a run and the flags do not say what to do with it."""
    out_dir = Path(out_dir)
    found = run_files(out_dir)
    if resume and overwrite:
        raise RunFolderError("--resume and --overwrite contradict each other; pass one of them")
    if not found or overwrite:
        return False
    listed = ", ".join(found[:4]) + (", ..." if len(found) > 4 else "")
    if LAST not in found:
        raise RunFolderError(f"{out_dir} holds files of another run ({listed}) but no {LAST} to resume from; "
                             "pass --overwrite to replace them, or choose another --out")
    if not resume:
        raise RunFolderError(f"{out_dir} already holds a run ({out_dir / LAST}); pass --resume to continue it, "
                             "--overwrite to replace it, or choose another --out")
    return True


def clear_run(out_dir: str | PathLike) -> list[str]:
    """Delete the `RUN_FILES` of `out_dir` (call it while holding the folder's lock); returns them."""
    out_dir = Path(out_dir)
    removed = run_files(out_dir)
    for name in removed:
        path = out_dir / name
        with writing(path):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    return removed
