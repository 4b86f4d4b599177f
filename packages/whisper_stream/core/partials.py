"""When a session may ask for its next partial.

A partial re-decodes the whole utterance so far, so partials are paced: at most
one every ``partial_transcript_interval_s``, and, when decodes come back slowly,
no more often than keeps the decoder busy with this session's partials half of
the time (the gap grows to twice the last round trip).
"""

from __future__ import annotations

from whisper_stream.core.utterances import Utterance
from whisper_stream.protocol.config import StreamingOptions
from whisper_stream.protocol.results import TranscriptionResult
from whisper_stream.samples import SAMPLE_RATE_HZ

PARTIAL_DUTY_CYCLE = 0.5
MIN_PARTIAL_SAMPLES = SAMPLE_RATE_HZ * 3 // 10
"""No partial of less than 0.3 s of audio: too little for Whisper to say anything worth showing."""


class PartialPacer:
    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last_request_s = float("-inf")
        self._round_trip_s = 0.0

    @property
    def gap_s(self) -> float:
        """Time between partial requests: the configured interval, longer when decodes are slow."""
        return max(self.interval_s, self._round_trip_s / PARTIAL_DUTY_CYCLE)

    def due(self, now_s: float) -> bool:
        return now_s - self._last_request_s >= self.gap_s

    def requested(self, now_s: float) -> None:
        self._last_request_s = now_s

    def answered(self, now_s: float) -> None:
        self._round_trip_s = max(now_s - self._last_request_s, 0.0)


class PartialPolicy:
    """Which partials a session asks for (paced, only while speech goes on) and which it shows."""

    def __init__(self, streaming: StreamingOptions, *, min_speech_frames: int) -> None:
        self.enabled = streaming.enable_partial_transcripts
        self._skip_hallucinated = streaming.skip_partial_if_hallucination
        self._min_speech_frames = min_speech_frames
        self.pacer = PartialPacer(streaming.partial_transcript_interval_s)

    def should_request(
        self, utterance: Utterance, *, in_order: bool, paused: bool, end_sample: int, now_s: float
    ) -> bool:
        """Whether to decode ``utterance`` up to ``end_sample`` as a partial now (and, if so, note it asked).

        Only for the utterance whose final comes next (``in_order``), while speech goes on (not ``paused``:
        the early final covers a pause), once it holds enough speech, as often as the pacer allows, and only
        if the audio grew by an interval since the last partial."""
        if not self.enabled or paused or not in_order or utterance.speech_frames < self._min_speech_frames:
            return False
        if not self.pacer.due(now_s):
            return False
        length = end_sample - utterance.start_sample
        grown = length - utterance.last_partial_samples
        if length < MIN_PARTIAL_SAMPLES or grown < self.pacer.interval_s * SAMPLE_RATE_HZ:
            return False
        utterance.last_partial_samples = length
        self.pacer.requested(now_s)
        return True

    def should_show(self, utterance: Utterance | None, result: TranscriptionResult, *, in_order: bool) -> bool:
        """Whether a decode of the open ``utterance`` goes out as a partial (and, if so, note it was shown)."""
        if (
            not self.enabled
            or utterance is None
            or not in_order
            or not result.text
            or (self._skip_hallucinated and result.possible_hallucination)
        ):
            return False
        utterance.partials_shown = True
        return True
