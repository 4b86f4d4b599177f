"""The temperature fallback, bounded: a decode the guards doubt, done again through faster-whisper's own
``transcribe`` (30 s window, timestamps) at rising temperatures, within a time budget.

faster-whisper's own loop decodes up to six temperatures at the final beam whatever it costs; on a decoder
loop (noise, one word said again and again) each pass runs to its token cap and none passes the guards, so
one utterance holds a worker for all six (``bench/decode_bounds.py``). Here each temperature is one call, and
no new pass starts once the fallback has spent ``budget_s`` (at least one pass always runs). The result is
the first pass the guards accept, else the most confident text seen, else nothing: never a hang.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from whisper_stream.inference.context_decoding import max_new_tokens as max_new_tokens_for
from whisper_stream.inference.hallucination import HallucinationGuard, without_punctuation_runs
from whisper_stream.protocol.results import Segment, TranscriptionResult
from whisper_stream.samples import SAMPLE_RATE_HZ

TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
MIN_BUDGET_S = 2.0
BUDGET_PER_AUDIO_S = 0.25
"""No new pass after max(2 s, a quarter of the audio's length) spent on the fallback."""
MAX_NEW_TOKENS = 448 - 228
"""faster-whisper refuses a prompt plus ``max_new_tokens`` over 448; its prompt is at most 228 tokens."""


def budget_s(audio_s: float) -> float:
    return max(MIN_BUDGET_S, BUDGET_PER_AUDIO_S * audio_s)


def transcribe_with_fallback(
    model: Any,
    audio: np.ndarray,
    *,
    language: str | None,
    prompt: str | None,
    guard: HallucinationGuard,
    temperature: float | Sequence[float] = TEMPERATURES,
    max_new_tokens: int = MAX_NEW_TOKENS,
    timestamps: bool = True,
    beam_results: bool = False,
    clock: Callable[[], float] = time.monotonic,
    **search: object,
) -> TranscriptionResult:
    """``model``: faster-whisper's ``WhisperModel``; ``search``: more of its ``transcribe`` arguments (beam size,
    task, penalties, a client's prefix); ``max_new_tokens``: at most this many, and never more than the cap by
    the audio's length. See the module's docstring."""
    duration_s = audio.size / SAMPLE_RATE_HZ
    deadline = clock() + budget_s(duration_s)
    passes = {
        "language": language,
        "initial_prompt": prompt,
        "max_new_tokens": min(max_new_tokens_for(duration_s), max_new_tokens, MAX_NEW_TOKENS),
        "without_timestamps": not timestamps,
        **search,
    }
    best, best_log_prob = TranscriptionResult.empty(language or ""), -math.inf
    temperatures = [temperature] if isinstance(temperature, float | int) else list(temperature)
    for each in temperatures:
        result, log_prob = decode_once(model, audio, guard=guard, temperature=each, beam_results=beam_results, **passes)
        if result.text and not guard.low_confidence(log_prob):
            return result
        if result.text and log_prob > best_log_prob:
            best, best_log_prob = result, log_prob
        if clock() >= deadline:
            break
    return best


def decode_once(
    model: Any,
    audio: np.ndarray,
    *,
    guard: HallucinationGuard,
    temperature: float,
    beam_results: bool = False,
    **transcribe: Any,
) -> tuple[TranscriptionResult, float]:
    """One pass of faster-whisper's ``transcribe`` at one temperature: the segments the guards keep (times
    clamped to the audio; marked ``possible_hallucination`` when not confident), and their mean log-probability."""
    duration_s = audio.size / SAMPLE_RATE_HZ
    segments, info = model.transcribe(
        audio,
        temperature=temperature,
        compression_ratio_threshold=guard.compression_ratio_threshold,
        log_prob_threshold=guard.log_prob_threshold,
        no_speech_threshold=guard.no_speech_threshold,
        condition_on_previous_text=False,
        word_timestamps=False,  # aligned afterwards by the transcriber: they must not change the decode
        vad_filter=False,
        **transcribe,
    )
    kept: list[Segment] = []
    log_probs: list[float] = []
    for segment in segments:
        text, looped = without_punctuation_runs(segment.text.strip())
        if not text or guard.repetitive(segment.compression_ratio):
            continue
        if guard.silence(segment.no_speech_prob, segment.avg_logprob):
            continue
        start_s = min(float(segment.start), duration_s)  # Whisper can predict times past the end of short audio
        log_prob = float(segment.avg_logprob)
        kept.append(
            Segment(
                text,
                start_s,
                min(max(float(segment.end), start_s), duration_s),
                log_prob=log_prob,
                # a repetitive one was dropped above; a punctuation loop is cut out of the text
                possible_hallucination=looped or guard.low_confidence(log_prob),
                beam_results=(text,) if beam_results else None,  # this path keeps no n-best
            )
        )
        log_probs.append(log_prob)
    log_prob = sum(log_probs) / len(log_probs) if log_probs else -math.inf
    result = TranscriptionResult(
        text=" ".join(s.text for s in kept),
        language_code=info.language,
        confidence=math.exp(log_prob) if log_probs else 0.0,
        segments=tuple(kept),
    )
    return result, log_prob
