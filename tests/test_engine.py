from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

from tests.fakes import EnergyScorer, ManualClock, result_for
from whisper_stream.inference.engine import Engine, EngineOptions
from whisper_stream.inference.requests import TRANSLATE, DecodeOptions, RequestKind, Sampling, TranscriptionRequest
from whisper_stream.protocol.errors import ServerBusyError
from whisper_stream.protocol.results import TranscriptionResult

OPTIONS = DecodeOptions(language="en", prompt=None, word_timestamps=False)


class GatedTranscriber:
    """Blocks each decode until released, and records the order of decodes."""

    is_multilingual = False

    def __init__(self) -> None:
        self.order: list[str] = []
        self.decoded: dict[str, tuple[int, DecodeOptions]] = {}
        """Per request name: the samples and options it was decoded with."""
        self.started = threading.Semaphore(0)
        self.release = threading.Semaphore(0)
        self.fail_on: set[str] = set()

    def transcribe(self, audio: np.ndarray, options: DecodeOptions, *, final: bool) -> TranscriptionResult:
        name = options.prompt or ""
        self.started.release()
        assert self.release.acquire(timeout=10)
        self.order.append(name)
        self.decoded[name] = (audio.size, options)
        if name in self.fail_on:
            raise RuntimeError(f"decode of {name} failed")
        return result_for(name)


def request(name: str, kind: RequestKind, request_id: int = 0) -> TranscriptionRequest:
    options = DecodeOptions(language="en", prompt=name, word_timestamps=False)
    return TranscriptionRequest(request_id, kind, 0, np.zeros(1600, dtype=np.float32), 0, options)


@pytest.fixture
def gated() -> Iterator[tuple[Engine, GatedTranscriber]]:
    transcriber = GatedTranscriber()
    engine = Engine(transcriber, EnergyScorer, EngineOptions(max_sessions=2, decode_workers=1))
    engine.start()
    yield engine, transcriber
    for _ in range(10):
        transcriber.release.release()
    engine.stop()
    assert not [t for t in threading.enumerate() if t.name.startswith("whisper-decode")]


def test_finals_are_served_before_partials_and_in_submission_order(gated) -> None:
    engine, transcriber = gated
    blocker = engine.submit(request("blocker", RequestKind.FINAL))
    assert transcriber.started.acquire(timeout=5)
    finals = [engine.submit(request(f"final-{i}", RequestKind.FINAL)) for i in range(3)]
    for _ in range(4):
        transcriber.release.release()
    for future in [blocker, *finals]:
        assert future is not None and future.result(timeout=5).text
    assert transcriber.order == ["blocker", "final-0", "final-1", "final-2"]


def test_partial_is_skipped_while_the_engine_is_busy(gated) -> None:
    engine, transcriber = gated
    busy = engine.submit(request("final", RequestKind.FINAL))
    assert transcriber.started.acquire(timeout=5)
    assert engine.submit(request("partial", RequestKind.PARTIAL)) is None
    transcriber.release.release()
    assert busy is not None and busy.result(timeout=5).text == "final"


def test_partial_is_accepted_when_a_worker_is_idle(gated) -> None:
    engine, transcriber = gated
    transcriber.release.release()
    future = engine.submit(request("partial", RequestKind.PARTIAL))
    assert future is not None and future.result(timeout=5).text == "partial"


def test_a_failing_decode_fails_only_its_own_request(gated) -> None:
    engine, transcriber = gated
    transcriber.fail_on = {"bad"}
    bad = engine.submit(request("bad", RequestKind.FINAL))
    good = engine.submit(request("good", RequestKind.FINAL))
    transcriber.release.release()
    transcriber.release.release()
    assert bad is not None and good is not None
    with pytest.raises(RuntimeError, match="decode of bad failed"):
        bad.result(timeout=5)
    assert good.result(timeout=5).text == "good"


def test_cancelled_request_is_never_decoded(gated) -> None:
    engine, transcriber = gated
    first = engine.submit(request("first", RequestKind.FINAL))
    assert transcriber.started.acquire(timeout=5)
    dropped = engine.submit(request("dropped", RequestKind.FINAL))
    last = engine.submit(request("last", RequestKind.FINAL))
    assert dropped is not None and dropped.cancel()
    transcriber.release.release()
    transcriber.release.release()
    assert first is not None and last is not None
    last.result(timeout=5)
    assert transcriber.order == ["first", "last"]


def test_session_slots_are_capped_and_released() -> None:
    engine = Engine(GatedTranscriber(), EnergyScorer, EngineOptions(max_sessions=2))
    with engine.session_slot(), engine.session_slot():
        assert engine.open_sessions == 2
        with pytest.raises(ServerBusyError, match="limit of 2"), engine.session_slot():
            pass
    assert engine.open_sessions == 0
    with engine.session_slot():
        assert engine.open_sessions == 1


def test_submit_before_start_is_refused() -> None:
    engine = Engine(GatedTranscriber(), EnergyScorer)
    with pytest.raises(RuntimeError, match="not running"):
        engine.submit(request("x", RequestKind.FINAL))


class BatchingTranscriber(GatedTranscriber):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

    def transcribe_batch(self, items: list, *, final: bool) -> list[TranscriptionResult]:
        names = [options.prompt for _, options in items]
        self.batches.append(names)
        return [result_for(name) for name in names]


def test_compatible_queued_requests_are_decoded_in_one_batch() -> None:
    transcriber = BatchingTranscriber()
    engine = Engine(transcriber, EnergyScorer, EngineOptions(decode_workers=1, max_batch_size=3))
    engine.start()
    try:
        blocker = engine.submit(request("blocker", RequestKind.FINAL))
        assert transcriber.started.acquire(timeout=5)
        finals = [engine.submit(request(f"f{i}", RequestKind.FINAL)) for i in range(4)]
        with_words = [
            engine.submit(
                TranscriptionRequest(
                    9 + i, RequestKind.FINAL, 0, np.zeros(1600, np.float32), 0, DecodeOptions("en", f"w{i}", True)
                )
            )
            for i in range(2)
        ]
        for _ in range(3):
            transcriber.release.release()
        results = [f.result(timeout=5).text for f in [blocker, *finals, *with_words] if f is not None]
    finally:
        for _ in range(5):
            transcriber.release.release()
        engine.stop()
    assert results == ["blocker", "f0", "f1", "f2", "f3", "w0", "w1"]
    # three finals share a decode, the fourth waits for the next; finals with word timestamps (one
    # alignment pass) batch with each other, not with finals without
    assert transcriber.batches == [["f0", "f1", "f2"], ["w0", "w1"]]
    assert transcriber.order == ["blocker", "f3"]


def test_a_cancelled_request_leaves_the_queue_at_once_and_blocks_no_partial(gated) -> None:
    engine, transcriber = gated
    running = engine.submit(request("running", RequestKind.FINAL))
    assert transcriber.started.acquire(timeout=5)
    withdrawn = engine.submit(request("withdrawn", RequestKind.EARLY_FINAL))
    assert withdrawn is not None and engine.queue_depth == 1
    engine.cancel(withdrawn)
    assert withdrawn.cancelled() and engine.queue_depth == 0
    transcriber.release.release()
    assert running is not None and running.result(timeout=5).text == "running"
    partial = None
    for _ in range(100):  # the worker becomes idle: a partial is taken, nothing withdrawn runs before it
        partial = engine.submit(request("partial", RequestKind.PARTIAL))
        if partial is not None:
            break
        threading.Event().wait(0.01)
    assert partial is not None
    transcriber.release.release()
    assert partial.result(timeout=5).text == "partial"
    assert transcriber.order == ["running", "partial"]


def test_a_speculative_final_waits_behind_finals_until_promoted(gated) -> None:
    engine, transcriber = gated
    engine.submit(request("blocker", RequestKind.FINAL))
    assert transcriber.started.acquire(timeout=5)
    early = engine.submit(request("early", RequestKind.EARLY_FINAL))
    engine.submit(request("final", RequestKind.FINAL))
    assert early is not None
    for _ in range(3):
        transcriber.release.release()
    early.result(timeout=5)
    for _ in range(2):  # "final" and "early" started
        assert transcriber.started.acquire(timeout=5)
    engine.submit(request("blocker-2", RequestKind.FINAL))
    assert transcriber.started.acquire(timeout=5)
    promoted = engine.submit(request("promoted", RequestKind.EARLY_FINAL))
    engine.submit(request("final-2", RequestKind.FINAL))
    assert promoted is not None
    engine.promote(promoted)
    for _ in range(3):
        transcriber.release.release()
    promoted.result(timeout=5)
    # a speculative final never outranks a final; once promoted it is one, served in the order asked
    assert transcriber.order == ["blocker", "final", "early", "blocker-2", "promoted", "final-2"]


class BrokenBatchTranscriber:
    """A buggy transcriber: one result too few for a batch; a blocker to let a batch queue up."""

    is_multilingual = False

    def __init__(self) -> None:
        self.unblock = threading.Event()

    def transcribe(self, audio: np.ndarray, options: DecodeOptions, *, final: bool) -> TranscriptionResult:
        if options.prompt == "blocker":
            assert self.unblock.wait(timeout=10)
        return result_for(options.prompt or "")

    def transcribe_batch(self, items: list, *, final: bool) -> list[TranscriptionResult]:
        return [result_for("only one")]


def test_a_short_batch_result_is_retried_one_by_one_and_the_worker_lives() -> None:
    transcriber = BrokenBatchTranscriber()
    engine = Engine(transcriber, EnergyScorer, EngineOptions(decode_workers=1, max_batch_size=4))
    engine.start()
    try:
        blocker = engine.submit(request("blocker", RequestKind.FINAL))
        futures = [engine.submit(request(f"item-{i}", RequestKind.FINAL, i)) for i in range(3)]
        transcriber.unblock.set()
        assert blocker is not None and blocker.result(timeout=5).text == "blocker"
        assert [f.result(timeout=5).text for f in futures if f is not None] == ["item-0", "item-1", "item-2"]
        later = engine.submit(request("later", RequestKind.FINAL, 9))
        assert later is not None and later.result(timeout=5).text == "later"
    finally:
        engine.stop()


def test_a_failing_metric_never_costs_a_result(monkeypatch: pytest.MonkeyPatch) -> None:
    from whisper_stream import metrics

    class Broken:
        def labels(self, **_: str) -> Broken:
            raise RuntimeError("metrics backend broke")

    monkeypatch.setattr(metrics, "DECODE_SECONDS", Broken())
    transcriber = BrokenBatchTranscriber()
    transcriber.unblock.set()
    engine = Engine(transcriber, EnergyScorer, EngineOptions(decode_workers=1))
    engine.start()
    try:
        for i in range(2):  # the worker that hit the broken metric decodes the next request too
            future = engine.submit(request(f"r{i}", RequestKind.FINAL, i))
            assert future is not None and future.result(timeout=5).text == f"r{i}"
    finally:
        engine.stop()


def test_stop_cancels_queued_work_and_refuses_new_work(gated) -> None:
    engine, transcriber = gated
    running = engine.submit(request("running", RequestKind.FINAL))
    assert transcriber.started.acquire(timeout=5)
    queued = engine.submit(request("queued", RequestKind.FINAL))
    stopper = threading.Thread(target=engine.stop)
    stopper.start()
    assert queued is not None
    for _ in range(100):
        if queued.cancelled():
            break
        threading.Event().wait(0.01)
    assert queued.cancelled()
    transcriber.release.release()
    stopper.join(timeout=5)
    assert running is not None and running.result(timeout=5).text == "running"
    from whisper_stream.inference.engine import EngineStoppedError

    with pytest.raises(EngineStoppedError):
        engine.submit(request("late", RequestKind.FINAL))


def test_partials_wait_for_the_replica_budget_after_finals_used_the_decoder() -> None:
    """The budget is global: once finals have kept the decoder busy, no session's partial starts until
    finals leave idle time again, even with a worker idle and nothing queued."""

    clock = ManualClock()

    class Slow:
        is_multilingual = False

        def transcribe(self, audio: np.ndarray, options: DecodeOptions, *, final: bool) -> TranscriptionResult:
            clock.now_s += 4.0  # this decode "took" 4 s of decoder time
            return result_for("x")

    engine = Engine(Slow(), EnergyScorer, EngineOptions(partial_share=0.5), clock=clock)
    engine.start()
    try:
        engine.submit(request("a", RequestKind.FINAL)).result(timeout=5)
        while engine._idle_workers == 0:  # the worker is back, idle
            threading.Event().wait(0.01)
        # credit: 1.0 (burst) + 0.5 * 4 s elapsed, capped at 1.0, minus 0.5 * 4 s of final = -1.0
        assert engine.submit(request("p1", RequestKind.PARTIAL, 1)) is None
        clock.now_s += 1.0  # idle for 1 s: +0.5
        assert engine.submit(request("p2", RequestKind.PARTIAL, 2)) is None
        clock.now_s += 1.5  # +0.75: credit 0.25 > 0
        future = engine.submit(request("p3", RequestKind.PARTIAL, 3))
        assert future is not None
        future.result(timeout=5)
    finally:
        engine.stop()


def test_an_early_final_is_refused_while_finals_wait_so_speculative_work_never_piles_up(gated) -> None:
    engine, transcriber = gated
    assert engine.submit(request("blocker", RequestKind.FINAL)) is not None
    assert transcriber.started.acquire(timeout=5)
    first = engine.submit(request("early", RequestKind.EARLY_FINAL, 1))
    assert first is not None  # nothing waits: it may queue
    assert engine.submit(request("early-2", RequestKind.EARLY_FINAL, 2)) is None  # one already waits
    engine.cancel(first)
    assert engine.submit(request("final", RequestKind.FINAL, 3)) is not None
    assert engine.submit(request("early-3", RequestKind.EARLY_FINAL, 4)) is None  # a final waits
    for _ in range(2):
        transcriber.release.release()


def test_with_batching_early_finals_queue_only_while_they_fit_in_the_next_batch() -> None:
    transcriber = GatedTranscriber()
    engine = Engine(transcriber, EnergyScorer, EngineOptions(max_batch_size=4))
    engine.start()
    try:
        engine.submit(request("blocker", RequestKind.FINAL))
        assert transcriber.started.acquire(timeout=5)
        accepted = [engine.submit(request(f"early-{i}", RequestKind.EARLY_FINAL, i)) for i in range(5)]
        assert [f is not None for f in accepted] == [True, True, True, False, False]  # 3 wait: room for 1 final
    finally:
        for _ in range(10):
            transcriber.release.release()
        engine.stop()


def in_context(name: str) -> TranscriptionRequest:
    """A final of 1600 samples after 800 samples of context whose words were "earlier words"."""
    options = DecodeOptions(language="en", prompt=name, word_timestamps=False, context_samples=800, prefix="earlier")
    return TranscriptionRequest(0, RequestKind.FINAL, 0, np.zeros(2400, dtype=np.float32), 800, options)


def test_a_final_keeps_its_context_while_other_finals_wait(gated) -> None:
    """No final is shed of its context under load: the prompted form costs about a decode alone, and the
    sweeps that measured shedding found no latency gained (docs/performance.md)."""
    engine, transcriber = gated
    blocker = engine.submit(request("blocker", RequestKind.FINAL))
    assert transcriber.started.acquire(timeout=5)
    first, second = engine.submit(in_context("first")), engine.submit(in_context("second"))
    for _ in range(3):
        transcriber.release.release()
    for future in (blocker, first, second):
        assert future is not None and future.result(timeout=5).text
    for name in ("first", "second"):
        samples, options = transcriber.decoded[name]
        assert (samples, options.context_samples, options.prefix) == (2400, 800, "earlier")


def test_a_waiting_early_final_does_not_cost_a_final_its_context(gated) -> None:
    engine, transcriber = gated
    blocker = engine.submit(request("blocker", RequestKind.FINAL))
    assert transcriber.started.acquire(timeout=5)
    early = engine.submit(request("early", RequestKind.EARLY_FINAL))
    final = engine.submit(in_context("final"))
    for _ in range(3):
        transcriber.release.release()
    for future in (blocker, final, early):
        assert future is not None and future.result(timeout=5).text
    assert transcriber.order == ["blocker", "final", "early"]
    assert transcriber.decoded["final"][0] == 2400


def test_requests_batch_only_with_the_same_search_and_carry_their_times() -> None:
    """One CTranslate2 call takes one beam (``Sampling.batch_key``); a token budget or n-best is per item."""
    transcriber = BatchingTranscriber()
    engine = Engine(transcriber, EnergyScorer, EngineOptions(decode_workers=1, max_batch_size=8))
    engine.start()

    def final(name: str, request_id: int, sampling: Sampling) -> TranscriptionRequest:
        options = DecodeOptions("en", name, False, sampling=sampling)
        return TranscriptionRequest(request_id, RequestKind.FINAL, 0, np.zeros(1600, np.float32), 0, options)

    try:
        blocker = engine.submit(request("blocker", RequestKind.FINAL))
        assert transcriber.started.acquire(timeout=5)
        futures = [
            engine.submit(final("plain", 1, Sampling())),
            engine.submit(final("beam3", 2, Sampling(beam_size=3))),
            engine.submit(final("budget", 3, Sampling(max_new_tokens=20, beam_results=True, retry_below_wpm=50))),
            engine.submit(final("beam3-again", 4, Sampling(beam_size=3))),
            engine.submit(final("translate", 5, Sampling(task=TRANSLATE))),
        ]
        for _ in range(4):
            transcriber.release.release()
        results = [f.result(timeout=5) for f in [blocker, *futures] if f is not None]
    finally:
        for _ in range(5):
            transcriber.release.release()
        engine.stop()
    assert transcriber.batches == [["plain", "budget"], ["beam3", "beam3-again"]]
    assert transcriber.order == ["blocker", "translate"]
    assert all(r.times.decode_s is not None and r.times.decode_s >= 0 for r in results)
    assert all(r.times.queue_wait_s is not None and r.times.queue_wait_s >= 0 for r in results)


def test_a_cancelled_final_is_not_decoded(gated) -> None:
    """A future cancelled behind the engine's back while queued (the window between a worker taking a batch and
    running it, widened here) is dropped from the batch, not decoded."""
    engine, transcriber = gated
    blocker = engine.submit(request("blocker", RequestKind.FINAL))
    assert transcriber.started.acquire(timeout=5)
    waiting = engine.submit(in_context("waiting"))
    cancelled = engine.submit(in_context("cancelled"))
    assert waiting is not None and cancelled is not None
    assert cancelled.cancel()  # not through engine.cancel: still in the queue when the worker takes it
    for _ in range(3):
        transcriber.release.release()
    assert blocker is not None and blocker.result(timeout=5).text and waiting.result(timeout=5).text
    engine.stop()
    assert "cancelled" not in transcriber.decoded
    assert transcriber.decoded["waiting"][1].context_samples == 800


def test_a_session_with_a_backlog_does_not_push_another_sessions_final_behind_it(gated) -> None:
    """Owner A queued four finals (a client faster than real time); B's one final, submitted after them,
    is decoded after A's first (both first of their owner's), not after all four."""
    engine, transcriber = gated

    class Session:  # an owner, as the runner is (weak-referenceable)
        pass

    flooder, realtime = Session(), Session()
    blocker = engine.submit(request("blocker", RequestKind.FINAL))  # another session's
    assert transcriber.started.acquire(timeout=5)
    flood = [engine.submit(request(f"a{i}", RequestKind.FINAL), owner=flooder) for i in range(4)]
    mine = engine.submit(request("b", RequestKind.FINAL), owner=realtime)
    for _ in range(6):
        transcriber.release.release()
    for future in [blocker, *flood, mine]:
        assert future is not None and future.result(timeout=5).text
    assert transcriber.order == ["blocker", "a0", "b", "a1", "a2", "a3"]


def test_without_owners_requests_of_a_kind_keep_their_order(gated) -> None:
    engine, transcriber = gated
    blocker = engine.submit(request("blocker", RequestKind.FINAL))
    assert transcriber.started.acquire(timeout=5)
    finals = [engine.submit(request(f"f{i}", RequestKind.FINAL)) for i in range(4)]
    for _ in range(5):
        transcriber.release.release()
    for future in [blocker, *finals]:
        assert future is not None and future.result(timeout=5).text
    assert transcriber.order == ["blocker", "f0", "f1", "f2", "f3"]
