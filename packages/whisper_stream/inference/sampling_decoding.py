"""Decoding with a session's own search (``Sampling``, from ``whisper_sampling_params``): pure helpers of the
transcriber's decode path. CTranslate2's and faster-whisper's arguments, the token budget, the n-best texts, a
client's prefix put back in front of the text, and the words-a-minute check of ``use_missing_chunk_retry``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from whisper_stream.inference.context_decoding import DecoderPrompt, max_length, new_tokens, own_sentence
from whisper_stream.inference.fallback import TEMPERATURES
from whisper_stream.inference.hallucination import without_punctuation_runs
from whisper_stream.inference.language_choice import prompt_for
from whisper_stream.inference.requests import DecodeOptions, Sampling
from whisper_stream.protocol.results import TranscriptionResult, Word

logger = logging.getLogger(__name__)


def generate_kwargs(sampling: Sampling, *, beam_size: int, n_best: bool) -> dict[str, object]:
    """CTranslate2 ``generate`` arguments of ``sampling``, one set for a whole batch (``Sampling.batch_key``).

    ``beam_size``: the replica's, when the client gave none. As in faster-whisper, a first temperature above 0
    samples (top-k 0, one hypothesis) instead of searching; ``n_best``: return every beam, not only the best.
    """
    kwargs: dict[str, object] = {
        "length_penalty": sampling.length_penalty,
        "repetition_penalty": sampling.repetition_penalty,
        "no_repeat_ngram_size": sampling.no_repeat_ngram_size,
    }
    if sampling.first_temperature > 0:
        return kwargs | {"beam_size": 1, "sampling_topk": 0, "sampling_temperature": sampling.first_temperature}
    beam = sampling.beam_size or beam_size
    return kwargs | {"beam_size": beam, "num_hypotheses": beam if n_best else 1}


def generate(
    model: Any,
    encoded: object,
    prompts: Sequence[DecoderPrompt],
    items: Sequence[tuple[np.ndarray, DecodeOptions]],
    tokenizer: Any,
    *,
    beam_size: int,
) -> list[Any]:
    """CTranslate2's ``generate`` of ``prompts`` (one per item, one language and ``Sampling.batch_key``) over the
    items' ``encoded`` audio (``model``: faster-whisper's ``WhisperModel``)."""
    from faster_whisper.transcribe import get_suppressed_tokens

    sampling = items[0][1].sampling
    return model.model.generate(
        encoded,
        [prompt.tokens for prompt in prompts],
        max_length=max(
            max_length(len(p.tokens), len(p.forced), o.utterance_s(a), o.sampling.max_new_tokens)
            for p, (a, o) in zip(prompts, items, strict=True)
        ),
        max_initial_timestamp_index=max(prompt.max_initial_timestamp_index for prompt in prompts),
        suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
        return_scores=True,
        return_no_speech_prob=True,
        **generate_kwargs(sampling, beam_size=beam_size, n_best=any(o.sampling.beam_results for _, o in items)),
    )


def at_most(tokens: list[int] | None, max_new_tokens: int | None) -> list[int] | None:
    return tokens if tokens is None or max_new_tokens is None else tokens[:max_new_tokens]


def with_beam_results(
    result: TranscriptionResult,
    tokenizer: Any,
    output: Any,
    forced: list[int],
    options: DecodeOptions,
    *,
    tokens: list[int] | None,
    prompted: bool,
) -> TranscriptionResult:
    """``result`` with the n-best texts of its beam on its segment, if asked: its own text first, then the other
    hypotheses (each after the forced tokens, edited as a final's text is: ``own_text``). ``tokens``: what the
    result was decoded from; where they are not the best hypothesis's, the rest of its utterance was decoded in a
    second call (``continuation``), which the other hypotheses stopped short of, and the result's text is its only one.
    """
    if not options.sampling.beam_results or not result.segments:
        return result
    texts = [_client_prefixed(result.text, options)]
    hypotheses = [
        at_most(new_tokens(sequence, forced, tokenizer.eot), options.sampling.max_new_tokens)
        for sequence in output.sequences_ids
    ]
    if hypotheses[0] == tokens:
        texts += [
            _client_prefixed(own_text(tokenizer.decode(new), None, options, prompted)[0], options)
            for new in hypotheses[1:]
            if new is not None
        ]
    [segment] = result.segments
    return replace(result, segments=(replace(segment, beam_results=tuple(texts)),))


def own_text(
    decoded: str, words: tuple[Word, ...] | None, options: DecodeOptions, prompted: bool
) -> tuple[str, tuple[Word, ...] | None, bool]:
    """Decoded text (and its aligned ``words``) as a final's reads: without punctuation runs; in context, as its own
    sentence (without the words before it heard again, in the prompted form). And whether a run was cut out."""
    text, looped = without_punctuation_runs(decoded.strip())
    if options.context_samples:
        text, words = own_sentence(text, words, options.prefix, drop_repeated=prompted)
    return text, words, looped


def _has_client_prefix(options: DecodeOptions) -> bool:
    """A prefix without context is the client's: the text starts with it, as in faster-whisper; context's does not."""
    return bool(options.prefix) and not options.context_samples


def _client_prefixed(text: str, options: DecodeOptions) -> str:
    if not text or not _has_client_prefix(options):
        return text
    return f"{(options.prefix or '').strip()} {text}"


def start_with_client_prefixes(
    results: list[TranscriptionResult | None], items: Sequence[tuple[np.ndarray, DecodeOptions]]
) -> None:
    """The direct decode generates only what follows a forced prefix: a client's prefix goes back in front."""
    for i, (result, (_, options)) in enumerate(zip(results, items, strict=True)):
        if result is None or not result.segments or not _has_client_prefix(options):
            continue
        [segment] = result.segments
        segment = replace(segment, text=_client_prefixed(segment.text, options))
        results[i] = replace(result, text=_client_prefixed(result.text, options), segments=(segment,))


def retry_too_few_words(
    results: list[TranscriptionResult | None], items: Sequence[tuple[np.ndarray, DecodeOptions]]
) -> None:
    """``use_missing_chunk_retry``: a final whose text has fewer words a minute of its audio than the client's
    threshold is dropped here, so that it is decoded again (alone, then faster-whisper's own path)."""
    for i, (result, (audio, options)) in enumerate(zip(results, items, strict=True)):
        threshold = options.sampling.retry_below_wpm
        if result is None or threshold is None or not result.text:
            continue
        words_per_minute = len(result.text.split()) / max(options.utterance_s(audio), 1e-3) * 60
        if words_per_minute < threshold:
            logger.info("%.0f words a minute, under %.0f: decoding the utterance again", words_per_minute, threshold)
            results[i] = None


def transcribe_kwargs(model: object, options: DecodeOptions, *, beam_size: int, final: bool) -> dict[str, Any]:
    """faster-whisper ``transcribe`` arguments of ``options.sampling`` (and a client's prefix), for the fallback
    path. ``beam_size``: the replica's, when the client gave none; without temperatures, the replica's: finals
    fall back through Whisper's six, partials stay at 0."""
    sampling = options.sampling
    return {
        "task": sampling.task,
        "beam_size": sampling.beam_size or beam_size,
        "temperature": sampling.temperatures or (TEMPERATURES if final else (0.0,)),
        "length_penalty": sampling.length_penalty,
        "repetition_penalty": sampling.repetition_penalty,
        "no_repeat_ngram_size": sampling.no_repeat_ngram_size,
        "max_new_tokens": _fallback_max_new_tokens(model, options),
        "prefix": options.prefix if _has_client_prefix(options) else None,
    }


def _fallback_max_new_tokens(model: object, options: DecodeOptions) -> int:
    """The client's ``max_new_tokens`` (or no more than fits), within what faster-whisper's own path leaves after
    its prompt (it raises on more): Whisper's 448 tokens less the start tokens, the prompt (the client's and the
    history) and the prefix, each cut to 223 tokens."""
    tokenizer, limit = model.hf_tokenizer, model.max_length  # type: ignore[attr-defined]
    half = limit // 2 - 1
    prompt = prompt_for(options, options.language or "en")
    used = 4 + sum(
        min(len(tokenizer.encode(" " + text.strip()).ids), half) + 1
        for text in (prompt, options.prefix if _has_client_prefix(options) else None)
        if text
    )
    return max(min(options.sampling.max_new_tokens or limit, limit - used), 1)
