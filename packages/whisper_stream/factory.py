"""Build the shared engine of a replica from its ``Settings``."""

from __future__ import annotations

import logging

from whisper_stream.engine import Engine, EngineOptions
from whisper_stream.model_source import resolve_model_source
from whisper_stream.settings import Settings
from whisper_stream.silero import SileroVadModel
from whisper_stream.transcriber import FasterWhisperTranscriber, TranscriberOptions, pick_device

logger = logging.getLogger(__name__)


def build_engine(settings: Settings, *, download_root: str | None = None) -> Engine:
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
    logger.info("engine ready: %s, %s", source.name_or_path, engine.options)
    return engine
