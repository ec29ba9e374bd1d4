"""Gated PixelCNN: causality by gradients (no leak, no blind spot), exact bits/dim on a known answer
(softmax and logistic-mixture outputs), class conditioning, the learning-rate decay, and sampling that
reports progress and can be cancelled."""

import numpy as np
import pytest
import torch

from engines.families import capabilities
from engines import registry
from engines.config import replace_checked
from engines.families.base import Batch, Cancelled, DataSpec
from engines.measures import discretized_logistic_nll
from engines.families.pixelcnn import GatedPixelCNN, autoregress, mixture_log_probs, mixture_nll


# (layers, dilation cycle, vertical residual): plain layers, and dilated ones (taps 1, 2, 4 pixels apart)
# whose 4 layers reach as far as plain ones would need 7 for
ARCHITECTURES = [(5, 1, False), (4, 3, True), (4, 2, False)]


@pytest.mark.parametrize("per_subpixel", [256, 6])  # softmax logits, or a 2-component mixture's parameters
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("layers, cycle, v_residual", ARCHITECTURES)
def test_logits_depend_on_every_earlier_subpixel_and_nothing_else(channels, per_subpixel, layers, cycle, v_residual):
    """d logits(i, j, c) / d input is zero at (i, j, c) and after (raster order, R -> G -> B), and
    non-zero everywhere before it: no leak of the future, and no blind spot in the past."""
    torch.manual_seed(0)
    size = 5 if cycle == 1 else 7
    net = GatedPixelCNN(channels, hidden=6, layers=layers, kernel=3, head=12, num_classes=0,
                        per_subpixel=per_subpixel, dilation_cycle=cycle, v_residual=v_residual).double()
    # several inputs: a path that a ReLU happens to close for one input is open for another
    x = torch.randn(4, channels, size, size, dtype=torch.float64, requires_grad=True)
    # order[c, i, j] = raster position of subpixel (i, j, c)
    order = (torch.arange(size * size)[:, None] * channels + torch.arange(channels)).T.reshape(channels, size, size)
    logits = net(x)
    for i in range(size):
        for j in range(size):
            for c in range(channels):
                (grad,) = torch.autograd.grad(logits[:, :, c, i, j].sum(), x, retain_graph=True)
                sees = (grad != 0).any(0)
                before = order < order[c, i, j]
                assert torch.equal(sees, before), f"subpixel {(i, j, c)} sees {sees.int().tolist()}"


@pytest.mark.parametrize("channels, classes, per_subpixel", [(1, 0, 256), (3, 4, 256), (3, 4, 9)])
@pytest.mark.parametrize("cycle, v_residual, position", [(1, False, False), (3, True, True)])
def test_incremental_sampler_computes_the_same_logits_as_the_full_network(channels, classes, per_subpixel, cycle,
                                                                        v_residual, position):
    """Teacher-force the row-by-row sampler with a known image: every subpixel's logits must equal
    the full forward pass on that image (so sampling draws from exactly the trained model)."""
    torch.manual_seed(0)
    size = 6
    net = GatedPixelCNN(channels, hidden=6, layers=3, kernel=5, head=9, num_classes=classes,
                        per_subpixel=per_subpixel, dilation_cycle=cycle, v_residual=v_residual,
                        position_size=size if position else 0).double().eval()
    labels = torch.arange(2) % classes if classes else None
    if classes:
        torch.nn.init.normal_(net.layers[1].class_bias.weight)
    if position:  # learnt position biases start at zero: make them matter
        for layer in net.layers:
            torch.nn.init.normal_(layer.row_bias)
            torch.nn.init.normal_(layer.col_bias)
    truth = torch.randint(0, 256, (2, channels, size, size), dtype=torch.uint8)
    expected = net(truth.double() / 127.5 - 1.0, labels)  # (2, 256, C, H, W)
    got = torch.zeros_like(expected)
    net.float()  # the sampler runs in float32 like the engine

    def teacher(logits, i, j, ch):
        got[:, :, ch, i, j] = logits.double()
        return truth[:, ch, i, j]

    pixels = autoregress(net, 2, size, labels, teacher)
    assert torch.equal(pixels, truth)
    assert torch.allclose(got, expected, atol=1e-4)


def make_engine(channels=1, classes=0, size=8, **overrides):
    family = registry.get("pixelcnn")
    config = replace_checked(family.config_class(), layers=2, hidden=6, kernel=3, head=8, **overrides)
    return family.engine_class(config, DataSpec(size, channels, classes, tuple(f"c{k}" for k in range(classes))))


def batch(channels=1, n=4, size=8, classes=0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (n, channels, size, size), generator=gen, dtype=torch.uint8)
    labels = torch.arange(n) % max(classes, 1)
    return Batch(pixels, labels)


@pytest.mark.parametrize("channels", [1, 3])
def test_uniform_logits_give_exactly_eight_bits_per_dim(channels):
    engine = make_engine(channels)
    with torch.no_grad():
        engine.net.head2.weight.zero_()
        engine.net.head2.bias.zero_()
    got = engine.validate([batch(channels, n=3), batch(channels, n=2, seed=1)])
    assert got["bits_per_dim"] == pytest.approx(8.0, abs=1e-6)


def test_one_component_mixture_is_the_discretised_logistic_and_every_mixture_sums_to_one():
    gen = torch.Generator().manual_seed(0)
    target = torch.randint(0, 256, (5, 1, 3, 3), generator=gen, dtype=torch.uint8)
    target[0, 0, 0] = torch.tensor([0, 255, 128], dtype=torch.uint8)  # both edge bins and the middle
    params = torch.randn(5, 3, 1, 3, 3, generator=gen, dtype=torch.float64)
    expected = discretized_logistic_nll(target, params[:, 1], params[:, 2])
    assert torch.allclose(mixture_nll(params, target), expected, atol=1e-12)

    many = torch.randn(7, 12, generator=gen, dtype=torch.float64) * 3   # 4 components, some very narrow
    table = mixture_log_probs(many)
    assert torch.allclose(table.exp().sum(1), torch.ones(7, dtype=torch.float64), atol=1e-9)
    values = torch.randint(0, 256, (7,), generator=gen)
    assert torch.allclose(table.gather(1, values[:, None])[:, 0], -mixture_nll(many, values), atol=1e-12)


@pytest.mark.parametrize("output", ["softmax", "logistic_mixture"])
def test_training_lowers_bits_per_dim_below_uniform(output):
    torch.manual_seed(0)
    engine = make_engine(lr=3e-2, output=output, mixtures=2)
    b = batch()
    b.pixels[:] = b.pixels // 128 * 255  # black or white: 1 bit/dim is reachable from the marginal alone
    first = engine.train_step(b)["bits_per_dim"]
    for _ in range(30):
        last = engine.train_step(b)["bits_per_dim"]
    # a fresh softmax is near-uniform (8 bits/dim); a fresh mixture already puts mass on the edge bins
    assert first > (7.5 if output == "softmax" else 1.5)
    assert last < min(3.0, first - 0.5)


def test_learning_rate_halves_every_half_life_and_rollbacks_scale_it():
    engine = make_engine(lr=1e-2, lr_half_life=4)
    for _ in range(4):
        engine.train_step(batch())
    assert engine.opt.param_groups[0]["lr"] == pytest.approx(5e-3)
    engine.set_learning_rate_scale(0.5)
    for _ in range(4):
        engine.train_step(batch())
    assert engine.opt.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.5 * 0.25)


def test_conditional_only_with_labels_and_labels_change_the_prediction():
    assert not make_engine(classes=0).conditional
    engine = make_engine(classes=3)
    assert engine.conditional and not capabilities.has(engine, "latent")
    with torch.no_grad():
        engine.net.layers[0].class_bias.weight.normal_()
        x = torch.zeros(2, 1, 8, 8)
        logits = engine.net(x, torch.tensor([0, 2]))
    assert not torch.allclose(logits[0], logits[1])
    a = engine.sample(2, seed=1, labels=np.array([0, 2]))
    np.testing.assert_array_equal(a, engine.sample(2, seed=1, labels=np.array([0, 2])))
    with pytest.raises(ValueError, match="0..2"):
        engine.sample(1, seed=0, labels=np.array([3]))
    with pytest.raises(ValueError, match="labels"):
        engine.sample(2, seed=0, labels=np.array([1]))


@pytest.mark.parametrize("channels", [1, 3])
def test_sampling_reports_rows_and_stops_when_cancelled(channels):
    engine = make_engine(channels, size=6)
    seen = []
    images = engine.sample(2, seed=4, progress=lambda done, total: seen.append((done, total)))
    assert images.shape == (2, 6, 6, channels) and images.dtype == np.uint8
    assert seen == [(k, 6) for k in range(1, 7)]
    np.testing.assert_array_equal(images, engine.sample(2, seed=4))
    assert not np.array_equal(images, engine.sample(2, seed=5))

    calls = []

    def stop_after_two(done, total):
        calls.append(done)
        if done == 2:
            raise Cancelled()

    with pytest.raises(Cancelled):
        engine.sample(2, seed=4, progress=stop_after_two)
    assert calls == [1, 2]
    assert engine.net.training  # the network's mode is restored after a cancelled sample


def test_temperature_option_is_validated():
    engine = make_engine()
    engine.set_sampling_options(temperature="0.5")
    assert engine.temperature == 0.5
    for bad in ("warm", "0", "5"):
        with pytest.raises(ValueError, match="temperature"):
            engine.set_sampling_options(temperature=bad)
    with pytest.raises(ValueError, match="no sampling option"):
        engine.set_sampling_options(eta="1")
