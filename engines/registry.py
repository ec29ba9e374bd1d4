"""Family name -> family. Adding a family is one module in engines/families/ and one line here."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Family:
    name: str                 # what `--family` and run.json say
    title: str                # what the studio shows
    description: str          # one or two sentences for a tooltip or `genstudio families`
    config_class: type        # a dataclass built with engines.config.param
    engine_class: type        # subclass of engines.families.base.Engine
    preset: Callable[[object, int], object] | None = None  # (config, image size) -> tuned config
    # image size -> training settings (TrainSettings field names) the recipe needs, e.g. a smaller batch
    train_preset: Callable[[int], dict] | None = None


class UnknownFamily(LookupError):
    pass


# The family the studio opens on: the README's small-data default.
DEFAULT = "sngan"

# name -> "module:attribute" of a Family object; imported lazily so a broken family cannot break the rest.
_FAMILIES: dict[str, str] = {
    "dcgan": "engines.families.gan:DCGAN",
    "gan": "engines.families.gan:GAN",
    "cgan": "engines.families.gan:CGAN",
    "wgan-gp": "engines.families.gan:WGAN_GP",
    "sngan": "engines.families.gan:SNGAN",
    "sagan": "engines.families.gan:SAGAN",
    "progan": "engines.families.progan:FAMILY",
    "biggan": "engines.families.biggan:FAMILY",
    "stylegan": "engines.families.stylegan:FAMILY",
    "ae": "engines.families.ae:FAMILY",
    "vae": "engines.families.vae:FAMILY",
    "cvae": "engines.families.vae:CVAE_FAMILY",
    "realnvp": "engines.families.realnvp:FAMILY",
    "glow": "engines.families.glow:FAMILY",
    "pixelcnn": "engines.families.pixelcnn:FAMILY",
    "ddpm": "engines.families.ddpm:FAMILY",
    "flow-matching": "engines.families.flow_matching:FAMILY",
    "ebm": "engines.families.ebm:FAMILY",
    "vqvae": "engines.families.vqvae:FAMILY",
    "transformer": "engines.families.transformer:FAMILY",
    "ldm": "engines.families.ldm:FAMILY",
    "cyclegan": "engines.families.cyclegan:FAMILY",
    "style": "engines.families.style:FAMILY",
}


def names() -> list[str]:
    return list(_FAMILIES)


def get(name: str) -> Family:
    try:
        target = _FAMILIES[name]
    except KeyError:
        raise UnknownFamily(f"unknown family {name!r}{_did_you_mean(name)}; choose one of: {', '.join(names())}") from None
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


def default_config(name: str, size: int):
    """The family's recipe for images of `size` px: its preset when it has one, else plain defaults."""
    family = get(name)
    config = family.config_class()
    return family.preset(config, size) if family.preset is not None else config


def default_settings(name: str, size: int, settings):
    """`settings` (a TrainSettings) with the family's recommended training settings for `size` px
    applied on top; a person's explicit choices should be applied after this."""
    from .config import replace_checked

    family = get(name)
    return replace_checked(settings, **family.train_preset(size)) if family.train_preset is not None else settings


def merge_train_recipe(name: str, size: int, current, previous_recipe: dict) -> tuple[object, dict]:
    """A person's training settings `current` (a TrainSettings) after switching to family `name`:
    (settings, the recipe values now in them). The family's recommended settings (e.g. batch 16 for
    flows) replace values still at their default or still at what the previous family's recipe set
    (`previous_recipe`); a value the person changed stays theirs; one the previous recipe set and
    nobody touched goes back to its default when the new family has no opinion on it."""
    from .config import replace_checked

    defaults = type(current)()
    recipe = default_settings(name, size, defaults)
    wanted = {k: getattr(recipe, k) for k in vars(defaults) if getattr(recipe, k) != getattr(defaults, k)}
    changes = {}
    for key, value in previous_recipe.items():
        if key not in wanted and getattr(current, key) == value:
            changes[key] = getattr(defaults, key)
    for key, value in wanted.items():
        if getattr(current, key) in (getattr(defaults, key), previous_recipe.get(key)):
            changes[key] = value
    kept = {k: v for k, v in wanted.items() if changes.get(k, getattr(current, k)) == v}
    return (replace_checked(current, **changes) if changes else current), kept


def all_families() -> list[Family]:
    return [get(n) for n in names()]


def _did_you_mean(name) -> str:
    """' (did you mean dcgan?)' for a typo, a wrong case or _ for -; '' when nothing is close."""
    import difflib
    if not isinstance(name, str):
        return ""
    wanted = name.strip().lower().replace("_", "-")
    prefixed = [n for n in names() if len(wanted) >= 3 and n.startswith(wanted)]
    close = ([n for n in names() if n == wanted] or (prefixed if len(prefixed) == 1 else [])
             or difflib.get_close_matches(wanted, names(), n=1, cutoff=0.75))
    return f" (did you mean {close[0]}?)" if close else ""
