"""VQ-VAE: dead codes are restarted on encoder outputs, usage and perplexity are reported, tokens round-trip."""

import numpy as np
import torch

from engines.families.base import Batch, DataSpec
from engines.families.vqvae import EMACodebook, VQVAEConfig, VQVAEEngine, usage_stats
from tests.helpers import tiny_dataset


def batch(n=8, size=16):
    data = tiny_dataset(n=n, size=size)
    return Batch(torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous(), torch.zeros(n, dtype=torch.long))


def test_a_code_nobody_uses_is_restarted_on_an_encoder_output():
    torch.manual_seed(0)
    book = EMACodebook(4, 2, decay=0.5)
    book.embed.copy_(torch.tensor([[0.0, 0.0], [1.0, 1.0], [100.0, 100.0], [-100.0, 100.0]]))
    book.embed_sum.copy_(book.embed)
    book.cluster_size.fill_(1.0)  # all four were in use
    flat = torch.randn(32, 2) * 0.1 + torch.tensor([0.5, 0.5])
    restarted = 0
    for _ in range(6):  # codes 2 and 3 are never nearest: their use decays 1 -> 0.5 -> ... < 0.05
        restarted += book.update(flat, book.nearest(flat), dead_threshold=0.05)
    assert restarted == 2 and int(book.restarts) == 2
    # the restarted codes now sit on encoder outputs (then move with their EMA), not far away
    assert book.embed[2:].abs().max() < 2 and book.cluster_size.min() > 0


def test_training_reports_usage_and_perplexity_and_restarts_dead_codes():
    torch.manual_seed(0)
    engine = VQVAEEngine(VQVAEConfig(width=8, code_dim=4, codebook_size=32, ema_decay=0.6, dead_threshold=0.5),
                         DataSpec(16, 1))
    losses = [engine.train_step(batch()) for _ in range(8)]
    assert all(0 < l["codes_used"] <= 1 and 1 <= l["perplexity"] <= 32 for l in losses)
    assert sum(l["restarts"] for l in losses) > 0
    values, _ = engine.monitor(8)
    assert {"codebook_usage", "codebook_perplexity", "code_restarts"} <= set(values)
    assert values["code_restarts"] == sum(l["restarts"] for l in losses)


def test_usage_stats():
    assert np.allclose(usage_stats(torch.tensor([1.0, 1.0, 0.0, 0.0])), (0.5, 2.0))
    assert np.allclose(usage_stats(torch.tensor([3.0, 1.0])), (1.0, np.exp(-(0.75 * np.log(0.75) + 0.25 * np.log(0.25)))))


def test_tokens_and_latents_round_trip_through_the_codebook():
    torch.manual_seed(0)
    engine = VQVAEEngine(VQVAEConfig(width=8, code_dim=4, codebook_size=16), DataSpec(16, 1))
    images = tiny_dataset(n=3, size=16).images
    tokens = engine.tokens(images)
    assert tokens.shape == (3, 4, 4) and tokens.dtype == torch.int64
    np.testing.assert_array_equal(engine.decode_tokens(tokens), engine.decode(engine.encode(images)))
    np.testing.assert_array_equal(engine.sample(2, seed=1), engine.sample(2, seed=1))
