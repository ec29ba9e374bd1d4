"""Soft class conditioning (class weights instead of class indices) and class paths in the latent
explorer, for every conditional family: cVAE, conditional GAN, conditional DDPM."""

import numpy as np
import pytest
import torch

from engines import registry
from engines.config import replace_checked
from engines.families.base import class_weights
from engines.latent import (LatentError, can_mix_classes, class_at, class_grid, class_path, corner_grid,
                            decode_batches, path, to_latents)
from engines.train.loop import Trainer, TrainSettings
from tests.helpers import tiny_dataset
from tests.engines.family_cases import SMALL_CONFIG

CONDITIONAL = ["cvae", "cgan", "ddpm"]


@pytest.fixture(scope="module")
def trained():
    """One tiny conditional model per family, trained a few steps on two classes of blobs."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    settings = TrainSettings(steps=8, batch_size=8, log_every=8, sample_every=0, checkpoint_every=0)
    out = {}
    for name in CONDITIONAL:
        fam = registry.get(name)
        config = fam.config_class()
        if fam.preset is not None:
            config = fam.preset(config, 16)
        config = replace_checked(config, **SMALL_CONFIG[name])
        trainer = Trainer.new(name, config, settings, tiny_dataset(n=32, classes=2), None)
        list(trainer.run())
        out[name] = trainer.engine
    return out


def test_class_weights_are_checked():
    assert class_weights(None, 2, 3) is None
    assert class_weights(np.array([0, 2]), 2, 3) is None  # class indices: hard labels
    w = class_weights(np.array([[0.25, 0.75, 0.0], [1.0, 0.0, 0.0]]), 2, 3)
    assert w.dtype == torch.float32 and w.shape == (2, 3)
    with pytest.raises(ValueError, match="shape"):
        class_weights(np.ones((2, 2)) / 2, 2, 3)
    with pytest.raises(ValueError, match="sum to 1"):
        class_weights(np.array([[0.5, 0.6, 0.0]]), 1, 3)
    with pytest.raises(ValueError, match="non-negative"):
        class_weights(np.array([[1.5, -0.5, 0.0]]), 1, 3)


def test_class_paths_are_probability_vectors_along_the_same_t():
    p = class_path(0, 2, 3, 5)
    assert p.shape == (5, 3)
    torch.testing.assert_close(p.sum(1), torch.ones(5))
    torch.testing.assert_close(p[0], torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(p[-1], torch.tensor([0.0, 0.0, 1.0]))
    torch.testing.assert_close(p[2], torch.tensor([0.5, 0.0, 0.5]))  # t = 0.5, like path()'s middle frame
    torch.testing.assert_close(class_at(0, 2, 3, 0.25), torch.tensor([[0.75, 0.0, 0.25]]))
    g = class_grid([0, 1, 2, 0], 3, 3, 3)
    assert g.shape == (9, 3)
    torch.testing.assert_close(g.sum(1), torch.ones(9))
    for idx, corner in [(0, 0), (2, 1), (6, 2), (8, 0)]:
        assert g[idx, corner] == 1.0
    torch.testing.assert_close(g[4], torch.tensor([0.5, 0.25, 0.25]))  # the centre mixes all four corners
    with pytest.raises(LatentError, match="not one of"):
        class_path(0, 3, 3, 4)


@pytest.mark.parametrize("name", CONDITIONAL)
def test_one_hot_weights_give_exactly_the_hard_label_images(trained, name):
    engine = trained[name]
    assert can_mix_classes(engine)
    z = engine.random_latents(4, seed=3)
    labels = np.array([0, 1, 1, 0])
    weights = np.eye(2, dtype=np.float32)[labels]
    np.testing.assert_array_equal(engine.decode(z, labels=weights), engine.decode(z, labels=labels))
    with pytest.raises(ValueError):
        engine.decode(z, labels=np.full((4, 2), 0.7, np.float32))


@pytest.mark.parametrize("name", CONDITIONAL)
def test_a_class_morph_starts_at_class_a_and_ends_at_class_b(trained, name):
    engine = trained[name]
    za, zb = engine.random_latents(2, seed=11)
    latents = path(za, zb, 5, "lerp")
    frames = decode_batches(engine, latents, class_path(0, 1, 2, 5))
    assert frames.shape == (5, 16, 16, 1)
    np.testing.assert_array_equal(frames[0], engine.decode(za[None], labels=np.array([0]))[0])
    np.testing.assert_array_equal(frames[-1], engine.decode(zb[None], labels=np.array([1]))[0])
    if name == "ddpm":  # 8 steps leave its images saturated and barely class-dependent: nothing to see
        return
    # the class is part of the morph: the middle frame is not either class's rendering of that latent
    mid = latents[2:3]
    assert not np.array_equal(frames[2], engine.decode(mid, labels=np.array([0]))[0]) or \
        not np.array_equal(frames[2], engine.decode(mid, labels=np.array([1]))[0])


def test_grid_of_classes_matches_its_corners(trained):
    engine = trained["cvae"]
    corners = list(engine.random_latents(4, seed=2))
    frames = decode_batches(engine, corner_grid(corners, 3, 3, "lerp"), class_grid([0, 1, 1, 0], 3, 3, 2))
    for idx, (z, label) in zip((0, 2, 6, 8), zip(corners, (0, 1, 1, 0))):
        np.testing.assert_array_equal(frames[idx], engine.decode(z[None], labels=np.array([label]))[0])


def test_gan_renders_a_class_mix_differentiably(trained):
    engine = trained["cgan"]
    z = engine.random_latents(2, seed=0).requires_grad_(True)
    out = engine.render(z, labels=torch.tensor([[0.3, 0.7], [1.0, 0.0]]))
    out.sum().backward()
    assert out.shape == (2, 1, 16, 16) and z.grad is not None


def test_real_images_are_placed_with_their_class(trained):
    engine = trained["cvae"]
    image = tiny_dataset(n=1, size=16, classes=2).images
    with_class = to_latents(engine, image, labels=np.array([1]))
    torch.testing.assert_close(with_class, engine.encode(image, labels=np.array([1])))
    averaged = to_latents(engine, image)
    assert not torch.equal(with_class, averaged)


def test_diffusion_guidance_works_against_the_no_label_row_for_mixes_too(trained):
    engine = trained["ddpm"]
    assert engine.options.guidance != 1.0  # sample() guides: conditional and 'no label' passes mixed
    labels = np.array([1, 0, 1])
    one_hot = np.eye(2, dtype=np.float32)[labels]
    np.testing.assert_array_equal(engine.sample(3, seed=4, labels=one_hot), engine.sample(3, seed=4, labels=labels))
    mixed = engine.sample(3, seed=4, labels=np.full((3, 2), 0.5, np.float32))
    assert mixed.shape == (3, 16, 16, 1)
