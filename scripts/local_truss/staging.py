"""Stage a truss: copy what the serving image uses into ``<build-dir>/truss``, ready for truss's image builder.

Only the top-level entries the image uses (config.yaml, the model dir, the bundled
packages dir, the data dir, the requirements file, .truss_ignore) are copied, with
truss's default ignore patterns and then the truss's own ``.truss_ignore`` applied,
as truss's image builder applies them: what that file leaves out of the image (this
repository's ``data/``, 27 MB of test speech) is never copied. Packages from
``external_package_dirs`` are merged into the staged packages dir the way
``truss push`` does (truss_gatherer). The staged config.yaml drops ``model_cache``
and the GPU request (see ``_localize_config``).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

TRUSS_IGNORE = ".truss_ignore"


def _copy_filtered(src_root: Path, dest_root: Path, patterns: list[str]) -> None:
    from truss.util.path import walk_filtered

    dest_root.mkdir(parents=True, exist_ok=True)
    for dirpath, dirs, filenames in walk_filtered(src_root, patterns):
        rel = Path(dirpath).relative_to(src_root)
        for d in dirs:
            (dest_root / rel / d).mkdir(parents=True, exist_ok=True)
        for name in filenames:
            src = Path(dirpath) / name
            if src.is_symlink() and not src.exists():
                print(f"serve_local: skipping broken symlink {rel / name}", file=sys.stderr)
                continue
            shutil.copy2(src, dest_root / rel / name)


def stage_truss(truss_dir: Path, stage_dir: Path, build_dir: Path) -> None:
    """Copy only what the serving image uses from ``truss_dir`` to ``stage_dir``."""
    from truss.base.truss_config import TrussConfig
    from truss.util.path import load_trussignore_patterns

    config = TrussConfig.from_yaml(truss_dir / "config.yaml")
    if config.docker_server is not None or config.live_reload:
        raise SystemExit(
            "serve_local: only the default TrussServer image is supported (no docker_server, no live_reload)"
        )
    tops = {"config.yaml", TRUSS_IGNORE}
    for rel in (config.model_module_dir, config.bundled_packages_dir, config.data_dir):
        tops.add(Path(rel).parts[0])
    if config.requirements_file:
        tops.add(Path(config.requirements_file).parts[0])
        if Path(config.requirements_file).name == "uv.lock":
            tops.add("pyproject.toml")
    for top in sorted(tops):
        top_path = (truss_dir / top).resolve()
        if build_dir == top_path or top_path in build_dir.parents:
            raise SystemExit(f"serve_local: build dir {build_dir} is inside {top_path}")
    # "/*" drops every top-level entry, the negations take back the ones the
    # image uses, then truss's default .truss_ignore drops caches etc. inside
    # them, and last the truss's own .truss_ignore, which truss's image builder
    # adds to the default: what it leaves out of the image is not even staged.
    patterns = ["/*", *(f"!/{top}" for top in sorted(tops)), *load_trussignore_patterns()]
    if (truss_dir / TRUSS_IGNORE).is_file():
        patterns += load_trussignore_patterns(truss_dir / TRUSS_IGNORE)
    _copy_filtered(truss_dir, stage_dir, patterns)

    # Like truss_gatherer.gather(): the *contents* of each external package dir
    # go into the bundled packages dir.
    packages = stage_dir / config.bundled_packages_dir
    for ext in config.external_package_dirs:
        ext_path = Path(ext) if Path(ext).is_absolute() else truss_dir / ext
        if not ext_path.is_dir():
            raise SystemExit(f"serve_local: external package dir {ext_path} is not a directory")
        _copy_filtered(ext_path, packages, load_trussignore_patterns())

    dropped = _localize_config(stage_dir / "config.yaml")
    if dropped:
        print(
            "serve_local: the local run (the bundled tiny.en on the CPU, unless WHISPER_MODEL or WHISPER_DEVICE"
            f" say otherwise) ignores these production settings: {', '.join(dropped)}",
            file=sys.stderr,
        )


# The production weights live in /app/model_cache and want a GPU; a local run uses
# the bundled tiny.en on the CPU with the library's CPU defaults (beam size,
# workers, session cap, finals in context). Environment variables still win over these.
_LOCAL_METADATA = {"whisper_model": "bundled", "whisper_device": "cpu"}
_LOCAL_ENVIRONMENT = {"OMP_WAIT_POLICY": "PASSIVE"}
"""The CPU run's OpenMP threads sleep while they wait instead of spinning: CTranslate2's decode threads share
the cores with the event loop and silero. Same sweep, one run each (docs/performance.md, 2026-12-03):
server CPU per audio second -19 % at 1 to 8 streams, final p95 at one stream 0.97 s against 1.48 s. The
image leaves OpenMP's default (the GPU decodes); an explicit ``OMP_WAIT_POLICY`` in the environment wins."""
_GPU_ONLY_METADATA = (
    "whisper_model",
    "whisper_device",
    "whisper_beam_size",
    "decode_workers",
    "max_batch_size",
    "max_sessions",
    "final_context_s",  # chosen per model: 15 s for the multilingual base model, 29 s (the default) for tiny.en
    "diarization_model",  # a model_cache folder (WeSpeaker); DIARIZATION_MODEL=bundled for the test model
)


def _localize_config(config_path: Path) -> list[str]:
    """Drop the config parts that only make sense on Baseten, in the staged copy.

    ``model_cache`` makes truss's image builder fetch repo metadata from
    Hugging Face (for the bptr manifest), and the weights would go to
    ``/app/model_cache`` at runtime, which a local run doesn't have. The GPU
    request (``resources.accelerator``/``use_gpu``/``instance_type``) only picks
    the base image and the instance. The model settings in ``model_metadata``
    switch to the bundled tiny.en on the CPU, OpenMP's threads wait asleep
    (``_LOCAL_ENVIRONMENT``), and the container's
    ``LD_LIBRARY_PATH`` is dropped. Returns what was dropped.
    """
    import yaml

    raw = yaml.safe_load(config_path.read_text()) or {}
    dropped = []
    if raw.get("model_cache"):
        dropped.append("model_cache")
    raw.pop("model_cache", None)
    resources = raw.get("resources") or {}
    for key in ("accelerator", "use_gpu", "instance_type"):
        if resources.get(key):
            dropped.append(f"resources.{key}")
        resources.pop(key, None)
    metadata = raw.get("model_metadata") or {}
    for key in _GPU_ONLY_METADATA:
        if key in metadata:
            dropped.append(f"model_metadata.{key}")
            metadata.pop(key)
    metadata.update(_LOCAL_METADATA)
    raw["model_metadata"] = metadata
    environment = raw.get("environment_variables") or {}
    if environment.pop("LD_LIBRARY_PATH", None) is not None:
        dropped.append("environment_variables.LD_LIBRARY_PATH")
    raw["environment_variables"] = {**environment, **_LOCAL_ENVIRONMENT}
    if raw.get("external_data"):
        print("serve_local: warning: external_data is not downloaded locally", file=sys.stderr)
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return dropped
