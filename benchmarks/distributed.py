"""Images/s of one family trained by 1 process vs N processes (torch.distributed, gloo) on this
machine's CPUs, and the scaling.

    nice -n 5 .venv/bin/python benchmarks/distributed.py [--family dcgan] [--size 32] [--batch 64]
        [--steps 20] [--procs 2] [--threads C]     # --smoke: a few tiny steps (the test suite runs it)

Three measurements, each the same global batch (the processes split it) and the same steps after
two warm-up steps, every step through the real Trainer: its data order and shards, the engine's
train_step and the gradient all-reduce at the one seam:
  1 process,  C threads          (all the cores to one process)
  1 process,  C/N threads        (one process's share)
  N processes, C/N threads each  (gloo on 127.0.0.1, started by fork)
Prints images/s of each; speedup = N processes / 1 process with all cores (is splitting the cores
between processes better than threads in one?), and scaling efficiency = N processes /
(N x one process's share), 1.0 being perfectly linear. On a GPU machine the same question is
asked of NCCL and one GPU per process:

    .venv/bin/python benchmarks/distributed.py --device cuda --procs 2 --batch 256 --size 64
    .venv/bin/python benchmarks/distributed.py --device cuda --procs 2 --check-families   # every family,
        # 3 steps on 2 GPUs with bf16 autocast and channels_last (the loop's CUDA defaults): ok or the error

(CUDA: 1 process on cuda:0 vs N processes on cuda:0..N-1, NCCL, started by spawn; threads do not apply.)
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from engines import registry
from engines.config import replace_checked
from engines.data import ImageDataset
from engines.train.loop import Trainer, TrainSettings

SMALL = {"dcgan": {"latent_dim": 16, "g_width": 8, "d_width": 8}}


def make_data(n: int, size: int, seed: int = 0) -> ImageDataset:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    images = np.empty((n, size, size, 1), np.uint8)
    for i in range(n):
        cy, cx = rng.uniform(size * 0.3, size * 0.7, 2)
        r = size * rng.uniform(0.1, 0.25)
        images[i, ..., 0] = (255 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))).astype(np.uint8)
    return ImageDataset(images, np.zeros(n, np.int64), [], sources=["<benchmark>"])


def make_trainer(args, family_name: str | None = None, log_every: int = 10**6) -> Trainer:
    name = family_name or args.family
    family = registry.get(name)
    config = family.config_class()
    if family.preset is not None:
        config = family.preset(config, args.size)
    if args.smoke:
        config = replace_checked(config, **SMALL.get(name, {}))
    settings = TrainSettings(steps=args.steps + 2, batch_size=args.batch, device=args.device, log_every=log_every,
                             sample_every=0, checkpoint_every=0, validate_every=0, monitor_every=0, n_samples=4)
    inputs = {}
    for spec in family.engine_class.inputs[1:]:  # a family's other required inputs (CycleGAN's second set)
        if spec.required and spec.kind == "images":
            inputs[spec.name] = make_data(max(256, args.batch * 4), args.size, seed=1)
        elif spec.required and spec.kind == "image":
            inputs[spec.name] = make_data(1, args.size, seed=2).images[0]
    return Trainer.new(name, config, settings, make_data(max(256, args.batch * 4), args.size), None, inputs=inputs)


def _sync(args) -> None:
    if args.device == "cuda":
        torch.cuda.synchronize()


def timed_steps(trainer: Trainer, steps: int, args) -> float:
    """Seconds for `steps` training steps after two warm-up steps (processes in step: a barrier)."""
    total = steps + 2
    for k in range(2):
        with trainer.engine.autocast():
            trainer.engine.train_step(trainer._batch(k), k, total)
    _sync(args)
    if dist.is_initialized():
        dist.barrier()
    t0 = time.perf_counter()
    for k in range(2, total):
        with trainer.engine.autocast():
            trainer.engine.train_step(trainer._batch(k), k, total)
    _sync(args)
    if dist.is_initialized():
        dist.barrier()
    return time.perf_counter() - t0


def one_process(args, threads: int) -> float:
    torch.set_num_threads(threads)
    trainer = make_trainer(args)
    return args.batch * args.steps / timed_steps(trainer, args.steps, args)


def _join(rank, world, port, args) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if args.device == "cuda":
        torch.cuda.set_device(rank)
        dist.init_process_group("nccl", rank=rank, world_size=world, timeout=timedelta(seconds=300),
                                device_id=torch.device("cuda", rank))
    else:
        dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=300))


def _rank_main(rank, world, port, args, threads, queue):
    torch.set_num_threads(threads)
    _join(rank, world, port, args)
    try:
        if args.check_families:
            from engines.train import events as ev
            for name in registry.names():
                t0 = time.perf_counter()
                try:
                    trainer = make_trainer(args, name, log_every=1)
                    events = list(trainer.run())
                    failed = [e.message for e in events if isinstance(e, ev.Failed)]
                    losses = [e.losses for e in events if isinstance(e, ev.Progress)]
                    result = {"family": name, "ok": not failed, "error": failed[0] if failed else None,
                              "precision": trainer.precision, "channels_last": trainer.channels_last,
                              "last_losses": losses[-1] if losses else None}
                except Exception as exc:  # noqa: BLE001 - reported per family
                    result = {"family": name, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
                result["seconds"] = round(time.perf_counter() - t0, 2)
                if rank == 0:
                    queue.put(result)
            queue.put((rank, 0.0))
        else:
            trainer = make_trainer(args)
            queue.put((rank, timed_steps(trainer, args.steps, args)))
    finally:
        dist.destroy_process_group()


def _start(args, threads: int):
    # fork starts in milliseconds, but a CUDA context cannot cross a fork: spawn there
    ctx = mp.get_context("spawn" if args.device == "cuda" else "fork")
    queue = ctx.Queue()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = [ctx.Process(target=_rank_main, args=(r, args.procs, port, args, threads, queue))
             for r in range(args.procs)]
    for p in procs:
        p.start()
    return procs, queue


def _wait(procs) -> None:
    for p in procs:
        p.join(timeout=120)
        if p.exitcode != 0:
            raise RuntimeError(f"a benchmark process ended with exit code {p.exitcode}")


def n_processes(args, threads: int) -> float:
    procs, queue = _start(args, threads)
    seconds = max(queue.get(timeout=1800)[1] for _ in procs)
    _wait(procs)
    return args.batch * args.steps / seconds


def check_families(args) -> list[dict]:
    """Every family a few steps on N processes (CUDA: bf16 autocast and channels_last where allowed)."""
    procs, queue = _start(args, max(1, args.threads // args.procs))
    results, finished = [], 0
    while finished < len(procs):
        item = queue.get(timeout=3600)
        if isinstance(item, dict):
            results.append(item)
            state = "ok" if item["ok"] else f"FAILED: {item['error']}"
            print(f"  {item['family']:<12} {item.get('precision', '?'):<5} channels_last={item.get('channels_last')}"
                  f"  {item['seconds']:6.1f}s  {state}", flush=True)
        else:
            finished += 1
    _wait(procs)
    return results


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--family", default="dcgan")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch", type=int, default=64, help="the global batch")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="cores to use in all")
    p.add_argument("--smoke", action="store_true", help="a few tiny steps: checks the benchmark runs")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--check-families", action="store_true",
                   help="instead of timing: train every family 3 steps on --procs processes, ok or the error")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    if args.smoke:
        args.size, args.batch, args.steps = 16, 4, 1
    if args.batch % args.procs:
        p.error(f"--batch must split evenly over {args.procs} processes")
    share = max(1, args.threads // args.procs)
    if args.device == "cuda" and torch.cuda.device_count() < args.procs:
        p.error(f"--procs {args.procs} needs as many GPUs; this machine has {torch.cuda.device_count()}")
    if args.check_families:
        args.steps = 1  # + 2: three steps each
        print(f"every family, 3 steps, global batch {args.batch}, {args.size}px, {args.procs} processes on {args.device}")
        results = check_families(args)
        if args.json:
            print(json.dumps(results))
        return {"families": results}
    if args.device == "cpu":
        registry.get(args.family)  # imported before the fork: the processes inherit it
        make_trainer(args)
    result = {"family": args.family, "size": args.size, "global_batch": args.batch, "steps": args.steps,
              "procs": args.procs, "threads": args.threads, "cpus": os.cpu_count(),
              "one_process_all_cores": one_process(args, args.threads),
              "one_process_share": one_process(args, share),
              "n_processes": n_processes(args, share)}
    torch.set_num_threads(args.threads)
    result["speedup"] = result["n_processes"] / result["one_process_all_cores"]
    result["efficiency"] = result["n_processes"] / (args.procs * result["one_process_share"])
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.family} {args.size}px, global batch {args.batch}, {args.steps} timed steps, "
              f"{args.threads} cores ({os.cpu_count()} on this machine)")
        print(f"  1 process, {args.threads} threads:     {result['one_process_all_cores']:8.1f} images/s")
        print(f"  1 process, {share} thread(s):      {result['one_process_share']:8.1f} images/s")
        print(f"  {args.procs} processes, {share} thread(s) each: {result['n_processes']:8.1f} images/s")
        print(f"  speedup over one process with all cores: {result['speedup']:.2f}x; "
              f"scaling efficiency: {result['efficiency']:.0%}")
    return result


if __name__ == "__main__":
    from benchmarks._results import record_run  # its figures go to benchmarks/results/distributed.json
    sys.exit(record_run("distributed", main))
