"""The one gradient seam (Engine.optimizer_step): every family steps through it, and averaging
there across processes equals training on the combined batch."""

import math
import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from engines import registry
from engines.config import replace_checked
from engines.families.base import Batch, DataSpec, Engine, NonFiniteError, RunContext
from engines.runtime.distributed import average_gradients

SPEC = DataSpec(8, 1, 0)


def _tiny_engine():
    engine = Engine(None, SPEC)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    return engine, net


def _grads(net, x):
    net.zero_grad()
    net(x).pow(2).mean().backward()
    return [p.grad.clone() for p in net.parameters()]


@pytest.mark.filterwarnings("ignore:Seems like `optimizer.step\\(\\)` has been overridden")
@pytest.mark.parametrize("name", registry.names())
def test_every_family_steps_every_optimiser_through_the_seam(name):
    """Each optimiser step of a training step is preceded by the reducer: nothing bypasses it."""
    family = registry.get(name)
    config = family.config_class()
    if hasattr(config, "first_stage_steps"):  # two-stage families: one step of each phase
        config = replace_checked(config, first_stage_steps=1)
    image_sets = [i.name for i in family.engine_class.inputs[1:] if i.kind == "images"]
    inputs = {i.name: DataSpec(16, 1, 0) if i.kind == "images" else
              np.random.default_rng(0).integers(0, 256, (16, 16, 3), np.uint8) if i.kind == "image" else None
              for i in family.engine_class.inputs[1:]}
    engine = family.engine_class(config, DataSpec(16, 1, 0), "cpu", inputs=inputs)
    calls = []
    engine.begin_training(RunContext(gradient_reducer=lambda grads: calls.append("reduce")))
    for opt_name, opt in engine.optimizers().items():
        real = opt.step
        opt.step = lambda *a, _real=real, _name=opt_name, **k: (calls.append(_name), _real(*a, **k))[1]
    pixels = torch.randint(0, 256, (4, 1, 16, 16), dtype=torch.uint8)
    for step in range(getattr(config, "n_critic", 1) + 1):
        labels = torch.zeros(4, dtype=torch.long)
        engine.train_step(Batch(pixels, labels, {n: Batch(pixels, labels) for n in image_sets}), step, 10)
    stepped = [c for c in calls if c != "reduce"]
    assert set(stepped) == set(engine.optimizers())
    assert calls == [x for s in stepped for x in ("reduce", s)]


def test_a_fake_two_process_reducer_averages_like_the_combined_batch():
    torch.manual_seed(0)
    engine, net = _tiny_engine()
    x = torch.randn(8, 4)
    combined = _grads(net, x)
    halves = [_grads(net, x[:4]), _grads(net, x[4:])]

    def fake_all_reduce(grads):  # what two processes' all_reduce-then-divide leaves on each
        for i, p in enumerate(grads):
            p.grad.copy_((halves[0][i] + halves[1][i]) / 2)

    engine.begin_training(RunContext(gradient_reducer=fake_all_reduce))
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    engine.optimizer_step(opt, net)
    for p, want in zip(net.parameters(), combined):
        torch.testing.assert_close(p.grad, want)


def test_non_finite_gradients_raise_before_the_step_and_leave_weights_alone():
    engine, net = _tiny_engine()
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    before = [p.detach().clone() for p in net.parameters()]
    net(torch.randn(2, 4)).sum().backward()
    next(net.parameters()).grad[0, 0] = math.nan
    with pytest.raises(NonFiniteError):
        engine.optimizer_step(opt, net)
    for p, b in zip(net.parameters(), before):
        assert torch.equal(p.detach(), b)


def test_the_family_default_clip_applies_unless_the_run_sets_one():
    engine, net = _tiny_engine()
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    net(torch.randn(16, 4) * 100).pow(2).sum().backward()
    norm = engine.optimizer_step(opt, net, clip=0.5)
    after = float(torch.nn.utils.get_total_norm([p.grad for p in net.parameters()]))
    assert norm > 0.5 and after == pytest.approx(0.5, rel=1e-4)
    engine.begin_training(RunContext(grad_clip=0.25))  # the run's setting wins
    engine.optimizer_step(opt, net, clip=0.5)
    after = float(torch.nn.utils.get_total_norm([p.grad for p in net.parameters()]))
    assert after == pytest.approx(0.25, rel=1e-4)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, port, x, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        torch.set_num_threads(1)
        torch.manual_seed(0)
        engine, net = _tiny_engine()
        engine.begin_training(RunContext(gradient_reducer=average_gradients))
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        net(x[rank * 4:(rank + 1) * 4]).pow(2).mean().backward()
        engine.optimizer_step(opt, net)
        out.put((rank, torch.cat([p.detach().reshape(-1) for p in net.parameters()]).numpy()))
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_take_the_combined_batch_step():
    torch.manual_seed(1)
    x = torch.randn(8, 4)
    ctx = mp.get_context("fork")  # forked workers start in milliseconds; spawn re-imports torch
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, port, x, queue)) for r in range(2)]
    for p in procs:
        p.start()
    out = dict(queue.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    torch.manual_seed(0)
    engine, net = _tiny_engine()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    net(x).pow(2).mean().backward()
    engine.optimizer_step(opt, net)
    want = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    torch.testing.assert_close(torch.from_numpy(out[0]), want)
    torch.testing.assert_close(torch.from_numpy(out[1]), want)


def _agreement_worker(rank, port, case, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        from engines.runtime.distributed import DistributedError, GradientAverager
        torch.set_num_threads(1)
        torch.manual_seed(0)
        engine, net = _tiny_engine()
        engine.begin_training(RunContext(gradient_reducer=GradientAverager(lambda: {"net": net})))
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        x = torch.full((2, 4), float(rank + 1))
        if case == "missing" and rank == 1:  # rank 1 reaches no gradient for the last layer's bias
            net[2].bias.requires_grad_(False)
            net(x).pow(2).mean().backward()
            net[2].bias.requires_grad_(True)
        elif case == "none" and rank == 1:  # no gradients at all on this process: zeros, not a skipped collective
            pass
        else:
            net(x).pow(2).mean().backward()
        params = list(net.parameters())
        if case == "differ" and rank == 1:
            params = params[:-1]  # steps one parameter fewer: the agreement names it
        try:
            engine.optimizer_step(opt, params)
            out.put((rank, [None if p.grad is None else p.grad.clone().numpy() for p in net.parameters()]))
        except DistributedError as exc:
            out.put((rank, str(exc)))
    finally:
        dist.destroy_process_group()


def _run_agreement(case):
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_agreement_worker, args=(r, port, case, queue)) for r in range(2)]
    for p in procs:
        p.start()
    out = dict(queue.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    return out


def test_processes_stepping_different_parameters_get_an_error_naming_the_parameter():
    out = _run_agreement("differ")
    for rank in (0, 1):
        assert isinstance(out[rank], str), out[rank]
        assert "net.2.bias" in out[rank] and "process 1: nothing" in out[rank]


def test_a_process_without_a_gradient_contributes_zeros():
    torch.manual_seed(0)
    engine, net = _tiny_engine()
    per_rank = []
    for rank in (0, 1):
        net.zero_grad(set_to_none=True)
        net(torch.full((2, 4), float(rank + 1))).pow(2).mean().backward()
        per_rank.append([p.grad.clone() for p in net.parameters()])
    missing = _run_agreement("missing")
    none = _run_agreement("none")
    for rank in (0, 1):
        for i, got in enumerate(missing[rank]):  # the bias: rank 0's gradient and rank 1's zeros, averaged
            want = per_rank[0][i] / 2 if i == 3 else (per_rank[0][i] + per_rank[1][i]) / 2
            torch.testing.assert_close(torch.from_numpy(got), want)
        for i, got in enumerate(none[rank]):
            torch.testing.assert_close(torch.from_numpy(got), per_rank[0][i] / 2)
