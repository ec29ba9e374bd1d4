"""Figures tied to their runs: every results file the README cites is committed, and the benchmarks'
shared results helper records what is needed to trust a figure."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CITE = re.compile(r"benchmarks/results/[A-Za-z0-9_.\-]+\.json")
# "writes benchmarks/results/x.json" says where a rerun puts its figures: an output path, not a citation
OUTPUT = re.compile(r"(writes|written to|write to|writing)\W*$")


def cited(text: str) -> list[str]:
    """Results files the text cites as the source of its figures (placeholders such as NAME.json and
    output paths of a rerun command left out)."""
    found = set()
    for line in text.splitlines():
        for m in CITE.finditer(line):
            stem = m.group(0).rsplit("/", 1)[1][:-5]
            if stem.isupper() or OUTPUT.search(line[:m.start()]):
                continue
            found.add(m.group(0))
    return sorted(found)


def test_every_results_file_the_readme_cites_exists_and_is_a_record():
    missing, broken = [], []
    for name in cited((ROOT / "README.md").read_text(encoding="utf-8")):
        path = ROOT / name
        if not path.is_file():
            missing.append(name)
            continue
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            broken.append(f"{name}: {exc}")
            continue
        lacking = {"command", "commit", "machine", "load", "seeds", "figures"} - set(record)
        if lacking or record.get("smoke"):
            broken.append(f"{name}: lacks {sorted(lacking)}" if lacking else f"{name}: a --smoke record")
    assert not missing, f"README cites results that are not committed: {missing}"
    assert not broken, broken


def test_the_check_catches_a_table_citing_a_missing_file():
    table = ("| family | FD |\n| --- | ---: |\n| sngan | 14.2 |\n\n"
             "Results: `benchmarks/results/no-such-run.json`")
    assert cited(table) == ["benchmarks/results/no-such-run.json"]
    assert not (ROOT / cited(table)[0]).exists()
    assert cited("rerun: `x.py` (writes `benchmarks/results/x.json`); see benchmarks/results/NAME.json") == []


def test_results_helper_records_command_commit_machine_load_and_seeds(monkeypatch, tmp_path):
    from benchmarks import _results

    monkeypatch.setattr(_results.tempfile, "gettempdir", lambda: str(tmp_path))
    rec = _results.Results("unit_check", seeds=[0, 1], smoke=True,
                           argv=[str(ROOT / "benchmarks" / "x.py"), "--seconds", "2"])
    path = rec.save({"fd": float("nan"), "rows": [(1, 2.5)]}, settings={"out": tmp_path}, quiet=True)
    assert path.parent.parent == tmp_path       # smoke runs never touch benchmarks/results/
    record = json.loads(path.read_text())
    assert record["command"] == "python benchmarks/x.py --seconds 2"
    assert record["seeds"] == [0, 1] and record["smoke"] is True
    assert record["figures"] == {"fd": None, "rows": [[1, 2.5]]}
    assert record["machine"]["cores"] and "start" in record["load"] and "commit" in record
    assert _results.Results("unit_check").path() == ROOT / "benchmarks" / "results" / "unit_check.json"


def test_results_names_cannot_leave_the_results_folder():
    import pytest
    from benchmarks import _results

    for bad in ("../x", "a/b", "", ".hidden"):
        with pytest.raises(ValueError):
            _results.Results(bad)
    with pytest.raises(ValueError):
        _results.Results("ok").path("../../escape")


def test_record_run_writes_a_variant_and_hides_the_flag_from_the_benchmark(monkeypatch, tmp_path):
    import sys

    from benchmarks import _results

    monkeypatch.setattr(_results.tempfile, "gettempdir", lambda: str(tmp_path))
    seen = []

    def main():
        seen.append(list(sys.argv))
        print("fd 12.5")

    argv = ["bench.py", "--seconds", "2", "--results-variant", "size16", "--smoke"]
    assert _results.record_run("unit_check", main, argv=argv) == 0
    assert seen == [["bench.py", "--seconds", "2", "--smoke"]]
    record = json.loads((tmp_path / "genstudio-smoke-results" / "unit_check-size16.json").read_text())
    assert record["figures"]["printed"] == "fd 12.5\n"
    assert "--results-variant size16" in record["command"]
    import pytest
    with pytest.raises(ValueError):
        _results.record_run("unit_check", main, argv=["bench.py", "--results-variant=../x"])


HISTORICAL = re.compile(r"\bhistorical\b", re.IGNORECASE)


def figure_tables(text: str) -> list[tuple[str, str]]:
    """The markdown tables of the README's "## Figures" section, each with its context: from the bold
    lead (`**...**`) of the paragraph group it belongs to, through the table, to the paragraph after it."""
    start = text.index("\n## Figures")
    end = text.find("\n## ", start + 1)
    lines = text[start:end if end > 0 else None].splitlines()
    tables, i = [], 0
    while i < len(lines):
        if not lines[i].startswith("|"):
            i += 1
            continue
        first = i
        while i < len(lines) and lines[i].startswith("|"):
            i += 1
        lead = first
        while lead > 0 and not lines[lead].startswith("**") and not lines[lead - 1].startswith("|"):
            lead -= 1
        after = i
        while after < len(lines) and lines[after].strip() == "":
            after += 1
        while after < len(lines) and lines[after].strip() and not lines[after].startswith(("|", "**")):
            after += 1
        generated = first > 0 and lines[first - 1].startswith("<!--") and "generated" in lines[first - 1]
        if not generated:   # a table generated from the results files has its own test (tests/test_recipes_table.py)
            tables.append(("\n".join(lines[first:i]), "\n".join(lines[lead:after])))
    return tables


def test_every_measured_table_in_figures_cites_a_results_file_or_says_it_is_historical():
    lacking = [table.splitlines()[0] for table, context in figure_tables((ROOT / "README.md").read_text(encoding="utf-8"))
               if not cited(context) and not HISTORICAL.search(context)]
    assert not lacking, f"README figure tables citing no results file (nor labelled historical): {lacking}"


def test_the_table_check_sees_a_table_without_a_citation():
    text = ("intro\n\n## Figures\n\n**A result** (`benchmarks/x.py`):\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nProse.\n\n"
            "**Another** (`benchmarks/results/equal_time.json`):\n\n| c |\n|---|\n| 3 |\n\n"
            "<!-- x table: generated by `x.py --table` -->\n| d |\n|---|\n| 4 |\n\n## Development\n")
    tables = figure_tables(text)
    assert len(tables) == 2
    assert not cited(tables[0][1]) and cited(tables[1][1]) == ["benchmarks/results/equal_time.json"]
