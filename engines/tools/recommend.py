"""Which kind of run to use for each tool after a short training, said beside a self-check.

`BEST` lists, per tool, the families that did best when trained for a few CPU-minutes on 28 px
digits, best first (measured by benchmarks/tools_digits.py; the figures and how to rerun them are in
the README's Tools section, not here). `suggest` turns that into one short line for the CLI and the
Tools panel: said when the self-check says the model loses to its baseline, or when the run's family
is not among the ones that did best.
"""

from __future__ import annotations

# tool -> (families that did best at small budgets, best first)
BEST: dict[str, tuple[str, ...]] = {
    "denoise": ("ae", "ddpm"),
    "upscale": ("vae", "ae", "ddpm"),
    "inpaint": ("vae", "pixelcnn", "ae"),
    "score": ("ae", "vae", "pixelcnn", "ddpm"),
    "synthesize": ("ddpm",),
}
# the families the benchmark trained and compared: only these can be said to have done worse
MEASURED = frozenset(("ae", "vae", "ddpm", "pixelcnn"))
# how a family was trained when it did best, where that is not its recipe
HOW = {"ddpm": "ddpm (batch size 16)"}
DOING = {"denoise": "denoising", "upscale": "super-resolution", "inpaint": "inpainting",
         "score": "anomaly scoring", "synthesize": "making synthetic training data"}


def _names(families: tuple[str, ...]) -> str:
    named = [HOW.get(f, f) for f in families]
    return named[0] if len(named) == 1 else ", ".join(named[:-1]) + " or " + named[-1]


def suggest(tool: str, family: str, loses: bool) -> str:
    """One line naming the runs that did better at `tool` after a short training; empty when the run's
    family is among them and its self-check does not lose."""
    best = BEST.get(tool)
    if not best:
        return ""
    others = tuple(f for f in best if f != family)
    where = "after a few minutes of training on small images"
    if family in best:
        if not loses:
            return ""
        tail = f"; {_names(others)} runs also did well" if others else ""
        return f"{HOW.get(family, family)} runs did best at {DOING[tool]} {where}, so this run likely needs more training{tail}"
    if family not in MEASURED:   # never compared: say what was measured, not that it did worse
        return (f"{_names(best)} runs did best at {DOING[tool]} {where} among the kinds compared "
                f"({', '.join(sorted(MEASURED))}) - worth a try")
    return f"{_names(best)} runs did better at {DOING[tool]} {where} - try one"


__all__ = ["BEST", "suggest"]
