"""The shipped clients against the real local server: the CLI, and Baseten's example client unmodified."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.speech import REPO, manifest, wer

pytestmark = pytest.mark.slow

DEMO = REPO / "samples" / "demo.flac"


def run_client(
    *args: str, timeout_s: float = 240.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # A safety net only: the client gives up by itself after 30 s without a message from
    # the server. A loaded machine (load average 19 on 2 cores) needed over 120 s for the
    # demo sample's finals.
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_cli_streams_a_file_and_writes_every_output(ws_url: str, tmp_path: Path) -> None:
    txt, jsonl, srt = tmp_path / "out.txt", tmp_path / "out.jsonl", tmp_path / "out.srt"
    done = run_client(
        "client", "--url", ws_url, "--file", str(DEMO), "--speed", "8",
        "--txt", str(txt), "--jsonl", str(jsonl), "--srt", str(srt), "--timestamps",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    reference = (REPO / "samples" / "demo.txt").read_text()
    assert wer(reference, txt.read_text()) <= 0.15, txt.read_text()
    messages = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert messages[-1]["type"] == "session_end"
    finals = [m for m in messages if m.get("type") == "transcription" and m["is_final"]]
    assert len(finals) >= 4
    assert srt.read_text().startswith("1\n00:00:0")
    # stdout (not a terminal) carries the finals with their times
    assert "→" in done.stdout and "country" in done.stdout


def test_cli_reports_a_server_error_in_one_line(ws_url: str) -> None:
    done = run_client("client", "--url", ws_url, "--file", str(DEMO), "--fast", "--language", "xx")
    assert done.returncode == 6
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert "audio_language" in line and "'xx'" in line and "1008" in line


@pytest.mark.parametrize("path", ["/websocket", "/v1/websocket/", "/wrong"])
def test_a_wrong_path_is_named_as_such_not_as_a_key_problem(ws_url: str, path: str) -> None:
    wrong = ws_url.replace("/v1/websocket", path)
    done = run_client("client", "--url", wrong, "--file", str(DEMO), env={"BASETEN_API_KEY": "some-key"})
    assert done.returncode == 4, done.stderr
    [line] = done.stderr.splitlines()
    assert f"no WebSocket endpoint at {path} (HTTP 403" in line
    assert f"the path is probably wrong; the local server's is /v1/websocket, e.g. {ws_url}" in line


def test_baseten_example_client_works_unmodified(ws_url: str) -> None:
    """The example streams until its user quits: here once the last final is on screen.

    Up to 60 s of a quiet microphone after the speech, as a user waits for the last
    words: the test ends as soon as they come (the client ran 35.7 s for 11.7 s of
    speech at load average 10 on 2 cores; the old fixed 1.5 s of silence lost them).
    """
    utterance = manifest("librispeech_clean")[4]  # 11.7 s: time for partials even when decodes are slow
    started_s = time.monotonic()
    done = run_client("client.baseten_example", ws_url, str(utterance.path), "--tail-silence-s", "60", "--until-final")
    assert done.returncode == 0, done.stderr
    print(f"example client ran {time.monotonic() - started_s:.1f} s")
    lines = done.stdout.splitlines()
    partials = [line for line in lines if line.startswith("[partial]")]
    finals = [line.removeprefix("[final]").strip() for line in lines if line.startswith("[final]")]
    assert partials, done.stdout
    assert finals and wer(utterance.reference, " ".join(finals)) <= 0.2, done.stdout


def test_cli_decoding_prefix_and_no_vad_options(ws_url: str, tmp_path: Path) -> None:
    """JFK (11 s) without VAD gating: one utterance, its final the end-of-audio flush, continuing the prefix.

    Last in this module: its long final leaves the replica's partial budget spent for a few seconds
    (partial_budget.py), which would starve the partials the example client's test asks for.
    """
    jsonl = tmp_path / "out.jsonl"
    done = run_client(
        "client", "--url", ws_url, "--file", str(REPO / "data" / "speech" / "jfk.flac"), "--speed", "4",
        "--no-vad", "--max-utterance-s", "20", "--prefix", "And so,", "--beam-width", "2",
        "--temperatures", "0,0.4", "--repetition-penalty", "1.05", "--max-new-tokens", "100", "--no-partials",
        "--jsonl", str(jsonl),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    messages = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert not [m for m in messages if m.get("type") in ("warning", "error")], messages
    [final] = [m for m in messages if m.get("type") == "transcription" and m["is_final"]]
    assert final["is_end_of_audio_flush"] and final["transcript"].startswith("And so,"), final
    reference = (
        "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
    )
    assert wer(reference, final["transcript"]) <= 0.25, final["transcript"]
