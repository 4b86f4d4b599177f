"""Build the shared engine of a replica from its ``Settings``."""

from __future__ import annotations

import logging

from whisper_stream import simulated_transcriber
from whisper_stream.engine import Engine, EngineOptions
from whisper_stream.model_source import resolve_model_source
from whisper_stream.settings import Settings
from whisper_stream.silero import SileroVadModel
from whisper_stream.transcriber import FasterWhisperTranscriber, Transcriber, TranscriberOptions, pick_device

logger = logging.getLogger(__name__)


def build_engine(settings: Settings, *, download_root: str | None = None) -> Engine:
    if settings.whisper_model.startswith(simulated_transcriber.PREFIX):
        return _start(settings, _simulated(settings), on_gpu=True, name=settings.whisper_model)
    device = pick_device(settings.device)
    on_gpu = device == "cuda"
    source = resolve_model_source(settings.whisper_model, revision=settings.whisper_revision)
    transcriber = FasterWhisperTranscriber(
        source,
        TranscriberOptions(
            device=device,
            compute_type=settings.compute_type or None,
            cpu_threads=settings.cpu_threads,
            num_workers=settings.decode_workers,
            final_beam_size=settings.beam_size or (5 if on_gpu else 1),
            download_root=download_root,
        ),
    )
    return _start(settings, transcriber, on_gpu=on_gpu, name=source.name_or_path)


def _simulated(settings: Settings) -> Transcriber:
    """``simulated:<model>:<gpu>``: no Whisper, a GPU's decode time slept (see ``simulated_transcriber``)."""
    model, gpu = simulated_transcriber.parse_spec(settings.whisper_model)
    return simulated_transcriber.SimulatedTranscriber(model, gpu, final_beam_size=settings.beam_size or 5)


def _start(settings: Settings, transcriber: Transcriber, *, on_gpu: bool, name: str) -> Engine:
    vad_model = SileroVadModel()
    engine = Engine(
        transcriber,
        vad_model.new_scorer,
        EngineOptions(
            max_sessions=settings.max_sessions or (64 if on_gpu else 8),
            decode_workers=settings.decode_workers,
            max_batch_size=settings.max_batch_size or (8 if on_gpu else 1),
        ),
    )
    engine.start()
    logger.info("engine ready: %s, %s", name, engine.options)
    return engine
