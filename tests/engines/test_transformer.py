"""Image transformer: causal, KV-cached sampling equals recomputing, the tokens variant keeps the family
contract in both phases (self-trained VQ-VAE first, then the transformer) and takes a given first stage."""

import numpy as np
import pytest
import torch

from engines.config import ConfigError
from engines.families.base import Batch, Cancelled, DataSpec
from engines.families.transformer import TransformerConfig, TransformerEngine, dequantise, quantise
from engines.families.vqvae import VQVAEConfig, VQVAEEngine
from tests.engines import test_family_contract as contract
from tests.helpers import tiny_dataset
from tests.engines.family_cases import SMALL_CONFIG

SMALL = TransformerConfig(layers=2, dim=16, heads=2, lr_warmup=0)
TOKENS = {"variant": "tokens", "layers": 1, "dim": 16, "heads": 2, "lr_warmup": 0, "first_stage_width": 4,
          "first_stage_latent": 4, "first_stage_codebook": 8}


def test_a_later_pixel_never_changes_earlier_logits():
    torch.manual_seed(0)
    engine = TransformerEngine(SMALL, DataSpec(8, 1, 2, ("a", "b")))
    seq = torch.randint(0, engine.vocab, (2, engine.length))
    start = torch.tensor([0, 1])
    before = engine.net(start, seq[:, :-1])
    changed = seq.clone()
    changed[:, 30] = (changed[:, 30] + 1) % engine.vocab
    after = engine.net(start, changed[:, :-1])
    # logits at position i predict token i from tokens < i: positions 0..30 cannot see token 30
    torch.testing.assert_close(before[:, :31], after[:, :31], rtol=0, atol=0)
    assert not torch.allclose(before[:, 31:], after[:, 31:])


def test_kv_cache_sampling_equals_full_recompute():
    torch.manual_seed(0)
    engine = TransformerEngine(SMALL, DataSpec(8, 3, 2, ("a", "b")))
    data = tiny_dataset(n=8, size=8, channels=3, classes=2)
    batch = Batch(torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(data.labels))
    for _ in range(3):
        engine.train_step(batch)
    engine.set_sampling_options(temperature="0.9", top_k="20")
    cached = engine.sample(3, seed=4, labels=np.array([0, 1, 0]))
    engine.set_sampling_options(cache="false")
    full = engine.sample(3, seed=4, labels=np.array([0, 1, 0]))
    np.testing.assert_array_equal(cached, full)


def test_quantisation_round_trips_and_bits_per_dim_are_over_the_levels():
    pixels = torch.tensor([[[[0, 85, 170, 255]], [[255, 0, 0, 0]], [[0, 0, 255, 85]]]], dtype=torch.uint8)
    tokens = quantise(pixels, 4)
    assert tokens.max() < 64
    np.testing.assert_array_equal(dequantise(tokens, 4, 3, 2).reshape(-1), pixels.permute(0, 2, 3, 1).reshape(-1).numpy())
    torch.manual_seed(0)
    engine = TransformerEngine(SMALL, DataSpec(8, 1))
    images = tiny_dataset(n=3, size=8).images
    bpd = engine.bits_per_dim(images)
    # an untrained model is near uniform over the 4 levels: about log2(4) = 2 bits/dim, not 8
    assert bpd.shape == (3,) and np.all(np.abs(bpd - 2.0) < 0.3)
    batch = Batch(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.zeros(3, dtype=torch.long))
    assert bpd.mean() == pytest.approx(engine.validate([batch])["bits_per_dim"], rel=1e-5)


def test_only_the_pixels_variant_offers_a_likelihood():
    from engines.families import capabilities

    pixels = TransformerEngine(SMALL, DataSpec(8, 1))
    tokens = TransformerEngine(TransformerConfig(**TOKENS), DataSpec(16, 1))
    assert capabilities.of(pixels) == ("sample", "likelihood", "autoregressive")
    assert capabilities.of(tokens) == ("sample",)


def test_sampler_reports_rows_and_stops_when_cancelled():
    torch.manual_seed(0)
    engine = TransformerEngine(SMALL, DataSpec(8, 1))
    seen = []
    engine.sample(2, seed=0, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(i, 8) for i in range(1, 9)]

    def stop(done, total):
        if done == 2:
            raise Cancelled()

    with pytest.raises(Cancelled):
        engine.sample(2, seed=0, progress=stop)
    with pytest.raises(ConfigError):
        engine.set_sampling_options(top_k="-1")


@pytest.mark.parametrize("switch", [2, 5], ids=["resume-in-phase-2", "resume-in-phase-1"])
def test_tokens_variant_keeps_the_contract_in_both_phases(tmp_path, monkeypatch, switch):
    monkeypatch.setitem(SMALL_CONFIG, "transformer", {**TOKENS, "first_stage_steps": switch})
    contract.test_resume_is_exact(tmp_path / "resume", "transformer")
    contract.test_trains_samples_and_reloads(tmp_path / "train", "transformer", 1, 2)


def test_phase_switch_freezes_the_tokeniser_and_names_the_losses():
    torch.manual_seed(0)
    engine = TransformerEngine(TransformerConfig(**TOKENS, first_stage_steps=2), DataSpec(16, 1))
    data = tiny_dataset(n=8, size=16)
    batch = Batch(torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous(), torch.zeros(8, dtype=torch.long))
    first = [engine.train_step(batch) for _ in range(2)]
    assert all(l["phase"] == 1.0 and "first_stage_recon" in l and "token_nll" not in l for l in first)
    frozen = {k: v.clone() for k, v in engine.first.encoder.state_dict().items()}
    later = [engine.train_step(batch) for _ in range(2)]
    assert all(l["phase"] == 2.0 and "token_nll" in l for l in later)
    assert all(torch.equal(v, engine.first.encoder.state_dict()[k]) for k, v in frozen.items())
    assert not any(p.requires_grad for p in engine.first.encoder.parameters())


def test_a_given_vqvae_is_the_first_stage_and_survives_reloading(tmp_path):
    from engines.train.model_file import load_model, save_model

    torch.manual_seed(0)
    spec = DataSpec(16, 1)
    vq = VQVAEEngine(VQVAEConfig(width=8, code_dim=3, codebook_size=5), spec)  # not what the config would build
    engine = TransformerEngine(TransformerConfig(**TOKENS), spec, inputs={"first_stage": vq})
    assert engine.phase == 2 and engine.vocab == 5
    data = tiny_dataset(n=8, size=16)
    batch = Batch(torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous(), torch.zeros(8, dtype=torch.long))
    assert "token_nll" in engine.train_step(batch)
    path = save_model(engine, tmp_path / "m.safetensors", 1)
    loaded, _ = load_model(path)
    assert loaded.first_given and loaded.vocab == 5
    np.testing.assert_array_equal(loaded.sample(2, seed=3), engine.sample(2, seed=3))
    with pytest.raises(ConfigError):
        TransformerEngine(TransformerConfig(**TOKENS), DataSpec(8, 1), inputs={"first_stage": vq})


def test_evaluate_says_what_the_bits_per_dim_are_over(tmp_path, capsys):
    from PIL import Image

    from engines.cli import main

    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(6):
        Image.new("L", (16, 16), color=i * 40).save(imgs / f"{i}.png")
    run = tmp_path / "run"
    assert main(["train", "--family", "transformer", "--data", str(imgs), "--out", str(run), "--size", "16",
                 "--steps", "2", "--batch-size", "2", "--quiet", "--set", "layers=1", "--set", "dim=16",
                 "--set", "heads=2", "--set", "sample_every=0"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(imgs)]) == 0
    out = capsys.readouterr().out
    assert "bits_per_dim " in out and "over the 4 quantised levels" in out and "bits_per_dim_8bit_bound" in out
