#!/usr/bin/env python
"""Resolve the production image's Python packages into requirements.lock.txt.

What truss 0.18.36 installs into the image (``serving_image_builder.py`` and
``base.Dockerfile.jinja``), in this order:

1. config.yaml's ``requirements_file`` (this lock), under truss's server
   ``constraints.txt``;
2. truss's server ``requirements.txt`` minus every package the lock names,
   under the same constraints (with a complete lock: nothing left to install);
3. config.yaml's ``build_commands``: ``requirements-nodeps.txt`` with ``--no-deps``.

So the lock resolves our ``requirements.txt`` together with truss's server
requirements (less the packages ours name, exactly as truss subtracts them)
under truss's constraints, for CPython 3.11 on manylinux x86_64 up to glibc
2.35 (the base image is Ubuntu 22.04), wheels only. Every wheel is downloaded
(pip's cache makes a rerun quick) to record its size, its installed size and
its sha256 next to the pin, so tests can hold the image to a size budget.

    python scripts/lock_requirements.py           # rewrite requirements.lock.txt
    python scripts/lock_requirements.py --check   # exit 1 if a fresh resolve differs

Needs the package index (nothing else); this machine's own pip configuration
(local wheel folders, constraints) is ignored so the result matches the image.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import parse_wheel_filename

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock.txt"
INPUTS = ("requirements.txt", "requirements-nodeps.txt")
PYTHON_VERSION = "3.11"
# pip does not expand manylinux_2_X to older glibc versions by itself.
PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(35, 16, -1)] + ["manylinux2014_x86_64"]
_KEPT_PIP_ENV = {"PIP_CERT", "PIP_DEFAULT_TIMEOUT", "PIP_INDEX_URL", "PIP_CLIENT_CERT", "PIP_PROXY"}


@dataclass(frozen=True)
class Wheel:
    name: str
    version: str
    wheel_bytes: int
    installed_bytes: int
    sha256: str

    def line(self) -> str:
        return (
            f"{self.name}=={self.version}  # wheel_bytes={self.wheel_bytes} "
            f"installed_bytes={self.installed_bytes} sha256={self.sha256}"
        )


def requirement_lines(path: Path) -> list[str]:
    """Requirement lines of a requirements file, without comments and options."""
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith(("#", "-")):
            lines.append(line)
    return lines


def truss_server_files() -> tuple[Path, Path]:
    import truss

    server = Path(truss.__file__).parent / "templates" / "server"
    return server / "requirements.txt", server / "constraints.txt"


def resolver_input() -> list[str]:
    """Our requirements plus truss's server requirements that ours don't name (truss's own subtraction)."""
    from truss.contexts.image_builder.serving_image_builder import _subtract_user_requirements

    ours = requirement_lines(REPO / "requirements.txt")
    server_requirements, _ = truss_server_files()
    remaining = _subtract_user_requirements(server_requirements.read_text(), ours)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write(remaining)
    return ours + requirement_lines(Path(handle.name))


def _pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k in _KEPT_PIP_ENV}
    env["PIP_CONFIG_FILE"] = os.devnull  # ignore this machine's pip.conf (local wheel folders, constraints)
    return env


def download(requirements: list[str], dest: Path, *, no_deps: bool = False) -> list[Wheel]:
    _, constraints = truss_server_files()
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(dest), "--only-binary=:all:"]
    command += ["--python-version", PYTHON_VERSION, "--implementation", "cp"]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    command += ["--no-deps"] if no_deps else ["-c", str(constraints)]
    subprocess.run([*command, *requirements], check=True, env=_pip_env())
    return [describe(path) for path in sorted(dest.glob("*.whl"))]


def describe(path: Path) -> Wheel:
    name, version, _, _ = parse_wheel_filename(path.name)
    with zipfile.ZipFile(path) as archive:
        installed = sum(info.file_size for info in archive.infolist())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Wheel(str(name), str(version), path.stat().st_size, installed, digest)


def input_digest() -> str:
    import truss

    digest = hashlib.sha256()
    for name in INPUTS:
        digest.update((REPO / name).read_bytes())
    digest.update(f"truss=={truss.__version__}".encode())
    return digest.hexdigest()


def render(wheels: list[Wheel], nodeps: list[Wheel]) -> str:
    import truss

    total_wheel = sum(w.wheel_bytes for w in wheels + nodeps)
    total_installed = sum(w.installed_bytes for w in wheels + nodeps)
    header = [
        "# The production image's Python packages, fully resolved. Generated by",
        "# scripts/lock_requirements.py; do not edit. config.yaml installs it (requirements_file).",
        f"# inputs: {', '.join(INPUTS)}, truss=={truss.__version__} server requirements and constraints",
        f"# inputs_sha256={input_digest()}",
        f"# target: CPython {PYTHON_VERSION}, manylinux x86_64 up to glibc 2.35, wheels only",
        f"# total: {len(wheels) + len(nodeps)} wheels, wheel_bytes={total_wheel} installed_bytes={total_installed}",
        "",
    ]
    body = [w.line() for w in sorted(wheels, key=lambda w: w.name)]
    footer = ["", "# Installed with --no-deps by config.yaml build_commands (requirements-nodeps.txt):"]
    footer += [f"# nodeps: {w.line()}" for w in nodeps]
    return "\n".join(header + body + footer) + "\n"


def resolve() -> str:
    with tempfile.TemporaryDirectory() as main_dir, tempfile.TemporaryDirectory() as nodeps_dir:
        wheels = download(resolver_input(), Path(main_dir))
        nodeps = download(requirement_lines(REPO / "requirements-nodeps.txt"), Path(nodeps_dir), no_deps=True)
    return render(wheels, nodeps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare a fresh resolve with the lock; write nothing")
    args = parser.parse_args(argv)
    text = resolve()
    if args.check:
        if LOCK.exists() and LOCK.read_text() == text:
            print(f"{LOCK.name} is up to date")
            return 0
        print(f"{LOCK.name} differs from a fresh resolve: run scripts/lock_requirements.py", file=sys.stderr)
        return 1
    LOCK.write_text(text)
    print(f"wrote {LOCK.name}: {text.splitlines()[5].removeprefix('# ')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
