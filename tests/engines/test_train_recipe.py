"""Switching families merges the new family's recommended training settings with the person's own
(engines.registry.merge_train_recipe, used by the studio's Model panel)."""

from engines import registry
from engines.config import replace_checked
from engines.train.loop import TrainSettings


def test_recipe_values_come_and_go_but_the_persons_own_stay():
    start = TrainSettings()
    flows, kept = registry.merge_train_recipe("realnvp", 28, start, {})
    assert flows.batch_size == 16 and kept == {"batch_size": 16}      # the flows' recipe: batch 16
    back, kept = registry.merge_train_recipe("dcgan", 28, flows, kept)
    assert back.batch_size == start.batch_size and kept == {}          # untouched: back to the default
    mine = replace_checked(flows, batch_size=24)
    again, kept = registry.merge_train_recipe("dcgan", 28, mine, {"batch_size": 16})
    assert again.batch_size == 24 and kept == {}                       # changed by the person: theirs
