"""A replay of the community pipecat BasetenSTTService's wire behaviour against the real local server.

tests/compat/pipecat_replay.py says what it reproduces and where it comes from. Its first message
carries a top-level ``"include_timing_info": true`` and ``audio_language: "auto"``.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.compat.conformance import PIPECAT_WER_BOUND, SILENCE_MAX_S, SPEED, check_transcript, counting_proxy, jfk
from tests.compat.pipecat_replay import replay

pytestmark = pytest.mark.slow


def test_pipeline_stream_gets_every_final_on_one_connection(ws_url: str) -> None:
    stream = jfk()
    with counting_proxy(ws_url) as proxy:
        events = asyncio.run(
            replay(proxy.ws_url(), stream.pcm, tail=stream.tail, silence_max_s=SILENCE_MAX_S, speed=SPEED)
        )
    check_transcript(events, stream, wer_bound=PIPECAT_WER_BOUND)
    assert proxy.connections == 1, events
    # What it ignored: no error and no warning (its metadata is all accepted); empty transcripts are fine.
    ignored = [e["message"].get("type") for e in events if e["event"] == "ignored"]
    assert set(ignored) <= {"transcription", "speech_started", "speech_ended", "session_end"}, ignored
