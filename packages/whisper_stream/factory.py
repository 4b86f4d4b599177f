"""Build the shared engine of a replica from its ``Settings``, ready when it returns."""

from __future__ import annotations

import logging
import time

import numpy as np

from whisper_stream import simulated_transcriber
from whisper_stream.decode_requests import DecodeOptions
from whisper_stream.device import RuntimeInfo, check_cuda, runtime_info
from whisper_stream.engine import Engine, EngineOptions
from whisper_stream.model_source import ModelSource, resolve_model_source
from whisper_stream.settings import Settings
from whisper_stream.silero import SileroVadModel
from whisper_stream.transcriber import FasterWhisperTranscriber, Transcriber, TranscriberOptions, pick_device
from whisper_stream.vad import FRAME_SAMPLES, SAMPLE_RATE_HZ

logger = logging.getLogger(__name__)

_WARM_UP_AUDIO = np.zeros(SAMPLE_RATE_HZ, dtype=np.float32)


def build_engine(settings: Settings, *, download_root: str | None = None) -> Engine:
    """Load the model (failing fast when the device can't run it), warm it up, start the workers."""
    if settings.whisper_model.startswith(simulated_transcriber.PREFIX):
        engine = _start(settings, _simulated(settings), SileroVadModel(), on_gpu=True)
        logger.info("ready: simulated accelerator %s; %s", settings.whisper_model, engine.options)
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
        "ready: model %s, revision %s, device %s, compute type %s, ctranslate2 %s, %d CUDA device(s); "
        "load %.2f s, warm-up %s; %s",
        source.name_or_path,
        source.revision or "-",
        transcriber.device,
        transcriber.compute_type,
        info.ctranslate2_version,
        info.cuda_device_count,
        load_s,
        f"{warm_up_s:.2f} s" if settings.warm_up else "off",
        engine.options,
    )
    return engine


def _simulated(settings: Settings) -> Transcriber:
    """``simulated:<model>:<gpu>``: no Whisper, a GPU's decode time slept (see ``simulated_transcriber``)."""
    model, gpu = simulated_transcriber.parse_spec(settings.whisper_model)
    return simulated_transcriber.SimulatedTranscriber(model, gpu, final_beam_size=settings.beam_size or 5)


def _start(settings: Settings, transcriber: Transcriber, vad_model: SileroVadModel, *, on_gpu: bool) -> Engine:
    engine = Engine(
        transcriber,
        vad_model.new_scorer,
        EngineOptions(
            max_sessions=settings.max_sessions or (32 if on_gpu else 8),
            decode_workers=settings.decode_workers,
            max_batch_size=settings.max_batch_size or (8 if on_gpu else 1),
        ),
    )
    engine.start()
    return engine


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
            download_root=download_root,
        ),
    )


def warm_up(transcriber: Transcriber, vad_model: SileroVadModel) -> float:
    """One VAD frame and one final decode before readiness, so no client pays the first-call costs."""
    started = time.perf_counter()
    vad_model.new_scorer().score(np.zeros(FRAME_SAMPLES, dtype=np.float32))
    transcriber.transcribe(_WARM_UP_AUDIO, DecodeOptions(language="en", prompt=None, word_timestamps=False), final=True)
    return time.perf_counter() - started
