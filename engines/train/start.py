"""Starting a run: a new one (its folder made, its record written) or a continued one (its record
read, its newest intact checkpoint applied), each built from what a RunPlan says. Rank 0 alone reads
and writes the run folder; the other processes get what it read through the process group."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import registry
from ..config import replace_checked, to_dict
from ..data import ImageDataset
from ..families.base import DataSpec
from .checkpoint import checkpoint_records, load_newest_intact, remove_stale_temp_files
from .device import resolve_device
from .group import process_group
from .inputs import InputError, load_inputs, record_inputs, reload_inputs
from .plan import RunPlan, RunRecord, check_batch_split
from .run import RunDir, RunError


@dataclass
class RemoteRun:
    """Where rank 0 keeps the run, seen from another process: a path only, never written."""
    path: Path


def load_plan_data(plan: RunPlan, **load_options) -> ImageDataset:
    """The plan's main image set, loaded and preprocessed as the plan says."""
    from ..data import load_images
    d = plan.data
    return load_images(list(d.sources), size=d.size, channels=d.channels, fit=d.fit, background=d.background,
                       **load_options)


def from_plan(cls, plan: RunPlan, dataset: ImageDataset | None = None, inputs: dict[str, object] | None = None):
    """The one way every front door starts a run: a new one or a continued one, as `plan` says.
    `dataset`: the main image set when the caller loaded it already (else loaded here);
    `inputs`: the other inputs' values when loaded already (else loaded here for a new run,
    reloaded from where the run recorded them for a continued one)."""
    if dataset is None:
        dataset = load_plan_data(plan)
    d = plan.data
    if plan.resume:
        return resume(cls, plan.out_dir, dataset, steps=plan.settings.steps, device=plan.settings.device,
                      family=plan.family, time_limit=plan.settings.time_limit, inputs=inputs)
    if inputs is None:
        inputs = load_inputs(registry.get(plan.family).engine_class, plan.given(), dataset.size, d.fit,
                             d.background, main_loaded=True)
    return new(cls, plan.family, plan.config, plan.settings, dataset, plan.out_dir,
               data_record={"fit": d.fit, "background": list(d.background)}, inputs=inputs,
               input_paths=plan.given())


def new(cls, family_name: str, config, settings, dataset: ImageDataset, out_dir, data_record: dict | None = None,
        inputs: dict[str, object] | None = None, input_paths: dict[str, list[str]] | None = None):
    family = registry.get(family_name)
    group = process_group()
    inputs = dict(inputs or {})
    missing = [i for i in family.engine_class.inputs[1:] if i.required and inputs.get(i.name) is None]
    if missing:
        raise InputError(f"{family.name} needs input {missing[0].name!r}: {missing[0].expects()} "
                         f"(--input {missing[0].name}=PATH)")
    device = resolve_device(settings.device)
    if len(dataset) < 1:
        raise RunError("the dataset has no images")
    check_batch_split(settings.batch_size, group.world)

    def create():  # rank 0 alone makes the folder; the others hear whether it worked
        if out_dir is None:
            return None
        RunDir.create(out_dir, {
            "family": family.name, "config": to_dict(config), "settings": to_dict(settings),
            "data": {**dataset.describe(), **(data_record or {})}, "device": str(device),
            "data_spec": DataSpec(dataset.size, dataset.channels, dataset.num_classes,
                                  tuple(dataset.class_names)).to_json(),
            "inputs": record_inputs(family.engine_class, input_paths or {}, inputs)})
        return str(out_dir)

    made = group.from_main(create)
    run = RunDir(Path(out_dir).expanduser()) if made is not None and group.is_main else None
    if made is not None and run is None:
        run = RemoteRun(Path(made))
    trainer = cls(family, config, settings, dataset, run, device, inputs)
    trainer.record_device()
    return trainer


def resume(cls, run_path, dataset: ImageDataset, steps: int | None = None, device: str | None = None,
           family: str | None = None, time_limit: float | None = None, inputs: dict[str, object] | None = None):
    group = process_group()

    def open_run():  # rank 0 reads the folder; the others get its record
        run = RunDir.open(run_path)
        busy = run.training_pid()
        if busy is not None:
            raise RunError(f"{run.path} is being trained right now by process {busy}; stop that one first")
        remove_stale_temp_files(run.path)
        return run.record()

    rec = RunRecord.from_json(group.from_main(open_run), f"{Path(run_path)}/run.json")
    run = RunDir(Path(run_path).expanduser()) if group.is_main else RemoteRun(Path(run_path))
    if family is not None and family != rec.family:
        raise RunError(f"{run.path} is a {rec.family} run; it cannot be continued as {family}")
    fam = rec.family_entry()
    config, settings, spec = rec.family_config(), rec.train_settings(), rec.spec()
    changes = {k: v for k, v in {"steps": steps, "time_limit": time_limit, "device": device}.items() if v is not None}
    settings = replace_checked(settings, **changes)
    check_batch_split(settings.batch_size, group.world)
    got = DataSpec(dataset.size, dataset.channels, dataset.num_classes, tuple(dataset.class_names))
    if (got.size, got.channels, got.class_names) != (spec.size, spec.channels, spec.class_names):
        raise RunError(f"the data does not match this run (run: {spec.size}px, {spec.channels} channels, "
                       f"{spec.num_classes} classes; data: {got.size}px, {got.channels} channels, "
                       f"{got.num_classes} classes)")
    if inputs is None and len(fam.engine_class.inputs) > 1:  # load them again from where they were
        data = rec.data_plan()
        inputs = reload_inputs(fam.engine_class, rec.input_paths(), spec.size, data.fit, data.background,
                               resolve_device(settings.device))
    trainer = cls(fam, config, settings, dataset, run, resolve_device(settings.device), inputs)

    def newest():  # the newest intact one (rank 0 reads it); damaged newer ones are set aside, said
        if not checkpoint_records(run.path):   # a record without its tensors is damage, not "none yet"
            return None
        path, payload, meta, warnings = load_newest_intact(run.path)
        payload, meta = trainer.read_checkpoint(path, (payload, meta))
        return {"payload": payload, "meta": meta, "warnings": warnings}

    found = group.from_main(newest)
    if found is not None:
        trainer.start_warnings = list(found["warnings"])
        trainer.apply_state(found["payload"], found["meta"])
        if trainer.run_dir is not None:
            trainer.run_dir.truncate_metrics(trainer.step)
            set_aside_after(trainer.run_dir.path, trainer.step)
    elif trainer.run_dir is not None:  # killed before its first checkpoint: start over cleanly
        run.truncate_metrics(0)
        run.truncate_samples(0)
    trainer.record_device()
    return trainer


def set_aside_after(run_path: Path, step: int) -> None:
    """Rename checkpoints newer than `step` (damaged ones skipped on resume) to damaged_*, kept for
    a look but out of the run's timeline: training from `step` writes its own newer ones."""
    for s, p in checkpoint_records(run_path):
        if s > step:
            for f in (p, p.with_suffix(".safetensors")):
                if f.exists():
                    f.replace(f.with_name(f"damaged_{f.name}"))
