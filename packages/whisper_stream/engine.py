"""One Whisper model shared by every session: admission, scheduling, worker threads.

Requests from all sessions go into one priority queue served by a fixed pool of
worker threads (never the event loop). Finals come before partials; a partial
is only accepted when a worker is idle and nothing waits, so under load partials
are skipped instead of queuing up behind finals. Results come back as
``concurrent.futures.Future`` objects, usable from any event loop.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field

from whisper_stream import metrics
from whisper_stream.errors import ServerBusyError
from whisper_stream.results import TranscriptionResult
from whisper_stream.session import RequestKind, TranscriptionRequest
from whisper_stream.transcriber import Transcriber
from whisper_stream.vad import SpeechScorer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineOptions:
    max_sessions: int = 8
    decode_workers: int = 1


@dataclass(order=True)
class _Job:
    priority: int
    sequence: int
    request: TranscriptionRequest = field(compare=False)
    future: Future[TranscriptionResult] = field(compare=False)


class Engine:
    """Shared inference for every session of a replica."""

    def __init__(
        self,
        transcriber: Transcriber,
        scorer_factory: Callable[[], SpeechScorer],
        options: EngineOptions = EngineOptions(),
    ) -> None:
        self.transcriber = transcriber
        self.options = options
        self._scorer_factory = scorer_factory
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._queue: list[_Job] = []
        self._sequence = itertools.count()
        self._idle_workers = 0
        self._sessions = 0
        self._threads: list[threading.Thread] = []
        self._stopping = False

    # -------------------------------------------------------------- lifecycle

    def start(self) -> None:
        with self._lock:
            if self._threads:
                return
            self._stopping = False
            self._threads = [
                threading.Thread(target=self._work, name=f"whisper-decode-{i}", daemon=True)
                for i in range(self.options.decode_workers)
            ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Cancel queued work and join the workers (the running decodes finish first)."""
        with self._lock:
            self._stopping = True
            pending, self._queue = self._queue, []
            self._wakeup.notify_all()
        for job in pending:
            job.future.cancel()
        for thread in self._threads:
            thread.join()
        self._threads = []

    @property
    def running(self) -> bool:
        return bool(self._threads) and not self._stopping

    # -------------------------------------------------------------- admission

    @contextlib.contextmanager
    def session_slot(self) -> Iterator[None]:
        """Hold one of ``max_sessions`` slots, or raise ``ServerBusyError`` at once."""
        with self._lock:
            if self._sessions >= self.options.max_sessions:
                raise ServerBusyError(
                    f"server is at its limit of {self.options.max_sessions} concurrent sessions; retry later"
                )
            self._sessions += 1
        metrics.SESSIONS_OPEN.inc()
        try:
            yield
        finally:
            with self._lock:
                self._sessions -= 1
            metrics.SESSIONS_OPEN.dec()

    @property
    def open_sessions(self) -> int:
        return self._sessions

    def new_scorer(self) -> SpeechScorer:
        return self._scorer_factory()

    # ------------------------------------------------------------- scheduling

    def submit(self, request: TranscriptionRequest) -> Future[TranscriptionResult] | None:
        """Queue a request. A partial is refused (``None``) unless a worker is idle."""
        future: Future[TranscriptionResult] = Future()
        is_final = request.kind is RequestKind.FINAL
        with self._lock:
            if self._stopping or not self._threads:
                raise RuntimeError("engine is not running")
            if not is_final and (self._idle_workers == 0 or self._queue):
                metrics.PARTIALS_SKIPPED.inc()
                return None
            heapq.heappush(self._queue, _Job(0 if is_final else 1, next(self._sequence), request, future))
            self._wakeup.notify()
        return future

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle_workers += 1
                while not self._queue and not self._stopping:
                    self._wakeup.wait()
                self._idle_workers -= 1
                if self._stopping:
                    return
                job = heapq.heappop(self._queue)
            if not job.future.set_running_or_notify_cancel():
                continue
            self._run(job)

    def _run(self, job: _Job) -> None:
        request = job.request
        final = request.kind is RequestKind.FINAL
        started = time.perf_counter()
        try:
            result = self.transcriber.transcribe(request.audio, request.options, final=final)
        except BaseException as exc:  # handed to the session that asked; the worker lives on
            job.future.set_exception(exc)
            return
        elapsed_s = time.perf_counter() - started
        metrics.DECODE_SECONDS.labels(kind=request.kind.value).observe(elapsed_s)
        metrics.AUDIO_DECODED_SECONDS.labels(kind=request.kind.value).inc(request.duration_s)
        job.future.set_result(result)
