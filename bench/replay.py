"""Replay audio through the real streaming core, offline: the ``Session`` with the real silero VAD and the
real Whisper transcriber, on a simulated clock, each decode answered as soon as it is asked.

This is the sans-I/O core driven exactly as the server drives it (frames in, requests out, results in,
withdrawals honoured), minus the network and the scheduler: the finals it gives are the ones the server
gives when the decoder keeps up. Decodes are cached by audio and options, so comparing settings that
change only a few utterances (a minimum speech duration, say) costs only those decodes.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "packages"))

from whisper_stream.core.session import Session, SessionState  # noqa: E402
from whisper_stream.inference.requests import TranscriptionRequest  # noqa: E402
from whisper_stream.protocol.config import SessionConfig  # noqa: E402
from whisper_stream.protocol.results import TranscriptionResult  # noqa: E402
from whisper_stream.samples import SAMPLE_RATE_HZ  # noqa: E402

FRAME_SAMPLES = 512


@dataclass
class Replayer:
    """One VAD model and one transcriber, shared by every replay; decodes cached."""

    transcriber: Any
    vad_model: Any
    decodes: int = 0
    cache_hits: int = 0
    _cache: dict[tuple, TranscriptionResult] = field(default_factory=dict)

    @classmethod
    def with_bundled_model(cls, *, beam_size: int = 1) -> Replayer:
        from whisper_stream.audio.silero import SileroVadModel
        from whisper_stream.inference.model_source import resolve_model_source
        from whisper_stream.inference.transcriber import FasterWhisperTranscriber, TranscriberOptions

        transcriber = FasterWhisperTranscriber(
            resolve_model_source(""), TranscriberOptions(device="cpu", final_beam_size=beam_size)
        )
        return cls(transcriber, SileroVadModel())

    def decode(self, request: TranscriptionRequest) -> TranscriptionResult:
        final = request.kind.is_final
        key = (hashlib.sha1(request.audio.tobytes()).hexdigest(), request.options, final)
        if key in self._cache:
            self.cache_hits += 1
            return self._cache[key]
        self.decodes += 1
        result = self.transcriber.transcribe(request.audio, request.options, final=final)
        self._cache[key] = result
        return result

    def replay(self, audio: np.ndarray, config: SessionConfig, *, speed: float = 1.0) -> list[dict[str, Any]]:
        """Every message the session sends for ``audio`` streamed in 512-sample frames at ``speed``."""
        session = Session(config, self.vad_model.new_scorer())
        sent: list[dict[str, Any]] = []
        for offset in range(0, audio.size, FRAME_SAMPLES):
            frame = audio[offset : offset + FRAME_SAMPLES]
            now_s = (offset + frame.size) / SAMPLE_RATE_HZ / speed
            session.receive_audio(frame, now_s)
            self._answer(session, now_s)
            sent += session.messages_to_send()
        session.end_of_stream(audio.size / SAMPLE_RATE_HZ / speed)
        for _ in range(10):
            self._answer(session, audio.size / SAMPLE_RATE_HZ / speed)
            sent += session.messages_to_send()
            if session.state is SessionState.CLOSED:
                break
        return sent

    def _answer(self, session: Session, now_s: float) -> None:
        while True:
            session.requests_to_cancel()
            session.requests_to_promote()
            requests = session.requests_to_run()
            if not requests:
                return
            for request in requests:
                session.receive_result(request.request_id, self.decode(request), now_s=now_s)


def finals(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("type") == "transcription" and m["is_final"] and m["transcript"]]
