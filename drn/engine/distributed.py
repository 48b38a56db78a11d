"""Process-group helpers for DDP training launched with `torchrun` (or run as one plain process).

`torchrun` sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; `init_distributed`
reads them and starts the process group (NCCL on GPUs, gloo on CPU). Without them every helper
here behaves as a single process of rank 0, so the trainer has one code path.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)

# A peer that dies mid-collective should fail the others within minutes, not hang them forever.
DEFAULT_TIMEOUT = timedelta(minutes=10)


def launched_by_torchrun() -> bool:
    """True when the environment carries a torchrun world of more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """Rank 0: the only process that writes files and shows progress bars."""
    return get_rank() == 0


def init_distributed(device: torch.device) -> torch.device:
    """Start the process group when launched by torchrun with WORLD_SIZE > 1; returns the device
    this process trains on (cuda:LOCAL_RANK when `device` is CUDA, else `device`)."""
    if not launched_by_torchrun() or is_distributed():
        return device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend, timeout=DEFAULT_TIMEOUT)
    logger.info("process group: %s, rank %d of %d, device %s", backend, get_rank(), get_world_size(), device)
    return device


def cleanup() -> None:
    if is_distributed():
        dist.destroy_process_group()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_gather_objects(obj) -> list:
    """Every rank's `obj`, in rank order (a one-element list in a single process)."""
    if not is_distributed():
        return [obj]
    gathered = [None] * get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast_object(obj, src: int = 0):
    """Rank `src`'s `obj` on every rank."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum of `tensor` over ranks (in place; returned for chaining)."""
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor
