"""Capabilities are declared by the family and asked one way (engines.families.capabilities)."""

import numpy as np
import pytest
import torch

from engines import registry
from engines.families import capabilities
from engines.families.base import Batch, DataSpec


@pytest.mark.parametrize("name", registry.names())
def test_every_family_declares_what_it_offers(name):
    cls = registry.get(name).engine_class
    offered = capabilities.of(cls)
    assert "sample" in offered or "translate" in offered, f"{name} neither samples nor translates"
    for cap in capabilities.INTERFACES:
        assert capabilities.has(cls, cap) == (cap in offered)
        assert (capabilities.why_not(cls, cap) == "") == (cap in offered)
    if capabilities.has(cls, "latent"):
        assert cls.encoding  # said in the Latent panel and in errors


def test_why_not_names_the_family_and_an_alternative():
    cls = registry.get("pixelcnn").engine_class
    assert capabilities.why_not(cls, "latent") == "pixelcnn has no latent space"
    with pytest.raises(ValueError, match="unknown capability"):
        capabilities.has(cls, "fly")


@pytest.mark.parametrize("name", [n for n in registry.names()
                                  if capabilities.has(registry.get(n).engine_class, "likelihood")])
def test_per_image_bits_per_dim_average_to_the_validation_figure(name):
    family = registry.get(name)
    engine = family.engine_class(family.config_class(), DataSpec(8, 1, 0), "cpu")
    images = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 1), dtype=np.uint8)
    per_image = engine.bits_per_dim(images)
    assert per_image.shape == (6,) and np.isfinite(per_image).all()
    np.testing.assert_array_equal(per_image, engine.bits_per_dim(images))  # repeatable
    batch = Batch(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.zeros(6, dtype=torch.long))
    assert per_image.mean() == pytest.approx(engine.validate([batch])["bits_per_dim"], rel=1e-4)


def test_why_not_names_a_recipe_by_its_own_name_not_its_engine_class():
    """The Translate panel said "gan has no translation" for an SN-GAN run."""
    family = registry.get("sngan")
    engine = family.engine_class(family.config_class(), DataSpec(16, 1, 0), "cpu")
    assert capabilities.why_not(engine, "translate").startswith("sngan has no ")


def test_why_not_reads_as_a_sentence():
    """`genstudio translate` on a VAE run said "vae has no a translation between image sets"."""
    cls = registry.get("vae").engine_class
    assert capabilities.why_not(cls, "translate") == "vae has no translation between image sets"
    for cap in capabilities.INTERFACES:
        assert not capabilities.why_not(cls, cap).startswith(("vae has no a ", "vae has no an "))
