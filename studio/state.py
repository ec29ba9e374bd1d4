"""The studio's state and commands: what panels subscribe to and call.

Panels never talk to each other or to threads; they read this object, connect to its signals and
call its commands. Training events arrive here from the worker (queued, in the GUI thread) and are
re-emitted unchanged, so a panel added later subscribes the same way.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from engines import registry
from engines.config import to_dict
from engines.data import ImageDataset
from engines.train import events as ev
from engines.train.inputs import InputError, check_given
from engines.train.loop import TrainSettings
from engines.train.plan import DataPlan, RunPlan, new_plan, resume_changes, resume_plan
from engines.train.run import RunDir

# A first run a person can watch to its end: five minutes of training time (the step count stays a
# cap); the Model panel's Train-for row changes it, and its Defaults button comes back to it.
FIRST_RUN_SECONDS = 300.0
from engines.data import parse_background
from engines.errors import PERSON_ERRORS

from . import workspace
from .loader import DatasetLoader
from .process_session import ProcessTrainingSession
from .worker import RunRequest, TrainingSession

IDLE, STARTING, RUNNING, PAUSED, STOPPING = "idle", "starting", "running", "paused", "stopping"


class StudioState(QObject):
    # data
    dataset_loading = Signal(list)          # sources being loaded
    dataset_progress = Signal(int, int)     # done, total
    dataset_changed = Signal(object)        # ImageDataset | None
    dataset_failed = Signal(str)            # message for a person
    loading_changed = Signal(bool)
    # model and settings
    family_changed = Signal(str)
    config_changed = Signal()               # config or settings edited (or became invalid)
    settings_replaced = Signal()            # training settings changed by a command, not by the Model form
    # training (engine events, unchanged)
    training_state_changed = Signal(str)
    run_started = Signal(object)            # ev.Started
    progress = Signal(object)               # ev.Progress
    phase = Signal(object)                  # ev.Phase (e.g. drawing the sample grid)
    metrics = Signal(object)                # ev.Metrics
    samples = Signal(object)                # ev.Samples
    checkpoint = Signal(object)             # ev.CheckpointSaved
    paused = Signal(object)
    resumed = Signal(object)
    train_warning = Signal(object)          # ev.TrainWarning
    note = Signal(object)                   # ev.Note (e.g. what automatic threads chose and why)
    finished = Signal(object)               # ev.Finished
    failed = Signal(object)                 # ev.Failed
    run_ended = Signal()                    # the worker thread is gone; a new run may start
    # a past run shown again: an engines.workspace.RunHistory (curves, samples, settings), which is
    # also os.PathLike for its run folder
    run_opened = Signal(object)
    compare_requested = Signal(list)        # run folders to show side by side (Compare panel)
    checkpoint_chosen = Signal(object, object)  # run folder, checkpoint JSON: the explorer panels open it
    # a thumbnail clicked (Dataset, Gallery): {"image": uint8 (H, W, C), "label": class name or None,
    # "source": "dataset image 12" | "gallery sample 3", "gallery_index": int (gallery only)}
    image_clicked = Signal(object)
    endpoint_offered = Signal(str, object)  # "A".."D" and such a dict: "Latent end point A" in a context menu
    gallery_selection_changed = Signal(list)  # the Gallery's selected tiles as such dicts
    settings_loaded = Signal()              # config/settings replaced from outside the forms
    inputs_changed = Signal()               # a family's other input was given or cleared
    # messages for the banner: level ("info" | "warning" | "error"), text, details
    message = Signal(str, str, str)
    # the same with a topic (the action reported on): replaces the banner's earlier message on that topic
    notice = Signal(str, str, str, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.dataset: ImageDataset | None = None
        self.sources: list[str] = []
        self._dataset_sources: list[str] = []   # the sources `dataset` came from (kept when a load fails)
        self.image_size = 32
        self.channels: int | None = None    # None: auto
        self.fit = "center-crop"
        self.background: tuple[int, int, int] = (255, 255, 255)   # behind transparent pixels
        self.family_name = registry.DEFAULT if registry.DEFAULT in registry.names() else registry.names()[0]
        self.config = registry.get(self.family_name).config_class()
        self.settings = TrainSettings(time_limit=FIRST_RUN_SECONDS)
        self.config_error: str | None = None
        self.input_paths: dict[str, list[str]] = {}   # the family's other inputs (CycleGAN's set B, ...)
        self.training_state = IDLE
        self.run_dir: Path | None = None
        self.last_started: ev.Started | None = None

        self.loader = DatasetLoader(self)
        self.loader.started.connect(self.dataset_loading)
        self.loader.progress.connect(self.dataset_progress)
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_load_failed)
        self.loader.busy_changed.connect(self.loading_changed)

        # one run at a time: in this process (a thread), or on several processes (a subprocess
        # streaming its events); `session` is the one in use, or the last one used
        self.processes = 1                  # training processes (Training settings)
        self.thread_session = TrainingSession(self)
        self.process_session = ProcessTrainingSession(parent=self)
        for session in (self.thread_session, self.process_session):
            session.ended.connect(self._on_run_ended)
        self.session = self.thread_session
        self._continue_after_load: Path | None = None  # a reopened run waiting for its images

    # --- data -------------------------------------------------------------------------------
    @property
    def loading(self) -> bool:
        return self.loader.busy

    def load(self, sources: list[str], size: int | None = None, channels: int | None | str = "keep",
             fit: str | None = None, background: tuple[int, int, int] | None = None) -> None:
        """Load folders/files in the background (replacing the current dataset when done)."""
        sources = [str(s) for s in sources]
        if not sources:
            return
        if size is not None:
            self.image_size = int(size)
        if channels != "keep":
            self.channels = channels  # type: ignore[assignment]
        if fit is not None:
            self.fit = fit
        if background is not None:
            self.background = tuple(background)
        self.sources = sources
        self.reload()

    def reload(self) -> None:
        """Load the current sources again (after a preprocessing setting changed)."""
        if self.sources:
            self.loader.load(self.sources, self.image_size, self.channels, fit=self.fit,
                             background=self.background)

    def set_preprocessing(self, size: int, channels: int | None, fit: str | None = None,
                          background: tuple[int, int, int] | None = None) -> None:
        fit = self.fit if fit is None else fit
        background = self.background if background is None else tuple(background)
        changed = (size, channels, fit, background) != (self.image_size, self.channels, self.fit, self.background)
        self.image_size, self.channels, self.fit, self.background = int(size), channels, fit, background
        if changed:
            self.reload()

    def set_flip(self, flip: bool) -> None:
        """Horizontal flip augmentation (a training setting, shown with the data)."""
        if bool(flip) != self.settings.flip:
            self.settings = replace(self.settings, flip=bool(flip))
            self.settings_replaced.emit()
            self.config_changed.emit()

    def load_sample(self) -> None:
        path = workspace.sample_digits_path()
        if path is None:
            self.message.emit("error", "The bundled sample digits were not found (assets/sample-digits).", "")
            return
        self.load([str(path)])

    def cancel_load(self) -> None:
        if self.loader.busy:
            self.loader.cancel()
            self._keep_shown_sources()
            self.dataset_failed.emit("loading was cancelled")

    def _on_loaded(self, dataset: ImageDataset) -> None:
        self.dataset = dataset
        self._dataset_sources = list(self.sources)
        self.dataset_changed.emit(dataset)
        pending, self._continue_after_load = self._continue_after_load, None
        if pending is not None:
            self.start(out_dir=pending, resume=True)

    def _keep_shown_sources(self) -> None:
        """A load that failed or was cancelled leaves the images shown; the sources go back to theirs, so
        the next preprocessing change reloads those images rather than the folder that failed."""
        if self.dataset is not None:
            self.sources = list(self._dataset_sources)

    def _on_load_failed(self, message: str, details: str) -> None:
        self._continue_after_load = None
        self._keep_shown_sources()
        self.dataset_failed.emit(message)
        self.notice.emit("error", f"Could not load images: {message}", details, "load")

    # --- model --------------------------------------------------------------------------------
    def set_family(self, name: str) -> None:
        family = registry.get(name)
        if name == self.family_name:
            return
        self.family_name = name
        self.config = family.config_class()
        self.family_changed.emit(name)
        self.config_changed.emit()

    def set_config(self, config) -> None:
        self.config = config
        self.config_changed.emit()

    def set_settings(self, settings: TrainSettings) -> None:
        self.settings = settings
        self.config_changed.emit()

    def set_config_error(self, error: str | None) -> None:
        """A form is invalid (error) or valid again (None); an invalid form blocks Start."""
        self.config_error = error
        self.config_changed.emit()

    # --- training -----------------------------------------------------------------------------
    # --- the family's other inputs ------------------------------------------------------------
    def family_inputs(self):
        return registry.get(self.family_name).engine_class.inputs

    def set_input(self, name: str, paths: list[str]) -> None:
        """Paths for one of the family's other inputs (empty: clear it); kept across family changes."""
        if paths:
            self.input_paths[name] = [str(p) for p in paths]
        else:
            self.input_paths.pop(name, None)
        self.inputs_changed.emit()

    def _current_input_paths(self) -> dict[str, list[str]]:
        wanted = {i.name for i in self.family_inputs()[1:]}
        return {k: v for k, v in self.input_paths.items() if k in wanted}

    def can_start(self) -> str | None:
        """None when a run can start, else why not (for a tooltip or a message)."""
        if self.session.active:
            return "a run is already in progress"
        if self.loading:
            return "images are still loading"
        if self.dataset is None:
            return "load some images first"
        if self.config_error:
            return self.config_error
        try:
            check_given(registry.get(self.family_name).engine_class, self._current_input_paths(),
                        self.family_name, main_loaded=True)
        except InputError as exc:
            return f"{exc} — drop it on its target in the Dataset panel"
        return None

    def start(self, out_dir: str | Path | None = "auto", resume: bool = False) -> bool:
        reason = self.can_start()
        if reason is not None:
            self.notice.emit("warning", f"Cannot start training: {reason}.", "", "start")
            return False
        run_dir = workspace.new_run_dir(self.family_name) if out_dir == "auto" else (
            Path(out_dir) if out_dir is not None else None)
        if self.processes > 1 and run_dir is None:  # the processes write their run folder; no in-memory run
            run_dir = workspace.new_run_dir(self.family_name)
        try:
            plan = self.plan(run_dir, resume)
        except PERSON_ERRORS as exc:
            self.notice.emit("warning", f"Cannot start training: {exc}.", "", "start")
            return False
        request = RunRequest(plan, self.dataset)
        if self.processes > 1:
            self.process_session.nproc = self.processes
            self.session = self.process_session
        else:
            self.session = self.thread_session
        worker = self.session.start(request)
        worker.event.connect(self._on_event)   # the one relay: each event to the signal of its kind
        self.run_dir = run_dir
        self._set_training_state(STARTING)
        self.session.launch()
        return True

    def plan(self, run_dir: Path | None, resume: bool = False) -> RunPlan:
        """The RunPlan of what the panels say (the same the CLI builds from its flags): a new run in
        `run_dir`, or (resume) the run in `run_dir` continued with the Model panel's steps, time
        limit and device, as the CLI's --resume takes them."""
        if resume:
            record = RunDir.open(run_dir).read()
            return resume_plan(record, run_dir, processes=self.processes, **resume_changes(record, self.settings))
        described = self.dataset.describe()
        data = DataPlan(tuple(str(s) for s in described["sources"]), self.dataset.size, self.dataset.channels,
                        described.get("fit", self.fit), parse_background(described.get("background", self.background)))
        return new_plan(self.family_name, self.config, self.settings, data, self._current_input_paths(), run_dir,
                        self.processes)

    @property
    def control(self):
        return self.session.control

    def pause(self) -> None:
        if self.control is not None and self.training_state in (STARTING, RUNNING):
            self.control.pause()

    def resume(self) -> None:
        if self.control is not None and self.training_state in (STARTING, RUNNING, PAUSED):
            self.control.resume()

    def toggle_pause(self) -> None:
        if self.control is None:
            return
        if self.control.paused:
            self.resume()
        else:
            self.pause()

    def stop(self) -> None:
        if self.session.active:
            self.session.request_stop()
            self._set_training_state(STOPPING)

    def save_now(self) -> None:
        if self.control is not None:
            self.control.request_save()

    def can_roll_back(self) -> bool:
        return self.control is not None and hasattr(self.control, "request_rollback")

    def roll_back(self) -> None:
        if self.can_roll_back():
            self.control.request_rollback()  # type: ignore[union-attr]

    def use_best(self, run_dir: str | Path | None = None) -> bool:
        """Open the run's best checkpoint (by its held-out measure) in the explorer panels (Sampler,
        Latent, ...); the current run unless `run_dir` is given. False, with a message, when it has none."""
        from engines.train.checkpoint import best_checkpoint

        run_dir = Path(run_dir) if run_dir is not None else self.run_dir
        best = best_checkpoint(run_dir) if run_dir is not None else None
        if best is None:
            self.message.emit("warning", "This run has no best checkpoint yet (it is kept once the run has "
                              "validated).", "")
            return False
        self.checkpoint_chosen.emit(run_dir, best)
        return True

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Stop everything and wait for the threads (the app is quitting)."""
        self.loader.shutdown()
        return self.session.join(timeout_ms)

    def set_processes(self, n: int) -> None:
        """Train on `n` processes (torch.distributed) from the next start; 1: in this process."""
        n = max(1, int(n))
        if n != self.processes:
            self.processes = n
            self.config_changed.emit()

    def _set_training_state(self, state: str) -> None:
        if state != self.training_state:
            self.training_state = state
            self.training_state_changed.emit(state)

    def _on_event(self, event) -> None:
        """Route one engine event (from either session) to the studio's signal for its kind."""
        if self._routes is None:
            self._routes = {ev.Started: self._on_started, ev.Progress: self.progress.emit, ev.Phase: self.phase.emit,
                            ev.Metrics: self.metrics.emit, ev.Samples: self.samples.emit,
                            ev.CheckpointSaved: self.checkpoint.emit, ev.Paused: self._on_paused,
                            ev.Resumed: self._on_resumed, ev.TrainWarning: self._on_warning,
                            ev.Note: lambda note: self.message.emit("info", note.message, ""),
                            ev.Finished: self._on_finished, ev.Failed: self._on_failed}
        route = self._routes.get(type(event))
        if route is not None:
            route(event)

    _routes: dict | None = None

    def _on_started(self, event: ev.Started) -> None:
        self.last_started = event
        if self.training_state != STOPPING:
            self._set_training_state(RUNNING)
        self.run_started.emit(event)

    def _on_paused(self, event: ev.Paused) -> None:
        if self.training_state != STOPPING:
            self._set_training_state(PAUSED)
        self.paused.emit(event)

    def _on_resumed(self, event: ev.Resumed) -> None:
        if self.training_state != STOPPING:
            self._set_training_state(RUNNING)
        self.resumed.emit(event)

    def _on_warning(self, event: ev.TrainWarning) -> None:
        self.train_warning.emit(event)

    def _on_finished(self, event: ev.Finished) -> None:
        self.finished.emit(event)
        where = f" in {self.run_dir}" if self.run_dir else ""
        how = "reached its time budget" if event.reason == "time budget" else event.reason
        self.message.emit("info", f"Training {how} at step {event.step}{where}.", "")

    def _on_failed(self, event: ev.Failed) -> None:
        self.failed.emit(event)

    def _on_run_ended(self) -> None:
        self._set_training_state(IDLE)
        self.run_ended.emit()

    # --- past runs -------------------------------------------------------------------------------
    def open_run(self, history) -> None:
        """Show a past run (engines.workspace.RunHistory): its settings, curves and samples."""
        if history.family != self.family_name:
            self.set_family(history.family)
        self.config, self.settings = history.record.family_config(), history.record.train_settings()
        self.run_dir = history.path
        self.settings_loaded.emit()
        self.config_changed.emit()
        self.run_opened.emit(history)

    def continue_run(self, history) -> bool:
        """Train a past run further: reopen it, load its images if needed, resume from its checkpoint.

        Steps come from the (reopened) training settings, so a finished run continues once the
        person raises them.
        """
        if self.session.active:
            self.message.emit("warning", "A run is already in progress; stop it first.", "")
            return False
        if self.run_dir != history.path:  # opened already: keep the Steps the person may have raised
            self.open_run(history)
        if self.settings.steps <= history.step:
            self.message.emit("warning", f"This run is at step {history.step:,} of {self.settings.steps:,}; "
                              f"raise Steps in the Model panel, then continue it.", "")
            return False
        data = history.record.data_plan()
        sources, size, channels = list(data.sources), data.size, data.channels
        fit, background = data.fit, data.background
        ready = (self.dataset is not None and self.sources == sources and self.dataset.size == size
                 and self.dataset.channels == channels and (self.fit, tuple(self.background)) == (fit, background))
        if ready:
            return self.start(out_dir=history.path, resume=True)
        if not sources:
            self.message.emit("error", "This run does not say which images it was trained on.", "")
            return False
        self._continue_after_load = history.path
        self.load(sources, size=size, channels=channels, fit=fit, background=background)
        return True

    def describe(self) -> dict:
        return {"family": self.family_name, "config": to_dict(self.config), "settings": to_dict(self.settings)}
