"""When the server read each stretch of a session's audio: what pipeline latency counts from, and the facts
a transcript message carries besides its words (``TranscriptFacts``).

The session is handed the time with every frame (it never reads a clock); this log keeps, per frame, the
first sample after it and when it arrived, so that a transcript's latency can count from the arrival of the
frame that held its last sample. Trimmed with the session's buffer: a few thousand entries at most.
"""

from __future__ import annotations

import bisect

from whisper_stream.core.utterances import Utterance
from whisper_stream.protocol.messages import TranscriptFacts
from whisper_stream.samples import SAMPLE_RATE_HZ


class ArrivalLog:
    def __init__(self) -> None:
        self._ends: list[int] = []
        self._times_s: list[float] = []

    def received(self, end_sample: int, now_s: float) -> None:
        """Audio up to (not including) ``end_sample`` had arrived by ``now_s``."""
        if self._ends and end_sample <= self._ends[-1]:
            return
        self._ends.append(end_sample)
        self._times_s.append(now_s)

    def arrival_s(self, end_sample: int) -> float | None:
        """When the frame holding the sample just before ``end_sample`` arrived (None: nothing logged)."""
        if not self._ends:
            return None
        index = min(bisect.bisect_left(self._ends, end_sample), len(self._ends) - 1)
        return self._times_s[index]

    def drop_before(self, sample: int) -> None:
        """Forget the frames that ended at or before ``sample`` (the last one is always kept)."""
        cut = min(bisect.bisect_right(self._ends, sample), len(self._ends) - 1)
        if cut > 0:
            del self._ends[:cut]
            del self._times_s[:cut]

    def facts(self, start_sample: int, end_sample: int, now_s: float) -> TranscriptFacts:
        """What a transcript of ``[start_sample, end_sample)`` ready at ``now_s`` says besides its words."""
        arrived_s = self.arrival_s(end_sample)
        latency_s = None if arrived_s is None else now_s - arrived_s
        return TranscriptFacts((end_sample - start_sample) / SAMPLE_RATE_HZ, latency_s)

    def facts_of_final(self, utterance: Utterance, now_s: float) -> TranscriptFacts:
        """The same for an ended utterance's final, with how long the VAD took to know it had ended."""
        end_sample = utterance.end_sample or utterance.start_sample
        facts = self.facts(utterance.start_sample, end_sample, now_s)
        arrived_s = self.arrival_s(end_sample)
        return TranscriptFacts(
            facts.audio_length_s,
            facts.latency_s,
            endpointing_s=None if arrived_s is None else max(utterance.ended_s - arrived_s, 0.0),
            from_finalize=utterance.from_finalize,
            end_of_audio_flush=utterance.end_of_audio_flush,
            differs_from_eager=None
            if utterance.eager_text is None
            else utterance.final_result.text != utterance.eager_text,
        )
