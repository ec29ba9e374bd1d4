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
