"""genstudio export RUN_DIR --out FILE.safetensors|FILE.onnx|FILE.pt2: the trained model as one file.

.safetensors: the whole model (weights, settings) for genstudio itself. .onnx / .pt2: the network that
makes images, for other tools (engines/network_export.py says what each holds).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from ..network_export import ONNX_MISSING, onnx_available, write_network
from ..train.model_file import save_model
from ..train.restore import load_engine
from . import CliError


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="write a run's trained model as one .safetensors file, or its image-making "
                                      "network as ONNX (.onnx) or torch.export (.pt2)")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", required=True, metavar="FILE.safetensors|FILE.onnx|FILE.pt2")
    p.add_argument("--checkpoint", help="latest (default), best, a step number, or one of the run's checkpoint JSONs")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")


def run(args) -> int:
    out = Path(args.out).expanduser()
    if out.suffix not in (".safetensors", ".onnx", ".pt2"):
        raise CliError(f"--out must end in .safetensors, .onnx or .pt2, got {out.name!r}")
    if out.is_dir():  # never written into, --force or not
        raise CliError(f"{out} is a folder; --out names the model file to write (choose another name)")
    if out.exists() and not args.force:
        raise CliError(f"{out} already exists; use --force to overwrite")
    if not out.parent.is_dir():
        problem = "is a file, not a folder" if out.parent.exists() else "does not exist"
        raise CliError(f"cannot write to {out}: {out.parent} {problem}")
    if out.suffix == ".onnx" and not onnx_available():
        raise CliError(ONNX_MISSING)
    engine, record = load_engine(args.run_dir, args.checkpoint)
    if out.suffix in (".onnx", ".pt2"):
        return _export_network(engine, record, out)
    try:
        save_model(engine, out, record.checkpoint_step, source=str(Path(args.run_dir).resolve()))
    except OSError as exc:
        raise CliError(f"cannot write to {out}: {exc.strerror or exc}") from None
    size = out.stat().st_size
    amount = f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{max(1, round(size / 1e3))} kB"
    print(f"wrote {out} ({record.family}, step {record.checkpoint_step}, {amount}); "
          f"sample, interpolate and evaluate take it like a run folder: genstudio sample {shlex.quote(str(out))} --n 16 --out DIR")
    return 0


def _export_network(engine, record, out: Path) -> int:
    try:
        net = write_network(engine, out)  # ExportError (one line, exit 2) for families without one
    except OSError as exc:
        raise CliError(f"cannot write to {out}: {exc.strerror or exc}") from None
    inputs = ", ".join(f"{k} {tuple(['B', *v.shape[1:]])} {str(v.dtype).removeprefix('torch.')}"
                       for k, v in net.inputs.items())
    how = ("onnxruntime.InferenceSession(path).run(None, {...})" if out.suffix == ".onnx"
           else "torch.export.load(path).module()(*inputs)")
    print(f"wrote {out} ({record.family} {net.about.get('network', '')}, step {record.checkpoint_step}): "
          f"inputs {inputs} -> {net.output}; run it with {how}")
    return 0
