"""Utterances as the session sees them, and the ended ones whose finals go out strictly in order."""

from __future__ import annotations

import dataclasses

from whisper_stream.core.request_book import TrackedRequest
from whisper_stream.protocol.results import TranscriptionResult


@dataclasses.dataclass
class Utterance:
    num: int
    """Its ``transcription_num``: utterances are numbered in the order they start."""
    start_sample: int
    frame_probabilities: list[tuple[int, float]] = dataclasses.field(default_factory=list)
    """(frame start sample, speech probability) of each frame so far: where to cut one that runs too long."""
    speech_frames: int = 0
    last_partial_samples: int = 0
    final_request: TrackedRequest | None = None
    """The request whose result becomes the final: speculative (early) while the utterance is open."""
    end_sample: int | None = None
    ended_s: float = 0.0
    """When the session learned the utterance had ended (the time passed in with that input)."""
    final_without_context: bool = False
    """Its final was asked for alone, context being on, because the finals before it were not sent yet."""
    too_short: bool = False
    """Ended with less speech than ``min_speech_duration_ms``: never decoded, its final is empty."""
    partials_shown: bool = False
    early_final_refused: bool = False
    """The engine refused this pause's early final (busy): no other is asked for until speech resumes."""
    from_finalize: bool = False
    """Its final answers a client's ``finalize``: it is marked so, and sent even if empty."""
    end_of_audio_flush: bool = False
    """It was open at the end of stream: its final is part of the flush of the buffered audio."""
    eager_text: str | None = None
    """The text of the ``eager_end_of_turn`` sent for its current pause (None: none, or speech resumed)."""

    @property
    def final_ready(self) -> bool:
        return self.too_short or (self.final_request is not None and self.final_request.result is not None)

    @property
    def final_result(self) -> TranscriptionResult:
        if self.final_request is None or self.final_request.result is None:
            return TranscriptionResult.empty()
        return self.final_request.result

    def heard(self, frame_start_sample: int, probability: float, *, speech: bool) -> None:
        """One more frame of its audio scored by the VAD (``speech``: at or over the gate's threshold)."""
        self.frame_probabilities.append((frame_start_sample, probability))
        self.speech_frames += speech

    def quietest_frame(self, from_sample: int) -> int | None:
        """Start of the least speech-like frame from ``from_sample`` on (ties: the latest), if any."""
        candidates = [(p, -start) for start, p in self.frame_probabilities if start >= from_sample]
        return -min(candidates)[1] if candidates else None


class EndedUtterances:
    """Utterances that ended and whose final is not sent yet, handed out in ``num`` order only."""

    def __init__(self) -> None:
        self._by_num: dict[int, Utterance] = {}
        self.next_num = 0
        """The ``num`` of the next final to send: earlier ones are all sent."""

    def add(self, utterance: Utterance) -> None:
        self._by_num[utterance.num] = utterance

    def get(self, num: int) -> Utterance | None:
        return self._by_num.get(num)

    def __contains__(self, num: int) -> bool:
        return num in self._by_num

    def __bool__(self) -> bool:
        return bool(self._by_num)

    @property
    def samples(self) -> int:
        return sum(u.end_sample - u.start_sample for u in self._by_num.values() if u.end_sample is not None)

    @property
    def first_start_sample(self) -> int | None:
        return min((u.start_sample for u in self._by_num.values()), default=None)

    def latest(self) -> Utterance | None:
        """The last ended utterance whose final is not sent yet, if any."""
        return self._by_num[max(self._by_num)] if self._by_num else None

    def pop_ready(self) -> Utterance | None:
        """The next utterance in order, if its final is ready (it is then no longer held here)."""
        utterance = self._by_num.get(self.next_num)
        if utterance is None or not utterance.final_ready:
            return None
        del self._by_num[utterance.num]
        self.next_num += 1
        return utterance
