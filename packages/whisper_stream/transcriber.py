"""Whisper inference through faster-whisper: the only module that imports it."""

from __future__ import annotations

import logging
import math
import os
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
    """Turns one utterance of 16 kHz audio into text. Called from worker threads."""

    is_multilingual: bool

    def transcribe(self, audio: np.ndarray, options: DecodeOptions, *, final: bool) -> TranscriptionResult: ...


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
