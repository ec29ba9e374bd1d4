"""The engines stay Qt-free: checked by import-linter's contract in pyproject.toml, and by a plain import."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contract_holds():
    lint = Path(sys.executable).parent / "lint-imports"
    r = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_importing_every_engine_module_loads_no_qt():
    code = ("import pkgutil, importlib, sys, engines\n"
            "for m in pkgutil.walk_packages(engines.__path__, 'engines.'):\n"
            "    importlib.import_module(m.name)\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'studio', 'shiboken6')]\n"
            "assert not bad, bad\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


def _outside_the_families():
    for path in sorted([*(ROOT / "engines").rglob("*.py"), *(ROOT / "studio").rglob("*.py")]):
        rel = path.relative_to(ROOT).as_posix()
        if not rel.startswith("engines/families/") and rel != "engines/registry.py":
            yield rel, path.read_text(encoding="utf-8")


def test_only_the_registry_names_concrete_families():
    """Concrete families are private to the registry (the import-linter contract sees imports; this sees
    modules named in strings, the classes by name and their private members)."""
    import re

    from engines import registry

    by_string = re.compile(r"""import_module\(\s*f?["']engines\.families\.|["']engines\.families\.(?!base\b|capabilities\b)\w""")
    classes = {f.engine_class.__name__ for f in registry.all_families()}
    by_class = re.compile(r"\b(" + "|".join(sorted(classes)) + r")\b")
    private = re.compile(r"\bengine\._[a-z]\w*")
    offenders = [f"{rel}: {m.group(0)}" for rel, text in _outside_the_families()
                 for pattern in (by_string, by_class, private) for m in [pattern.search(text)] if m]
    assert not offenders, offenders
