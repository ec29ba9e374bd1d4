"""Per-process state by design, for training on several processes.

Every part of a family's state is one of (Engine.process_state declares the exceptions):
- replicated: the same on every process and checked to be (weights, optimisers, schedulers, module
  buffers). Gradients are averaged at the one seam; buffers are agreed after every step here: float
  buffers averaged (batch-norm running statistics, moving averages of batch statistics: averaging
  one step of a moving average over the processes gives the step on the combined batch), the rest
  (counters, flags) taken from rank 0.
- sharded: each process's own (a replay buffer, a pool of earlier fakes). Saved per rank in the
  checkpoint and restored to the same rank; on another number of processes process r takes the
  saved copy of process r mod N, and the loop says the run will not repeat exactly.
- per process too: extra_state() (counters, the diagnostics' running sums of each process's own
  losses), saved per rank and restored to the same rank (what must agree is the same everywhere);
  on another number of processes every process takes rank 0's.
- rank 0 only (the loop's, not a family's): the run folder, logs, samples, checkpoints.

`check_replicated` compares a digest of the replicated state across processes (one small
all_reduce) and names the first part that differs.
"""

from __future__ import annotations

import hashlib
import os

import torch

from ..runtime import distributed as dist_rt

REPLICATED, SHARDED = "replicated", "sharded"
CHECK_ENV = "GENSTUDIO_CHECK_REPLICATED"   # every N steps (a debug setting; the tests set it)


def roles(engine) -> dict[str, str]:
    """Each module's role (modules not declared are replicated)."""
    declared = dict(getattr(engine, "process_state", {}) or {})
    return {name: declared.get(name, REPLICATED) for name in engine.modules()}


def replicated_modules(engine) -> dict[str, torch.nn.Module]:
    r = roles(engine)
    return {name: m for name, m in engine.modules().items() if r[name] == REPLICATED}


def sharded_modules(engine) -> dict[str, torch.nn.Module]:
    r = roles(engine)
    return {name: m for name, m in engine.modules().items() if r[name] == SHARDED}


def broadcast_replicated_parameters(engine) -> None:
    """Rank 0's weights on every process (after the first step: data-dependent initialisation that
    did not agree itself); buffers are left to sync_buffers, which averages the statistics."""
    dist_rt.broadcast_tensors([p for m in replicated_modules(engine).values() for p in m.parameters()])


def sync_buffers(engine) -> None:
    """After each step: float buffers of replicated modules averaged over the processes, the others
    (counters, flags) taken from rank 0. Two collectives; nothing with one process."""
    if dist_rt.world_size() == 1:
        return
    mean, rank0 = [], []
    for m in replicated_modules(engine).values():
        for b in m.buffers():
            (mean if b.is_floating_point() else rank0).append(b)
    dist_rt.mean_tensors(mean)
    dist_rt.broadcast_tensors(rank0)


def rank_payload(engine) -> dict:
    """This process's own state for the checkpoint's "ranks" list: its sharded modules and its
    extra_state() (running sums of its own losses; what must agree is the same on every process)."""
    return {"sharded": {name: m.state_dict() for name, m in sharded_modules(engine).items()},
            "extra": engine.extra_state()}


def own_engine_state(shared: dict, ranks: list[dict], rank: int, same_world: bool) -> dict:
    """The engine state this process loads: the checkpoint's shared one (rank 0's) with this rank's
    own parts put in. Same number of processes: its own extra state and sharded modules; another
    number: rank 0's extra state, and the sharded modules of process `rank` mod the saved number."""
    if not ranks or any("sharded" not in r for r in ranks):
        return shared  # one process, or an older checkpoint: the shared copy (rank 0's)
    state = dict(shared)
    state["modules"] = dict(shared["modules"])
    own = ranks[rank % len(ranks)]
    state["modules"].update(own["sharded"])
    if same_world:
        state["extra"] = own["extra"]
    return state


def redistributed(engine, saved_world: int) -> str:
    """What a resume on another number of processes does with the sharded modules ("" if none)."""
    names = sorted(sharded_modules(engine))
    if not names or saved_world <= 1:
        return ""
    return (f"; each process's own {', '.join(names)} is the copy of saved process (its rank mod "
            f"{saved_world})")


def _digests(engine) -> list[tuple[str, int]]:
    out = []

    def add(name, tensors):
        h = hashlib.sha256()
        for t in tensors:
            h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
        out.append((name, int.from_bytes(h.digest()[:7], "little")))

    for name, m in replicated_modules(engine).items():
        add(f"{name} weights", list(m.parameters()))
        add(f"{name} buffers", list(m.buffers()))
    for name, opt in engine.optimizers().items():
        add(f"optimiser {name}", [v for s in opt.state.values() for v in s.values() if torch.is_tensor(v)])
    return out


def check_replicated(engine) -> None:
    """Raise DistributedError naming the first replicated part (a module's weights or buffers, an
    optimiser's state) that differs between the processes. One all_reduce of a few numbers."""
    if dist_rt.world_size() == 1:
        return
    digests = _digests(engine)
    same = dist_rt.agree_values([h for _, h in digests])
    for (name, _), ok in zip(digests, same):
        if not ok:
            raise dist_rt.DistributedError(f"the processes' copies of {name} differ (it must be the same on "
                                           f"every process)")


def check_every() -> int:
    """GENSTUDIO_CHECK_REPLICATED: compare the replicated state every N steps (0: never)."""
    try:
        return max(0, int(os.environ.get(CHECK_ENV, "0") or 0))
    except ValueError:
        return 0
