"""One Whisper model shared by every session: admission, scheduling, worker threads.

Requests from all sessions go into one priority queue served by a fixed pool of
worker threads (never the event loop): finals, then speculative (early) finals,
then partials; within a kind, a session's request goes behind the requests of
sessions that have fewer waiting (``_Turns``), so a client that sends faster than
real time waits behind its own backlog, not the others'. A partial is only accepted when a worker is idle, nothing
waits and the replica's partial budget has credit (``partial_budget``: partials
take at most ``partial_share`` of the decoder time finals leave idle), so under
load partials thin out smoothly instead of queuing up behind finals, and a final
never waits behind a partial that started after it was requested. An early
final (speculative) is only accepted while the finals and early finals waiting
fit in the next batch (one pause after another would otherwise fill the decoder
with speculative batches): under load the session asks for the final once the
silence is confirmed. A final keeps its context under any load: in the prompted form it costs
about a decode alone (the sweeps in docs/performance.md measured no latency gained by shedding it).
Results come back as ``concurrent.futures.Future`` objects, usable from any
event loop. A session can withdraw a queued request (``cancel``: it leaves the
queue at once, so it blocks nothing) or promote a speculative final to a final
(``promote``). A worker never dies: whatever a decode raises is set on the
futures of that decode. With a speaker model (``speaker_embeddings``), finals that ask for it are embedded
beside their decode, and their results carry who said them.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import heapq
import itertools
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field

from whisper_stream import metrics
from whisper_stream.audio.vad import SpeechScorer
from whisper_stream.inference.partial_budget import PartialBudget
from whisper_stream.inference.requests import RequestKind, TranscriptionRequest
from whisper_stream.inference.speaker_embeddings import Embedding, SpeakerEmbeddings
from whisper_stream.inference.transcriber import Transcriber
from whisper_stream.protocol.errors import ServerBusyError
from whisper_stream.protocol.results import TranscriptionResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineOptions:
    max_sessions: int = 8
    decode_workers: int = 1
    max_batch_size: int = 1
    partial_share: float = 0.5
    """Of the decoder time that finals leave idle, the most partials may take (all sessions together)."""


class EngineStoppedError(RuntimeError):
    """The engine is not running (not started yet, or stopped): nothing can be submitted."""


@dataclass(order=True)
class _Job:
    priority: int
    turn: int
    """Its place among its kind: how many requests of its owner were waiting when it came (``_Turns``)."""
    sequence: int
    request: TranscriptionRequest = field(compare=False)
    future: Future[TranscriptionResult] = field(compare=False)
    context: contextvars.Context = field(compare=False)
    queued_at_s: float = field(default=0.0, compare=False)
    """``time.perf_counter()`` when it was queued: its queue wait goes on its result (``DecodeTimes``)."""
    owner: object = field(default=None, compare=False)


class Engine:
    """Shared inference for every session of a replica."""

    def __init__(
        self,
        transcriber: Transcriber,
        scorer_factory: Callable[[int], SpeechScorer],
        options: EngineOptions = EngineOptions(),
        *,
        clock: Callable[[], float] = time.monotonic,
        speakers: SpeakerEmbeddings | None = None,
    ) -> None:
        self.transcriber = transcriber
        self.speakers = speakers
        """The replica's speaker model, if it has one (``DIARIZATION_MODEL``)."""
        self.options = options
        self._clock = clock
        self._partial_budget = PartialBudget(share=options.partial_share, workers=options.decode_workers, clock=clock)
        self._scorer_factory = scorer_factory
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._queue: list[_Job] = []
        self._queued: dict[Future[TranscriptionResult], _Job] = {}
        self._sequence = itertools.count()
        self._turns = _Turns()
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
            self._queued.clear()
            self._wakeup.notify_all()
        for job in pending:
            job.future.cancel()
        for thread in self._threads:
            thread.join()
        self._threads = []
        if self.speakers is not None:
            self.speakers.close()

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

    def new_scorer(self, input_rate_hz: int) -> SpeechScorer:
        """A VAD scorer for one stream whose client declared ``input_rate_hz``."""
        return self._scorer_factory(input_rate_hz)

    # ------------------------------------------------------------- scheduling

    def submit(self, request: TranscriptionRequest, *, owner: object = None) -> Future[TranscriptionResult] | None:
        """Queue a request. A partial is refused (``None``) unless a worker is idle, nothing waits and the
        partial budget has credit; an early final while the next batch is full of finals.

        ``owner`` (the session) shares the decoder with the others: among requests of one kind, a request
        goes behind those of owners with fewer waiting, so a client that sends faster than real time queues
        behind its own backlog, not ahead of everyone's next final."""
        future: Future[TranscriptionResult] = Future()
        with self._lock:
            if self._stopping or not self._threads:
                raise EngineStoppedError("engine is not running")
            if request.kind is RequestKind.PARTIAL and not self._may_start_partial():
                metrics.PARTIALS_SKIPPED.inc()
                return None
            if request.kind is RequestKind.EARLY_FINAL and not self._may_queue_early_final():
                return None  # the session asks for the final once the silence is confirmed
            # The decode runs in the submitter's context, so its log lines carry the session id.
            turn, context = self._turns.queued(owner), contextvars.copy_context()
            job = _Job(
                request.kind.priority, turn, next(self._sequence), request, future, context, time.perf_counter(), owner
            )
            heapq.heappush(self._queue, job)
            self._queued[future] = job
            self._wakeup.notify()
        return future

    def _may_start_partial(self) -> bool:
        """Lock held. A partial starts at once on an idle worker, or not at all."""
        return self._idle_workers > 0 and not self._queue and self._partial_budget.allows_partial()

    def _may_queue_early_final(self) -> bool:
        """Lock held. Only while the finals and early finals waiting fit in one batch with room to spare
        (none waiting, unbatched): speculative work never piles up beyond the next decode."""
        waiting = sum(1 for job in self._queue if job.priority <= RequestKind.EARLY_FINAL.priority)
        return waiting < max(self.options.max_batch_size - 1, 1)

    def cancel(self, future: Future[TranscriptionResult]) -> None:
        """Withdraw a request: out of the queue at once if it has not started; a running decode finishes."""
        with self._lock:
            job = self._queued.pop(future, None)
            if job is not None:
                self._queue.remove(job)
                heapq.heapify(self._queue)
                self._turns.left(job.owner)
        future.cancel()

    def promote(self, future: Future[TranscriptionResult]) -> None:
        """Serve a queued speculative final as a final (it is one now)."""
        with self._lock:
            job = self._queued.get(future)
            if job is not None and job.priority > RequestKind.FINAL.priority:
                job.priority = RequestKind.FINAL.priority
                heapq.heapify(self._queue)

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
                batch = self._pop_batch()
                for job in batch:
                    del self._queued[job.future]
                    self._turns.left(job.owner)
                # Running from here on (a later cancel() cannot stop it), or cancelled already.
                batch = [job for job in batch if job.future.set_running_or_notify_cancel()]
            if batch:
                self._run(batch)

    def _pop_batch(self) -> list[_Job]:
        """The most urgent job, plus queued jobs that can share its decode (lock held).

        Jobs batch together when they decode alike (finals and speculative finals
        share the final beam; partials are greedy), share a fixed language, all
        want word timestamps (one alignment pass) or none does, and search alike
        (``_batch_key``).
        """
        first = heapq.heappop(self._queue)
        key = _batch_key(first.request)
        if self.options.max_batch_size <= 1 or key is None:
            return [first]
        batch, rest = [first], []
        for job in sorted(self._queue):
            if len(batch) < self.options.max_batch_size and _batch_key(job.request) == key:
                batch.append(job)
            else:
                rest.append(job)
        if len(batch) > 1:
            self._queue = rest
            heapq.heapify(self._queue)
        return batch

    def _run(self, batch: list[_Job]) -> None:
        """Decode a batch and resolve its futures, whatever happens: a worker never dies with work unresolved."""
        started = self._clock()
        try:
            embeddings = None if self.speakers is None else self.speakers.start([(j.request, j.context) for j in batch])
            self._run_batch(batch, embeddings)
        finally:
            final, seconds = batch[0].request.kind.is_final, self._clock() - started
            with self._lock:
                self._partial_budget.spent(final=final, seconds=seconds)

    def _run_batch(self, batch: list[_Job], embeddings: list[Future[Embedding] | None] | None = None) -> None:
        """``embeddings``: of the speakers of the batch's finals, started beside the decode (``speakers.start``)."""
        final = batch[0].request.kind.is_final
        started = time.perf_counter()
        try:
            results = self._decode(batch, final=final)
            if len(results) != len(batch):
                raise RuntimeError(f"{len(results)} results for a batch of {len(batch)}")
        except Exception as exc:
            if len(batch) > 1:  # one session's bad utterance must not fail the others batched with it
                logger.warning("a batch of %d decodes failed (%r); decoding them one by one", len(batch), exc)
                for i, job in enumerate(batch):
                    self._run_batch([job], None if embeddings is None else embeddings[i : i + 1])
                return
            _set_exception(batch[0].future, exc)  # handed to the session that asked; the worker lives on
            return
        except BaseException as exc:  # handed to the sessions that asked; the worker lives on
            for job in batch:
                _set_exception(job.future, exc)
            return
        decode_s = time.perf_counter() - started
        if self.speakers is not None and embeddings is not None:  # waits for them at most speakers.max_wait_s
            results = self.speakers.attach(results, embeddings)
        for job, result in zip(batch, results, strict=True):
            if not job.future.done():
                times = dataclasses.replace(result.times, queue_wait_s=started - job.queued_at_s, decode_s=decode_s)
                job.future.set_result(dataclasses.replace(result, times=times))
        with contextlib.suppress(Exception):  # metrics must never cost a result
            kind = "final" if final else "partial"
            metrics.DECODE_SECONDS.labels(kind=kind).observe(decode_s)
            metrics.DECODE_BATCH_SIZE.observe(len(batch))
            metrics.AUDIO_DECODED_SECONDS.labels(kind=kind).inc(sum(job.request.duration_s for job in batch))

    def _decode(self, batch: list[_Job], *, final: bool) -> list[TranscriptionResult]:
        if len(batch) == 1:
            # In the submitter's context, so the decode's log lines carry its session id.
            job = batch[0]
            return [job.context.run(self.transcriber.transcribe, job.request.audio, job.request.options, final=final)]
        return self.transcriber.transcribe_batch(
            [(job.request.audio, job.request.options) for job in batch], final=final
        )


class _Turns:
    """How many requests each owner (a session) has waiting: a new request queues behind those of owners
    with fewer. A real-time session has at most a final or two waiting, so its next one goes ahead of the
    backlog of a client that sends faster than real time, which is served in the time the others leave
    (and bounded by its own ``max_pending_audio_s``). Requests without an owner keep their order.
    """

    def __init__(self) -> None:
        self._waiting: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()

    def queued(self, owner: object) -> int:
        """A request of ``owner`` joins the queue: its turn (0 for the first waiting)."""
        if owner is None:
            return 0
        turn = self._waiting.get(owner, 0)
        self._waiting[owner] = turn + 1
        return turn

    def left(self, owner: object) -> None:
        """A request of ``owner`` left the queue (taken, withdrawn or dropped)."""
        if owner is not None and self._waiting.get(owner, 0) > 0:
            self._waiting[owner] -= 1


def _set_exception(future: Future[TranscriptionResult], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


def _batch_key(request: TranscriptionRequest) -> tuple[object, ...] | None:
    """Requests with equal keys can share one decode; None: this one decodes alone.

    One CTranslate2 ``generate`` call takes one beam size, penalties, temperature and task for the whole
    batch (``Sampling.batch_key``); sessions whose searches differ only in what is applied per item
    (``max_new_tokens``, n-best, fallback temperatures, retry) still batch.
    """
    options = request.options
    if options.language is None:
        return None  # language detection runs one utterance at a time
    return request.kind.is_final, options.language, options.word_timestamps, options.sampling.batch_key
