import numpy as np
import pytest
import torch

from engines.families.base import DataSpec, Engine, to_uint8
from engines.families.capabilities import LatentCodec
from engines.families.gan import DCGANConfig
from engines.latent import (LatentError, corner_grid, endpoint_latent, latent_support, lerp, path, to_latents,
                            project, random_walk, slerp)
from engines.train.loop import Trainer, TrainSettings


def test_slerp_end_points_are_exact_and_norm_stays_on_the_sphere():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(64, generator=gen), torch.randn(64, generator=gen)
    a, b = a / a.norm(), b / b.norm()
    torch.testing.assert_close(slerp(a, b, 0.0), a)
    torch.testing.assert_close(slerp(a, b, 1.0), b)
    for t in np.linspace(0, 1, 11):
        assert slerp(a, b, float(t)).norm().item() == pytest.approx(1.0, abs=1e-6)
    # the straight line dips inside the sphere, which is what slerp avoids
    assert lerp(a, b, 0.5).norm() < 0.9


def test_slerp_of_parallel_or_zero_vectors_falls_back_to_lerp():
    a = torch.ones(3, 2, 2)
    torch.testing.assert_close(slerp(a, 2 * a, 0.5), 1.5 * a)
    torch.testing.assert_close(slerp(torch.zeros(4), torch.ones(4), 0.25), torch.full((4,), 0.25))


def test_path_and_grid_shapes_and_corners():
    a, b, c, d = (torch.randn(1, 5) for _ in range(4))
    p = path(a, b, 7, "lerp")
    assert p.shape == (7, 1, 5)
    torch.testing.assert_close(p[0], a)
    torch.testing.assert_close(p[-1], b)
    g = corner_grid([a, b, c, d], 3, 4, "slerp")
    assert g.shape == (12, 1, 5)
    for idx, corner in [(0, a), (3, b), (8, c), (11, d)]:
        torch.testing.assert_close(g[idx], corner, rtol=1e-5, atol=1e-5)
    with pytest.raises(LatentError):
        path(a, b, 1)


def test_random_walk_stays_gaussian():
    walk = random_walk(torch.randn(2000), 50, 0.3, seed=1)
    assert walk.shape == (50, 2000)
    assert walk[-1].std().item() == pytest.approx(1.0, abs=0.1)


@pytest.fixture(scope="module")
def gan(tmp_path_factory):
    from tests.helpers import tiny_dataset

    torch.set_num_threads(1)
    settings = TrainSettings(steps=30, batch_size=16, sample_every=0, checkpoint_every=0, log_every=10)
    trainer = Trainer.new("dcgan", DCGANConfig(latent_dim=8, g_width=8, d_width=8), settings,
                          tiny_dataset(n=64), tmp_path_factory.mktemp("gan") / "run")
    list(trainer.run())
    return trainer.engine


class LinearGenerator(Engine, LatentCodec):
    """A generator with a known answer: images = tanh(W z), W fixed and well conditioned."""
    family = "linear-test"
    encoding = "projection (optimising the latent)"

    def __init__(self):
        super().__init__(None, DataSpec(4, 1))
        self.net = torch.nn.Linear(6, 16, bias=False)
        torch.nn.init.orthogonal_(self.net.weight, gain=1.5)

    def modules(self):
        return {"net": self.net}

    def random_latents(self, n, seed):
        return torch.randn(n, 6, generator=torch.Generator().manual_seed(seed))

    def render(self, z):
        return torch.tanh(self.net(z)).view(-1, 1, 4, 4)

    def decode(self, z):
        return to_uint8(self.render(z))


def test_projection_recovers_the_latent_of_a_generated_image():
    engine = LinearGenerator()
    assert "projection" in latent_support(engine)
    z_true = engine.random_latents(2, seed=123) * 0.5
    target = engine.decode(z_true)
    proj = project(engine, target, steps=300, lr=0.05, restarts=3, seed=7)
    assert proj.latents.shape == z_true.shape
    assert np.abs(proj.reconstruction.astype(int) - target).max() <= 3
    torch.testing.assert_close(proj.latents, z_true, atol=0.05, rtol=0.05)
    assert all(p.requires_grad for p in engine.net.parameters())  # weights frozen only while projecting


def test_projection_works_on_a_trained_gan(gan):
    target = gan.decode(gan.random_latents(1, seed=123))
    proj = project(gan, target, steps=60, restarts=2, seed=7)
    assert proj.reconstruction.shape == target.shape and np.isfinite(proj.error)


def test_endpoint_from_a_seed_or_an_image(gan, tmp_path):
    from PIL import Image

    z, desc = endpoint_latent(gan, "42")
    torch.testing.assert_close(z, gan.random_latents(1, 42)[0])
    assert desc == "seed 42"
    Image.fromarray(gan.decode(gan.random_latents(1, 3))[0, :, :, 0]).resize((40, 40)).save(tmp_path / "x.png")
    z_img, desc = endpoint_latent(gan, str(tmp_path / "x.png"))
    assert z_img.shape == z.shape and desc == "x.png"
    with pytest.raises(LatentError, match="does not exist"):
        endpoint_latent(gan, str(tmp_path / "missing.png"))
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(LatentError, match="not an image"):
        endpoint_latent(gan, str(tmp_path / "bad.png"))


@pytest.mark.parametrize("name", ["ae", "vae", "realnvp"])
def test_an_interpolation_from_a_real_image_starts_at_its_reconstruction(name):
    from engines import registry
    from engines.families.base import DataSpec
    from tests.helpers import tiny_dataset
    from tests.engines.family_cases import SMALL_CONFIG

    from engines.config import replace_checked

    torch.manual_seed(0)
    fam = registry.get(name)
    engine = fam.engine_class(replace_checked(fam.config_class(), **SMALL_CONFIG[name]), DataSpec(16, 1), "cpu")
    image = tiny_dataset(n=1, size=16).images
    z = to_latents(engine, image)
    frames = engine.decode(path(z[0], engine.random_latents(1, 3)[0], 5))
    reconstruction = engine.decode(z)
    np.testing.assert_array_equal(frames[0], reconstruction[0])
    if name == "realnvp":  # an exact inverse: the first frame is the image itself
        np.testing.assert_array_equal(frames[0], image[0])


def test_ddpm_says_real_images_reach_its_latent_space_by_ddim_inversion():
    from engines import registry

    family = registry.get("ddpm")
    engine = family.engine_class(family.config_class(), DataSpec(size=8, channels=1, num_classes=0))
    assert latent_support(engine).startswith("DDIM inversion") and "encoder" not in latent_support(engine)
