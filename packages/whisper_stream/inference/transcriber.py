"""Whisper inference through faster-whisper: the only module that imports it."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from whisper_stream.inference.context_decoding import (
    continues,
    new_tokens,
    prompt_with_prefix,
    utterance_words,
)
from whisper_stream.inference.hallucination import HallucinationGuard
from whisper_stream.inference.language_choice import by_language, choose_language, prompt_for, with_detection
from whisper_stream.inference.model_source import ModelSource
from whisper_stream.inference.requests import DecodeOptions
from whisper_stream.inference.sampling_decoding import (
    at_most,
    generate_kwargs,
    max_length,
    retry_too_few_words,
    start_with_client_prefixes,
    transcribe_kwargs,
    with_beam_results,
)
from whisper_stream.protocol.results import Segment, TranscriptionResult, Word
from whisper_stream.samples import SAMPLE_RATE_HZ

logger = logging.getLogger(__name__)


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
    guard: HallucinationGuard = HallucinationGuard()
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

        Each utterance first gets its language (``with_languages``); one whose language is
        detected is decoded without context (the context may be in another language). Word
        timestamps align the decoded tokens (the words are the same with or without them).
        Any utterance whose direct decode fails the hallucination guards on a final takes
        faster-whisper's own ``transcribe`` (temperature fallback). A final in context that
        does not continue its prefix is decoded again without the context. ``options.sampling``:
        how (``sampling_decoding``); a final with too few words a minute is decoded again.
        """
        items = [
            options.without_context(audio)
            if options.context_samples and self._language(options) is None
            else (audio, options)
            for audio, options in items
        ]
        detecting = time.perf_counter()
        resolved, unsure, detected = self.with_languages(items, final=final)
        detection_s = time.perf_counter() - detecting if detected else None
        results: list[TranscriptionResult | None] = [None] * len(items)
        direct = [i for i in range(len(resolved)) if i not in unsure]
        beam_size = self.options.final_beam_size if final else self.options.partial_beam_size
        for group in by_language(direct, resolved):
            decoded = self.decode([resolved[i] for i in group], beam_size=beam_size, word_timestamps=final)
            for i, (result, doubtful) in zip(group, decoded, strict=True):
                results[i] = None if doubtful and (final or resolved[i][1].prefix) else result
        start_with_client_prefixes(results, resolved)
        if final:
            retry_too_few_words(results, resolved)
        for i in unsure:  # no text beats text in the wrong language
            results[i] = TranscriptionResult.empty(resolved[i][1].language or "")
        retry = [i for i, r in enumerate(results) if r is None and resolved[i][1].context_samples]
        if retry:  # no continuation of the context: the utterance alone
            alone = [options.without_context(audio) for audio, options in (resolved[i] for i in retry)]
            for i, result in zip(retry, self.transcribe_batch(alone, final=final), strict=True):
                results[i] = result
        done = [
            result if result is not None else self._fallback(audio, options, final=final)
            for (audio, options), result in zip(resolved, results, strict=True)
        ]
        return [with_detection(result, detected.get(i), detection_s) for i, result in enumerate(done)]

    def _fallback(self, audio: np.ndarray, options: DecodeOptions, *, final: bool) -> TranscriptionResult:
        result = self._transcribe_full(audio, options, final=final)
        return self._with_words(audio, result, options) if final and options.word_timestamps and result.text else result

    def _with_words(
        self, audio: np.ndarray, result: TranscriptionResult, options: DecodeOptions
    ) -> TranscriptionResult:
        """``result`` with its words aligned to ``audio``, each segment holding its own."""
        from faster_whisper.tokenizer import Tokenizer

        task, language = options.sampling.task, result.language_code or "en"
        tokenizer = Tokenizer(self._model.hf_tokenizer, self.is_multilingual, task=task, language=language)
        tokens = tokenizer.encode(" " + result.text)
        encoder_output = self._encode([audio], fit=False)
        [words] = self._align(tokenizer, encoder_output, [(audio, _WITH_WORDS)], [([], [])], [tokens])
        remaining = list(words or ())
        segments = []
        for segment in result.segments:  # aligned words are the text without its spaces: share them out
            chars, own = len(segment.text.replace(" ", "")), []
            while remaining and chars > 0:
                chars -= len(remaining[0].word)
                own.append(remaining.pop(0))
            segments.append(dataclasses.replace(segment, words=tuple(own)))
        return dataclasses.replace(result, segments=tuple(segments))

    def _language(self, options: DecodeOptions) -> str | None:
        return options.language if self.is_multilingual else "en"

    # ------------------------------------------------------------- language

    def with_languages(
        self, items: Sequence[tuple[np.ndarray, DecodeOptions]], *, final: bool
    ) -> tuple[list[tuple[np.ndarray, DecodeOptions]], set[int], dict[int, float]]:
        """Each item with the language it is decoded in and a prompt fit for that language.

        The language is the fixed one, or the one detected (``choose_language``) among the
        item's ``language_options``; its prompt is the client's, then the history unless that
        is in another language.
        Also the indexes of partials whose language is too unsure to decode (a final is
        always decoded, in the likeliest language), and for each detected item the
        probability detection gave its language.
        """
        to_detect = [i for i, (_, options) in enumerate(items) if self._language(options) is None]
        detected = dict(zip(to_detect, self.detect_languages([items[i][0] for i in to_detect]), strict=True))
        resolved: list[tuple[np.ndarray, DecodeOptions]] = []
        unsure: set[int] = set()
        probabilities: dict[int, float] = {}
        for i, (audio, options) in enumerate(items):
            language, sure = self._language(options), True
            if language is None:
                language, sure = choose_language(detected[i], options.language_options, options.prompt_language)
                probabilities[i] = dict(detected[i]).get(language, 0.0)
            if not sure and not final:
                unsure.add(i)
            prompt = prompt_for(options, language)
            resolved.append((audio, replace(options, language=language, prompt=prompt, history=None)))
        return resolved, unsure, probabilities

    def detect_languages(self, audios: Sequence[np.ndarray]) -> list[list[tuple[str, float]]]:
        """Each utterance's language probabilities (first 30 s), most likely first; one encoder pass for all."""
        if not audios:
            return []
        model = self._model
        found = model.model.detect_language(model.encode(self._features(audios, FULL_WINDOW_FRAMES)))
        return [[(token[2:-2], float(p)) for token, p in languages] for languages in found]

    def decode(
        self,
        items: Sequence[tuple[np.ndarray, DecodeOptions]],
        *,
        beam_size: int = 1,
        fit_encoder_window: bool | None = None,
        word_timestamps: bool = False,
    ) -> list[tuple[TranscriptionResult, bool]]:
        """One direct decode of each item (same language), without timestamps or fallback.

        With ``fit_encoder_window`` the encoder input is cut to the longest item
        plus a margin instead of padded to 30 s (CTranslate2 accepts shorter
        inputs; the encoder then does ~8x less work for a 5 s utterance). It is
        off by default: on 116 shared utterances tiny.en's WER went from 0.141 to
        0.419, mostly repetition loops on short clips
        (scripts/eval_encoder_window.py). An item with a ``prefix`` gets only the
        words after it; one that does not continue it is doubtful. With
        ``word_timestamps``, items that ask for them get the decoded tokens
        aligned. Returns each result and whether it is doubtful (low
        log-probability or repetitive). The items share one ``Sampling.batch_key``.
        """
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        model = self._model
        language = self._language(items[0][1])
        sampling = items[0][1].sampling
        tokenizer = Tokenizer(model.hf_tokenizer, self.is_multilingual, task=sampling.task, language=language)
        fit = self.options.fit_encoder_window if fit_encoder_window is None else fit_encoder_window
        encoder_output = self._encode([audio for audio, _ in items], fit=fit)
        prompts = [prompt_with_prefix(model, tokenizer, options) for _, options in items]
        outputs = model.model.generate(
            encoder_output,
            [prompt for prompt, _ in prompts],
            max_length=max_length(model.max_length, prompts, [options.sampling for _, options in items]),
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
            return_scores=True,
            return_no_speech_prob=True,
            **generate_kwargs(sampling, beam_size=beam_size, n_best=any(o.sampling.beam_results for _, o in items)),
        )
        tokens = [
            at_most(new_tokens(output.sequences_ids[0], prefix), options.sampling.max_new_tokens)
            for output, (_, prefix), (_, options) in zip(outputs, prompts, items, strict=True)
        ]
        words: list[tuple[Word, ...] | None] = [None] * len(items)
        if word_timestamps and any(options.word_timestamps for _, options in items):
            words = self._align(tokenizer, encoder_output, items, prompts, tokens)
        decoded = [
            self._decoded(tokenizer, item, output, new, item_words, language or "")
            for item, output, new, item_words in zip(items, outputs, tokens, words, strict=True)
        ]
        return [
            (with_beam_results(result, tokenizer, output, prefix, options), doubtful)
            for (result, doubtful), output, (_, prefix), (_, options) in zip(
                decoded, outputs, prompts, items, strict=True
            )
        ]

    def _encode(self, audios: Sequence[np.ndarray], *, fit: bool) -> object:
        from faster_whisper.transcribe import get_ctranslate2_storage

        frames = encoder_frames(max(audio.size for audio in audios)) if fit else FULL_WINDOW_FRAMES
        features = self._features(audios, frames)
        return self._model.model.encode(get_ctranslate2_storage(features), to_cpu=False)

    def _features(self, audios: Sequence[np.ndarray], frames: int) -> np.ndarray:
        """The log-mel features of each utterance, padded or cut to ``frames``, stacked as one batch."""
        from faster_whisper.audio import pad_or_trim

        extract = self._model.feature_extractor
        return np.stack([pad_or_trim(extract(audio)[..., :-1], frames) for audio in audios])

    def _decoded(
        self,
        tokenizer: object,
        item: tuple[np.ndarray, DecodeOptions],
        output: object,
        tokens: list[int] | None,
        words: tuple[Word, ...] | None,
        language: str,
    ) -> tuple[TranscriptionResult, bool]:
        """One item's generated tokens as a result (times from the utterance's start) and whether it is doubtful."""
        from faster_whisper.transcribe import get_compression_ratio

        audio, options = item
        if tokens is None:  # the decoder did not keep the prefix it was given
            return TranscriptionResult.empty(), True
        text = tokenizer.decode(tokens).strip()  # type: ignore[attr-defined]
        all_tokens = len(output.sequences_ids[0])  # type: ignore[attr-defined]
        length_penalty = options.sampling.length_penalty  # CTranslate2's score is normalised by length ** penalty
        avg_logprob = output.scores[0] * all_tokens**length_penalty / (all_tokens + 1)  # type: ignore[attr-defined]
        guard = self.options.guard
        silence = guard.silence(output.no_speech_prob, avg_logprob)  # type: ignore[attr-defined]
        utterance_s = options.utterance_s(audio)
        if options.prefix and not continues(options.prefix, text, utterance_s):
            return TranscriptionResult.empty(), True
        if not text or silence:
            return TranscriptionResult.empty(language), False
        doubtful = guard.doubtful(avg_logprob, get_compression_ratio(text))
        segment = Segment(text, 0.0, utterance_s, words, log_prob=avg_logprob, possible_hallucination=doubtful)
        return TranscriptionResult(text, language, math.exp(avg_logprob), (segment,)), doubtful

    def _align(
        self,
        tokenizer: object,
        encoder_output: object,
        items: Sequence[tuple[np.ndarray, DecodeOptions]],
        prompts: Sequence[tuple[list[int], list[int]]],
        tokens: Sequence[list[int] | None],
    ) -> list[tuple[Word, ...] | None]:
        """Word times of the decoded tokens, one alignment pass for the batch (prefix and new tokens)."""
        from faster_whisper.transcribe import merge_punctuations

        text_tokens = [prefix + (new or []) for (_, prefix), new in zip(prompts, tokens, strict=True)]
        num_frames = [audio.size // self._model.feature_extractor.hop_length for audio, _ in items]
        alignments = self._model.find_alignment(tokenizer, text_tokens, encoder_output, num_frames)
        words: list[tuple[Word, ...] | None] = []
        for (audio, options), (_, prefix), alignment in zip(items, prompts, alignments, strict=True):
            if not options.word_timestamps:
                words.append(None)
                continue
            merge_punctuations(alignment, "\"'“¿([{-", "\"'.。,，!！?？:：”)]}、")
            words.append(utterance_words(alignment, len(prefix), options.context_samples, audio.size))
        return words

    def _transcribe_full(self, audio: np.ndarray, options: DecodeOptions, *, final: bool) -> TranscriptionResult:
        """faster-whisper's own path: 30 s window, timestamps, word alignment, temperature fallback."""
        default_beam = self.options.final_beam_size if final else self.options.partial_beam_size
        segments, info = self._model.transcribe(
            audio,
            language=self._language(options),
            **transcribe_kwargs(self._model, options, beam_size=default_beam, final=final),
            compression_ratio_threshold=self.options.guard.compression_ratio_threshold,
            log_prob_threshold=self.options.guard.log_prob_threshold,
            no_speech_threshold=self.options.guard.no_speech_threshold,
            condition_on_previous_text=False,
            initial_prompt=options.prompt,
            word_timestamps=False,  # aligned afterwards (_with_words): they must not change the decode
            without_timestamps=not final,
            vad_filter=False,
        )
        duration_s = audio.size / SAMPLE_RATE_HZ
        kept: list[Segment] = []
        log_probs: list[float] = []
        for segment in segments:
            if self.options.guard.repetitive(segment.compression_ratio):
                logger.debug("dropping repetitive segment %r", segment.text)
                continue
            if self.options.guard.silence(segment.no_speech_prob, segment.avg_logprob):
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
            end_s = min(max(float(segment.end), start_s), duration_s)
            log_prob = float(segment.avg_logprob)
            doubtful = self.options.guard.low_confidence(log_prob)  # a repetitive one was dropped above
            beams = (text,) if options.sampling.beam_results else None  # this path keeps no n-best
            kept.append(Segment(text, start_s, end_s, words, log_prob, doubtful, beams))
            log_probs.append(log_prob)
        return TranscriptionResult(
            text=" ".join(s.text for s in kept),
            language_code=info.language,
            confidence=math.exp(sum(log_probs) / len(log_probs)) if log_probs else 0.0,
            segments=tuple(kept),
        )


_WITH_WORDS = DecodeOptions("en", None, word_timestamps=True)
FULL_WINDOW_FRAMES = 3000
_FRAMES_PER_SECOND = 100
_WINDOW_MARGIN_FRAMES = 50


def encoder_frames(samples: int) -> int:
    """Mel frames for the encoder: the audio plus a 0.5 s margin, rounded up to whole seconds."""
    needed = samples // (SAMPLE_RATE_HZ // _FRAMES_PER_SECOND) + _WINDOW_MARGIN_FRAMES
    return min(FULL_WINDOW_FRAMES, -(-needed // _FRAMES_PER_SECOND) * _FRAMES_PER_SECOND)
