"""The studio's panels. Adding one is a module with a `Panel` subclass and one line in PANELS.

Each entry is "module:Class". The main window builds every panel in this order, wraps it in a
QDockWidget named after `panel_id`, and places it in the panel's `area` (tabbed with `tab_with`
when given). Order matters only for the default layout.
"""

from __future__ import annotations

import importlib

PANELS: list[str] = [
    "studio.docks.dataset:DatasetPanel",
    "studio.docks.model:ModelPanel",
    "studio.docks.training:TrainingPanel",
    "studio.docks.losses:LossesPanel",
    "studio.docks.gallery:GalleryPanel",
    "studio.docks.timeline:TimelinePanel",
    "studio.docks.latent:LatentPanel",
    "studio.docks.sampler:SamplerPanel",
    "studio.docks.translate:TranslatePanel",
    "studio.docks.tools:ToolsPanel",
    "studio.docks.compare:ComparePanel",
    "studio.docks.runs:RunsPanel",
    "studio.docks.style:StylePanel",
]


def panel_classes() -> list[type]:
    out = []
    for target in PANELS:
        module, attr = target.split(":")
        out.append(getattr(importlib.import_module(module), attr))
    return out
