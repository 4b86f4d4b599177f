"""Decoding a final in context: what the decoder is prompted with, what it is forced to start with, which of
its tokens are the final's own, and the check that they continue the words before.

A final in context is decoded over the audio of the finals sent just before it as well (``context_samples``),
so that the decoder hears the whole sentence; the words already sent for that audio (``DecodeOptions.prefix``)
tell it what was said there. Three forms (``ContextForm``):

- ``PROMPTED`` (the default): the words already sent go into the ``<|startofprev|>`` prompt, after the client's
  prompt and the history, and timestamps are on; the one forced token is the timestamp at which the utterance
  starts in the window (``START_LEAD_S`` before it), so the decoder transcribes from there. CTranslate2 runs
  every prompt token before the start-of-transcript tokens in one forward pass (``src/models/whisper.cc``,
  ``forward_prompt``), so the words cost about what a prefill costs, not a decoder step each;
- ``FORCED``: the words already sent are forced as the decoder's prefix, timestamps off. CTranslate2 passes the
  tokens after the task tokens to the search as prefix ids, which ``src/decoding.cc`` forces one decoding step
  each: the words cost as many decoder steps as generating them again (bench/context_cost.py: x1.73 alone's cost
  on tiny.en);
- ``TAIL``: the earlier words in the prompt, the last ``TAIL_FORCED_TOKENS`` forced, timestamps off. Beam search
  gains little over a timestamped decode, which the prompted form is (bench/beam_gap.py); the tail form is not
  timestamped and costs a few decoder steps. On the multilingual base model at beam 5 it keeps 93 % of forced's
  gain on test-other; on tiny.en greedy it loses its place in the window and invents sentences in the pauses.

Pure helpers of the transcriber's decode path (text and token lists in, token lists and words out).
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import math
import re
from dataclasses import dataclass
from typing import Any

from whisper_stream.inference.requests import DecodeOptions
from whisper_stream.protocol.results import Word
from whisper_stream.samples import SAMPLE_RATE_HZ

_CONTINUATION_CHECK_WORDS = 3
_REPEATED_START_MAX_WORDS = 8
"""``without_repeated_start`` drops at most this many of the prefix's last words said again (seen on
test-other at beam 5: the previous final's whole "The stories regarding Joseph." heard again first)."""
_CUT_WORD_MIN_LETTERS = 4
_MAX_SECONDS_PER_WORD = 3.0
"""Fewer words than one per this many seconds of utterance: the decoder stopped early (seen: an
utterance of 20 words decoded in context as ".", the prefix's sentence ended and nothing more)."""
_COPY_NGRAM = 8
_COPY_NGRAM_UNSPACED = 4
_COPY_SHARE = 0.8
_COPY_STRETCH = 50
_COPY_STRETCH_UNSPACED = 16
"""``repeats_what_was_said``: runs of this many letters (CJK: the unspaced size) that the words already said
hold, covering this share of a decode's text or one unbroken stretch of ``_COPY_STRETCH`` letters (about ten
words; CJK: ``_COPY_STRETCH_UNSPACED``), make it a copy."""
MAX_TEXT_CONTEXT = 448
"""Whisper's decoder positions: prompt, start-of-transcript tokens and generated tokens together."""
PROMPT_BUDGET_TOKENS = MAX_TEXT_CONTEXT // 2 - 1
"""The most previous-text tokens a prompt carries (223, as Whisper and faster-whisper cut it)."""
TIMESTAMP_S = 0.02
"""One timestamp token's step."""
START_LEAD_S = 0.1
"""How much before the utterance's start the prompted form's forced timestamp is. The start is the VAD's (the
first frame silero scores as speech, less ``speech_pad_ms``), which can fall after a word's onset: at the cut
the decoder heard "The Zion" for "There's iron". From 0.1 s earlier it hears the onset; a word of the context
heard again is dropped (``without_repeated_start``) and the words' times stay inside the utterance. Replays
(bench/finals_wer.py, prompted as served, 2026-12-04): test-other, beams 1 / 5, tiny.en 13.94 / 13.36 % ->
13.21 / 12.74 %, the multilingual base model 11.84 / 10.90 % -> 11.74 / 10.32 %; 0.2 s was no better."""
LAST_TIMESTAMP_INDEX = 1500
"""``<|30.00|>``: the last timestamp of the 30 s window."""
MAX_NEW_TOKENS_PER_S = 12.0
MIN_NEW_TOKENS = 16
"""A decode generates at most ``MIN_NEW_TOKENS + MAX_NEW_TOKENS_PER_S`` tokens per second of its utterance:
fast English is ~5 tokens/s (4 words/s), Japanese and Chinese ~8-10; a decoder loop on noise fills Whisper's
224 whatever the audio's length, and holds a worker that long."""
_LEADING_PUNCTUATION = ",.;:!?、，。；：！？)]}-–—…"


class ContextForm(enum.Enum):
    PROMPTED = "prompted"
    FORCED = "forced"
    TAIL = "tail"


TAIL_FORCED_TOKENS = 8
"""``ContextForm.TAIL`` forces this many of the context's last tokens (tiny.en, test-other, beam 5: 4 tokens
13.99 %, worse than prompted; 8 tokens 12.79 %; 16 tokens 12.84 %: docs/performance.md)."""


@dataclass(frozen=True)
class DecoderPrompt:
    tokens: list[int]
    """Everything handed to ``generate`` for this item: previous text, start of transcript, forced tokens."""
    forced: list[int]
    """The tokens after the task tokens, which the decoder is forced to start its output with."""
    context_words: list[int]
    """The words already sent for the context audio, as text tokens: for the word alignment only."""
    max_initial_timestamp_index: int = 50
    """The latest timestamp the decoder may start at (CTranslate2's default: 1 s)."""


def decoder_prompt(model: Any, tokenizer: Any, options: DecodeOptions, form: ContextForm) -> DecoderPrompt:
    """The decoder's prompt for one item (``model``: faster-whisper's ``WhisperModel``; ``tokenizer``: its
    ``Tokenizer`` for the item's language and task)."""
    if options.prefix and not options.context_samples:  # the client's prefix: forced, as faster-whisper's
        client_prefix = encode(tokenizer, options.prefix)[:PROMPT_BUDGET_TOKENS]
        previous = previous_tokens(tokenizer, options.prompt, options.history, [])
        tokens = with_previous(tokenizer, previous) + list(tokenizer.sot_sequence) + [tokenizer.no_timestamps]
        return DecoderPrompt(tokens + client_prefix, client_prefix, client_prefix)
    in_context = bool(options.context_samples and options.prefix and options.prefix.strip())
    if in_context and form is ContextForm.PROMPTED:
        words = encode(tokenizer, without_cut_off_marks(options.prefix))[-PROMPT_BUDGET_TOKENS:]
        start_s = max(options.context_samples / SAMPLE_RATE_HZ - START_LEAD_S, 0.0)
        start_index = min(round(start_s / TIMESTAMP_S), LAST_TIMESTAMP_INDEX)
        return prompt_from_timestamp(tokenizer, options, words, start_index, words)
    context_words = encode(tokenizer, options.prefix)[-PROMPT_BUDGET_TOKENS:] if in_context else []
    forced = context_words[-TAIL_FORCED_TOKENS:] if form is ContextForm.TAIL else context_words
    earlier = context_words[: len(context_words) - len(forced)]  # the tail form's prompted words
    previous = previous_tokens(tokenizer, options.prompt, options.history, earlier)
    tokens = with_previous(tokenizer, previous) + list(tokenizer.sot_sequence) + [tokenizer.no_timestamps] + forced
    return DecoderPrompt(tokens, forced, context_words)


def prompt_from_timestamp(
    tokenizer: Any, options: DecodeOptions, said: list[int], start_index: int, context_words: list[int]
) -> DecoderPrompt:
    """The prompted form's prompt: ``said`` (the words before the decode's start, as tokens) after the client's
    prompt and the history (its cut-off dashes as full stops) in the prompt; the timestamp ``start_index``
    forced, and the latest the decoder may start at. ``context_words``: the context's words, for the alignment."""
    previous = previous_tokens(tokenizer, options.prompt, without_cut_off_marks(options.history), said)
    forced = [tokenizer.timestamp_begin + start_index]
    tokens = with_previous(tokenizer, previous) + list(tokenizer.sot_sequence) + forced
    return DecoderPrompt(tokens, forced, context_words, max_initial_timestamp_index=start_index)


def same_start_of_transcript(prompts: list[DecoderPrompt], tokenizer: Any) -> list[DecoderPrompt]:
    """``prompts`` with their previous text left-padded to one length: CTranslate2 decodes a batch only when
    the start-of-transcript token is at the same position in every item. The padding is blank tokens
    (``" "``) right after ``<|startofprev|>``, before the words; a batch of one is never padded."""
    starts = [prompt.tokens.index(tokenizer.sot) for prompt in prompts]
    longest = max(starts)
    if longest == min(starts):
        return prompts
    blank = tokenizer.encode(" ")
    padded = []
    for prompt, start in zip(prompts, starts, strict=True):
        previous = prompt.tokens[1:start] if start else []
        fill = blank * (longest - len(previous) - 1)
        padded.append(
            dataclasses.replace(prompt, tokens=[tokenizer.sot_prev, *fill, *previous, *prompt.tokens[start:]])
        )
    return padded


_CUT_OFF_MARK = re.compile(r"(?<=\w)-(?=\s|$)")


def without_cut_off_marks(text: str | None) -> str | None:
    """``text`` (finals already sent) with each word-final dash, Whisper's mark of speech cut off ("What do
    the-"), written as a full stop, for a prompt: the prompted decoder copies its prompt's style, and one such
    final made 106 of the 216 finals after it end in a dash (multilingual base, test-other, beam 5) where a
    final decoded alone ends with a full stop. What the client was sent is unchanged."""
    return _CUT_OFF_MARK.sub(".", text) if text else text


def previous_tokens(tokenizer: Any, prompt: str | None, history: str | None, context_words: list[int]) -> list[int]:
    """The previous text, at most ``PROMPT_BUDGET_TOKENS``: the context's words whole (they are what its audio
    says), then as much of the client's prompt as fits, from its start (the client's intent), then the end of
    the history (the words nearest the utterance)."""
    left = PROMPT_BUDGET_TOKENS - len(context_words)
    client = encode(tokenizer, prompt)[: max(left, 0)]
    left -= len(client)
    earlier = encode(tokenizer, history)[-left:] if left > 0 else []
    return client + earlier + context_words


def with_previous(tokenizer: Any, previous: list[int]) -> list[int]:
    return [tokenizer.sot_prev, *previous] if previous else []


def encode(tokenizer: Any, text: str | None) -> list[int]:
    return list(tokenizer.encode(" " + text.strip())) if text and text.strip() else []


def max_length(
    prompt_tokens: int, forced_tokens: int, utterance_s: float, client_max_new_tokens: int | None = None
) -> int:
    """``generate``'s ``max_length`` that lets the decoder write at most ``max_new_tokens(utterance_s)`` (or the
    client's ``max_new_tokens``, the smaller) after the ``forced_tokens`` at the end of its ``prompt_tokens``.

    CTranslate2 counts the prompt in ``max_length`` and, like Whisper's ``sample_len``, returns at most half of
    it, forced tokens included (measured with ctranslate2 4.8: returned <= min(max_length // 2,
    max_length - (prompt - forced) + 1)).
    """
    new = max_new_tokens(utterance_s)
    if client_max_new_tokens is not None:
        new = min(new, client_max_new_tokens)
    return min(MAX_TEXT_CONTEXT, max(2 * (forced_tokens + new), prompt_tokens + new - 1))


def max_new_tokens(utterance_s: float) -> int:
    return MIN_NEW_TOKENS + math.ceil(MAX_NEW_TOKENS_PER_S * max(utterance_s, 0.0))


def new_tokens(sequence: list[int], forced: list[int], eot: int) -> list[int] | None:
    """The text tokens generated after the forced ones (timestamps and other special tokens dropped);
    None if the output does not start with what was forced."""
    if sequence[: len(forced)] != forced:
        return None
    return [token for token in sequence[len(forced) :] if token < eot]


def continues(prefix: str, text: str, duration_s: float = 0.0) -> bool:
    """Whether ``text`` looks like what follows ``prefix`` in ``duration_s`` of audio: some words (not just
    the end of the prefix's sentence, "."), not far too few for the audio, not the prefix's last words again."""
    new = _words(text)
    if not new or len(new) < duration_s / _MAX_SECONDS_PER_WORD:
        return False
    tail = _words(prefix)[-_CONTINUATION_CHECK_WORDS:]
    return len(tail) < 2 or new[: len(tail)] != tail  # one word said again can be speech ("Stop. Stop!")


def repeats_what_was_said(said: str, text: str) -> bool:
    """Whether ``text`` is mostly words already said (``said``: the context's words and the history before
    them) copied again: Whisper's prompt-copying hallucination. Seen on the multilingual test model decoding
    a short noisy tail in context: the Chinese stream's first final came back word for word, where the tail
    alone decodes to nothing. A stretch counts as copied when it is part of a run of ``_COPY_NGRAM`` letters
    or digits that ``said`` holds (4 where the text has no spaces between words, as in Chinese; 8 else, about
    two words), and ``text`` repeats when such stretches cover ``_COPY_SHARE`` of it. Speech that says a few
    words again ("ask not what your country can do for you, ask what you can do") stays well below. A copy
    inside heard words counts too: at a 170 ms endpoint on test-other a final came as its own sentence, the two
    finals before it word for word, then its own sentence again (``_COPY_STRETCH``). Decoded again alone, a
    speaker who really says ten words again still gets them."""
    new = "".join(_words(text))
    unspaced = _unspaced_script(text)
    size = _COPY_NGRAM_UNSPACED if unspaced else _COPY_NGRAM
    if len(new) < size:
        return False
    known = "".join(_words(said))
    seen = {known[i : i + size] for i in range(len(known) - size + 1)}
    covered = [False] * len(new)
    for i in range(len(new) - size + 1):
        if new[i : i + size] in seen:
            covered[i : i + size] = [True] * size
    stretch = _COPY_STRETCH_UNSPACED if unspaced else _COPY_STRETCH
    longest = max((len(list(run)) for copied, run in itertools.groupby(covered) if copied), default=0)
    return sum(covered) >= _COPY_SHARE * len(new) or longest >= stretch


def _unspaced_script(text: str) -> bool:
    """Mostly CJK (no spaces between words; Whisper's spaces there mark pauses, not words)."""
    letters = [c for c in text if c.isalnum()]
    cjk = sum("\u3040" <= c <= "\u9fff" or "\uac00" <= c <= "\ud7af" for c in letters)
    return 2 * cjk > len(letters)


def without_repeated_start(prefix: str, text: str) -> str:
    """``text`` without the prefix's last words at its start (up to ``_REPEATED_START_MAX_WORDS``), the longest
    such overlap: in the prompted form the decoder starts at a timestamp, and may hear again the end of a word
    that ends just before it ("…fellow Americans ask" + "ask not what…"), or the last phrase whole. The forced
    form needs none of this."""
    tail = _words(prefix)[-_REPEATED_START_MAX_WORDS:]
    pieces = text.split()
    for count in range(min(len(tail), len(pieces)), 0, -1):
        if _words(" ".join(pieces[:count])) == tail[-count:]:
            return " ".join(pieces[count:])
    return text


def without_cut_word(said: str, heard: str) -> str:
    """``said`` without its last words where ``heard`` starts with them again, the last of them whole: a decoder that
    stopped in mid-word at a segment it opened, then heard the word whole from that segment's time ("…the
    Californian will astrayal" + "will astrayalously insist", seen on test-other). ``said`` as it was otherwise; the
    cut word has ``_CUT_WORD_MIN_LETTERS`` letters or more, so that a word is not taken for the start of a longer one
    ("a" before "about")."""
    tail, start = _words(said)[-_REPEATED_START_MAX_WORDS:], _words(heard)
    if not tail or len(cut := tail[-1]) < _CUT_WORD_MIN_LETTERS:
        return said
    for count in range(min(len(tail), len(start)), 0, -1):
        whole = start[count - 1]
        if whole != cut and whole.startswith(cut) and tail[len(tail) - count : -1] == start[: count - 1]:
            pieces, dropped = said.split(), 0
            while pieces and dropped < count:
                dropped += bool(_words(pieces.pop()))
            return " ".join(pieces)
    return said


def as_own_sentence(text: str) -> str:
    """A final decoded in context as it reads alone: no leading punctuation that closes the words before it
    (", ask not." after "And so my fellow Americans"), and a capital first letter where the first word is
    all lower case (a decoder continuing a sentence writes "ask"; alone it writes "Ask"). Words that mix
    cases ("iPhone") and scripts without case are left as they are."""
    stripped = text.lstrip().lstrip(_LEADING_PUNCTUATION).lstrip()
    first = stripped.split(" ", 1)[0]
    if first.isalpha() and first.islower():
        stripped = stripped[0].upper() + stripped[1:]
    return stripped


def own_sentence(
    text: str, words: tuple[Word, ...] | None, prefix: str | None, *, drop_repeated: bool
) -> tuple[str, tuple[Word, ...] | None]:
    """A final decoded in context, text and aligned words alike, as it reads alone (``as_own_sentence``),
    without the prefix's last words said again first when ``drop_repeated`` (``without_repeated_start``)."""
    kept = without_repeated_start(prefix, text) if drop_repeated and prefix else text
    edited = as_own_sentence(kept)
    if words is None:
        return edited, None
    dropped = len(text.split()) - len(kept.split())  # aligned words are the text's space-separated pieces
    own = list(words[dropped:])
    while own and not own[0].word.lstrip(_LEADING_PUNCTUATION):  # punctuation aligned as a word of its own
        own.pop(0)
    if own:
        first = own[0].word.lstrip(_LEADING_PUNCTUATION)
        if edited[:1].isupper() and first[:1].islower():
            first = first[0].upper() + first[1:]
        own[0] = dataclasses.replace(own[0], word=first)
    return edited, tuple(own)


def _words(text: str) -> list[str]:
    words = ("".join(c for c in word.lower() if c.isalnum()) for word in text.split())
    return [word for word in words if word]


def utterance_words(alignment: list[dict], prefix_tokens: int, context_samples: int, samples: int) -> tuple[Word, ...]:
    """The aligned words after the context's words, in seconds from the utterance's start, inside it."""
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
