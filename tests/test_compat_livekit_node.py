"""The unmodified @livekit/agents-plugin-baseten 1.3.0 (Node) against the real local server.

Installed pinned with ``npm ci`` into .build/clients/livekit-node (``make clients``) and driven by
tests/compat/livekit-node/driver.cjs. It sends the older field layout with partials off and word
timestamps on, and ``audio_language: "en-US"``. Its ``endInput()`` closes the socket right after the
last frame, so the last utterance needs its trailing silence to reach us first; as in an agent, the
driver keeps streaming silence until that final arrives (findings: tests/compat/README.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.compat.conformance import (
    CLIENTS_DIR,
    REPO,
    SILENCE_MAX_S,
    SPEED,
    check_transcript,
    counting_proxy,
    events_from,
    jfk,
)

pytestmark = pytest.mark.slow

NODE_MODULES = CLIENTS_DIR / "livekit-node" / "node_modules"
DRIVER = REPO / "tests" / "compat" / "livekit-node" / "driver.cjs"


def test_agent_stream_gets_every_final_on_one_connection(ws_url: str, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not (NODE_MODULES / "@livekit" / "agents-plugin-baseten").is_dir():
        pytest.fail(f"node or {NODE_MODULES} is missing: run `make clients` (make test does)")
    stream = jfk()
    pcm = tmp_path / "speech.pcm"
    pcm.write_bytes(stream.pcm)
    env = {**os.environ, "NODE_PATH": str(NODE_MODULES)}
    with counting_proxy(ws_url) as proxy:
        command = [node, str(DRIVER), proxy.ws_url(), str(pcm), "en-US", stream.tail, str(SILENCE_MAX_S), str(SPEED)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=150, env=env, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    events = events_from(done.stdout)
    check_transcript(events, stream)
    [ended] = [e["t_s"] for e in events if e["event"] == "input_ended"]
    # the driver ends its input once the last final has arrived: in the same millisecond at the earliest
    assert all(e["t_s"] <= ended for e in events if e["event"] == "final"), events
    assert proxy.connections == 1, events
    assert {e["language"] for e in events if e["event"] == "final"} == {"en"}
