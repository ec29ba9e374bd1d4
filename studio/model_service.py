"""A background thread holding one run's model for the explorer panels: loads it, places end points,
renders frames, samples, traces the denoising path.

The GUI thread submits jobs by kind; a newer job of a kind replaces an older one not yet started
(the slider's latest position wins) and asks a running job of that kind to stop at its next
progress call. The model lives on this thread only; results go back as queued signals carrying
numpy arrays.
"""

from __future__ import annotations

import contextlib
import threading
import traceback
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PySide6.QtCore import QThread, Signal

from engines.errors import PERSON_ERRORS
from engines.families import capabilities
from engines.families.base import Cancelled
from engines.latent import (can_mix_classes, class_at, class_grid, class_path, corner_grid, decode_batches,
                            interpolate, latent_support, mix_caption, path, random_walk, to_latents)
from engines.sampling import sampling_fields
from engines.train.restore import load_engine

Job = Callable[[Callable[[int, int], None]], None]


class ModelService(QThread):
    loaded = Signal(object)               # dict: family, support (str | None), size, channels, classes, step
    endpoint_ready = Signal(str, object)  # end point name, uint8 (H, W, C) of what it decodes to
    frame_ready = Signal(float, object)   # t, uint8 (H, W, C)
    frames_ready = Signal(str, object)    # "strip" | "grid" | "walk" | "samples" | "stylemix": uint8 (N, H, W, C);
                                          # "path": uint8 (n, K, H, W, C), K snapshots per sample
    captions_ready = Signal(str, object)  # sent just before a strip/grid/walk: its class mix per frame, or None
    timings_ready = Signal(object)        # [(DDIM steps, seconds per image), ...]
    progress = Signal(str, int, int)      # job kind, done, total
    failed = Signal(str, str, str)        # job kind, message for a person, details
    cancelled = Signal(str)               # job kind stopped early on request
    busy_changed = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._cv = threading.Condition()
        self._quit = False
        self._running_kind: str | None = None
        self._superseded: set[str] = set()
        # touched only on the service thread:
        self.engine = None
        self.record: dict = {}
        self.latents: dict[str, torch.Tensor] = {}
        self.classes: dict[str, int] = {}   # class index of each end point (conditional runs)

    # --- GUI-thread API -------------------------------------------------------------------------
    def submit(self, kind: str, job: Job) -> None:
        with self._cv:
            self._jobs.pop(kind, None)
            self._jobs[kind] = job
            if self._running_kind == kind:
                self._superseded.add(kind)
            self._cv.notify()
        if not self.isRunning():
            self.start()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        with self._cv:
            self._quit = True
            self._jobs.clear()
            if self._running_kind:
                self._superseded.add(self._running_kind)
            self._cv.notify()
        return self.wait(timeout_ms) if self.isRunning() else True

    @property
    def pending(self) -> int:
        with self._cv:
            return len(self._jobs) + (1 if self._running_kind else 0)

    # --- jobs (each runs on the service thread) -------------------------------------------------
    def open_run(self, run_dir: str | Path, checkpoint: str | Path | None = None) -> None:
        def job(progress):
            engine, record = load_engine(run_dir, checkpoint)
            self.engine, self.record, self.latents, self.classes = engine, record, {}, {}
            self.loaded.emit({"family": record["family"], "support": latent_support(engine),
                              "capabilities": list(capabilities.of(engine)),
                              "why_not": {c: capabilities.why_not(engine, c) for c in capabilities.INTERFACES},
                              "class_mixing": can_mix_classes(engine),
                              "size": engine.data.size, "channels": engine.data.channels,
                              "classes": list(engine.data.class_names),
                              "conditional": engine.conditional,
                              "sampling": sampling_fields(engine),  # FieldInfo list with this run's limits
                              "step": record.get("checkpoint_step", 0), "run_dir": str(run_dir),
                              "checkpoint": record.get("checkpoint"), "warnings": record.get("warnings", [])})
        self.submit("open", job)

    def set_endpoint(self, name: str, spec: tuple[str, object], label: int | None = None) -> None:
        """spec: ("seed", int) | ("image", uint8 (H, W, C) at the model's size) | ("clear", None).
        `label`: the end point's class on conditional runs (an image is placed in the latent space
        given its class; the class morphs between end points along with the latent)."""
        def job(progress):
            engine = self._need_engine()
            kind, value = spec
            if kind == "clear":
                self.latents.pop(name, None)
                self.classes.pop(name, None)
                self.endpoint_ready.emit(name, None)
                return
            conditional = label is not None and engine.conditional
            labels = np.array([label]) if conditional else None
            if kind == "seed":
                z = engine.random_latents(1, int(value))
            elif "projection" in (latent_support(engine) or ""):
                # show the reconstruction improving while the latent is optimised
                z = to_latents(engine, np.asarray(value, np.uint8)[None], progress=progress, labels=labels,
                               preview=lambda images: self.endpoint_ready.emit(name, images[0]))
            else:
                z = to_latents(engine, np.asarray(value, np.uint8)[None], progress=progress, labels=labels)
            self.latents[name] = z[0].cpu()
            if conditional:
                self.classes[name] = int(label)
            else:
                self.classes.pop(name, None)
            own_class = self._class_rows((name,), lambda c, k: class_at(c[0], c[0], k, 0))
            self.endpoint_ready.emit(name, self._decode(z, own_class)[0])
        self.submit(f"endpoint:{name}", job)

    def render_frame(self, t: float, mode: str) -> None:
        def job(progress):
            a, b = self._ends("A", "B")
            rows = self._class_rows(("A", "B"), lambda c, k: class_at(c[0], c[1], k, t))
            self.frame_ready.emit(t, self._decode(interpolate(a, b, t, mode)[None], rows)[0])
        self.submit("frame", job)

    def render_strip(self, frames: int, mode: str) -> None:
        def job(progress):
            a, b = self._ends("A", "B")
            rows = self._class_rows(("A", "B"), lambda c, k: class_path(c[0], c[1], k, frames))
            self._emit_frames("strip", self._decode(path(a, b, frames, mode), rows, progress), rows)
        self.submit("frames", job)

    def render_grid(self, side: int, mode: str) -> None:
        def job(progress):
            corners = list(self._ends("A", "B", "C", "D"))
            rows = self._class_rows(("A", "B", "C", "D"), lambda c, k: class_grid(c, side, side, k))
            self._emit_frames("grid", self._decode(corner_grid(corners, side, side, mode), rows, progress), rows)
        self.submit("frames", job)

    def render_walk(self, frames: int, step_size: float, seed: int) -> None:
        def job(progress):
            (a,) = self._ends("A")
            rows = self._class_rows(("A",), lambda c, k: class_path(c[0], c[0], k, frames))
            self._emit_frames("walk", self._decode(random_walk(a, frames, step_size, seed), rows, progress), rows)
        self.submit("frames", job)

    def set_options(self, options: dict) -> None:
        """Sampling options of the family (sampler, steps, temperature, ...), as on the command line."""
        def job(progress):
            self._need_engine().set_sampling_options(**options)
        self.submit("options", job)

    def sample(self, n: int, seed: int, labels: np.ndarray | None, options: dict | None = None) -> None:
        """`options`: sampling options applied first, in the same job (invalid ones fail it: nothing is drawn)."""
        def job(progress):
            engine = self._need_engine()
            engine.set_sampling_options(**(options or {}))
            self.frames_ready.emit("samples", engine.sample(n, seed, labels=labels, progress=progress))
        self.submit("sample", job)

    def sample_path(self, n: int, seed: int, labels: np.ndarray | None, keep: int = 8,
                    options: dict | None = None) -> None:
        def job(progress):
            engine = self._need_engine()
            engine.set_sampling_options(**(options or {}))
            frames, _ = engine.sample_path(n, seed, labels=labels, keep_steps=keep, progress=progress)
            self.frames_ready.emit("path", np.ascontiguousarray(frames.transpose(1, 0, 2, 3, 4)))
        self.submit("sample", job)

    def style_mix(self, rows: list[int], columns: list[int], level: str, options: dict | None = None) -> None:
        """StyleGAN's style-mixing grid: frames_ready("stylemix", uint8 ((R + 1) * (C + 1), H, W, C)),
        row by row, the first row and column being the source images (the corner blank)."""
        def job(progress):
            engine = self._need_engine()
            engine.set_sampling_options(**(options or {}))
            grid = engine.style_mix(rows, columns, level)
            self.frames_ready.emit("stylemix", np.ascontiguousarray(grid.reshape((-1,) + grid.shape[2:])))
        self.submit("sample", job)

    def sampling_times(self, options: dict | None = None) -> None:
        def job(progress):
            engine = self._need_engine()
            engine.set_sampling_options(**(options or {}))
            self.timings_ready.emit(engine.sampling_times())
        self.submit("sample", job)

    def translate(self, images: np.ndarray, direction: str) -> None:
        """frames_ready("translate", uint8 (n, H, W, C_target)) for uint8 images at the model's size."""
        def job(progress):
            engine = self._need_engine()
            self.frames_ready.emit("translate", engine.translate(images, direction, progress=progress))
        self.submit("translate", job)

    def cancel(self, kind: str) -> None:
        """Stop a running job of `kind` at its next progress report (and drop a queued one: that says
        `cancelled` at once, as a stopped one does, so the panel never waits for a job that will not run)."""
        with self._cv:
            dropped = self._jobs.pop(kind, None) is not None
            if self._running_kind == kind:
                self._superseded.add(kind)
        if dropped:
            self.cancelled.emit(kind)

    # --- helpers on the service thread ------------------------------------------------------------
    def _need_engine(self):
        if self.engine is None:
            raise LookupError("open a run first")
        return self.engine

    def _ends(self, *names: str) -> tuple[torch.Tensor, ...]:
        self._need_engine()
        missing = [n for n in names if n not in self.latents]
        if missing:
            raise LookupError(f"set end point {', '.join(missing)} first")
        return tuple(self.latents[n] for n in names)

    def _class_rows(self, names: tuple[str, ...], weights) -> torch.Tensor | None:
        """What decode() gets as labels for a request between end points `names`: the class weights
        `weights(classes, num_classes)` builds, hard labels of the first end point's class when the
        model cannot mix classes, None on unconditional runs (or before the classes are known)."""
        engine = self._need_engine()
        if not engine.conditional or any(n not in self.classes for n in names):
            return None
        classes = [self.classes[n] for n in names]
        rows = weights(classes, engine.data.num_classes)
        if not can_mix_classes(engine):
            return torch.full((len(rows),), classes[0], dtype=torch.long)
        return rows

    def _emit_frames(self, kind: str, frames: np.ndarray, rows: torch.Tensor | None) -> None:
        names = list(self._need_engine().data.class_names)
        captions = None
        if rows is not None and names:
            captions = [names[int(r)] if r.ndim == 0 else mix_caption(r, names) for r in rows]
        self.captions_ready.emit(kind, captions)
        self.frames_ready.emit(kind, frames)

    def _decode(self, latents: torch.Tensor, rows: torch.Tensor | None = None, progress=None) -> np.ndarray:
        return decode_batches(self._need_engine(), latents, rows, chunk=32, progress=progress)

    def run(self) -> None:  # the thread
        while True:
            with self._cv:
                while not self._jobs and not self._quit:
                    self._cv.wait()
                if self._quit:
                    return
                kind, job = self._jobs.popitem(last=False)
                self._running_kind = kind
                self._superseded.discard(kind)
            self.busy_changed.emit(True)

            def progress(done: int, total: int, kind=kind) -> None:
                with self._cv:
                    stop = kind in self._superseded or self._quit
                if stop:
                    raise Cancelled()
                self.progress.emit(kind, done, total)

            try:
                with torch.no_grad() if kind in ("frame", "frames", "sample") else contextlib.nullcontext():
                    job(progress)
            except Cancelled:
                self.cancelled.emit(kind)
            except LookupError as exc:
                self.failed.emit(kind, str(exc).strip("'\""), "")
            except PERSON_ERRORS as exc:
                self.failed.emit(kind, str(exc), "")
            except Exception as exc:  # noqa: BLE001 - reported in the panel, never fatal
                self.failed.emit(kind, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            finally:
                with self._cv:
                    self._running_kind = None
                    idle = not self._jobs
                if idle:
                    self.busy_changed.emit(False)

