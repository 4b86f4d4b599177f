"""whisper_stream.server.logs: the session id on every line of a session, whichever library writes it."""

from __future__ import annotations

import contextvars
import logging
import threading

import pytest

from whisper_stream.server import logs


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def capture():
    handler = Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_a_third_party_line_in_a_decode_thread_carries_the_session_id(capture: Capture) -> None:
    """faster-whisper logs from the engine's thread, in the context of the session that asked."""
    with logs.bind_session_id("abc123"):
        context = contextvars.copy_context()  # what the engine keeps with each request
    thread = threading.Thread(
        target=context.run,
        args=(logging.getLogger("faster_whisper").info, "Processing audio with duration %s", "00:01"),
    )
    thread.start()
    thread.join()
    [record] = capture.records
    assert record.getMessage() == "[session abc123] Processing audio with duration 00:01"
    assert record.session_id == "abc123"  # type: ignore[attr-defined]


def test_session_log_lines_get_the_prefix_once(capture: Capture) -> None:
    log = logs.SessionLog(logging.getLogger("whisper_stream.test"), "abc123")
    with logs.bind_session_id("abc123"):
        log.info("config %s", "ok")
    log.info("after the session")  # outside a bound context the adapter adds it itself
    assert [r.getMessage() for r in capture.records] == [
        "[session abc123] config ok",
        "[session abc123] after the session",
    ]


def test_lines_outside_a_session_are_left_alone(capture: Capture) -> None:
    with logs.bind_session_id("abc123"):
        pass
    logging.getLogger("faster_whisper").info("loading")
    [record] = capture.records
    assert record.getMessage() == "loading" and not hasattr(record, "session_id")
