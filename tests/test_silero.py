"""Tests for whisper_stream.audio.silero's weight location: the silero-vad package, installed without torch."""

from __future__ import annotations

import importlib.util

import pytest

from whisper_stream.audio import package_files
from whisper_stream.audio.silero import silero_weights_path


def test_weights_come_from_the_silero_vad_package() -> None:
    path = silero_weights_path()
    assert path.is_file() and path.name == "silero_vad.onnx"
    assert path.parent.parent.name == "silero_vad"


def test_missing_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        package_files.importlib.util, "find_spec", lambda name: None if name == "silero_vad" else real_find_spec(name)
    )
    with pytest.raises(RuntimeError, match=r"pip install --no-deps -r requirements-nodeps\.txt"):
        silero_weights_path()
