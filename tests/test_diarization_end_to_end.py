"""Who said it, through the real local server (truss's own), the real tiny.en, the bundled speaker test model.

Two LibriSpeech test-other speakers take turns (A B A B, 1.2 s pauses), each coming back after the other: every
final of a turn carries that turn's speaker, the two speakers get two labels, and the labels stay put when a
speaker returns. The server waits for a final's embedding as long as it takes (``DIARIZATION_MAX_WAIT_MS``
in tests/conftest.py): nothing here depends on the clock. These clips were chosen where the test model
separates the two voices with margin (same speaker: cosine 0.68-0.88 to the centroid, threshold 0.55).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from tests import baseten_types as baseten
from tests.speech import REPO, SPEECH_DIR, load_16k
from tests.stream_client import StreamResult, stream

pytestmark = pytest.mark.slow

SR = 16_000
PAUSE_S = 1.2
TURNS = [
    ("A", "1688-142285-0003"),
    ("B", "3005-163389-0001"),
    ("A", "1688-142285-0002"),
    ("B", "3005-163389-0002"),
]


def two_speakers() -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    """The stream, and each turn's speaker with its span in seconds."""
    pieces, spans, at_s = [], [], 0.0
    for who, name in TURNS:
        clip = load_16k(SPEECH_DIR / "librispeech_test_other" / f"{name}.flac")
        pause = np.zeros(int(PAUSE_S * SR), dtype=np.float32)
        pieces += [pause, clip]
        spans.append((who, at_s + PAUSE_S, at_s + PAUSE_S + clip.size / SR))
        at_s += PAUSE_S + clip.size / SR
    return np.concatenate([*pieces, np.zeros(SR, dtype=np.float32)]), spans


def config(**whisper: Any) -> dict[str, Any]:
    return {
        "streaming_vad_config": {"threshold": 0.5, "min_silence_duration_ms": 300, "speech_pad_ms": 30},
        "streaming_params": {"encoding": "pcm_s16le", "sample_rate": SR, "enable_partial_transcripts": True},
        "whisper_params": {"audio_language": "en", **whisper},
        "include_timing_info": True,
    }


def run(url: str, document: dict[str, Any]) -> StreamResult:
    audio, _ = two_speakers()
    result = asyncio.run(stream(url, audio, config=document, timeout_s=600.0))
    assert result.close_code == 1000, (result.close_code, result.of_type("error"))
    for message in result.of_type("transcription"):
        baseten.StreamingWhisperResult.model_validate(message)
    return result


def turn_of(segment: dict[str, Any], spans: list[tuple[str, float, float]]) -> int:
    """The turn a segment overlaps most."""
    overlaps = [min(segment["end_time"], end) - max(segment["start_time"], start) for _, start, end in spans]
    return int(np.argmax(overlaps))


def test_finals_carry_each_turn_s_speaker_and_the_labels_stay_put(ws_url: str) -> None:
    result = run(ws_url, config(enable_diarization=True, show_word_timestamps=True))
    assert result.of_type("warning") == []
    _, spans = two_speakers()
    finals = [f for f in result.finals if f["transcript"]]
    assert len(finals) >= len(TURNS)
    labels_of_turn: dict[int, set[str]] = {}
    for final in finals:
        for segment in final["segments"]:
            assert segment["speaker"] in ("0", "1") and 0.0 <= segment["speaker_confidence"] <= 1.0
            assert {word["speaker"] for word in segment["word_timestamps"]} <= {segment["speaker"]}
            labels_of_turn.setdefault(turn_of(segment, spans), set()).add(segment["speaker"])
        assert final["timing_info"]["diarization_duration_s"] is not None
    assert sorted(labels_of_turn) == [0, 1, 2, 3]  # every turn was heard
    assert all(len(labels) == 1 for labels in labels_of_turn.values()), labels_of_turn  # one speaker a turn
    speakers = [labels.pop() for _, labels in sorted(labels_of_turn.items())]
    assert speakers == ["0", "1", "0", "1"]  # A first, B second, each the same when they come back
    assert all("speaker" not in segment for partial in result.partials for segment in partial["segments"])


def test_a_session_that_does_not_ask_gets_no_speakers(ws_url: str) -> None:
    audio, _ = two_speakers()
    result = asyncio.run(stream(ws_url, audio[: 8 * SR], config=config(), timeout_s=600.0))
    assert result.close_code == 1000 and result.finals
    assert all("speaker" not in s for final in result.finals for s in final["segments"])
    assert all(final["timing_info"]["diarization_duration_s"] is None for final in result.finals)


def test_the_cli_asked_to_diarize_writes_who_said_each_line(ws_url: str, tmp_path: Path) -> None:
    audio, _ = two_speakers()
    wav, txt, srt = tmp_path / "two.wav", tmp_path / "out.txt", tmp_path / "out.srt"
    soundfile.write(wav, audio, SR)
    done = subprocess.run(
        [sys.executable, "-m", "client", "--url", ws_url, "--file", str(wav), "--fast", "--diarize",
         "--txt", str(txt), "--srt", str(srt), "--finish-timeout-s", "600"],
        cwd=REPO, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = txt.read_text().splitlines()
    assert lines and all(line.startswith(("S0: ", "S1: ")) for line in lines), lines
    assert lines[0].startswith("S0: ") and any(line.startswith("S1: ") for line in lines)
    assert "S0: " in srt.read_text() and "S0: " in done.stdout
