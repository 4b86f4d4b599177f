"""The speculative final of a pause: when a session asks for it, and when it ends its utterance early.

When speech pauses (the VAD's first non-speech frames, plus ``speech_pad_ms``), the utterance so far is
decoded as its final would be; if the silence lasts ``min_silence_duration_ms`` that decode becomes the final
(the session promotes it), so the final's decode hides inside the wait. It is asked for only in order (every
earlier final sent: else the decoder is behind), once the utterance holds ``min_speech_duration_ms`` of
speech, and not again in a pause whose early final the engine refused.

The sentence endpoint (``min_silence_after_sentence_ms``, opt-in, shorter than ``min_silence_duration_ms``):
once the early final's text ends a sentence (``.``, ``?``, ``!`` and their CJK forms; not ``...``, which
trails off), the utterance ends after this shorter silence. The words say the turn is complete, so a voice
agent gets its final sooner; a pause mid-sentence still waits the full silence, so the VAD does not cut
sentences (which costs accuracy: bench/voice_agent.py).
"""

from __future__ import annotations

from whisper_stream.core.utterances import Utterance
from whisper_stream.protocol.config import VadOptions
from whisper_stream.samples import SAMPLE_RATE_HZ

SENTENCE_ENDS = (".", "?", "!", "。", "？", "！")
TRAILING_OFF = ("...", "…")


def ends_a_sentence(text: str) -> bool:
    """Whether ``text`` ends with a sentence's final punctuation (closing quotes and brackets aside)."""
    stripped = text.rstrip().rstrip("\"'”’)]」』")
    return stripped.endswith(SENTENCE_ENDS) and not stripped.endswith(TRAILING_OFF)


class EarlyFinals:
    def __init__(self, vad: VadOptions, *, enabled: bool, min_speech_frames: int) -> None:
        self.enabled = enabled
        self._min_speech_frames = min_speech_frames
        short_ms = vad.min_silence_after_sentence_ms
        self._sentence_silence_samples = None if short_ms is None else short_ms * SAMPLE_RATE_HZ // 1000

    def should_ask(self, utterance: Utterance, *, in_order: bool, vad_position: int, end_sample: int) -> bool:
        """Whether to ask now for the early final of ``utterance`` up to ``end_sample`` (its pause's start
        plus the padding), with the VAD at ``vad_position``."""
        return (
            self.enabled
            and utterance.final_request is None
            and not utterance.early_final_refused
            and in_order
            and vad_position >= end_sample
            and utterance.speech_frames >= self._min_speech_frames
        )

    def sentence_over(self, utterance: Utterance, *, silence_start: int | None, vad_position: int) -> bool:
        """Whether the pause that began at ``silence_start`` ends ``utterance`` now: its early final is in and
        ends a sentence, and the silence has lasted ``min_silence_after_sentence_ms``."""
        if self._sentence_silence_samples is None or silence_start is None:
            return False
        early = utterance.final_request
        return (
            early is not None
            and early.result is not None
            and vad_position - silence_start >= self._sentence_silence_samples
            and ends_a_sentence(early.result.text)
        )
