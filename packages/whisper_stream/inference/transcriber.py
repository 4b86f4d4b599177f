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
    ContextForm,
    DecoderPrompt,
    continues,
    decoder_prompt,
    repeats_what_was_said,
    same_start_of_transcript,
    utterance_words,
)
from whisper_stream.inference.continuation import continued
from whisper_stream.inference.encoder_output import encoder_rows
from whisper_stream.inference.fallback import transcribe_with_fallback
from whisper_stream.inference.hallucination import HallucinationGuard, without_punctuation_runs
from whisper_stream.inference.language_choice import (
    by_language,
    choose_language,
    history_fits,
    prompt_for,
    with_detection,
)
from whisper_stream.inference.model_source import ModelSource
from whisper_stream.inference.requests import DecodeOptions
from whisper_stream.inference.sampling_decoding import (
    at_most,
    generate,
    own_text,
    retry_too_few_words,
    start_with_client_prefixes,
    transcribe_kwargs,
    with_beam_results,
)
from whisper_stream.inference.tokenizer_check import checked_tokenizer
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
    context_form: ContextForm = ContextForm.PROMPTED
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
        self._model.hf_tokenizer, self.tokenizer_check = checked_tokenizer(self._model.hf_tokenizer)
        """Every prompt and prefix is encoded by it: checked, and repaired where its defect is known."""
        self.is_multilingual: bool = self._model.model.is_multilingual
        self.supported_languages: frozenset[str] = frozenset(self._model.supported_languages)
        """The codes ``DecodeOptions.language`` may take (``en`` alone for an English-only model)."""

    def transcribe(self, audio: np.ndarray, options: DecodeOptions, *, final: bool) -> TranscriptionResult:
        return self.transcribe_batch([(audio, options)], final=final)[0]

    def transcribe_batch(
        self, items: Sequence[tuple[np.ndarray, DecodeOptions]], *, final: bool
    ) -> list[TranscriptionResult]:
        """Decode utterances (of any sessions) in one encoder and one decoder pass per language.

        Each utterance first gets its language (``with_languages``); one whose detected language is not the
        language of the finals before it is decoded without their context. Word timestamps align the decoded
        tokens (the words are the same with or without them). Any utterance whose direct decode fails the
        hallucination guards on a final takes faster-whisper's own ``transcribe`` (temperature fallback). A
        final in context that does not continue its prefix is decoded again without the context.
        ``options.sampling``: how (``sampling_decoding``); a final with too few words a minute is decoded again.
        """
        detecting = time.perf_counter()
        resolved, unsure, detected = self.with_languages(items, final=final)
        detection_s = time.perf_counter() - detecting if detected else None
        results: list[TranscriptionResult | None] = [None] * len(items)
        copied: set[int] = set()
        direct = [i for i in range(len(resolved)) if i not in unsure]
        beam_size = self.options.final_beam_size if final else self.options.partial_beam_size
        for group in by_language(direct, resolved):
            decoded = self.decode([resolved[i] for i in group], beam_size=beam_size, word_timestamps=final)
            for i, (result, doubtful) in zip(group, decoded, strict=True):
                results[i] = None if doubtful and (final or resolved[i][1].prefix) else result
                if result.text and repeats_what_was_said(resolved[i][1].said(), result.text):
                    copied.add(i)  # the prompt's words copied, not heard: decoded again without them
                    results[i] = None
        start_with_client_prefixes(results, resolved)
        if final:
            retry_too_few_words(results, resolved)
        for i in unsure:  # no text beats text in the wrong language
            results[i] = TranscriptionResult.empty(resolved[i][1].language or "")
        retry = [i for i, r in enumerate(results) if r is None and (resolved[i][1].context_samples or i in copied)]
        if retry:  # no continuation of the context: the utterance alone (and without the words it copied)
            alone = [
                options.without_context(audio, forget_said=i in copied)
                for i, (audio, options) in ((i, resolved[i]) for i in retry)
            ]
            for i, result in zip(retry, self.transcribe_batch(alone, final=final), strict=True):
                results[i] = result
        done = [
            result if result is not None else self._fallback(audio, options, final=final)
            for (audio, options), result in zip(resolved, results, strict=True)
        ]
        return [with_detection(result, detected.get(i), detection_s) for i, result in enumerate(done)]

    def _fallback(self, audio: np.ndarray, options: DecodeOptions, *, final: bool) -> TranscriptionResult:
        """``_fallback_once``, and once more without the words already said if it copied them (seen on test-other
        at a 170 ms endpoint: a whole earlier final came again at a temperature)."""
        result = self._fallback_once(audio, options, final=final)
        if result.text and repeats_what_was_said(options.said(), result.text):
            return self._fallback_once(*options.without_context(audio, forget_said=True), final=final)
        return result

    def _fallback_once(self, audio: np.ndarray, options: DecodeOptions, *, final: bool) -> TranscriptionResult:
        """faster-whisper's own path, bounded (``fallback``): temperatures for a final, greedy for a partial."""
        default_beam = self.options.final_beam_size if final else self.options.partial_beam_size
        result = transcribe_with_fallback(
            self._model, audio, language=self._language(options), prompt=prompt_for(options, options.language or "en"),
            guard=self.options.guard, timestamps=final, beam_results=options.sampling.beam_results,
            **transcribe_kwargs(self._model, options, beam_size=default_beam, final=final),
        )  # fmt: skip
        if final and options.word_timestamps and result.text:
            return self._with_words(audio, result, options)
        return result

    def _with_words(
        self, audio: np.ndarray, result: TranscriptionResult, options: DecodeOptions
    ) -> TranscriptionResult:
        """``result`` with its words aligned to ``audio``, each segment holding its own."""
        from faster_whisper.tokenizer import Tokenizer

        task, language = options.sampling.task, result.language_code or "en"
        tokenizer = Tokenizer(self._model.hf_tokenizer, self.is_multilingual, task=task, language=language)
        tokens = tokenizer.encode(" " + result.text)
        encoder_output = self._encode([audio], fit=False)
        [words] = self._align(tokenizer, encoder_output, [(audio, _WITH_WORDS)], [DecoderPrompt([], [], [])], [tokens])
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
        utterances = [items[i][0][items[i][1].context_samples :] for i in to_detect]  # the context is earlier
        detected = dict(zip(to_detect, self.detect_languages(utterances), strict=True))
        resolved: list[tuple[np.ndarray, DecodeOptions]] = []
        unsure: set[int] = set()
        probabilities: dict[int, float] = {}
        for i, (audio, options) in enumerate(items):
            language, sure = self._language(options), True
            if language is None:
                language, sure = choose_language(detected[i], options.language_options, options.prompt_language)
                probabilities[i] = dict(detected[i]).get(language, 0.0)
                if options.context_samples and not (sure and language == options.prompt_language):
                    audio, options = options.without_context(audio)  # its words are in another language
            if not sure and not final:
                unsure.add(i)
            # a decoder loop in the history ("die. . . . .") makes the decode loop again: never prompted with one
            history = options.history if history_fits(options, language) else None
            history = without_punctuation_runs(history)[0] or None if history else None
            resolved.append((audio, replace(options, language=language, history=history)))
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

        With ``fit_encoder_window`` the encoder input is cut to the longest item plus a margin instead of padded
        to 30 s (CTranslate2 accepts shorter inputs; the encoder then does ~8x less work for a 5 s utterance).
        It is off by default: on 116 shared utterances tiny.en's WER went from 0.141 to 0.419, mostly repetition
        loops on short clips (scripts/eval_encoder_window.py). An item with a ``prefix`` gets only the words
        after it; one that does not continue it is doubtful. With ``word_timestamps``, items that ask for them
        get the decoded tokens aligned. Returns each result and whether it is doubtful (low log-probability,
        repetitive or a punctuation loop).
        """
        from faster_whisper.tokenizer import Tokenizer

        model = self._model
        language = self._language(items[0][1])
        sampling = items[0][1].sampling
        tokenizer = Tokenizer(model.hf_tokenizer, self.is_multilingual, task=sampling.task, language=language)
        fit = self.options.fit_encoder_window if fit_encoder_window is None else fit_encoder_window
        encoder_output = self._encode([audio for audio, _ in items], fit=fit)
        prompts = same_start_of_transcript(
            [decoder_prompt(model, tokenizer, options, self.options.context_form) for _, options in items], tokenizer
        )
        outputs = generate(model, encoder_output, prompts, items, tokenizer, beam_size=beam_size)

        def rest(indexes: list[int], batch: list[DecoderPrompt]) -> list[list[int]]:
            some = [items[i] for i in indexes]
            encoded = encoder_rows(encoder_output, indexes)
            if encoded is None:
                encoded = self._encode([a for a, _ in some], fit=fit)
            padded = same_start_of_transcript(batch, tokenizer)
            return [o.sequences_ids[0] for o in generate(model, encoded, padded, some, tokenizer, beam_size=beam_size)]

        whole = continued(rest, tokenizer, items, prompts, [output.sequences_ids[0] for output in outputs])
        tokens = [at_most(new, options.sampling.max_new_tokens) for new, (_, options) in zip(whole, items, strict=True)]
        words: list[tuple[Word, ...] | None] = [None] * len(items)
        if word_timestamps and any(options.word_timestamps for _, options in items):
            words = self._align(tokenizer, encoder_output, items, prompts, tokens)
        decoded = [
            self._decoded(tokenizer, item, output, new, item_words, language or "")
            for item, output, new, item_words in zip(items, outputs, tokens, words, strict=True)
        ]
        prompted = self.options.context_form is ContextForm.PROMPTED
        return [
            (
                with_beam_results(result, tokenizer, output, prompt.forced, options, tokens=new, prompted=prompted),
                doubtful,
            )
            for (result, doubtful), output, prompt, (_, options), new in zip(
                decoded, outputs, prompts, items, tokens, strict=True
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
        prompted = self.options.context_form is ContextForm.PROMPTED
        text, words, looped = own_text(tokenizer.decode(tokens), words, options, prompted)  # type: ignore[attr-defined]
        all_tokens = len(output.sequences_ids[0])  # type: ignore[attr-defined]
        length_penalty = options.sampling.length_penalty  # CTranslate2's score is normalised by length ** penalty
        avg_logprob = output.scores[0] * all_tokens**length_penalty / (all_tokens + 1)  # type: ignore[attr-defined]
        guard = self.options.guard
        silence = guard.silence(output.no_speech_prob, avg_logprob)  # type: ignore[attr-defined]
        utterance_s = options.utterance_s(audio)
        if options.prefix and not continues(options.prefix, text, utterance_s):
            return TranscriptionResult.empty(), True
        if not text or silence:  # a loop of dots alone is doubtful: decoded again, not taken as silence
            return TranscriptionResult.empty(language), looped and not silence
        doubtful = looped or guard.doubtful(avg_logprob, get_compression_ratio(text))
        segment = Segment(text, 0.0, utterance_s, words, log_prob=avg_logprob, possible_hallucination=doubtful)
        return TranscriptionResult(text, language, math.exp(avg_logprob), (segment,)), doubtful

    def _align(
        self,
        tokenizer: object,
        encoder_output: object,
        items: Sequence[tuple[np.ndarray, DecodeOptions]],
        prompts: Sequence[DecoderPrompt],
        tokens: Sequence[list[int] | None],
    ) -> list[tuple[Word, ...] | None]:
        """Word times of the decoded tokens, one alignment pass for the batch (the context's words, then the
        new ones: the alignment sees text tokens only, never a timestamp)."""
        from faster_whisper.transcribe import merge_punctuations

        text_tokens = [prompt.context_words + (new or []) for prompt, new in zip(prompts, tokens, strict=True)]
        num_frames = [audio.size // self._model.feature_extractor.hop_length for audio, _ in items]
        alignments = self._model.find_alignment(tokenizer, text_tokens, encoder_output, num_frames)
        words: list[tuple[Word, ...] | None] = []
        for (audio, options), prompt, alignment in zip(items, prompts, alignments, strict=True):
            if not options.word_timestamps:
                words.append(None)
                continue
            merge_punctuations(alignment, "\"'“¿([{-", "\"'.。,，!！?？:：”)]}、")
            words.append(utterance_words(alignment, len(prompt.context_words), options.context_samples, audio.size))
        return words


_WITH_WORDS = DecodeOptions("en", None, word_timestamps=True)
FULL_WINDOW_FRAMES = 3000
_FRAMES_PER_SECOND = 100
_WINDOW_MARGIN_FRAMES = 50


def encoder_frames(samples: int) -> int:
    """Mel frames for the encoder: the audio plus a 0.5 s margin, rounded up to whole seconds."""
    needed = samples // (SAMPLE_RATE_HZ // _FRAMES_PER_SECOND) + _WINDOW_MARGIN_FRAMES
    return min(FULL_WINDOW_FRAMES, -(-needed // _FRAMES_PER_SECOND) * _FRAMES_PER_SECOND)
