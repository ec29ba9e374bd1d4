"""GAN-specific behaviour: each recipe's losses, spectral norm, EMA, DiffAugment, config checks, presets."""

import json

import numpy as np
import pytest
import torch
from torch.nn.utils import parametrize

from engines import registry
from engines.config import ConfigError, replace_checked
from engines.families.base import Batch, DataSpec
from engines.families.gan import GANEngine
from engines.nn.gan_blocks import SelfAttention, diff_augment
from tests.helpers import tiny_dataset
from tests.engines.family_cases import SMALL_CONFIG

GAN_NAMES = ["gan", "dcgan", "cgan", "wgan-gp", "sngan", "sagan"]


def make_engine(name, size=16, channels=1, classes=0, **changes):
    family = registry.get(name)
    config = replace_checked(family.preset(family.config_class(), size), **{**SMALL_CONFIG[name], **changes})
    names = tuple(f"class{i}" for i in range(classes))
    return family.engine_class(config, DataSpec(size, channels, classes, names), "cpu")


def batches(n=16, size=16, channels=1, classes=0):
    data = tiny_dataset(n=n, size=size, channels=channels, classes=classes)
    pixels = torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous()
    return Batch(pixels, torch.from_numpy(data.labels))


def test_every_gan_name_is_registered():
    assert set(GAN_NAMES) <= set(registry.names())


@pytest.mark.parametrize("name", GAN_NAMES)
def test_each_recipe_trains_and_reports_its_losses(name):
    torch.manual_seed(0)
    engine = make_engine(name, classes=2)
    batch = batches(classes=2)
    before = [p.detach().clone() for p in engine.G.parameters()]
    steps = [engine.train_step(batch) for _ in range(engine.config.n_critic)]
    for losses in steps:
        assert {"d_loss", "g_loss"} <= set(losses)
        assert all(np.isfinite(v) for v in losses.values())
        # diagnostics that are not losses would set the loss plot's scale: they are metrics instead
        assert not {"d_real", "d_fake", "d_grad_norm", "g_grad_norm"} & set(losses)
    metrics, _ = engine.monitor(engine.config.n_critic)
    assert {"d_real", "d_fake", "d_grad_norm", "g_grad_norm", "diversity_vs_data"} <= set(metrics)
    assert metrics["d_grad_norm"] > 0 and metrics["g_grad_norm"] > 0
    assert engine.interval_means() == {}  # each monitor call reports the steps since the last one
    assert any(not torch.equal(a, b) for a, b in zip(before, engine.G.parameters())), "G never stepped"
    assert engine.family == name


def test_wgan_gp_penalty_is_positive_and_generator_waits_for_the_critic():
    torch.manual_seed(0)
    engine = make_engine("wgan-gp", n_critic=3)
    batch = batches()
    g_before = [p.detach().clone() for p in engine.G.parameters()]
    first = engine.train_step(batch)
    assert first["gradient_penalty"] > 0
    assert all(torch.equal(a, b) for a, b in zip(g_before, engine.G.parameters()))  # critic step only
    engine.train_step(batch)
    engine.train_step(batch)
    assert any(not torch.equal(a, b) for a, b in zip(g_before, engine.G.parameters()))


def test_r1_penalty_is_reported_when_on():
    torch.manual_seed(0)
    losses = make_engine("sngan", r1_gamma=1.0).train_step(batches())
    assert losses["r1_penalty"] > 0


def _spectral_layers(module):
    return [m for m in module.modules() if parametrize.is_parametrized(m)]


def test_spectral_norm_goes_where_the_recipe_says():
    sngan, dcgan, sagan = make_engine("sngan"), make_engine("dcgan"), make_engine("sagan")
    assert _spectral_layers(sngan.D) and not _spectral_layers(sngan.G)
    assert not _spectral_layers(dcgan.D) and not _spectral_layers(dcgan.G)
    assert _spectral_layers(sagan.D) and _spectral_layers(sagan.G)
    assert any(isinstance(m, SelfAttention) for m in sagan.G.modules())
    assert any(isinstance(m, SelfAttention) for m in sagan.D.modules())
    # a spectrally normalised layer's weight has largest singular value ~1 after some power iterations
    layer = _spectral_layers(sngan.D)[0]
    for _ in range(30):
        sngan.D(batches(n=2).float())
    sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
    assert sigma == pytest.approx(1.0, abs=0.05)


def test_ema_generator_is_a_checkpointed_module_used_for_sampling():
    torch.manual_seed(0)
    engine = make_engine("sngan")
    assert "generator_ema" in engine.modules()
    for _ in range(3):
        engine.train_step(batches())
    live = dict(engine.G.named_parameters())
    assert any(not torch.equal(p, live[k]) for k, p in engine.G_ema.named_parameters())
    z = engine.random_latents(4, seed=3)
    with torch.no_grad():
        expected = engine.G_ema.eval()(z)
    np.testing.assert_array_equal(engine.decode(z), ((expected.clamp(-1, 1) + 1) * 127.5).round()
                                  .to(torch.uint8).permute(0, 2, 3, 1).numpy())
    assert "generator_ema" not in make_engine("dcgan").modules()


def test_diffaugment_is_differentiable_and_seeded_by_the_global_rng():
    x = torch.linspace(-1, 1, 2 * 3 * 16 * 16).view(2, 3, 16, 16).requires_grad_(True)
    policy = ("color", "translation", "cutout")
    torch.manual_seed(5)
    a = diff_augment(x, policy)
    torch.manual_seed(5)
    b = diff_augment(x, policy)
    assert a.shape == x.shape and torch.equal(a, b)
    assert not torch.equal(a, x)
    a.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # cutout blanks a quarter of the image (half the side) wherever the square lands inside
    torch.manual_seed(0)
    cut = diff_augment(torch.ones(64, 1, 16, 16), ("cutout",))
    assert ((cut == 0).float().mean(dim=(1, 2, 3)) <= 0.25 + 1e-6).all() and (cut == 0).any()


@pytest.mark.parametrize("bad, message", [
    ({"loss": "wgan-gp", "d_batch_norm": True}, "d_batch_norm"),
    ({"diffaugment": "color,blur"}, "blur"),
    ({"attention_at": "big"}, "attention_at"),
])
def test_config_refuses_inconsistent_settings(bad, message):
    with pytest.raises(ConfigError, match=message):
        replace_checked(registry.get("sngan").config_class(), **bad)


def test_presets_per_name_and_resolution():
    sagan = registry.get("sagan")
    assert sagan.preset(sagan.config_class(), 32).attention_at == "16"
    assert sagan.preset(sagan.config_class(), 28).attention_at == "14"
    assert sagan.preset(sagan.config_class(), 16).attention_at == "8"
    dcgan = registry.get("dcgan").config_class()
    assert (dcgan.loss, dcgan.d_batch_norm, dcgan.lr_g, dcgan.beta1, dcgan.ema_decay, dcgan.diffaugment) == \
        ("bce", True, 2e-4, 0.5, 0.0, "")
    sngan = registry.get("sngan").config_class()
    # DiffAugment off by default: it lost at short CPU budgets on 3.6k digits (benchmarks/gan_recipes.py)
    assert (sngan.loss, sngan.spectral_norm_d, sngan.ema_decay > 0, sngan.diffaugment) == ("hinge", True, True, "")
    assert registry.get("sngan").preset(sngan, 128).g_width < sngan.g_width


def test_conditional_recipe_trains_unconditionally_without_labels():
    engine = make_engine("cgan", classes=0)
    assert not engine.conditional
    engine.train_step(batches())
    assert engine.sample(2, seed=0).shape == (2, 16, 16, 1)
    with pytest.raises(ValueError, match="label"):
        engine.set_sampling_options(label="class0")


@pytest.mark.parametrize("name", ["cgan", "cvae"])
def test_class_conditional_families_on_unlabelled_data_say_they_train_unconditionally(name):
    engine = make_engine(name, classes=0) if name == "cgan" else _cvae(classes=0)
    engine.train_step(batches())
    findings = engine.monitor(1)[1]
    assert [f.kind for f in findings] == ["unconditional"] and "subfolder" in findings[0].message
    assert name in findings[0].message and engine.monitor(2)[1] == []  # said once
    labelled = make_engine(name, classes=2) if name == "cgan" else _cvae(classes=2)
    labelled.train_step(batches(classes=2))
    assert "unconditional" not in [f.kind for f in labelled.monitor(1)[1]]
    assert "unconditional" not in [f.kind for f in make_engine("sngan").monitor(1)[1]]  # not a conditional recipe


def test_biggan_on_unlabelled_data_says_so_once_in_its_own_words():
    engine = make_engine("biggan", classes=0)
    engine.train_step(batches())
    findings = [f for f in engine.monitor(1)[1] if f.kind == "unconditional"]
    assert len(findings) == 1 and "batch norms" in findings[0].message   # one note, BigGAN's wording
    assert "unconditional" not in [f.kind for f in engine.monitor(2)[1]]  # said once


def _cvae(classes):
    family = registry.get("cvae")
    config = replace_checked(family.preset(family.config_class(), 16), latent_dim=4, width=4)
    return family.engine_class(config, DataSpec(16, 1, classes, tuple(f"class{i}" for i in range(classes))), "cpu")


def test_conditional_sampling_options_and_label_checks():
    engine = make_engine("cgan", classes=2)
    assert engine.conditional
    engine.set_sampling_options(label="class1")
    assert engine.decode_label == 1
    with pytest.raises(ValueError, match="label must be one of class0, class1"):
        engine.set_sampling_options(label="dog")
    with pytest.raises(ValueError, match="class indices"):
        engine.sample(2, seed=0, labels=np.array([0, 5]))
    np.testing.assert_array_equal(engine.sample(3, seed=1), engine.sample(3, seed=1))


def test_monitor_leaves_the_global_rng_alone():
    engine = make_engine("cgan", classes=2)
    engine.train_step(batches(classes=2))
    state = torch.get_rng_state()
    engine.monitor(1)
    engine.sample(4, seed=0)
    assert torch.equal(state, torch.get_rng_state())


def test_cli_trains_a_conditional_gan_on_subfolders_and_samples_a_label(tmp_path, capsys):
    from engines.cli import main
    from engines.data.toy import write_digit_folder

    folder = write_digit_folder(tmp_path / "digits", size=16, per_class=2)
    out = tmp_path / "run"
    small = [a for k, v in SMALL_CONFIG["cgan"].items() for a in ("--set", f"{k}={v}")]
    assert main(["train", "--family", "cgan", "--data", str(folder), "--out", str(out), "--size", "16",
                 "--steps", "4", "--batch-size", "4", "--set", "monitor_every=2", "--quiet", *small]) == 0
    metrics = [json.loads(line).get("metrics", {}) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("class_agreement" in m and "diversity_vs_data" in m for m in metrics)
    assert main(["sample", str(out), "--n", "2", "--label", "7", "--out", str(tmp_path / "s")]) == 0
    assert len(list((tmp_path / "s").glob("*.png"))) == 2
    assert main(["sample", str(out), "--n", "2", "--label", "cat", "--out", str(tmp_path / "t")]) == 2
    assert "known labels: 0, 1" in capsys.readouterr().err
