"""One run's model for the explorer panels, loaded once per checkpoint and shared by every panel that
opens it: places end points, renders frames, samples, traces the denoising path, translates, runs tools.

`ModelHost` (a QThread) holds one checkpoint's engine and runs the jobs of every panel on it, one at a
time; `OpenModels` keeps one host per checkpoint (four panels opening the same checkpoint load it once,
one copy in memory) and ends a host when its last panel leaves it. `ModelService` is a panel's handle:
the same jobs and signals as before, its own pending jobs, end points and progress. A newer job of a kind
replaces the panel's older one not yet started (the slider's latest position wins) and asks a running
one of that kind to stop at its next progress call. The model lives on its host's thread only: panels
learn what it offers from the `loaded` dict, never by reading the engine; results carry numpy arrays.

Nothing on a host's thread emits a panel's signal itself: a job calls `send(name, *args)`, which posts
the call to the GUI thread for the host (studio.background.post_to_gui, the studio's one way), and the
host emits the handle's signal there, if that handle still uses this host and still exists. So every slot connected to a ModelService runs as a
direct call on the GUI thread: a queued call can never reach a slot whose owner was freed or that was
disconnected meanwhile (PySide6 delivers such calls, and a freed plain-Python receiver crashes the
process), and a handle that moved to another checkpoint hears nothing more from the old one.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import threading
import traceback
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import shiboken6
from PySide6.QtCore import QObject, QThread, Signal, Slot

from engines.errors import PERSON_ERRORS
from engines.families import capabilities
from engines.families.base import Cancelled
from engines.latent import (can_mix_classes, class_at, class_grid, class_path, corner_grid, decode_batches,
                            interpolate, latent_support, mix_caption, path, random_walk, to_latents)
from engines.sampling import sampling_fields
from engines.train.checkpoint import checkpoint_paths
from engines.train.restore import load_engine

from .background import gui_poster, post_to_gui, yield_to_gui

Job = Callable[[Callable[[int, int], None]], None]
STYLE_LEVELS = ("coarse", "middle", "fine")
_serials = itertools.count()
_here = threading.local()   # .host: the ModelHost whose thread this is (unset on the GUI thread)


def running_host() -> "ModelHost | None":
    """The host whose job is running on this thread (None on any other thread)."""
    return getattr(_here, "host", None)


def checkpoint_key(run_dir: str | Path, checkpoint: str | Path | None) -> tuple[str, str]:
    """Which model a request means: the run folder and the checkpoint file ("" for a model file or a run
    without checkpoints). "The newest" is resolved now, so a run that went on training is a new model."""
    run = Path(run_dir).expanduser().resolve()
    if checkpoint is None and run.is_dir():
        found = checkpoint_paths(run)
        checkpoint = found[-1][1] if found else None
    if checkpoint is None:
        return str(run), ""
    text = str(checkpoint)
    return str(run), str(Path(text).resolve()) if Path(text).exists() else text


def offers(engine) -> dict:
    """What the studio may ask of this engine, worked out on the model's thread (panels never read it)."""
    levels = getattr(engine, "levels", {}) if capabilities.has(engine, "stylemix") else {}
    directions = []
    for d in getattr(engine, "directions", ()) or ():
        try:
            directions.append((d, *engine.channels_of(d)))
        except Exception:  # noqa: BLE001 - a direction it cannot describe is left out
            continue
    return {"engine_class": type(engine), "path": capabilities.has(engine, "path"),
            "times": capabilities.has(engine, "path"),
            "style_levels": [k for k in STYLE_LEVELS if levels.get(k)], "directions": directions}


class ModelHost(QThread):
    """One checkpoint's engine on its own thread, running the jobs of every panel that opened it."""

    def __init__(self, key: tuple[str, str], run_dir: str | Path, checkpoint, models: "OpenModels"):
        super().__init__()
        gui_poster()   # made here, on the GUI thread, before the thread posts to it
        self.setObjectName("genstudio-model")
        self.key, self.run_dir, self.checkpoint, self.models = key, run_dir, checkpoint, models
        self.serial = next(_serials)   # names this host in a handle's count of what is on its way
        self._jobs: OrderedDict[tuple[int, str], tuple[ModelService, Job]] = OrderedDict()
        self._cv = threading.Condition()
        self._quit = False
        self._running: tuple[int, str] | None = None
        self._superseded: set[tuple[int, str]] = set()
        # touched only on this thread:
        self.engine = None
        self.record: dict = {}

    # --- any thread ---------------------------------------------------------------------------------
    def submit(self, client: "ModelService", kind: str, job: Job) -> None:
        key = (id(client), kind)
        with self._cv:
            self._jobs.pop(key, None)
            self._jobs[key] = (client, job)
            if self._running == key:
                self._superseded.add(key)
            self._cv.notify()
        if not self.isRunning() and not self._quit:
            self.start()

    def cancel(self, client: "ModelService", kind: str) -> bool:
        """Stop the client's running job of `kind`; drop a queued one (True when one was dropped)."""
        key = (id(client), kind)
        with self._cv:
            dropped = self._jobs.pop(key, None) is not None
            if self._running == key:
                self._superseded.add(key)
        return dropped

    def forget(self, client: "ModelService") -> None:
        """The client left: its queued jobs go, its running one stops."""
        with self._cv:
            for key in [k for k in self._jobs if k[0] == id(client)]:
                del self._jobs[key]
            if self._running is not None and self._running[0] == id(client):
                self._superseded.add(self._running)

    def pending(self, client: "ModelService") -> int:
        with self._cv:
            mine = sum(1 for k in self._jobs if k[0] == id(client))
            return mine + (1 if self._running is not None and self._running[0] == id(client) else 0)

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        with self._cv:
            self._quit = True
            self._jobs.clear()
            if self._running:
                self._superseded.add(self._running)
            self._cv.notify()
        return self.wait(timeout_ms) if self.isRunning() else True

    def _deliver(self, client: "ModelService", name: str, args: tuple) -> None:
        """On the GUI thread: a job's signal, emitted by its handle unless the handle left this host
        (another checkpoint, or closed) or was deleted with its panel."""
        with client._in_flight_lock:
            left = client._in_flight.get(self.serial, 0) - 1
            if left > 0:
                client._in_flight[self.serial] = left
            else:
                client._in_flight.pop(self.serial, None)
        if client.host is self and shiboken6.isValid(client):
            getattr(client, name).emit(*args)

    # --- this thread ----------------------------------------------------------------------------------
    def send(self, client: "ModelService", name: str, *args) -> None:
        with client._in_flight_lock:
            client._in_flight[self.serial] = client._in_flight.get(self.serial, 0) + 1
        post_to_gui(self, self._deliver, client, name, args)

    def ensure_loaded(self):
        """(engine, record): loaded on the first request, shared by every later one."""
        if self.engine is None:
            self.engine, self.record = load_engine(self.run_dir, self.checkpoint)
            self.models.count_load(self.key)
        return self.engine, self.record

    def _busy_with(self, client_id: int) -> bool:
        return any(k[0] == client_id for k in self._jobs)

    def run(self) -> None:  # the thread
        _here.host = self
        yield_to_gui()
        while True:
            with self._cv:
                while not self._jobs and not self._quit:
                    self._cv.wait()
                if self._quit:
                    return
                key, (client, job) = self._jobs.popitem(last=False)
                self._running = key
                self._superseded.discard(key)
            kind = key[1]
            self.send(client, "busy_changed", True)

            def progress(done: int, total: int, key=key, client=client) -> None:
                with self._cv:
                    stop = key in self._superseded or self._quit
                if stop:
                    raise Cancelled()
                self.send(client, "progress", key[1], done, total)

            try:
                with torch.no_grad() if kind in ("frame", "frames", "sample") else contextlib.nullcontext():
                    job(progress)
            except Cancelled:
                self.send(client, "cancelled", kind)
            except LookupError as exc:
                self.send(client, "failed", kind, str(exc).strip("'\""), "")
            except PERSON_ERRORS as exc:
                self.send(client, "failed", kind, str(exc), "")
            except Exception as exc:  # noqa: BLE001 - reported in the panel, never fatal
                self.send(client, "failed", kind, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            finally:
                with self._cv:
                    idle = not self._busy_with(key[0])
                if idle:   # sent while still running: `pending` never reads 0 before it arrives
                    self.send(client, "busy_changed", False)
                with self._cv:
                    self._running = None


class OpenModels(QObject):
    """One ModelHost per checkpoint, shared by the panels that open it; `loads` counts checkpoint loads."""

    # on the GUI thread: a host loaded its checkpoint's model / a host's thread ended (its model is let go);
    # studio.heap freezes a loaded model and reclaims a closed one's memory
    model_loaded = Signal(object)   # the checkpoint key
    model_closed = Signal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.hosts: dict[tuple[str, str], ModelHost] = {}
        self.clients: dict[tuple[str, str], set[int]] = {}
        self.loads: dict[tuple[str, str], int] = {}
        self._ending: set[ModelHost] = set()   # hosts left by their last panel, until their thread ends
        self._lock = threading.Lock()

    def count_load(self, key: tuple[str, str]) -> None:
        with self._lock:
            self.loads[key] = self.loads.get(key, 0) + 1
        post_to_gui(self, self.model_loaded.emit, key)   # from the host's thread

    def total_loads(self) -> int:
        with self._lock:
            return sum(self.loads.values())

    def attach(self, client: "ModelService", run_dir, checkpoint) -> ModelHost:
        key = checkpoint_key(run_dir, checkpoint)
        host = self.hosts.get(key)
        if host is None:
            host = self.hosts[key] = ModelHost(key, run_dir, checkpoint, self)
        self.clients.setdefault(key, set()).add(id(client))
        return host

    def detach(self, client: "ModelService", host: ModelHost, wait_ms: int = 10_000) -> None:
        host.forget(client)
        users = self.clients.get(host.key, set())
        users.discard(id(client))
        if not users and self.hosts.get(host.key) is host:
            del self.hosts[host.key]
            self.clients.pop(host.key, None)
            if not host.shutdown(wait_ms):
                # still finishing a job that cannot stop (a load): kept alive until its thread ends
                self._ending.add(host)
                host.finished.connect(self._host_ended)
            else:
                self.model_closed.emit(host.key)

    @Slot()
    def _host_ended(self) -> None:
        for host in [h for h in self._ending if h.isFinished()]:
            self._ending.discard(host)
            self.model_closed.emit(host.key)

    def shutdown(self) -> None:
        hosts = [*self.hosts.values(), *self._ending]
        self.hosts.clear()
        self.clients.clear()
        # a thread that will not end in time is kept referenced: a QThread freed while it runs aborts
        self._ending = {host for host in hosts if not host.shutdown()}


_shared: OpenModels | None = None


def open_models() -> OpenModels:
    """The process's models (one per checkpoint, whatever the number of panels or windows)."""
    global _shared
    if _shared is None:
        _shared = OpenModels()
        # their threads end before the interpreter does (a QThread freed while running aborts the process)
        atexit.register(_shared.shutdown)
    return _shared


class ModelService(QObject):
    """A panel's handle on the model it opened (see the module docstring)."""

    loaded = Signal(object)               # dict: family, support (str | None), size, channels, classes, step,
                                          # and what the model offers (offers(): path, style_levels, directions...)
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

    def __init__(self, parent=None, models: OpenModels | None = None):
        super().__init__(parent)
        self.models = models or open_models()
        self.host: ModelHost | None = None
        # per host (its serial): signals its jobs sent, not yet delivered on the GUI thread (a host left
        # behind may go before delivering them: only the current host's count matters)
        self._in_flight: dict[int, int] = {}
        self._in_flight_lock = threading.Lock()
        # touched only on the host's thread:
        self.record: dict = {}
        self.latents: dict[str, torch.Tensor] = {}
        self.classes: dict[str, int] = {}   # class index of each end point (conditional runs)

    @property
    def engine(self):
        """The shared engine: for jobs on the host's thread (and tests), never for a panel's GUI code.
        A job sees its own host's engine, even if the panel has opened another checkpoint since."""
        host = running_host() or self.host
        return host.engine if host is not None else None

    def send(self, name: str, *args) -> None:
        """Emit signal `name`: from a job, through its host, on the GUI thread (module docstring)."""
        host = running_host()
        if host is None:
            getattr(self, name).emit(*args)
        else:
            host.send(self, name, *args)

    # --- GUI-thread API -------------------------------------------------------------------------
    def submit(self, kind: str, job: Job) -> None:
        if self.host is None:
            self.failed.emit(kind, "open a run first", "")
            return
        self.host.submit(self, kind, job)

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        host, self.host = self.host, None
        if host is not None:
            self.models.detach(self, host, timeout_ms)
        return True

    @property
    def pending(self) -> int:
        """Jobs of this panel queued or running, plus one while what they sent is still on its way (so
        `pending == 0` means every result of every job has been delivered)."""
        with self._in_flight_lock:
            on_the_way = 1 if self.host is not None and self._in_flight.get(self.host.serial) else 0
        return (self.host.pending(self) if self.host is not None else 0) + on_the_way

    def cancel(self, kind: str) -> None:
        """Stop a running job of `kind` at its next progress report (and drop a queued one: that says
        `cancelled` at once, as a stopped one does, so the panel never waits for a job that will not run)."""
        if self.host is not None and self.host.cancel(self, kind):
            self.cancelled.emit(kind)

    # --- jobs (each runs on the service thread) -------------------------------------------------
    def open_run(self, run_dir: str | Path, checkpoint: str | Path | None = None) -> None:
        """Use this checkpoint's model: loaded by the first panel that asks, shared with the others."""
        host = self.models.attach(self, run_dir, checkpoint)
        if host is not self.host:
            old, self.host = self.host, host
            if old is not None:
                self.models.detach(self, old, 0)

        def job(progress):
            engine, record = host.ensure_loaded()
            self.record, self.latents, self.classes = record, {}, {}
            self.send("loaded", {"family": record.family, "support": latent_support(engine),
                              "capabilities": list(capabilities.of(engine)),
                              "why_not": {c: capabilities.why_not(engine, c) for c in capabilities.INTERFACES},
                              "class_mixing": can_mix_classes(engine),
                              "size": engine.data.size, "channels": engine.data.channels,
                              "classes": list(engine.data.class_names),
                              "conditional": engine.conditional,
                              "sampling": sampling_fields(engine),  # FieldInfo list with this run's limits
                              "step": record.checkpoint_step, "run_dir": str(run_dir),
                              "checkpoint": record.checkpoint, "warnings": list(record.warnings),
                              **offers(engine)})
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
                self.send("endpoint_ready", name, None)
                return
            conditional = label is not None and engine.conditional
            labels = np.array([label]) if conditional else None
            if kind == "seed":
                z = engine.random_latents(1, int(value))
            elif "projection" in (latent_support(engine) or ""):
                # show the reconstruction improving while the latent is optimised
                z = to_latents(engine, np.asarray(value, np.uint8)[None], progress=progress, labels=labels,
                               preview=lambda images: self.send("endpoint_ready", name, images[0]))
            else:
                z = to_latents(engine, np.asarray(value, np.uint8)[None], progress=progress, labels=labels)
            self.latents[name] = z[0].cpu()
            if conditional:
                self.classes[name] = int(label)
            else:
                self.classes.pop(name, None)
            own_class = self._class_rows((name,), lambda c, k: class_at(c[0], c[0], k, 0))
            self.send("endpoint_ready", name, self._decode(z, own_class)[0])
        self.submit(f"endpoint:{name}", job)

    def render_frame(self, t: float, mode: str) -> None:
        def job(progress):
            a, b = self._ends("A", "B")
            rows = self._class_rows(("A", "B"), lambda c, k: class_at(c[0], c[1], k, t))
            self.send("frame_ready", t, self._decode(interpolate(a, b, t, mode)[None], rows)[0])
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
            self.send("frames_ready", "samples", engine.sample(n, seed, labels=labels, progress=progress))
        self.submit("sample", job)

    def sample_path(self, n: int, seed: int, labels: np.ndarray | None, keep: int = 8,
                    options: dict | None = None) -> None:
        def job(progress):
            engine = self._need_engine()
            engine.set_sampling_options(**(options or {}))
            frames, _ = engine.sample_path(n, seed, labels=labels, keep_steps=keep, progress=progress)
            self.send("frames_ready", "path", np.ascontiguousarray(frames.transpose(1, 0, 2, 3, 4)))
        self.submit("sample", job)

    def style_mix(self, rows: list[int], columns: list[int], level: str, options: dict | None = None) -> None:
        """StyleGAN's style-mixing grid: frames_ready("stylemix", uint8 ((R + 1) * (C + 1), H, W, C)),
        row by row, the first row and column being the source images (the corner blank)."""
        def job(progress):
            engine = self._need_engine()
            engine.set_sampling_options(**(options or {}))
            grid = engine.style_mix(rows, columns, level)
            self.send("frames_ready", "stylemix", np.ascontiguousarray(grid.reshape((-1,) + grid.shape[2:])))
        self.submit("sample", job)

    def sampling_times(self, options: dict | None = None) -> None:
        def job(progress):
            engine = self._need_engine()
            engine.set_sampling_options(**(options or {}))
            self.send("timings_ready", engine.sampling_times())
        self.submit("sample", job)

    def translate(self, images: np.ndarray, direction: str) -> None:
        """frames_ready("translate", uint8 (n, H, W, C_target)) for uint8 images at the model's size."""
        def job(progress):
            engine = self._need_engine()
            self.send("frames_ready", "translate", engine.translate(images, direction, progress=progress))
        self.submit("translate", job)

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
        self.send("captions_ready", kind, captions)
        self.send("frames_ready", kind, frames)

    def _decode(self, latents: torch.Tensor, rows: torch.Tensor | None = None, progress=None) -> np.ndarray:
        return decode_batches(self._need_engine(), latents, rows, chunk=32, progress=progress)
