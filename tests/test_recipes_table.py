"""The README's 28 px recipe table is what benchmarks/recipes_28px.py builds from the committed results
files, and that builder counts only rows of the recipe as it is now (no tries, no stale recipes)."""

import json
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    return runpy.run_path(str(ROOT / "benchmarks" / "recipes_28px.py"), run_name="recipes_28px")


def test_readme_table_matches_the_committed_results(bench):
    shown = bench["readme_table"](ROOT / "README.md")
    assert shown is not None, "README.md lost the recipes_28px table markers"
    assert shown == bench["table_markdown"](), (
        "the README's recipe table differs from the committed results: run "
        "`python benchmarks/recipes_28px.py --table --readme` and commit README.md")


def _row(bench, family, seed, mark_min, frechet, budget_min, **extra):
    recipe = {**bench["recipe_record"](family, 28), "overrides": {}}
    return {"family": family, "seed": seed, "mark_s": 60.0 * mark_min, "budget_s": 60.0 * budget_min, "cpu_s": 1.0,
            "steps": 10, "frechet": frechet, "classes": 10, "ms_per_sample": 1.0, "batch_size": 32,
            "samples": 500, "size": 28, "recipe": recipe, **extra}


def test_table_counts_the_current_recipe_only_and_marks_snapshots(bench, tmp_path):
    stale = _row(bench, "sngan", 2, 2, 99.0, 2)
    stale["recipe"]["config"] = {**stale["recipe"]["config"], "lr_g": 1.0}
    tried = _row(bench, "sngan", 3, 2, 77.0, 2, **{"try": "sngan@x"})
    rows = [_row(bench, "sngan", 0, 2, 20.0, 10), _row(bench, "sngan", 1, 2, 30.0, 10),
            _row(bench, "sngan", 0, 10, 10.0, 10), stale, tried,
            _row(bench, "progan", 0, 2, 50.0, 10),   # a budget-planned family's snapshot: does not count
            _row(bench, "progan", 0, 5, 40.0, 5)]
    record = {"smoke": False, "figures": {"floor": {"frechet": 4.0, "classes": 10}, "rows": rows}}
    (tmp_path / "recipes_28px-x.json").write_text(json.dumps(record))
    table = bench["table_markdown"](tmp_path)
    lines = {line.split(" | ")[0].strip("| "): line for line in table.splitlines() if line.startswith("| ")}
    assert "| 25.0 ± 7.1* (seeds 0,1) | not run | 10.0 (seed 0) |" in lines["sngan"]
    assert "| not run | 40.0 (seed 0) | not run |" in lines["progan"]
    assert "not run | not run | not run" in lines["biggan"]
    assert "99.0" not in table and "77.0" not in table and "50.0" not in table
    assert "| 4.0 | | | 10 |" in lines["real vs real (held-out digits)"]
