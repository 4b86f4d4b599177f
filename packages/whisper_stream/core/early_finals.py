"""The speculative final of a pause: when a session asks for it.

When speech pauses (the VAD's first non-speech frames, plus ``speech_pad_ms``), the utterance so far is
decoded as its final would be; if the silence lasts ``min_silence_duration_ms`` that decode becomes the final
(the session promotes it), so the final's decode hides inside the wait. It is asked for only in order (every
earlier final sent: else the decoder is behind), once the utterance holds ``min_speech_duration_ms`` of
speech, and not again in a pause whose early final the engine refused.
"""

from __future__ import annotations

from whisper_stream.core.utterances import Utterance


class EarlyFinals:
    def __init__(self, *, enabled: bool, min_speech_frames: int) -> None:
        self.enabled = enabled
        self._min_speech_frames = min_speech_frames

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
