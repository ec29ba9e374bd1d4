"""A GPU check to run on a CUDA machine and commit: what the device is, how fast every family trains
at 32 px in three modes, how large a batch fits, that resume is exact on CUDA and that a process
group comes up through NCCL. One JSON file (benchmarks/results/gpu_check.json).

    .venv/bin/python benchmarks/gpu_check.py            # the full check (CUDA)
    .venv/bin/python benchmarks/gpu_check.py --families dcgan,ddpm --steps 10 --no-compile
    .venv/bin/python benchmarks/gpu_check.py --smoke    # CPU, 16 px, 3 families, one step (the test suite runs it)

Per family (the same train_step the loop calls, through Engine.optimizer_step; synthetic images):
- images/s in fp32; in bf16 autocast + channels_last (the loop's CUDA defaults; a family that keeps
  fp32 says so); and the same with every module compiled (`nn.Module.compile()`, torch.compile).
  Warm-up steps first (compilation happens there), then `--steps` timed steps between CUDA syncs.
- the largest batch that fits (bf16 + channels_last): doubling from --batch until out of memory or
  --max-batch, one step each, then the peak memory of the largest that fitted.
- attention: which of the families' attention blocks go through F.scaled_dot_product_attention, and
  the fused kernels the device offers (flash, memory-efficient, cuDNN).
Then: exact resume on the device (a few families: straight run vs stop + resume through the real
Trainer, every tensor of the state compared) and one process through NCCL (`--nproc-per-node 1`:
init_process_group("nccl") with one rank, an all_reduce and a broadcast, a short training run in
the group). Anything that fails is recorded with its error; the check goes on.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks._results import Results  # noqa: E402
from engines import registry  # noqa: E402
from engines.config import replace_checked  # noqa: E402
from engines.data import ImageDataset  # noqa: E402
from engines.families.base import Batch, DataSpec  # noqa: E402

RESUME_FAMILIES = ("dcgan", "vae", "realnvp", "pixelcnn", "ddpm", "ebm", "cyclegan", "vqvae")


def device_record(device: torch.device) -> dict:
    rec = {"type": device.type, "torch": torch.__version__, "cuda": torch.version.cuda}
    if device.type != "cuda":
        return rec
    props = torch.cuda.get_device_properties(device)
    rec.update(name=props.name, memory_gib=round(props.total_memory / 2**30, 2),
               capability=f"{props.major}.{props.minor}", multiprocessors=props.multi_processor_count,
               count=torch.cuda.device_count(), bf16=torch.cuda.is_bf16_supported(),
               cudnn=torch.backends.cudnn.version())
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        rec["driver"] = out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        rec["driver"] = None
    return rec


def attention_record(device: torch.device) -> dict:
    """Which attention blocks use F.scaled_dot_product_attention, and which fused kernels exist here."""
    import inspect
    from engines.families import transformer
    from engines.nn import gan_blocks, unet
    blocks = {"gan SelfAttention (SAGAN, BigGAN)": gan_blocks.SelfAttention.forward,
              "U-Net SelfAttention (ddpm, ldm, flow-matching)": unet.SelfAttention.forward,
              "transformer attention": transformer}
    rec = {"through_sdpa": {name: "scaled_dot_product_attention" in inspect.getsource(obj)
                            for name, obj in blocks.items()}}
    if device.type == "cuda":
        b = torch.backends.cuda
        rec["kernels_enabled"] = {"flash": b.flash_sdp_enabled(), "memory_efficient": b.mem_efficient_sdp_enabled(),
                                  "cudnn": getattr(b, "cudnn_sdp_enabled", lambda: None)(), "math": b.math_sdp_enabled()}
        q = torch.randn(8, 4, 256, 64, device=device, dtype=torch.bfloat16)
        from torch.nn.attention import SDPBackend, sdpa_kernel
        for name, backend in (("flash", SDPBackend.FLASH_ATTENTION), ("memory_efficient", SDPBackend.EFFICIENT_ATTENTION),
                              ("cudnn", getattr(SDPBackend, "CUDNN_ATTENTION", None))):
            if backend is None:
                continue
            try:
                with sdpa_kernel(backend):
                    torch.nn.functional.scaled_dot_product_attention(q, q, q)
                rec.setdefault("kernels_work", {})[name] = True
            except Exception as exc:  # noqa: BLE001 - recorded
                rec.setdefault("kernels_work", {})[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    return rec


def small_inputs(family, size: int) -> dict:
    """The family's other inputs, synthetic (an image set's spec, one RGB image), or None (trains its
    own first stage)."""
    rng = np.random.default_rng(0)
    out = {}
    for spec in family.engine_class.inputs[1:]:
        if spec.kind == "images":
            out[spec.name] = DataSpec(size, 1, 0)
        elif spec.kind == "image":
            out[spec.name] = rng.integers(0, 256, (size, size, 3), np.uint8)
        else:
            out[spec.name] = None
    return out


def build(name: str, size: int, device: torch.device, mode: str, smoke: bool):
    """The family's engine at `size` (its preset), in `mode`: fp32, bf16 (+ channels_last), compiled."""
    family = registry.get(name)
    config = family.config_class()
    if family.preset is not None:
        config = family.preset(config, size)
    if hasattr(config, "first_stage_steps"):  # two-stage families: time the second stage
        config = replace_checked(config, first_stage_steps=1)
    engine = family.engine_class(config, DataSpec(size, 1, 0), device, inputs=small_inputs(family, size))
    if mode != "fp32":
        from engines.families.base import RunContext
        from engines.train.device import resolve_precision
        engine.begin_training(RunContext(precision=resolve_precision("bf16", device, engine)))
        if device.type == "cuda":
            for m in engine.modules().values():
                m.to(memory_format=torch.channels_last)
    if mode == "compiled":
        for m in engine.modules().values():
            m.compile()
    return family, engine


def make_batch(family, batch: int, size: int, device: torch.device, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (batch, 1, size, size), dtype=torch.uint8, generator=g).to(device)
    labels = torch.zeros(batch, dtype=torch.long, device=device)
    extra = {i.name: Batch(pixels, labels) for i in family.engine_class.inputs[1:] if i.kind == "images"}
    return Batch(pixels, labels, extra)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def throughput(name: str, size: int, batch: int, device: torch.device, mode: str, warmup: int, steps: int,
               smoke: bool) -> dict:
    torch.manual_seed(0)
    family, engine = build(name, size, device, mode, smoke)
    x = make_batch(family, batch, size, device)
    total = warmup + steps + 10
    t0 = time.perf_counter()
    for s in range(warmup):
        with engine.autocast():
            engine.train_step(x, s, total)
    _sync(device)
    warm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for s in range(warmup, warmup + steps):
        with engine.autocast():
            engine.train_step(x, s, total)
    _sync(device)
    dt = time.perf_counter() - t0
    return {"images_per_s": round(batch * steps / dt, 1), "step_ms": round(1000 * dt / steps, 2),
            "warmup_s": round(warm_s, 2), "precision": engine.run_context.precision}


def largest_batch(name: str, size: int, start: int, limit: int, device: torch.device) -> dict:
    """Doubling from `start` while a step fits (bf16 + channels_last), up to `limit`."""
    fits, peak, error = None, None, None
    b = start
    while b <= limit:
        try:
            family, engine = build(name, size, device, "bf16", False)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            with engine.autocast():
                engine.train_step(make_batch(family, b, size, device), 0, 10)
            _sync(device)
            fits = b
            peak = round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None
        except Exception as exc:  # noqa: BLE001 - out of memory ends the search; anything else is recorded
            if "out of memory" not in str(exc).lower():
                error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            break
        finally:
            engine = None  # noqa: F841
            if device.type == "cuda":
                torch.cuda.empty_cache()
        b *= 2
    return {"largest_batch": fits, "peak_gib": peak, "limit_reached": fits is not None and fits * 2 > limit,
            **({"error": error} if error else {})}


def _data(n: int, size: int) -> ImageDataset:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, size, size, 1), np.uint8)
    return ImageDataset(images, np.arange(n) % 2, ["a", "b"], sources=["<gpu_check>"])


def exact_resume(name: str, size: int, device: torch.device, folder: Path) -> dict:
    """Straight run vs stopped at step 2 and resumed to step 4 (the real Trainer, bf16 on CUDA): every
    tensor of the final engine state compared."""
    from engines.train.checkpoint import engine_state
    from engines.train.loop import Control, Trainer, TrainSettings
    family = registry.get(name)
    config = family.config_class()
    if family.preset is not None:
        config = family.preset(config, size)
    if hasattr(config, "first_stage_steps"):
        config = replace_checked(config, first_stage_steps=2)
    settings = TrainSettings(steps=4, batch_size=4, log_every=1, sample_every=0, checkpoint_every=0, n_samples=4,
                             validate_every=0, monitor_every=0, device=device.type)
    data = _data(16, size)
    inputs = {}
    for spec in family.engine_class.inputs[1:]:
        if spec.required and spec.kind == "images":
            inputs[spec.name] = _data(12, size)
        elif spec.required and spec.kind == "image":
            inputs[spec.name] = np.random.default_rng(1).integers(0, 256, (size, size, 3), np.uint8)

    def final(out, stop_at=None):
        trainer = Trainer.new(name, config, settings, data, out, inputs=inputs)
        control = Control()
        if stop_at is not None:
            real = trainer.engine.train_step

            def step(batch, s, total):
                if s == stop_at - 1:
                    control.request_stop()
                return real(batch, s, total)
            trainer.engine.train_step = step
        list(trainer.run(control))
        return trainer

    a = engine_state(final(folder / f"{name}-a").engine)
    final(folder / f"{name}-b", stop_at=2)
    resumed = Trainer.resume(folder / f"{name}-b", data, inputs=inputs or None)
    list(resumed.run())
    b = engine_state(resumed.engine)
    diff = _first_difference(a, b)
    return {"exact": diff is None, **({"differs_at": diff} if diff else {})}


def _first_difference(a, b, where="engine"):
    if isinstance(a, torch.Tensor):
        return None if isinstance(b, torch.Tensor) and torch.equal(a.cpu(), b.cpu()) else where
    if isinstance(a, dict):
        if set(a) != set(b):
            return where
        return next((d for k in a if (d := _first_difference(a[k], b[k], f"{where}/{k}"))), None)
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return where
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := _first_difference(x, y, f"{where}/{i}"))), None)
    return None if a == b or (a != a and b != b) else where


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _group_child(backend: str, port: int, size: int, queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
    import torch.distributed as dist
    try:
        t0 = time.perf_counter()
        if backend == "nccl":
            torch.cuda.set_device(0)
            device = torch.device("cuda", 0)
            dist.init_process_group("nccl", rank=0, world_size=1, device_id=device)
        else:
            device = torch.device("cpu")
            dist.init_process_group("gloo", rank=0, world_size=1)
        init_s = time.perf_counter() - t0
        t = torch.ones(1 << 20, device=device)
        t0 = time.perf_counter()
        dist.all_reduce(t)
        dist.broadcast(t, 0)
        _sync(device)
        coll_s = time.perf_counter() - t0
        from engines.train.loop import Trainer, TrainSettings
        settings = TrainSettings(steps=3, batch_size=4, log_every=1, sample_every=0, checkpoint_every=0,
                                 n_samples=4, validate_every=0, monitor_every=0, device=device.type)
        name = "dcgan"
        family = registry.get(name)
        config = family.preset(family.config_class(), size) if family.preset else family.config_class()
        with tempfile.TemporaryDirectory() as folder:
            trainer = Trainer.new(name, config, settings, _data(16, size), Path(folder) / "run")
            events = list(trainer.run())
        queue.put({"ok": type(events[-1]).__name__ == "Finished", "backend": dist.get_backend(),
                   "world_size": dist.get_world_size(), "init_s": round(init_s, 2),
                   "all_reduce_broadcast_4mib_s": round(coll_s, 4), "trained_steps": trainer.step,
                   "device": str(trainer.device)})
    except Exception as exc:  # noqa: BLE001 - recorded
        queue.put({"ok": False, "error": f"{type(exc).__name__}: {exc}"[:400], "trace": traceback.format_exc()[-1500:]})
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def one_process_group(backend: str, size: int) -> dict:
    """`--nproc-per-node 1`: a process group of one (NCCL on CUDA) and a short training run in it."""
    if backend != "nccl":  # gloo on the CPU: in this process (a forked child of a process whose thread
        import queue as local  # pools have run can hang in its first collective), its environment restored
        saved = {k: os.environ.get(k) for k in ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK")}
        answer = local.Queue()
        try:
            _group_child(backend, _free_port(), size, answer)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        return answer.get_nowait()
    import torch.multiprocessing as mp
    ctx = mp.get_context("spawn")  # CUDA cannot be forked
    queue = ctx.Queue()
    proc = ctx.Process(target=_group_child, args=(backend, _free_port(), size, queue))
    proc.start()
    try:
        out = queue.get(timeout=300)
    except Exception:  # noqa: BLE001
        out = {"ok": False, "error": "no answer within 300 s"}
    proc.join(timeout=60)
    if proc.is_alive():
        proc.kill()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="CPU, 16 px, three families, one step per mode (tests)")
    ap.add_argument("--families", default="", help="comma-separated (default: every family)")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--batch", type=int, default=64, help="batch for the throughput figures")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per family and mode")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation happens here)")
    ap.add_argument("--max-batch", type=int, default=16384, help="largest batch tried")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile mode")
    ap.add_argument("--resume-families", default=",".join(RESUME_FAMILIES))
    args = ap.parse_args()
    if args.smoke:
        args.size, args.batch, args.steps, args.warmup, args.max_batch = 16, 4, 1, 1, 8
        args.no_compile = True  # compiling on a CPU takes minutes
        args.resume_families = "vae"
        args.families = args.families or "dcgan,sagan,vae"  # a GAN, one with attention, a VAE
    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    if device.type != "cuda" and not args.smoke:
        sys.exit("gpu_check: no CUDA GPU here (run it on a GPU machine; --smoke checks the script on a CPU)")
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32
    torch.backends.cudnn.allow_tf32 = False
    rec = Results("gpu_check", seeds=[0], smoke=args.smoke)
    names = [n for n in args.families.split(",") if n] or registry.names()
    figures: dict = {"device": device_record(device), "size": args.size, "batch": args.batch,
                     "attention": attention_record(device), "families": {}}
    print(f"gpu_check on {figures['device'].get('name', device.type)}", flush=True)
    modes = ["fp32", "bf16", "compiled"] if not args.no_compile else ["fp32", "bf16"]
    for name in names:
        row: dict = {}
        for mode in modes:
            try:
                row[mode] = throughput(name, args.size, args.batch, device, mode, args.warmup, args.steps, args.smoke)
            except Exception as exc:  # noqa: BLE001 - recorded; the check goes on
                row[mode] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"}
            finally:
                if device.type == "cuda":
                    torch.cuda.empty_cache()
        row["fit"] = largest_batch(name, args.size, args.batch, args.max_batch, device)
        figures["families"][name] = row
        said = "  ".join(f"{m} {row[m].get('images_per_s', 'error')}" for m in modes)
        print(f"{name:16s} images/s: {said}  largest batch {row['fit']['largest_batch']}", flush=True)
    figures["resume"] = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in [n for n in args.resume_families.split(",") if n]:
            try:
                figures["resume"][name] = exact_resume(name, args.size, device, Path(folder))
            except Exception as exc:  # noqa: BLE001 - recorded
                figures["resume"][name] = {"exact": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
            print(f"resume {name}: {figures['resume'][name]}", flush=True)
    figures["nproc_per_node_1"] = one_process_group("nccl" if device.type == "cuda" else "gloo", args.size)
    print(f"one process group: {figures['nproc_per_node_1']}", flush=True)
    rec.save(figures, settings=vars(args),
             notes="synthetic images; throughput through Engine.train_step (the loop adds data loading and logging)")


if __name__ == "__main__":
    main()
