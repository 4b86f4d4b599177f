"""Nothing is lost, as properties over the whole path a frame takes (bytes → ``AudioDecoder`` →
``Session`` → requests → results → messages), and over the in-process server.

- any split of the byte stream into frames, in any encoding and at any rate, gives the same finals;
- every utterance of a long stream gets exactly one final, in order, whatever order Whisper answers in;
- ending the stream right after the last word always includes that word.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import soxr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from client.encoding import encode_float
from tests.fakes import EnergyScorer, result_for, silence_s, tone_s
from tests.harness import Harness, running_harness
from tests.stream_client import send_raw, stream
from whisper_stream.audio.decoding import AudioDecoder
from whisper_stream.audio.vad import FRAME_SAMPLES
from whisper_stream.core.session import Session, SessionState, TranscriptionRequest
from whisper_stream.protocol.config import SessionConfig, StreamingOptions
from whisper_stream.samples import SAMPLE_RATE_HZ

SR = SAMPLE_RATE_HZ
FRAME_S = FRAME_SAMPLES / SR
PAD_S = 0.03  # speech_pad_ms of the default config
FORMATS = [
    ("pcm_s16le", 16_000),
    ("pcm_s16le", 8_000),
    ("pcm_s16le", 48_000),
    ("pcm_f32le", 44_100),
    ("pcm_f32le", 16_000),
    ("pcm_mulaw", 8_000),
    ("pcm_alaw", 22_050),
]
STREAM_16K = np.concatenate(
    [silence_s(0.3), tone_s(1.2), silence_s(0.6), tone_s(2.5), silence_s(0.2), tone_s(0.5), silence_s(0.7), tone_s(0.4)]
)


@functools.cache
def encoded(encoding: str, rate: int) -> bytes:
    audio = STREAM_16K if rate == SR else soxr.resample(STREAM_16K, SR, rate).astype(np.float32)
    return encode_float(audio, encoding)


@dataclass
class Run:
    """What one pass over a stream produced."""

    messages: list[dict[str, Any]]
    samples: int

    @property
    def finals(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == "transcription" and m["is_final"]]

    @property
    def final_spans(self) -> list[tuple[float, float]]:
        return [(f["segments"][0]["start_time"], f["segments"][0]["end_time"]) for f in self.finals]


def run_stream(
    data: bytes,
    encoding: str,
    rate: int,
    cuts: list[int],
    *,
    partials: bool = False,
    shuffle: random.Random | None = None,
    max_utterance_s: float = 30.0,
) -> Run:
    """Feed ``data`` cut at ``cuts`` through decoder and session; answer requests (in random order if asked)."""
    config = SessionConfig(
        streaming=StreamingOptions(
            encoding=encoding,
            sample_rate_hz=rate,
            enable_partial_transcripts=partials,
            final_transcript_max_duration_s=max_utterance_s,
        )
    )
    decoder = AudioDecoder(encoding, rate)
    session = Session(config, EnergyScorer())
    waiting: list[TranscriptionRequest] = []
    messages: list[dict[str, Any]] = []

    def answer(some: bool) -> None:
        waiting.extend(session.requests_to_run())
        if shuffle is not None:
            shuffle.shuffle(waiting)
        count = shuffle.randint(0, len(waiting)) if shuffle is not None and some else len(waiting)
        for request in [waiting.pop() for _ in range(count)]:
            samples = request.end_sample - request.start_sample  # the utterance, without its context
            text = f"utterance {request.transcription_num}: {samples} samples"
            session.receive_result(request.request_id, result_for(text, samples / SR))
        messages.extend(session.messages_to_send())

    bounds = [0, *sorted(set(cuts)), len(data)]
    for start, end in zip(bounds, bounds[1:], strict=False):
        samples = decoder.decode(data[start:end])
        session.receive_audio(samples, session.audio_duration_s + samples.size / SR)
        answer(some=True)
    session.receive_audio(decoder.flush(), session.audio_duration_s)
    session.end_of_stream(session.audio_duration_s)
    answer(some=False)
    while session.state is not SessionState.CLOSED and (waiting or session.pending_requests):
        answer(some=False)  # a final is asked for once those before it are sent
    assert session.state is SessionState.CLOSED
    return Run(messages, int(round(session.audio_duration_s * SR)))


@functools.cache
def reference(encoding: str, rate: int) -> Run:
    return run_stream(encoded(encoding, rate), encoding, rate, [], max_utterance_s=2.0)


# ------------------------------------------------------------------ split invariance


@st.composite
def format_and_cuts(draw: st.DrawFn) -> tuple[str, int, list[int]]:
    encoding, rate = draw(st.sampled_from(FORMATS))
    size = len(encoded(encoding, rate))
    cuts = draw(st.lists(st.integers(0, size), max_size=60))
    return encoding, rate, cuts


@settings(max_examples=60, deadline=None)
@given(format_and_cuts())
def test_any_split_of_the_bytes_gives_the_same_finals(case: tuple[str, int, list[int]]) -> None:
    encoding, rate, cuts = case
    run = run_stream(encoded(encoding, rate), encoding, rate, cuts, max_utterance_s=2.0)
    expected = reference(encoding, rate)
    assert run.finals == expected.finals
    assert run.samples == expected.samples


@pytest.mark.parametrize(("encoding", "rate"), FORMATS)
def test_reference_finals_cover_the_speech_at_every_rate(encoding: str, rate: int) -> None:
    """Not trivially equal: the 2.5 s tone is cut at the 2 s cap and its tail joins the next tone (the pause
    between them is under min silence), so four finals."""
    spans = reference(encoding, rate).final_spans
    assert len(spans) == 4
    assert spans[0][0] == pytest.approx(0.3 - PAD_S, abs=2 * FRAME_S)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert end <= start + 1e-3  # in order, no audio in two finals
    assert spans[-1][1] == pytest.approx(STREAM_16K.size / SR, abs=FRAME_S)


# ------------------------------------------------------------------ one final per utterance, in order


@st.composite
def utterance_streams(draw: st.DrawFn) -> tuple[np.ndarray, list[tuple[float, float]], bool]:
    """Speech bursts (0.2-3 s) between pauses longer than min silence; maybe ending mid-speech."""
    lead_s = draw(st.floats(0.0, 1.0))
    pieces, spans, t = [silence_s(lead_s)], [], len(silence_s(lead_s)) / SR
    count = draw(st.integers(1, 8))
    ends_in_speech = draw(st.booleans())
    for i in range(count):
        speech = tone_s(draw(st.floats(0.2, 3.0)))
        pieces.append(speech)
        spans.append((t, t + speech.size / SR))
        t += speech.size / SR
        if i < count - 1 or not ends_in_speech:
            gap = silence_s(draw(st.floats(0.5, 1.5)))
            pieces.append(gap)
            t += gap.size / SR
    return np.concatenate(pieces), spans, ends_in_speech


@settings(max_examples=60, deadline=None)
@given(utterance_streams(), st.lists(st.integers(0, 200_000), max_size=30), st.randoms(use_true_random=False))
def test_every_utterance_gets_exactly_one_final_in_order(
    case: tuple[np.ndarray, list[tuple[float, float]], bool], cuts: list[int], rng: random.Random
) -> None:
    audio, spans, _ = case
    data = encode_float(audio, "pcm_s16le")
    run = run_stream(data, "pcm_s16le", SR, [c for c in cuts if c < len(data)], partials=True, shuffle=rng)
    transcriptions = [m for m in run.messages if m["type"] == "transcription"]
    finals = [m for m in transcriptions if m["is_final"]]
    assert [m["transcription_num"] for m in finals] == list(range(len(spans)))
    assert [m["transcript"].split(":")[0] for m in finals] == [f"utterance {i}" for i in range(len(spans))]
    previous_end = 0.0
    for final, (start_s, end_s) in zip(finals, spans, strict=True):
        segment = final["segments"][0]
        assert previous_end - 1e-3 <= segment["start_time"] <= start_s + FRAME_S
        assert segment["end_time"] >= end_s - FRAME_S
        previous_end = segment["end_time"]
    # a partial never follows the final of its utterance
    final_index = {m["transcription_num"]: i for i, m in enumerate(transcriptions) if m["is_final"]}
    for i, message in enumerate(transcriptions):
        assert i <= final_index[message["transcription_num"]]
    assert run.messages[-1]["type"] == "session_end"
    assert run.messages[-1]["finals_sent"] == len(spans)


@settings(max_examples=25, deadline=None)
@given(utterance_streams(), st.sampled_from(FORMATS), st.integers(301, 5000))
def test_ending_right_after_the_last_word_keeps_it(
    case: tuple[np.ndarray, list[tuple[float, float]], bool], fmt: tuple[str, int], frame_bytes: int
) -> None:
    audio, spans, ends_in_speech = case
    encoding, rate = fmt
    source = audio if rate == SR else soxr.resample(audio, SR, rate).astype(np.float32)
    data = encode_float(source, encoding)
    run = run_stream(data, encoding, rate, list(range(frame_bytes, len(data), frame_bytes)))
    spans_out = run.final_spans
    assert len(spans_out) == len(spans)
    if ends_in_speech:
        assert spans_out[-1][1] == pytest.approx(run.samples / SR, abs=1e-3)  # runs to the very last sample
    else:
        assert spans_out[-1][1] >= spans[-1][1]


# ------------------------------------------------------------------ through the server


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    with running_harness() as running:
        yield running


def _server_finals(harness: Harness, encoding: str, rate: int, sizes: list[int]) -> list[dict[str, Any]]:
    data = encoded(encoding, rate)
    frames, offset, i = [], 0, 0
    while offset < len(data):
        frames.append(data[offset : offset + sizes[i % len(sizes)]])
        offset += sizes[i % len(sizes)]
        i += 1
    config = json.dumps(
        {
            "streaming_params": {
                "encoding": encoding,
                "sample_rate": rate,
                "enable_partial_transcripts": False,
                "final_transcript_max_duration_s": 2.0,
            }
        }
    )
    result = asyncio.run(send_raw(harness.url, config, *frames, json.dumps({"terminate_session": True})))
    assert result.close_code == 1000, result.messages[-1:]
    return result.finals


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(FORMATS), st.integers(1, 7), st.lists(st.integers(1000, 9000), min_size=1, max_size=5))
def test_server_finals_do_not_depend_on_frame_sizes(
    harness: Harness, fmt: tuple[str, int], odd: int, sizes: list[int]
) -> None:
    """Frames cycle through one tiny size (1-7 bytes: splits samples) and a few ordinary ones."""
    encoding, rate = fmt
    sizes = [odd, *sizes]
    if fmt not in _SERVER_REFERENCE:
        _SERVER_REFERENCE[fmt] = _server_finals(harness, encoding, rate, [65_536])
        assert len(_SERVER_REFERENCE[fmt]) == 4
    assert _server_finals(harness, encoding, rate, sizes) == _SERVER_REFERENCE[fmt]


_SERVER_REFERENCE: dict[tuple[str, int], list[dict[str, Any]]] = {}


def test_terminate_closes_at_once_when_a_partial_is_answered_after_the_last_final(harness: Harness) -> None:
    """Two decode workers: the slow partial comes back after the final; the session must still end then
    (it used to wait for the finish timeout, 120 s, and close 1011)."""
    config = {
        "streaming_params": {"enable_partial_transcripts": True},
        "whisper_params": {"prompt": "@slowpartial=0.4"},
    }
    started = time.monotonic()
    result = asyncio.run(stream(harness.url, tone_s(1.5), config=config, speed=None, timeout_s=10))
    assert result.close_code == 1000 and result.of_type("session_end")
    assert len(result.finals) == 1
    assert time.monotonic() - started < 5
