from __future__ import annotations

import os

# Before CTranslate2 (GNU OpenMP) loads, here and in every server a test starts: threads that wait sleep instead
# of spinning. Two test workers, their servers and their decodes share 2 cores; spinning threads took the cores
# from the ones with work (the suite on two workers: 15.5 CPU minutes and 8.8 min with spinning, 9.2 and 5.6 min
# without, 2026-12-03). Production leaves OpenMP's default.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fresh_metrics import FreshMetrics
from tests.local_server import LocalServer, start_server

REPO = Path(__file__).resolve().parents[1]

# The local run of the production Truss: bundled tiny.en on the CPU, truss's own server.
# The bundled speaker test model for the sessions that ask for labels, a final waiting for its embedding as long
# as it takes: on a loaded machine a label must not depend on the clock.
SERVER_ENV = {
    "WHISPER_MODEL": "bundled",
    "WHISPER_DEVICE": "cpu",
    "MAX_SESSIONS": "6",
    "IDLE_TIMEOUT_S": "20",
    "DIARIZATION_MODEL": "bundled",
    "DIARIZATION_MAX_WAIT_MS": "3600000",
}


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    build_dir = tmp_path_factory.mktemp("truss-build")
    with start_server(REPO, port=0, build_dir=build_dir, env=SERVER_ENV, ready_timeout=180.0) as running:
        yield running


@pytest.fixture
def ws_url(server: LocalServer) -> str:
    return server.ws_url


@pytest.fixture
def fresh_metrics(monkeypatch: pytest.MonkeyPatch) -> FreshMetrics:
    """The library's metrics, empty, in a registry of this test's own (tests/fresh_metrics.py)."""
    return FreshMetrics(monkeypatch)
