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
# words that say a figure has no record behind it: such a figure has no place in a table
UNBACKED = re.compile(r"\bhistorical\b|no results file|not rerun|before results files", re.IGNORECASE)
# what is not a measured figure: code spans (commands, file names), sizes in pixels, links and pictures
NOT_FIGURES = re.compile(r"`[^`]*`|\b\d+ ?px\b|!?\[[^\]]*\]\([^)]*\)")


def tables(text: str) -> list[tuple[list[str], str]]:
    """Every markdown table of the README, as its data rows (header and separator left out) and its
    context: the prose from the bold lead (`**...**`) of the paragraph group it belongs to (or the
    heading above it), its header, and the paragraph after it; rows of tables are never context, so
    one row's results file backs no other row. A table generated from the results files is left out:
    it has its own test (tests/test_recipes_table.py)."""
    lines = text.splitlines()
    found, i = [], 0
    while i < len(lines):
        if not lines[i].startswith("|"):
            i += 1
            continue
        first = i
        while i < len(lines) and lines[i].startswith("|"):
            i += 1
        lead = first
        while lead > 0 and not lines[lead].startswith(("**", "#")):
            lead -= 1
        after = i
        while after < len(lines) and lines[after].strip() == "":
            after += 1
        while after < len(lines) and lines[after].strip() and not lines[after].startswith(("|", "**", "#")):
            after += 1
        generated = first > 0 and lines[first - 1].startswith("<!--") and "generated" in lines[first - 1]
        if not generated:   # the context: prose around the table and its header, no table's rows
            before = [line for line in lines[lead:first] if not line.startswith("|")]
            found.append((lines[first + 2:i], "\n".join(before + lines[first:first + 1] + lines[i:after])))
    return found


# a measured table names the benchmark that measures it (its script or results file): the tables of
# panels, families and options do not
MEASURED = re.compile(r"benchmarks/")


def has_figures(row: str) -> bool:
    """Whether a table row states a number of its own (not one inside a command, a file name or a size)."""
    return bool(re.search(r"\d", NOT_FIGURES.sub("", row)))


def unbacked_rows(text: str) -> list[str]:
    """Rows of measured tables (those naming a benchmark) that no committed results file backs: a row with
    figures while neither the row nor its table's context cites a results file, a row whose figures are
    labelled as having no record (historical, not rerun, no results file), or any row with figures of a
    table whose context calls figures historical."""
    bad = []
    for rows, context in tables(text):
        if not MEASURED.search(context + "\n".join(rows)):
            continue
        backed = bool(cited(context))
        for row in rows:
            if not has_figures(row):
                continue
            if UNBACKED.search(row) or HISTORICAL.search(context) or not (backed or cited(row)):
                bad.append(row[:120])
    return bad


def test_every_measured_table_in_the_readme_cites_a_results_file():
    bad = unbacked_rows((ROOT / "README.md").read_text(encoding="utf-8"))
    assert not bad, ("README table rows with figures that no committed results file backs (cite the file in "
                     f"the row or the table's caption, or remove the figures): {bad}")


def test_the_table_check_fails_on_unbacked_rows():
    good = ("## Studio\n\n| panel | what it does |\n|---|---|\n| Dataset | 3 tabs, 2 buttons |\n\n"
            "## Figures\n\n**A result** (`benchmarks/results/equal_time.json`):\n\n| a | b |\n|---|---|\n"
            "| sngan | 16.1 |\n\nProse.\n\n**Per row**:\n\n| family | result |\n|---|---|\n"
            "| vae | 2.78 bits/dim (`benchmarks/results/likelihood_families.json`) |\n"
            "| pixelcnn | see the 28 px table (`benchmarks/recipes_28px.py`) |\n\n"
            "<!-- x table: generated by `benchmarks/x.py --table` -->\n| d |\n|---|\n| 4 |\n\n## Development\n")
    assert unbacked_rows(good) == []   # the panel table measures nothing; the generated one has its own test
    no_file = good.replace("| sngan | 16.1 |", "| sngan | 16.1 |\n| dcgan | 41.2 |").replace(
        "(`benchmarks/results/equal_time.json`)", "(`benchmarks/equal_time.py`)")
    assert unbacked_rows(no_file) == ["| sngan | 16.1 |", "| dcgan | 41.2 |"]
    labelled = good.replace("| pixelcnn | see the 28 px table (`benchmarks/recipes_28px.py`) |",
                            "| pixelcnn | historical, not rerun, no results file: 1.43 bits/dim |")
    assert unbacked_rows(labelled) == ["| pixelcnn | historical, not rerun, no results file: 1.43 bits/dim |"]
    caption = good.replace("Prose.", "Historical figures, measured before results files.")
    assert unbacked_rows(caption) == ["| sngan | 16.1 |"]
    # a row of another table's file does not back a row without one
    mixed = good.replace("| vae | 2.78 bits/dim (`benchmarks/results/likelihood_families.json`) |",
                         "| vae | 2.78 bits/dim (`benchmarks/results/likelihood_families.json`) |\n| glow | 1.68 |")
    assert unbacked_rows(mixed) == ["| glow | 1.68 |"]
