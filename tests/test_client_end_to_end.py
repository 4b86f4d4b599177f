"""The shipped clients against the real local server: the CLI, and Baseten's example client unmodified."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.speech import REPO, manifest, wer

pytestmark = pytest.mark.slow

DEMO = REPO / "samples" / "demo.flac"


def run_client(*args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout_s, check=False
    )


def test_cli_streams_a_file_and_writes_every_output(ws_url: str, tmp_path: Path) -> None:
    txt, jsonl, srt = tmp_path / "out.txt", tmp_path / "out.jsonl", tmp_path / "out.srt"
    done = run_client(
        "client", "--url", ws_url, "--file", str(DEMO), "--speed", "4",
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


def test_baseten_example_client_works_unmodified(ws_url: str) -> None:
    utterance = manifest("librispeech_clean")[1]
    done = run_client("client.baseten_example", ws_url, str(utterance.path), "--tail-silence-s", "1.5")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    partials = [line for line in lines if line.startswith("[partial]")]
    finals = [line.removeprefix("[final]").strip() for line in lines if line.startswith("[final]")]
    assert partials, done.stdout
    assert finals and wer(utterance.reference, " ".join(finals)) <= 0.2, done.stdout
