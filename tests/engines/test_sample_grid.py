"""Sample grids of conditional runs: square-ish, one class per column, each image's class named."""

from engines.imaging import class_grid_columns
from engines.train.loop import Trainer, TrainSettings
from tests.helpers import tiny_dataset


def test_class_grids_keep_one_class_per_column_and_stay_square():
    assert class_grid_columns(64, 4) == 8       # not a 4×16 strip
    assert class_grid_columns(64, 10) == 10
    assert class_grid_columns(16, 2) == 4
    assert class_grid_columns(9, 3) == 3
    assert class_grid_columns(4, 7) == 7


def test_a_conditional_runs_samples_carry_their_class_names():
    from engines import registry

    family = registry.get("cgan")
    config = family.config_class(latent_dim=8, g_width=8, d_width=8)
    settings = TrainSettings(steps=1, batch_size=8, n_samples=16, sample_every=0, checkpoint_every=0)
    samples = Trainer.new("cgan", config, settings, tiny_dataset(n=32, classes=2), None).make_samples()
    names = tiny_dataset(n=32, classes=2).class_names
    assert samples.captions == tuple(names[i % 2] for i in range(16))
    tile = samples.images.shape[1]
    assert samples.grid.shape[1] == 4 * (tile + 2) + 2 and samples.grid.shape[0] == 4 * (tile + 2) + 2
    plain = Trainer.new("dcgan", registry.get("dcgan").config_class(latent_dim=8, g_width=8, d_width=8),
                        settings, tiny_dataset(n=32), None).make_samples()
    assert plain.captions is None


def test_a_conditional_grid_is_a_whole_number_of_rows():
    """64 samples of 10 classes left a ragged last row of 4; now 60: six rows of the ten classes."""
    from engines import registry

    family = registry.get("cgan")
    config = family.config_class(latent_dim=8, g_width=8, d_width=8)
    settings = TrainSettings(steps=1, batch_size=8, n_samples=64, sample_every=0, checkpoint_every=0)
    samples = Trainer.new("cgan", config, settings, tiny_dataset(n=40, classes=10), None).make_samples()
    assert len(samples.images) == 60 and samples.captions[:10] == samples.captions[10:20]
    tile = samples.images.shape[1]
    assert samples.grid.shape[:2] == (6 * (tile + 2) + 2, 10 * (tile + 2) + 2)
