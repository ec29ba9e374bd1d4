"""One small fake per role, for testing the tool pipelines (engines/tools/) without training anything.
Each is exact where that helps a test: the prior's data is one constant image, so its ideal denoiser
is known in closed form; the autoregressive model's tokens are independent."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from engines.families.base import DataSpec, Engine, to_uint8
from engines.families.capabilities import Autoregressive, Energy, LatentRenderer, Prior, Reconstructor


class Fake(Engine):
    family = "fake"

    def __init__(self, size: int = 8, classes: int = 0):
        super().__init__(None, DataSpec(size, 1, classes), "cpu")
        self.conditional = classes > 0
        self.options = SimpleNamespace(steps=10)
        self.module = torch.nn.Linear(1, 1)

    def modules(self):
        return {"m": self.module}

    def sampling_options(self):
        return self.options


def _float(images) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1


class Steps:
    """DDIM (eta 0) over integer times, noisiest first; previous of the last is -1 (the data)."""
    label = "DDIM"

    def __init__(self, prior, times):
        self.prior, self.timesteps = prior, list(times)

    def previous(self, t):
        i = self.timesteps.index(t)
        return self.timesteps[i + 1] if i + 1 < len(self.timesteps) else -1

    def step(self, eps, t, x, generator=None):
        (a, s), (a_p, s_p) = self.prior.noise_level(t), self.prior.noise_level(self.previous(t))
        return a_p * (x - s * eps) / a + s_p * eps


class FakePrior(Fake, Prior):
    """Data: the constant image `value`; the denoiser is the ideal one, eps = (x_t - a value) / s."""
    prediction = "eps"

    def __init__(self, value: float = 0.2, **kw):
        super().__init__(**kw)
        self.value = value

    def prior_shape(self):
        return (1, self.data.size, self.data.size)

    def to_space(self, images):
        return _float(images)

    def from_space(self, x, labels=None, progress=None):
        return to_uint8(x)

    def prior_times(self):
        return range(100)

    def noise_level(self, t):
        ab = 1.0 if t < 0 else 1 - 0.999 * (t + 1) / 100
        return ab ** 0.5, (1 - ab) ** 0.5

    def denoiser(self, labels=None, guidance=None):
        def run(x, t):
            a, s = self.noise_level(t)
            return (x - a * self.value) / s
        return run

    def prediction_target(self, x0, noise, t):
        return noise

    def prior_sampler(self, steps=None, start=None, deterministic=False):
        top = 99 if start is None else int(start)
        steps = max(1, min(int(steps or self.options.steps), top + 1))
        return Steps(self, sorted({int(round(v)) for v in np.linspace(0, top, steps)}, reverse=True))


class FakeLatentPrior(FakePrior):
    """The same prior said to work in a latent space (as latent diffusion does)."""
    prior_space = "latent"


class FakeAutoregressive(Fake, Autoregressive):
    """Four grey levels per pixel, independent: class 0 (or no class) prefers dark, class 1 bright."""
    temperature = 1.0
    levels = torch.tensor([0, 85, 170, 255])

    def to_sequence(self, images):
        return torch.from_numpy(np.round(np.asarray(images, np.float64) / 85)).long().reshape(len(images), -1)

    def to_images(self, seq):
        return self.levels[seq].to(torch.uint8).reshape(len(seq), self.data.size, self.data.size, 1).numpy()

    def _probs(self, n, labels):
        dark = torch.tensor([0.7, 0.1, 0.1, 0.1])
        rows = [dark.flip(0) if labels is not None and int(labels[i]) == 1 else dark for i in range(n)]
        return torch.stack(rows)[:, None].expand(n, self.data.size ** 2, 4)

    def sequence_log_probs(self, seq, labels=None, positions=None):
        lp = self._probs(len(seq), labels).log()
        return lp if positions is None else lp[:, list(positions)]

    def sample_sequence(self, n, generator, labels=None, known=None, fixed=None, progress=None):
        p = self._probs(n, labels)
        seq = torch.multinomial(p.reshape(-1, 4), 1, generator=generator).reshape(n, -1)
        if fixed is not None:
            seq = torch.where(fixed, known, seq)
        for row in range(self.data.size):
            if progress is not None:
                progress(row + 1, self.data.size)
        return seq


class FakeRenderer(Fake, LatentRenderer):
    """A fixed linear decoder u (4,) -> tanh image."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.weight = torch.randn(4, self.data.size ** 2, generator=torch.Generator().manual_seed(0))

    def latent_shape(self):
        return (4,)

    def render_u(self, u, labels=None):
        return torch.tanh(u @ self.weight).reshape(len(u), 1, self.data.size, self.data.size)


class FakeAutoencoder(FakeRenderer, Reconstructor):
    """The renderer with a reconstruction that returns the image itself."""
    reconstruction = "identity"

    def reconstruct(self, images, labels=None, progress=None):
        return np.array(images, copy=True)


class FakeEnergy(Fake, Energy):
    """E(x) = |x - value|^2 / 2: Langevin descent pulls every pixel towards `value`."""

    def __init__(self, value: float = 0.2, **kw):
        super().__init__(**kw)
        self.value = value

    def energy(self, x, labels=None):
        return 0.5 * (x - self.value).pow(2).flatten(1).sum(1)

    def langevin(self, x, steps=None, noise=None, known=None, values=None, generator=None, progress=None):
        steps = int(steps or self.options.steps)
        for i in range(steps):
            x = x - 0.5 * (x - self.value)
            if known is not None:
                x = known * values + (1 - known) * x
            if progress is not None:
                progress(i + 1, steps)
        return x
