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
