"""The rest of a prompted final whose decoder stopped at a segment it had just opened.

Timestamped, Whisper learned from 30 s windows cut in mid-speech to end a window's transcript early when the
speech seems to run on past it: it closes a segment, opens the next at the same time (``…has<|16.12|><|16.12|>``)
and stops, and faster-whisper's ``transcribe`` seeks to that time and decodes the rest in the next window. The
prompted form (``ContextForm.PROMPTED``) decodes one window, so the rest of the utterance was lost: on the
multilingual base model at beam 5 (test-other, 15 s of context) 10 of 215 finals in context stopped so, 0.9 to
5 s of audio before their end ("…may be given in cases of" for "…in cases of narcotic poisoning"), and the
prompted form deleted 65 words where a final alone deleted 27. The transcriber decodes the rest from the opened
segment's time, as the next window would: over the same audio, the words so far added to the prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from whisper_stream.inference.context_decoding import (
    PROMPT_BUDGET_TOKENS,
    TIMESTAMP_S,
    DecoderPrompt,
    encode,
    new_tokens,
    prompt_from_timestamp,
    repeats_what_was_said,
    without_cut_word,
    without_repeated_start,
)
from whisper_stream.inference.requests import DecodeOptions
from whisper_stream.samples import SAMPLE_RATE_HZ

MIN_REMAINING_S = 0.5
"""Less audio than this after the opened segment's time is the utterance's end (VAD's padding), not words."""
MAX_CONTINUATIONS = 2
"""Decodes of the rest after the first, at most (each one a generate call over the batch's encoder output)."""

Generate = Callable[[list[int], list[DecoderPrompt]], list[list[int]]]
"""Decodes the items at these indexes with these prompts; each one's best sequence of tokens."""


def opened_segment_index(sequence: Sequence[int], timestamp_begin: int) -> int | None:
    """The timestamp index of the segment that ``sequence`` opened and left empty at its end (text, then two
    timestamps), or None if it ended otherwise."""
    if len(sequence) >= 3 and sequence[-3] < timestamp_begin <= min(sequence[-2], sequence[-1]):
        return sequence[-1] - timestamp_begin
    return None


def continuation_prompt(
    tokenizer: Any, options: DecodeOptions, prompt: DecoderPrompt, text_tokens: list[int], index: int
) -> DecoderPrompt:
    """``prompt`` for the rest of the utterance from timestamp ``index``: the words before it (the context's and
    ``text_tokens``, the last ``PROMPT_BUDGET_TOKENS``) in the prompt, that timestamp forced."""
    said = (prompt.context_words + text_tokens)[-PROMPT_BUDGET_TOKENS:]
    return prompt_from_timestamp(tokenizer, options, said, index, prompt.context_words)


def continued(
    generate: Generate,
    tokenizer: Any,
    items: Sequence[tuple[np.ndarray, DecodeOptions]],
    prompts: Sequence[DecoderPrompt],
    sequences: Sequence[list[int]],
) -> list[list[int] | None]:
    """Each item's text tokens (those generated after its forced ones in its best of ``sequences``; None if it
    did not keep them), with the rest of its utterance decoded where the decoder stopped at a segment it opened,
    up to ``MAX_CONTINUATIONS`` times. A rest that only repeats the words already said is dropped, and the item
    is left as it was."""
    texts = [
        new_tokens(sequence, prompt.forced, tokenizer.eot) for sequence, prompt in zip(sequences, prompts, strict=True)
    ]
    last = list(sequences)
    for _ in range(MAX_CONTINUATIONS):
        todo: list[tuple[int, DecoderPrompt]] = []
        for i, ((audio, options), sequence) in enumerate(zip(items, last, strict=True)):
            index = opened_segment_index(sequence, tokenizer.timestamp_begin)
            text = texts[i]
            if index is None or text is None or audio.size / SAMPLE_RATE_HZ - index * TIMESTAMP_S < MIN_REMAINING_S:
                continue
            todo.append((i, continuation_prompt(tokenizer, options, prompts[i], text, index)))
        if not todo:
            break
        for (i, prompt), sequence in zip(todo, generate([i for i, _ in todo], [p for _, p in todo]), strict=True):
            text, rest = at_seam(tokenizer, texts[i] or [], new_tokens(sequence, prompt.forced, tokenizer.eot) or [])
            said = f"{items[i][1].said()} {tokenizer.decode(text)}"
            if rest and not repeats_what_was_said(said, tokenizer.decode(rest)):
                texts[i], last[i] = text + rest, sequence
            else:
                last[i] = []
    return texts


def at_seam(tokenizer: Any, text: list[int], rest: list[int]) -> tuple[list[int], list[int]]:
    """``text`` and ``rest`` to join: started at the opened segment's time, the decoder may hear again a word that
    ends just before it ("…in cases of" + "of narcotic poisoning", seen on test-other), dropped from ``rest``
    (``without_repeated_start``); or hear whole a word that ``text`` cut ("…will astrayal" + "will
    astrayalously"), dropped from ``text`` (``without_cut_word``)."""
    said, heard = tokenizer.decode(text), tokenizer.decode(rest)
    if (whole := without_cut_word(said, heard)) != said:
        return encode(tokenizer, whole), rest
    kept = without_repeated_start(said, heard)
    return text, rest if kept == heard else encode(tokenizer, kept)
