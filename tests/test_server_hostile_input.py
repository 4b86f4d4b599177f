"""No client input yields 1011: properties through the server (in-process, real sockets, fake transcriber).

Whatever a client sends as its config, and whatever mix of frames (any encoding the config names, odd
lengths, NaN/inf floats, empty, over the cap) and text messages (any JSON, nested, surrogates) after it,
the session ends with a clean close: 1000, or 1003/1007/1008/1009 with an ``error`` naming the field or
the limit (a 1009 from the WebSocket layer names it in its reason); never 1011, never an ERROR log line,
never a traceback on the wire. A healthy session beside them is untouched. The same properties without
the server, over many more inputs: tests/test_client_input_properties.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness import Harness, assert_healthy, healthy_session, running_harness
from tests.stream_client import StreamResult, send_raw
from tests.test_client_input_properties import DEEP_OR_HUGE, JSON_VALUES, configs, controls
from whisper_stream.protocol.config import ENCODINGS
from whisper_stream.server.limits import Limits

FRAME_CAP = 8192
# A stream without a terminate ends by a timeout: half a second (as test_server_bad_input.py's), so the
# examples that take that path (about one in five) wait no longer than they must.
LIMITS = Limits(max_frame_bytes=FRAME_CAP, idle_timeout_s=0.5, no_audio_timeout_s=0.5, config_timeout_s=0.5)
CLEAN = {1000, 1003, 1007, 1008, 1009}
SPECIAL_F32 = np.array([np.nan, np.inf, -np.inf, 3e38, -0.0, 1e-45], dtype="<f4").tobytes()


@pytest.fixture(scope="module")
def module_harness() -> Iterator[Harness]:
    with running_harness(LIMITS, max_sessions=4) as harness:
        yield harness


@pytest.fixture
def harness(module_harness: Harness) -> Iterator[Harness]:
    module_harness.wait_idle()
    module_harness.clear()
    yield module_harness
    module_harness.wait_idle()
    assert_healthy(asyncio.run(healthy_session(module_harness.url, speed=None)))
    errors = module_harness.log_records(logging.ERROR)
    assert not errors, [r.getMessage() for r in errors]
    assert all(r.outcome in ("returned", "disconnected") for r in module_harness.records)


def _check_clean(result: StreamResult, harness: Harness) -> None:
    assert result.close_code in CLEAN, (result.close_code, result.close_reason, result.messages[-1:])
    errors = result.of_type("error")
    wire = json.dumps([m for _, m in result.messages]) + result.close_reason
    assert "Traceback" not in wire and "internal_error" not in wire
    if result.close_code in (1003, 1007, 1008) and errors:
        assert errors[-1]["message"] and errors[-1]["code"] != "internal_error"
    if result.close_code == 1009 and not errors:
        assert "limit" in result.close_reason  # the layer's reason names the cap
    assert not harness.log_records(logging.ERROR)


def _send(harness: Harness, *messages: str | bytes) -> StreamResult:
    return asyncio.run(send_raw(harness.url, *messages, timeout_s=15))


# On the wire a text message is UTF-8: a lone surrogate arrives only as a JSON escape ("\ud800"), which
# json.dumps writes (ensure_ascii), and text of any other characters.
WIRE_TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=200)
FIRST_MESSAGES = (
    configs().map(json.dumps)
    | JSON_VALUES.map(json.dumps)
    | WIRE_TEXT
    | st.sampled_from(DEEP_OR_HUGE)
    | st.binary(max_size=64)
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(FIRST_MESSAGES)
def test_any_first_message_ends_cleanly(harness: Harness, first: str | bytes) -> None:
    _check_clean(_send(harness, first, json.dumps({"terminate_session": True})), harness)


@st.composite
def streams(draw: st.DrawFn) -> list[str | bytes]:
    """A valid config for some encoding, then any mix of frames and text, maybe a terminate."""
    encoding = draw(st.sampled_from(ENCODINGS))
    rate = draw(st.sampled_from([8_000, 16_000, 44_100]))
    messages: list[str | bytes] = [json.dumps({"streaming_params": {"encoding": encoding, "sample_rate": rate}})]
    frame = (
        st.binary(max_size=2048)
        | st.just(b"")
        | st.integers(1, 7).map(lambda n: b"\x01" * n)
        | st.just(SPECIAL_F32)
        | st.integers(FRAME_CAP - 2, FRAME_CAP + 3).map(lambda n: b"\x00" * n)
    )
    text = controls().map(json.dumps) | JSON_VALUES.map(json.dumps) | st.sampled_from(DEEP_OR_HUGE[:2] + ["finalize"])
    messages += draw(st.lists(frame | text, max_size=8))
    if draw(st.booleans()):
        messages.append(json.dumps({"terminate_session": True}))
    return messages


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(streams())
def test_any_stream_after_a_valid_config_ends_cleanly(harness: Harness, messages: list[Any]) -> None:
    _check_clean(_send(harness, *messages), harness)
