"""The sans-I/O streaming core: one ``Session`` per connection.

Audio (16 kHz float32) and the time go in; transcription requests, withdrawals
of requests and outgoing messages come out. The session never decodes anything:
it asks for a decode with a ``TranscriptionRequest`` and is handed the result
later, so tests can script results and an engine can batch requests across
sessions. It never reads a clock either: time is an argument, and
``next_deadline_s`` says when to ``tick``. Positions are absolute 16 kHz sample
indexes; they become seconds only in messages.

Each request has one lifecycle, kept by a ``RequestBook``: pending until
answered, then done or cancelled. Every utterance gets exactly one final, in
order; ``session_end`` comes once no request is pending.

Early finals: when speech pauses, the utterance so far is decoded at once as a
speculative ``EARLY_FINAL`` while the session waits out ``min_silence_duration_ms``.
If the silence lasts, that request is promoted to the final, so the final's
latency hides inside the wait; if speech resumes, it is withdrawn.
"""

from __future__ import annotations

import enum
import itertools
from typing import Any

import numpy as np

from whisper_stream.audio.vad import FRAME_SAMPLES, SpeechEnd, SpeechScorer, SpeechStart, VadGate
from whisper_stream.core.arrivals import ArrivalLog
from whisper_stream.core.buffer import SampleBuffer
from whisper_stream.core.early_finals import EarlyFinals
from whisper_stream.core.final_context import CONTEXT_S, FinalContext
from whisper_stream.core.outbox import Outbox, SpeakerSettings
from whisper_stream.core.partials import PartialPolicy
from whisper_stream.core.prompting import SamplingLimits, decode_options, sampling_for
from whisper_stream.core.request_book import RequestBook, TrackedRequest
from whisper_stream.core.utterances import EndedUtterances, Utterance
from whisper_stream.inference.requests import RequestKind, TranscriptionRequest
from whisper_stream.protocol.config import SessionConfig
from whisper_stream.protocol.errors import ProtocolError
from whisper_stream.protocol.results import TranscriptionResult
from whisper_stream.samples import SAMPLE_RATE_HZ

INPUT_STALL_MARGIN_S = 0.5
"""A client that stops sending has stopped talking: once no audio arrived for ``min_silence_duration_ms``
plus this margin, the open utterance is finalised as if silence had come. The margin absorbs network
jitter (a TCP retransmit after Linux's 200 ms minimum RTO, then one more at 400 ms; a client's GC pause)
so that a stall mid-sentence does not split the utterance."""
_FRAME_MS = FRAME_SAMPLES * 1000 // SAMPLE_RATE_HZ


class SessionState(enum.Enum):
    STREAMING = "streaming"
    CLOSING = "closing"
    CLOSED = "closed"


class Session:
    """Streaming policy for one stream. Not thread-safe: one caller at a time."""

    def __init__(
        self,
        config: SessionConfig,
        scorer: SpeechScorer,
        *,
        condition_on_previous: bool = True,
        early_finals: bool = True,
        context_s: float = CONTEXT_S,
        sampling_limits: SamplingLimits = SamplingLimits(),
        speakers: SpeakerSettings | None = None,  # the server's speaker model's clustering; None: it has none
    ) -> None:
        self.config = config
        self.state = SessionState.STREAMING
        self._scorer = scorer
        vad = config.vad
        self._gate = VadGate(  # enable_vad false: every frame is speech, no gating
            threshold=vad.threshold if config.whisper.enable_vad else 0.0,
            min_silence_duration_ms=vad.min_silence_duration_ms,
            speech_pad_ms=vad.speech_pad_ms,
        )
        self._min_speech_frames = -(-vad.min_speech_duration_ms // _FRAME_MS)
        self._stall_s = vad.min_silence_duration_ms / 1000 + INPUT_STALL_MARGIN_S
        self._condition_on_previous = condition_on_previous
        self._max_utterance_samples = int(config.streaming.final_transcript_max_duration_s * SAMPLE_RATE_HZ)
        self._partials = PartialPolicy(config.streaming, min_speech_frames=self._min_speech_frames)
        self._early = EarlyFinals(enabled=early_finals, min_speech_frames=self._min_speech_frames)
        self._buffer = SampleBuffer()
        self._vad_position = 0
        self._last_audio_s: float | None = None
        self._open: Utterance | None = None
        self._ended = EndedUtterances()
        self._utterance_numbers = itertools.count()
        self._book = RequestBook()
        self._partial: TrackedRequest | None = None
        self._sampling, clamped = sampling_for(config, sampling_limits)
        self._outbox = Outbox.for_config(config, warnings=clamped, speakers=speakers)
        self._arrivals = ArrivalLog()
        self._last_final: TranscriptionResult | None = None
        self._context = FinalContext(config.whisper.prompt, condition_on_previous, context_s=context_s)
        self._now_s = 0.0  # the time passed in with the input being handled
        self.speech_samples = 0

    # ----------------------------------------------------------------- inputs

    def receive_audio(self, samples: np.ndarray, now_s: float) -> None:
        """Take 16 kHz samples (``now_s``: when they arrived); run the VAD over every complete frame."""
        if self.state is not SessionState.STREAMING:
            raise ProtocolError("audio received after end of stream")
        self._now_s = self._last_audio_s = now_s
        if samples.size == 0:
            return
        self._buffer.append(samples)
        self._arrivals.received(self._buffer.end, now_s)
        while self._buffer.end - self._vad_position >= FRAME_SAMPLES:
            self._score_frame(self._buffer.view(self._vad_position, self._vad_position + FRAME_SAMPLES))
        self._maybe_request_partial(now_s)
        self._trim_buffer()

    def finalize(self, now_s: float) -> None:
        """Make the current utterance final now; its final (none open: the last one to come; none at all: an
        empty final, so a client waiting for the answer never hangs) answers it, marked ``from_finalize``.

        In a pause, the utterance ends where the silence wait would have ended it: the early final already
        decoding covers exactly that, so the answer costs no second decode."""
        if self.state is not SessionState.STREAMING:
            raise ProtocolError("finalize received after end of stream")
        self._now_s = now_s
        answer = self._open or self._ended.latest()
        if answer is None:
            end = self._buffer.end
            answer = Utterance(next(self._utterance_numbers), end, end_sample=end, ended_s=now_s, too_short=True)
            self._ended.add(answer)
        answer.from_finalize = True
        self._close_open(self._gate.force_end(self._buffer.end))
        self._send_ready_finals()

    def tick(self, now_s: float) -> None:
        """Time passed without input: finalise an utterance whose audio stopped coming (see ``next_deadline_s``)."""
        self._now_s = now_s
        deadline = self.next_deadline_s
        if deadline is not None and now_s >= deadline:  # the client stopped sending: it stopped talking
            self._close_open(self._gate.force_end(self._buffer.end))

    def end_of_stream(self, now_s: float) -> None:
        """No more audio: everything buffered becomes finals, then ``session_end``."""
        if self.state is not SessionState.STREAMING:
            return
        self._now_s = now_s
        if (remainder := self._buffer.end - self._vad_position) > 0:  # score the last partial frame, zero-padded
            self._score_frame(self._buffer.zero_padded(self._vad_position, FRAME_SAMPLES), frame_samples=remainder)
        if self._open is not None:
            self._open.end_of_audio_flush = True
        self._close_open(self._gate.force_end(self._buffer.end))
        if self._partial is not None:
            self._book.withdraw(self._partial)
            self._partial = None
        self.state = SessionState.CLOSING
        self._maybe_close()

    def receive_result(self, request_id: int, result: TranscriptionResult, now_s: float | None = None) -> None:
        """A decode finished. ``now_s`` lets partials back off when decodes are slow."""
        tracked = self._book.answer(request_id, result)
        if tracked is None:
            return  # withdrawn after it was handed out: nobody waits for it any more
        request = tracked.request
        tracked.result = result.shifted(request.start_sample / SAMPLE_RATE_HZ)
        self._now_s = self._now_s if now_s is None else now_s
        if request.kind is RequestKind.PARTIAL:
            self._partial = None
            self._partials.pacer.answered(self._now_s)
            self._maybe_emit_partial(request, tracked.result)
        elif request.transcription_num in self._ended:
            self._send_ready_finals()
        else:  # an early final of the open utterance: show it while we wait to see if the silence lasts
            self._maybe_emit_partial(request, tracked.result)
            if self._open is not None:
                facts = self._arrivals.facts(request.start_sample, request.end_sample, self._now_s)
                self._outbox.eager_end_of_turn(self._open, tracked.result, facts)
        self._maybe_close()

    def request_dropped(self, request_id: int) -> None:
        """The engine did not run a request: a dropped partial or speculative final is forgotten (and no other
        speculative final is asked until speech resumes); a final is asked for again, so none is ever lost."""
        tracked = self._book.drop(request_id)
        if tracked is None:
            return
        num = tracked.request.transcription_num
        if tracked is self._partial:
            self._partial = None
        elif (utterance := self._ended.get(num)) is not None and utterance.final_request is tracked:
            utterance.final_request = self._book.ask_again_as_final(tracked)
        elif self._open is not None and self._open.final_request is tracked:
            self._open.final_request = None
            self._open.early_final_refused = True
        self._maybe_close()

    # ---------------------------------------------------------------- outputs

    def requests_to_run(self) -> list[TranscriptionRequest]:
        return self._book.take_to_run()

    def requests_to_cancel(self) -> list[int]:
        """Ids of requests handed out earlier that are no longer wanted: the engine may skip them."""
        return self._book.take_to_cancel()

    def requests_to_promote(self) -> list[int]:
        """Ids of speculative finals that became real finals: the engine should serve them as finals."""
        return self._book.take_to_promote()

    def messages_to_send(self) -> list[dict[str, Any]]:
        return self._outbox.take()

    @property
    def outbox(self) -> Outbox:
        return self._outbox

    @property
    def next_deadline_s(self) -> float | None:
        """When to call ``tick`` if no audio comes before: the input-stall rule for an open utterance."""
        if self._open is None or self._last_audio_s is None or self.state is not SessionState.STREAMING:
            return None
        return self._last_audio_s + self._stall_s

    @property
    def pending_requests(self) -> int:
        return self._book.pending

    @property
    def audio_duration_s(self) -> float:
        return self._buffer.end / SAMPLE_RATE_HZ

    @property
    def pending_final_samples(self) -> int:
        """Audio of ended utterances whose final is not sent yet (what backpressure watches; not speculative ones)."""
        return self._ended.samples

    @property
    def buffered_samples(self) -> int:
        return len(self._buffer)

    # ------------------------------------------------------------------ VAD

    def _score_frame(self, frame: np.ndarray, *, frame_samples: int = FRAME_SAMPLES) -> None:
        probability = self._scorer.score(frame)
        frame_start = self._vad_position
        event = self._gate.update(probability, frame_start + FRAME_SAMPLES)
        self._vad_position += frame_samples
        if isinstance(event, SpeechStart):
            self._open_utterance(event.sample)
        elif isinstance(event, SpeechEnd):
            self._close_open(event)
        utterance = self._open
        if utterance is None:
            return
        utterance.heard(frame_start, probability, speech=probability >= self._gate.threshold)
        if self._vad_position - utterance.start_sample >= self._max_utterance_samples:
            self._split_long_utterance()
        elif self._open is not None:
            self._track_early_final(self._open)

    def _track_early_final(self, utterance: Utterance) -> None:
        """Start the final's decode as soon as speech pauses; withdraw it if speech resumes."""
        silence_start = self._gate.silence_start_sample
        if silence_start is None:
            utterance.early_final_refused = False
            if utterance.final_request is not None:
                self._book.withdraw(utterance.final_request)
                utterance.final_request = None
            self._outbox.turn_resumed(utterance, self._vad_position - FRAME_SAMPLES)
            return
        end = min(silence_start + self._gate.speech_pad_samples, self._buffer.end)
        in_order = utterance.num == self._ended.next_num
        if self._early.should_ask(utterance, in_order=in_order, vad_position=self._vad_position, end_sample=end):
            utterance.final_request = self._request(RequestKind.EARLY_FINAL, utterance, end)

    def _open_utterance(self, start_sample: int) -> None:
        start_sample = max(start_sample, self._buffer.start)
        self._open = Utterance(next(self._utterance_numbers), start_sample)
        self._outbox.vad_event("speech_started", start_sample)

    def _close_open(self, end: SpeechEnd | None, *, reopen: bool = False) -> None:
        """The open utterance ended at ``end``: its final is the early one if that covers it, else a new one."""
        utterance = self._open
        if end is None or utterance is None:
            return
        self._open = None
        end_sample = min(end.sample, self._buffer.end)  # the gate pads; never past the audio we have
        utterance.end_sample = end_sample
        utterance.ended_s = self._now_s
        self._ended.add(utterance)
        self.speech_samples += end_sample - utterance.start_sample
        early = utterance.final_request
        if early is not None and early.request.end_sample == end_sample:
            self._book.promote(early)
        else:
            if early is not None:
                self._book.withdraw(early)
            utterance.final_request = None
            if utterance.speech_frames < self._min_speech_frames or end_sample <= utterance.start_sample:
                utterance.too_short = True  # too little speech to be worth a decode: noise, or a click
            else:  # in context if the finals before it are sent; else alone, now: the decoder is behind
                utterance.final_request = self._request(RequestKind.FINAL, utterance, end_sample)
        if reopen:
            self._open = Utterance(next(self._utterance_numbers), end_sample)
        else:
            self._outbox.vad_event("speech_ended", end_sample)
        self._send_ready_finals()

    def _split_long_utterance(self) -> None:
        """At the length cap, cut at the least speech-like frame of the second half."""
        utterance = self._open
        assert utterance is not None
        cut = utterance.quietest_frame(utterance.start_sample + self._max_utterance_samples // 2)
        cut = self._vad_position if cut is None else cut
        self._close_open(SpeechEnd(cut), reopen=True)
        if self._open is not None:  # the frames after the cut belong to the utterance that goes on
            for start, probability in utterance.frame_probabilities:
                if start >= cut:
                    self._open.heard(start, probability, speech=probability >= self._gate.threshold)

    # ------------------------------------------------------------- requests

    def _request(self, kind: RequestKind, utterance: Utterance, end_sample: int) -> TrackedRequest:
        """A decode of the utterance up to ``end_sample``; a final's in context if every earlier final is sent."""
        start, previous, in_order = utterance.start_sample, self._last_final, utterance.num == self._ended.next_num
        sampling = self._sampling if kind.is_final else self._sampling.for_partial()
        first = previous is None and in_order  # the first final with words to come: the client's prefix
        options = decode_options(self.config.whisper, previous, sampling, self._condition_on_previous, first)
        if kind.is_final and in_order:
            options = self._context.apply(options, start, end_sample, self._buffer.start)
        if kind.is_final:
            utterance.final_without_context = not in_order and self._context.enabled
        audio = self._buffer.copy(start - options.context_samples, end_sample)
        return self._book.ask(kind, utterance.num, audio, start, options)

    # ------------------------------------------------------------- partials

    def _maybe_request_partial(self, now_s: float) -> None:
        utterance = self._open
        if (
            utterance is not None
            and self._partial is None
            and self._partials.should_request(
                utterance,
                in_order=utterance.num == self._ended.next_num,
                paused=self._gate.silence_start_sample is not None,
                end_sample=self._buffer.end,
                now_s=now_s,
            )
        ):
            self._partial = self._request(RequestKind.PARTIAL, utterance, self._buffer.end)

    def _maybe_emit_partial(self, request: TranscriptionRequest, result: TranscriptionResult) -> None:
        num = request.transcription_num
        in_order = self._open is not None and self._open.num == num == self._ended.next_num
        if self._partials.should_show(self._open, result, in_order=in_order):
            facts = self._arrivals.facts(request.start_sample, request.end_sample, self._now_s)
            self._outbox.transcription(result, num, is_final=False, facts=facts)

    # --------------------------------------------------------------- finals

    def _send_ready_finals(self) -> None:
        """Send every final that is done and whose predecessors are sent, in order."""
        while (utterance := self._ended.pop_ready()) is not None:
            final = utterance.final_result
            # An empty final (noise the VAD took for speech) is only sent to replace partials or answer a finalize.
            if final.text or utterance.partials_shown or utterance.from_finalize:
                facts = self._arrivals.facts_of_final(utterance, self._now_s)
                self._outbox.transcription(
                    final, utterance.num, is_final=True, latency_s=self._now_s - utterance.ended_s, facts=facts
                )
                self._outbox.finals_without_context += int(utterance.final_without_context)
            if final.text:
                self._last_final = final
            self._context.sent(utterance.start_sample, utterance.end_sample or utterance.start_sample, final.text)

    # ---------------------------------------------------------------- misc

    def _trim_buffer(self) -> None:
        """Keep only what a future request can need: the open utterance, or the pre-roll, and the context."""
        if self._open is not None:
            keep_from = self._open.start_sample
        else:
            keep_from = self._vad_position - self._gate.speech_pad_samples - FRAME_SAMPLES
        # and the context of the next final: the finals sent just before, and those not sent yet
        self._buffer.drop_before(self._context.drop_stale_context(keep_from, self._ended.first_start_sample))
        self._arrivals.drop_before(self._buffer.start)

    def _maybe_close(self) -> None:
        if self.state is SessionState.CLOSING and not self._ended and not self._book.pending:
            self.state = SessionState.CLOSED
            self._outbox.session_end(
                audio_duration_s=self.audio_duration_s, speech_duration_s=self.speech_samples / SAMPLE_RATE_HZ
            )
