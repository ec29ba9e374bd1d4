"""bf16 autocast and channels_last are CUDA-only options: on CPU training stays plain fp32."""

import contextlib
import json

import torch

from engines.config import replace_checked
from engines.families.base import RunContext
from engines.families.gan import DCGANConfig
from engines.train import events as ev
from engines.train.loop import Trainer, TrainSettings, resolve_precision

SMALL = DCGANConfig(latent_dim=8, g_width=8, d_width=8)
SETTINGS = TrainSettings(steps=4, batch_size=4, log_every=2, sample_every=0, n_samples=4, device="cpu")


def _losses(run):
    return [json.loads(line)["losses"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_cpu_trains_in_fp32_whatever_was_asked(tmp_path, tiny):
    runs = {}
    for precision in ("auto", "fp32", "bf16"):
        settings = replace_checked(SETTINGS, precision=precision, channels_last=True)
        trainer = Trainer.new("dcgan", SMALL, settings, tiny, tmp_path / precision)
        assert trainer.precision == "fp32" and not trainer.channels_last
        assert isinstance(trainer.engine.autocast(), contextlib.nullcontext)
        assert trainer._batch(0).pixels.is_contiguous()
        events = list(trainer.run())
        warnings = [e for e in events if isinstance(e, ev.TrainWarning)]
        assert [w.kind for w in warnings] == (["precision"] if precision == "bf16" else [])
        record = json.loads((tmp_path / precision / "run.json").read_text())
        assert (record["device"], record["precision"], record["channels_last"]) == ("cpu", "fp32", False)
        runs[precision] = _losses(tmp_path / precision)
    assert runs["auto"] == runs["fp32"] == runs["bf16"]  # the CPU path is the same in every case


def test_bf16_needs_cuda_and_a_family_that_allows_it(tiny):
    engine = Trainer.new("dcgan", SMALL, SETTINGS, tiny, None).engine
    assert resolve_precision("bf16", torch.device("cpu"), engine) == "fp32"
    assert resolve_precision("fp32", torch.device("cuda"), engine) == "fp32"
    type(engine).mixed_precision_ok = False
    try:
        assert resolve_precision("auto", torch.device("cuda"), engine) == "fp32"
    finally:
        del type(engine).mixed_precision_ok
    engine.begin_training(RunContext(precision="bf16"))  # even if given by hand, autocast is CUDA-only
    assert isinstance(engine.autocast(), contextlib.nullcontext)
