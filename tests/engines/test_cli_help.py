"""What `genstudio --help` and `genstudio families NAME` tell a person."""

from engines.cli import main


def test_help_says_plain_genstudio_opens_the_studio(capsys):
    import pytest
    with pytest.raises(SystemExit) as exc:  # argparse prints the help and exits 0
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "genstudio [FOLDER ...]" in out and "open the studio" in out
    assert "families NAME" in out


def test_families_name_shows_that_family_only(capsys):
    assert main(["families", "ddpm"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ddpm ")
    assert "\ndcgan " not in out and "base_channels=" in out


def test_families_unknown_name_is_one_line_naming_the_choices(capsys):
    assert main(["families", "dppm"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "unknown family 'dppm'" in err and "ddpm" in err


def test_families_ldm_lists_each_objectives_own_sampling_options(capsys):
    import json

    assert main(["families", "ldm"]) == 0
    out = capsys.readouterr().out
    diffusion = out.split("sampling options with objective=diffusion")[1].split("sampling options with")[0]
    flow = out.split("sampling options with objective=flow-matching")[1]
    assert "eta [" in diffusion and "eta [" not in flow and "heun" in flow
    assert "(only with objective=diffusion)" in out.split("\n    eta=")[1].splitlines()[0]
    assert main(["families", "ldm", "--json"]) == 0
    by = json.loads(capsys.readouterr().out)[0]["sampling_by"]
    assert by["field"] == "objective" and {"diffusion", "flow-matching"} == set(by["options"])
    assert "noise" in [f["name"] for f in by["options"]["flow-matching"]]
