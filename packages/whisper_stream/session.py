"""The sans-I/O streaming core: one ``Session`` per connection.

Audio (16 kHz float32) and the current time go in; transcription requests and
outgoing messages come out. The session never decodes anything itself: it asks
for a decode with a ``TranscriptionRequest`` and is handed the result later, so
tests can script results and an engine can schedule requests across sessions.

Positions are absolute 16 kHz sample indexes from the start of the stream; they
become seconds only in messages.

Early finals: when the VAD sees speech stop, the utterance (up to the silence
plus padding) is decoded at once, while the session waits out
``min_silence_duration_ms``. If the silence lasts, that decode is the final, so
the final's latency hides inside the silence wait; if speech resumes, its result
is shown as a partial and the final is decoded later as usual.
"""

from __future__ import annotations

import enum
import itertools
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from whisper_stream import messages
from whisper_stream.buffer import SampleBuffer
from whisper_stream.config import SessionConfig
from whisper_stream.errors import ProtocolError
from whisper_stream.results import TranscriptionResult
from whisper_stream.vad import FRAME_SAMPLES, SAMPLE_RATE_HZ, SpeechEnd, SpeechScorer, SpeechStart, VadGate

logger = logging.getLogger(__name__)

MIN_PARTIAL_SAMPLES = SAMPLE_RATE_HZ * 3 // 10
# A partial re-decodes the whole utterance so far: keep the decoder busy with
# partials at most half the time, whatever the configured interval.
PARTIAL_DUTY_CYCLE = 0.5
PROMPT_HISTORY_CHARS = 200


class SessionState(enum.Enum):
    STREAMING = "streaming"
    CLOSING = "closing"
    CLOSED = "closed"


class RequestKind(enum.Enum):
    PARTIAL = "partial"
    FINAL = "final"


@dataclass(frozen=True)
class DecodeOptions:
    language: str | None
    prompt: str | None
    word_timestamps: bool


@dataclass(frozen=True)
class TranscriptionRequest:
    request_id: int
    kind: RequestKind
    transcription_num: int
    audio: np.ndarray
    start_sample: int
    options: DecodeOptions

    @property
    def duration_s(self) -> float:
        return self.audio.size / SAMPLE_RATE_HZ


@dataclass
class _Utterance:
    num: int
    start_sample: int
    frame_probabilities: list[tuple[int, float]]
    last_partial_samples: int = 0
    early_final: TranscriptionRequest | None = None
    early_result: TranscriptionResult | None = None


class Session:
    """Streaming policy for one stream. Not thread-safe: one caller at a time."""

    def __init__(
        self,
        config: SessionConfig,
        scorer: SpeechScorer,
        *,
        condition_on_previous: bool = True,
        early_finals: bool = True,
    ) -> None:
        self.config = config
        self._early_finals_enabled = early_finals
        self.state = SessionState.STREAMING
        self._scorer = scorer
        self._gate = VadGate(
            threshold=config.vad.threshold,
            min_silence_duration_ms=config.vad.min_silence_duration_ms,
            speech_pad_ms=config.vad.speech_pad_ms,
        )
        self._condition_on_previous = condition_on_previous
        self._max_utterance_samples = int(config.streaming.final_transcript_max_duration_s * SAMPLE_RATE_HZ)
        self._partial_interval_s = config.streaming.partial_transcript_interval_s
        self._buffer = SampleBuffer()
        self._vad_position = 0
        self._utterance: _Utterance | None = None
        self._utterance_numbers = itertools.count()
        self._request_ids = itertools.count()
        self._requests: list[TranscriptionRequest] = []
        self._outbox: list[dict[str, Any]] = []
        self._in_flight: dict[int, TranscriptionRequest] = {}
        self._final_ids: set[int] = set()
        self._early: dict[int, _Utterance] = {}
        self._partial_in_flight = False
        self._last_partial_s = float("-inf")
        self._partial_round_trip_s = 0.0
        self._finished_finals: dict[int, tuple[TranscriptionRequest, TranscriptionResult]] = {}
        self._next_final_num = 0
        self._last_final_text = ""
        self._nums_with_partials: set[int] = set()
        self.finals_sent = 0
        self.partials_sent = 0
        self.speech_samples = 0

    # ----------------------------------------------------------------- inputs

    def receive_audio(self, samples: np.ndarray, now_s: float) -> None:
        """Take 16 kHz samples; run the VAD over every complete frame."""
        if self.state is not SessionState.STREAMING:
            raise ProtocolError("audio received after end of stream")
        self._buffer.append(samples)
        while self._buffer.end - self._vad_position >= FRAME_SAMPLES:
            self._score_next_frame(self._frame_at(self._vad_position))
        self._maybe_request_partial(now_s)
        self._trim_buffer()

    def finalize(self, now_s: float) -> None:
        """Make the current utterance final now, without waiting for silence."""
        if self.state is not SessionState.STREAMING:
            raise ProtocolError("finalize received after end of stream")
        self._close_utterance(self._gate.force_end(self._buffer.end))

    def end_of_stream(self, now_s: float) -> None:
        """No more audio: everything buffered becomes finals, then ``session_end``."""
        if self.state is not SessionState.STREAMING:
            return
        remainder = self._buffer.end - self._vad_position
        if remainder > 0:
            frame = np.zeros(FRAME_SAMPLES, dtype=np.float32)
            frame[:remainder] = self._frame_at(self._vad_position)[:remainder]
            self._score_next_frame(frame, frame_samples=remainder)
        self._close_utterance(self._gate.force_end(self._buffer.end))
        self.state = SessionState.CLOSING
        self._maybe_close()

    def receive_result(self, request_id: int, result: TranscriptionResult, now_s: float | None = None) -> None:
        """A decode finished. ``now_s`` lets partials back off when decodes are slow."""
        request = self._in_flight.pop(request_id)
        if request.kind is RequestKind.PARTIAL and now_s is not None:
            self._partial_round_trip_s = max(now_s - self._last_partial_s, 0.0)
        shifted = result.shifted(request.start_sample / SAMPLE_RATE_HZ)
        if request_id in self._final_ids:
            self._final_ids.discard(request_id)
            self._accept_final(request, shifted)
            return
        utterance = self._early.pop(request_id, None)
        if utterance is not None:
            utterance.early_result = shifted  # kept in case the silence lasts
        elif request.kind is RequestKind.PARTIAL:
            self._partial_in_flight = False
        self._maybe_emit_partial(request, shifted)
        self._maybe_close()  # this may have been the last request in flight, answered after the last final

    def _maybe_emit_partial(self, request: TranscriptionRequest, result: TranscriptionResult) -> None:
        utterance = self._utterance
        if (
            self.config.streaming.enable_partial_transcripts
            and utterance is not None
            and utterance.num == request.transcription_num == self._next_final_num
            and result.text
        ):
            self._emit_transcription(result, request.transcription_num, is_final=False)

    def _accept_final(self, request: TranscriptionRequest, result: TranscriptionResult) -> None:
        self._finished_finals[request.transcription_num] = (request, result)
        while self._next_final_num in self._finished_finals:
            _, final = self._finished_finals.pop(self._next_final_num)
            # An empty final (noise the VAD took for speech) is only sent to replace partials.
            if final.text or self._next_final_num in self._nums_with_partials:
                self._emit_transcription(final, self._next_final_num, is_final=True)
            if final.text:
                self._last_final_text = final.text
            self._next_final_num += 1
        self._maybe_close()

    def partial_skipped(self, request_id: int) -> None:
        """The engine was too busy for this partial; it is dropped, not queued."""
        self._in_flight.pop(request_id)
        self._partial_in_flight = False
        self._maybe_close()

    # ---------------------------------------------------------------- outputs

    def requests_to_run(self) -> list[TranscriptionRequest]:
        requests, self._requests = self._requests, []
        return requests

    def messages_to_send(self) -> list[dict[str, Any]]:
        outbox, self._outbox = self._outbox, []
        return outbox

    @property
    def audio_duration_s(self) -> float:
        return self._buffer.end / SAMPLE_RATE_HZ

    @property
    def pending_final_samples(self) -> int:
        """Audio in finals requested but not yet sent: what backpressure watches."""
        waiting = sum(r.audio.size for r in self._in_flight.values() if r.kind is RequestKind.FINAL)
        return waiting + sum(r.audio.size for r, _ in self._finished_finals.values())

    @property
    def buffered_samples(self) -> int:
        return len(self._buffer)

    # --------------------------------------------------------------- internals

    def _frame_at(self, position: int) -> np.ndarray:
        return self._buffer.view(position, min(position + FRAME_SAMPLES, self._buffer.end))

    def _score_next_frame(self, frame: np.ndarray, *, frame_samples: int = FRAME_SAMPLES) -> None:
        probability = self._scorer.score(frame)
        frame_end = self._vad_position + FRAME_SAMPLES
        event = self._gate.update(probability, frame_end)
        self._vad_position += frame_samples
        if isinstance(event, SpeechStart):
            self._open_utterance(event.sample)
        elif isinstance(event, SpeechEnd):
            self._close_utterance(event)
        if self._utterance is not None:
            self._utterance.frame_probabilities.append((self._vad_position - frame_samples, probability))
            if self._vad_position - self._utterance.start_sample >= self._max_utterance_samples:
                self._split_long_utterance()
        if self._utterance is not None:
            self._track_early_final(self._utterance)

    def _track_early_final(self, utterance: _Utterance) -> None:
        """Start decoding as soon as speech seems to stop; forget that decode if it resumes."""
        silence_start = self._gate.silence_start_sample
        if silence_start is None:
            if utterance.early_final is not None:
                self._forget_early_final(utterance)
            return
        end = silence_start + self._gate.speech_pad_samples
        if utterance.early_final is None and self._early_finals_enabled and self._vad_position >= end:
            utterance.early_final = self._request(RequestKind.FINAL, utterance, end)
            self._early[utterance.early_final.request_id] = utterance

    def _forget_early_final(self, utterance: _Utterance) -> None:
        """Speech went on: the early decode's result, when it comes, is only a partial."""
        if utterance.early_final is not None:
            self._early.pop(utterance.early_final.request_id, None)
        utterance.early_final = None
        utterance.early_result = None

    def _open_utterance(self, start_sample: int) -> None:
        start_sample = max(start_sample, self._buffer.start)
        self._utterance = _Utterance(next(self._utterance_numbers), start_sample, [])
        if self.config.send_vad_events:
            self._outbox.append(messages.vad_event_message("speech_started", start_sample / SAMPLE_RATE_HZ))

    def _close_utterance(self, end: SpeechEnd | None, *, reopen_at: int | None = None) -> None:
        utterance = self._utterance
        if end is None or utterance is None:
            return
        self._utterance = None
        early = utterance.early_final
        if early is not None and early.start_sample + early.audio.size == end.sample:
            self._early.pop(early.request_id, None)
            if utterance.early_result is not None:
                self._accept_final(early, utterance.early_result)
            else:
                self._final_ids.add(early.request_id)
        else:
            self._forget_early_final(utterance)
            self._final_ids.add(self._request(RequestKind.FINAL, utterance, end.sample).request_id)
        self.speech_samples += end.sample - utterance.start_sample
        if reopen_at is not None:
            self._utterance = _Utterance(next(self._utterance_numbers), reopen_at, [])
        elif self.config.send_vad_events:
            self._outbox.append(messages.vad_event_message("speech_ended", end.sample / SAMPLE_RATE_HZ))

    def _split_long_utterance(self) -> None:
        """At the length cap, cut at the least speech-like frame of the second half."""
        utterance = self._utterance
        assert utterance is not None
        half = utterance.start_sample + self._max_utterance_samples // 2
        candidates = [(p, -start) for start, p in utterance.frame_probabilities if start >= half]
        cut = -min(candidates)[1] if candidates else self._vad_position  # ties: the latest frame
        tail = [(start, p) for start, p in utterance.frame_probabilities if start >= cut]
        self._close_utterance(SpeechEnd(cut), reopen_at=cut)
        if self._utterance is not None:
            self._utterance.frame_probabilities.extend(tail)

    def _maybe_request_partial(self, now_s: float) -> None:
        utterance = self._utterance
        if (
            utterance is None
            or not self.config.streaming.enable_partial_transcripts
            or self._partial_in_flight
            or self._gate.silence_start_sample is not None
            or utterance.num != self._next_final_num
            or now_s - self._last_partial_s < self._partial_gap_s
        ):
            return
        length = self._buffer.end - utterance.start_sample
        grown = length - utterance.last_partial_samples
        if length < MIN_PARTIAL_SAMPLES or grown < self._partial_interval_s * SAMPLE_RATE_HZ:
            return
        utterance.last_partial_samples = length
        self._last_partial_s = now_s
        self._partial_in_flight = True
        self._request(RequestKind.PARTIAL, utterance, self._buffer.end)

    @property
    def _partial_gap_s(self) -> float:
        """Time between partial requests: the configured interval, longer when decodes are slow."""
        return max(self._partial_interval_s, self._partial_round_trip_s / PARTIAL_DUTY_CYCLE)

    def _request(self, kind: RequestKind, utterance: _Utterance, end_sample: int) -> TranscriptionRequest:
        audio = self._buffer.copy(utterance.start_sample, end_sample)
        request = TranscriptionRequest(
            request_id=next(self._request_ids),
            kind=kind,
            transcription_num=utterance.num,
            audio=audio,
            start_sample=utterance.start_sample,
            options=self._decode_options(),
        )
        self._in_flight[request.request_id] = request
        self._requests.append(request)
        return request

    def _decode_options(self) -> DecodeOptions:
        whisper = self.config.whisper
        parts = [whisper.prompt.strip()]
        if self._condition_on_previous:
            parts.append(self._last_final_text[-PROMPT_HISTORY_CHARS:].strip())
        prompt = " ".join(p for p in parts if p)
        return DecodeOptions(
            language=None if whisper.audio_language == "auto" else whisper.audio_language,
            prompt=prompt or None,
            word_timestamps=whisper.show_word_timestamps,
        )

    def _emit_transcription(self, result: TranscriptionResult, num: int, *, is_final: bool) -> None:
        self._outbox.append(
            messages.transcription_message(
                result,
                is_final=is_final,
                transcription_num=num,
                word_timestamps=self.config.whisper.show_word_timestamps,
            )
        )
        if is_final:
            self.finals_sent += 1
        else:
            self.partials_sent += 1
            self._nums_with_partials.add(num)

    def _trim_buffer(self) -> None:
        """Keep only what a future request can need: the open utterance, or the pre-roll."""
        if self._utterance is not None:
            keep_from = self._utterance.start_sample
        else:
            keep_from = self._vad_position - self._gate.speech_pad_samples - FRAME_SAMPLES
        self._buffer.drop_before(keep_from)

    def _maybe_close(self) -> None:
        if self.state is SessionState.CLOSING and not self._in_flight:
            self.state = SessionState.CLOSED
            self._outbox.append(
                messages.session_end_message(
                    audio_duration_s=self.audio_duration_s,
                    speech_duration_s=self.speech_samples / SAMPLE_RATE_HZ,
                    finals_sent=self.finals_sent,
                    partials_sent=self.partials_sent,
                )
            )
