"""The images a run trained on, loaded again the way it loaded them: the one place that reads a run's
record for its sources and preprocessing (size, channels, fit, background). Resuming, evaluating,
comparing, the tools and the studio's "Continue" all come here."""

from __future__ import annotations

from ..data import ImageDataset, load_images, parse_background


def run_data_settings(record: dict) -> dict:
    """sources, size, channels, fit and background of a run (from run.json or a model file's record)."""
    data = record.get("data") or {}
    spec = record.get("data_spec") or {}
    try:
        background = parse_background(data.get("background", (255, 255, 255)))
    except Exception:  # noqa: BLE001 - an old or hand-edited record: the default, as training had
        background = (255, 255, 255)
    return {"sources": [str(s) for s in data.get("sources", [])],
            "size": int(spec.get("size", data.get("size", 32))),
            "channels": int(spec.get("channels", data.get("channels", 3))),
            "fit": str(data.get("fit", "center-crop")),
            "background": background}


def load_run_data(record: dict, sources: list[str] | None = None, **load_options) -> ImageDataset:
    """The run's images (or `sources` given instead, preprocessed as the run's) as an ImageDataset.
    `load_options` go to load_images (progress, cancelled, ...). Raises DataError like load_images."""
    s = run_data_settings(record)
    return load_images(list(sources) if sources else s["sources"], size=s["size"], channels=s["channels"],
                       fit=s["fit"], background=s["background"], **load_options)
