"""A session id on every log line written while a session runs.

``serve_session`` binds the id with ``bind_session_id``: a context variable, so
it follows the session's task, the worker threads ``asyncio.to_thread`` starts
for it, and the engine's decodes (the engine runs each request in the context
that submitted it). ``install_record_factory`` makes every ``LogRecord`` created
while an id is bound carry it, from any logger (ours, faster-whisper's, truss's,
uvicorn's):

- as ``record.session_id``: truss's JSON formatter (python-json-logger) writes
  such attributes as fields, so JSON logs get a ``session_id`` field;
- as a ``[session <id>] `` prefix of the message, for text logs, whose format
  (truss's) names no such field.

``SessionLog`` adds the same prefix itself when used outside a bound context.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Iterator, MutableMapping
from typing import Any

SESSION_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("whisper_stream_session_id", default=None)

_install_lock = threading.Lock()
_installed = False


def install_record_factory() -> None:
    """Wrap the logging record factory once per process so records carry the bound session id."""
    global _installed
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            session_id = SESSION_ID.get()
            if session_id is not None and not hasattr(record, "session_id"):
                record.session_id = session_id
                record.msg = f"{session_prefix(session_id)}{record.msg}"
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


def session_prefix(session_id: str) -> str:
    return f"[session {session_id}] "


@contextlib.contextmanager
def bind_session_id(session_id: str) -> Iterator[None]:
    """Bind ``session_id`` for the current context (task, and threads started from it)."""
    install_record_factory()
    token = SESSION_ID.set(session_id)
    try:
        yield
    finally:
        SESSION_ID.reset(token)


class SessionLog(logging.LoggerAdapter):
    """A logger for one session's lines: ``[session <id>]`` on each.

    While the id is bound (the whole session, see ``serve_session``) the record
    factory adds the prefix and the ``session_id`` attribute to every record, so
    this adds nothing; it adds the prefix only outside a bound context. The
    attribute never comes from ``extra``: ``logging`` refuses an ``extra`` key
    the record already has.
    """

    def __init__(self, logger: logging.Logger, session_id: str) -> None:
        super().__init__(logger, {"session_id": session_id})

    @property
    def session_id(self) -> str:
        assert self.extra is not None
        return str(self.extra["session_id"])

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        if SESSION_ID.get() == self.session_id and _installed:
            return msg, kwargs  # the record factory prefixes it
        return f"{session_prefix(self.session_id)}{msg}", kwargs
