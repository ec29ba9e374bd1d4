"""One call per tool for an interface (the studio's Tools panel): read the inputs the way the run
reads its data, run the tool, and hand back everything to show, as plain numpy and strings.

    out = run_tool(engine, record, "inpaint", ["a.png", "folder/"], {"candidates": 2}, mask=mask)
    out["images"], out["method"], out["names"], out["skipped"]
    out["baseline"], out["baseline_name"]   # the non-learned baseline of each image (engines/tools/baselines.py)
    out["self_check"]                       # the held-out self-check as JSON (engines/tools/selfcheck.py), or None

The self-check runs first (cached per checkpoint), so a model that loses to its baseline is said to
before its results are looked at; params {"check": False} skips it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..train.run_data import run_data_plan
from .common import ProgressFn, ToolError, read_images
from .options import OPTIONS, method_options

TITLES = {"score": "Anomaly score", "inpaint": "Inpaint", "denoise": "Denoise", "upscale": "Super-resolution",
          "synthesize": "Synthetic dataset"}


def method_name(engine_or_class, tool: str) -> str:
    """The method the tool would use on this family, or the sentence saying it cannot (ToolError text)."""
    module = _module(tool)
    try:
        return module.method_for(engine_or_class).name
    except ToolError as exc:
        return str(exc)


def can(engine_or_class, tool: str) -> bool:
    try:
        _module(tool).method_for(engine_or_class)
        return True
    except ToolError:
        return False


def _module(tool: str):
    from . import denoise, inpaint, score, synthesize, upscale

    return {"score": score, "inpaint": inpaint, "denoise": denoise, "upscale": upscale, "synthesize": synthesize}[tool]


def read_for(engine, record: dict, sources, tool: str):
    data = run_data_plan(record)
    native = tool == "upscale"
    return read_images(sources, None if native else engine.data.size, engine.data.channels,
                       fit=data.fit, background=data.background,
                       native_max=engine.data.size if native else None)


def run_tool(engine, record: dict, tool: str, sources, params: dict | None = None, mask: np.ndarray | None = None,
             progress: ProgressFn | None = None) -> dict:
    """Run `tool` on the images under `sources`; a dict with what an interface shows (see the module doc)."""
    params = dict(params or {})
    seed = int(params.pop("seed", 0))
    module = _module(tool)
    module.method_for(engine)
    opts = typed_options(tool, params)
    out: dict = {"tool": tool}
    if tool == "synthesize":
        return _synthesize(engine, record, params, opts, seed, progress)
    inputs = read_for(engine, record, sources, tool)
    out.update(names=inputs.names, paths=inputs.paths, skipped=inputs.skipped)
    if not len(inputs):
        raise ToolError("no readable images among the inputs" +
                        (f" ({inputs.skipped[0][0]}: {inputs.skipped[0][1]})" if inputs.skipped else ""))
    out["inputs"] = inputs.images
    out["self_check"] = _check(engine, record, tool, params, opts, seed, progress, inputs.images)
    if tool == "score":
        from . import score

        res = score.score(engine, inputs.images, complexity=opts.complexity, seed=seed, progress=progress,
                          projection_steps=opts.projection_steps)
        ref_images, note = score.held_out_images(record, engine, int(params.get("reference_limit", 256)))
        ref = None
        if ref_images is not None and len(ref_images):
            r = score.score(engine, ref_images, complexity=opts.complexity, seed=seed,
                            projection_steps=opts.projection_steps)
            ref = score.Reference(r.scores, note, opts.fpr)
        out.update(scores=res.scores, raw=res.raw, complexity=res.complexity, method=res.method, unit=res.unit,
                   reference=ref, reference_note=note,
                   histogram=score.histogram(res.scores, None if ref is None else ref.scores),
                   order=np.argsort(-res.scores, kind="stable"))
    elif tool == "inpaint":
        from . import inpaint

        if mask is None or not np.asarray(mask).any():
            raise ToolError("draw or load a mask first: white (painted) pixels are filled")
        res = inpaint.inpaint(engine, inputs.images, mask, candidates=opts.candidates, seed=seed,
                              progress=progress, **method_options(opts))
        from .baselines import BASELINES, mean_fill

        out.update(images=res.images, method=res.method, mask=np.asarray(mask, bool),
                   baseline=mean_fill(inputs.images, mask), baseline_name=BASELINES["inpaint"])
    elif tool == "denoise":
        from . import denoise

        res = denoise.denoise(engine, inputs.images, sigma=opts.sigma or None, seed=seed,  # 0: estimate
                              progress=progress, **method_options(opts))
        from .baselines import filter_for_sigma

        name, filt = filter_for_sigma(float(np.median(res.sigmas)))
        out.update(images=res.images[:, None], method=res.method, sigmas=res.sigmas, estimated=res.estimated,
                   baseline=filt(inputs.images), baseline_name=name)
    elif tool == "upscale":
        from . import upscale

        res = upscale.upscale(engine, inputs.images, seed=seed, progress=progress, **method_options(opts))
        out.update(images=res.images[:, None], bicubic=res.bicubic, method=res.method, baseline=res.bicubic,
                   baseline_name="bicubic")
    return out


def _check(engine, record: dict, tool: str, params: dict, opts, seed: int, progress, images) -> dict | None:
    """The held-out self-check at the settings the tool is about to use (None when switched off); denoising
    is checked at the level given, or the inputs' estimated level."""
    if not params.get("check", True):
        return None
    from .selfcheck import self_check

    sigma = None
    if tool == "score":
        options = {"complexity": opts.complexity, "projection_steps": opts.projection_steps}
    else:
        options = method_options(opts)
    if tool == "denoise":
        from .denoise import estimate_sigma

        sigma = opts.sigma or max(1, round(float(np.median(estimate_sigma(images)))))
    return self_check(tool, engine, record, seed=seed, sigma=sigma, progress=progress, **options).to_json()


def typed_options(tool: str, params: dict):
    """The tool's typed options (engines/tools/options.py) from `params`; a ToolError naming a bad one."""
    from ..config import ConfigError, field_infos, replace_checked

    cls = OPTIONS[tool]
    names = {i.name for i in field_infos(cls)}
    try:
        return replace_checked(cls(), **{k: v for k, v in params.items() if k in names})
    except ConfigError as exc:
        raise ToolError(str(exc)) from None


def _synthesize(engine, record: dict, params: dict, opts, seed: int, progress) -> dict:
    from . import synthesize as syn

    folder = params.get("out")
    if not folder:
        raise ToolError("choose a folder for the synthetic dataset first")
    out_dir = Path(folder).expanduser()
    syn.check_dataset_folder(out_dir)   # a file, or someone's own images, there is said now, not after sampling
    n, conf = opts.n_per_class, opts.min_confidence
    split, why = syn.real_split(record, engine) if (conf > 0 or engine.conditional) else (None, "")
    classifier = None
    if conf > 0:
        if split is None:
            raise ToolError(f"confidence filtering needs a classifier of the run's data, but {why}")
        from ..quality import FeatureSpace
        keep = split[1] >= 0
        classifier = FeatureSpace.fit(split[0][keep], split[1][keep])
    result = syn.generate(engine, n, seed=seed, classifier=classifier, min_confidence=conf, progress=progress)
    files = syn.write_dataset(out_dir, engine, result, seed, bool(params.get("force", False)))
    scores = None
    if engine.conditional and split is not None:
        tx, ty, hx, hy = split
        scores = syn.classification_accuracy_score(result.images, result.labels, tx[ty >= 0], ty[ty >= 0],
                                                   hx[hy >= 0], hy[hy >= 0], seed=seed)
    settings = {"n_per_class": n, "seed": seed, "min_confidence": conf}
    check = None
    if scores is not None and params.get("check", True):
        from .selfcheck import cas_check

        check = cas_check(scores, engine, record, syn.METHODS[0].name).to_json()
    manifest = syn.write_manifest(out_dir, record, engine, result, settings, files, scores, check)
    return {"tool": "synthesize", "images": result.images[:, None], "labels": result.labels, "self_check": check,
            "method": syn.METHODS[0].name, "manifest": str(manifest), "scores": scores, "notes": result.notes,
            "names": [p.relative_to(out_dir).as_posix() for p in files], "skipped": []}


__all__ = ["TITLES", "OPTIONS", "run_tool", "typed_options", "method_name", "can", "read_for"]
