"""Latent diffusion: the latent scale gives unit variance, the phases switch and resume exactly in either
phase (VQ-VAE grid and flat AE/VAE vectors), and a given first stage is used and travels with the run."""

import numpy as np
import pytest
import torch

from engines.config import ConfigError
from engines.families.ae import AEConfig, AEEngine
from engines.families.base import Batch, Cancelled, DataSpec
from engines.families.ldm import LDMConfig, LDMEngine
from tests.engines import test_family_contract as contract
from tests.helpers import tiny_dataset
from tests.engines.family_cases import SMALL_CONFIG

SMALL = dict(SMALL_CONFIG["ldm"])


def batch(n=8, size=16, classes=0):
    data = tiny_dataset(n=n, size=size, classes=classes)
    return Batch(torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(data.labels))


@pytest.mark.parametrize("first", ["vqvae", "ae", "vae"])
def test_measured_latent_scale_gives_unit_variance(first):
    torch.manual_seed(0)
    engine = LDMEngine(LDMConfig(**{**SMALL, "first_stage_family": first, "first_stage_steps": 3}), DataSpec(16, 1))
    b = batch(16)
    for _ in range(3):
        engine.train_step(b)
    raw = engine._as_grid(engine.first.encode(b.pixels.permute(0, 2, 3, 1).numpy()))
    assert not bool(engine.norm.measured)
    engine.train_step(b)  # the first phase-2 step measures the latents
    assert bool(engine.norm.measured)
    z = engine.norm.normalise(raw)
    assert abs(float(z.std()) - 1.0) < 0.05 and abs(float(z.mean())) < 0.05
    assert z.shape[1:] == ((2, 4, 4) if first == "vqvae" else (2, 1, 1))


@pytest.mark.parametrize("first", ["vqvae", "vae"])
@pytest.mark.parametrize("switch", [2, 5], ids=["resume-in-phase-2", "resume-in-phase-1"])
def test_resume_is_exact_in_either_phase(tmp_path, monkeypatch, first, switch):
    monkeypatch.setitem(SMALL_CONFIG, "ldm", {**SMALL, "first_stage_family": first, "first_stage_steps": switch})
    contract.test_resume_is_exact(tmp_path, "ldm")


def test_flat_latents_keep_the_contract(tmp_path, monkeypatch):
    monkeypatch.setitem(SMALL_CONFIG, "ldm", {**SMALL, "first_stage_family": "ae"})
    contract.test_trains_samples_and_reloads(tmp_path, "ldm", 1, 2)
    contract.test_latent_interface_for_the_explorer("ldm")


def test_phase_names_and_frozen_first_stage():
    torch.manual_seed(0)
    engine = LDMEngine(LDMConfig(**{**SMALL, "first_stage_steps": 2}), DataSpec(16, 1, 2, ("a", "b")))
    b = batch(8, classes=2)
    first = [engine.train_step(b) for _ in range(2)]
    assert all(l["phase"] == 1.0 and "first_stage_recon" in l and "diffusion_loss" not in l for l in first)
    frozen = {k: v.clone() for k, v in engine.first.encoder.state_dict().items()}
    later = [engine.train_step(b) for _ in range(2)]
    assert all(l["phase"] == 2.0 and "diffusion_loss" in l for l in later)
    assert all(torch.equal(v, engine.first.encoder.state_dict()[k]) for k, v in frozen.items())
    assert engine.conditional
    seen = []
    images = engine.sample(2, seed=1, labels=np.array([0, 1]), progress=lambda d, t: seen.append(d))
    assert images.shape == (2, 16, 16, 1) and seen == [1, 2, 3, 4]
    with pytest.raises(Cancelled):
        engine.sample(2, seed=1, progress=lambda d, t: (_ for _ in ()).throw(Cancelled()))


def test_a_given_autoencoder_is_used_frozen_and_the_export_samples_on_its_own(tmp_path):
    from engines.train.model_file import load_model, save_model

    torch.manual_seed(0)
    ae = AEEngine(AEConfig(latent_dim=5, width=4), DataSpec(16, 1))
    before = {k: v.clone() for k, v in ae.encoder.state_dict().items()}
    engine = LDMEngine(LDMConfig(**SMALL), DataSpec(16, 1), inputs={"first_stage": ae})
    assert engine.phase == 2 and engine.shape == (5,)
    losses = [engine.train_step(batch()) for _ in range(2)]
    assert all("diffusion_loss" in l for l in losses)
    assert all(torch.equal(v, ae.encoder.state_dict()[k]) for k, v in before.items())
    path = save_model(engine, tmp_path / "ldm.safetensors", 2)
    loaded, _ = load_model(path)
    assert loaded.first_given and loaded.first.family == "ae" and loaded.shape == (5,)
    np.testing.assert_array_equal(loaded.sample(2, seed=3), engine.sample(2, seed=3))
    with pytest.raises(ConfigError, match="first stage of family"):
        from engines.families.ebm import EBMConfig, EBMEngine
        LDMEngine(LDMConfig(**SMALL), DataSpec(16, 1), inputs={"first_stage": EBMEngine(EBMConfig(width=4, buffer_size=4), DataSpec(16, 1))})


def test_flow_matching_objective_keeps_the_contract(tmp_path, monkeypatch):
    """objective = flow-matching: the same first stage, the flow's sampler and ODE inversion."""
    flow = {**SMALL, "objective": "flow-matching", "first_stage_family": "ae"}
    monkeypatch.setitem(SMALL_CONFIG, "ldm", flow)
    contract.test_trains_samples_and_reloads(tmp_path, "ldm", 1, 2)
    contract.test_latent_interface_for_the_explorer("ldm")
    engine = LDMEngine(LDMConfig(**flow), DataSpec(16, 1))
    assert "ODE" in engine.encoding and {"sampler", "steps", "noise"} <= set(vars(engine.sampling_options()))
    engine.set_sampling_options(sampler="euler", steps=3)
    calls = []
    engine.sample(2, seed=0, progress=lambda d, n: calls.append(n))
    assert calls == [3, 3, 3]


def test_flow_matching_objective_reaches_the_tools_through_the_prior_role(monkeypatch):
    from tests.engines import test_roles

    monkeypatch.setitem(SMALL_CONFIG, "ldm", {**SMALL, "objective": "flow-matching", "first_stage_family": "ae"})
    assert test_roles.build("ldm").prediction == "velocity"
    test_roles.test_every_tool_a_role_allows_runs_on_a_fresh_engine("ldm")
