"""Each tool's options, typed once (param() dataclasses like StyleOptions): the command line's flags
(engines/cli/tool_args.add_options) and the studio's Tools form (a ConfigForm) are both made from
these, so a range or a help text is written in one place.

`steps` 0 means the model's own: the run's sampling steps for a diffusion or flow prior, 200 for a
latent fit, the run's Langevin steps for an energy."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import param


@dataclass(frozen=True)
class ScoreOptions:
    fpr: float = param(0.05, min=0.001, max=0.5, label="false positives on held-out",
                       help="the share of held-out images the threshold flags as unusual")
    complexity: bool = param(True, label="subtract PNG bits/dim",
                             help="subtract each image's own PNG bits/dim (Serrà et al. 2020): raw likelihood "
                                  "prefers simple images even when they are unusual (likelihood families)")
    projection_steps: int = param(100, min=1, max=10_000, advanced=True,
                                  help="latent optimisation steps of the projection error (generators)")


@dataclass(frozen=True)
class UpscaleOptions:
    steps: int = param(0, min=0, max=10_000, advanced=True,
                       help="diffusion or flow steps, or latent optimisation steps (0: the model's own)")


@dataclass(frozen=True)
class InpaintOptions(UpscaleOptions):
    candidates: int = param(1, min=1, max=16, label="candidates per image",
                            help="fillings per image (written as NAME.png, NAME.c1.png, ...)")
    resample: int = param(2, min=1, max=20, advanced=True,
                          help="diffusion or flow: RePaint's resampling rounds per step")
    sweeps: int = param(2, min=0, max=20, advanced=True,
                        help="autoregressive models: Gibbs sweeps over the hole when known pixels follow it")


@dataclass(frozen=True)
class DenoiseOptions(UpscaleOptions):
    sigma: float = param(0.0, min=0.0, max=255.0, label="noise level σ",
                         help="the noise's standard deviation on the 0-255 scale; 0: estimate it per image")


@dataclass(frozen=True)
class SynthesizeOptions:
    n_per_class: int = param(16, min=1, max=100_000, label="images per class",
                             help="images per class (unlabelled runs: images in all)")
    min_confidence: float = param(0.0, min=0.0, max=0.99, label="min. classifier confidence",
                                  help="keep only images a classifier trained on the run's data assigns to their "
                                       "class with at least this probability (0: keep all)")


OPTIONS: dict[str, type] = {"score": ScoreOptions, "inpaint": InpaintOptions, "denoise": DenoiseOptions,
                            "upscale": UpscaleOptions, "synthesize": SynthesizeOptions}


def method_options(options) -> dict:
    """The keyword options the tool's pipelines take (steps 0: left to the pipeline)."""
    out = {k: getattr(options, k) for k in ("steps", "resample", "sweeps") if hasattr(options, k)}
    if not out.get("steps"):
        out.pop("steps", None)
    return out


__all__ = ["ScoreOptions", "InpaintOptions", "DenoiseOptions", "UpscaleOptions", "SynthesizeOptions", "OPTIONS",
           "method_options"]
