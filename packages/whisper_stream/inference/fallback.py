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

from whisper_stream.inference.context_decoding import max_new_tokens
from whisper_stream.inference.hallucination import HallucinationGuard
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
    beam_size: int,
    guard: HallucinationGuard,
    temperatures: Sequence[float] = TEMPERATURES,
    timestamps: bool = True,
    clock: Callable[[], float] = time.monotonic,
) -> TranscriptionResult:
    """``model``: faster-whisper's ``WhisperModel``. See the module's docstring."""
    deadline = clock() + budget_s(audio.size / SAMPLE_RATE_HZ)
    best, best_log_prob = TranscriptionResult.empty(language or ""), -math.inf
    for temperature in temperatures:
        result, log_prob = decode_once(
            model, audio, language=language, prompt=prompt, beam_size=beam_size, guard=guard,
            temperature=temperature, timestamps=timestamps,
        )  # fmt: skip
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
    language: str | None,
    prompt: str | None,
    beam_size: int,
    guard: HallucinationGuard,
    temperature: float,
    timestamps: bool,
) -> tuple[TranscriptionResult, float]:
    """One pass of faster-whisper's ``transcribe`` at one temperature: the segments the guards keep (times
    clamped to the audio), and their mean log-probability."""
    duration_s = audio.size / SAMPLE_RATE_HZ
    segments, info = model.transcribe(
        audio,
        language=language,
        beam_size=beam_size,
        temperature=temperature,
        compression_ratio_threshold=guard.compression_ratio_threshold,
        log_prob_threshold=guard.log_prob_threshold,
        no_speech_threshold=guard.no_speech_threshold,
        condition_on_previous_text=False,
        initial_prompt=prompt,
        word_timestamps=False,  # aligned afterwards by the transcriber: they must not change the decode
        without_timestamps=not timestamps,
        vad_filter=False,
        max_new_tokens=min(max_new_tokens(duration_s), MAX_NEW_TOKENS),
    )
    kept: list[Segment] = []
    log_probs: list[float] = []
    for segment in segments:
        text = segment.text.strip()
        if not text or guard.repetitive(segment.compression_ratio):
            continue
        if guard.silence(segment.no_speech_prob, segment.avg_logprob):
            continue
        start_s = min(float(segment.start), duration_s)  # Whisper can predict times past the end of short audio
        kept.append(Segment(text, start_s, min(max(float(segment.end), start_s), duration_s)))
        log_probs.append(float(segment.avg_logprob))
    log_prob = sum(log_probs) / len(log_probs) if log_probs else -math.inf
    result = TranscriptionResult(
        text=" ".join(s.text for s in kept),
        language_code=info.language,
        confidence=math.exp(log_prob) if log_probs else 0.0,
        segments=tuple(kept),
    )
    return result, log_prob
