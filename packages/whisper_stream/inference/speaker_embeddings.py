"""Speaker embeddings of finals, computed beside their decode: the engine's side of diarization.

A final (or speculative final) whose options ask for it (``DecodeOptions.speaker_embedding``) has its
utterance's audio, the context left out, embedded by the replica's speaker model on a small pool of threads
of its own, started when the decode starts: Whisper and the embedding run at once (on a GPU replica the
embedding's CPU time hides behind the decode; on a CPU one they share the cores). Once the decode is done,
its results wait for their embeddings at most ``max_wait_s`` all together: an embedding later than that is
left off and the final goes out unlabelled rather than late. A failed embedding is logged and left off too:
a label is never worth a final.

``threshold`` and ``max_speakers`` are the clustering defaults that go with the model (each model has its
own scale of cosine similarity); the session's clustering (``core.speakers``) starts from them.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError

import numpy as np

from whisper_stream.audio.speaker_embedding import SpeakerEmbedder
from whisper_stream.inference.requests import TranscriptionRequest
from whisper_stream.protocol.results import TranscriptionResult

logger = logging.getLogger(__name__)

Embedding = tuple[tuple[float, ...], float]
"""A unit vector, and the seconds its embedding took."""


class SpeakerEmbeddings:
    """The replica's speaker model, run beside the decodes. Thread-safe; ``close`` stops its threads."""

    def __init__(
        self,
        embedder: SpeakerEmbedder,
        *,
        threshold: float,
        max_speakers: int,
        threads: int = 1,
        max_wait_s: float = 0.5,
    ) -> None:
        if threads < 1 or max_wait_s < 0:
            raise ValueError(f"threads must be at least 1 and max_wait_s at least 0, got {threads}, {max_wait_s}")
        self.embedder = embedder
        self.threshold = threshold
        self.max_speakers = max_speakers
        self.threads = threads
        self.max_wait_s = max_wait_s
        self._pool: ThreadPoolExecutor | None = None

    def start(
        self, requests: Sequence[tuple[TranscriptionRequest, contextvars.Context | None]]
    ) -> list[Future[Embedding] | None]:
        """Start embedding each final that asks for it (its context left out); None for the others."""
        return [self._start(request, context) for request, context in requests]

    def _start(self, request: TranscriptionRequest, context: contextvars.Context | None) -> Future[Embedding] | None:
        if not (request.kind.is_final and request.options.speaker_embedding):
            return None
        audio = request.audio[request.options.context_samples :]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="speaker-embedding")
        run = context.copy().run if context is not None else _call  # the session's id in its log lines
        try:
            return self._pool.submit(run, self._embed, audio)
        except RuntimeError:  # closed meanwhile (the engine stopping): the decode goes on, unlabelled
            logger.warning("speaker embeddings are stopped: final unlabelled")
            return None

    def _embed(self, audio: np.ndarray) -> Embedding:
        started = time.perf_counter()
        vector = self.embedder.embed(audio)
        return tuple(float(x) for x in vector), time.perf_counter() - started

    def attach(
        self, results: Sequence[TranscriptionResult], pending: Sequence[Future[Embedding] | None]
    ) -> list[TranscriptionResult]:
        """Each result with its embedding, those not done within ``max_wait_s`` from now (all together) without."""
        deadline_s = time.perf_counter() + self.max_wait_s
        return [
            result if future is None else self._with(result, future, max(deadline_s - time.perf_counter(), 0.0))
            for result, future in zip(results, pending, strict=True)
        ]

    def _with(self, result: TranscriptionResult, future: Future[Embedding], timeout_s: float) -> TranscriptionResult:
        try:
            vector, seconds = future.result(timeout=timeout_s)
        except FutureTimeoutError:
            future.cancel()
            logger.info("speaker embedding not done %.0f ms after the decode: final unlabelled", self.max_wait_s * 1e3)
            return result
        except Exception:
            logger.warning("speaker embedding failed: final unlabelled", exc_info=True)
            return result
        times = dataclasses.replace(result.times, speaker_embedding_s=seconds)
        return dataclasses.replace(result, speaker_embedding=vector, times=times)

    def close(self) -> None:
        """Stop the threads (running embeddings finish; their results are dropped). ``start`` makes new ones."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def _call(function: Callable[[np.ndarray], Embedding], audio: np.ndarray) -> Embedding:
    return function(audio)
