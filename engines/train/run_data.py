"""The images a run trained on, loaded again the way it loaded them (sources, size, channels, fit,
background, as RunRecord.data_plan() reads them). Resuming, evaluating, comparing, the tools and the
studio's "Continue" all come here."""

from __future__ import annotations

from ..data import ImageDataset, load_images
from .record import DataPlan, RunRecord


def run_data_plan(record) -> DataPlan:
    """The run's data as a DataPlan: `record` a RunRecord (or LoadedRun), or a mapping with its "data"
    and "data_spec" sections."""
    if isinstance(record, RunRecord):
        return record.data_plan()
    return DataPlan.recorded(record.get("data"), record.get("data_spec"))


def load_run_data(record, sources: list[str] | None = None, **load_options) -> ImageDataset:
    """The run's images (or `sources` given instead, preprocessed as the run's) as an ImageDataset.
    `load_options` go to load_images (progress, cancelled, ...). Raises DataError like load_images."""
    plan = run_data_plan(record)
    return load_images(list(sources) if sources else list(plan.sources), size=plan.size, channels=plan.channels,
                       fit=plan.fit, background=plan.background, **load_options)
