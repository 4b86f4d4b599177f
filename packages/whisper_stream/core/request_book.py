"""The lifecycle of a session's decode requests, from asked to answered or withdrawn.

A ``RequestBook`` is the session's ledger: every request it hands out is
``PENDING`` until the engine answers it (``DONE``, the result kept with it) or
it is withdrawn by the session or dropped by the engine (``CANCELLED``; a late
answer is then ignored). What the book collects for the engine comes out of
``take_to_run``, ``take_to_cancel`` and ``take_to_promote``. Pure bookkeeping:
no clock, no I/O, no model.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools

import numpy as np

from whisper_stream.inference.requests import DecodeOptions, RequestKind, TranscriptionRequest
from whisper_stream.protocol.results import TranscriptionResult


class RequestState(enum.Enum):
    PENDING = "pending"
    """Handed out; no answer yet."""
    DONE = "done"
    """Answered; ``result`` holds the answer."""
    CANCELLED = "cancelled"
    """Withdrawn by the session or dropped by the engine; a late answer is ignored."""


@dataclasses.dataclass
class TrackedRequest:
    request: TranscriptionRequest
    state: RequestState = RequestState.PENDING
    result: TranscriptionResult | None = None


class RequestBook:
    def __init__(self) -> None:
        self._ids = itertools.count()
        self._pending: dict[int, TrackedRequest] = {}
        self._to_run: list[TranscriptionRequest] = []
        self._to_cancel: list[int] = []
        self._to_promote: list[int] = []

    def ask(
        self, kind: RequestKind, num: int, audio: np.ndarray, start_sample: int, options: DecodeOptions
    ) -> TrackedRequest:
        return self._track(TranscriptionRequest(next(self._ids), kind, num, audio, start_sample, options))

    def ask_again_as_final(self, tracked: TrackedRequest) -> TrackedRequest:
        """A new final request for the same audio (the engine dropped ``tracked``)."""
        return self._track(dataclasses.replace(tracked.request, request_id=next(self._ids), kind=RequestKind.FINAL))

    def withdraw(self, tracked: TrackedRequest) -> None:
        """No longer wanted: the engine may skip it, and its answer will be ignored."""
        request = tracked.request
        if self._pending.pop(request.request_id, None) is not None:
            if request in self._to_run:  # never handed out: nothing to cancel
                self._to_run.remove(request)
            else:
                self._to_cancel.append(request.request_id)
        tracked.state = RequestState.CANCELLED

    def promote(self, tracked: TrackedRequest) -> None:
        """A speculative final became a real one: the engine should serve it as a final."""
        request = tracked.request
        if tracked.state is not RequestState.PENDING or request.kind is not RequestKind.EARLY_FINAL:
            return
        if request in self._to_run:  # never handed out: hand it out as a final
            tracked.request = dataclasses.replace(request, kind=RequestKind.FINAL)
            self._to_run[self._to_run.index(request)] = tracked.request
        else:
            self._to_promote.append(request.request_id)

    def answer(self, request_id: int, result: TranscriptionResult) -> TrackedRequest | None:
        """Record an answer; None when the request was withdrawn meanwhile."""
        tracked = self._pending.pop(request_id, None)
        if tracked is not None:
            tracked.state, tracked.result = RequestState.DONE, result
        return tracked

    def drop(self, request_id: int) -> TrackedRequest | None:
        """The engine did not run it; None when it was withdrawn already."""
        tracked = self._pending.pop(request_id, None)
        if tracked is not None:
            tracked.state = RequestState.CANCELLED
        return tracked

    @property
    def pending(self) -> int:
        return len(self._pending)

    def take_to_run(self) -> list[TranscriptionRequest]:
        requests, self._to_run = self._to_run, []
        return requests

    def take_to_cancel(self) -> list[int]:
        ids, self._to_cancel = self._to_cancel, []
        return ids

    def take_to_promote(self) -> list[int]:
        ids, self._to_promote = self._to_promote, []
        return ids

    def _track(self, request: TranscriptionRequest) -> TrackedRequest:
        tracked = TrackedRequest(request)
        self._pending[request.request_id] = tracked
        self._to_run.append(request)
        return tracked
