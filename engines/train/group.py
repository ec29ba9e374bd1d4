"""The processes that train one run together, as one object the loop talks to.

    group = process_group()          # one process: a group of one, every call is local
    if group.agree_any(bad_loss): ...          # true everywhere when true on any process
    best = group.main_says(new_best)           # rank 0's decision, the same everywhere
    record = group.from_main(read_run_json)    # rank 0 reads, every process gets the value

Single-process code reads the same as multi-process code: `SingleProcess` answers locally and
`ProcessGroup` (torch.distributed initialised by `genstudio train --nproc-per-node N`, torchrun
or a test) does the collective. Every process calls the same methods at the same point of the loop.

What a group agrees on: decisions (a non-finite value anywhere, a new best, the time budget, the
person's requests), rank 0's values (the run folder's record, checkpoints read on resume or
rollback, module state), the mean of logged losses, and every process's own state gathered into a
checkpoint. When one process fails, `failure()` runs the protocol of
engines/runtime/distributed.py: the first to fail publishes why and leaves, the others' pending
collectives fail at once, each reports the first failure naming its process.

Per-process state (engines/train/process_state.py): `after_step` agrees the replicated buffers
after every step (and checks the replicated state in a debug setting), `own_state` is this
process's part of a checkpoint (sharded modules, extra state), gathered with `gather`.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass

import numpy as np
import torch

from ..runtime import distributed as dist_rt
from . import process_state
from .engine_state import CheckpointError, pack_state, unpack_state
from .run import RunError

_SHARED_ERRORS = {cls.__name__: cls for cls in (RunError, CheckpointError)}


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, (torch.OutOfMemoryError, MemoryError)) or "out of memory" in str(exc).lower()


def is_collective_error(exc: BaseException) -> bool:
    """A collective failed because another process went away or stalled (gloo/NCCL/store errors)."""
    dist_error = getattr(torch.distributed, "DistError", ())
    text = str(exc)
    return (isinstance(exc, dist_error) if dist_error else False) or any(
        s in text for s in ("gloo", "NCCL", "Connection reset", "Connection closed", "timed out", "Timed out",
                            "Broken pipe", "ProcessGroup"))


@dataclass(frozen=True)
class Failure:
    """What a failed multi-process run says: which process (None: unknown), at which step, why."""
    rank: int | None
    step: int          # 1-based, as people count steps
    why: str
    message: str       # "process 1 of 2 failed at step 4: ..."
    own: bool          # this process is the one that failed


def rank_seed(seed: int, rank: int, step: int = 0) -> int:
    """A process's own random stream (noise, flips): rank 0 keeps the run's seed, so one process
    trains exactly like an undistributed run."""
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1)[0])


class SingleProcess:
    """One process: every agreement is this process's own value."""

    world = 1
    rank = 0
    is_main = True
    backend: str | None = None

    def join_engine(self, engine, device: torch.device, seed: int) -> str:
        """Make `engine` train as one of the group (see ProcessGroup); says how batch norm behaves."""
        return "none"

    def gradient_reducer(self, engine):
        """What averages `engine`'s gradients over the processes at the one seam (its RunContext's
        gradient_reducer); None: one process has nothing to average."""
        return None

    def reseed(self, seed: int, step: int) -> None:
        """This process's own random stream from `step` on (rank_seed)."""
        s = rank_seed(seed, self.rank, step)
        torch.manual_seed(s)
        np.random.seed(s % 2**32)

    def agree_any(self, flag: bool) -> bool:
        """True on every process when true on any (a non-finite loss anywhere rolls all back)."""
        return bool(flag)

    def main_says(self, flag: bool) -> bool:
        """Rank 0's flag on every process (its clock, its validation measure, its run folder)."""
        return bool(flag)

    def main_values(self, values: list[float]) -> list[float]:
        """Rank 0's list of numbers on every process."""
        return list(values)

    def mean(self, values: list[float]) -> list[float]:
        """The element-wise mean over the processes (logged losses)."""
        return list(values)

    def mean_dict(self, values: dict[str, float]) -> dict[str, float]:
        keys = sorted(values)
        return dict(zip(keys, self.mean([values[k] for k in keys]))) if self.world > 1 else dict(values)

    def from_main(self, fn):
        """fn() run on rank 0 only, its result (tensors and JSON values) on every process; a
        RunError/CheckpointError there is raised on every process, so they all stop alike."""
        return fn()

    def gather(self, obj) -> list:
        """Every process's `obj` (tensors and JSON values), in rank order, on every process."""
        return [obj]

    def broadcast_modules(self, modules) -> None:
        """Rank 0's parameters and buffers in every process's modules."""

    def barrier(self) -> None:
        """Nobody goes on until every process got here (rank 0 writing a checkpoint)."""

    def after_step(self, engine, step: int) -> None:
        """After every training step (engines/train/process_state.py): replicated buffers agreed
        (float ones averaged, the rest rank 0's; after step 1 rank 0's weights too, which settles
        data-dependent initialisation) and, every GENSTUDIO_CHECK_REPLICATED steps, the replicated
        state compared across the processes."""

    def own_state(self, engine) -> dict:
        """This process's own part of a checkpoint (its sharded modules, its extra state)."""
        return process_state.rank_payload(engine)

    def failure(self, exc: BaseException, step: int, local_batch: int) -> Failure:
        """The failure protocol (several processes only)."""
        raise RuntimeError("a single process has no failure protocol") from exc

    def acknowledge(self, failure: Failure) -> None:
        """After rank 0 recorded `failure`: the failing process leaves, the others are told."""


class ProcessGroup(SingleProcess):
    """Several processes (torch.distributed is initialised): each method is one small collective."""

    def __init__(self):
        self.world, self.rank = dist_rt.world_size(), dist_rt.rank()
        self.is_main = self.rank == 0
        self.backend = dist_rt.backend_name()

    def join_engine(self, engine, device: torch.device, seed: int) -> str:
        """Same weights everywhere (rank 0's), gradients averaged at the one seam, own noise per rank.

        Batch norm: SyncBatchNorm on CUDA (statistics over the global batch); on CPU (gloo) each
        process normalises with its own shard's statistics and the running averages are averaged
        over the processes after every step (after_step).
        """
        modules = list(engine.modules().values())
        has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for mod in modules for m in mod.modules())
        batch_norm = "none"
        if has_bn and device.type == "cuda":
            for m in modules:
                if torch.nn.SyncBatchNorm.convert_sync_batchnorm(m) is not m:
                    raise RunError("a family's top-level module is a batch norm; it cannot be synchronised")
            batch_norm = "synchronised (SyncBatchNorm over the global batch)"
        elif has_bn:
            batch_norm = "per process (each process's shard), running statistics averaged every step"
        self.broadcast_modules(modules)
        if self.rank:
            self.reseed(seed, 0)
        return batch_norm

    def gradient_reducer(self, engine):
        return dist_rt.GradientAverager(engine.modules)  # the parameter set agreed per step kind

    def agree_any(self, flag: bool) -> bool:
        return dist_rt.any_true(bool(flag))

    def main_says(self, flag: bool) -> bool:
        return dist_rt.broadcast_flag(bool(flag))

    def main_values(self, values: list[float]) -> list[float]:
        return dist_rt.broadcast_values(list(values))

    def mean(self, values: list[float]) -> list[float]:
        return dist_rt.mean_values(list(values))

    def from_main(self, fn):
        data, error = None, None
        if self.is_main:
            try:
                data = pack_state({"ok": fn()})
            except tuple(_SHARED_ERRORS.values()) as exc:
                error = exc
                data = pack_state({"error": [type(exc).__name__, str(exc)]})
        shared = unpack_state(dist_rt.broadcast_bytes(data))
        if error is not None:
            raise error
        if "error" in shared:
            kind, message = shared["error"]
            raise _SHARED_ERRORS.get(kind, RunError)(message)
        return shared["ok"]

    def gather(self, obj) -> list:
        return [unpack_state(b)["v"] for b in dist_rt.gather_bytes(pack_state({"v": obj}))]

    def broadcast_modules(self, modules) -> None:
        dist_rt.broadcast_module_state(list(modules))

    def barrier(self) -> None:
        dist_rt.barrier()

    def after_step(self, engine, step: int) -> None:
        if step == 1:  # data-dependent initialisation (Glow's ActNorm) took each shard: use rank 0's
            process_state.broadcast_replicated_parameters(engine)
        process_state.sync_buffers(engine)
        every = process_state.check_every()
        if every and step % every == 0:
            process_state.check_replicated(engine)

    def failure(self, exc: BaseException, step: int, local_batch: int, provisional=None) -> Failure:
        """One of several processes failed. The first to fail publishes why; a process whose
        collective failed looks (patiently) for who did; `acknowledge` then ends the protocol.
        `provisional(failure)` is told "lost contact" before that wait (rank 0 records it at once:
        a launcher may end this process while it waits)."""
        own = f"{type(exc).__name__}: {exc}".splitlines()[0]
        if is_oom(exc):
            own = f"out of memory at step {step + 1} with {local_batch} images per process"
        peer = dist_rt.peer_failure(self.rank, self.world)
        if peer is None and is_collective_error(exc):  # the failing process publishes first; be patient
            if provisional is not None:
                why = f"lost contact with the other processes ({own})"
                provisional(Failure(None, step + 1, why, f"process {self.rank} failed at step {step + 1}: {why}",
                                    False))
            peer = dist_rt.peer_failure(self.rank, self.world, wait_s=3.0)
        if peer is not None:
            failed_rank, at, why = int(peer["rank"]), int(peer["step"]), str(peer["message"])
        elif is_collective_error(exc):
            failed_rank, at, why = None, step, f"lost contact with the other processes ({own})"
        else:
            failed_rank, at, why = self.rank, step, own
            dist_rt.publish_failure(self.rank, at, own)
        who = f"process {failed_rank} of {self.world}" if failed_rank is not None else f"process {self.rank}"
        return Failure(failed_rank, at + 1, why, f"{who} failed at step {at + 1}: {why}", failed_rank == self.rank)

    def acknowledge(self, failure: Failure) -> None:
        if failure.own:
            dist_rt.leave_after_failure()  # the others' pending collectives fail now
            if self.rank != 0:
                dist_rt.wait_for_acknowledgement()  # rank 0 has written run.json before we exit
        elif self.is_main:
            dist_rt.acknowledge_failure()


def process_group() -> SingleProcess:
    """The group this process trains in: ProcessGroup when torch.distributed is initialised."""
    return ProcessGroup() if dist_rt.world_size() > 1 else SingleProcess()


def failure_details() -> str:
    return traceback.format_exc()
