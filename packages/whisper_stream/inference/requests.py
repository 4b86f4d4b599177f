"""What a session asks of Whisper: the request types shared by session, engine and transcriber.

This module sits below all three (it imports only numpy), so inference never
depends on the streaming policy that produces the requests.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

import numpy as np

from whisper_stream.samples import SAMPLE_RATE_HZ

"""Every request's audio is 16 kHz mono float32; positions are indexes at this rate."""


class RequestKind(enum.Enum):
    """What a decode is for, in the order the engine serves them (finals first)."""

    FINAL = "final"
    """The final of an utterance that has ended: sent to the client as soon as it is done."""
    EARLY_FINAL = "early_final"
    """Speculative: the final of an utterance that may be ending (speech paused). Never outranks a
    ``FINAL``, never counts as backlog, withdrawn if speech resumes; promoted to ``FINAL`` if it does not."""
    PARTIAL = "partial"
    """The utterance so far, while it goes on: greedy, skipped when the decoder is busy."""

    @property
    def priority(self) -> int:
        return _PRIORITY[self]

    @property
    def is_final(self) -> bool:
        """Decoded like a final (final beam, fallback); a speculative final is one."""
        return self is not RequestKind.PARTIAL


_PRIORITY = {RequestKind.FINAL: 0, RequestKind.EARLY_FINAL: 1, RequestKind.PARTIAL: 2}


@dataclass(frozen=True)
class DecodeOptions:
    language: str | None
    """A fixed language code, or None to detect it per utterance."""
    prompt: str | None
    """The client's own prompt (``whisper_params.prompt``): kept in every language."""
    word_timestamps: bool
    language_options: tuple[str, ...] = ()
    """With ``language`` None: detection only picks among these (all languages when empty)."""
    prompt_language: str | None = None
    """The language of the previous finals in ``history``: text in another language misleads."""
    history: str | None = None
    """The end of what the session's previous finals said, prompted after ``prompt`` only in a decode in
    ``prompt_language`` (``language_choice.prompt_for``)."""
    context_samples: int = 0
    """How many of the audio's first samples are context: audio before the utterance, already sent as
    finals. Results (text and times) cover only what follows it; times count from the end of the context."""
    prefix: str | None = None
    """With context: the words already sent for it, forced as the decoder's prefix so that only the
    utterance's own words are generated."""

    def without_context(self, audio: np.ndarray) -> tuple[np.ndarray, DecodeOptions]:
        """``audio`` (context, then utterance) and these options for the same decode of the utterance alone.

        The context's words stay in the prompt: they move to the end of the history (the prompt keeps the
        words nearest the utterance when it must cut)."""
        history = " ".join(text for text in (self.history, self.prefix) if text) or None
        return audio[self.context_samples :], dataclasses.replace(self, context_samples=0, prefix=None, history=history)

    def utterance_s(self, audio: np.ndarray) -> float:
        """How long the utterance in ``audio`` is: what follows the context, what results cover."""
        return (audio.size - self.context_samples) / SAMPLE_RATE_HZ


@dataclass(frozen=True, eq=False)  # compared by identity: each request is one decode
class TranscriptionRequest:
    request_id: int
    """Unique within its session."""
    kind: RequestKind
    transcription_num: int
    audio: np.ndarray
    """The utterance's audio, preceded by ``options.context_samples`` of context."""
    start_sample: int
    """Where the utterance starts (after the context): the results' times count from here."""
    options: DecodeOptions

    @property
    def duration_s(self) -> float:
        """The audio decoded, context included."""
        return self.audio.size / SAMPLE_RATE_HZ

    @property
    def end_sample(self) -> int:
        return self.start_sample + self.audio.size - self.options.context_samples

    def without_context(self) -> TranscriptionRequest:
        """The same request without its context: the utterance's audio only, nothing forced."""
        if not self.options.context_samples and self.options.prefix is None:
            return self
        audio, options = self.options.without_context(self.audio)
        return dataclasses.replace(self, audio=audio, options=options)
