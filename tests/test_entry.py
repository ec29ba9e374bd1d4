"""The `genstudio` entry point: mistakes before the studio opens are one line and exit code 2."""

import pytest

from studio.entry import main


def test_a_mistyped_command_is_named_not_taken_for_a_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for argv in (["trian"], ["trian", "--family", "dcgan"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        assert capsys.readouterr().err.strip() == ("genstudio: error: unknown command 'trian' "
                                                   "(did you mean `genstudio train`?)")
    with pytest.raises(SystemExit):
        main([str(tmp_path / "photos")])
    assert capsys.readouterr().err.strip() == f"genstudio: error: {tmp_path / 'photos'} does not exist"
