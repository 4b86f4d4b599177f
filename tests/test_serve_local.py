"""scripts/serve_local.py (over scripts/local_truss): a stand-in truss served by truss's real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import http.client
import http.server
import json
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from websockets.asyncio.client import connect

from scripts import local_truss
from tests import local_server

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.timeout(60)

MODEL_PY = """\
import json
import os
import sys
import time
from pathlib import Path

import echo_lib


class Model:
    def __init__(self, **kwargs):
        self._data_dir = kwargs["data_dir"]

    def load(self):
        if os.environ.get("ECHO_FAIL_LOAD"):
            raise RuntimeError("echo load failed on purpose")
        gate = os.environ.get("ECHO_LOAD_GATE")
        while gate and not Path(gate).exists():
            time.sleep(0.05)

    async def websocket(self, websocket):
        while True:
            text = await websocket.receive_text()
            if text == "__info__":
                await websocket.send_text(json.dumps({
                    "cwd": os.getcwd(),
                    "echo_lib": echo_lib.__file__,
                    "data_dir": str(Path(self._data_dir).resolve()),
                    "sys_path_0": sys.path[0],
                }))
            else:
                await websocket.send_text(echo_lib.tag(text))
"""

ECHO_LIB = """\
import os


def tag(text):
    return os.environ.get("ECHO_PREFIX", "") + text
"""

CONFIG_YAML = """\
model_name: echo
python_version: py311
environment_variables:
  ECHO_PREFIX: "cfg:"
runtime:
  transport:
    kind: websocket
"""


@pytest.fixture
def echo_truss(tmp_path: Path) -> Path:
    truss = tmp_path / "echo_truss"
    (truss / "model").mkdir(parents=True)
    (truss / "packages" / "echo_lib").mkdir(parents=True)
    (truss / "config.yaml").write_text(CONFIG_YAML)
    (truss / "model" / "model.py").write_text(textwrap.dedent(MODEL_PY))
    (truss / "packages" / "echo_lib" / "__init__.py").write_text(ECHO_LIB)
    # Stays out of the image: not a dir that the image uses.
    (truss / "tests").mkdir()
    (truss / "tests" / "big.bin").write_bytes(b"x" * 1024)
    return truss


async def _exchange(url: str, messages: list[str]) -> list[str]:
    replies = []
    async with connect(url) as ws:
        for message in messages:
            await ws.send(message)
            replies.append(await asyncio.wait_for(ws.recv(), timeout=10))
    return replies


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_serves_websocket_from_emulated_image(echo_truss: Path, tmp_path: Path) -> None:
    build_dir = echo_truss / ".build" / "truss"  # inside the truss, like `make serve`
    with local_server.start_server(echo_truss, build_dir=build_dir, ready_timeout=30) as server:
        assert server.port and server.port > 0
        assert _status(server.ready_url) == 200
        # printed by a poll up to 50 ms after load() is done (server_process._announce); readiness may be first
        serving = f"serving on ws://127.0.0.1:{server.port}/v1/websocket"
        deadline = time.monotonic() + 30
        while serving not in server.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert serving in server.log_text()

        replies = asyncio.run(_exchange(server.ws_url, ["hello", "world", "__info__"]))
        assert replies[:2] == ["cfg:hello", "cfg:world"]  # config.yaml env applied
        info = json.loads(replies[2])
        fs = build_dir.resolve() / "fs"
        assert info["cwd"] == str(fs / "app")
        assert info["sys_path_0"] == str(fs / "app")
        # packages/ comes from the emulated /packages, not the source tree.
        assert info["echo_lib"] == str(fs / "packages" / "echo_lib" / "__init__.py")
        assert info["data_dir"] == str(fs / "app" / "data")
        assert (fs / "app" / "model" / "model.py").is_file()
        assert not (build_dir / "truss" / "tests").exists()
        assert not (fs / "app" / "tests").exists()
    assert server.process.returncode == 0
    assert "Finished server process" in server.log_text()


def test_caller_env_wins_over_config(echo_truss: Path, tmp_path: Path) -> None:
    with local_server.start_server(
        echo_truss, build_dir=tmp_path / "build", env={"ECHO_PREFIX": "env:"}, ready_timeout=30
    ) as server:
        assert asyncio.run(_exchange(server.ws_url, ["hi"])) == ["env:hi"]
    assert server.process.returncode == 0


def test_not_ready_until_load_finishes_and_sigint_stops(echo_truss: Path, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    with local_server.start_server(
        echo_truss,
        build_dir=tmp_path / "build",
        env={"ECHO_LOAD_GATE": str(gate)},
        wait_ready=False,
    ) as server:
        for _ in range(300):
            if server.readiness() is not None:
                break
            assert server.process.poll() is None, server.log_text()
            time.sleep(0.05)
        assert server.readiness() == 503
        # listening, but not "serving" until load() is done
        assert f"listening on http://127.0.0.1:{server.port}; loading the model" in server.log_text()
        assert "serving on" not in server.log_text()
        gate.touch()
        server.wait_ready(timeout=30)
        deadline = time.monotonic() + 10
        while "serving on" not in server.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        log = server.log_text()
        assert log.index("Completed model.load()") < log.index(f"serving on ws://127.0.0.1:{server.port}/v1/websocket")
        assert server.stop(sig=signal.SIGINT) == 0


def test_failed_load_raises_with_log(echo_truss: Path, tmp_path: Path) -> None:
    build_dir = tmp_path / "build"
    env = {"ECHO_FAIL_LOAD": "1"}
    with (
        pytest.raises(RuntimeError, match="echo load failed on purpose") as excinfo,
        local_server.start_server(echo_truss, build_dir=build_dir, env=env, ready_timeout=30),
    ):
        pass
    # The server shuts itself down (or SIGKILLs itself on a readiness probe).
    assert "exited with" in str(excinfo.value)
    # The crash marker that truss writes to ~ (if a probe sees the failed load)
    # goes to the emulated $HOME.
    home = build_dir / "fs" / "root"
    assert {p.name for p in home.iterdir()} <= {"inference_server_crashed.txt"}


def test_server_env_precedence(tmp_path: Path) -> None:
    built = local_truss.BuiltTruss(
        build_dir=tmp_path,
        fs_root=tmp_path / "fs",
        app_dir=tmp_path / "fs" / "app",
        packages_dir=tmp_path / "fs" / "packages",
        home_dir=tmp_path / "fs" / "root",
        image_env={"APP_HOME": str(tmp_path / "fs" / "app"), "A": "image"},
        config_env={"A": "config", "B": "config"},
    )
    env = local_truss.server_env(built, 1234, base_env={"B": "caller", "PYTHONPATH": "x"})
    assert env["A"] == "config"
    assert env["B"] == "caller"
    assert env["APP_HOME"] == str(tmp_path / "fs" / "app")
    assert env["INFERENCE_SERVER_PORT"] == "1234"
    assert "PYTHONPATH" not in env


@pytest.fixture
def busy_port():
    """A port something else listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def _serve_local(*args: str, timeout_s: float = 30) -> subprocess.CompletedProcess[str]:
    script = ROOT / "scripts" / "serve_local.py"
    return subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=timeout_s, check=False
    )


def test_a_busy_port_fails_at_once_before_building(echo_truss: Path, tmp_path: Path, busy_port: int) -> None:
    build_dir = tmp_path / "build"
    done = _serve_local("--port", str(busy_port), "--truss-dir", str(echo_truss), "--build-dir", str(build_dir))
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert f"port {busy_port} on 127.0.0.1 is busy" in line and "make serve PORT=" in line
    assert not (build_dir / "fs").exists()
    with (
        pytest.raises(local_truss.PortBusyError),
        local_server.start_server(echo_truss, port=busy_port, build_dir=build_dir),
    ):
        pass


def test_a_foreign_server_on_the_port_is_never_taken_for_ours(
    echo_truss: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The port is taken after the check (a race): readiness must not come from the other server."""

    class AlwaysReady(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    foreign = http.server.HTTPServer(("127.0.0.1", 0), AlwaysReady)
    threading.Thread(target=foreign.serve_forever, daemon=True).start()
    monkeypatch.setattr(local_server, "port_is_free", lambda port: True)
    try:
        with (
            pytest.raises(local_truss.PortBusyError),
            local_server.start_server(echo_truss, port=foreign.server_port, build_dir=tmp_path / "b"),
        ):
            pytest.fail("took the foreign server for ours")
    finally:
        foreign.shutdown()
        foreign.server_close()


def test_a_second_server_on_the_same_build_dir_fails_without_touching_it(echo_truss: Path, tmp_path: Path) -> None:
    build_dir = tmp_path / "build"
    with local_server.start_server(echo_truss, build_dir=build_dir, ready_timeout=30) as server:
        staged = build_dir / "fs" / "app" / "config.yaml"
        before = staged.stat().st_mtime_ns
        done = _serve_local("--port", "0", "--truss-dir", str(echo_truss), "--build-dir", str(build_dir))
        assert done.returncode == 1
        assert done.stderr.strip() == (
            f"serve_local: another server is running from {build_dir}; stop it first or give --build-dir"
        )
        assert staged.stat().st_mtime_ns == before
        assert asyncio.run(_exchange(server.ws_url, ["still"])) == ["cfg:still"]


def test_metrics_answer_without_a_redirect(echo_truss: Path, tmp_path: Path) -> None:
    def get(port: int, path: str) -> tuple[int, str, str]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.getheader("Content-Type", ""), response.read().decode()
        finally:
            connection.close()

    with local_server.start_server(echo_truss, build_dir=tmp_path / "build", ready_timeout=30) as server:
        direct, mounted = get(server.port, "/metrics"), get(server.port, "/metrics/")
    assert direct[0] == 200 and direct[1].startswith("text/plain")
    assert direct == mounted  # the same Prometheus text as truss's own mount


def test_the_ignored_production_settings_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    built = local_truss.build(ROOT, tmp_path / "build")
    # The repository's .truss_ignore keeps data/ (test speech) out of the upload and the image: not staged either.
    assert not (tmp_path / "build" / "truss" / "data").exists()
    assert not (built.app_dir / "data").exists()
    assert (built.app_dir / "model" / "model.py").is_file()
    lines = [line for line in capsys.readouterr().err.splitlines() if "ignores" in line]
    assert len(lines) == 1, lines
    assert "model_metadata.whisper_model" in lines[0] and "resources.accelerator" in lines[0]
    assert "model_metadata.final_context_s" in lines[0]  # the local CPU run decodes finals in context
    # the CPU run's OpenMP threads sleep while they wait; production (config.yaml, GPU) keeps OpenMP's default
    assert built.config_env["OMP_WAIT_POLICY"] == "PASSIVE"
    assert "OMP_WAIT_POLICY" not in (yaml.safe_load((ROOT / "config.yaml").read_text())["environment_variables"])


def test_the_truss_ignore_applies_to_staging(echo_truss: Path, tmp_path: Path) -> None:
    """What the truss's own .truss_ignore leaves out of the image is never copied, not even into the stage."""
    (echo_truss / "data").mkdir()
    (echo_truss / "data" / "speech.bin").write_bytes(b"x" * 1024)
    (echo_truss / "model" / "notes.tmp").write_text("scratch")
    built = local_truss.build(echo_truss, tmp_path / "with_data")
    assert (tmp_path / "with_data" / "truss" / "data" / "speech.bin").is_file()  # the data dir, without an ignore
    assert (built.app_dir / "data" / "speech.bin").is_file()

    (echo_truss / ".truss_ignore").write_text("/*\n!/config.yaml\n!/model\n!/packages\n!/.truss_ignore\n*.tmp\n")
    built = local_truss.build(echo_truss, tmp_path / "ignored")
    stage = tmp_path / "ignored" / "truss"
    assert not (stage / "data").exists() and not (built.app_dir / "data").exists()
    assert not (stage / "model" / "notes.tmp").exists()
    assert (stage / ".truss_ignore").is_file()
    assert (built.app_dir / "model" / "model.py").is_file()
    assert (built.packages_dir / "echo_lib" / "__init__.py").is_file()
