"""Weight averages: the warm-up formula, and that PixelCNN and the flows validate, sample and (flows)
encode with the average while training the live weights, and count the model once."""

import numpy as np
import pytest
import torch
from torch import nn

from engines.families import capabilities
from engines import registry
from engines.config import replace_checked
from engines.families.base import Batch, DataSpec
from engines.nn.ema import EMA


def test_average_starts_fast_then_moves_at_the_set_decay():
    live = nn.Linear(3, 2)
    start = [p.detach().clone() for p in live.parameters()]
    ema = EMA(live, decay=0.9, warmup=True)
    assert all(not p.requires_grad for p in ema.network.parameters())
    for n in (1, 2, 100):
        ema.updates.fill_(n - 1)  # as if n - 1 updates had been made
        before = [p.detach().clone() for p in ema.network.parameters()]
        with torch.no_grad():
            for p in live.parameters():
                p.add_(1.0)
        ema.update(live)
        decay = min(0.9, (1 + n) / (10 + n))  # 2/11, 3/12, then the set 0.9 (101/110 is more)
        for avg, old, p in zip(ema.network.parameters(), before, live.parameters()):
            assert torch.allclose(avg, decay * old + (1 - decay) * p)
    assert int(ema.updates) == 100
    assert not torch.equal(next(ema.network.parameters()), start[0])


SMALL = {
    "pixelcnn": {"layers": 2, "hidden": 6, "kernel": 3, "head": 8},
    "realnvp": {"levels": 2, "couplings": 1, "hidden": 8, "blocks": 0},
    "glow": {"levels": 2, "steps": 2, "hidden": 8},
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_validation_and_samples_come_from_the_average(name):
    family = registry.get(name)
    torch.manual_seed(0)
    spec = DataSpec(8, 1, 0, ())
    engine = family.engine_class(replace_checked(family.config_class(), ema_decay=0.9, lr=1e-2, **SMALL[name]), spec)
    gen = torch.Generator().manual_seed(0)
    batches = [Batch(torch.randint(0, 256, (4, 1, 8, 8), generator=gen, dtype=torch.uint8), torch.zeros(4, dtype=torch.long))
               for _ in range(4)]
    for b in batches[:3]:
        engine.train_step(b)
    assert "ema" in engine.modules()
    live_count = sum(p.numel() for m in engine.modules().values() for p in m.parameters()) // 2
    assert engine.parameter_count() == live_count  # the copy is not counted as more model

    images = batches[3].pixels.permute(0, 2, 3, 1).numpy()

    def answers():
        latents = engine.encode(images) if capabilities.has(engine, "latent") else None
        return engine.validate(batches[3:])["bits_per_dim"], engine.sample(3, seed=5), latents

    bpd_average, sample_average, latents_average = answers()
    average, engine.ema = engine.ema, None  # now the live weights answer
    bpd_live, sample_live, latents_live = answers()
    assert bpd_average != pytest.approx(bpd_live, abs=1e-6)
    if capabilities.has(engine, "latent"):  # (PixelCNN's near-uniform predictions after 3 steps draw the same pixels)
        assert not np.array_equal(sample_average, sample_live)
    engine.ema = average
    assert engine.validate(batches[3:])["bits_per_dim"] == pytest.approx(bpd_average)
    if capabilities.has(engine, "latent"):  # the latent space is the average's too, and its exact inverse round-trips
        assert not torch.allclose(latents_average, latents_live)
        assert np.array_equal(engine.decode(latents_average), images)
