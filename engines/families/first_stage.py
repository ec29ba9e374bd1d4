"""A first stage inside a two-stage family (transformer over VQ-VAE tokens, latent diffusion).

Two ways to get one:
- given: a finished run or exported model of a compatible family, loaded by the caller and passed in
  as the input `first_stage` (an Engine). It is frozen from the start.
- self-trained: when none is given, the family builds one from its own settings (family, width,
  latent size) and trains it for `first_stage_steps` steps in a first phase, then freezes it.

Either way its modules become part of the second-stage engine's modules (prefixed "first_stage."),
so checkpoints and exported models hold the whole model and it samples and exports on its own.
What it was (family, config, data spec, whether it was given) is part of the engine's extra state,
so loading rebuilds the same first stage (and whatever depends on its latent shape) before the
weights are loaded.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import registry
from ..config import ConfigError, from_dict, replace_checked, to_dict
from .base import DataSpec, Engine

PREFIX = "first_stage."


def build(family: str, data: DataSpec, device, width: int, latent: int, codebook: int = 0) -> Engine:
    """A fresh first-stage engine of `family` sized by the second stage's settings."""
    fam = registry.get(family)
    config = fam.config_class()
    if fam.preset is not None:
        config = fam.preset(config, data.size)
    if family == "vqvae":
        config = replace_checked(config, width=width, code_dim=latent, **({"codebook_size": codebook} if codebook else {}))
    else:  # ae, vae
        config = replace_checked(config, width=width, latent_dim=latent)
    return fam.engine_class(config, DataSpec(data.size, data.channels), device)


def describe(engine: Engine, given: bool) -> dict:
    return {"family": engine.family, "config": to_dict(engine.config), "data_spec": engine.data.to_json(),
            "given": bool(given)}


def rebuild(desc: dict, device) -> Engine:
    fam = registry.get(desc["family"])
    config = from_dict(fam.config_class, desc["config"], strict=False)
    return fam.engine_class(config, DataSpec.from_json(desc["data_spec"]), device)


def check_given(engine: Engine, data: DataSpec, allowed: tuple[str, ...], who: str) -> None:
    """Refuse, in one sentence, a first stage that cannot serve this run."""
    if not isinstance(engine, Engine):
        raise ConfigError(f"the first stage of {who} must be a trained run or exported model")
    if engine.family not in allowed:
        raise ConfigError(f"{who} needs a first stage of family {' or '.join(allowed)}; "
                          f"got a {engine.family} model")
    if (engine.data.size, engine.data.channels) != (data.size, data.channels):
        raise ConfigError(f"the first stage was trained on {engine.data.size} px images with {engine.data.channels} "
                          f"channel(s); this data has {data.size} px and {data.channels}")


def freeze(engine: Engine) -> None:
    for m in engine.modules().values():
        m.requires_grad_(False)
        m.eval()


def modules(engine: Engine) -> dict[str, nn.Module]:
    return {PREFIX + name: m for name, m in engine.modules().items()}


def optimizers(engine: Engine, trains: bool) -> dict[str, torch.optim.Optimizer]:
    return {PREFIX + name: o for name, o in engine.optimizers().items()} if trains else {}


def rename_losses(losses: dict[str, float]) -> dict[str, float]:
    """Phase-one losses under their own names, so the loss plot tells the phases apart."""
    return {f"first_stage_{k}": v for k, v in losses.items()}


class LatentCache:
    """Each distinct training image is encoded once by the frozen first stage, then remembered.

    Images are keyed by their bytes (a flipped copy is another image). Every image is encoded on its
    own, so its latent never depends on which batch it first came in (exact resume stays exact)."""

    def __init__(self, encode_one, limit: int = 200_000):
        self.encode_one = encode_one      # uint8 (1, H, W, C) numpy -> tensor (1, ...)
        self.limit = limit
        self.store: dict[bytes, torch.Tensor] = {}

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        import hashlib

        images = pixels.permute(0, 2, 3, 1).cpu().numpy()
        out = []
        for img in images:
            key = hashlib.blake2b(img.tobytes(), digest_size=16).digest()
            z = self.store.get(key)
            if z is None:
                z = self.encode_one(img[None])[0].detach().cpu()
                if len(self.store) < self.limit:
                    self.store[key] = z
            out.append(z)
        return torch.stack(out).to(pixels.device)


class TwoStage:
    """Mixin for an Engine whose first stage is given or trained here first (see the module docstring).

    The engine's config has first_stage_family, first_stage_steps, first_stage_width, first_stage_latent
    (and first_stage_codebook for VQ-VAE); the engine implements `_build_second_stage()` (networks and
    optimisers that depend on the first stage), `_second_stage_step(batch)` and optionally
    `_first_stage_done()` (called once, when phase two begins)."""

    first_stage_families: tuple[str, ...] = ()

    def _init_first_stage(self, inputs: dict | None) -> None:
        c = self.config
        given = (inputs or {}).get("first_stage")
        if given is not None:
            check_given(given, self.data, self.first_stage_families, self.family)
            for m in given.modules().values():
                m.to(self.device)
            given.device = self.device
            self.first = given
            self.first_given = True
        else:
            if c.first_stage_family not in self.first_stage_families:
                raise ConfigError(f"first_stage_family must be one of {', '.join(self.first_stage_families)}")
            self.first = build(c.first_stage_family, self.data, self.device, c.first_stage_width,
                               c.first_stage_latent, getattr(c, "first_stage_codebook", 0))
            self.first_given = False
        self.steps_done = 0
        self._cache: LatentCache | None = None
        if self.first_given:
            freeze(self.first)
        self._build_second_stage()

    @property
    def phase(self) -> int:
        """1 while the first stage trains, 2 once it is frozen and the second stage trains."""
        return 2 if self.first_given or self.steps_done >= self.config.first_stage_steps else 1

    def _encode_one(self, image):  # overridden where the second stage needs something else (tokens)
        return self.first.encode(image)

    def _cached(self, pixels: torch.Tensor) -> torch.Tensor:
        if self._cache is None:
            self._cache = LatentCache(self._encode_one)
        return self._cache(pixels)

    def train_step(self, batch, step: int = 0, total: int = 1) -> dict[str, float]:
        if self.phase == 1:
            self.first.begin_training(self.run_context)  # it steps through this run's seam (clip, averaging)
            losses = rename_losses(self.first.train_step(batch, step, total))
            self.steps_done += 1
            if self.phase == 2:
                self._enter_phase_two()
            return {**losses, "phase": 1.0}
        self.steps_done += 1
        return {**self._second_stage_step(batch), "phase": 2.0}

    def _enter_phase_two(self) -> None:
        freeze(self.first)
        self._cache = None
        self._first_stage_done()

    def _first_stage_done(self) -> None:
        pass

    def _first_stage_state(self) -> dict:
        return {"steps_done": self.steps_done, "first_stage": describe(self.first, self.first_given),
                "first_stage_extra": self.first.extra_state()}

    def _load_first_stage_state(self, state: dict) -> None:
        desc = state.get("first_stage")
        if desc is not None and desc != describe(self.first, self.first_given):
            # another first stage than this config builds (a given one): rebuild it and what depends on it
            self.first = rebuild(desc, self.device)
            self.first_given = bool(desc.get("given"))
            self._build_second_stage()
        self.first.load_extra_state(state.get("first_stage_extra", {}))
        self.steps_done = int(state.get("steps_done", 0))
        self._cache = None
        if self.phase == 2:
            freeze(self.first)
        else:  # back in phase 1 (a rollback to before the switch): the first stage trains again
            for m in self.first.modules().values():
                m.requires_grad_(True)

    def _first_stage_modules(self) -> dict[str, nn.Module]:
        return modules(self.first)

    def _first_stage_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return optimizers(self.first, not self.first_given)
