"""Build the shared engine of a replica from its ``Settings``, ready when it returns."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
import time
import types
from pathlib import Path

import numpy as np

from whisper_stream.audio.silero import SileroVadModel
from whisper_stream.audio.speaker_embedding import load_speaker_embedder
from whisper_stream.audio.vad import FRAME_SAMPLES
from whisper_stream.inference.context_decoding import ContextForm
from whisper_stream.inference.device import RuntimeInfo, check_cuda, runtime_info
from whisper_stream.inference.engine import Engine, EngineOptions
from whisper_stream.inference.model_source import ModelSource, resolve_model_source
from whisper_stream.inference.requests import DecodeOptions
from whisper_stream.inference.speaker_embeddings import SpeakerEmbeddings
from whisper_stream.inference.transcriber import FasterWhisperTranscriber, Transcriber, TranscriberOptions, pick_device
from whisper_stream.samples import SAMPLE_RATE_HZ
from whisper_stream.server.settings import Settings

logger = logging.getLogger(__name__)

_WARM_UP_AUDIO = np.zeros(SAMPLE_RATE_HZ, dtype=np.float32)


def build_engine(settings: Settings, *, download_root: str | None = None) -> Engine:
    """Load the model (failing fast when the device can't run it), warm it up, start the workers."""
    if settings.transcriber:
        custom = load_custom_transcriber(settings)
        on_gpu = getattr(custom, "device", "cpu") == "cuda"
        engine = _start(settings, custom, SileroVadModel(), on_gpu=on_gpu)
        logger.info("ready: transcriber %s (%s); %s", settings.transcriber, settings.whisper_model, engine.options)
        return engine
    started = time.perf_counter()
    info = runtime_info()
    source = resolve_model_source(settings.whisper_model, revision=settings.whisper_revision)
    transcriber = build_transcriber(settings, source, info, download_root=download_root)
    vad_model = SileroVadModel()
    load_s = time.perf_counter() - started
    warm_up_s = warm_up(transcriber, vad_model) if settings.warm_up else 0.0
    engine = _start(settings, transcriber, vad_model, on_gpu=transcriber.device == "cuda")
    logger.info(
        "ready: model %s, revision %s, device %s, compute type %s, %s, ctranslate2 %s, %d CUDA device(s); "
        "load %.2f s, warm-up %s; %s",
        source.name_or_path,
        source.revision or "-",
        transcriber.device,
        transcriber.compute_type,
        transcriber.tokenizer_check.describe(),
        info.ctranslate2_version,
        info.cuda_device_count,
        load_s,
        f"{warm_up_s:.2f} s" if settings.warm_up else "off",
        engine.options,
    )
    return engine


def load_custom_transcriber(settings: Settings) -> Transcriber:
    """``WHISPER_TRANSCRIBER=<module or file.py>:<function>``: ``function(settings)`` builds the transcriber.

    For transcribers that are not part of the product, e.g. the benchmarks' simulated accelerator
    (``bench/simulated_accelerator.py:from_settings``), which sleeps as long as a GPU would decode.
    """
    target, _, name = settings.transcriber.rpartition(":")
    if not target or not name:
        raise ValueError(f"WHISPER_TRANSCRIBER must be <module or file.py>:<function>, got {settings.transcriber!r}")
    if target.endswith(".py"):
        module_name = f"_whisper_transcriber_{Path(target).stem}"
        module = _module_of_file(Path(target))  # loaded already (an earlier try of load()): its metrics exist
        if module is None:
            spec = importlib.util.spec_from_file_location(module_name, target)
            if spec is None or spec.loader is None or not Path(target).is_file():
                raise ValueError(f"WHISPER_TRANSCRIBER: no Python file at {target}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module  # before it runs: dataclasses look their module up there
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[module_name]
                raise
    else:
        module = importlib.import_module(target)
    build = getattr(module, name, None)
    if not callable(build):
        raise ValueError(f"WHISPER_TRANSCRIBER: {target} has no function {name!r}")
    return build(settings)


def _module_of_file(path: Path) -> types.ModuleType | None:
    """The module already imported from ``path``, under whatever name, if any."""
    if not path.is_file():
        return None
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve() == path.resolve():
            return module
    return None


def _start(settings: Settings, transcriber: Transcriber, vad_model: SileroVadModel, *, on_gpu: bool) -> Engine:
    options = EngineOptions(
        max_sessions=settings.max_sessions or (32 if on_gpu else 8),
        decode_workers=settings.decode_workers,
        max_batch_size=settings.max_batch_size or (8 if on_gpu else 1),
    )
    engine = Engine(transcriber, vad_model.new_scorer, options, speakers=build_speaker_embeddings(settings, options))
    engine.start()
    return engine


def build_speaker_embeddings(settings: Settings, options: EngineOptions) -> SpeakerEmbeddings | None:
    """The speaker model ``DIARIZATION_MODEL`` names, warmed up, with a thread for each final decoded at once
    (at most one a core); None when unset. ``ModelNotFoundError`` when it is not there: load() fails."""
    if not settings.diarization_model:
        return None
    started = time.perf_counter()
    embedder = load_speaker_embedder(settings.diarization_model)
    if settings.warm_up:
        embedder.embed(_WARM_UP_AUDIO)
    threads = max(1, min(options.decode_workers * options.max_batch_size, os.cpu_count() or 1))
    logger.info(
        "speaker model %s (%s), %d-d, %d thread(s), threshold %.2f, at most %d speakers, wait %d ms; %.2f s",
        settings.diarization_model,
        type(embedder).__name__,
        embedder.dimension,
        threads,
        settings.diarization_threshold,
        settings.diarization_max_speakers,
        settings.diarization_max_wait_ms,
        time.perf_counter() - started,
    )
    return SpeakerEmbeddings(
        embedder,
        threshold=settings.diarization_threshold,
        max_speakers=settings.diarization_max_speakers,
        threads=threads,
        max_wait_s=settings.diarization_max_wait_ms / 1000,
    )


def build_transcriber(
    settings: Settings, source: ModelSource, info: RuntimeInfo, *, download_root: str | None = None
) -> FasterWhisperTranscriber:
    """The Whisper model on the configured device; ``DeviceUnavailableError`` when CUDA can't run it."""
    device = pick_device(settings.device)
    if device == "cuda":
        check_cuda(info)
    return FasterWhisperTranscriber(
        source,
        TranscriberOptions(
            device=device,
            compute_type=settings.compute_type or None,
            cpu_threads=settings.cpu_threads,
            num_workers=settings.decode_workers,
            final_beam_size=settings.beam_size or (5 if device == "cuda" else 1),
            context_form=ContextForm(settings.context_form),
            download_root=download_root,
        ),
    )


def warm_up(transcriber: Transcriber, vad_model: SileroVadModel) -> float:
    """One VAD frame and one final decode before readiness, so no client pays the first-call costs."""
    started = time.perf_counter()
    vad_model.new_scorer().score(np.zeros(FRAME_SAMPLES, dtype=np.float32))
    transcriber.transcribe(_WARM_UP_AUDIO, DecodeOptions(language="en", prompt=None, word_timestamps=False), final=True)
    return time.perf_counter() - started
