"""Small defects a new user met on data nobody tuned for (h34): each test asserts the fixed behaviour."""
import pytest

from engines.cli import main


@pytest.mark.parametrize("typed, meant", [("DCGAN", "dcgan"), ("dcgn", "dcgan"), ("flow_matching", "flow-matching"),
                                          ("wgan", "wgan-gp"), ("pixelcn", "pixelcnn")])
def test_an_unknown_family_suggests_the_one_meant(tmp_path, capsys, typed, meant):
    assert main(["train", "--family", typed, "--data", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert f"unknown family '{typed}' (did you mean {meant}?)" in err and len(err.splitlines()) == 1


def test_an_unknown_family_with_nothing_close_lists_them_without_a_guess(tmp_path, capsys):
    assert main(["families", "diffusion"]) == 2
    err = capsys.readouterr().err
    assert "unknown family 'diffusion'; choose one of: " in err and "did you mean" not in err


def test_a_translator_refusing_to_sample_names_the_command_too():
    from engines.families import capabilities
    from engines.families.cyclegan import CycleGANEngine

    assert capabilities.why_not(CycleGANEngine, "sample").endswith(
        "has no samples: use Translate (the panel, or `genstudio translate`)")


def test_a_checkpoint_that_lost_its_tensors_is_said_and_resume_keeps_the_history(tmp_path, capsys):
    """A run folder whose checkpoint records lost their .safetensors: resume used to start from step 0
    in silence, cutting metrics.jsonl and deleting the sample grids of the steps it had."""
    import json

    from PIL import Image

    imgs, run = tmp_path / "imgs", tmp_path / "run"
    imgs.mkdir()
    for i in range(12):
        Image.new("L", (16, 16), color=i * 20).save(imgs / f"{i}.png")
    assert main(["train", "--family", "dcgan", "--data", str(imgs), "--out", str(run), "--size", "16",
                 "--steps", "4", "--batch-size", "4", "--quiet", "--set", "latent_dim=8", "--set", "g_width=8",
                 "--set", "d_width=8", "--set", "sample_every=2", "--set", "checkpoint_every=2"]) == 0
    (run / "checkpoints" / "step_00000004.safetensors").unlink()
    capsys.readouterr()
    assert main(["sample", str(run), "--n", "2", "--out", str(tmp_path / "s")]) == 0
    out, err = capsys.readouterr()
    assert "(step 2)" in out and "step_00000004.safetensors is missing" in err
    (run / "checkpoints" / "step_00000002.safetensors").unlink()
    assert main(["train", "--out", str(run), "--resume", "--steps", "6", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no intact checkpoint" in err and "step_00000002.safetensors is missing" in err
    assert len(err.splitlines()) == 1
    assert [json.loads(l)["step"] for l in (run / "metrics.jsonl").read_text().splitlines()][-1] == 4
    assert (run / "samples" / "step_00000004.png").exists()
