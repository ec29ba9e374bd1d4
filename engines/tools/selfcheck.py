"""Does this model beat the obvious baseline on the run's own held-out images? Said before anyone relies on it.

    check = self_check("denoise", engine, record)          # record from load_engine (knows its run folder)
    print(check.verdict())   # "on 24 held-out images this model beats the best filter (median 3x3) by 3.1 dB ..."

Each image tool is run on a few dozen of the run's held-out images (re-made as training made them,
engines/tools/common.run_split) with a degradation whose answer is known, and scored beside its
named baseline (engines/tools/baselines.py):

  * denoise: Gaussian noise of `sigma` (0-255 scale) added; PSNR of the model's result against the
    best of the median and Gaussian filters (chosen with the clean images: the strongest filter a
    person could tune);
  * upscale: area-downsampled to half size; PSNR against bicubic;
  * inpaint: the bottom half removed; PSNR inside the hole against filling it with the mean of the
    known pixels;
  * score: the held-out images against the same images upside down with their values inverted (as
    complex as the originals, so the complexity baseline sits at chance by construction); AUROC of the
    model's score against the complexity score's.
  * synthesize (`cas_check`, no extra work): the classification accuracy score the tool computes anyway
    (a classifier trained only on the synthetic images, tested on the run's held-out images) against
    the same classifier trained on as many real images; it loses below CAS_SHARE of the real score.

Beside a verdict, `suggestion` names what did better at small training budgets (engines/tools/recommend.py)
when the model loses or another kind of run is known to do better at the tool.

Results are cached in the run folder (`selfcheck.json`), keyed by tool, checkpoint file (name, size,
time) and settings, so a second look costs nothing. An exported model file carries no data: no check,
and the reason says so.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import baselines
from .common import ProgressFn, ToolError, few_held_out, psnr

TOOLS = ("denoise", "upscale", "inpaint", "score")
CACHE_NAME = "selfcheck.json"
DEFAULT_IMAGES = 24
DEFAULT_SIGMA = 40.0
TIE = {"dB": 0.1, "AUROC": 1.0}   # margins (dB, points of AUROC) within which model and baseline are even
CAS_SHARE = 0.8                    # synthetic data is useful when its CAS reaches this share of the real data's
# a verdict from fewer held-out images says it is rough: below this one image moves an accuracy by 10 points
# or more, and a mean PSNR or an AUROC over a handful of images swings as much
VERDICT_IMAGES = 10


@dataclass
class SelfCheck:
    tool: str
    measure: str                      # "PSNR (dB)", "PSNR in the hole (dB)", "AUROC"
    model: float | None
    baseline: float | None
    baseline_name: str
    method: str = ""
    images: int = 0
    held_out: bool = True             # False: the run kept no held-out split; a tenth of its data, seen in training
    checkpoint_step: int = 0
    settings: dict | None = None
    reason: str = ""                  # why there is no check (no data, the tool cannot run)
    suggestion: str = ""              # what did better at small budgets (recommend.py); empty: nothing to add

    @property
    def available(self) -> bool:
        return self.model is not None and self.baseline is not None

    @property
    def margin(self) -> float | None:
        """Model minus baseline, in the measure's units (AUROC in points of 0.01)."""
        if not self.available:
            return None
        scale = 100.0 if self.measure in ("AUROC", "CAS") else 1.0
        return (float(self.model) - float(self.baseline)) * scale

    @property
    def tie(self) -> float:
        return TIE["AUROC"] if self.measure == "AUROC" else TIE["dB"]

    @property
    def loses(self) -> bool:
        if self.measure == "CAS":
            return self.available and float(self.model) < CAS_SHARE * float(self.baseline)
        return self.available and self.margin < -self.tie

    @property
    def caution(self) -> str:
        """Why the verdict is rough ('' when it is not): it rests on fewer than VERDICT_IMAGES images."""
        return few_held_out(self.images, VERDICT_IMAGES, "a verdict") if self.available else ""

    def verdict(self) -> str:
        """One sentence for a person (ending in the caution when too few images were checked)."""
        if not self.available:
            return f"no held-out check: {self.reason}"
        caution = self.caution
        return f"{self._verdict()}; {caution}" if caution else self._verdict()

    def _verdict(self) -> str:
        where = ("on your held-out images" if self.held_out else
                 "on images the model trained on (the run kept no held-out split)")
        where = f"{where} ({self.images}, {self.settings_text()})" if self.settings_text() else f"{where} ({self.images})"
        if self.measure == "CAS":
            share = float(self.model) / max(float(self.baseline), 1e-9)
            numbers = (f"a classifier trained only on the synthetic images scores {self.model:.3f} on your held-out "
                       f"images ({self.images}), against {self.baseline:.3f} trained on as many real images "
                       f"({share:.2f}x)")
            if self.loses:
                return (f"{numbers}: below {CAS_SHARE:g}x, so the synthetic set stands in poorly for real data - "
                        f"train longer or try another run before relying on it")
            return f"{numbers}: the synthetic set stands in for real data"
        unit = "points of AUROC" if self.measure == "AUROC" else "dB"
        if self.measure == "AUROC":
            numbers = f"AUROC {self.model:.3g} against {self.baseline:.3g}"
        else:
            name = self.measure.replace(" (dB)", "")
            numbers = f"{name} {self.model:.1f} dB against {self.baseline:.1f} dB"
        m = self.margin
        if m > self.tie:
            return f"{where} this model beats {self.baseline_name} by {m:.1f} {unit} ({numbers})"
        if m < -self.tie:
            return (f"{where} this model loses to {self.baseline_name} by {-m:.1f} {unit} ({numbers}) - "
                    f"use {self.baseline_name} instead, or train longer or try another run before relying on it")
        return f"{where} this model does no better than {self.baseline_name} ({numbers})"

    def settings_text(self) -> str:
        s = self.settings or {}
        if self.tool == "denoise":
            return f"noise sigma {s.get('sigma', DEFAULT_SIGMA):g}"
        if self.tool == "upscale":
            return f"{s.get('small', '?')} px -> {s.get('size', '?')} px"
        if self.tool == "inpaint":
            return "bottom half removed"
        if self.tool == "score":
            return "against the same images upside down and inverted"
        return ""

    def to_json(self) -> dict:
        out = asdict(self)
        out.update(margin=self.margin, loses=self.loses, verdict=self.verdict(), caution=self.caution)
        return out


def _checkpoint_key(record: dict) -> str | None:
    ck = record.get("checkpoint")
    if not ck:
        return None
    try:
        st = os.stat(ck)
    except OSError:
        return None
    return f"{Path(ck).name}:{st.st_size}:{int(st.st_mtime)}"


def _cache_path(record: dict) -> Path | None:
    run = record.get("run") or record.get("path")
    if not run or record.get("model_file"):
        return None
    p = Path(run)
    return p / CACHE_NAME if p.is_dir() else None


def _key(tool: str, record: dict, settings: dict) -> str | None:
    ck = _checkpoint_key(record)
    if ck is None:
        return None
    return json.dumps([tool, ck, settings], sort_keys=True, default=str)


def _read_cache(path: Path | None) -> dict:
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(path: Path | None, key: str | None, check: SelfCheck) -> None:
    if path is None or key is None:
        return
    data = _read_cache(path)
    data[key] = asdict(check)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass   # a read-only run folder: the check is simply not cached


def cached(tool: str, record: dict, n: int = DEFAULT_IMAGES, seed: int = 0, sigma: float | None = None,
           **options) -> SelfCheck | None:
    """The cached check for this checkpoint and settings, or None (nothing is computed)."""
    settings = _settings(tool, {"n": n, "seed": seed, "sigma": sigma, "options": options})
    key = _key(tool, record, settings)
    got = _read_cache(_cache_path(record)).get(key) if key else None
    if not got:
        return None
    try:
        return SelfCheck(**got)
    except TypeError:
        return None


def _settings(tool: str, settings: dict) -> dict:
    out = {"n": int(settings.get("n") or DEFAULT_IMAGES), "seed": int(settings.get("seed") or 0),
           "options": {k: v for k, v in sorted((settings.get("options") or {}).items()) if v is not None}}
    if tool == "denoise":
        out["sigma"] = float(settings.get("sigma") or DEFAULT_SIGMA)
    return out


def self_check(tool: str, engine, record: dict, n: int = DEFAULT_IMAGES, seed: int = 0, sigma: float | None = None,
               progress: ProgressFn | None = None, use_cache: bool = True, **options) -> SelfCheck:
    """The tool's measure against its baseline on up to `n` held-out images of the run (see the module
    doc). `options`: the tool's own (steps, resample...), as the person is about to use it."""
    if tool not in TOOLS:
        raise ToolError(f"no self-check for {tool}; checks exist for {', '.join(TOOLS)}")
    settings = _settings(tool, {"n": n, "seed": seed, "sigma": sigma, "options": options})
    key = _key(tool, record, settings)
    path = _cache_path(record)
    if use_cache and key:
        hit = cached(tool, record, n, seed, sigma, **options)
        if hit is not None:
            return _suggested(hit, engine)
    base = SelfCheck(tool, _MEASURES[tool], None, None, baselines.BASELINES[tool],
                     checkpoint_step=int(record.get("checkpoint_step", 0) or 0), settings=settings)
    from .common import run_split

    _train, held, real, why = run_split(record, engine)
    if held is None or len(held) == 0:
        base.reason = why or "the run has no images to check on"
        return base
    images = np.asarray(held.images)[: settings["n"]]
    labels = np.asarray(held.labels)[: len(images)] if getattr(held, "labels", None) is not None else None
    if labels is not None and (not engine.conditional or labels.min() < 0):
        labels = None
    try:
        check = _RUNNERS[tool](engine, images, labels, settings, progress)
    except ToolError as exc:
        base.reason = str(exc)
        return base
    check.images, check.held_out, check.checkpoint_step, check.settings = (
        len(images), bool(real), base.checkpoint_step, {**settings, **(check.settings or {})})
    check = _suggested(check, engine)
    _write_cache(path, key, check)
    return check


def _suggested(check: SelfCheck, engine) -> SelfCheck:
    from .recommend import suggest

    if check.available:
        check.suggestion = suggest(check.tool, engine.family, check.loses)
    return check


def cas_check(scores: dict | None, engine, record: dict, method: str = "") -> SelfCheck:
    """The synthesize tool's own classification accuracy score as a self-check (nothing is computed here)."""
    scores = scores or {}
    check = SelfCheck("synthesize", "CAS", scores.get("cas"), scores.get("real_baseline"),
                      baselines.BASELINES["synthesize"], method, images=int(scores.get("test_images") or 0),
                      checkpoint_step=int(record.get("checkpoint_step", 0) or 0),
                      reason=str(scores.get("note") or ("" if scores else "no classification accuracy score")))
    return _suggested(check, engine)


def _denoise(engine, images, labels, settings, progress) -> SelfCheck:
    from .denoise import add_noise, denoise

    sigma = settings["sigma"]
    noisy = add_noise(images, sigma, seed=settings["seed"])
    result = denoise(engine, noisy, sigma=sigma, seed=settings["seed"], labels=labels, progress=progress,
                     **settings["options"])
    name, _out, value = baselines.best_filter(noisy, images, sigma)
    return SelfCheck("denoise", _MEASURES["denoise"], psnr(result.images, images), value,
                     f"the best filter ({name})", result.method)


def _upscale(engine, images, labels, settings, progress) -> SelfCheck:
    from .upscale import shrink, upscale

    size = images.shape[1]
    small = max(2, size // 2)
    low = shrink(images, small)
    result = upscale(engine, low, seed=settings["seed"], labels=labels, progress=progress, **settings["options"])
    return SelfCheck("upscale", _MEASURES["upscale"], psnr(result.images, images), psnr(result.bicubic, images),
                     "bicubic", result.method, settings={"small": small, "size": size})


def _inpaint(engine, images, labels, settings, progress) -> SelfCheck:
    from .inpaint import inpaint

    size = images.shape[1]
    mask = np.zeros(images.shape[1:3], bool)
    mask[size // 2:] = True
    result = inpaint(engine, images, mask, candidates=1, seed=settings["seed"], labels=labels, progress=progress,
                     **settings["options"])
    holes = np.broadcast_to(mask, images.shape[:3])
    return SelfCheck("inpaint", _MEASURES["inpaint"], psnr(result.images[:, 0], images, holes),
                     psnr(baselines.mean_fill(images, mask), images, holes), baselines.BASELINES["inpaint"],
                     result.method)


def _score(engine, images, labels, settings, progress) -> SelfCheck:
    from .score import auroc, score

    odd = 255 - images[:, ::-1]
    both = np.concatenate([images, odd])
    result = score(engine, both, seed=settings["seed"], progress=progress, **settings["options"])
    s = np.asarray(result.scores, np.float64)
    c = baselines.complexity(both)
    n = len(images)
    return SelfCheck("score", "AUROC", float(auroc(s[:n], s[n:])), float(auroc(c[:n], c[n:])),
                     baselines.BASELINES["score"], result.method)


_MEASURES = {"denoise": "PSNR (dB)", "upscale": "PSNR (dB)", "inpaint": "PSNR in the hole (dB)", "score": "AUROC"}
_RUNNERS = {"denoise": _denoise, "upscale": _upscale, "inpaint": _inpaint, "score": _score}

__all__ = ["SelfCheck", "self_check", "cas_check", "cached", "TOOLS", "DEFAULT_IMAGES", "DEFAULT_SIGMA", "CAS_SHARE"]
