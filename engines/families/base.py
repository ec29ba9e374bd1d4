"""What every family's engine offers the training loop, the studio and the command line.

The surface is small on purpose:
    losses = engine.train_step(batch)        # one optimisation step, named float losses
    images = engine.sample(n, seed)          # uint8 (n, H, W, C), same seed -> same images
    engine.modules(), engine.optimizers()    # what a checkpoint saves (handled generically)
Optional: validate(batches) -> measures; monitor() -> diagnostics and warnings;
set_sampling_options(**strings) for samplers with options (a typed config, `sampling_config`, see
engines/sampling.py). What a trained model can do (sample, latent space, translate, likelihood, ...)
is declared by inheriting the interfaces in capabilities.py and asked through
`capabilities.has(engine, name)`.

Conditional families whose `class_mixing` is True also take soft class conditioning: `labels` given
to decode()/render() may be class weights, a float array (n, num_classes) of probability vectors
(0.3 of one class and 0.7 of another), instead of class indices; one-hot rows give exactly the
images of the hard labels. `class_weights()` below checks them; the latent explorer uses them to
morph the class along with the latent.

Slow samplers (autoregressive, diffusion) call `progress(done, total)` between their sequential
steps; the callback may raise `Cancelled` to stop sampling early.

What a family needs from the run arrives as arguments: train_step(batch, step, total) gets the step
and the planned length (the budget's); once, before the first step, the loop hands the engine one
RunContext (`begin_training`): the run's gradient clip, precision, gradient averaging across processes
and the fixed preview images. An engine never sees the loop's other state.

Training safety and the one gradient seam, shared by every family:
    loss.backward()
    norm = self.optimizer_step(self.opt_g, self.G)     # instead of optimizer.step()
averages gradients across processes when training is distributed, clips them to the run's grad_clip
(TrainSettings.grad_clip, or the family's own default), returns the total norm, and raises
NonFiniteError on inf/NaN gradients *before* the step, so the weights stay clean and the loop rolls
back (TrainSettings.nan_policy). Families whose validate() has a measure where lower is
better name it in `best_metric` (e.g. "bits_per_dim"): the loop then keeps a "best" checkpoint.
On CUDA the loop runs train_step under `self.autocast()` (bf16) and puts modules and batches in
channels_last; a family whose maths needs fp32 (log-determinants, large softmaxes) sets
`mixed_precision_ok = False` or wraps that part in `torch.autocast(self.device.type, enabled=False)`.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Iterable

import numpy as np
import torch

from ..progress import Cancelled, ProgressFn  # noqa: F401  (the families' stop signal, re-exported)


class NonFiniteError(FloatingPointError):
    """A loss or gradient became inf/NaN; the training loop rolls back instead of continuing."""




@dataclass(frozen=True)
class Finding:
    """Something a person should know while training (mode collapse, divergence, posterior collapse)."""
    kind: str           # short machine name: "mode-collapse", "divergence", "posterior-collapse", ...
    message: str        # one sentence for a person
    rollback: bool = False  # offer "roll back to the last checkpoint before this"


@dataclass(frozen=True)
class DataSpec:
    """What a family needs to know about the data to build its networks."""
    size: int
    channels: int
    num_classes: int = 0          # 0: unlabelled
    class_names: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"size": self.size, "channels": self.channels, "num_classes": self.num_classes,
                "class_names": list(self.class_names)}

    @classmethod
    def from_json(cls, d: dict, source: str = "") -> "DataSpec":
        """From a file someone may have shared: every field checked, class names are names, never
        paths (engines/names.py); anything else is names.UnsafeName with one line."""
        from ..names import UnsafeName, check_names

        where = f"{source}: " if source else ""
        if not isinstance(d, dict):
            raise UnsafeName(f"{where}the data description is not a mapping")

        def whole(key, lo, hi, default=None):
            v = d.get(key, default)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise UnsafeName(f"{where}data {key} must be a whole number from {lo} to {hi}, not {str(v)[:40]!r}")
            return v

        size, channels = whole("size", 1, 4096), whole("channels", 1, 1024)
        num_classes = whole("num_classes", 0, 100_000, 0)
        names = check_names(d.get("class_names", []), "class name", source)
        if names and len(names) != num_classes:
            raise UnsafeName(f"{where}{len(names)} class names for {num_classes} classes")
        return cls(size, channels, num_classes, names)


INPUT_KINDS = {
    "images": "an image set: one or more folders or image files (labels from subfolders)",
    "image": "a single image file",
    "run": "a trained run folder or an exported model file",
}


@dataclass(frozen=True)
class InputSpec:
    """One named input a family trains on. The main image set is always called "data" (`--data`);
    others are given as `--input NAME=PATH` and reach the engine's constructor as `inputs[NAME]`:
    a DataSpec for an image set (its batches arrive in `batch.extra[NAME]`), a uint8 (H, W, C)
    array for a single image, a loaded Engine for a run (None for an optional input not given)."""
    name: str
    kind: str                         # a key of INPUT_KINDS
    help: str
    required: bool = True
    families: tuple[str, ...] = ()    # kind "run": the families it may come from (empty: any)

    def __post_init__(self):
        if self.kind not in INPUT_KINDS:
            raise ValueError(f"input kind must be one of {', '.join(INPUT_KINDS)}, not {self.kind!r}")

    def expects(self) -> str:
        """What this input takes, in words (for errors and help)."""
        what = INPUT_KINDS[self.kind]
        if self.kind == "run" and self.families:
            what += f" of {', '.join(self.families)}"
        return what

    def to_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "help": self.help, "required": self.required,
                "families": list(self.families), "expects": self.expects()}


MAIN_INPUT = InputSpec("data", "images", "The training images: folders (subfolders are classes) or image files.")


@dataclass
class Batch:
    pixels: torch.Tensor          # uint8 (B, C, H, W) on the engine's device
    labels: torch.Tensor          # int64 (B,)
    extra: dict[str, "Batch"] = field(default_factory=dict)  # batches of the family's other image sets

    def float(self) -> torch.Tensor:
        """Pixels scaled to [-1, 1]."""
        return self.pixels.float().div_(127.5).sub_(1.0)


def class_weights(labels, n: int, num_classes: int) -> torch.Tensor | None:
    """Soft class conditioning: float32 (n, num_classes) when `labels` are class weights, else None.

    Weights are any floating array of that shape whose rows are probability vectors (non-negative,
    summing to 1); integer arrays (class indices) and None are hard labels and return None, so a
    family can call this first and fall through to its usual label handling.
    """
    if labels is None:
        return None
    w = labels if isinstance(labels, torch.Tensor) else torch.as_tensor(np.asarray(labels))
    if not w.is_floating_point():
        return None
    w = w.detach().float()
    if w.shape != (n, num_classes):
        raise ValueError(f"class weights must have shape ({n}, {num_classes}); got {tuple(w.shape)}")
    sums_to_one = torch.allclose(w.sum(1), torch.ones(n, device=w.device), atol=1e-4)
    if not torch.isfinite(w).all() or (w < 0).any() or not sums_to_one:
        raise ValueError("class weights must be non-negative and each row must sum to 1")
    return w


def image_batches(images: np.ndarray, device: torch.device, labels: np.ndarray | None = None,
                  batch_size: int = 64):
    """uint8 (n, H, W, C) images (and optional class indices) as Batches on `device`."""
    images = np.asarray(images, np.uint8)
    for i in range(0, len(images), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch_size])).permute(0, 3, 1, 2).contiguous()
        y = (torch.as_tensor(np.asarray(labels[i:i + batch_size]), dtype=torch.int64) if labels is not None
             else torch.zeros(len(x), dtype=torch.int64))
        yield Batch(x.to(device), y.to(device))


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) in [-1, 1] -> uint8 numpy (B, H, W, C)."""
    x = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


@dataclass(frozen=True)
class RunContext:
    """What the training loop gives an engine once, before the first step (Engine.begin_training).
    An engine outside training (sampling, tools, a test) has the default: no clip of the run's own,
    fp32, one process, no preview images."""
    grad_clip: float = 0.0            # max total gradient norm in optimizer_step; 0 = the family's own
    precision: str = "fp32"           # "fp32" or "bf16" (bf16 only ever on CUDA)
    # averages a list of parameters' gradients in place across training processes (None: one process)
    gradient_reducer: Callable[[list[torch.Tensor]], None] | None = None
    # fixed training images (and their other image sets in .extra), for families whose preview shows
    # what they do to real images (translation); None: none were given
    preview_batch: Batch | None = None


class Engine:
    """Base class. Subclasses set `family`, build networks/optimisers in __init__."""

    family: ClassVar[str] = ""
    conditional: bool = False         # trained on class labels (set by conditional families)
    # The inputs this family trains on; the first is the main image set ("data").
    inputs: ClassVar[tuple[InputSpec, ...]] = (MAIN_INPUT,)
    # Columns of the training grid (None: as square as the count allows; conditional runs: a class each)
    preview_columns: ClassVar[int | None] = None
    # What each column of the training grid shows, when the columns are not samples from noise
    # (CycleGAN: A, A->B, B, B->A); the studio heads the columns with them. None: samples from noise.
    preview_headers: ClassVar[tuple[str, ...] | None] = None
    # Settings (config fields and sampling options) that act only on class-conditional runs (guidance,
    # label dropout...): on a run without classes `--set` refuses them in one line instead of ignoring them.
    class_settings: ClassVar[tuple[str, ...]] = ()
    # validate() key to minimise for the "best" checkpoint (e.g. "bits_per_dim"); None: no best.
    best_metric: ClassVar[str | None] = None
    # the train_step loss that mirrors best_metric (the loop's overfitting watch); None: the loss of the
    # same name as best_metric, else "loss", else the first one
    train_measure: ClassVar[str | None] = None
    # False keeps this family in fp32 even where bf16 autocast is available.
    mixed_precision_ok: ClassVar[bool] = True
    # Several processes (engines/train/process_state.py): modules named here are "sharded", each
    # process's own (a replay buffer, a pool of earlier fakes: saved per rank, restored to the same
    # rank); every other module, the optimisers and schedulers are replicated (the same on every
    # process, buffers agreed each step, checked); extra_state() is rank 0's.
    process_state: ClassVar[dict[str, str]] = {}
    # the run's seam settings (begin_training); the default outside training
    run_context: RunContext = RunContext()

    def __init__(self, config, data: DataSpec, device: torch.device | str = "cpu", inputs: dict | None = None):
        self.config = config
        self.data = data
        self.device = torch.device(device)
        # values of the family's other inputs by name (see InputSpec); absent when not given
        self.input_values: dict[str, object] = dict(inputs or {})

    @classmethod
    def input_spec(cls, name: str) -> InputSpec | None:
        return next((i for i in cls.inputs if i.name == name), None)

    # --- training -------------------------------------------------------------------------
    def begin_training(self, context: RunContext) -> None:
        """The run's seam settings, given once by the loop before the first step. An engine that trains
        engines inside it (a first stage, a latent prior) hands them the same context."""
        self.run_context = context

    def train_step(self, batch: Batch, step: int = 0, total: int = 1) -> dict[str, float]:
        """One optimisation step on `batch`; `step` is this step's 0-based index and `total` the run's
        planned steps, so a family can grow, schedule lazy regularisers or switch phases. Backward
        passes end in `optimizer_step`. Returns named float losses."""
        raise NotImplementedError

    def optimizer_step(self, optimizer: torch.optim.Optimizer, parameters, clip: float = 0.0) -> float:
        """The one gradient seam: every family steps its optimisers through here, after backward().

        In order: average the gradients over every training process (the run context's
        `gradient_reducer` when it runs distributed; all processes then hold identical gradients), clip
        the total norm to the run's `grad_clip` (or, when that is 0, to `clip`, the family's own default; 0 =
        no clipping), raise NonFiniteError on inf/NaN *before* the step (the loop rolls back; after
        the average every process sees the same value, so they all agree), then step. Returns the
        total gradient norm. `parameters`: a module or an iterable of parameters.
        """
        if isinstance(parameters, torch.nn.Module):
            parameters = parameters.parameters()
        parameters = list(parameters)
        reduce = self.run_context.gradient_reducer
        if reduce is not None:  # every trained parameter, with a gradient here or not:
            # the processes agree on one list, and one without a gradient contributes zeros
            reduce([p for p in parameters if p.requires_grad])
        grads = [p for p in parameters if p.grad is not None]
        if not grads:
            optimizer.step()
            return 0.0
        limit = self.run_context.grad_clip or clip
        if limit > 0:
            norm = torch.nn.utils.clip_grad_norm_(grads, limit)
        else:  # the same norm without touching the gradients
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in grads]))
        value = float(norm)
        if not math.isfinite(value):
            raise NonFiniteError(f"gradients became non-finite (norm {value})")
        optimizer.step()
        return value

    def autocast(self):
        """Context for forward passes: bf16 autocast when the loop enabled it (CUDA), else nothing."""
        if self.run_context.precision == "bf16" and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def validate(self, batches: Iterable[Batch]) -> dict[str, float]:
        """Measures on held-out data (e.g. bits/dim). Empty when the family has none."""
        return {}

    def monitor(self, step: int) -> tuple[dict[str, float], list[Finding]]:
        """Called every `monitor_every` steps: diagnostic measures to plot/log, and findings to show.

        Must not touch the global RNG (use a local torch.Generator) so runs stay exactly resumable.
        """
        return {}, []

    # --- sampling -------------------------------------------------------------------------
    def preview(self, n: int, seed: int, labels: np.ndarray | None = None) -> np.ndarray:
        """The images of the grid drawn during training (every sample_every steps), uint8 (n, H, W, C).
        For a Sampler the same as sample() unless a family has a cheaper way that still shows how
        training is going (diffusion: fewer denoising steps); a family without samples (a translator)
        shows what it does instead (fixed inputs beside their translations)."""
        return self.sample(n, seed, labels)  # type: ignore[attr-defined]  # Sampler

    # Sampling options: a frozen dataclass of param(...) fields (engines/sampling.py), or None.
    sampling_config: ClassVar[type | None] = None
    # When a config field decides which options a run has (ldm's objective): (field, {value: options class});
    # `sampling_config` is then the class-level default's and listings show each value's own options.
    sampling_configs_by: ClassVar[tuple[str, dict[str, type]] | None] = None

    def sampling_options(self):
        """The current sampling options (an instance of `sampling_config`), or None."""
        return None

    def sampling_limits(self) -> dict[str, dict | None]:
        """Run-dependent limits on sampling options: {name: {"max": ..., "choices": ...}}; None drops an
        option that does not apply to this run."""
        return {}

    def apply_sampling_options(self, options) -> None:
        """Use `options` (a checked `sampling_config` instance) from now on."""

    def set_sampling_options(self, **options) -> None:
        """Sampler options from the command line or the studio (strings or typed values), checked against
        `sampling_config` and this run's limits: ConfigError names the bad one and nothing changes."""
        from ..sampling import parse_sampling_options
        parsed = parse_sampling_options(self, options)
        if parsed is not None:
            self.apply_sampling_options(parsed)

    def _sample_labels(self, n: int, labels, gen: torch.Generator) -> torch.Tensor | None:
        """Class indices for n samples of a conditional run: the given ones (checked), else drawn
        from `gen`; None for an unconditional run."""
        if not self.conditional:
            return None
        k = self.data.num_classes
        if labels is None:
            return torch.randint(0, k, (n,), generator=gen).to(self.device)
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if labels.shape[0] != n:
            raise ValueError(f"got {labels.shape[0]} labels for {n} samples")
        if labels.size and (labels.min() < 0 or labels.max() >= k):
            raise ValueError(f"labels must lie in 0..{k - 1}")
        return torch.from_numpy(labels).to(self.device)

    # --- state ----------------------------------------------------------------------------
    def modules(self) -> dict[str, torch.nn.Module]:
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}

    def schedulers(self) -> dict[str, object]:
        """LR schedulers (anything with state_dict/load_state_dict)."""
        return {}

    def extra_state(self) -> dict:
        """JSON-able state beyond modules and optimisers (counters, running statistics)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def set_learning_rate_scale(self, scale: float) -> None:
        """Multiply every optimiser's learning rate (used when rolling back after a divergence).

        Schedulers' base learning rates are scaled too, so a scheduler step cannot undo it.
        """
        for opt in self.optimizers().values():
            for group in opt.param_groups:
                group["lr"] *= scale
                if "initial_lr" in group:
                    group["initial_lr"] *= scale
        for sched in self.schedulers().values():
            if hasattr(sched, "base_lrs"):
                sched.base_lrs = [lr * scale for lr in sched.base_lrs]

    def parameter_count(self) -> int:
        """Trained parameters: moving-average copies (frozen, requires_grad off) are the same model again."""
        return sum(p.numel() for m in self.modules().values() for p in m.parameters() if p.requires_grad)
