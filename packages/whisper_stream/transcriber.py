"""Whisper inference through faster-whisper: the only module that imports it."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from whisper_stream.model_source import ModelSource
from whisper_stream.results import Segment, TranscriptionResult, Word
from whisper_stream.session import DecodeOptions
from whisper_stream.vad import SAMPLE_RATE_HZ

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

    def transcribe(self, audio: np.ndarray, options: DecodeOptions, *, final: bool) -> TranscriptionResult:
        language = options.language
        if not self.is_multilingual:
            language = "en"
        segments, info = self._model.transcribe(
            audio,
            language=language,
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

    def transcribe_batch(
        self, items: Sequence[tuple[np.ndarray, DecodeOptions]], *, final: bool
    ) -> list[TranscriptionResult]:
        """Decode several utterances (of any sessions) in one encoder and one decoder pass.

        Items must share a language and not ask for word timestamps (the engine
        groups them so). An item whose greedy/beam result fails the hallucination
        guards is decoded again alone, with temperature fallback.
        """
        if len(items) == 1:
            return [self.transcribe(items[0][0], items[0][1], final=final)]
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_compression_ratio, get_suppressed_tokens

        model = self._model
        language = "en" if not self.is_multilingual else items[0][1].language
        tokenizer = Tokenizer(model.hf_tokenizer, self.is_multilingual, task="transcribe", language=language)
        features = np.stack([pad_or_trim(model.feature_extractor(audio)[..., :-1]) for audio, _ in items])
        encoder_output = model.encode(features)
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
            beam_size=self.options.final_beam_size if final else self.options.partial_beam_size,
            max_length=model.max_length,
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
            return_scores=True,
            return_no_speech_prob=True,
        )
        results = []
        for (audio, options), output in zip(items, outputs, strict=True):
            tokens = output.sequences_ids[0]
            text = tokenizer.decode(tokens).strip()
            avg_logprob = output.scores[0] * len(tokens) / (len(tokens) + 1)
            silent = (
                output.no_speech_prob > self.options.no_speech_threshold
                and avg_logprob < self.options.log_prob_threshold
            )
            doubtful = avg_logprob < self.options.log_prob_threshold or (
                get_compression_ratio(text) > self.options.compression_ratio_threshold if text else False
            )
            if silent or not text:
                results.append(TranscriptionResult("", language, 0.0, ()))
            elif doubtful and final:
                results.append(self.transcribe(audio, options, final=True))
            else:
                segment = Segment(text, 0.0, audio.size / SAMPLE_RATE_HZ)
                results.append(TranscriptionResult(text, language, math.exp(avg_logprob), (segment,)))
        return results
