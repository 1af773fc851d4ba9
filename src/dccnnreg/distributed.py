"""Data-parallel training over several processes with torch.distributed (one process per GPU; gloo
on CPU for tests).

Every rank seeds alike and so draws the same pairs; of each step's ``batch_size`` pairs rank ``r``
takes pairs ``r, r + W, ...`` and the gradients are averaged by an all-reduce (what DDP does,
without its bucketing). W processes with batch ``B`` therefore make the same update as one
process with batch ``B``: the number of GPUs changes the speed, not the result. Rank 0 alone
validates, logs and writes checkpoints. Start it with ``torchrun --nproc-per-node N dccnnreg
train ...`` or, from Python, with :func:`launch`.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


@dataclass(frozen=True)
class Group:
    """This process's place among the training processes."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def current() -> Group:
    """The process group this process belongs to (a group of one when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        return Group(dist.get_rank(), dist.get_world_size())
    return Group()


def init_from_env(init_method: str = "env://") -> Group:
    """Join the group described by torchrun's environment (``WORLD_SIZE`` > 1, ``RANK``, ``LOCAL_RANK``), NCCL on
    CUDA else gloo; the ranks meet at ``init_method`` (torchrun's ``MASTER_ADDR``/``MASTER_PORT`` by default)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend, init_method=init_method, rank=int(os.environ["RANK"]),
                                world_size=int(os.environ["WORLD_SIZE"]))
    return current()


@contextmanager
def joined(init_method: str = "env://"):
    """Inside the block, this process is in the group its environment describes (:func:`init_from_env`; torchrun's,
    or :func:`launch`'s at a file). On leaving it normally the ranks wait for each other (rank 0 validates and writes
    alone, so it finishes last), then the group is destroyed: a rank that left its group to the interpreter's exit, or
    tore it down while another still used it, can abort in gloo's threads."""
    fresh = not dist.is_initialized()
    group = init_from_env(init_method)
    if not (fresh and dist.is_initialized()):
        yield group
        return
    try:
        yield group
        dist.barrier()
    finally:
        dist.destroy_process_group()


def local_device(device: torch.device) -> torch.device:
    """On CUDA, the GPU of this process (``LOCAL_RANK``); otherwise ``device`` unchanged."""
    if device.type == "cuda" and current().world > 1:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def average_gradients(params, group: Group) -> None:
    """Replace each gradient by its mean over the ranks."""
    if group.world == 1:
        return
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= group.world


def average(values: list[float], group: Group, device: torch.device) -> list[float]:
    """Means over the ranks of per-rank numbers (e.g. loss terms)."""
    if group.world == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64 if device.type == "cpu" else torch.float32, device=device)
    dist.all_reduce(t)
    return (t / group.world).tolist()


def processes_for(batch_size: int, devices: int) -> int:
    """The most processes (at most ``devices``) that split ``batch_size`` pairs evenly."""
    return max(d for d in range(1, max(devices, 1) + 1) if batch_size % d == 0)


def _worker(rank: int, world: int, rendezvous: str, fn, args) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world))
    with joined(f"file://{rendezvous}"):
        fn(*args)


def launch(fn, nprocs: int, *args) -> None:
    """Run ``fn(*args)`` in ``nprocs`` processes forming one group on this machine (``fn`` must be
    importable, i.e. a module-level function). With ``nprocs == 1`` it simply calls ``fn``. The processes meet at a
    file, not a port: jobs that share a node cannot pick the same one."""
    if nprocs == 1:
        fn(*args)
        return
    with tempfile.TemporaryDirectory(prefix="dccnnreg-group-") as tmp:
        mp.spawn(_worker, args=(nprocs, f"{tmp}/rendezvous", fn, args), nprocs=nprocs, join=True)
