"""Silero VAD for every stream of a replica in one ONNX call per event-loop tick.

A session runner hands the samples it just decoded to ``score_ahead`` before
it gives them to its ``Session``. The frames they complete are queued; once
per loop iteration (``call_soon``: after every runner that was ready in the
same iteration has queued its frames) one ``run_batch`` scores the first
pending frame of every stream, then the second of those that have two, and so
on (one call per silero rate: narrowband streams are scored at 8 kHz, see
``silero``), each stream's recurrent state and context carried exactly as the
per-stream path carries them. The probabilities wait in each stream's
``SileroScorer``, whose ``score`` the session then calls as before: the
session's API and decisions do not change, the per-frame thread hop and the
per-frame ONNX call are gone. Under load more streams are ready per tick, so
batches grow and the cost per frame falls.

Streams whose scorer cannot score ahead (tests' scripted scorers) are left
alone: the session scores them itself. This module needs no onnxruntime: the
scorers bring their model.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import Protocol, TypeGuard, runtime_checkable

import numpy as np

from whisper_stream import metrics
from whisper_stream.audio.vad import SpeechScorer


class BatchModel(Protocol):
    def run_batch(self, windows: np.ndarray, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@runtime_checkable
class AheadScorer(Protocol):
    """A scorer that can score ahead in batches (``silero.SileroScorer``)."""

    model: BatchModel

    @property
    def state(self) -> np.ndarray: ...

    def score(self, frame: np.ndarray) -> float: ...

    def frames_ahead(self, samples: np.ndarray) -> list[np.ndarray]: ...

    def window(self, frame: np.ndarray) -> np.ndarray: ...

    def scored_ahead(self, window: np.ndarray, probability: float, state: np.ndarray) -> None: ...


@dataclass
class _Pending:
    scorer: AheadScorer
    frames: list[np.ndarray]
    done: asyncio.Future[None] = field(repr=False)


class VadBatcher:
    """One per event loop; see the module docstring."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._pending: list[_Pending] = []
        self._scheduled = False

    async def score_ahead(self, scorer: SpeechScorer, samples: np.ndarray) -> None:
        if not can_score_ahead(scorer):
            return
        frames = scorer.frames_ahead(samples)
        if not frames:
            return
        done: asyncio.Future[None] = self._loop.create_future()
        self._pending.append(_Pending(scorer, frames, done))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)
        await done

    def _flush(self) -> None:
        pending, self._pending, self._scheduled = self._pending, [], False
        try:
            for round_ in range(max(len(p.frames) for p in pending)):
                for items in _by_model([(p.scorer, p.frames[round_]) for p in pending if len(p.frames) > round_]):
                    score_round(items)
        except Exception as exc:  # every waiting session gets it (each ends with 1011); the loop lives on
            for p in pending:
                if not p.done.done():
                    p.done.set_exception(exc)
            return
        for p in pending:
            if not p.done.done():
                p.done.set_result(None)


def _by_model(items: list[tuple[AheadScorer, np.ndarray]]) -> list[list[tuple[AheadScorer, np.ndarray]]]:
    """``items`` grouped by the model (the silero rate) that scores them, in order of first appearance."""
    groups: dict[int, list[tuple[AheadScorer, np.ndarray]]] = {}
    for item in items:
        groups.setdefault(id(item[0].model), []).append(item)
    return list(groups.values())


def score_round(items: list[tuple[AheadScorer, np.ndarray]]) -> None:
    """Score one frame of each stream in one call (all scorers share one model)."""
    model = items[0][0].model
    windows = np.stack([scorer.window(frame) for scorer, frame in items])
    states = np.concatenate([scorer.state for scorer, _ in items], axis=1)
    probabilities, new_states = model.run_batch(windows, states)
    for index, (scorer, _) in enumerate(items):
        scorer.scored_ahead(windows[index], float(probabilities[index]), new_states[:, index : index + 1, :])
    metrics.VAD_BATCH_SIZE.observe(len(items))


_AHEAD_TYPES: dict[type, bool] = {}


def can_score_ahead(scorer: SpeechScorer) -> TypeGuard[AheadScorer]:
    """Whether ``scorer`` can score ahead (checked once per type: a protocol check costs microseconds)."""
    kind = type(scorer)
    known = _AHEAD_TYPES.get(kind)
    if known is None:
        known = _AHEAD_TYPES[kind] = isinstance(scorer, AheadScorer)
    return known


def score_alone(scorer: SpeechScorer, samples: np.ndarray) -> None:
    """The same scoring ahead, one stream on its own (any thread; for a large frame)."""
    if can_score_ahead(scorer):
        for frame in scorer.frames_ahead(samples):
            score_round([(scorer, frame)])


_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, VadBatcher] = weakref.WeakKeyDictionary()


def batcher() -> VadBatcher:
    """The running loop's batcher."""
    loop = asyncio.get_running_loop()
    found = _batchers.get(loop)
    if found is None:
        found = _batchers[loop] = VadBatcher(loop)
    return found
