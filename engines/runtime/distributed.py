"""Training on several processes: joining them (torchrun's environment), the collectives the loop
needs (all small, every process calls them at the same point; with one process they do nothing),
gradient averaging behind Engine.optimizer_step, and reporting which process failed.

Gradient averaging, the collective behind Engine.optimizer_step:

Following NVlabs' StyleGAN training loops rather than DDP: after each backward the gradients of the
parameters being stepped are flattened into one buffer, summed with one all_reduce and divided by
the world size. That works for any number of optimisers per step, for double backward (gradient
penalties, R1) and for discriminators run twice per step, which DDP's hooks do not handle.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import timedelta
from typing import Iterator

import torch
import torch.distributed as dist


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def average_gradients(params: list[torch.Tensor]) -> None:
    """Replace each parameter's gradient by its mean over every process (in place, one collective).

    Every process must pass the same parameters in the same order (GradientAverager checks that).
    A parameter without a gradient on this process contributes zeros, so the collective is the same
    size everywhere; it gets the mean when any process had a gradient for it, and stays without one
    when none had. A non-finite gradient on any process makes the average non-finite on all of
    them, so the finiteness check that follows agrees everywhere and they roll back together.
    """
    n = world_size()
    if n == 1 or not params:
        return
    ref = params[0]
    parts = [p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel(), dtype=p.dtype, device=p.device)
             for p in params]
    flags = torch.tensor([0.0 if p.grad is None else 1.0 for p in params], dtype=ref.dtype, device=ref.device)
    flat = torch.cat([*parts, flags])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    had = flat[-len(params):].tolist()
    for p, part, seen in zip(params, parts, had):
        k = part.numel()
        if seen > 0:
            mean = flat[offset:offset + k].view_as(p).div_(n)
            if p.grad is None:
                p.grad = mean.to(p.dtype).clone()
            else:
                p.grad.copy_(mean)
        offset += k


def _layout(params: list[torch.Tensor], names: dict[int, str]) -> list[list]:
    return [[names.get(id(p), f"parameter #{i}"), list(p.shape), str(p.dtype)] for i, p in enumerate(params)]


def _digest(obj) -> int:
    return int.from_bytes(hashlib.sha256(json.dumps(obj).encode()).digest()[:7], "little")


def agree_layout(params: list[torch.Tensor], names: dict[int, str] | None = None, what: str = "gradients") -> None:
    """Check (a collective: every process calls it at the same point) that every process passes the
    same parameters in the same order with the same shapes; raise DistributedError naming the first
    one that differs otherwise. Costs one tiny all_reduce when they agree."""
    if world_size() == 1:
        return
    layout = _layout(params, names or {})
    h = _digest(layout)
    t = torch.tensor([h, -h], dtype=torch.int64, device=_current_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    if int(t[0]) == h and -int(t[1]) == h:
        return
    layouts = [json.loads(b.decode()) for b in gather_bytes(json.dumps(layout).encode())]
    raise DistributedError(describe_disagreement(layouts, what))


def describe_disagreement(layouts: list[list], what: str = "gradients") -> str:
    """One line naming the first parameter whose name or shape differs between processes' layouts."""
    longest = max(len(layout) for layout in layouts)
    for i in range(longest):
        entries = [layout[i] if i < len(layout) else None for layout in layouts]
        if any(e != entries[0] for e in entries):
            named = next(e for e in entries if e is not None)[0]
            seen = "; ".join(f"process {r}: " + ("nothing" if e is None else f"{e[0]} {tuple(e[1])} {e[2]}")
                             for r, e in enumerate(entries))
            return (f"the processes would average different {what}: they differ at {named} (position {i}; "
                    f"{seen}); every process must step the same parameters")
    return f"the processes would average different {what} (their layouts hash differently)"


class GradientAverager:
    """RunContext.gradient_reducer for several processes: the set, order and shapes of the parameters
    averaged at each step kind (each distinct list of parameters an optimiser steps) are agreed
    through the group the first time that kind comes up (a hash compared with one all_reduce; a
    clear error naming the parameter when they differ), then every step averages them with one
    all_reduce (average_gradients). `modules`: the engine's modules by name, for the error's names.
    `check_every_step` compares the layout at every call (a debug setting; tests use it)."""

    def __init__(self, modules=None, check_every_step: bool = False):
        self._modules = modules
        self.check_every_step = check_every_step
        self._agreed: set[tuple[int, ...]] = set()

    def _names(self) -> dict[int, str]:
        if self._modules is None:
            return {}
        return {id(p): f"{m_name}.{p_name}" for m_name, m in self._modules().items()
                for p_name, p in m.named_parameters()}

    def __call__(self, params: list[torch.Tensor]) -> None:
        if world_size() == 1:
            return
        key = tuple(id(p) for p in params)
        if self.check_every_step or key not in self._agreed:
            agree_layout(params, self._names())
            self._agreed.add(key)
        average_gradients(params)


# --- joining the processes torchrun started -------------------------------------------------------

DEFAULT_TIMEOUT_S = 300.0
TIMEOUT_ENV = "GENSTUDIO_COLLECTIVE_TIMEOUT"   # seconds; the CLI's --collective-timeout sets it


class DistributedError(RuntimeError):
    """This process cannot join (or keep up with) the others; meant for a person."""


def launched() -> bool:
    """True when a launcher (torchrun / torch.distributed.run) started this process as one of several."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ
    except ValueError:
        return False


def is_main() -> bool:
    return rank() == 0


def timeout_s() -> float:
    try:
        value = float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))
    except ValueError:
        raise DistributedError(f"{TIMEOUT_ENV} must be a number of seconds") from None
    if value <= 0:
        raise DistributedError(f"{TIMEOUT_ENV} must be positive")
    return value


def cpu_threads_per_process() -> int:
    """OMP_NUM_THREADS when the launcher or the person set it, else this machine's cores split
    evenly between the processes on it (LOCAL_WORLD_SIZE)."""
    if os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        return int(os.environ["OMP_NUM_THREADS"])
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    return max(1, (os.cpu_count() or 1) // local)


def init_from_env(device: str = "auto") -> torch.device | None:
    """Join the process group the launcher describes (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT).

    CUDA (asked for, or `auto` with a GPU): NCCL, each process on cuda:LOCAL_RANK. Otherwise gloo
    on the CPU, with the cores split between the processes on this machine. Every collective times
    out after `timeout_s()` so a lost process never hangs the others. Returns this process's device,
    or None when there is only one process (nothing to join).
    """
    if not launched():
        return None
    if dist.is_initialized():
        return _current_device()
    if device == "mps":
        raise DistributedError("training on several processes works on CPUs (gloo) and CUDA GPUs (NCCL), not MPS")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    wait = timedelta(seconds=timeout_s())
    if use_cuda:
        if not torch.cuda.is_available():
            raise DistributedError("CUDA was asked for but no CUDA GPU is available; use --device cpu")
        if local_rank >= torch.cuda.device_count():
            raise DistributedError(f"process {rank_from_env()} wants GPU {local_rank} but this machine has "
                                   f"{torch.cuda.device_count()}; start at most that many processes per machine")
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
        dist.init_process_group("nccl", timeout=wait, device_id=dev)
    else:
        torch.set_num_threads(cpu_threads_per_process())
        dev = torch.device("cpu")
        dist.init_process_group("gloo", timeout=wait)
    return dev


class Terminated(RuntimeError):
    """The launcher (torchrun's agent, after another node failed) asked this process to end."""


def raise_on_terminate() -> None:
    """SIGTERM (what a launcher sends before SIGKILL) raises Terminated once in the main thread, so the
    training loop's failure path still says what happened in run.json; a second SIGTERM is ignored."""
    import signal

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated("the launcher ended this process (another process or node stopped)")

    signal.signal(signal.SIGTERM, handler)


def rank_from_env() -> int:
    return int(os.environ.get("RANK", "0"))


def shutdown() -> None:
    """Leave the process group (at the end of a run; harmless when there is none)."""
    if dist.is_available() and dist.is_initialized():
        try:
            dist.destroy_process_group()
        except Exception:  # noqa: BLE001 - leaving after a failure must not raise again
            pass


def _current_device() -> torch.device:
    if dist.is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


# --- small collectives (every process calls them at the same point; one process: no-ops) ---------

def barrier() -> None:
    if world_size() > 1:
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


def _flat_groups(tensors: list[torch.Tensor]) -> Iterator[tuple[list[torch.Tensor], torch.Tensor]]:
    """The tensors grouped by dtype and device, each group with its values in one flat tensor on the
    device collectives use (one collective per group)."""
    groups: dict[tuple, list[torch.Tensor]] = {}
    for t in tensors:
        groups.setdefault((t.dtype, t.device), []).append(t)
    comm = _current_device()
    for ts in groups.values():
        yield ts, torch.cat([t.detach().reshape(-1) for t in ts]).to(comm)


def _unflatten_into(ts: list[torch.Tensor], flat: torch.Tensor) -> None:
    """A group's flat values back into its tensors, in place."""
    offset = 0
    with torch.no_grad():
        for t in ts:
            k = t.numel()
            t.copy_(flat[offset:offset + k].view_as(t))
            offset += k


def broadcast_tensors(tensors: list[torch.Tensor], src: int = 0) -> None:
    """Copy `src`'s values into every process's tensors (in place), one collective per dtype/device."""
    if world_size() == 1 or not tensors:
        return
    for ts, flat in _flat_groups(tensors):
        dist.broadcast(flat, src)
        _unflatten_into(ts, flat)


def _reduce_in_place(tensors: list[torch.Tensor], mean: bool) -> None:
    n = world_size()
    if n == 1 or not tensors:
        return
    for ts, flat in _flat_groups(tensors):
        if mean and flat.is_floating_point() and flat.dtype != torch.float64:
            flat = flat.double()  # exact sums: a value the same on every process stays exactly itself
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        if mean:
            flat.div_(n)
        _unflatten_into(ts, flat)


def mean_tensors(tensors: list[torch.Tensor]) -> None:
    """Replace each tensor by its mean over every process (in place), one collective per dtype/device."""
    _reduce_in_place(tensors, mean=True)


def sum_tensors(tensors: list[torch.Tensor]) -> None:
    """Replace each tensor by its sum over every process (in place; nothing with one process)."""
    _reduce_in_place(tensors, mean=False)


def agree_values(values: list[int]) -> list[bool]:
    """For each integer (a digest, below 2**62), whether every process holds the same one."""
    if world_size() == 1 or not values:
        return [True] * len(values)
    t = torch.tensor([*values, *(-v for v in values)], dtype=torch.int64, device=_current_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    k = len(values)
    got = t.cpu().tolist()
    return [got[i] == v and -got[k + i] == v for i, v in enumerate(values)]


def broadcast_module_state(modules) -> None:
    """Every process starts from rank 0's parameters and buffers (batch-norm statistics, EMA copies)."""
    tensors = [t for m in modules for t in (*m.parameters(), *m.buffers())]
    broadcast_tensors(tensors)


def broadcast_values(values: list[float], src: int = 0) -> list[float]:
    """`src`'s list of numbers on every process (float64, so step counts stay exact)."""
    if world_size() == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=_current_device())
    dist.broadcast(t, src)
    return t.cpu().tolist()


def broadcast_flag(flag: bool, src: int = 0) -> bool:
    """Rank 0's decision, the same on every process."""
    return bool(broadcast_values([1.0 if flag else 0.0], src)[0])


def any_true(flag: bool) -> bool:
    """True on every process when it is true on any (agreeing on a non-finite loss, say)."""
    if world_size() == 1:
        return bool(flag)
    t = torch.tensor([1.0 if flag else 0.0], dtype=torch.float64, device=_current_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def mean_values(values: list[float]) -> list[float]:
    """The element-wise mean of every process's list (same length and order everywhere)."""
    n = world_size()
    if n == 1 or not values:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=_current_device())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return (t / n).cpu().tolist()


def broadcast_bytes(data: bytes | None, src: int = 0) -> bytes:
    """`src`'s bytes on every process (others pass None)."""
    if world_size() == 1:
        return data or b""
    comm = _current_device()
    size = torch.tensor([len(data) if rank() == src else 0], dtype=torch.int64, device=comm)
    dist.broadcast(size, src)
    if rank() == src:
        buf = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(comm)
    else:
        buf = torch.empty(int(size.item()), dtype=torch.uint8, device=comm)
    if buf.numel():
        dist.broadcast(buf, src)
    return bytes(buf.cpu().numpy().tobytes())


def gather_bytes(data: bytes) -> list[bytes]:
    """Every process's bytes, in rank order, on every process (all_gather: works on gloo and NCCL)."""
    n = world_size()
    if n == 1:
        return [data]
    comm = _current_device()
    size = torch.tensor([len(data)], dtype=torch.int64, device=comm)
    sizes = [torch.zeros_like(size) for _ in range(n)]
    dist.all_gather(sizes, size)
    longest = max(int(s.item()) for s in sizes)
    buf = torch.zeros(max(longest, 1), dtype=torch.uint8, device=comm)
    if data:
        buf[:len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(comm)
    bufs = [torch.empty_like(buf) for _ in range(n)]
    dist.all_gather(bufs, buf)
    return [bytes(b[:int(s.item())].cpu().numpy().tobytes()) for b, s in zip(bufs, sizes)]


def broadcast_json(obj=None, src: int = 0):
    """`src`'s JSON-able object on every process."""
    return json.loads(broadcast_bytes(json.dumps(obj).encode() if rank() == src else None, src).decode())


# --- one process failing stops all of them, and says which one and why --------------------------
# The process group's key-value store (separate from the collectives) carries the failure: the
# failing process writes its record, then leaves the group, which makes every other process's
# pending collective fail at once (gloo: "connection reset"); they read the record and report it.

_FAIL_KEY = "genstudio/failed/"
_ACK_KEY = "genstudio/failure-noted"
_store = None


def _get_store():
    global _store
    if _store is None and dist.is_initialized():
        try:
            _store = dist.distributed_c10d._get_default_store()
        except Exception:  # noqa: BLE001 - no store: failures are still reported, less precisely
            _store = None
    return _store


def remember_store() -> None:
    """Keep a handle on the store so it outlives the process group (call after init)."""
    _get_store()


def _store_set(key: str, value: str) -> None:
    """`key` set in the group's store; with no store (or one gone with its host) nothing happens."""
    store = _get_store()
    if store is None:
        return
    try:
        store.set(key, value)
    except Exception:  # noqa: BLE001
        pass


def publish_failure(me: int, step: int, message: str) -> None:
    _store_set(f"{_FAIL_KEY}{me}", json.dumps({"rank": me, "step": step, "message": message}))


def peer_failure(me: int, n: int, wait_s: float = 0.0) -> dict | None:
    """The first failure a process other than `me` (of `n`) published (lowest rank), waiting up to
    `wait_s` for one to appear."""
    store = _get_store()
    if store is None:
        return None
    deadline = time.monotonic() + wait_s
    while True:
        try:
            for r in range(n):
                key = f"{_FAIL_KEY}{r}"
                if r != me and store.check([key]):
                    return json.loads(store.get(key).decode())
        except Exception:  # noqa: BLE001 - the store went away with its host
            return None
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def acknowledge_failure() -> None:
    _store_set(_ACK_KEY, "1")


def wait_for_acknowledgement(wait_s: float = 10.0) -> bool:
    """A failing process other than rank 0 waits (briefly) until rank 0 has recorded the failure,
    so a launcher that ends all processes when one exits cannot cut rank 0's report short."""
    store = _get_store()
    if store is None:
        return False
    try:
        store.wait([_ACK_KEY], timedelta(seconds=wait_s))
        time.sleep(1.0)  # and has said so, before a launcher that ends everyone on an exit gets to it
        return True
    except Exception:  # noqa: BLE001
        return False


def leave_after_failure() -> None:
    """Leave the process group so the others' pending collectives fail now instead of timing out."""
    _get_store()
    shutdown()



def backend_name() -> str | None:
    return dist.get_backend() if dist.is_available() and dist.is_initialized() else None
