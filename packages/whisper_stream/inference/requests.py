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

TRANSCRIBE = "transcribe"
TRANSLATE = "translate"
"""Whisper's two tasks: text in the language heard, or in English."""


@dataclass(frozen=True)
class Sampling:
    """How a decode searches: a session's ``whisper_sampling_params`` (clamped to the replica), its task and
    what it wants back. The defaults are the replica's own decode (CTranslate2's and faster-whisper's)."""

    beam_size: int | None = None
    """None: the replica's beam for the kind of decode (``WHISPER_BEAM_SIZE`` for finals, greedy partials)."""
    length_penalty: float = 1.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    """0: repeats allowed."""
    temperatures: tuple[float, ...] | None = None
    """Tried in turn while a final's text fails the hallucination guards; the first one for the direct decode
    (above 0: sampling, not beam search). None: the replica's (0 for partials, 0.0-1.0 by 0.2 for finals)."""
    max_new_tokens: int | None = None
    """At most this many tokens generated (None: as many as Whisper's 448-token decoder leaves)."""
    task: str = TRANSCRIBE
    beam_results: bool = False
    """Also return the n-best texts of the beam (``Segment.beam_results``)."""
    retry_below_wpm: float | None = None
    """A final with text but fewer words a minute of its audio than this is decoded again (None: never)."""

    @property
    def first_temperature(self) -> float:
        return self.temperatures[0] if self.temperatures else 0.0

    @property
    def batch_key(self) -> tuple[object, ...]:
        """What CTranslate2's ``generate`` takes once for a whole batch: decodes differing here cannot share one.
        (``max_new_tokens``, n-best and the fallback temperatures are applied per item.)"""
        return (
            self.beam_size,
            self.length_penalty,
            self.repetition_penalty,
            self.no_repeat_ngram_size,
            self.first_temperature,
            self.task,
        )

    def for_partial(self) -> Sampling:
        """The same search for a partial: greedy at temperature 0 (the replica's partial beam), one text, no retry."""
        return dataclasses.replace(self, beam_size=None, temperatures=(0.0,), beam_results=False, retry_below_wpm=None)


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
    utterance's own words are generated. Without context: the client's ``prefix``, which the text then
    starts with (faster-whisper's ``prefix``)."""
    sampling: Sampling = Sampling()
    """How to search, the task, and what to return besides the text."""
    speaker_embedding: bool = False
    """A final's result also carries its utterance's speaker embedding, where the engine has a speaker model
    (``speaker_embeddings``): the session labels its finals with who said them."""

    def without_context(self, audio: np.ndarray, *, forget_said: bool = False) -> tuple[np.ndarray, DecodeOptions]:
        """``audio`` (context, then utterance) and these options for the same decode of the utterance alone.

        The context's words stay in the prompt: they move to the end of the history (the prompt keeps the
        words nearest the utterance when it must cut). ``forget_said``: neither stays, for a decode that
        copied them (``context_decoding.repeats_what_was_said``)."""
        history = None if forget_said else " ".join(text for text in (self.history, self.prefix) if text) or None
        return audio[self.context_samples :], dataclasses.replace(self, context_samples=0, prefix=None, history=history)

    def said(self) -> str:
        """What the session's finals already said, as far as this decode's prompt and prefix carry it."""
        return " ".join(text for text in (self.history, self.prefix) if text)

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
        """The same request without its context: the utterance's audio only, no context's words forced
        (a client's prefix, which comes without context, is kept)."""
        if not self.options.context_samples:
            return self
        audio, options = self.options.without_context(self.audio)
        return dataclasses.replace(self, audio=audio, options=options)
