"""The emulated image: a staged truss rendered by truss's image builder, its Dockerfile replayed into a folder.

1. Stage the truss into ``<build-dir>/truss`` (``staging``).
2. Render the Docker build context with truss's
   ``ServingImageBuilderContext(...).prepare_image_build_dir`` into
   ``<build-dir>/context``.
3. Replay that Dockerfile with truss's ``DockerBuildEmulator`` into the emulated
   root ``<build-dir>/fs``. It handles COPY, ENV and WORKDIR and skips RUN, so
   nothing is pip-installed: the venv running this already has truss's server
   requirements. The result is ``fs/app`` (server code, ``model/``,
   ``config.yaml``) and ``fs/packages`` (the bundled packages dir).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from scripts.local_truss.staging import stage_truss

# Dockerfile ENV entries that make no sense outside the image, or that the
# emulator can't resolve (it leaves `${HOME:-/root}` and similar as is).
_IMAGE_ENV_SKIP = frozenset({"HOME", "PATH", "SERVER_START_CMD"})


@dataclasses.dataclass(frozen=True)
class BuiltTruss:
    """Paths and env of an emulated truss image under ``build_dir``."""

    build_dir: Path
    fs_root: Path  # the image's "/"
    app_dir: Path  # /app: WORKDIR, server code, model/, config.yaml, data/ (if the image has one)
    packages_dir: Path  # /packages: the truss's bundled_packages_dir
    home_dir: Path  # /root: $HOME in the image (only the crash marker goes here)
    image_env: dict[str, str]  # Dockerfile ENV, absolute paths mapped into fs_root
    config_env: dict[str, str]  # config.yaml `environment_variables`


def default_build_dir(truss_dir: Path) -> Path:
    return Path(truss_dir) / ".build" / "truss"


def _clean_image_env(raw: Mapping[str, str], fs_root: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for key, value in raw.items():
        if key in _IMAGE_ENV_SKIP or "$" in value:
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if '"' in value:  # the emulator split a quoted value with spaces
            continue
        if value.startswith("/") and (fs_root / value.lstrip("/")).exists():
            value = str(fs_root / value.lstrip("/"))
        env[key] = value
    return env


def build(truss_dir: Path | str, build_dir: Path | str | None = None) -> BuiltTruss:
    """Build the emulated image fs for ``truss_dir`` under ``build_dir``.

    ``build_dir`` defaults to ``<truss_dir>/.build/truss``. Its ``truss/``,
    ``context/`` and ``fs/`` subdirs are wiped and written again. Nothing else
    in it is touched.
    """
    import yaml
    from truss.contexts.image_builder.serving_image_builder import (
        ServingImageBuilderContext,
    )
    from truss.contexts.local_loader.docker_build_emulator import DockerBuildEmulator

    truss_dir = Path(truss_dir).resolve()
    build_dir = (Path(build_dir) if build_dir else default_build_dir(truss_dir)).resolve()
    if not (truss_dir / "config.yaml").is_file():
        raise SystemExit(f"serve_local: no config.yaml in {truss_dir}")
    stage_dir, context_dir, fs_root = (build_dir / n for n in ("truss", "context", "fs"))
    for d in (stage_dir, context_dir, fs_root):
        if d.exists():
            shutil.rmtree(d)
    build_dir.mkdir(parents=True, exist_ok=True)

    stage_truss(truss_dir, stage_dir, build_dir)
    context_dir.mkdir()
    ServingImageBuilderContext.run(stage_dir).prepare_image_build_dir(context_dir)
    fs_root.mkdir()
    # The emulator strips the leading "/" of every COPY destination, so all of
    # its writes (/app, /packages, ...) land inside fs_root.
    result = DockerBuildEmulator(context_dir / "Dockerfile", context_dir).run(fs_root)

    app_dir = fs_root / result.workdir.relative_to("/")
    if not (app_dir / "truss_server.py").is_file():
        raise SystemExit(f"serve_local: emulated image has no {app_dir}/truss_server.py")
    home_dir = fs_root / "root"
    home_dir.mkdir(exist_ok=True)
    config = yaml.safe_load((app_dir / "config.yaml").read_text()) or {}
    config_env = {str(k): str(v) for k, v in (config.get("environment_variables") or {}).items() if v is not None}
    return BuiltTruss(
        build_dir=build_dir,
        fs_root=fs_root,
        app_dir=app_dir,
        packages_dir=fs_root / "packages",
        home_dir=home_dir,
        image_env=_clean_image_env(result.env, fs_root),
        config_env=config_env,
    )


def server_env(built: BuiltTruss, port: int, base_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for the server process.

    Precedence, lowest first: local defaults (``PYTHONUNBUFFERED=1``,
    ``DISABLE_JSON_LOGGING=true``), the image's Dockerfile ENV, config.yaml
    ``environment_variables`` (set on the pod by Baseten, and set on the
    container by ``truss``'s own docker run), and then ``base_env`` (default
    ``os.environ``), so a caller's explicit ``WHISPER_MODEL=...`` wins.
    ``PYTHONPATH`` is dropped because the image doesn't set one. Otherwise the
    source tree could hide a broken ``packages/`` bundle.
    """
    env = {"PYTHONUNBUFFERED": "1", "DISABLE_JSON_LOGGING": "true"}
    env.update(built.image_env)
    env.update(built.config_env)
    env.update(os.environ if base_env is None else base_env)
    env.pop("PYTHONPATH", None)
    env["INFERENCE_SERVER_PORT"] = str(port)
    return env
