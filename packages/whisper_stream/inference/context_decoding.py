"""Decoding a final in context: the prefix forced, only the new words kept, and the check that they continue it.

Pure helpers of the transcriber's decode path (token lists in, token lists and words out).
"""

from __future__ import annotations

from whisper_stream.inference.requests import DecodeOptions
from whisper_stream.protocol.results import Word
from whisper_stream.samples import SAMPLE_RATE_HZ

_CONTINUATION_CHECK_WORDS = 3
_MAX_SECONDS_PER_WORD = 3.0
"""Fewer words than one per this many seconds of utterance: the decoder stopped early (seen: an
utterance of 20 words decoded in context as ".", the prefix's sentence ended and nothing more)."""


def continues(prefix: str, text: str, duration_s: float = 0.0) -> bool:
    """Whether ``text`` looks like what follows ``prefix`` in ``duration_s`` of audio: some words (not just
    the end of the prefix's sentence, "."), not far too few for the audio, not the prefix's last words again."""
    new = _words(text)
    if not new or len(new) < duration_s / _MAX_SECONDS_PER_WORD:
        return False
    tail = _words(prefix)[-_CONTINUATION_CHECK_WORDS:]
    return len(tail) < 2 or new[: len(tail)] != tail  # one word said again can be speech ("Stop. Stop!")


def _words(text: str) -> list[str]:
    words = ("".join(c for c in word.lower() if c.isalnum()) for word in text.split())
    return [word for word in words if word]


def prompt_with_prefix(model: object, tokenizer: object, options: DecodeOptions) -> tuple[list[int], list[int]]:
    """The decoder's prompt (previous text, start of transcript, prefix) and the prefix's tokens."""
    previous = tokenizer.encode(" " + options.prompt.strip()) if options.prompt else []  # type: ignore[attr-defined]
    prompt = model.get_prompt(tokenizer, previous, without_timestamps=True, prefix=options.prefix)  # type: ignore[attr-defined]
    prefix = tokenizer.encode(" " + options.prefix.strip()) if options.prefix else []  # type: ignore[attr-defined]
    prefix = prefix[: model.max_length // 2 - 1]  # type: ignore[attr-defined]  # as get_prompt cuts it
    return prompt, prompt[len(prompt) - len(prefix) :] if prefix else []


def new_tokens(sequence: list[int], prefix: list[int]) -> list[int] | None:
    """The generated tokens after the forced prefix; None if the output does not start with it."""
    if sequence[: len(prefix)] != prefix:
        return None
    return list(sequence[len(prefix) :])


def utterance_words(alignment: list[dict], prefix_tokens: int, context_samples: int, samples: int) -> tuple[Word, ...]:
    """The aligned words after the prefix, in seconds from the utterance's start, inside it."""
    offset_s = context_samples / SAMPLE_RATE_HZ
    end_s = (samples - context_samples) / SAMPLE_RATE_HZ
    words, seen_tokens = [], 0
    for timing in alignment:
        seen_tokens += len(timing["tokens"])
        if seen_tokens <= prefix_tokens or not timing["word"]:
            continue
        start_s = min(max(float(timing["start"]) - offset_s, 0.0), end_s)
        words.append(
            Word(
                timing["word"].strip(),
                start_s,
                min(max(float(timing["end"]) - offset_s, start_s), end_s),
                float(timing["probability"]),
            )
        )
    return tuple(words)
