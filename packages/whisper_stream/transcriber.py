"""Whisper inference through faster-whisper: the only module that imports it."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from whisper_stream.decode_requests import SAMPLE_RATE_HZ, DecodeOptions
from whisper_stream.model_source import ModelSource
from whisper_stream.results import Segment, TranscriptionResult, Word

logger = logging.getLogger(__name__)

_FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


class Transcriber(Protocol):
    """Turns utterances of 16 kHz audio into text. Called from worker threads."""

    is_multilingual: bool

    def transcribe(self, audio: np.ndarray, options: DecodeOptions, *, final: bool) -> TranscriptionResult: ...

    def transcribe_batch(
        self, items: Sequence[tuple[np.ndarray, DecodeOptions]], *, final: bool
    ) -> list[TranscriptionResult]: ...


@dataclass(frozen=True)
class TranscriberOptions:
    device: str = "auto"
    compute_type: str | None = None
    cpu_threads: int = 0
    num_workers: int = 1
    final_beam_size: int = 5
    partial_beam_size: int = 1
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    fit_encoder_window: bool = False
    download_root: str | None = None


def pick_device(requested: str) -> str:
    if requested != "auto":
        return requested
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


class FasterWhisperTranscriber:
    """A ``faster_whisper.WhisperModel`` shared by every session."""

    def __init__(self, source: ModelSource, options: TranscriberOptions = TranscriberOptions()) -> None:
        from faster_whisper import WhisperModel

        self.options = options
        self.device = pick_device(options.device)
        self.compute_type = options.compute_type or ("float16" if self.device == "cuda" else "int8")
        logger.info(
            "loading whisper model %s (revision %s) on %s as %s",
            source.name_or_path,
            source.revision or "-",
            self.device,
            self.compute_type,
        )
        self._model = WhisperModel(
            source.name_or_path,
            device=self.device,
            compute_type=self.compute_type,
            cpu_threads=options.cpu_threads or min(os.cpu_count() or 1, 8),
            num_workers=options.num_workers,
            download_root=options.download_root,
            revision=source.revision,
            local_files_only=source.is_local,
        )
        self.is_multilingual: bool = self._model.model.is_multilingual
        self.supported_languages: frozenset[str] = frozenset(self._model.supported_languages)
        """The codes ``DecodeOptions.language`` may take (``en`` alone for an English-only model)."""

    def transcribe(self, audio: np.ndarray, options: DecodeOptions, *, final: bool) -> TranscriptionResult:
        return self.transcribe_batch([(audio, options)], final=final)[0]

    def transcribe_batch(
        self, items: Sequence[tuple[np.ndarray, DecodeOptions]], *, final: bool
    ) -> list[TranscriptionResult]:
        """Decode utterances (of any sessions) in one encoder and one decoder pass per language.

        Each utterance first gets its language (``with_languages``). Word timestamps take
        faster-whisper's own ``transcribe`` one utterance at a time; so does any utterance
        whose direct decode fails the hallucination guards on a final (temperature fallback).
        """
        resolved, unsure = self.with_languages(items, final=final)
        results: list[TranscriptionResult | None] = [None] * len(items)
        direct = [i for i, (_, o) in enumerate(resolved) if i not in unsure and not o.word_timestamps]
        beam_size = self.options.final_beam_size if final else self.options.partial_beam_size
        for group in _by_language(direct, resolved):
            decoded = self.decode([resolved[i] for i in group], beam_size=beam_size)
            for i, (result, doubtful) in zip(group, decoded, strict=True):
                results[i] = None if doubtful and final else result
        for i in unsure:  # no text beats text in the wrong language
            results[i] = TranscriptionResult("", resolved[i][1].language or "", 0.0, ())
        return [
            result if result is not None else self._transcribe_full(audio, options, final=final)
            for (audio, options), result in zip(resolved, results, strict=True)
        ]

    def _language(self, options: DecodeOptions) -> str | None:
        return options.language if self.is_multilingual else "en"

    # ------------------------------------------------------------- language

    def with_languages(
        self, items: Sequence[tuple[np.ndarray, DecodeOptions]], *, final: bool
    ) -> tuple[list[tuple[np.ndarray, DecodeOptions]], set[int]]:
        """Each item with the language it is decoded in and a prompt fit for that language.

        The language is the fixed one, or the one detected (``choose_language``) among the
        item's ``language_options``; the prompt is dropped when it is in another language.
        Also the indexes of partials whose language is too unsure to decode (a final is
        always decoded, in the likeliest language).
        """
        to_detect = [i for i, (_, options) in enumerate(items) if self._language(options) is None]
        detected = dict(zip(to_detect, self.detect_languages([items[i][0] for i in to_detect]), strict=True))
        resolved: list[tuple[np.ndarray, DecodeOptions]] = []
        unsure: set[int] = set()
        for i, (audio, options) in enumerate(items):
            language, sure = self._language(options), True
            if language is None:
                language, sure = choose_language(detected[i], options.language_options, options.prompt_language)
            if not sure and not final:
                unsure.add(i)
            resolved.append((audio, replace(options, language=language, prompt=prompt_for(options, language))))
        return resolved, unsure

    def detect_languages(self, audios: Sequence[np.ndarray]) -> list[list[tuple[str, float]]]:
        """Each utterance's language probabilities (first 30 s), most likely first; one encoder pass for all."""
        if not audios:
            return []
        from faster_whisper.audio import pad_or_trim

        model = self._model
        features = np.stack([pad_or_trim(model.feature_extractor(a)[..., :-1], FULL_WINDOW_FRAMES) for a in audios])
        found = model.model.detect_language(model.encode(features))
        return [[(token[2:-2], float(p)) for token, p in languages] for languages in found]

    def decode(
        self,
        items: Sequence[tuple[np.ndarray, DecodeOptions]],
        *,
        beam_size: int = 1,
        fit_encoder_window: bool | None = None,
    ) -> list[tuple[TranscriptionResult, bool]]:
        """One direct decode of each item (same language), without timestamps or fallback.

        With ``fit_encoder_window`` the encoder input is cut to the longest item
        plus a margin instead of padded to 30 s (CTranslate2 accepts shorter
        inputs; the encoder then does ~8x less work for a 5 s utterance). It is
        off by default: on 116 shared utterances tiny.en's WER went from 0.141 to
        0.419, mostly repetition loops on short clips
        (scripts/eval_encoder_window.py). Returns each result and whether it is
        doubtful (low log-probability or repetitive).
        """
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_compression_ratio, get_ctranslate2_storage, get_suppressed_tokens

        model = self._model
        language = self._language(items[0][1])
        tokenizer = Tokenizer(model.hf_tokenizer, self.is_multilingual, task="transcribe", language=language)
        fit = self.options.fit_encoder_window if fit_encoder_window is None else fit_encoder_window
        frames = encoder_frames(max(audio.size for audio, _ in items)) if fit else FULL_WINDOW_FRAMES
        features = np.stack([pad_or_trim(model.feature_extractor(audio)[..., :-1], frames) for audio, _ in items])
        encoder_output = model.model.encode(get_ctranslate2_storage(features), to_cpu=False)
        prompts = [
            model.get_prompt(
                tokenizer,
                tokenizer.encode(" " + options.prompt.strip()) if options.prompt else [],
                without_timestamps=True,
            )
            for _, options in items
        ]
        outputs = model.model.generate(
            encoder_output,
            prompts,
            beam_size=beam_size,
            max_length=model.max_length,
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
            return_scores=True,
            return_no_speech_prob=True,
        )
        decoded = []
        for (audio, _), output in zip(items, outputs, strict=True):
            tokens = output.sequences_ids[0]
            text = tokenizer.decode(tokens).strip()
            avg_logprob = output.scores[0] * len(tokens) / (len(tokens) + 1)
            no_speech = output.no_speech_prob > self.options.no_speech_threshold
            low = avg_logprob < self.options.log_prob_threshold
            repetitive = bool(text) and get_compression_ratio(text) > self.options.compression_ratio_threshold
            if not text or (no_speech and low):
                decoded.append((TranscriptionResult("", language or "", 0.0, ()), False))
                continue
            segment = Segment(text, 0.0, audio.size / SAMPLE_RATE_HZ)
            result = TranscriptionResult(text, language or "", math.exp(avg_logprob), (segment,))
            decoded.append((result, low or repetitive))
        return decoded

    def _transcribe_full(self, audio: np.ndarray, options: DecodeOptions, *, final: bool) -> TranscriptionResult:
        """faster-whisper's own path: 30 s window, timestamps, word alignment, temperature fallback."""
        segments, info = self._model.transcribe(
            audio,
            language=self._language(options),
            beam_size=self.options.final_beam_size if final else self.options.partial_beam_size,
            temperature=_FALLBACK_TEMPERATURES if final else 0.0,
            compression_ratio_threshold=self.options.compression_ratio_threshold,
            log_prob_threshold=self.options.log_prob_threshold,
            no_speech_threshold=self.options.no_speech_threshold,
            condition_on_previous_text=False,
            initial_prompt=options.prompt,
            word_timestamps=final and options.word_timestamps,
            without_timestamps=not final,
            vad_filter=False,
        )
        duration_s = audio.size / SAMPLE_RATE_HZ
        kept: list[Segment] = []
        log_probs: list[float] = []
        for segment in segments:
            if segment.compression_ratio > self.options.compression_ratio_threshold:
                logger.debug("dropping repetitive segment %r", segment.text)
                continue
            if (
                segment.no_speech_prob > self.options.no_speech_threshold
                and segment.avg_logprob < self.options.log_prob_threshold
            ):
                continue
            text = segment.text.strip()
            if not text:
                continue
            words = None
            if segment.words is not None:
                words = tuple(
                    Word(w.word.strip(), float(w.start), float(w.end), float(w.probability)) for w in segment.words
                )
            # Whisper can predict timestamps past the end of short audio: clamp them to the audio.
            start_s = min(float(segment.start), duration_s)
            kept.append(Segment(text, start_s, min(max(float(segment.end), start_s), duration_s), words))
            log_probs.append(float(segment.avg_logprob))
        return TranscriptionResult(
            text=" ".join(s.text for s in kept),
            language_code=info.language,
            confidence=math.exp(sum(log_probs) / len(log_probs)) if log_probs else 0.0,
            segments=tuple(kept),
        )


FULL_WINDOW_FRAMES = 3000
_FRAMES_PER_SECOND = 100
_WINDOW_MARGIN_FRAMES = 50


def encoder_frames(samples: int) -> int:
    """Mel frames for the encoder: the audio plus a 0.5 s margin, rounded up to whole seconds."""
    needed = samples // (SAMPLE_RATE_HZ // _FRAMES_PER_SECOND) + _WINDOW_MARGIN_FRAMES
    return min(FULL_WINDOW_FRAMES, -(-needed // _FRAMES_PER_SECOND) * _FRAMES_PER_SECOND)


SURE_LANGUAGE_PROBABILITY = 0.8
"""Below this (among the allowed languages), detection is a guess: on 1-1.5 s of speech base's
top language was wrong up to p 0.61 and right from p 0.86 on 17 shared multilingual clips."""


def choose_language(
    probabilities: Sequence[tuple[str, float]], allowed: Sequence[str], previous: str | None
) -> tuple[str, bool]:
    """The language to decode in, and whether detection is sure of it.

    The most likely of ``allowed`` (all when empty, or when the model knows none of them),
    its probability renormalised over the allowed ones. When that is unsure, the previous
    utterance's language, if allowed: people seldom switch language mid-conversation, and
    a short or starting utterance is where detection guesses.
    """
    candidates = [(code, p) for code, p in probabilities if code in allowed] or list(probabilities)
    code, probability = max(candidates, key=lambda c: c[1])
    total = sum(p for _, p in candidates)
    if total > 0 and probability / total >= SURE_LANGUAGE_PROBABILITY:
        return code, True
    if previous is not None and any(c == previous for c, _ in candidates):
        return previous, True
    return code, False


def prompt_for(options: DecodeOptions, language: str) -> str | None:
    """The prompt, unless it is the previous utterance's text in another language (it would mislead)."""
    if options.prompt_language is not None and options.prompt_language != language:
        return None
    return options.prompt


def _by_language(indexes: Sequence[int], items: Sequence[tuple[np.ndarray, DecodeOptions]]) -> list[list[int]]:
    """``indexes`` grouped by their item's language: one decode shares one language token."""
    groups: dict[str | None, list[int]] = {}
    for i in indexes:
        groups.setdefault(items[i][1].language, []).append(i)
    return list(groups.values())
