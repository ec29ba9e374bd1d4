"""The deterministic network that makes a run's images, as ONNX (`.onnx`) or torch.export (`.pt2`).

    net = image_network(engine)                 # what to export, with example inputs
    export_onnx(net, "g.onnx"); export_pt2(net, "g.pt2")

What is exported, per kind of family (noise and every other random draw are inputs; the loop a
sampler runs around the network is not part of the file):

| family kind | inputs | output |
| GANs (gan, dcgan, cgan, wgan-gp, sngan, sagan) | z (B, latent) float32 [, labels (B,) int64] | images (B, C, H, W) in [-1, 1] (the EMA generator when the run keeps one) |
| progan, biggan, stylegan | z (B, latent) [, labels (B,) int64: biggan] | images in [-1, 1]: progan at the stage reached (enlarged to the run's size), stylegan through the mapping net with the run's truncation psi and fixed noise |
| ae | z (B, latent) | images in [-1, 1] (the decoder) |
| vae, cvae | z (B, latent) [, labels (B,) int64] | images in [-1, 1]: the decoder distribution's mean |
| realnvp, glow | eps (B, D) standardised latents (multiply by the temperature yourself) | images in (0, 1): the flow's inverse, unclamped |
| ddpm | x_t (B, C, H, W), t (B,) int64 [, labels (B,) int64, num_classes = no label] | prediction (B, C, H, W): eps or v, one denoising step's network output |
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
import copy
import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from .export import ExportError

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


def plain_copy(module: nn.Module) -> nn.Module:
    """A deep copy in eval mode with every parametrisation (spectral norm, weight norm) baked into
    plain weights: exporters see ordinary parameters, and no power iteration runs."""
    twin = copy.deepcopy(module).eval()
    for m in twin.modules():
        if parametrize.is_parametrized(m):
            # a deep copy shares the parametrised class that holds the `weight` property with the
            # original, and removal deletes that property from the class: give the copy its own first
            cls = type(m)
            m.__class__ = type(cls.__name__, cls.__bases__, dict(cls.__dict__))
            for name in list(m.parametrizations.keys()):
                parametrize.remove_parametrizations(m, name, leave_parametrized=True)
    for p in twin.parameters():
        p.requires_grad_(False)
    return twin.float().cpu()


class _Call(nn.Module):
    """forward(*inputs) = fn(net, *inputs), with the net registered (its weights are exported)."""

    def __init__(self, net: nn.Module, fn, names: tuple[str, ...]):
        super().__init__()
        self.net, self._fn, self._names = net, fn, names

    def forward(self, *args):
        return self._fn(self.net, *args)


def _vae_image_mean(engine, loc: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """VAEEngine._image_mean in one pass: measures.discretized_mean works in chunks of pixels (to
    bound memory), a loop over the batch size that a traced graph cannot keep dynamic. Same formula;
    the export test checks it against the engine's own."""
    from .measures import BIN_HALF_WIDTH

    if engine.likelihood == "bernoulli":
        return engine._image_mean(loc, log_scale)
    survival = torch.special.ndtr if engine.likelihood == "gaussian" else torch.sigmoid
    edges = torch.arange(1, 256, dtype=loc.dtype) / 127.5 - 1.0 - BIN_HALF_WIDTH
    mean = survival((loc[..., None] - edges) / torch.exp(log_scale)[..., None]).sum(-1)
    return mean / 127.5 - 1.0


def _bake_inverses(flow: nn.Module) -> nn.Module:
    """Glow's invertible 1x1 convolutions invert their weight matrix on every call; ONNX has no
    matrix inverse, and the weights are fixed now: compute each inverse once (float64) and keep it."""
    import types

    from .nn.flows import InvConv1x1

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.conv2d(y, self.baked_inverse[:, :, None, None])

    for m in flow.modules():
        if isinstance(m, InvConv1x1):
            m.register_buffer("baked_inverse", torch.linalg.inv(m.weight().double()).float())
            m.inverse = types.MethodType(inverse, m)
    return flow


def _labels(n: int, classes: int) -> torch.Tensor:
    return torch.arange(n, dtype=torch.int64) % max(classes, 1)


def image_network(engine) -> ImageNetwork:
    """What `genstudio export --out FILE.onnx|FILE.pt2` writes for this engine (see the module note)."""
    from .families.ae import AEEngine
    from .families.ddpm import DDPMEngine
    from .families.gan import GANEngine
    from .families.pixelcnn import PixelCNNEngine
    from .families.vae import VAEEngine
    from .families.flow_engine import FlowEngine

    spec = engine.data
    b = 2
    cond = bool(engine.conditional)
    family = type(engine).__name__
    from .families.gan_common import MilestoneGAN
    if isinstance(engine, MilestoneGAN):
        g = plain_copy(engine._sampling_generator())
        z = torch.randn(b, engine.config.latent_dim)
        about = {"network": "generator", "range": [-1, 1], **engine.export_about()}
        if cond:
            module = _Call(g, lambda net, z, labels: engine.export_forward(net, z, labels), ("z", "labels"))
            return ImageNetwork(module, {"z": z, "labels": _labels(b, spec.num_classes)}, "images", about)
        module = _Call(g, lambda net, z: engine.export_forward(net, z), ("z",))
        return ImageNetwork(module, {"z": z}, "images", about)
    if type(engine) is GANEngine:
        g = plain_copy(engine._sampling_generator())
        z = torch.randn(b, engine.config.latent_dim)
        if cond:
            module = _Call(g, lambda net, z, labels: net(z, labels), ("z", "labels"))
            inputs = {"z": z, "labels": _labels(b, spec.num_classes)}
        else:
            module = _Call(g, lambda net, z: net(z, None), ("z",))
            inputs = {"z": z}
        return ImageNetwork(module, inputs, "images", {"network": "generator", "range": [-1, 1]})
    if isinstance(engine, AEEngine):
        module = _Call(plain_copy(engine.decoder), lambda net, z: torch.tanh(net(z)), ("z",))
        return ImageNetwork(module, {"z": torch.randn(b, engine.config.latent_dim)}, "images",
                            {"network": "decoder", "range": [-1, 1]})
    if isinstance(engine, VAEEngine):
        twin = copy.copy(engine)              # the engine's own decoding maths over a plain decoder
        twin.decoder = plain_copy(engine.decoder)
        z = torch.randn(b, engine.config.latent_dim)

        classes = torch.arange(max(spec.num_classes, 1))

        def decode(net, z, labels=None):
            if labels is not None:  # one-hot by comparison (F.one_hot would fix the batch size)
                labels = (labels[:, None] == classes[None, :]).float()
            return _vae_image_mean(twin, *twin._decode_params(z, labels))
        if cond:
            module = _Call(twin.decoder, lambda net, z, labels: decode(net, z, labels), ("z", "labels"))
            inputs = {"z": z, "labels": _labels(b, spec.num_classes)}
        else:
            module = _Call(twin.decoder, lambda net, z: decode(net, z), ("z",))
            inputs = {"z": z}
        return ImageNetwork(module, inputs, "images", {"network": "decoder mean", "range": [-1, 1],
                                                       "likelihood": engine.likelihood})
    if isinstance(engine, FlowEngine):
        flow = _bake_inverses(plain_copy(engine.model))
        module = _Call(flow, lambda net, eps: net.decode(eps), ("eps",))
        return ImageNetwork(module, {"eps": torch.randn(b, flow.latent_dim()) * 0.5}, "images",
                            {"network": "flow inverse", "range": [0, 1],
                             "temperature": float(getattr(engine, "temperature", 1.0))})
    if isinstance(engine, DDPMEngine):
        net = plain_copy(engine._sampling_net())
        x = torch.randn(b, spec.channels, spec.size, spec.size)
        t = torch.tensor([1, engine.config.timesteps - 1], dtype=torch.int64)
        about = {"network": "denoiser (one step)", "prediction": engine.config.prediction,
                 "schedule": engine.config.schedule, "timesteps": engine.config.timesteps,
                 "alpha_bar": [round(float(a), 10) for a in engine.schedule.alpha_bar],
                 "null_label": engine.null_label if cond else None}
        if cond:
            module = _Call(net, lambda net, x_t, t, labels: net(x_t, t, labels), ("x_t", "t", "labels"))
            return ImageNetwork(module, {"x_t": x, "t": t, "labels": _labels(b, spec.num_classes)},
                                "prediction", about)
        module = _Call(net, lambda net, x_t, t: net(x_t, t, None), ("x_t", "t"))
        return ImageNetwork(module, {"x_t": x, "t": t}, "prediction", about)
    if isinstance(engine, PixelCNNEngine):
        net = plain_copy(engine.model)
        pixels = torch.rand(b, spec.channels, spec.size, spec.size) * 2 - 1
        about = {"network": "autoregressive logits", "output_kind": "logistic_mixture" if engine.mixture else "logits256",
                 "temperature": float(getattr(engine, "temperature", 1.0))}
        if cond:
            module = _Call(net, lambda net, pixels, labels: net(pixels, labels), ("pixels", "labels"))
            return ImageNetwork(module, {"pixels": pixels, "labels": _labels(b, spec.num_classes)}, "logits", about)
        module = _Call(net, lambda net, pixels: net(pixels, None), ("pixels",))
        return ImageNetwork(module, {"pixels": pixels}, "logits", about)
    raise ExportError(f"{family} cannot be exported to ONNX or torch.export yet; these can: the GANs (gan, dcgan, "
                      f"cgan, wgan-gp, sngan, sagan, progan, biggan, stylegan), ae, vae, cvae, realnvp, glow, ddpm and pixelcnn")


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


def export_onnx(net: ImageNetwork, path: str | Path, opset: int = 18) -> Path:
    """ONNX file (opset 18) with named inputs, a dynamic batch and genstudio metadata."""
    if not onnx_available():
        raise ExportError(ONNX_MISSING)
    import onnx

    path = Path(path)
    quiet = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(quiet):
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
