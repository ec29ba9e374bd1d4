"""A run's state in a checkpoint: what is saved (the engine, the random state, the loop's counters,
every process's own part), how a checkpoint is read back and checked against the run, and how its
state is applied, on the same number of processes (exactly) or another (with a warning)."""

from __future__ import annotations

from pathlib import Path

from ..config import to_dict
from . import events as ev
from . import process_state
from ..families.base import NonFiniteError
from .checkpoint import CheckpointError, best_checkpoint, load_checkpoint, save_checkpoint
from .engine_state import engine_state, load_engine_state, rng_state, set_rng_state
from .safety import cpu_copy, weights_finite


def record_device(t) -> None:
    """run.json's account of where and how the run trains (device, precision, processes)."""
    if t.run_dir is not None:
        t.run_dir.update_record(device=str(t.device), precision=t.precision, channels_last=t.channels_last,
                                settings=to_dict(t.settings), distributed=distributed_record(t))


def distributed_record(t) -> dict:
    """What run.json and the Training panel say about the processes."""
    return {"world_size": t.world, "per_process_batch": t.local_batch, "global_batch": t.settings.batch_size,
            "backend": t.group.backend, "batch_norm": t.batch_norm}


def checkpoint_state(t) -> tuple[dict, dict]:
    """The checkpoint's content. Several processes (a collective): every process's own random state
    and loss accumulators go in too ("ranks"), gathered to all, so each can continue exactly."""
    payload = {"engine": engine_state(t.engine), "rng": rng_state()}
    loop = {"step": t.step, "acc": dict(t.acc), "acc_n": t.acc_n, "pending_metrics": dict(t.pending_metrics),
            **t.safety.state(), **t.watches.state(), "train_seconds": t.train_seconds()}
    meta = {"family": t.family.name, "config": to_dict(t.config), "settings": to_dict(t.settings),
            "data_spec": t.spec.to_json(), "loop": loop}
    if t.group.world > 1:
        payload["ranks"] = t.group.gather({"rng": payload["rng"], "acc": dict(t.acc), "acc_n": t.acc_n,
                                           **t.group.own_state(t.engine)})
        loop["world_size"] = t.group.world
    if t.engine.best_metric:
        meta["best_metric"] = t.engine.best_metric
    return payload, meta


def read_checkpoint(t, path: Path, loaded: tuple[dict, dict] | None = None) -> tuple[dict, dict]:
    """A checkpoint of this run (same family and config), its best value brought up to date."""
    payload, meta = loaded if loaded is not None else load_checkpoint(path)
    if meta.get("family") != t.family.name:
        raise CheckpointError(f"checkpoint is from family {meta.get('family')!r}, not {t.family.name!r}")
    ours = to_dict(t.config)
    theirs = meta.get("config", {})
    differ = sorted(k for k in set(ours) & set(theirs) if ours[k] != theirs[k])
    if differ:
        k = differ[0]
        raise CheckpointError(f"the checkpoint was trained with other settings than this run's run.json "
                              f"({k}: {theirs[k]!r} in the checkpoint, {ours[k]!r} in run.json); "
                              f"it cannot be continued")
    best = best_checkpoint(t.run_dir.path) if t.run_dir is not None else None
    if best is not None and t.engine.best_metric:
        try:  # the best copy may come from a later, abandoned timeline: it still counts
            _, best_meta = load_checkpoint(best, verify=False)
            value = best_meta.get("loop", {}).get("best")
            loop = meta.setdefault("loop", {})
            mine = loop.get("best")
            if value is not None and (mine is None or value < mine):
                loop["best"], loop["best_step"] = float(value), int(best_meta["step"])
        except CheckpointError:
            pass
    return payload, meta


def apply_state(t, payload: dict, meta: dict) -> None:
    loop = meta["loop"]
    t.step = int(loop["step"])
    saved_world, world, rank = int(loop.get("world_size", 1)), t.group.world, t.group.rank
    ranks = payload.get("ranks") or [{"rng": payload["rng"], "acc": loop["acc"], "acc_n": loop["acc_n"]}]
    # each process's own part (extra state; replay buffer, pool) back to the same rank
    load_engine_state(t.engine, process_state.own_engine_state(payload["engine"], ranks, rank, saved_world == world))
    if saved_world == world:  # exact: each process takes up its own random state and sums
        mine = ranks[rank]
        set_rng_state(mine["rng"])
        t.acc = {k: float(v) for k, v in mine["acc"].items()}
    else:  # the interval's mean so far carries over; the random draws cannot
        if rank == 0:
            set_rng_state(payload["rng"])
        else:
            t.group.reseed(t.settings.seed, t.step)
        t.acc = {k: sum(float(r["acc"][k]) for r in ranks) / len(ranks) for k in ranks[0]["acc"]}
        t.notes.append(ev.TrainWarning(
            t.step, f"this run was trained on {saved_world} process{'es' if saved_world > 1 else ''} and "
            f"continues on {world}: weights, optimisers and step carry over, but the random draws "
            f"(noise, flips, which process sees which images) differ from the interrupted run, so it will "
            f"not repeat an uninterrupted run exactly{process_state.redistributed(t.engine, saved_world)}",
            "distributed"))
    t.acc_n = int(loop["acc_n"])
    t.pending_metrics = dict(loop.get("pending_metrics", {}))
    t.safety.load(loop)
    t.watches.load(loop)
    if not t.budget.started:  # resuming: the budget goes on from the checkpoint's training time
        t.budget.seconds_before = float(loop.get("train_seconds", 0.0))


def save(t, best: bool = False) -> Path | None:
    """Checkpoint trainer `t` now (run folder) or refresh its in-memory last good state (no run
    folder). Raises NonFiniteError instead of saving weights that hold inf/NaN."""
    if not weights_finite(t.engine):  # weights are the same on every process: they all agree
        raise NonFiniteError(f"the weights became non-finite by step {t.step}")
    if not t.persist:
        t.safety.snapshot = cpu_copy(checkpoint_state(t))
        return None
    payload, meta = checkpoint_state(t)
    path = None
    if t.run_dir is not None:
        path = save_checkpoint(t.run_dir.path, t.step, payload, meta, keep=t.settings.keep_checkpoints, best=best)
    t.group.barrier()  # nobody trains on while rank 0 writes
    t.safety.snapshot = None  # the checkpoint on disk is the last good state now
    return path


def load(t, path: Path, loaded: tuple[dict, dict] | None = None) -> None:
    """Continue trainer `t` from a checkpoint (rank 0 reads it; every process gets the same state)."""
    apply_state(t, *t.group.from_main(lambda: read_checkpoint(t, path, loaded)))
    if t.run_dir is not None:
        t.run_dir.truncate_metrics(t.step)
