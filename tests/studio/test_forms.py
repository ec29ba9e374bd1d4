import pytest

from engines.config import ConfigError
from engines.families.gan import DCGANConfig
from engines.train.loop import TrainSettings
from studio.forms import ConfigForm, FloatEdit


def test_form_builds_an_editor_per_field_with_help_and_range(qtbot):
    form = ConfigForm(DCGANConfig)
    qtbot.addWidget(form)
    latent = form.editor("latent_dim")
    assert (latent.minimum(), latent.maximum()) == (2, 1024)
    assert "noise vector" in latent.toolTip() and "max 1024" in latent.toolTip()
    assert isinstance(form.editor("lr_g"), FloatEdit)
    assert form.config() == DCGANConfig()


def test_scientific_notation_is_understood(qtbot):
    form = ConfigForm(DCGANConfig)
    qtbot.addWidget(form)
    form.editor("lr_g").setText("")
    qtbot.keyClicks(form.editor("lr_g"), "3e-4")
    assert form.is_valid()
    assert form.config().lr_g == pytest.approx(3e-4)


def test_out_of_range_values_cannot_be_submitted(qtbot):
    form = ConfigForm(DCGANConfig)
    qtbot.addWidget(form)
    with qtbot.waitSignal(form.valid_changed) as became:
        form.editor("lr_g").setText("5")          # max is 0.1
    assert became.args == [False] and not form.is_valid()
    with pytest.raises(ConfigError, match="lr_g"):
        form.config()
    assert form.error_label.isVisibleTo(form) and "lr_g" in form.error_label.text()
    form.editor("lr_g").setText("abc")
    assert not form.is_valid()
    form.editor("lr_g").setText("0.001")
    assert form.is_valid() and form.config().lr_g == 0.001
    # a spin box never holds a number outside its range
    form.editor("latent_dim").setValue(100_000)
    assert form.config().latent_dim == 1024


def test_choices_bools_and_advanced_section(qtbot):
    form = ConfigForm(TrainSettings, basic=("steps", "device"))
    qtbot.addWidget(form)
    device = form.editor("device")
    assert [device.itemData(i) for i in range(device.count())] == ["auto", "cpu", "cuda", "mps"]
    device.setCurrentIndex(device.findData("cpu"))
    form.editor("flip").setChecked(True)
    cfg = form.config()
    assert cfg.device == "cpu" and cfg.flip is True
    assert form.advanced.isVisibleTo(form) and not form.advanced.content.isVisibleTo(form)
    form.advanced.set_expanded(True)
    assert form.editor("flip").isVisibleTo(form)


def test_invalid_model_form_disables_start(qtbot, window, blob_folder):
    from .helpers import load_into
    load_into(qtbot, window, blob_folder)
    start = window.state.actions.start
    assert start.isEnabled()
    window.panels["model"].family_form.editor("beta1").setText("2")
    assert not start.isEnabled() and "beta1" in window.state.config_error
    assert not window.state.start()
    window.panels["model"].family_form.editor("beta1").setText("0.5")
    assert start.isEnabled()


def test_the_family_form_starts_from_the_recipe_for_the_data_size(qtbot, window, blob_folder, tmp_path):
    from engines import registry
    from tests.studio.helpers import load_into, write_blob_folder

    state, model = window.state, window.panels["model"]
    load_into(qtbot, window, blob_folder, size=16)
    state.set_family("vae")
    recipe16 = registry.default_config("vae", 16)
    assert recipe16 != registry.get("vae").config_class()  # the test means something only if they differ
    assert model.family_form.config() == recipe16 and state.config == recipe16

    # untouched settings follow new data of another size ...
    load_into(qtbot, window, write_blob_folder(tmp_path / "big", size=64), size=64)
    assert state.config == registry.default_config("vae", 64)
    # ... edited ones are kept
    model.family_form.editor("beta").setText("2.5")
    assert state.config.beta == 2.5
    load_into(qtbot, window, blob_folder, size=16)
    assert state.config.beta == 2.5
    model.reset()
    assert state.config == recipe16


def test_training_settings_follow_the_family_recipe_unless_the_person_changed_them(qtbot, window):
    from engines.train.loop import TrainSettings

    model, state = window.panels["model"], window.state
    defaults = TrainSettings()
    state.set_family("pixelcnn")
    assert (state.settings.batch_size, state.settings.sample_every, state.settings.n_samples) == (16, 1000, 40)
    state.set_family("dcgan")  # no recipe: the untouched settings go back to their defaults
    assert (state.settings.batch_size, state.settings.sample_every, state.settings.n_samples) == (
        defaults.batch_size, defaults.sample_every, defaults.n_samples)
    state.set_family("realnvp")
    assert state.settings.batch_size == 16
    model.settings_form.editor("batch_size").setValue(32)   # the person's choice
    state.set_family("glow")
    assert state.settings.batch_size == 32
    state.set_family("dcgan")
    assert state.settings.batch_size == 32
    model.reset()
    assert state.settings.batch_size == defaults.batch_size


def test_switching_family_and_back_keeps_the_model_settings_the_person_changed(qtbot, window):
    model, state = window.panels["model"], window.state
    state.set_family("dcgan")
    model.family_form.editor("g_width").setValue(32)
    assert state.config.g_width == 32
    state.set_family("realnvp")
    state.set_family("dcgan")
    assert state.config.g_width == 32 and model.family_form.config().g_width == 32
    model.reset()
    state.set_family("realnvp")
    state.set_family("dcgan")
    assert state.config.g_width != 32   # Defaults forgot the edit


def test_train_for_minutes_sets_the_time_budget_and_follows_reopened_settings(qtbot, window):
    from engines.config import replace_checked

    model, state = window.panels["model"], window.state
    # a newcomer's first run: five minutes of training, not a step count that takes half an hour
    assert model.train_for.currentText() == "minutes" and state.settings.time_limit == 300.0
    assert model.minutes_box.value() == 5.0
    model.train_for.setCurrentText("steps")
    assert state.settings.time_limit == 0
    model.train_for.setCurrentText("minutes")
    model.minutes_box.setValue(2.5)
    assert state.settings.time_limit == 150.0 and model.minutes_box.isVisible()
    model.train_for.setCurrentText("steps")
    assert state.settings.time_limit == 0 and not model.minutes_box.isVisible()
    model.settings_form.set_config(replace_checked(state.settings, time_limit=600.0))  # e.g. a reopened run
    assert model.train_for.currentText() == "minutes" and model.minutes_box.value() == 10.0
    model.reset()
    assert model.train_for.currentText() == "minutes" and state.settings.time_limit == 300.0


def test_the_studio_opens_on_sngan_and_its_form_hides_what_does_not_apply(qtbot, window):
    model, state = window.panels["model"], window.state
    assert state.family_name == "sngan" and model.family_box.currentData() == "sngan"
    form = model.family_form

    def shown(name):
        return form.editor(name).isVisibleTo(form)

    # hinge loss, conv nets: no gradient penalty, no BCE label, no MLP width
    assert not shown("gp_weight") and not shown("real_label") and not shown("mlp_hidden")
    assert shown("g_width") and shown("n_critic") and shown("loss")
    form.editor("loss").setCurrentIndex(form.editor("loss").findData("wgan-gp"))
    assert shown("gp_weight") and not shown("real_label")
    form.editor("loss").setCurrentIndex(form.editor("loss").findData("bce"))
    assert shown("real_label") and not shown("gp_weight")
    form.editor("architecture").setCurrentIndex(form.editor("architecture").findData("mlp"))
    assert shown("mlp_hidden") and not shown("g_width") and not shown("attention_at")
    assert state.config.loss == "bce" and state.config.gp_weight == 10.0  # hidden, kept, still valid


def test_relevance_is_declared_in_the_engines_config_without_qt():
    from engines.config import field_infos
    from engines.families.gan import GANConfig

    infos = {i.name: i for i in field_infos(GANConfig)}
    assert infos["gp_weight"].when == {"loss": ("wgan-gp",)}
    assert infos["gp_weight"].applies({"loss": "wgan-gp"}) and not infos["gp_weight"].applies(GANConfig())
    assert infos["latent_dim"].applies(GANConfig()) and infos["gp_weight"].to_json()["when"] == {"loss": ["wgan-gp"]}


def test_a_whole_number_out_of_range_is_named_while_typing(qtbot):

    form = ConfigForm(TrainSettings)
    qtbot.addWidget(form)
    box = form.editor("batch_size")
    box.selectAll()
    qtbot.keyClicks(box, str(box.maximum() + 1))
    assert not form.is_valid() and "batch_size must be at most" in form.error_label.text(), box.text()
