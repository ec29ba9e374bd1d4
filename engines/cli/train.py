"""genstudio train: train a family on image folders, headless, into a run folder."""

from __future__ import annotations

import math
import os
from pathlib import Path
import sys
import time
from dataclasses import replace

from .. import registry
from ..config import ConfigError, did_you_mean, field_infos, parse_assignments, replace_checked, to_dict
from ..data import FIT_MODES, ImageDataset, parse_background
from ..export import names_image_file
from ..train.inputs import check_given, load_inputs, parse_input_args
from ..runtime import distributed as dist_rt
from ..train import events as ev
from ..train.loop import DEVICES, Control, Trainer, TrainSettings, load_plan_data
from ..train.plan import DataPlan, RunPlan, RunRecord, check_plan, new_plan, resume_plan
from ..train.settings import RESUME_CHANGEABLE
from ..train.run import RunDir
from ..workspace import default_workspace, new_run_dir


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a model on image folders")
    p.add_argument("--family", help="model family (see `genstudio families`)")
    p.add_argument("--data", action="append", default=[], metavar="FOLDER",
                   help="image folder or file of the family's main image set; repeatable")
    p.add_argument("--input", action="append", default=[], metavar="NAME=PATH",
                   help="another input of the family (see `genstudio families`): an image set, one image or a "
                        "trained run; repeatable (repeat a name to add folders to an image set)")
    p.add_argument("--out", metavar="RUN_DIR",
                   help="run folder to create (or continue with --resume); default: a new folder in the workspace")
    p.add_argument("--size", type=int, help="image size in pixels (default 32)")
    p.add_argument("--channels", type=int, choices=(1, 3), help="1 grey or 3 RGB (default: from the data)")
    p.add_argument("--fit", choices=FIT_MODES, help="how images are made square (default center-crop)")
    p.add_argument("--background", metavar="COLOUR",
                   help="colour behind transparent pixels, #rrggbb or R,G,B (default white)")
    p.add_argument("--steps", type=int, help="total training steps")
    p.add_argument("--time", metavar="DURATION",
                   help="also stop (with a checkpoint) after this much training time, e.g. 90s, 10m, 1.5h; "
                        "counted over all sessions of the run, paused time not counted; 0 for none")
    p.add_argument("--batch-size", type=int, help="images per step")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--device", choices=DEVICES, help="auto, cpu, cuda or mps")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a family or training setting; repeatable")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--quiet", action="store_true", help="print only the final line")
    p.add_argument("--nproc-per-node", type=int, metavar="N",
                   help="train with N processes on this machine (torch.distributed: gloo on CPUs, one GPU each "
                        "with --device cuda); --batch-size stays the global batch. Across machines start "
                        "`torchrun ... -m engines.cli train ...` yourself (see the README)")
    p.add_argument("--collective-timeout", type=float, metavar="SECONDS",
                   help=f"several processes: how long one waits for the others in a collective before the run "
                        f"fails (default {dist_rt.DEFAULT_TIMEOUT_S:.0f})")
    p.add_argument("--events", choices=("text", "jsonl"), default="text",
                   help="jsonl: one JSON object per training event on stdout (for programs, e.g. the studio)")
    p.add_argument("--control", metavar="FILE",
                   help="read commands (pause, resume, stop, save, rollback; one per line) appended to FILE")
    p.add_argument("--plan", metavar="FILE",
                   help="train the run plan in FILE (JSON, as the studio writes it) instead of the options above")


def split_settings(family: registry.Family, config, settings: TrainSettings, assignments: dict[str, str]):
    """Apply --set KEY=VALUE to the family config or the training settings, whichever owns KEY."""
    family_keys = {i.name for i in field_infos(family.config_class)}
    train_keys = {i.name for i in field_infos(TrainSettings)}
    to_family = {k: v for k, v in assignments.items() if k in family_keys}
    to_train = {k: v for k, v in assignments.items() if k in train_keys and k not in family_keys}
    limit = str(to_train.get("time_limit", "")).strip().lower()
    if limit[-1:] in _UNITS and limit[:-1].strip():   # `--set time_limit=10m` reads as `--time 10m`
        to_train["time_limit"] = str(parse_duration(limit, "time_limit"))
    unknown = sorted(set(assignments) - family_keys - train_keys)
    if unknown:
        # the family's own names first: `lr` on dcgan means lr_g or lr_d before the training's lr_backoff
        hint = (did_you_mean(unknown[0], [i.name for i in field_infos(family.config_class)])
                or did_you_mean(unknown[0], [i.name for i in field_infos(TrainSettings)]))
        raise ConfigError(f"unknown setting {unknown[0]!r} for {family.name}{hint}; known: "
                          f"{', '.join(sorted(family_keys | train_keys))}")
    return replace_checked(config, **to_family), replace_checked(settings, **to_train)


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str, flag: str = "--time") -> float:
    """'90s', '10m', '1.5h' (or '0': no limit) -> seconds; ConfigError with one line otherwise."""
    value = str(text).strip().lower()
    if value in ("0", "0s", "0m", "0h"):
        return 0.0
    unit = value[-1:] if value[-1:] in _UNITS else None
    try:
        number = float(value[:-1] if unit else "nan")
    except ValueError:
        number = float("nan")
    if unit is None or not math.isfinite(number) or number <= 0:
        raise ConfigError(f"{flag} {text!r} is not a duration; give a positive number with a unit: "
                          f"s, m or h (e.g. 90s, 10m, 1.5h), or 0 for no time limit")
    seconds = number * _UNITS[unit]
    if seconds > 1e8:
        raise ConfigError(f"{flag} {text!r} is longer than this program can count (at most about 3 years)")
    return seconds


def check_same_as_run(rec: RunRecord, args) -> dict:
    """Options given again with --resume (the same command with --resume appended) are fine when they
    equal the run's own; a different value is refused, naming both. Returns the --set values a resumed
    run may change (steps, device, time_limit), typed."""
    def refuse(given: str, own: str) -> None:
        raise ConfigError(f"{given} differs from the run's own {own}: a resumed run keeps its settings "
                          "(only --steps, --time and --device can change); start a new run instead")

    data, settings = rec.data_plan(), rec.train_settings()
    own = {"size": data.size, "channels": data.channels, "fit": data.fit,
           "batch_size": settings.batch_size, "seed": settings.seed}
    for name, value in own.items():
        given = getattr(args, name, None)
        if given is not None and given != value:
            option = name.replace("_", "-")
            refuse(f"--{option} {given}", f"{option} {value}")
    assignments = parse_assignments(args.set)
    if not assignments:
        return {}
    family, config = rec.family_entry(), rec.family_config()
    family_keys = {i.name for i in field_infos(family.config_class)}
    new_config, new_settings = split_settings(family, config, settings, assignments)
    changes = {}
    for key in assignments:
        if key in family_keys:
            before, after = to_dict(config)[key], to_dict(new_config)[key]
        else:
            before, after = to_dict(settings)[key], to_dict(new_settings)[key]
            if key in RESUME_CHANGEABLE:
                changes[key] = after
                continue
        if before != after:
            refuse(f"--set {key}={assignments[key].strip()}", f"{key}={before}")
    return changes


def _format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def print_events(events, quiet: bool = False) -> int:
    status = 0
    start_step = None
    for e in events:
        line = None
        if isinstance(e, ev.Started):
            start_step = e.start_step
            threads = f", {e.threads} CPU thread{'s' if e.threads != 1 else ''}" if e.threads else ""
            line = (f"training {e.family} on {e.device}{threads} ({e.parameters:,} parameters) "
                    f"from step {e.start_step} to {e.total_steps}")
            if e.world_size > 1:
                line += (f" on {e.world_size} processes ({e.per_process_batch} images each, "
                         f"{e.global_batch} per step)")
            if e.time_limit_s:
                line += (f" or for {_format_eta(e.time_limit_s)} of training time, whichever comes first"
                         + (f" ({_format_eta(e.train_seconds)} already spent)" if e.train_seconds >= 1 else ""))
        elif isinstance(e, ev.Progress):
            losses = "  ".join(f"{k} {v:.4g}" for k, v in e.losses.items())
            line = f"step {e.step}/{e.total_steps}  {losses}  {e.images_per_sec:.0f} img/s  ETA {_format_eta(e.eta_s)}"
        elif isinstance(e, ev.Metrics):
            line = f"step {e.step}  " + "  ".join(f"{k} {v:.4g}" for k, v in e.values.items())
        elif isinstance(e, ev.Phase):  # say why the step counter stands still (a slow sample grid)
            about = f" (about {_format_eta(e.expected_s)})" if e.expected_s is not None and e.expected_s >= 1 else ""
            line = f"step {e.step}  {e.message}{about}…"
        elif isinstance(e, ev.TrainWarning):
            print(f"warning: step {e.step}: {e.message}", file=sys.stderr)
        elif isinstance(e, ev.Note):
            if not quiet:
                print(f"note: {e.message}", file=sys.stderr)
        elif isinstance(e, ev.CheckpointSaved):
            line = f"checkpoint {e.path}"
        elif isinstance(e, ev.Finished):
            spent = e.reason == "time budget" and start_step is not None and e.step == start_step > 0
            print(f"{'time budget reached' if e.reason == 'time budget' else e.reason} at step {e.step}"
                  + (" (the run had already used its whole time budget: give a larger --time, or --time 0, "
                     "to train further)" if spent else ""))
        elif isinstance(e, ev.Failed):
            if os.environ.get("GENSTUDIO_DEBUG") and e.details:
                print(e.details, file=sys.stderr)
            print(f"genstudio: error: {e.message}", file=sys.stderr)
            status = 1
        if line and not quiet:
            print(line, flush=True)
    return status


def run(args) -> int:
    time_limit = parse_duration(args.time) if args.time is not None else None
    if args.collective_timeout is not None:
        if not args.collective_timeout > 0:
            raise ConfigError("--collective-timeout must be a positive number of seconds")
        os.environ[dist_rt.TIMEOUT_ENV] = str(args.collective_timeout)
    if args.nproc_per_node is not None and args.nproc_per_node < 1:
        raise ConfigError("--nproc-per-node must be at least 1")
    if args.control:
        control_path = Path(args.control)
        if control_path.is_dir():
            raise ConfigError(f"--control {args.control} is a folder; give a file to append commands to")
        if not control_path.parent.is_dir():
            raise ConfigError(f"--control {args.control}: the folder {control_path.parent} does not exist")
    if (args.nproc_per_node or 1) > 1 and not dist_rt.launched():
        return _launch(args, time_limit)
    if dist_rt.launched():
        try:
            dist_rt.init_from_env(args.device or _run_device(args))
        except dist_rt.DistributedError as exc:
            raise ConfigError(str(exc)) from None
        dist_rt.remember_store()
        dist_rt.raise_on_terminate()
        try:
            return _train(args, time_limit)
        finally:
            dist_rt.shutdown()
    return _train(args, time_limit)


def _run_device(args) -> str:
    """The device setting of the run being resumed (auto for a new run without --device)."""
    if args.resume and args.out:
        try:
            return RunDir.open(args.out).read().train_settings().device
        except Exception:  # noqa: BLE001 - not readable here (another machine): the run will say
            return "auto"
    return "auto"


def _launch(args, time_limit) -> int:
    """Check the plan here (a mistake is one line, exit 2), then start the processes."""
    n = args.nproc_per_node
    argv = list(args.argv)
    plan = plan_from_args(args, time_limit)
    check_plan(plan, processes=n)
    if plan.out_dir is None:
        out = new_run_dir(default_workspace(), plan.family)
        argv += ["--out", str(out)]
        if not args.quiet and args.events == "text":
            print(f"run folder: {out}")
    from .launch import launch, without_flag
    return launch(without_flag(argv), n)


def _train(args, time_limit) -> int:
    control = Control()
    reader = None
    if args.control and dist_rt.is_main():
        from .control import ControlFile
        reader = ControlFile(args.control, control)
        reader.start()
    restore, received = _stop_on_signals(control)
    try:
        trainer = _make_trainer(args, time_limit)
        events = trainer.run(control)
        if not dist_rt.is_main():  # the others train silently; rank 0 reports for all
            return _drain(events)
        status = print_json_events(events) if args.events == "jsonl" else print_events(events, args.quiet)
        return status or (128 + received[0] if received else 0)   # what a shell expects after a signal
    finally:
        if reader is not None:
            reader.stop()
        restore()


def _stop_on_signals(control: Control):
    """One process: the first Ctrl-C, or a SIGTERM (`kill`, a job scheduler, a container stopping),
    stops the run as the studio's Stop does (a checkpoint, the run marked stopped); the second quits at
    once. Returns the function that puts the old handlers back and a list that holds the number of the
    signal that stopped the run."""
    import signal
    import threading

    received: list[int] = []
    if dist_rt.launched() or threading.current_thread() is not threading.main_thread():
        return (lambda: None), received
    words = {signal.SIGINT: ("Ctrl-C", signal.default_int_handler),
             signal.SIGTERM: ("a termination request", signal.SIG_DFL)}
    previous = {}

    def handler(signum, frame):
        name, second = words[signum]
        signal.signal(signum, second)   # the same signal again quits without a checkpoint
        received.append(signum)
        print(f"{name}: stopping after this step and saving a checkpoint (again to quit without one)",
              file=sys.stderr, flush=True)
        control.request_stop()

    for signum in words:
        before = signal.getsignal(signum)
        if before is signal.SIG_IGN:   # started with it ignored (e.g. `nohup`, a background job)
            continue
        previous[signum] = before
        signal.signal(signum, handler)

    def restore():
        for signum, before in previous.items():
            signal.signal(signum, before)
    return restore, received


def _drain(events) -> int:
    status = 0
    for e in events:
        if isinstance(e, ev.Failed):
            status = 1
    return status


def print_json_events(events) -> int:
    """One JSON object per line on stdout, flushed at once (a reader follows the run live)."""
    import json
    status = 0
    for e in events:
        if isinstance(e, ev.Failed):
            status = 1
        print(json.dumps(ev.to_json(e)), flush=True)
    return status


def plan_from_args(args, time_limit) -> RunPlan:
    """The RunPlan the command line asks for: read from --plan, a continued run (--resume), or a new one."""
    processes = dist_rt.world_size() if dist_rt.launched() else (args.nproc_per_node or 1)
    if getattr(args, "plan", None):
        return RunPlan.read(args.plan)
    if args.resume:
        if not args.out:
            raise ConfigError("--resume needs --out RUN_DIR, the run to continue (see `genstudio runs`)")
        rec = RunDir.open(args.out).read()
        if args.family and args.family != rec.family:
            raise ConfigError(f"{args.out} is a {rec.family} run; it cannot be resumed as {args.family}")
        changes = check_same_as_run(rec, args)
        given = {"steps": args.steps, "device": args.device, "time_limit": time_limit}
        changes.update({k: v for k, v in given.items() if v is not None})
        return resume_plan(rec, args.out, processes=processes, sources=args.data or None,
                           inputs=parse_input_args(args.input) if args.input else None,
                           **{k: changes.get(k) for k in RESUME_CHANGEABLE})
    _check_new_run_name(args.out)
    family, config, settings = _new_run_settings(args, time_limit)
    background = parse_background(args.background) if args.background else (255, 255, 255)
    data = DataPlan(tuple(args.data), args.size if args.size is not None else 32, args.channels,
                    args.fit or "center-crop", background)
    return new_plan(family.name, config, settings, data, inputs=parse_input_args(args.input), out_dir=args.out,
                    processes=processes)


def _make_trainer(args, time_limit) -> Trainer:
    plan = plan_from_args(args, time_limit)
    check_plan(plan, processes=dist_rt.world_size())
    if plan.resume:
        inputs = None  # the run's own, loaded again from where they were
        if args.input or (getattr(args, "plan", None) and plan.inputs):
            inputs = load_inputs(registry.get(plan.family).engine_class, plan.given(), plan.data.size,
                                 plan.data.fit, plan.data.background)
        return Trainer.from_plan(plan, load_plan_data(plan), inputs)
    t0 = time.perf_counter()
    dataset = load_plan_data(plan)
    check_class_settings(plan, dataset, parse_assignments(getattr(args, "set", None) or []))
    inputs = load_inputs(registry.get(plan.family).engine_class, plan.given(), plan.data.size, plan.data.fit,
                         plan.data.background)
    talk = not args.quiet and args.events == "text" and dist_rt.is_main()
    if talk:
        print(f"data: {dataset.summary()} ({time.perf_counter() - t0:.1f}s)")
        if dataset.info.get("note"):         # e.g. loose files next to class folders: no labels
            print(f"note: {dataset.info['note']}")
        for name, value in inputs.items():
            if isinstance(value, ImageDataset):
                print(f"input {name}: {value.summary()}")
    if plan.out_dir is None:  # after the data loaded: no empty folders
        plan = replace(plan, out_dir=_from_main_path(lambda: str(new_run_dir(default_workspace(), plan.family))))
        if talk:
            print(f"run folder: {plan.out_dir}")
    return Trainer.from_plan(plan, dataset, inputs)


def _check_new_run_name(out: str | None) -> None:
    """A new run is a folder: an --out named like an image or a model file is a mistake, said before
    anything is made (an existing run of such a name still resumes)."""
    if out is None:
        return
    suffix = Path(out).suffix.lower()
    if names_image_file(out) or suffix in (".safetensors", ".onnx", ".pt2"):
        then = ("`genstudio export RUN --out FILE` writes a model file" if not names_image_file(out) else
                "`genstudio sample RUN --out FILE.png` writes images")
        raise ConfigError(f"--out {out} names a {suffix} file, but train makes a run folder: give a folder "
                          f"name ({then})")
    for place in (Path(out).expanduser(), *Path(out).expanduser().parents):   # before the images load
        if place.exists():
            if not place.is_dir():
                raise ConfigError(f"--out {out}: {place} is a file, not a folder; give a folder name for the run")
            break


def check_settings_apply(family: registry.Family, config, assignments: dict) -> None:
    """A --set of a family setting that matters only under other settings' values (its `when`: e.g.
    gp_weight only with loss=wgan-gp) is refused in one line when this run's config does not meet
    them, rather than kept and ignored."""
    for info in field_infos(family.config_class):
        if info.name not in assignments or not info.when:
            continue
        for other, allowed in info.when.items():
            value = getattr(config, other, None)
            if value not in allowed:
                raise ConfigError(f"--set {info.name} does not apply to this {family.name} run: it matters only "
                                  f"with {other}={'|'.join(str(a) for a in allowed)} (this run: {other}={value})")


def check_class_settings(plan: RunPlan, dataset: ImageDataset, assignments: dict) -> None:
    """A --set that acts only on class-conditional runs (Engine.class_settings: guidance, label
    dropout...) on a run that will have no classes: one line before anything is written, not ignored."""
    given = [k for k in assignments if k in registry.get(plan.family).engine_class.class_settings]
    if not given:
        return
    if dataset.num_classes == 0:
        why = "the data has no classes (class subfolders)"
    elif not getattr(plan.config, "conditional", True):
        why = "conditional is off (--set conditional=true turns it on)"
    else:
        return
    raise ConfigError(f"--set {given[0]} acts only on class-conditional runs, and this {plan.family} run has no "
                      f"classes: {why}")


def _from_main_path(make) -> str:
    """Rank 0 makes the folder; every process learns its name."""
    if dist_rt.world_size() == 1:
        return make()
    return dist_rt.broadcast_json(make() if dist_rt.is_main() else None)


def _new_run_settings(args, time_limit):
    if not args.family:
        raise ConfigError("--family is required (see `genstudio families`)")
    family = registry.get(args.family)
    given = parse_input_args(args.input)
    if "data" in given:  # --input data=PATH is --data PATH
        args.data = [*args.data, *given.pop("data")]
        args.input = [f"{k}={p}" for k, paths in given.items() for p in paths]
    check_given(family.engine_class, {**given, "data": [os.path.expanduser(d) for d in args.data]}, family.name)
    size = args.size if args.size is not None else 32
    assignments = parse_assignments(args.set)
    settings = registry.default_settings(family.name, size, TrainSettings())
    explicit = {k: v for k, v in {"steps": args.steps, "batch_size": args.batch_size, "seed": args.seed,
                                   "device": args.device, "time_limit": time_limit}.items() if v is not None}
    # a family setting of the same name (Glow's `steps`: flow steps per level) is not the training one
    family_keys = {i.name for i in field_infos(family.config_class)}
    twice = sorted((set(explicit) & set(assignments)) - family_keys)
    if twice:  # which one wins would be a guess; ask for one
        raise ConfigError(f"{twice[0]} is given twice (--{'time' if twice[0] == 'time_limit' else twice[0].replace('_', '-')} and --set {twice[0]}=...); "
                          f"give it once")
    settings = replace_checked(settings, **explicit)
    config, settings = split_settings(family, registry.default_config(family.name, size), settings, assignments)
    check_settings_apply(family, config, assignments)
    return family, config, settings
