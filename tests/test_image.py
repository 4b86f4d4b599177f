"""The production image, as truss 0.18.36's own code builds it from config.yaml.

``ServingImageBuilderContext`` renders the Docker build context of the real
repository (our ``.truss_ignore`` applied the way truss applies it). Only the
Hugging Face lookup behind ``model_cache`` (truss_transfer's pointer manifest)
is stubbed: there is no network here. The push archive is the file set of
truss's own ``archive_dir``: ``collect_files`` (``walk_filtered``) with the
patterns of ``load_trussignore_patterns_from_truss_dir``.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock.txt"
IMAGE_PYTHON_LIB = "/usr/local/lib/python3.11/dist-packages"  # uv --system into deadsnakes' python3.11
BASE_IMAGE = "baseten/truss-server-base:3.11-gpu-v0.13.0"
# CUDA and driver directories of the base image (nvidia/cuda:12.8.1-base-ubuntu22.04 + libcublas-12-8).
BASE_IMAGE_LIBRARY_DIRS = {"/usr/local/nvidia/lib", "/usr/local/nvidia/lib64", "/usr/local/cuda/lib64"}
# Python packages of the image: 175 MB of wheels (528 MB installed) when this was written
# (ctranslate2 43 MB, av 36 MB, onnxruntime 28 MB, numpy 17 MB, silero-vad 11 MB).
# torch alone would be several times this.
WHEEL_BUDGET_BYTES = 200_000_000
UPLOAD_TOPS = {"config.yaml", "model", "packages", "requirements.lock.txt", ".truss_ignore"}
_LOCK_LINE = re.compile(r"^(?:# nodeps: )?([A-Za-z0-9._-]+)==(\S+)\s+# wheel_bytes=(\d+) installed_bytes=(\d+) sha256=")


def _config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def _lock_pins(*, nodeps: bool | None = None) -> dict[str, tuple[str, int]]:
    """name -> (version, wheel bytes) of the lock; ``nodeps`` picks one section."""
    pins = {}
    for line in LOCK.read_text().splitlines():
        if (match := _LOCK_LINE.match(line)) is None:
            continue
        if nodeps is not None and line.startswith("# nodeps: ") != nodeps:
            continue
        pins[canonicalize_name(match[1])] = (match[2], int(match[3]))
    return pins


def _requirement_names(text: str) -> set[str]:
    names = set()
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith(("#", "-")):
            names.add(canonicalize_name(Requirement(line).name))
    return names


def _requirements(path: Path) -> list[Requirement]:
    lines = (raw.split(" #", 1)[0].strip() for raw in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith(("#", "-"))]


# --------------------------------------------------------------------------
# The lock agrees with config.yaml and with requirements*.txt
# --------------------------------------------------------------------------


def test_config_installs_the_lock_and_nothing_beside_it() -> None:
    config = _config()
    assert config["requirements_file"] == LOCK.name
    assert not config.get("requirements"), "pins belong in requirements.txt + the lock, not config.yaml"


def test_lock_pins_every_package_exactly_and_is_current() -> None:
    lines = [line for line in LOCK.read_text().splitlines() if line and not line.startswith("#")]
    assert lines and all(_LOCK_LINE.match(line) for line in lines), "every line: name==version # wheel_bytes=..."
    digest = re.search(r"^# inputs_sha256=(\w+)$", LOCK.read_text(), re.M)
    import truss

    expected = hashlib.sha256()
    for name in ("requirements.txt", "requirements-nodeps.txt"):
        expected.update((REPO / name).read_bytes())
    expected.update(f"truss=={truss.__version__}".encode())
    assert digest and digest[1] == expected.hexdigest(), "inputs changed: run scripts/lock_requirements.py"


def test_lock_satisfies_every_runtime_requirement() -> None:
    pins = _lock_pins()
    for requirement in _requirements(REPO / "requirements.txt") + _requirements(REPO / "requirements-nodeps.txt"):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in the lock"
        assert requirement.specifier.contains(pins[name][0], prereleases=True), (requirement, pins[name][0])


def test_nodeps_build_command_installs_the_locked_silero_vad() -> None:
    (nodeps,) = _requirements(REPO / "requirements-nodeps.txt")
    version, _ = _lock_pins(nodeps=True)[canonicalize_name(nodeps.name)]
    commands = _config()["build_commands"]
    assert any("--no-deps" in c and f"{nodeps.name}=={version}" in c for c in commands), commands
    assert canonicalize_name(nodeps.name) not in _lock_pins(nodeps=False), "it would pull torch in"


def test_lock_has_no_torch_no_cudnn_and_fits_the_wheel_budget() -> None:
    pins = _lock_pins()
    assert not {name for name in pins if name.startswith(("torch", "nvidia-", "triton", "cuda-"))}
    total = sum(size for _, size in pins.values())
    assert total <= WHEEL_BUDGET_BYTES, f"{total / 1e6:.0f} MB of wheels, budget {WHEEL_BUDGET_BYTES / 1e6:.0f} MB"


# --------------------------------------------------------------------------
# The build context, rendered by truss's own image builder
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import truss_transfer
    from truss.contexts.image_builder import serving_image_builder
    from truss.contexts.image_builder.serving_image_builder import ServingImageBuilderContext

    calls = []

    def no_network_pointers(models: list) -> str:
        calls.extend(models)
        return json.dumps({"pointers": []})

    build_dir = tmp_path_factory.mktemp("context")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(truss_transfer, "create_basetenpointer_from_models", no_network_pointers)
        # The Dockerfile's HASH_TRUSS (live-reload patches) hashes every file under the truss dir with none of
        # .truss_ignore applied: in a clone that is .venv and .build's node_modules, ~59,000 files, 24 s of a
        # 2-core CI run. Nothing here reads it; what is copied is decided by the ignore patterns alone.
        patch.setattr(serving_image_builder, "directory_content_hash", lambda *_args, **_kwargs: "not-hashed")
        ServingImageBuilderContext.run(REPO).prepare_image_build_dir(build_dir)
    assert [m.repo_id for m in calls] == ["Systran/faster-whisper-large-v3", "Wespeaker/wespeaker-voxceleb-resnet34-LM"]
    return build_dir


def test_base_image_and_python(context: Path) -> None:
    dockerfile = (context / "Dockerfile").read_text()
    assert re.search(rf"^FROM {re.escape(BASE_IMAGE)} AS truss_server$", dockerfile, re.M)
    assert "ARG PYVERSION=py311" in dockerfile


def test_image_installs_the_lock_then_nothing_of_truss_that_the_lock_misses(context: Path) -> None:
    assert (context / "user_requirements.txt").read_text() == LOCK.read_text()
    dockerfile = (context / "Dockerfile").read_text()
    assert "-r user_requirements.txt -c constraints.txt" in dockerfile
    # truss's server requirements less the packages the lock names: nothing left
    assert _requirement_names((context / "requirements.txt").read_text()) == set()
    installed = _requirement_names(LOCK.read_text())
    assert not {n for n in installed if n.startswith(("torch", "nvidia-cudnn", "nvidia-", "triton"))}
    assert "--no-deps silero-vad==6.2.3" in dockerfile


def test_library_path_dirs_exist_in_the_image_layout() -> None:
    entries = _config()["environment_variables"]["LD_LIBRARY_PATH"].split(":")
    pins = _lock_pins()
    for entry in entries:
        assert "site-packages" not in entry, f"{entry}: the image's python has no site-packages (uv --system)"
        if entry.startswith(IMAGE_PYTHON_LIB + "/nvidia/"):
            component = entry.removeprefix(IMAGE_PYTHON_LIB + "/nvidia/").split("/")[0]
            assert any(n.startswith(f"nvidia-{component}") for n in pins), f"{entry}: no locked wheel provides it"
        else:
            assert entry in BASE_IMAGE_LIBRARY_DIRS, f"{entry} is neither a base-image dir nor a locked wheel's"


def test_build_context_holds_only_the_server_parts(context: Path) -> None:
    copied = {p.name for p in context.iterdir()}
    assert {"model", "packages", "config.yaml", "Dockerfile", "server"} <= copied
    assert not copied & {"tests", "bench", "data", "samples", "client", "scripts", ".build", ".venv", "README.md"}
    assert "${APP_HOME}/data" not in (context / "Dockerfile").read_text(), "truss would copy a data_dir (data/)"
    assert not list(context.rglob("__pycache__")), "caches were copied into the build context"


# --------------------------------------------------------------------------
# The push upload set (truss's archive_dir)
# --------------------------------------------------------------------------


def _upload_set() -> list[Path]:
    from truss.util.path import collect_files, load_trussignore_patterns_from_truss_dir

    patterns = load_trussignore_patterns_from_truss_dir(REPO)
    return [path.relative_to(REPO) for path in collect_files(REPO, patterns)]


def test_push_uploads_only_what_the_server_needs() -> None:
    files = _upload_set()
    tops = {path.parts[0] for path in files}
    assert tops <= UPLOAD_TOPS, tops - UPLOAD_TOPS
    assert not [p for p in files if "__pycache__" in p.parts or p.suffix in {".pyc", ".so"}]
    names = {p.as_posix() for p in files}
    assert {"config.yaml", "model/model.py", "requirements.lock.txt"} <= names
    library = {p.name for p in (REPO / "packages" / "whisper_stream").glob("*.py")}
    assert library <= {p.name for p in files if p.parts[:2] == ("packages", "whisper_stream")}
    assert sum((REPO / p).stat().st_size for p in files) < 1_000_000


def test_local_venv_has_no_torch_and_no_cuda_wheels() -> None:
    from importlib.metadata import distributions

    installed = {canonicalize_name(d.metadata["Name"]) for d in distributions()}
    assert "silero-vad" in installed
    assert not {n for n in installed if n.startswith(("torch", "nvidia-", "triton"))}
