"""TrainSettings: how long and how to train, the same for every family (the family's own settings
live in its config class)."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import param

DEVICES = ("auto", "cpu", "cuda", "mps")
NAN_POLICIES = ("rollback", "fail")
PRECISIONS = ("auto", "fp32", "bf16")

# what a continued run may change (the CLI's --resume and the studio's Continue alike); everything
# else is the run's own
RESUME_CHANGEABLE = ("steps", "device", "time_limit")


@dataclass(frozen=True)
class TrainSettings:
    """How long and how to train; the same for every family."""
    steps: int = param(2000, min=1, max=10_000_000, help="Total optimisation steps.")
    time_limit: float = param(0.0, min=0.0, max=1e8, label="time limit (s)",
                              help="Also stop (with a checkpoint, as Stop does) after this much training time in "
                                   "seconds, counted over all sessions of the run, paused time not counted; "
                                   "0: steps alone decide.")
    batch_size: int = param(64, min=1, max=4096, help="Images per step.")
    seed: int = param(0, min=0, max=2**31 - 1, help="Seeds weights, data order and noise; same seed, same run.")
    device: str = param("auto", choices=DEVICES, help="Where to train; auto picks CUDA, then MPS, then CPU.")
    threads: int = param(0, min=0, max=1024, label="CPU threads",
                         help="Threads PyTorch computes with on the CPU; 0: automatic (OMP_NUM_THREADS when set; "
                              "else it tries 1 up to one per physical core on a few steps, keeps the fastest "
                              "and tries again when training slows down or now and then, as other work on "
                              "the machine comes and goes). A number is kept as given: runs with the same "
                              "seed and count repeat exactly; automatic ones only where it picks alike.")
    log_every: int = param(10, min=1, max=100_000, help="Steps between logged losses (averaged over the interval).")
    sample_every: int = param(200, min=0, max=1_000_000, help="Steps between sample grids; 0 turns them off.")
    sample_seconds: float = param(15.0, min=0.0, max=1e6, label="first grid after (s)",
                                  help="Also draw a sample grid after this much training time since the last "
                                       "one, the gap doubling after each such grid, so the first samples show "
                                       "within seconds on a slow machine; sampling stays under a tenth of the "
                                       "training time. 0: sample_every alone decides.", advanced=True)
    checkpoint_every: int = param(500, min=0, max=1_000_000, help="Steps between checkpoints; 0: only at the end.")
    keep_checkpoints: int = param(3, min=1, max=1000, help="How many recent checkpoints to keep.")
    n_samples: int = param(64, min=1, max=256, help="Images in each sample grid (always from the same noise).")
    flip: bool = param(False, help="Random horizontal flips while training (augmentation).")
    val_fraction: float = param(0.1, min=0.0, max=0.5, help="Share of images held out for validation (families that validate).")
    validate_every: int = param(500, min=0, max=1_000_000, help="Steps between validation passes; 0 turns them off.")
    overfit_patience: int = param(3, min=0, max=100, help="Warn of overfitting when the held-out measure gets worse this many validations in a row while the training loss improves; 0 turns the warning off.", advanced=True)
    monitor_every: int = param(100, min=0, max=1_000_000, help="Steps between family diagnostics (collapse, divergence); 0 turns them off.")
    grad_clip: float = param(0.0, min=0.0, max=1e6, help="Clip the total gradient norm to this (each family has its own default when this is 0); 0 turns clipping off.")
    nan_policy: str = param("rollback", choices=NAN_POLICIES, help="On a non-finite loss or gradient: roll back to the last good checkpoint with a lower learning rate, or fail at once.", advanced=True)
    lr_backoff: float = param(0.5, min=0.01, max=1.0, help="Learning-rate factor applied at each rollback.", advanced=True)
    max_rollbacks: int = param(3, min=0, max=100, help="Rollbacks after non-finite values before the run stops as failed.", advanced=True)
    precision: str = param("auto", choices=PRECISIONS, help="auto: bf16 autocast on CUDA GPUs that support it, fp32 elsewhere; fp32 always; bf16 only on CUDA.", advanced=True)
    channels_last: bool = param(True, help="channels_last memory layout for convolutions on CUDA (faster on tensor cores); ignored elsewhere.", advanced=True)
