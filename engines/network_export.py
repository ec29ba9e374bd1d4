"""The deterministic network that makes a run's images, as ONNX (`.onnx`) or torch.export (`.pt2`).

    net = image_network(engine)                 # what to export, with example inputs
    export_onnx(net, "g.onnx"); export_pt2(net, "g.pt2")

Each family says what it exports (its export_network(), the Exportable role); per kind of family
(noise and every other random draw are inputs; the loop a sampler runs around the network is not
part of the file):

| family kind | inputs | output |
| GANs (gan, dcgan, cgan, wgan-gp, sngan, sagan) | z (B, latent) float32 [, labels (B,) int64] | images (B, C, H, W) in [-1, 1] (the EMA generator when the run keeps one) |
| progan, biggan, stylegan | z (B, latent) [, labels (B,) int64: biggan] | images in [-1, 1]: progan at the stage reached (enlarged to the run's size), stylegan through the mapping net with the run's truncation psi and fixed noise |
| ae | z (B, latent) | images in [-1, 1] (the decoder) |
| vae, cvae | z (B, latent) [, labels (B,) int64] | images in [-1, 1]: the decoder distribution's mean |
| realnvp, glow | eps (B, D) standardised latents (multiply by the temperature yourself) | images in (0, 1): the flow's inverse, unclamped |
| ddpm | x_t (B, C, H, W), t (B,) int64 [, labels (B,) int64, num_classes = no label] | prediction (B, C, H, W): eps or v, one denoising step's network output |
| flow-matching | x_t (B, C, H, W), t (B,) float in [0, 1] (1 = noise) [, labels] | velocity (B, C, H, W): one ODE step's network output |
| pixelcnn | pixels (B, C, H, W) in [-1, 1] [, labels (B,) int64] | logits (B, P, C, H, W): 256 logits per subpixel, or 3K logistic-mixture parameters |

Parametrisations (spectral norm, weight norm) are removed on a copy first, so the files hold plain
weights; the batch size is dynamic. Each file records what it is (family, inputs, output, the
diffusion schedule) in its metadata: ONNX `metadata_props`, `.pt2` extra file `genstudio.json`.
Other families raise ExportError naming the ones that can be exported.

onnx / onnxscript / onnxruntime are an optional extra (`pip install 'genstudio[onnx]'`); torch.export
needs nothing beyond torch.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import registry
from .export import ExportError
from .families import capabilities
from .nn.export_helpers import plain_copy  # noqa: F401  (tests and callers import it from here)

ONNX_MISSING = ("ONNX export needs the onnx extra: pip install 'genstudio[onnx]' "
                "(or: pip install onnx onnxscript onnxruntime)")


@dataclass
class ImageNetwork:
    """A module whose forward(*inputs) returns one tensor, example inputs (batch 2) and what it is."""
    module: nn.Module
    inputs: dict[str, torch.Tensor]
    output: str
    about: dict = field(default_factory=dict)   # family, meaning of inputs and output, extras
    program: object = field(default=None, repr=False)  # torch.export's program, once traced

    def metadata(self) -> dict:
        return {"format": "genstudio-network/1", "inputs": {k: list(v.shape[1:]) for k, v in self.inputs.items()},
                "input_dtypes": {k: str(v.dtype).removeprefix("torch.") for k, v in self.inputs.items()},
                "output": self.output, **self.about}


def image_network(engine) -> ImageNetwork:
    """What `genstudio export --out FILE.onnx|FILE.pt2` writes for this engine: its family's
    export_network() (the Exportable role)."""
    if not capabilities.has(engine, "export"):
        can = [name for name in registry.names() if capabilities.has(registry.get(name).engine_class, "export")]
        raise ExportError(f"{engine.family} cannot be exported to ONNX or torch.export yet; these can: {', '.join(can)}")
    net = engine.export_network(2)
    return ImageNetwork(net.module, net.inputs, net.output, net.about)


def _dynamic(net: ImageNetwork) -> tuple:
    """Dim 0 of every input is the one batch size (forward takes *args: shapes go by position)."""
    batch = torch.export.Dim("batch", min=1, max=65536)
    return (tuple({0: batch} for _ in net.inputs),)


def trace(net: ImageNetwork):
    """The torch.export program (dynamic batch); both file formats are written from it."""
    if net.program is None:
        try:
            net.program = torch.export.export(net.module, tuple(net.inputs.values()), dynamic_shapes=_dynamic(net))
        except Exception as exc:  # noqa: BLE001 - say what failed, in one line
            raise ExportError(f"torch.export could not trace this network: {str(exc).splitlines()[0]}") from None
    return net.program


def export_pt2(net: ImageNetwork, path: str | Path) -> Path:
    """torch.export program with a dynamic batch; load with torch.export.load(path).module()."""
    path = Path(path)
    torch.export.save(trace(net), str(path), extra_files={"genstudio.json": json.dumps(net.metadata())})
    return path


def onnx_available() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def _exporter_logs_quiet():
    """torch's ONNX exporter logs a warning per torchvision operator it skips when torchvision is not
    installed (genstudio never needs it): keep those lines off the person's terminal."""
    log = logging.getLogger("torch.onnx")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def export_onnx(net: ImageNetwork, path: str | Path, opset: int = 18) -> Path:
    """ONNX file (opset 18) with named inputs, a dynamic batch and genstudio metadata."""
    if not onnx_available():
        raise ExportError(ONNX_MISSING)
    import onnx

    path = Path(path)
    quiet = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(quiet), _exporter_logs_quiet():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(trace(net), dynamo=True, opset_version=opset, input_names=list(net.inputs),
                                        output_names=[net.output], verbose=False)
        model = program.model_proto
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"ONNX export failed: {str(exc).splitlines()[0]}") from None
    for key, value in net.metadata().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.save(model, str(path))
    return path


def run_onnx(path: str | Path, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """Run an exported file in onnxruntime (CPU): the output as a numpy array."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ExportError(ONNX_MISSING) from None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {k: np.asarray(v) for k, v in inputs.items()})[0]


def write_network(engine, path: str | Path) -> ImageNetwork:
    """The engine's image-making network to `path` (.onnx or .pt2, by suffix), written atomically
    (a temporary file beside it, renamed when complete)."""
    path = Path(path)
    if path.suffix not in (".onnx", ".pt2"):
        raise ExportError(f"a network file ends in .onnx or .pt2, not {path.suffix or 'nothing'}")
    if path.suffix == ".onnx" and not onnx_available():
        raise ExportError(ONNX_MISSING)
    net = image_network(engine)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    try:
        (export_onnx if path.suffix == ".onnx" else export_pt2)(net, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return net
