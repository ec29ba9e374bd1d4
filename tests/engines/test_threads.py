"""The CPU threads setting: 0 is automatic (OMP_NUM_THREADS, else physical cores); training applies it."""

import torch

from engines.runtime import threads
from engines.train import events as ev
from engines.train.loop import Trainer, TrainSettings
from tests.helpers import tiny_dataset

# Two physical cores with two hyper-threads each, as /proc/cpuinfo lists them.
CPUINFO = "".join(f"processor\t: {i}\nphysical id\t: 0\ncore id\t\t: {i % 2}\n\n" for i in range(4))


def test_physical_cores_count_cores_not_hyperthreads(monkeypatch):
    monkeypatch.setattr(threads, "usable_cpus", lambda: 4)
    assert threads.physical_cores(CPUINFO) == 2
    monkeypatch.setattr(threads, "usable_cpus", lambda: 1)   # pinned to one CPU: never more than that
    assert threads.physical_cores(CPUINFO) == 1
    assert threads.physical_cores("") == 1                    # unreadable: the usable CPUs


def test_zero_is_automatic_and_a_number_is_taken_as_given(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.resolve_threads(0) == 3 and threads.resolve_threads(5) == 5
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert threads.resolve_threads(0) == threads.physical_cores()


def test_training_applies_the_setting_and_says_so():
    from engines.families.gan import DCGANConfig

    before = torch.get_num_threads()
    try:
        settings = TrainSettings(steps=1, batch_size=8, sample_every=0, checkpoint_every=0, threads=1)
        trainer = Trainer.new("dcgan", DCGANConfig(latent_dim=8, g_width=8, d_width=8), settings,
                              tiny_dataset(n=16), None)
        torch.set_num_threads(2)
        started = next(e for e in trainer.run() if isinstance(e, ev.Started))
        assert started.threads == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
