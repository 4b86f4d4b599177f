"""The unmodified livekit-plugins-baseten 1.8.9 (Python) against the real local server.

The plugin runs in its own venv (``make clients``), driven by tests/compat/livekit-py/driver.py with
``livekit.rtc.AudioFrame``s, no room. It asks for ``audio_language: "en-US"`` and word timestamps,
as the plugin's users do. What it does on each close code: tests/compat/README.md.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.compat.conformance import (
    CLIENTS_DIR,
    REPO,
    SILENCE_MAX_S,
    SPEED,
    Stream,
    check_transcript,
    counting_proxy,
    events_from,
)
from tests.compat.conformance import two_librispeech as speech

pytestmark = pytest.mark.slow

PYTHON = CLIENTS_DIR / "livekit-py" / "bin" / "python"
DRIVER = REPO / "tests" / "compat" / "livekit-py" / "driver.py"


def run_driver(url: str, stream: Stream, tmp_path: Path, *args: str) -> list[dict[str, Any]]:
    if not PYTHON.exists():
        pytest.fail(f"{PYTHON} is missing: run `make clients` (make test does)")
    pcm = tmp_path / "speech.pcm"
    pcm.write_bytes(stream.pcm)
    command = [str(PYTHON), str(DRIVER), url, str(pcm), "--language", "en-US", "--tail", stream.tail]
    command += ["--speed", str(SPEED), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=150, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return events_from(done.stdout)


def test_agent_stream_gets_every_final_on_one_connection(ws_url: str, tmp_path: Path) -> None:
    """As in an agent: room audio (silence) goes on after the speech, then the stream is closed (aclose)."""
    stream = speech()
    with counting_proxy(ws_url) as proxy:
        events = run_driver(proxy.ws_url(), stream, tmp_path, "--silence-max-s", str(SILENCE_MAX_S))
    check_transcript(events, stream)
    assert proxy.connections == 1, events
    assert {e["language"] for e in events if e["event"] == "final"} == {"en"}


def test_end_input_without_terminate_still_gets_the_last_final(ws_url: str, tmp_path: Path) -> None:
    """end_input() sends the last samples and keeps the socket open; it never sends terminate_session."""
    stream = speech()
    with counting_proxy(ws_url) as proxy:
        # the wait ends as soon as that final comes; the ceiling is for a loaded machine, as SILENCE_MAX_S
        events = run_driver(proxy.ws_url(), stream, tmp_path, "--end-input", "--wait-s", str(SILENCE_MAX_S))
    check_transcript(events, stream)
    [ended] = [e["t_s"] for e in events if e["event"] == "input_ended"]
    assert any(e["event"] == "final" and e["t_s"] > ended for e in events), events
    assert proxy.connections == 1, events
