"""Bad input, one test each: a clear ``error`` and the documented close code, never a traceback on the
wire, and a healthy session running at the same time is untouched (checked in every test).

The in-process harness (tests/harness.py) serves these; the ``slow`` ones at the end go through
truss's real server with the real tiny.en model.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Iterator
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.fakes import silence_s, tone_s
from tests.harness import (
    HEALTHY_AUDIO,
    HEALTHY_CONFIG,
    DeafClient,
    Harness,
    assert_healthy,
    assert_rejected,
    healthy_session,
    healthy_transcripts,
    running_harness,
)
from tests.stream_client import (
    SEED_CONFIG,
    StreamResult,
    send_frame_head,
    send_in_one_write,
    send_raw,
    stream,
    to_pcm16,
)
from whisper_stream.server.limits import Limits

FRAME_CAP = 64 * 1024
LIMITS = Limits(max_frame_bytes=FRAME_CAP, idle_timeout_s=0.5, config_timeout_s=0.5, send_timeout_s=0.5)


@pytest.fixture(scope="module")
def module_harness() -> Iterator[Harness]:
    with running_harness(LIMITS) as harness:
        yield harness


@pytest.fixture
def harness(module_harness: Harness) -> Iterator[Harness]:
    """The shared server, checked after each test: idle, no task left behind, no error logged."""
    module_harness.wait_idle()
    baseline = module_harness.server_tasks()
    module_harness.clear()
    yield module_harness
    module_harness.wait_idle()
    assert module_harness.server_tasks() == baseline
    errors = module_harness.log_records(logging.ERROR)
    assert not errors, [r.getMessage() for r in errors]
    assert all(r.outcome in ("returned", "disconnected") for r in module_harness.records)


def with_healthy(harness: Harness, bad: Awaitable[Any]) -> Any:
    """Run ``bad`` and a healthy session at once; check the healthy one; return what ``bad`` gave."""

    async def both() -> tuple[Any, StreamResult]:
        return await asyncio.gather(bad, healthy_session(harness.url, repeats=2, speed=30.0))

    result, healthy = asyncio.run(both())
    assert_healthy(healthy, repeats=2)
    return result


def config_with(**sections: dict[str, Any]) -> str:
    return json.dumps(sections)


# ------------------------------------------------------------------ the config message

CONFIG_CASES = [
    # id, first message, error code, close code, words the message must contain
    ("invalid_json", "{not json", "invalid_data", 1007, "not valid JSON"),
    ("truncated_json", '{"vad_params": {"threshold": 0.5}', "invalid_data", 1007, "not valid JSON"),
    ("empty_text", "", "invalid_data", 1007, "not valid JSON"),
    ("json_array", "[1, 2]", "invalid_config", 1008, "must be a JSON object, got array"),
    ("json_string", '"hello"', "invalid_config", 1008, "got string"),
    ("json_null", "null", "invalid_config", 1008, "got null"),
    ("json_number", "42", "invalid_config", 1008, "got number"),
    ("unknown_top_level_field", config_with(vad_parms={}), "invalid_config", 1008, "vad_parms", "unknown field"),
    (
        "unknown_nested_field",
        config_with(vad_params={"thresh": 0.5}),
        "invalid_config",
        1008,
        "vad_params.thresh",
        "unknown field",
    ),
    ("section_not_object", config_with(vad_params=[0.5]), "invalid_config", 1008, "vad_params", "must be an object"),
    (
        "threshold_string",
        config_with(vad_params={"threshold": "high"}),
        "invalid_config",
        1008,
        "vad_params.threshold",
        "number",
    ),
    (
        "sample_rate_string",
        config_with(streaming_whisper_params={"sample_rate": "16000"}),
        "invalid_config",
        1008,
        "streaming_whisper_params.sample_rate",
    ),
    (
        "partials_flag_number",
        config_with(streaming_whisper_params={"enable_partial_transcripts": 1}),
        "invalid_config",
        1008,
        "enable_partial_transcripts",
        "true or false",
    ),
    (
        "language_number",
        config_with(whisper_params={"audio_language": 5}),
        "invalid_config",
        1008,
        "whisper_params.audio_language",
    ),
    ("vad_events_string", json.dumps({"send_vad_events": "yes"}), "invalid_config", 1008, "send_vad_events"),
    (
        "threshold_above_range",
        config_with(vad_params={"threshold": 7}),
        "invalid_config",
        1008,
        "vad_params.threshold",
        "between",
    ),
    ("threshold_negative", config_with(vad_params={"threshold": -0.1}), "invalid_config", 1008, "vad_params.threshold"),
    (
        "threshold_nan",
        '{"vad_params": {"threshold": NaN}}',
        "invalid_config",
        1008,
        "vad_params.threshold",
        "finite",
    ),
    (
        "min_silence_negative",
        config_with(vad_params={"min_silence_duration_ms": -5}),
        "invalid_config",
        1008,
        "min_silence_duration_ms",
    ),
    (
        "min_silence_fractional",
        config_with(vad_params={"min_silence_duration_ms": 300.5}),
        "invalid_config",
        1008,
        "min_silence_duration_ms",
        "whole number",
    ),
    (
        "speech_pad_too_long",
        config_with(vad_params={"speech_pad_ms": 5000}),
        "invalid_config",
        1008,
        "speech_pad_ms",
    ),
    (
        "partial_interval_zero",
        config_with(streaming_params={"partial_transcript_interval_s": 0}),
        "invalid_config",
        1008,
        "streaming_params.partial_transcript_interval_s",
    ),
    (
        "final_max_duration_too_long",
        config_with(streaming_params={"final_transcript_max_duration_s": 600}),
        "invalid_config",
        1008,
        "final_transcript_max_duration_s",
    ),
    (
        "unsupported_encoding",
        config_with(streaming_params={"encoding": "opus"}),
        "unsupported_audio",
        1003,
        "opus",
        "pcm_s16le",
    ),
    (
        "sample_rate_too_high",
        config_with(streaming_params={"sample_rate": 96000}),
        "unsupported_audio",
        1003,
        "sample_rate",
        "96000",
    ),
    (
        "sample_rate_too_low",
        config_with(streaming_params={"sample_rate": 4000}),
        "unsupported_audio",
        1003,
        "sample_rate",
    ),
    (
        "language_not_a_code",
        config_with(whisper_params={"audio_language": "english"}),
        "invalid_config",
        1008,
        "audio_language",
    ),
    (
        "language_the_model_lacks",
        config_with(whisper_params={"audio_language": "de"}),
        "invalid_config",
        1008,
        "English-only",
    ),
    ("prompt_too_long", config_with(whisper_params={"prompt": "x" * 1001}), "invalid_config", 1008, "prompt"),
    (
        "repeated_key",
        '{"vad_params": {"threshold": 0.5, "threshold": 0.6}}',
        "invalid_config",
        1008,
        "threshold",
        "more than once",
    ),
    (
        "field_in_both_layouts",
        config_with(vad_params={"threshold": 0.5}, streaming_vad_config={"threshold": 0.6}),
        "invalid_config",
        1008,
        "threshold",
        "given twice",
    ),
    (
        "config_too_long",
        json.dumps({"whisper_params": {"prompt": "x"}, "pad": "y" * 20_000}),
        "invalid_config",
        1008,
        "longer than",
    ),
]


@pytest.mark.parametrize(
    ("message", "code", "close_code", "fragments"),
    [pytest.param(case[1], case[2], case[3], case[4:], id=case[0]) for case in CONFIG_CASES],
)
def test_bad_config(harness: Harness, message: str, code: str, close_code: int, fragments: tuple[str, ...]) -> None:
    result = with_healthy(harness, send_raw(harness.url, message))
    assert_rejected(result, code, close_code, *fragments)
    [record] = [r for r in harness.records if r.errors]
    assert record.close_code == close_code


def test_audio_before_config(harness: Harness) -> None:
    result = with_healthy(harness, send_raw(harness.url, to_pcm16(tone_s(0.5))))
    assert_rejected(result, "invalid_config", 1008, "config", "audio came first")


def test_config_sent_as_binary(harness: Harness) -> None:
    result = with_healthy(harness, send_raw(harness.url, json.dumps(SEED_CONFIG).encode()))
    assert_rejected(result, "invalid_config", 1008, "config")


def test_no_config_within_the_timeout(harness: Harness) -> None:
    result = with_healthy(harness, send_raw(harness.url))
    assert_rejected(result, "limit_exceeded", 1008, "no config received within 0.5 s")


# ------------------------------------------------------------------ after the config

CONFIG = json.dumps(HEALTHY_CONFIG)
SPEECH = to_pcm16(np.concatenate([tone_s(0.5), silence_s(0.5)]))

STREAM_CASES = [
    ("second_config", json.dumps(SEED_CONFIG), "protocol_error", 1008, "config was already received"),
    ("text_garbage", "hello there", "invalid_data", 1007, "not valid JSON", "binary frames"),
    ("control_not_an_object", "[1]", "invalid_data", 1007, "JSON object"),
    ("unknown_control_type", json.dumps({"type": "pause"}), "protocol_error", 1008, "unknown control message"),
    ("terminate_false", json.dumps({"terminate_session": False}), "protocol_error", 1008, "unknown control"),
    (
        "control_too_long",
        json.dumps({"type": "keepalive", "pad": "x" * 5000}),
        "protocol_error",
        1008,
        "longer than 4096",
    ),
    ("frame_over_the_cap", b"\x00" * (FRAME_CAP + 2), "frame_too_large", 1009, str(FRAME_CAP + 2), str(FRAME_CAP)),
]


@pytest.mark.parametrize(
    ("bad", "code", "close_code", "fragments"),
    [pytest.param(case[1], case[2], case[3], case[4:], id=case[0]) for case in STREAM_CASES],
)
def test_bad_message_mid_stream_keeps_the_finals_sent_before_it(
    harness: Harness, bad: str | bytes, code: str, close_code: int, fragments: tuple[str, ...]
) -> None:
    result = with_healthy(harness, _mid_stream(harness.url, bad))
    assert_rejected(result, code, close_code, *fragments)


async def _mid_stream(url: str, bad: str | bytes) -> StreamResult:
    """Config, one utterance (its final arrives), then ``bad``."""
    result = StreamResult()
    async with connect(url, max_size=None) as websocket:
        await websocket.send(CONFIG)
        await websocket.send(SPEECH)
        result.messages.append((0.0, json.loads(await asyncio.wait_for(websocket.recv(), 10))))
        assert result.messages[0][1]["is_final"]
        await websocket.send(bad)
        await _read_until_closed(websocket, result)
    result.close_code = websocket.close_code
    result.close_reason = websocket.close_reason or ""
    return result


def test_a_frame_over_twice_the_cap_is_refused_by_the_websocket_layer_before_it_is_buffered(harness: Harness) -> None:
    """After the config the layer under us takes messages up to twice max_frame_bytes (ws_layer): a larger one
    is refused as its header arrives, close 1009 naming that cap; the finals sent before it stay."""
    result = with_healthy(harness, _mid_stream(harness.url, b"\x00" * (2 * FRAME_CAP + 2)))
    assert result.close_code == 1009 and str(2 * FRAME_CAP) in result.close_reason, result.close_reason
    assert [m["type"] for _, m in result.messages] == ["transcription"]
    assert [r for r in harness.records if r.bytes_received == len(SPEECH)]  # the big frame never reached us
    assert any("WebSocket layer" in r.getMessage() for r in harness.log_records(logging.INFO))


def test_a_first_message_over_twice_the_cap_is_refused_by_the_websocket_layer(harness: Harness) -> None:
    """The layer's cap is one from the connection's start (ws_layer): a first message up to it that is too long
    for a config gets invalid_config naming the config's limit; a larger one is refused by the layer, 1009."""
    result = with_healthy(harness, send_raw(harness.url, json.dumps({"pad": "y" * 70_000})))
    assert_rejected(result, "invalid_config", 1008, "longer than 16384")
    result = with_healthy(harness, send_raw(harness.url, json.dumps({"pad": "y" * (2 * FRAME_CAP)})))
    assert result.close_code == 1009 and str(2 * FRAME_CAP) in result.close_reason, result.close_reason
    assert not result.messages


def test_after_a_session_new_connections_are_built_with_the_session_cap(harness: Harness) -> None:
    """The harness's server starts at truss's 100 MiB; a session lowers it for the connections after it
    (ws_layer.MessageCap.lower_to), so a frame header a client sends before any of our code has
    run on its connection already meets the session cap: a 3 MiB message is refused from its header (1009)."""
    assert_healthy(asyncio.run(healthy_session(harness.url, repeats=1, speed=30.0)), repeats=1)
    assert harness.server_config.ws_max_size == 2 * FRAME_CAP
    result = asyncio.run(send_frame_head(harness.url, b"\x00" * (3 << 20), sent_bytes=64 * 1024))
    assert result.close_code == 1009 and str(2 * FRAME_CAP) in result.close_reason, result


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "minus_inf"])
def test_non_finite_float_audio(harness: Harness, value: float) -> None:
    config = json.dumps({"streaming_params": {"encoding": "pcm_f32le"}})
    audio = tone_s(0.5)
    audio[1000] = value
    result = with_healthy(harness, send_raw(harness.url, config, audio.astype("<f4").tobytes()))
    assert_rejected(result, "invalid_data", 1007, "NaN or infinite")


def test_audio_after_terminate_is_ignored_and_the_owed_finals_still_come(harness: Harness) -> None:
    """Whether the stray frame lands before or after the last final, the outcome is the same."""
    terminate = json.dumps({"terminate_session": True})
    result = with_healthy(harness, send_raw(harness.url, CONFIG, SPEECH, terminate, SPEECH, "garbage"))
    assert len(result.finals) == 1
    assert result.close_code == 1000 and result.of_type("session_end") and not result.of_type("error")


# ------------------------------------------------------------------ accepted oddities


def test_odd_byte_counts_lose_nothing(harness: Harness) -> None:
    """Frames of 1, 3 and 1023 bytes split samples; the carried bytes give the same finals."""
    pcm = to_pcm16(HEALTHY_AUDIO)
    sizes = [1, 3, 1023, 7, 2, 511]
    frames, offset, i = [], 0, 0
    while offset < len(pcm):
        frames.append(pcm[offset : offset + sizes[i % len(sizes)]])
        offset += sizes[i % len(sizes)]
        i += 1
    terminate = json.dumps({"terminate_session": True})
    result = with_healthy(harness, send_raw(harness.url, CONFIG, *frames, terminate))
    assert [f["transcript"] for f in result.finals] == healthy_transcripts()
    assert result.close_code == 1000 and result.of_type("session_end")


def test_trailing_odd_byte_is_logged_not_an_error(harness: Harness) -> None:
    pcm = to_pcm16(HEALTHY_AUDIO) + b"\x01"
    frames = [pcm[offset : offset + 4096] for offset in range(0, len(pcm), 4096)]
    result = with_healthy(harness, send_raw(harness.url, CONFIG, *frames, json.dumps({"type": "end_of_stream"})))
    assert [f["transcript"] for f in result.finals] == healthy_transcripts()
    assert result.close_code == 1000
    assert any("1 trailing byte(s)" in r.getMessage() for r in harness.log_records(logging.WARNING))


def test_empty_frames_are_no_ops(harness: Harness) -> None:
    pcm = to_pcm16(HEALTHY_AUDIO)
    frames = [piece for offset in range(0, len(pcm), 2048) for piece in (b"", pcm[offset : offset + 2048], b"")]
    terminate = json.dumps({"terminate_session": True})
    result = with_healthy(harness, send_raw(harness.url, CONFIG, b"", *frames, terminate))
    assert [f["transcript"] for f in result.finals] == healthy_transcripts()
    assert result.close_code == 1000


def test_frame_exactly_at_the_cap_is_taken(harness: Harness) -> None:
    frame = to_pcm16(np.concatenate([HEALTHY_AUDIO, silence_s(1.0)]))[:FRAME_CAP]
    terminate = json.dumps({"terminate_session": True})
    result = with_healthy(harness, send_raw(harness.url, CONFIG, frame, terminate))
    assert result.close_code == 1000
    assert result.of_type("session_end")[0]["audio_duration_s"] == FRAME_CAP / 2 / 16_000


def test_two_hours_of_silence(harness: Harness) -> None:
    """8 kHz mu-law zeros at full speed: nothing reaches Whisper, the session ends normally."""
    config = json.dumps({"streaming_params": {"encoding": "pcm_mulaw", "sample_rate": 8000}})
    calls_before = harness.transcriber.calls
    frame = b"\xff" * FRAME_CAP
    frames = [frame] * (2 * 3600 * 8000 // FRAME_CAP)
    terminate = json.dumps({"terminate_session": True})
    result = asyncio.run(send_raw(harness.url, config, *frames, terminate, timeout_s=60))
    assert harness.transcriber.calls == calls_before
    assert result.close_code == 1000 and not result.finals
    [end] = result.of_type("session_end")
    assert end["audio_duration_s"] == pytest.approx(len(frames) * FRAME_CAP / 8000, abs=0.01)
    assert end["speech_duration_s"] == 0
    assert_healthy(asyncio.run(healthy_session(harness.url)))


# ------------------------------------------------------------------ keepalive and liveness


async def _keepalive_only(url: str, message: str, duration_s: float) -> StreamResult:
    result = StreamResult()
    async with connect(url) as websocket:
        await websocket.send(CONFIG)
        loop = asyncio.get_running_loop()
        end = loop.time() + duration_s
        while loop.time() < end:
            await websocket.send(message)
            await asyncio.sleep(0.1)
        await websocket.send(json.dumps({"terminate_session": True}))
        await _read_until_closed(websocket, result)
    result.close_code = websocket.close_code
    return result


@pytest.mark.parametrize("message", [{"type": "keepalive"}, {"type": "ping"}], ids=["keepalive", "ping"])
def test_keepalive_only_outlives_the_idle_timeout(harness: Harness, message: dict[str, str]) -> None:
    result = with_healthy(harness, _keepalive_only(harness.url, json.dumps(message), duration_s=1.2))
    assert result.close_code == 1000
    assert [m["type"] for _, m in result.messages] == ["session_end"]
    assert result.messages[0][1]["audio_duration_s"] == 0


def test_protocol_pings_alone_do_not_keep_a_session_open(harness: Harness) -> None:
    """WebSocket pings are answered below the app; a session with no message is idle (documented)."""

    async def pings_only() -> StreamResult:
        result = StreamResult()
        async with connect(harness.url, ping_interval=0.1) as websocket:
            await websocket.send(CONFIG)
            await _read_until_closed(websocket, result)
        result.close_code = websocket.close_code
        return result

    result = with_healthy(harness, pings_only())
    assert result.close_code == 1000  # idle is no error: session_end, then a normal close
    assert [m["type"] for _, m in result.messages] == ["session_end"]


def test_idle_after_speech_gets_its_finals_then_session_end_and_1000(harness: Harness) -> None:
    async def speak_then_wait() -> StreamResult:
        result = StreamResult()
        async with connect(harness.url) as websocket:
            await websocket.send(CONFIG)
            await websocket.send(to_pcm16(tone_s(0.5)))  # no silence after: the final comes without it
            await _read_until_closed(websocket, result)
        result.close_code = websocket.close_code
        return result

    result = with_healthy(harness, speak_then_wait())
    assert len(result.finals) == 1
    assert [m["type"] for _, m in result.messages][-1] == "session_end"
    assert result.close_code == 1000


# ------------------------------------------------------------------ clients that misbehave at the socket


def test_client_that_never_reads_is_closed_and_others_go_on(harness: Harness) -> None:
    """Big replies fill the socket buffers; the server's send times out (0.5 s) and it closes 1008."""
    config = json.dumps({**HEALTHY_CONFIG, "whisper_params": {"prompt": "@big=1000000"}})
    utterances = to_pcm16(np.concatenate([np.concatenate([tone_s(0.3), silence_s(0.4)])] * 60))

    async def never_reads() -> None:
        client = DeafClient(harness.url)
        await client.connect()
        await client.send(config)
        for offset in range(0, len(utterances), 4096):
            await client.send(utterances[offset : offset + 4096])
        await _wait_for(lambda: any(r.done.is_set() and r.close_code == 1008 for r in harness.records), 20)
        client.abort()

    with_healthy(harness, never_reads())
    [record] = [r for r in harness.records if r.close_code == 1008]
    assert record.outcome == "returned"
    assert any("client is not reading" in r.getMessage() for r in harness.log_records(logging.INFO))


def test_client_that_vanishes_mid_decode(harness: Harness) -> None:
    """The TCP connection drops while Whisper works on its utterance: no error, nothing left behind."""
    config = json.dumps({**HEALTHY_CONFIG, "whisper_params": {"prompt": "@slow=0.5"}})

    async def vanish() -> None:
        async with connect(harness.url) as websocket:
            calls = harness.transcriber.calls
            await websocket.send(config)
            await websocket.send(to_pcm16(np.concatenate([tone_s(0.5), silence_s(0.5)])))
            await _wait_for(lambda: harness.transcriber.calls > calls, 5)
            websocket.transport.abort()

    with_healthy(harness, vanish())
    harness.wait_idle()
    assert any("client disconnected" in r.getMessage() for r in harness.log_records(logging.INFO))


def test_client_that_closes_mid_stream_without_terminate(harness: Harness) -> None:
    async def leave() -> int | None:
        async with connect(harness.url) as websocket:
            await websocket.send(CONFIG)
            await websocket.send(to_pcm16(tone_s(0.3)))
        return websocket.close_code

    assert with_healthy(harness, leave()) == 1000
    harness.wait_idle()
    assert any("client disconnected" in r.getMessage() for r in harness.log_records(logging.INFO))


async def _read_until_closed(websocket: ClientConnection, result: StreamResult) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for reply in websocket:
            result.messages.append((0.0, json.loads(reply)))


async def _wait_for(condition: Any, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


# ------------------------------------------------------------------ the real truss server

REAL_CASES = [
    ("json_array", ["[1, 2]"], "invalid_config", 1008),
    ("second_config", [json.dumps(SEED_CONFIG), json.dumps(SEED_CONFIG)], "protocol_error", 1008),
    ("text_garbage", [json.dumps(SEED_CONFIG), "hello"], "invalid_data", 1007),
    ("frame_over_the_cap", [json.dumps(SEED_CONFIG), b"\x00" * ((1 << 20) + 2)], "frame_too_large", 1009),
    ("nan_audio", ['{"streaming_params": {"encoding": "pcm_f32le"}}', b"\x00\x00\xc0\x7f" * 100], "invalid_data", 1007),
    ("sample_rate", ['{"streaming_params": {"sample_rate": 96000}}'], "unsupported_audio", 1003),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("messages", "code", "close_code"), [pytest.param(*case[1:], id=case[0]) for case in REAL_CASES]
)
def test_real_server_rejects_bad_input_and_serves_the_next_client(
    ws_url: str, messages: list[str | bytes], code: str, close_code: int
) -> None:
    from tests.speech import load_16k, manifest, wer

    utterance = manifest("librispeech_clean")[2]
    audio = np.concatenate([load_16k(utterance.path), silence_s(0.5)])

    async def both() -> tuple[StreamResult, StreamResult]:
        return await asyncio.gather(send_raw(ws_url, *messages), stream(ws_url, audio, speed=None, timeout_s=60))

    bad, healthy = asyncio.run(both())
    assert_rejected(bad, code, close_code)
    assert healthy.close_code == 1000 and wer(utterance.reference, healthy.text) <= 0.2, healthy.text


@pytest.mark.slow
def test_real_server_caps_each_connection_in_truss_websocket_layer(ws_url: str) -> None:
    """Under truss's own app the model finds uvicorn's protocol and lowers its cap (ws_layer.MessageCap) from
    truss's 100 MiB to twice MAX_FRAME_BYTES: a first message or a frame over it is refused by the layer."""
    result = asyncio.run(send_raw(ws_url, json.dumps({"pad": "y" * ((2 << 20) + 2)})))
    assert result.close_code == 1009 and "2097152" in result.close_reason, result.close_reason
    frame = asyncio.run(send_in_one_write(ws_url, json.dumps(SEED_CONFIG), b"\x00" * ((2 << 20) + 2)))
    assert frame.close_code == 1009 and "2097152" in frame.close_reason, frame.close_reason


@pytest.mark.slow
def test_real_server_takes_a_large_frame_read_with_the_config(ws_url: str) -> None:
    """A client that sends its config and 6 s of speech as one 186 KB frame, read by the server in one go: the
    frame meets the session's cap, not a lower one of the config's (it did until 2026-12-04: 1009 by timing)."""
    from tests.speech import load_16k, manifest, wer

    utterance = manifest("librispeech_clean")[2]
    pcm = to_pcm16(np.concatenate([load_16k(utterance.path), silence_s(1.0)]))
    assert 65_536 < len(pcm) < 1 << 20
    result = asyncio.run(
        send_in_one_write(ws_url, json.dumps(SEED_CONFIG), pcm, json.dumps({"terminate_session": True}))
    )
    assert result.close_code == 1000, (result.close_code, result.close_reason)
    assert wer(utterance.reference, result.text) <= 0.2, result.text
