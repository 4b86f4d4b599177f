"""Finals decoded in context: the audio before an utterance, with the words already sent for it.

Whisper is weakest on short audio heard alone, and the VAD cuts sentences at
short pauses. So a final is decoded over the audio of the finals sent just
before it as well, with their words forced as the decoder's prefix: the
decoder hears the whole sentence but only generates what follows the prefix,
and finals already sent never change. The context is whole sent utterances
(and the pauses between them), at most ``context_s`` before the utterance,
and context plus utterance fit Whisper's 30 s window. Pure bookkeeping: no
model, no clock.
"""

from __future__ import annotations

import dataclasses
from collections import deque

from whisper_stream.core.prompting import PROMPT_HISTORY_CHARS
from whisper_stream.inference.requests import DecodeOptions
from whisper_stream.samples import SAMPLE_RATE_HZ

CONTEXT_S = 29.0
"""Audio kept and decoded before a final's utterance: as much as fits the window. Measured with
bench/finals_wer.py (tiny.en, beam 1, make bench's 179 s stream): WER 11.2 % without context, 10.3 %
with 5 s or 10 s, 8.4 % with 20 s, 6.7 % with 29 s (offline 8.7 %)."""
WINDOW_S = 29.0
"""Context plus utterance must fit Whisper's 30 s window; the margin keeps the last words off its edge."""


@dataclasses.dataclass(frozen=True)
class SentFinal:
    start_sample: int
    end_sample: int
    text: str


class FinalContext:
    """The recent finals a session sent, and the context they give the next final."""

    def __init__(self, client_prompt: str = "", condition_on_previous: bool = True, *, context_s: float = CONTEXT_S):
        self._context_samples = int(context_s * SAMPLE_RATE_HZ)
        self._window_samples = int(WINDOW_S * SAMPLE_RATE_HZ)
        self._client_prompt = client_prompt.strip()
        self._condition_on_previous = condition_on_previous
        self._recent: deque[SentFinal] = deque()
        self._earlier_text = ""
        """Text of the finals before ``_recent``: the prompt when the recent ones are the prefix."""

    @property
    def enabled(self) -> bool:
        return self._context_samples > 0

    def sent(self, start_sample: int, end_sample: int, text: str) -> None:
        """A final went out. One without words (noise) breaks the context: its audio has no prefix."""
        if not text:
            self._forget(len(self._recent))
            return
        self._recent.append(SentFinal(start_sample, end_sample, text))

    def drop_stale_context(self, next_start_sample: int, unsent_start_sample: int | None = None) -> int:
        """Forget the sent finals too old to be context of a final that starts at ``next_start_sample`` or
        later, and return the first sample of audio to keep for it.

        ``unsent_start_sample``: where the ended utterances whose finals are not sent yet start; once sent,
        they are context too.
        """
        if self._context_samples <= 0:
            return next_start_sample
        oldest = next_start_sample - self._context_samples
        while self._recent and self._recent[0].start_sample < oldest:
            self._forget(1)
        keep = [next_start_sample, *(final.start_sample for final in list(self._recent)[:1])]
        if unsent_start_sample is not None:
            keep.append(max(unsent_start_sample, oldest))
        return min(keep)

    def apply(self, options: DecodeOptions, start_sample: int, end_sample: int, held_from: int) -> DecodeOptions:
        """``options`` for a final of ``[start_sample, end_sample)`` in context, if it has any.

        ``held_from``: the first sample the caller still holds. The caller must only ask this when every
        earlier final is sent, so the prefix is all that was said in the context.
        """
        if not self._recent or self._recent[-1].end_sample > start_sample or self._context_samples <= 0:
            return options
        oldest = max(held_from, start_sample - self._context_samples, end_sample - self._window_samples)
        chosen = [final for final in self._recent if final.start_sample >= oldest]
        if not chosen:
            return options
        earlier = [final.text for final in list(self._recent)[: len(self._recent) - len(chosen)]]
        history = " ".join([self._earlier_text, *earlier]).strip() if self._condition_on_previous else ""
        return dataclasses.replace(
            options,
            prompt=self._client_prompt or None,
            history=history[-PROMPT_HISTORY_CHARS:].strip() or None,
            prefix=" ".join(final.text for final in chosen),
            context_samples=start_sample - chosen[0].start_sample,
        )

    def _forget(self, count: int) -> None:
        for _ in range(count):
            text = self._recent.popleft().text
            self._earlier_text = (self._earlier_text + " " + text).strip()[-PROMPT_HISTORY_CHARS:]
