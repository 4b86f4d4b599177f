"""Observability: Prometheus metrics (served by truss at /metrics) and a session id on every log line."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from collections.abc import Iterator

import numpy as np
import pytest

from tests.fakes import silence_s, tone_s
from tests.fresh_metrics import FreshMetrics
from tests.harness import HEALTHY_CONFIG, Harness, healthy_session, running_harness
from tests.local_server import LocalServer
from tests.speech import SPEECH_DIR, load_16k
from tests.stream_client import SEED_CONFIG, send_raw, stream
from whisper_stream.server import logs


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    with running_harness(max_sessions=2) as running:
        yield running


def test_session_metrics_count_what_happened(harness: Harness, fresh_metrics: FreshMetrics) -> None:
    count = fresh_metrics
    audio = np.concatenate([tone_s(1.5), silence_s(0.6), tone_s(0.8), silence_s(0.6)])
    result = asyncio.run(stream(harness.url, audio, config=SEED_CONFIG, speed=4.0))  # partials on
    assert result.close_code == 1000
    harness.wait_idle()
    assert count("whisper_stream_sessions_total", outcome="accepted") == 1
    assert count("whisper_stream_audio_received_seconds_total") == pytest.approx(audio.size / 16_000, abs=1e-3)
    assert count("whisper_stream_transcripts_sent_total", kind="final") == len(result.finals) == 2
    assert count("whisper_stream_transcripts_sent_total", kind="partial") == len(result.partials)
    assert count("whisper_stream_decode_seconds_count", kind="final") >= 2  # early finals may be decoded too
    assert count("whisper_stream_final_latency_seconds_count") == 2
    assert count("whisper_stream_audio_decoded_seconds_total", kind="final") > 2.3
    assert count("whisper_stream_sessions_open") == 0


def test_open_sessions_gauge_follows_the_sessions(harness: Harness, fresh_metrics: FreshMetrics) -> None:
    async def hold_and_look() -> float:
        from websockets.asyncio.client import connect

        async with connect(harness.url) as websocket:
            await websocket.send(json.dumps(HEALTHY_CONFIG))
            while harness.engine.open_sessions == 0:
                await asyncio.sleep(0.01)
            seen = fresh_metrics("whisper_stream_sessions_open")
            await websocket.send(json.dumps({"terminate_session": True}))
            async for _ in websocket:
                pass
        return seen

    assert asyncio.run(hold_and_look()) == 1
    harness.wait_idle()
    assert fresh_metrics("whisper_stream_sessions_open") == 0


def test_errors_and_refusals_are_counted_by_code(harness: Harness, fresh_metrics: FreshMetrics) -> None:
    count = fresh_metrics

    async def scenario() -> None:
        await send_raw(harness.url, "{not json")
        holders = [healthy_session(harness.url, speed=1.0) for _ in range(2)]
        tasks = [asyncio.create_task(h) for h in holders]
        while harness.engine.open_sessions < 2:
            await asyncio.sleep(0.01)
        await send_raw(harness.url, json.dumps(HEALTHY_CONFIG))  # over the cap of 2
        await asyncio.gather(*tasks)
        await stream(harness.url, tone_s(0.5), config={**HEALTHY_CONFIG, "whisper_params": {"prompt": "@fail"}})

    asyncio.run(scenario())
    harness.wait_idle()
    assert count("whisper_stream_errors_total", code="invalid_data") == 1
    assert count("whisper_stream_errors_total", code="server_busy") >= 1  # a holder may find a slot not yet free
    assert count("whisper_stream_sessions_total", outcome="refused") == count(
        "whisper_stream_errors_total", code="server_busy"
    )
    assert count("whisper_stream_errors_total", code="internal_error") == 1


# ------------------------------------------------------------------ logs


def _session_records(harness: Harness) -> list[logging.LogRecord]:
    return [r for r in harness.log_records() if r.name.startswith("whisper_stream")]


def test_every_log_line_of_a_session_carries_its_id(harness: Harness) -> None:
    harness.clear()
    config = {**SEED_CONFIG, "whisper_params": {"prompt": "@fail"}}

    async def two() -> None:
        await asyncio.gather(
            healthy_session(harness.url),
            stream(harness.url, np.concatenate([tone_s(0.5), silence_s(0.5)]), config=config),
        )

    asyncio.run(two())
    harness.wait_idle()
    records = _session_records(harness)
    ids = {getattr(r, "session_id", None) for r in records}
    assert None not in ids and len(ids) == 2
    for record in records:
        assert (
            f"[session {record.session_id}]" in record.getMessage()
            or record.name == "whisper_stream.inference.transcriber"
        )  # type: ignore[attr-defined]
    # the decodes run on the engine's threads, and their lines still name the session that asked
    decode_lines = [r for r in records if r.name == "whisper_stream.inference.transcriber"]
    assert decode_lines and all(r.threadName.startswith("whisper-decode") for r in decode_lines)
    assert {r.session_id for r in decode_lines} == ids  # type: ignore[attr-defined]


def test_truss_json_log_lines_have_a_session_id_field(harness: Harness) -> None:
    from truss.templates.shared.log_config import _DefaultJsonFormatter

    harness.clear()
    asyncio.run(healthy_session(harness.url))
    harness.wait_idle()
    formatter = _DefaultJsonFormatter("%(asctime)s %(levelname)s %(message)s")
    lines = [json.loads(formatter.format(r)) for r in _session_records(harness)]
    assert lines and all(line["session_id"] == lines[0]["session_id"] for line in lines)
    assert lines[0]["session_id"] in lines[0]["message"]


def test_session_id_is_bound_only_inside_the_session() -> None:
    logs.install_record_factory()
    outside = logging.getLogger("whisper_stream.test").makeRecord("x", logging.INFO, "f", 1, "m", (), None)
    assert not hasattr(outside, "session_id")
    with logs.bind_session_id("abc123"):
        inside = logging.getLogRecordFactory()("x", logging.INFO, "f", 1, "m", (), None)
        assert inside.session_id == "abc123"  # type: ignore[attr-defined]
    after = logging.getLogRecordFactory()("x", logging.INFO, "f", 1, "m", (), None)
    assert not hasattr(after, "session_id")


# ------------------------------------------------------------------ the real server


@pytest.mark.slow
def test_real_server_exposes_the_metrics_and_session_ids_in_its_log(server: LocalServer) -> None:
    speech = load_16k(SPEECH_DIR / "jfk.flac")[: 3 * 16_000]  # real speech: a tone is not speech to silero
    asyncio.run(stream(server.ws_url, np.concatenate([speech, silence_s(1.0)]), speed=None))
    asyncio.run(send_raw(server.ws_url, "{not json"))
    with urllib.request.urlopen(f"{server.http_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    for name in (
        "whisper_stream_sessions_open",
        "whisper_stream_sessions_total",
        "whisper_stream_audio_received_seconds_total",
        "whisper_stream_decode_seconds_bucket",
        "whisper_stream_final_latency_seconds_bucket",
        "whisper_stream_transcripts_sent_total",
        "whisper_stream_errors_total",
        "whisper_stream_finals_without_context_total",
    ):
        assert name in text, name
    assert 'whisper_stream_sessions_total{outcome="accepted"}' in text
    assert "[session " in server.log_text()
