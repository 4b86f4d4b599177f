"""A clone is the whole product: no tracked code reads outside the repository, and its speech is complete.

Everything the tests, benchmarks and scripts read lives in the repository (``data/``, with provenance
and licences); a folder beside the checkout (``../shared``) or a machine's absolute path is not there
in a user's clone.
"""

from __future__ import annotations

import ast
import csv
import fnmatch
import importlib
import importlib.util
import re
import subprocess
from pathlib import Path

import pytest

from bench import simulated_accelerator
from bench.audio import DEFAULT_DATA_DIR
from tests.multilingual_speech import MULTILINGUAL_DIR, TEST_CLIPS, clips_under_test
from tests.speech import REPO, SPEECH_DIR, TEST_UTTERANCES, manifest

CODE_FILES = ("*.py", "Makefile", ".ci/*", "*.sh", "*.toml", "*.cfg")
OUTSIDE = re.compile(
    r"\.\./shared"  # a folder beside the checkout
    r"|parents?(?:\[\d+\])?\s*/\s*[\"']shared[\"']"  # REPO.parent / "shared", parents[2] / "shared"
    r"|(?<![\w.~-])/work/"  # an absolute path on the machines this was written on
)
# What OUTSIDE must catch: each of these, written into a tracked file, fails test_no_tracked_code_reads_outside.
PLANTED = (
    'SPEECH = REPO.parent / "shared" / "data" / "speech"',
    "SPEECH = Path(__file__).resolve().parents[2] / 'shared' / 'data'",
    'DATA = Path("../shared/data/speech")',
    'DATA = Path("/work/shared/data/speech")',
    "python scripts/x.py --data /work/main/data",
)
AUDIO_SUFFIXES = {".flac", ".wav"}


def tracked_code() -> list[Path]:
    try:
        listed = subprocess.run(["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"not a git checkout: {exc}")
    names = listed.stdout.splitlines()
    return [REPO / n for n in names if any(fnmatch.fnmatch(n, p) for p in CODE_FILES)]


def outside_reads(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if OUTSIDE.search(line)]


def test_the_pattern_catches_every_planted_read_and_no_repository_path() -> None:
    assert [example for example in PLANTED if not outside_reads(example)] == []
    # ...and these very lines of this file, where they are written out
    assert len(outside_reads(Path(__file__).read_text())) >= len(PLANTED)
    inside = ['REPO / "data" / "speech"', "bench/work/notes.py", 'Path("~/work/x")', "tests/data/shared.py"]
    assert [line for line in inside if outside_reads(line)] == []


def test_no_tracked_code_reads_outside_the_repository() -> None:
    files = [path for path in tracked_code() if path != Path(__file__)]
    assert any(path.name == "Makefile" for path in files) and any(path.suffix == ".py" for path in files)
    found = {str(path.relative_to(REPO)): outside_reads(path.read_text()) for path in files if path.is_file()}
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_every_reader_names_the_one_speech_folder() -> None:
    expected = REPO / "data" / "speech"
    assert SPEECH_DIR == DEFAULT_DATA_DIR == MULTILINGUAL_DIR.parent == expected
    # the simulated transcriber finds it from its own location: this fails if the module moves without its path
    assert simulated_accelerator.default_speech_dir() == expected


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_every_audio_file_has_a_manifest_row_and_a_licence_and_every_row_a_file() -> None:
    audio = sorted(p for p in SPEECH_DIR.rglob("*") if p.suffix in AUDIO_SUFFIXES)
    assert audio
    missing = []
    for path in audio:
        listed = {r.get("filename") or r["file"]: r for r in _rows(path.parent / "manifest.tsv")}
        provenance = path.parent / "provenance.tsv"
        licences = {r["filename"]: r["audio_license"] for r in _rows(provenance)} if provenance.is_file() else {}
        licence = licences.get(path.name) or listed.get(path.name, {}).get("license")
        if path.name not in listed or not licence:
            missing.append(str(path.relative_to(SPEECH_DIR)))
    assert missing == []
    for table in SPEECH_DIR.rglob("*.tsv"):
        rows = _rows(table)
        absent = [n for r in rows if not (table.parent / (n := r.get("filename") or r["file"])).is_file()]
        assert rows and absent == [], table


def test_the_tests_clips_are_in_the_speech_folder() -> None:
    for folder, names in TEST_UTTERANCES.items():
        assert [u.path.name for u in manifest(folder)] == [Path(n).name for n in names]
        assert all(u.path.is_file() and u.reference for u in manifest(folder))
    assert [c.name for c in clips_under_test()] == list(TEST_CLIPS)
    assert len({c.language for c in clips_under_test()}) == len(TEST_CLIPS)  # clip(language) picks one each


REPO_PACKAGES = {"bench", "client", "model", "scripts", "tests", "whisper_stream"}


def imports_from_the_repository(path: Path) -> list[tuple[str, str]]:
    """``(module, name)`` for each ``from module import name`` in ``path`` that names one of the repository's
    own modules, wherever it stands (top level or inside a function, as bench scripts import lazily)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        own = isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
        if own and node.module.split(".")[0] in REPO_PACKAGES:
            found += [(node.module, alias.name) for alias in node.names]
    return found


def test_every_script_imports_names_that_exist() -> None:
    """The benchmarks and scripts are run by hand, not by the suite: a name moved or renamed in the library must
    still fail here (bench/memory_bound.py and bench/hostile_mix.py imported a start_server that had moved)."""
    scripts = [
        path
        for folder in ("bench", "scripts")
        for path in sorted((REPO / folder).rglob("*.py"))
        if not any(part.startswith(".") for part in path.relative_to(REPO).parts)  # bench/.cache: staged copies
    ]
    assert len(scripts) > 30
    missing = []
    for path in scripts:
        for module_name, name in imports_from_the_repository(path):
            module = importlib.import_module(module_name)
            if not hasattr(module, name) and importlib.util.find_spec(f"{module_name}.{name}") is None:
                missing.append(f"{path.relative_to(REPO)}: from {module_name} import {name}")
    assert not missing, missing
