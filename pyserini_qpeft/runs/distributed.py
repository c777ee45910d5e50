"""Running across processes with torch.distributed, as launched by ``torchrun``.

The world comes from the environment torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); without it
everything is one process and nothing here talks to anyone. CPU processes use the gloo backend, CUDA
processes NCCL for tensors (gradients); Python objects (run lines, metrics) always travel over a gloo group.

For your own loops (a BEIR script under ``torchrun``)::

    from pyserini_qpeft.runs import distributed

    world = distributed.setup()                      # no-op without torchrun
    mine = distributed.share(queries, cost=lambda qid: len(hits[qid]))   # this rank's queries
    results = {qid: reranker.rerank(queries[qid], hits[qid]) for qid in mine}
    merged = distributed.gather(results, order=list(queries))           # all results on rank 0, None elsewhere
    if world.is_main:
        ...                                          # write or evaluate ``merged``
"""

from __future__ import annotations

import datetime
import heapq
import logging
import os
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pyserini_qpeft.errors import InputError

logger = logging.getLogger(__name__)
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Ranks wait for each other at the end of their share; a slow share must not time the others out.
TIMEOUT = datetime.timedelta(hours=int(os.environ.get("PYSERINI_QPEFT_DIST_TIMEOUT_HOURS", "12")))
_OBJECT_GROUP: Any = None


@dataclass(frozen=True)
class World:
    """Where this process stands: its rank among ``size`` processes, and its rank on this node."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def __str__(self) -> str:
        return f"rank {self.rank} of {self.size}"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InputError(f"environment variable {name}={value!r} must be an integer (torchrun sets it)") from None


def world_from_env() -> World:
    """The world torchrun describes in the environment; one process (rank 0 of 1) without it."""
    size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", rank)
    if size < 1 or not 0 <= rank < size or local < 0:
        raise InputError(f"RANK={rank}, WORLD_SIZE={size}, LOCAL_RANK={local}: not a valid torch.distributed world")
    return World(rank, size, local)


def restarted() -> bool:
    """True when torchrun restarted the workers after a failure (``--max-restarts``): the run continues
    from its journals as with ``--resume``."""
    return _env_int("TORCHELASTIC_RESTART_COUNT", 0) > 0


def rank_device(device: str | None, world: World | None = None) -> str | None:
    """The device this rank should use: ``cuda:LOCAL_RANK`` when several processes share a node's GPUs
    and ``device`` is None or plain ``cuda``; otherwise ``device`` unchanged."""
    world = world or world_from_env()
    if not world.distributed or device not in (None, "cuda"):
        return device
    import torch

    if not torch.cuda.is_available():
        return device
    count = torch.cuda.device_count()
    if world.local_rank >= count:
        raise InputError(
            f"LOCAL_RANK={world.local_rank} but only {count} CUDA device(s) are visible; "
            f"start at most {count} processes per node (torchrun --nproc-per-node)"
        )
    return f"cuda:{world.local_rank}"


def setup(device: str | None = None) -> World:
    """Join the torchrun world (once per process) and return it; a no-op in one process.

    The default process group uses NCCL when this rank computes on CUDA, else gloo."""
    global _OBJECT_GROUP
    world = world_from_env()
    if not world.distributed:
        return world
    import torch
    import torch.distributed as dist

    if not dist.is_available():
        raise InputError("this torch is built without torch.distributed; run without torchrun")
    if not dist.is_initialized():
        device = rank_device(device, world)
        cuda = device is not None and device.startswith("cuda")
        if cuda:
            torch.cuda.set_device(torch.device(device))
        backend = "nccl" if cuda else "gloo"
        if restarted():
            store = _attempt_store(world)
            dist.init_process_group(backend, store=store, rank=world.rank, world_size=world.size, timeout=TIMEOUT)
        else:
            dist.init_process_group(backend=backend, timeout=TIMEOUT)
        logger.debug("joined torch.distributed as %s (%s)", world, dist.get_backend())
    if _OBJECT_GROUP is None:
        _OBJECT_GROUP = dist.new_group(backend="gloo", timeout=TIMEOUT) if dist.get_backend() != "gloo" else None
    return world


def _attempt_store(world: World):
    """The rendezvous store under a prefix of torchrun's restart count. torchrun keeps its store across restarts,
    so without the prefix a restarted rank can read the address a dead worker published and fail to connect."""
    import torch.distributed as dist

    agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"  # torchrun's agent hosts the store
    store = dist.TCPStore(
        host_name=os.environ["MASTER_ADDR"],
        port=int(os.environ["MASTER_PORT"]),
        world_size=world.size,
        is_master=not agent and world.is_main,
        timeout=TIMEOUT,
        **({} if agent else {"multi_tenant": True}),
    )
    return dist.PrefixStore(f"pyserini_qpeft/attempt_{_env_int('TORCHELASTIC_RESTART_COUNT', 0)}", store)


def teardown(wait: bool = True) -> None:
    """Leave the process group (if this process joined one), after all ranks got here when ``wait``: a rank
    that tears down while a peer still works can abort the peer's gloo connection. After an error, pass
    ``wait=False`` (the others may never arrive; torchrun stops them when this process exits)."""
    global _OBJECT_GROUP
    if _initialized():
        import torch.distributed as dist

        if wait:
            dist.barrier(group=_OBJECT_GROUP)
        dist.destroy_process_group()
    _OBJECT_GROUP = None


def _initialized() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def split(items: Sequence[K], parts: int, cost: Callable[[K], float] | None = None) -> list[list[K]]:
    """Deal ``items`` into ``parts`` lists whose summed ``cost`` (default 1 each) is balanced: the costliest
    item first, each to the lightest part so far (ties: the lower part). Deterministic; each part keeps
    the items' original order."""
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    costs = [float(cost(item)) if cost else 1.0 for item in items]
    order = sorted(range(len(items)), key=lambda i: (-costs[i], i))
    heap = [(0.0, part) for part in range(parts)]
    owner = [0] * len(items)
    for i in order:
        load, part = heapq.heappop(heap)
        owner[i] = part
        heapq.heappush(heap, (load + costs[i], part))
    return [[item for i, item in enumerate(items) if owner[i] == part] for part in range(parts)]


def share(
    items: Mapping[K, V] | Sequence[K], cost: Callable[[K], float] | None = None, world: World | None = None
) -> list[K]:
    """This rank's share of ``items`` (keys of a mapping, or a sequence), balanced by ``cost``
    (see :func:`split`); every item in one process."""
    world = world or world_from_env()
    keys = list(items)
    return split(keys, world.size, cost)[world.rank] if world.distributed else keys


def gather(results: Mapping[K, V], order: Iterable[K] | None = None, world: World | None = None) -> dict[K, V] | None:
    """Every rank's ``results`` merged on rank 0 (in ``order`` if given, else rank by rank); None on the
    other ranks. One process: ``results`` itself (reordered)."""
    world = world or world_from_env()
    parts: list[Any] = [dict(results)]
    if world.distributed:
        import torch.distributed as dist

        parts = [None] * world.size if world.is_main else None
        dist.gather_object(dict(results), parts, dst=0, group=_OBJECT_GROUP)
        if not world.is_main:
            return None
    merged: dict[K, V] = {}
    for part in parts:
        merged.update(part)
    if order is None:
        return merged
    order = list(order)
    missing = [key for key in order if key not in merged]
    if missing:
        raise InputError(f"no rank returned results for {missing[:5]}")
    return {key: merged[key] for key in order}


def all_gather(value: Any, world: World | None = None) -> list[Any]:
    """``value`` from every rank, in rank order, on every rank."""
    world = world or world_from_env()
    if not world.distributed:
        return [value]
    import torch.distributed as dist

    values: list[Any] = [None] * world.size
    dist.all_gather_object(values, value, group=_OBJECT_GROUP)
    return values


def barrier(world: World | None = None) -> None:
    """Wait for every rank (nothing in one process)."""
    world = world or world_from_env()
    if world.distributed and _initialized():
        import torch.distributed as dist

        dist.barrier(group=_OBJECT_GROUP)


def all_reduce_sum(values: Sequence[float], world: World | None = None) -> list[float]:
    """Element-wise sums of ``values`` over the ranks (float64)."""
    world = world or world_from_env()
    if not world.distributed:
        return list(values)
    return [sum(column) for column in zip(*all_gather([float(v) for v in values], world))]


def broadcast(value: Any, world: World | None = None) -> Any:
    """Rank 0's ``value`` on every rank."""
    world = world or world_from_env()
    if not world.distributed:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0, group=_OBJECT_GROUP)
    return box[0]
