"""The library's layering, as the folder tree draws it: each sub-package imports only the ones below it.

    server  →  core  →  inference  →  audio  →  protocol        (``samples`` and ``metrics``: leaves, for all)

So the sans-I/O core never reaches the server's I/O, inference never imports the core's policy, and the wire
protocol stands alone. The library never imports the benchmarks, the client, the tests or Truss.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "packages" / "whisper_stream"
LAYERS = ["protocol", "audio", "inference", "core", "server"]
LEAVES = {"samples", "metrics"}
FORBIDDEN_TOP_LEVEL = {"bench", "client", "tests", "model", "truss", "torch"}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py"))


def _imports(source: str) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            if node.module == "whisper_stream":  # ``from whisper_stream import metrics``
                names += [f"whisper_stream.{alias.name}" for alias in node.names]
    return names


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "whisper_stream" else None


def violations(relative: Path, source: str) -> list[str]:
    """What ``source``, the module at ``relative`` inside the package, imports against the layering."""
    own = relative.parts
    own_layer = own[0] if len(own) > 1 else own[0].removesuffix(".py")
    found = []
    for name in _imports(source):
        if name.split(".")[0] in FORBIDDEN_TOP_LEVEL:
            found.append(f"{name} (the library imports no {name.split('.')[0]})")
        target = _layer(name)
        if target is None or target == own_layer:
            continue
        if own_layer in LEAVES and target in LAYERS:
            found.append(f"{name} (a leaf imports no layer)")
        elif target in LAYERS and own_layer in LAYERS and LAYERS.index(target) > LAYERS.index(own_layer):
            found.append(f"{name} ({own_layer} is below {target})")
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_module_imports_only_the_layers_below_it(path: Path) -> None:
    assert violations(path.relative_to(PACKAGE), path.read_text()) == []


def test_every_module_lives_in_a_layer_or_is_a_leaf() -> None:
    top = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in _modules()}
    assert top - {"__init__"} == set(LAYERS) | LEAVES


def test_the_check_catches_an_upward_import_and_a_forbidden_one() -> None:
    source = (
        "from whisper_stream.core.session import Session\nimport bench.capacity\nfrom whisper_stream import samples\n"
    )
    assert violations(Path("inference/planted.py"), source) == [
        "whisper_stream.core.session (inference is below core)",
        "bench.capacity (the library imports no bench)",
    ]
    assert violations(Path("metrics.py"), "from whisper_stream.server import logs\n") == [
        "whisper_stream.server (a leaf imports no layer)"
    ]
